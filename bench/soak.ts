/**
 * Soak: `npm run bench:soak [-- --cycles 20 --restarts 5 --sleep-min 30]`. Not in CI (it takes ~45 min).
 * One instance with a counting container, a published port and a shared folder in use by a container:
 * - N suspend/resume cycles and M stop/start cycles; after each, the engine, the port and the share are
 *   checked, and berth's host processes, their open fds and sockets, the QEMU forwards and the agent's memory
 *   are counted: what grows cycle after cycle is a leak;
 * - a simulated host sleep (SIGSTOP of every berth process and QEMU) of --sleep-min minutes: what answers how
 *   soon after the wake, and the guest clock's offset.
 * Writes bench/results/soak.json and prints a summary. Nothing here asserts: the figures go in the docs.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { berth, berthOk, docker, dockerOk, makeEnv, REPO, writeConfig } from '../test/support/env.js';
import { guestClockBehind, simulateHostSleep } from '../test/support/host-sleep.js';
import { busyboxContext } from '../test/support/images.js';
import { httpGet } from '../test/support/net.js';
import { pidFromFile, processesMatching, rssKiB } from '../test/support/proc.js';
import { waitFor } from '../test/support/wait.js';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const CYCLES = arg('cycles', 20);
const RESTARTS = arg('restarts', 5);
const SLEEP_MIN = arg('sleep-min', 30);
const NAME = 'soak';
const PORT = 18290;
const log = (m: string) => process.stderr.write(`[soak] ${new Date().toISOString().slice(11, 19)} ${m}\n`);

const e = await makeEnv('soak');
const shared = path.join(e.root, 'share');
const file = (f: string) => path.join(e.home, NAME, f);

/** What berth holds on the host now: processes, their fds and sockets, QEMU's forwards, the agent's RSS. */
async function footprint() {
  const pids = [
    ...(await processesMatching(path.join(REPO, 'dist', 'hostagent'))),
    ...(await processesMatching(`berth-${NAME}`)),
  ];
  let fds = 0;
  let sockets = 0;
  for (const p of new Set(pids)) {
    for (const fd of await fsp.readdir(`/proc/${p}/fd`).catch(() => [])) {
      fds++;
      const to = await fsp.readlink(`/proc/${p}/fd/${fd}`).catch(() => '');
      if (to.startsWith('socket:')) sockets++;
    }
  }
  const ports = (await berth(e, ['ports', NAME, '--json'])).stdout;
  return {
    processes: new Set(pids).size,
    fds,
    sockets,
    forwards: ports ? (JSON.parse(ports) as unknown[]).length : 0,
    agentRssKiB: rssKiB(pidFromFile(file('ha.pid'))) ?? 0,
  };
}

/** A container that reads the shared folder (and so holds it). */
async function startReader(): Promise<void> {
  await dockerOk(e, [
    'run',
    '-d',
    '--name',
    'reader',
    '-v',
    `${shared}:/s:ro`,
    'bb:soak',
    'sleep',
    '1000000',
  ]);
}

async function works(): Promise<{ engine: boolean; port: boolean; share: boolean }> {
  const engine = (await docker(e, ['version'])).code === 0;
  const port =
    (await waitFor(() => httpGet(PORT, '/index.html'), 20000, 'the port').catch(() => undefined)) ===
    'served\n';
  const stamp = String(Date.now());
  await fsp.writeFile(path.join(shared, 'stamp'), stamp);
  const share = (await docker(e, ['exec', 'reader', 'cat', '/s/stamp'])).stdout.trim() === stamp;
  return { engine, port, share };
}

async function main(): Promise<void> {
  await fsp.mkdir(shared, { recursive: true });
  await writeConfig(e, NAME, `mounts:\n  - location: ${shared}\n    writable: true\n`);
  log('starting the instance');
  await berthOk(e, ['start', NAME, '--cpus', '2', '--memory', '1GiB']);
  await dockerOk(e, ['build', '-q', '-t', 'bb:soak', await busyboxContext({ dir: path.join(e.root, 'bb') })]);
  await dockerOk(e, [
    'run',
    '-d',
    '--name',
    'counter',
    '--restart',
    'always',
    'bb:soak',
    'sh',
    '-c',
    'i=0; while true; do i=$((i+1)); echo $i; sleep 1; done',
  ]);
  await dockerOk(e, [
    'run',
    '-d',
    '--name',
    'web',
    '--restart',
    'always',
    '-p',
    `${PORT}:80`,
    'bb:soak',
    'sh',
    '-c',
    'echo served > /index.html && httpd -f -p 80 -h /',
  ]);
  // The share in use by a container (a plain share is unmounted for a suspend and mounted again after).
  await startReader();
  const rows: Array<Record<string, unknown>> = [];
  const before = await footprint();
  log(`before: ${JSON.stringify(before)}`);

  /** One cycle: `berth <down>` then `berth start`, the reader back, then what works and what berth holds. */
  const cycle = async (kind: string, i: number, down: 'suspend' | 'stop') => {
    // The reader holds the share: suspend refuses while it runs (by design), so it goes and comes back.
    await docker(e, ['rm', '-f', 'reader']);
    const t0 = Date.now();
    const s = await berth(e, [down, NAME]);
    const r = await berth(e, ['start', NAME]);
    await startReader();
    const row = {
      kind,
      i,
      ok: s.code === 0 && r.code === 0,
      seconds: (Date.now() - t0) / 1000,
      ...(await works()),
      ...(await footprint()),
    };
    rows.push(row);
    log(JSON.stringify(row));
  };
  for (let i = 1; i <= CYCLES; i++) await cycle('suspend/resume', i, 'suspend');
  for (let i = 1; i <= RESTARTS; i++) await cycle('stop/start', i, 'stop');

  log(`simulated host sleep: every berth process and QEMU stopped for ${SLEEP_MIN} min`);
  await simulateHostSleep(e, NAME, SLEEP_MIN * 60_000);
  const wake = Date.now();
  await waitFor(async () => (await docker(e, ['version'])).code === 0, 60000, 'docker after wake', {
    intervalMs: 50,
  });
  const dockerS = (Date.now() - wake) / 1000;
  await waitFor(() => httpGet(PORT, '/index.html'), 60000, 'the port after wake', { intervalMs: 50 });
  const portS = (Date.now() - wake) / 1000;
  const clockBehindS = await guestClockBehind(e, NAME);
  const sleep = { minutes: SLEEP_MIN, dockerS, portS, clockBehindS, ...(await works()) };
  log(`after the sleep: ${JSON.stringify(sleep)}`);
  const after = await footprint();

  const result = {
    date: new Date().toISOString(),
    cycles: CYCLES,
    restarts: RESTARTS,
    before,
    after,
    rows,
    sleep,
  };
  await fsp.writeFile(
    path.join(REPO, 'bench', 'results', 'soak.json'),
    JSON.stringify(result, null, 2) + '\n',
  );
  const failed = rows.filter((r) => !r.ok || !r.engine || !r.port || !r.share).length;
  log(
    `summary: ${rows.length} cycles, ${failed} with a failure; processes ${before.processes} → ${after.processes}, fds ${before.fds} → ${after.fds}, sockets ${before.sockets} → ${after.sockets}, forwards ${before.forwards} → ${after.forwards}, agent RSS ${before.agentRssKiB} → ${after.agentRssKiB} KiB (a new agent after each cycle)`,
  );
}

try {
  await main();
} finally {
  await berth(e, ['delete', NAME, '--force']);
  if (fs.existsSync(e.root)) await fsp.rm(e.root, { recursive: true, force: true });
}
