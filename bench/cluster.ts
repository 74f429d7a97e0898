/**
 * Cluster benchmark: `npm run bench:cluster`.
 * In one run, on this machine: three instances started one by one (the baseline: what a user would do by
 * hand, before forming a swarm at all) against `berth cluster create` of three nodes; the deploy of a
 * 3-replica service from an image in the cluster's registry; failover (kill -9 of a worker's QEMU → node Down
 * → its task running elsewhere) with a client on the published port every 100 ms; each node's QEMU RSS at
 * idle. Writes docs/benchmarks-cluster.md and bench/results/cluster.json. Nothing asserts speed.
 */
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { berth, berthOk, docker, dockerOk, makeEnv, REPO } from '../test/support/env.js';
import { createHelloService, helloContext, probePort, runningTasks } from '../test/support/cluster.js';
import { freePort } from '../test/support/net.js';
import { pidFromFile, rssKiB } from '../test/support/proc.js';
import { waitFor } from '../test/support/wait.js';
import { table } from './markdown.js';

const C = 'cbench';
const CTX = `berth-${C}`;
const NODE = ['--cpus', '1', '--memory', '1GiB'];
const e = await makeEnv('cbench');
const log = (m: string) => process.stderr.write(`[bench:cluster] ${m}\n`);
const since = (t: number) => (performance.now() - t) / 1000;
const dc = (...a: string[]) => docker(e, ['--context', CTX, ...a]);

const tasks = (service: string) => runningTasks(e, CTX, service);

try {
  log('baseline: three instances started one by one');
  let t = performance.now();
  for (const i of [1, 2, 3]) await berthOk(e, ['start', `single-${i}`, ...NODE, '--no-activate']);
  const singles = since(t);
  for (const i of [1, 2, 3]) await berthOk(e, ['delete', `single-${i}`, '--force']);

  log('berth cluster create, 3 nodes');
  t = performance.now();
  await berthOk(e, ['cluster', 'create', C, '--nodes', '3', ...NODE]);
  const create = since(t);

  const ctx = await helloContext();
  const image = 'registry.berth.internal:5000/hello:1';
  await dockerOk(e, ['--context', CTX, 'build', '-q', '-t', image, ctx]);
  await dockerOk(e, ['--context', CTX, 'push', '-q', image]);
  const port = await freePort();
  t = performance.now();
  await createHelloService(e, CTX, image, port);
  await waitFor(async () => (await tasks('hello')).length === 3, 300000, 'three tasks');
  const deploy = since(t);

  await new Promise((r) => setTimeout(r, 30000));
  const rss = [1, 2, 3].map(
    (i) => (rssKiB(pidFromFile(path.join(e.home, `${C}-${i}`, 'qemu.pid'))) ?? 0) / 1024,
  );

  log('failover: kill -9 of the QEMU of a worker');
  const victim = (await tasks('hello')).find((n) => n !== `berth-${C}-1`)!;
  const qemu = pidFromFile(path.join(e.home, victim.replace(/^berth-/, ''), 'qemu.pid'))!;
  t = performance.now();
  const probe = probePort(port);
  process.kill(qemu, 'SIGKILL');
  await waitFor(
    async () =>
      (await dc('node', 'ls', '--format', '{{.Hostname}} {{.Status}}')).stdout.includes(`${victim} Down`),
    180000,
    'node Down',
  );
  const down = since(t);
  await waitFor(
    async () => {
      const n = await tasks('hello');
      return n.length === 3 && !n.includes(victim);
    },
    180000,
    'task rescheduled',
  );
  const moved = since(t);
  await new Promise((r) => setTimeout(r, 5000));
  const p = await probe.stop();

  const r = {
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model ?? '' },
    threeInstancesOneByOneS: singles,
    clusterCreateS: create,
    ratio: create / singles,
    serviceDeployS: deploy,
    failover: {
      downS: down,
      rescheduledS: moved,
      probes: p.ok + p.failed,
      failed: p.failed,
      lastFailureS: p.lastFailureS,
    },
    nodeIdleRssMiB: rss,
  };
  await fsp.mkdir(path.join(REPO, 'bench', 'results'), { recursive: true });
  await fsp.writeFile(path.join(REPO, 'bench', 'results', 'cluster.json'), `${JSON.stringify(r, null, 2)}\n`);
  const f = (x: number) => x.toFixed(1);
  const md = [
    '# Cluster benchmark',
    '',
    `Measured ${r.date.slice(0, 10)} by \`npm run bench:cluster\` on ${r.machine.cpus} CPUs (${r.machine.model}), TCG, nodes of 1 CPU and 1 GiB; one run (a cluster run takes minutes).`,
    '',
    ...table(
      ['what', 'berth cluster', 'baseline (same run)', 'ratio'],
      [
        [
          '3 nodes up',
          `${f(create)} s (\`cluster create\`: VMs, swarm formed, all Ready)`,
          `${f(singles)} s (3 × \`berth start\`, one by one, no swarm)`,
          `${r.ratio.toFixed(2)}×`,
        ],
        ['3-replica service deployed', `${f(deploy)} s (image pulled from the cluster registry)`, '', ''],
        ['worker killed → node Down', `${f(down)} s`, '', ''],
        ['worker killed → its task running elsewhere', `${f(moved)} s`, '', ''],
        [
          'published port, a GET every 100 ms during failover',
          `${p.failed} of ${p.ok + p.failed} failed; the last ${f(p.lastFailureS)} s after the kill`,
          '',
          '',
        ],
        ['QEMU RSS per node, idle', rss.map((x) => `${x.toFixed(0)} MiB`).join(', '), '', ''],
      ],
    ),
    '',
  ].join('\n');
  await fsp.writeFile(path.join(REPO, 'docs', 'benchmarks-cluster.md'), md);
  log(JSON.stringify(r));
} finally {
  await berth(e, ['cluster', 'delete', C]);
  for (const i of [1, 2, 3]) await berth(e, ['delete', `single-${i}`, '--force']);
  await fsp.rm(e.root, { recursive: true, force: true });
}
