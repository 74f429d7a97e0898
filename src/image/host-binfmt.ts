import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { hostArch, type Arch } from '../config/schema.js';
import { BerthError } from '../util/errors.js';
import { run } from '../util/exec.js';
import type { ProgressFn } from './image.js';

const BINFMT_DIR = '/proc/sys/fs/binfmt_misc';

/**
 * Bootstrapping a foreign-arch root filesystem runs its package scripts through qemu-user: the host kernel
 * needs the interpreter registered in binfmt_misc. Registers it from qemu-user-static's own binfmt.d file
 * when missing (root only; the registration is host-wide, as mmdebstrap's documentation expects).
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
  progress(`registering ${name} in the host's binfmt_misc (needed to bootstrap a ${arch} root filesystem)`);
  if (!fs.existsSync(`${BINFMT_DIR}/register`)) {
    await run('mount', ['-t', 'binfmt_misc', 'binfmt_misc', BINFMT_DIR]);
  }
  const line = (await fsp.readFile(conf, 'utf8')).split('\n').find((l) => l.startsWith(':'));
  if (!line) throw new BerthError('IMAGE', `${conf} has no binfmt registration line`);
  await fsp.writeFile(`${BINFMT_DIR}/register`, line);
}
