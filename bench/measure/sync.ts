/**
 * A synchronised folder (`sync: true`), in its own instance so that the start metrics stay those of the
 * default configuration: the file workloads on it and on that guest's disk, how long berth-syncd held the
 * engine's start at boot, and how long its copies take to reach the other side.
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import { berthOk, writeConfig } from '../../test/support/env.js';
import { waitFor } from '../../test/support/wait.js';
import { CPUS, guestSh, MEM_MIB, SYNC_NAME, type Bench } from '../context.js';
import type { SyncFigures } from '../result.js';
import { fileFigures, GUEST_DISK_DIR } from './files.js';

/**
 * The copies, timed from the host: n small files made in the guest until all are on the host, and n made
 * on the host until all are in the guest (from the start of the writes; polled every 50 ms).
 */
async function copyTimes(b: Bench, dir: string, n: number): Promise<{ toHostMs: number; toGuestMs: number }> {
  const toHost = path.join(dir, 'to-host');
  let t = performance.now();
  await guestSh(
    b,
    `mkdir ${toHost} && cd ${toHost} && perl -e 'for (1 .. ${n}) { open(my $f, ">", "f$_") or die; print $f "x" x 100; close $f }'`,
    SYNC_NAME,
  );
  await waitFor(
    async () => (await fsp.readdir(toHost).catch(() => [])).length >= n,
    30 * 60 * 1000,
    `${n} files made in the guest to reach the host`,
    { intervalMs: 50 },
  );
  const toHostMs = performance.now() - t;
  const toGuest = path.join(dir, 'to-guest');
  t = performance.now();
  await fsp.mkdir(toGuest);
  for (let i = 1; i <= n; i++) await fsp.writeFile(path.join(toGuest, `f${i}`), 'x'.repeat(100));
  await guestSh(
    b,
    `until [ "$(ls ${toGuest} 2>/dev/null | wc -l)" -ge ${n} ]; do sleep 0.05; done`,
    SYNC_NAME,
  );
  return { toHostMs, toGuestMs: performance.now() - t };
}

export async function syncFigures(b: Bench): Promise<SyncFigures> {
  const dir = path.join(b.e.root, 'share-sync');
  await fsp.mkdir(dir, { recursive: true });
  await writeConfig(b.e, SYNC_NAME, `mounts:\n  - location: ${dir}\n    sync: true\n`);
  await berthOk(b.e, [
    'start',
    SYNC_NAME,
    '--cpus',
    String(CPUS),
    '--memory',
    `${MEM_MIB}MiB`,
    '--no-activate',
  ]);
  try {
    const boot = await guestSh(b, 'cat /run/berth/boot', SYNC_NAME);
    const at = (what: string) => Number(new RegExp(`^(\\S+) syncd ${what}$`, 'm').exec(boot)?.[1]);
    const disk = await fileFigures(b, GUEST_DISK_DIR, SYNC_NAME);
    const sync = await fileFigures(b, dir, SYNC_NAME);
    return {
      disk,
      sync,
      syncdBootMs: (at('ready') - at('start')) * 1000,
      ...(await copyTimes(b, dir, b.n.smallFiles)),
    };
  } finally {
    await berthOk(b.e, ['delete', SYNC_NAME, '--force']);
  }
}
