import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { BerthError, isErrnoException } from '../util/errors.js';
import { tempFile } from '../store/filenames.js';

/** Where tools that know no contexts look for the engine (Docker's default socket). */
export const SYSTEM_SOCKET = '/var/run/docker.sock';

export type SystemSocketState =
  | { kind: 'ours' }
  | { kind: 'absent' }
  | { kind: 'stale-link'; to: string }
  | { kind: 'other-link'; to: string }
  | { kind: 'native'; what: string };

/** What is at `link` now, seen from the instance whose engine socket is `target`. */
export async function systemSocketState(target: string, link = SYSTEM_SOCKET): Promise<SystemSocketState> {
  let st: fs.Stats;
  try {
    st = await fsp.lstat(link);
  } catch (err) {
    if (isErrnoException(err, 'ENOENT')) return { kind: 'absent' };
    throw err;
  }
  if (!st.isSymbolicLink()) return { kind: 'native', what: st.isSocket() ? 'a socket' : 'a file' };
  const to = await fsp.readlink(link);
  if (path.resolve(path.dirname(link), to) === target) return { kind: 'ours' };
  // A link to nothing (an instance since deleted, an uninstalled tool) is stale: it can go.
  return fs.existsSync(path.resolve(path.dirname(link), to))
    ? { kind: 'other-link', to }
    : { kind: 'stale-link', to };
}

/**
 * Points Docker's default socket at the instance (opt-in: the YAML's `systemSocket: true`). Never over a Docker
 * Engine of the host's own (a real socket or file) nor another live link; a dead link is replaced. The link is
 * made under a private name and renamed into place, so the path is never half made.
 */
export async function linkSystemSocket(target: string, link = SYSTEM_SOCKET): Promise<'linked' | 'already'> {
  const st = await systemSocketState(target, link);
  if (st.kind === 'ours') return 'already';
  if (st.kind === 'native') {
    throw new BerthError(
      'CONFLICT',
      `${link} is ${st.what} of the host's own (a Docker Engine installed here?): berth leaves it alone`,
      {
        hint: `stop that engine and remove ${link} to let berth link it, or point tools at this instance with "berth env"`,
      },
    );
  }
  if (st.kind === 'other-link') {
    throw new BerthError('CONFLICT', `${link} already points at ${st.to}, which is in use`, {
      hint: `stop what it points at (another instance: berth stop NAME), then start this one again`,
    });
  }
  const tmp = tempFile(link, true);
  try {
    await fsp.symlink(target, tmp);
    await fsp.rename(tmp, link);
  } catch (err) {
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
    if (isErrnoException(err, 'EACCES') || isErrnoException(err, 'EPERM')) {
      throw new BerthError(
        'PERMISSION',
        `cannot link ${link}: ${path.dirname(link)} is not writable by this user`,
        {
          hint: `once, as root: ln -sf ${target} ${link} (berth keeps it right from then on), or use "berth env"`,
        },
      );
    }
    throw err;
  }
  return 'linked';
}

/** Removes the link if, and only if, it points at this instance's socket. */
export async function unlinkSystemSocket(target: string, link = SYSTEM_SOCKET): Promise<boolean> {
  if ((await systemSocketState(target, link).catch(() => undefined))?.kind !== 'ours') return false;
  await fsp.rm(link, { force: true });
  return true;
}
