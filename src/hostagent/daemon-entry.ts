import fsp from 'node:fs/promises';
import type { FILES } from '../store/filenames.js';
import { acquireLock } from '../store/instance-store.js';
import { instanceFile } from '../store/paths.js';

/**
 * The start and the end of the agent's two processes (main.ts, supervisor.ts), run as
 * `node … NAME [ARGS…]`: a usage error without a name; everything they create private to the user; one of
 * each per instance (their pid file is the lock, a dead owner's taken over); a crash reported on stderr (the
 * instance's ha.stdio.log), their pid file removed, exit 1.
 */
export function runDaemon(
  what: string,
  lock: keyof typeof FILES,
  body: (name: string, args: string[]) => Promise<void>,
): void {
  const [name, ...args] = process.argv.slice(2);
  let ownsLock = false;
  const main = async () => {
    if (!name) {
      process.stderr.write(`usage: ${what} NAME\n`);
      process.exit(64);
    }
    // Everything they and QEMU create (sockets, logs) is private to the user.
    process.umask(0o077);
    await acquireLock(instanceFile(name, lock));
    ownsLock = true;
    await body(name, args);
  };
  main().catch(async (err: unknown) => {
    process.stderr.write(`${what}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    if (name && ownsLock) await fsp.rm(instanceFile(name, lock), { force: true }).catch(() => undefined);
    process.exit(1);
  });
}
