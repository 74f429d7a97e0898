/**
 * Cross-architecture benchmark: `npm run bench:cross`.
 * The same CPU-bound busybox command (gzip of a fixed 32 MiB buffer) in: a native container, an arm64
 * container through binfmt (qemu-user) on the native VM, and a native container inside a fully emulated
 * aarch64 VM; plus cold start-to-ready of both VMs. Medians of several runs; writes
 * docs/benchmarks-cross-arch.md and bench/results/cross-arch.json.
 */
import { execa } from 'execa';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './stats.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RUNS = process.argv.includes('--quick') ? 1 : 3;
const work = await fsp.mkdtemp(path.join(os.tmpdir(), 'berth-xbench-'));
const env: NodeJS.ProcessEnv = {
  ...process.env,
  BERTH_HOME: path.join(work, 'home'),
  DOCKER_CONFIG: path.join(work, 'docker'),
};
delete env.DOCKER_HOST;
delete env.DOCKER_CONTEXT;
fs.mkdirSync(env.DOCKER_CONFIG!, { recursive: true });
const log = (m: string) => process.stderr.write(`[bench:cross] ${m}\n`);
const WORKLOAD = 'dd if=/dev/zero bs=1048576 count=32 2>/dev/null | gzip -c | wc -c >/dev/null';

async function berth(args: string[]): Promise<string> {
  const r = await execa(process.execPath, [path.join(REPO, 'bin', 'berth'), ...args], {
    env,
    extendEnv: false,
    reject: false,
  });
  if (r.exitCode !== 0) throw new Error(`berth ${args.join(' ')} failed:\n${r.stderr}`);
  return String(r.stdout);
}

async function docker(ctx: string, args: string[]): Promise<string> {
  return String((await execa('docker', ['--context', ctx, ...args], { env, extendEnv: false })).stdout);
}

async function context(busybox: string, name: string): Promise<string> {
  const dir = path.join(work, name);
  await fsp.mkdir(dir, { recursive: true });
  await fsp.copyFile(busybox, path.join(dir, 'busybox'));
  await fsp.chmod(path.join(dir, 'busybox'), 0o755);
  await fsp.writeFile(
    path.join(dir, 'Dockerfile'),
    'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox","--install","-s","/bin"]\n',
  );
  return dir;
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
  await berth(['start', name, '--no-activate', ...extra]);
  return performance.now() - t;
}

try {
  const { arm64Busybox } = await import('../test/e2e/helpers.js');
  const amd64Ctx = await context('/bin/busybox', 'amd64');
  const arm64Ctx = await context(await arm64Busybox(), 'arm64');

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
  await berth(['delete', 'x86', '--force']);

  log('aarch64 instance (full emulation)');
  const armStart = await coldStart('arm', ['--arch', 'aarch64', '--cpus', '2', '--memory', '2GiB']);
  await docker('berth-arm', ['build', '-q', '-t', 'bb:arm64', arm64Ctx]);
  const inVm: number[] = [];
  for (let i = 0; i < RUNS; i++) inVm.push(await workload('berth-arm', 'bb:arm64', 'linux/arm64'));
  await berth(['delete', 'arm', '--force']);

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
    '| where | seconds | vs native container |',
    '|---|---|---|',
    `| native (amd64) container, x86_64 VM | ${r.seconds.native.toFixed(2)} | 1.00× |`,
    `| arm64 container via binfmt (qemu-user), x86_64 VM | ${r.seconds.binfmtArm64.toFixed(2)} | ${(r.seconds.binfmtArm64 / r.seconds.native).toFixed(2)}× |`,
    `| native arm64 container, aarch64 VM (full emulation) | ${r.seconds.armVmNative.toFixed(2)} | ${(r.seconds.armVmNative / r.seconds.native).toFixed(2)}× |`,
    '',
    '| cold start → ready (`berth start`) | seconds |',
    '|---|---|',
    `| x86_64 instance | ${r.coldStartSeconds.x86_64.toFixed(1)} |`,
    `| aarch64 instance (full emulation) | ${r.coldStartSeconds.aarch64.toFixed(1)} |`,
    '',
  ].join('\n');
  await fsp.writeFile(path.join(REPO, 'docs', 'benchmarks-cross-arch.md'), md);
  process.stdout.write(md);
} finally {
  for (const n of ['x86', 'arm'])
    await execa(process.execPath, [path.join(REPO, 'bin', 'berth'), 'delete', n, '--force'], {
      env,
      extendEnv: false,
      reject: false,
    });
  await fsp.rm(work, { recursive: true, force: true });
}
