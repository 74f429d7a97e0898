import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { hostArch, type Arch } from '../config/schema.js';
import { BerthError } from '../util/errors.js';
import { run } from '../util/exec.js';
import type { ProgressFn } from './image.js';

const BINFMT_DIR = '/proc/sys/fs/binfmt_misc';

/**
 * Bootstrapping a foreign-arch root filesystem runs its package scripts through qemu-user: the host kernel
 * needs the interpreter registered in binfmt_misc. Installing Debian's qemu-user-static registers it (as root,
 * once, through systemd-binfmt); on a host without systemd, berth run as root registers it from that package's
 * own binfmt.d file (host-wide, as mmdebstrap's documentation expects). An ordinary user is told what to run.
 */
export async function ensureHostBinfmt(arch: Arch, progress: ProgressFn): Promise<void> {
  if (arch === hostArch()) return;
  const name = `qemu-${arch}`;
  if (fs.existsSync(`${BINFMT_DIR}/${name}`)) return;
  const conf = `/usr/lib/binfmt.d/${name}.conf`;
  if (!fs.existsSync(conf)) {
    throw new BerthError(
      'MISSING_DEPENDENCY',
      `building a ${arch} image needs qemu-user-static on the host`,
      {
        hint: 'install it: apt-get install qemu-user-static',
      },
    );
  }
  if (process.getuid?.() !== 0) {
    throw new BerthError(
      'MISSING_DEPENDENCY',
      `building a ${arch} image needs ${name} registered in the host's binfmt_misc, and it is not`,
      {
        hint: `ask an admin to register it once (what installing qemu-user-static does under systemd): sudo sh -c 'mountpoint -q ${BINFMT_DIR} || mount -t binfmt_misc binfmt_misc ${BINFMT_DIR}; grep "^:" ${conf} > ${BINFMT_DIR}/register' (or run scripts/setup.sh as root)`,
      },
    );
  }
  progress(`registering ${name} in the host's binfmt_misc (needed to bootstrap a ${arch} root filesystem)`);
  if (!fs.existsSync(`${BINFMT_DIR}/register`)) {
    await run('mount', ['-t', 'binfmt_misc', 'binfmt_misc', BINFMT_DIR]);
  }
  const line = (await fsp.readFile(conf, 'utf8')).split('\n').find((l) => l.startsWith(':'));
  if (!line) throw new BerthError('IMAGE', `${conf} has no binfmt registration line`);
  await fsp.writeFile(`${BINFMT_DIR}/register`, line);
}
