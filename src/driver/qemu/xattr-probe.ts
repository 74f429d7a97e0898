/**
 * Whether a host folder's filesystem keeps user.* extended attributes. 9p's mapped-xattr model (berth run as
 * root, see shareModel) stores the guest's owners, modes and file types in them: on a filesystem without them
 * (vfat, exfat, ramfs, tmpfs before Linux 6.6, some network mounts) the guest reads the folder but cannot
 * create anything in it ("Operation not supported"), and a chmod is silently lost.
 *
 * Node has no xattr call, so python3 asks for an attribute nobody sets: ENODATA means the filesystem keeps
 * them, EOPNOTSUPP that it does not. Nothing is written. Without python3 (or on any other answer) the result
 * is 'unknown' and berth says nothing.
 */
import { execa } from 'execa';
import type { SharedFolder } from '../driver.js';

export type XattrSupport = 'yes' | 'no' | 'unknown';

const PROBE = [
  'import errno, os, sys',
  'try:',
  '    os.getxattr(sys.argv[1], "user.berth.probe")',
  '    print("present")',
  'except OSError as e:',
  '    print(errno.errorcode.get(e.errno, e.errno))',
].join('\n');

/** Pure: the probe's output → the answer. */
export function parseXattrProbe(out: string): XattrSupport {
  const word = out.trim();
  if (word === 'ENODATA' || word === 'ENOATTR' || word === 'present') return 'yes';
  if (word === 'EOPNOTSUPP' || word === 'ENOTSUP') return 'no';
  return 'unknown';
}

export type ProbeRunner = (dir: string) => Promise<string>;

const python3: ProbeRunner = async (dir) => {
  const r = await execa('python3', ['-c', PROBE, dir], { reject: false, timeout: 5000 });
  return r.exitCode === 0 ? String(r.stdout) : '';
};

export async function userXattrs(dir: string, run: ProbeRunner = python3): Promise<XattrSupport> {
  return parseXattrProbe(await run(dir).catch(() => ''));
}

/**
 * One line per writable share whose filesystem keeps no user xattrs, for a VM whose shares use mapped-xattr;
 * [] for any other model (none keeps modes on the host's inodes).
 */
export async function mappedShareProblems(
  shares: SharedFolder[],
  model: 'none' | 'mapped-xattr',
  run: ProbeRunner = python3,
): Promise<string[]> {
  if (model !== 'mapped-xattr') return [];
  const writable = shares.filter((s) => s.writable);
  const answers = await Promise.all(writable.map((s) => userXattrs(s.hostPath, run)));
  return writable
    .filter((_, i) => answers[i] === 'no')
    .map(
      (s) =>
        `shared folder ${s.hostPath}: its filesystem keeps no extended attributes, which berth run as root needs ` +
        `to keep the guest's owners and modes (9p mapped-xattr): the guest can read it but cannot create files ` +
        `in it (run berth as your own user, or share a folder on another filesystem)`,
    );
}
