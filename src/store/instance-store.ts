import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { BerthError, isErrnoException } from '../util/errors.js';
import { retryUntil } from '../util/retry.js';
import { FILES, HOME_CONFIG_DIR, tempFile } from './filenames.js';
import { berthHome, instanceDir, NAME_RE } from './paths.js';

export function validateName(name: string): void {
  if (!NAME_RE.test(name)) {
    throw new BerthError('USAGE', `invalid instance name "${name}"`, {
      hint: 'use 1-31 lowercase letters, digits or dashes, starting with a letter or digit',
    });
  }
}

export async function ensureHome(): Promise<string> {
  const home = berthHome();
  await fsp.mkdir(home, { recursive: true, mode: 0o700 });
  await checkHome(home);
  await fsp.mkdir(path.join(home, HOME_CONFIG_DIR), { recursive: true, mode: 0o700 });
  return home;
}

/**
 * BERTH_HOME holds keys, disks and the sockets of the engines: refused when someone else could change it (a
 * link, another owner, group- or other-writable), and when its path is too long for the sockets in it.
 */
export async function checkHome(home: string): Promise<void> {
  const st = await fsp.lstat(home);
  const fix = `use a folder of your own that only you can write: mkdir -m 700 DIR && export BERTH_HOME=DIR`;
  if (st.isSymbolicLink())
    throw new BerthError('PERMISSION', `BERTH_HOME (${home}) is a symbolic link`, { hint: fix });
  if (!st.isDirectory())
    throw new BerthError('PERMISSION', `BERTH_HOME (${home}) is not a folder`, { hint: fix });
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid)
    throw new BerthError('PERMISSION', `BERTH_HOME (${home}) belongs to uid ${st.uid}, not to you (${uid})`, {
      hint: fix,
    });
  if (st.mode & 0o022)
    throw new BerthError(
      'PERMISSION',
      `BERTH_HOME (${home}) is writable by others (mode ${(st.mode & 0o777).toString(8)})`,
      { hint: `chmod 700 ${home}` },
    );
  // A unix socket path has at most 107 bytes; the longest berth makes is <home>/<name>/events.sock.
  if (Buffer.byteLength(home) > MAX_HOME_PATH)
    throw new BerthError('PERMISSION', `BERTH_HOME's path is too long for the sockets in it (${home})`, {
      hint: `use a path of at most ${MAX_HOME_PATH} bytes`,
    });
}

/** 107 bytes of a socket path, less "/<32-byte name>/events.sock". */
export const MAX_HOME_PATH = 107 - (1 + 32 + '/events.sock'.length);

export async function instanceExists(name: string): Promise<boolean> {
  try {
    await fsp.access(path.join(instanceDir(name), FILES.config));
    return true;
  } catch {
    return false;
  }
}

export async function requireInstance(name: string): Promise<void> {
  validateName(name);
  if (!(await instanceExists(name))) {
    throw new BerthError('NOT_FOUND', `instance "${name}" does not exist`, {
      hint: `create it with: berth start ${name === 'default' ? '' : name}`.trimEnd(),
    });
  }
}

export async function listInstances(): Promise<string[]> {
  let entries: fs.Dirent[];
  try {
    entries = await fsp.readdir(berthHome(), { withFileTypes: true });
  } catch (err) {
    if (isErrnoException(err, 'ENOENT')) return [];
    throw err;
  }
  const names: string[] = [];
  for (const e of entries) {
    if (e.isDirectory() && NAME_RE.test(e.name) && (await instanceExists(e.name))) names.push(e.name);
  }
  return names.sort();
}

/** Writes a file atomically (temp file + rename) so readers never see half a file. */
export async function writeFileAtomic(file: string, data: string | Buffer, mode = 0o600): Promise<void> {
  const tmp = tempFile(file, true);
  await fsp.writeFile(tmp, data, { mode });
  await fsp.rename(tmp, file);
}

export async function readPid(file: string): Promise<number | undefined> {
  try {
    const n = Number.parseInt((await fsp.readFile(file, 'utf8')).trim(), 10);
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch (err) {
    if (isErrnoException(err, 'ENOENT')) return undefined;
    throw err;
  }
}

/**
 * Whether a process runs. A zombie (exited, not yet reaped: common for orphans in containers whose init
 * does not reap) counts as dead, or a killed agent would look alive forever.
 */
export function pidAlive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if (!isErrnoException(err, 'EPERM')) return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return process.platform !== 'linux'; // no procfs (macOS): kill(0) is all we have
  }
}

/**
 * An exclusive lock file holding the owner's pid. A lock whose owner is dead is stale and taken over,
 * so a crash never leaves an instance "locked forever".
 *
 * The file never exists without its pid: it is written under a private name and hard-linked into place (link
 * fails if the lock exists), so a racing locker cannot read it empty and take it for stale. A stale lock is
 * renamed away before it is removed, and put back if what was renamed turns out to be a live owner's (another
 * locker replaced the stale one meanwhile).
 */
export async function acquireLock(file: string): Promise<() => Promise<void>> {
  const conflict = (owner: number | undefined) =>
    new BerthError('CONFLICT', `another berth process (pid ${owner}) is already working on this instance`, {
      hint: 'wait for it to finish, then try again',
    });
  const mine = tempFile(file, true);
  await fsp.writeFile(mine, String(process.pid), { mode: 0o600 });
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        await fsp.link(mine, file);
        return async () => {
          await fsp.rm(file, { force: true });
        };
      } catch (err) {
        if (!isErrnoException(err, 'EEXIST')) throw err;
      }
      const owner = await readPid(file);
      if (pidAlive(owner) && owner !== process.pid) throw conflict(owner);
      const aside = tempFile(file, true);
      try {
        await fsp.rename(file, aside);
      } catch (err) {
        if (isErrnoException(err, 'ENOENT')) continue; // someone else cleared it: try again
        throw err;
      }
      const moved = await readPid(aside);
      if (moved !== owner && pidAlive(moved) && moved !== process.pid) {
        // Not the stale lock we saw but a live locker's that replaced it: give it back.
        await fsp.link(aside, file).catch(() => undefined);
        await fsp.rm(aside, { force: true });
        throw conflict(moved);
      }
      await fsp.rm(aside, { force: true });
    }
    throw new BerthError('CONFLICT', `could not take the lock ${file}`, {
      hint: 'another berth process keeps taking it; wait for it to finish, then try again',
    });
  } finally {
    await fsp.rm(mine, { force: true });
  }
}

/**
 * Waits (bounded, polling every intervalMs) for a process to exit; true once it has. Callers that go on either
 * way ignore the result.
 */
export async function waitPidGone(
  pid: number | undefined,
  timeoutMs: number,
  intervalMs = 100,
): Promise<boolean> {
  return retryUntil(async () => !pidAlive(pid), Boolean, { intervalMs, timeoutMs });
}
