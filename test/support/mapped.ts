/**
 * Shared folders as the host sees them when berth runs as root: QEMU then serves 9p with the mapped-xattr
 * model, so the guest's owner, mode and file type live in user.virtfs.* attributes of the host file, while the
 * file itself is QEMU's (root's), 0600 (0700 for a folder), and a symlink made in the guest is a plain file.
 */
import { execFileSync } from 'node:child_process';

/** berth (and so QEMU) runs as root in this test run: shares use mapped-xattr. */
export const mappedShares = process.getuid?.() === 0;

const READ_MODE = `
import os, struct, sys
try:
    print(struct.unpack("<I", os.getxattr(sys.argv[1], "user.virtfs.mode", follow_symlinks=False))[0])
except OSError:
    print("")
`;

/** The mode (with its file type bits) the guest sees for a host file, kept in user.virtfs.mode; undefined: none. */
export function mappedMode(file: string): number | undefined {
  const out = execFileSync('python3', ['-c', READ_MODE, file], { encoding: 'utf8' }).trim();
  return out === '' ? undefined : Number(out);
}

/** The names of a host file's extended attributes (all namespaces root can see). */
export function listXattrs(file: string): string[] {
  const out = execFileSync(
    'python3',
    ['-c', 'import os, sys\nprint("\\n".join(os.listxattr(sys.argv[1], follow_symlinks=False)))', file],
    { encoding: 'utf8' },
  );
  return out.split('\n').filter(Boolean);
}
