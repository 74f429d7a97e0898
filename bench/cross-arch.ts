/**
 * Cross-architecture benchmark: `npm run bench:cross`.
 * The same CPU-bound busybox command (gzip of a fixed 32 MiB buffer) in: a native container, an arm64
 * container through binfmt (qemu-user) on the native VM, and a native container inside a fully emulated
 * aarch64 VM; plus cold start-to-ready of both VMs. Medians of several runs; writes
 * docs/benchmarks-cross-arch.md and bench/results/cross-arch.json.
 */
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { berth, berthOk, dockerOk, makeEnv, REPO } from '../test/support/env.js';
import { arm64Busybox, busyboxContext, hostBusybox } from '../test/support/images.js';
import { table } from './markdown.js';
import { median } from './stats.js';

const RUNS = process.argv.includes('--quick') ? 1 : 3;
const e = await makeEnv('xbench');
const log = (m: string) => process.stderr.write(`[bench:cross] ${m}\n`);
const WORKLOAD = 'dd if=/dev/zero bs=1048576 count=32 2>/dev/null | gzip -c | wc -c >/dev/null';

async function docker(ctx: string, args: string[]): Promise<string> {
  return (await dockerOk(e, ['--context', ctx, ...args])).stdout;
}

/** Seconds of the workload, measured inside the container with /proc/uptime (no docker overhead). */
async function workload(ctx: string, image: string, platform: string): Promise<number> {
  const out = await docker(ctx, [
    'run',
    '--rm',
    '--platform',
    platform,
    image,
    'sh',
    '-c',
    `a=$(cut -d' ' -f1 /proc/uptime); ${WORKLOAD}; b=$(cut -d' ' -f1 /proc/uptime); echo "$a $b"`,
  ]);
  const [a, b] = out.trim().split(' ').map(Number);
  return b! - a!;
}

async function coldStart(name: string, extra: string[]): Promise<number> {
  const t = performance.now();
  await berthOk(e, ['start', name, '--no-activate', ...extra]);
  return performance.now() - t;
}

try {
  const amd64Ctx = await busyboxContext({ dir: path.join(e.root, 'amd64'), busybox: hostBusybox() });
  const arm64Ctx = await busyboxContext({ dir: path.join(e.root, 'arm64'), busybox: await arm64Busybox() });

  log('native instance');
  const nativeStart = await coldStart('x86', ['--cpus', '2', '--memory', '2GiB']);
  await docker('berth-x86', ['build', '-q', '-t', 'bb:amd64', amd64Ctx]);
  await docker('berth-x86', ['build', '--platform', 'linux/arm64', '-q', '-t', 'bb:arm64', arm64Ctx]);
  const native: number[] = [];
  const binfmt: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    native.push(await workload('berth-x86', 'bb:amd64', 'linux/amd64'));
    binfmt.push(await workload('berth-x86', 'bb:arm64', 'linux/arm64'));
  }
  await berthOk(e, ['delete', 'x86', '--force']);

  log('aarch64 instance (full emulation)');
  const armStart = await coldStart('arm', ['--arch', 'aarch64', '--cpus', '2', '--memory', '2GiB']);
  await docker('berth-arm', ['build', '-q', '-t', 'bb:arm64', arm64Ctx]);
  const inVm: number[] = [];
  for (let i = 0; i < RUNS; i++) inVm.push(await workload('berth-arm', 'bb:arm64', 'linux/arm64'));
  await berthOk(e, ['delete', 'arm', '--force']);

  const r = {
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, accel: 'tcg', runs: RUNS },
    workload: WORKLOAD,
    seconds: { native: median(native), binfmtArm64: median(binfmt), armVmNative: median(inVm) },
    coldStartSeconds: { x86_64: nativeStart / 1000, aarch64: armStart / 1000 },
    raw: { native, binfmt, inVm },
  };
  await fsp.mkdir(path.join(REPO, 'bench', 'results'), { recursive: true });
  await fsp.writeFile(
    path.join(REPO, 'bench', 'results', 'cross-arch.json'),
    JSON.stringify(r, null, 2) + '\n',
  );
  const md = [
    '# Cross-architecture benchmark',
    '',
    `Run ${r.date} by \`npm run bench:cross\` on ${r.machine.cpus} × ${r.machine.model}, host x86_64, accelerator tcg`,
    `(no usable KVM here: the "native" VM is itself emulated by TCG; on a laptop with KVM/HVF the native column is far faster).`,
    `Workload, inside the container: \`${WORKLOAD}\`, timed with /proc/uptime; median of ${RUNS} run(s).`,
    '',
    ...table(
      ['where', 'seconds', 'vs native container'],
      [
        ['native (amd64) container, x86_64 VM', r.seconds.native.toFixed(2), '1.00×'],
        [
          'arm64 container via binfmt (qemu-user), x86_64 VM',
          r.seconds.binfmtArm64.toFixed(2),
          `${(r.seconds.binfmtArm64 / r.seconds.native).toFixed(2)}×`,
        ],
        [
          'native arm64 container, aarch64 VM (full emulation)',
          r.seconds.armVmNative.toFixed(2),
          `${(r.seconds.armVmNative / r.seconds.native).toFixed(2)}×`,
        ],
      ],
    ),
    '',
    ...table(
      ['cold start → ready (`berth start`)', 'seconds'],
      [
        ['x86_64 instance', r.coldStartSeconds.x86_64.toFixed(1)],
        ['aarch64 instance (full emulation)', r.coldStartSeconds.aarch64.toFixed(1)],
      ],
    ),
    '',
  ].join('\n');
  await fsp.writeFile(path.join(REPO, 'docs', 'benchmarks-cross-arch.md'), md);
  process.stdout.write(md);
} finally {
  for (const n of ['x86', 'arm']) await berth(e, ['delete', n, '--force']);
  await fsp.rm(e.root, { recursive: true, force: true });
}
