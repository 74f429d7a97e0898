/**
 * berth benchmark harness: `npm run bench [-- --quick]`.
 * Measures berth and a hand-assembled baseline (same image, systemd + sshd + ssh -L) in the same run,
 * several runs each, and reports medians and ratios. Writes bench/results/latest.json and docs/benchmarks.md.
 * Nothing here asserts speed: CI runs --quick only to prove the harness works.
 */
import { execa } from 'execa';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bootBaseline, stopBaseline, waitBaselineDocker } from './baseline.js';
import { ensureBaselineImage } from './baseline-image.js';
import { pingLatencies } from './http-ping.js';
import { median, rssKiB } from './stats.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const quick = process.argv.includes('--quick');
const RUNS = quick ? 1 : 3;
const PINGS = quick ? 100 : 500;
const DOCKER_RUNS = quick ? 3 : 10;
const CPUS = 2;
const MEM_MIB = 2048;
const NAME = 'bench';

const work = await fsp.mkdtemp(path.join(os.tmpdir(), 'berth-bench-'));
const env: NodeJS.ProcessEnv = { ...process.env, BERTH_HOME: path.join(work, 'home'), DOCKER_CONFIG: path.join(work, 'docker') };
delete env.DOCKER_HOST;
delete env.DOCKER_CONTEXT;
fs.mkdirSync(env.DOCKER_CONFIG!, { recursive: true });
const sock = path.join(env.BERTH_HOME!, NAME, 'docker.sock');

const log = (m: string) => process.stderr.write(`[bench] ${m}\n`);

async function berth(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await execa(process.execPath, [path.join(REPO, 'bin', 'berth'), ...args], { env, extendEnv: false, reject: false });
  if (r.exitCode !== 0) throw new Error(`berth ${args.join(' ')} failed:\n${r.stderr}`);
  return { code: r.exitCode ?? 0, stdout: String(r.stdout), stderr: String(r.stderr) };
}

async function dockerAt(socket: string, args: string[]): Promise<string> {
  const r = await execa('docker', ['-H', `unix://${socket}`, ...args], { env, extendEnv: false });
  return String(r.stdout);
}

async function timed<T>(fn: () => Promise<T>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

async function busyboxContext(): Promise<string> {
  const dir = path.join(work, 'bb');
  await fsp.mkdir(dir, { recursive: true });
  await fsp.copyFile('/bin/busybox', path.join(dir, 'busybox'));
  await fsp.writeFile(path.join(dir, 'Dockerfile'), 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox","--install","-s","/bin"]\n');
  return dir;
}

async function dockerRunLatencies(socket: string): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < DOCKER_RUNS; i++) xs.push(await timed(() => dockerAt(socket, ['run', '--rm', 'bb:bench', 'true'])));
  return median(xs);
}

function pidOf(file: string): number | undefined {
  try {
    return Number(fs.readFileSync(file, 'utf8').trim()) || undefined;
  } catch {
    return undefined;
  }
}

interface Result {
  date: string;
  machine: { cpus: number; model: string; memGiB: number; kernel: string; accel: string; quick: boolean; runs: number };
  baseline: Record<string, number | undefined>;
  berth: Record<string, number | undefined>;
  breakdown?: Record<string, number>;
  guest?: Record<string, number>;
}

async function main(): Promise<void> {
  const bbDir = await busyboxContext();
  log('ensuring the guest images are built (berth\'s and the plain baseline)');
  await berth(['image', 'build']);
  const img = await ensureBaselineImage((m) => log(`baseline image: ${m}`));

  // ---- baseline ----
  const base: { cold: number[]; stop: number[]; ping?: { p50: number; p99: number; totalMs: number }; run?: number; rss?: number } = { cold: [], stop: [] };
  for (let i = 0; i < RUNS; i++) {
    log(`baseline cold start ${i + 1}/${RUNS}`);
    const t = performance.now();
    const vm = await bootBaseline(img, path.join(work, 'baseline'), CPUS, MEM_MIB);
    await waitBaselineDocker(vm, 300000);
    base.cold.push(performance.now() - t);
    if (i === RUNS - 1) {
      await execa('docker', ['-H', `unix://${vm.socket}`, 'build', '-q', '-t', 'bb:bench', bbDir], { env, extendEnv: false });
      await new Promise((r) => setTimeout(r, 5000)); // let the guest settle before idle/latency figures
      base.rss = rssKiB(vm.qemu.pid);
      base.ping = await pingLatencies(vm.socket, PINGS);
      base.run = await dockerRunLatencies(vm.socket);
    }
    base.stop.push(await stopBaseline(vm));
  }

  // ---- berth ----
  const b: { cold: number[]; warm: number[]; stop: number[]; suspend: number[]; ping?: { p50: number; p99: number; totalMs: number }; run?: number; rss?: number; agentRss?: number } = {
    cold: [], warm: [], stop: [], suspend: [],
  };
  let breakdown: Record<string, number> | undefined;
  const guest: Record<string, number> = {};
  await berth(['start', NAME, '--cpus', String(CPUS), '--memory', `${MEM_MIB}MiB`, '--no-activate']); // creates it (not timed)
  await dockerAt(sock, ['build', '-q', '-t', 'bb:bench', bbDir]);
  b.stop.push(await timed(() => berth(['stop', NAME])));
  for (let i = 0; i < RUNS; i++) {
    log(`berth cold start ${i + 1}/${RUNS}`);
    let out = '';
    b.cold.push(await timed(async () => {
      out = (await berth(['start', NAME, '--cold', '--verbose', '--no-activate'])).stderr;
      await dockerAt(sock, ['version']);
    }));
    breakdown = Object.fromEntries([...out.matchAll(/^\s{2}(\w+)\s+([\d.]+) s$/gm)].map((m) => [m[1]!, Number(m[2]) * 1000]));
    // Inside the guest phase: kernel vs userspace, and when dockerd was up (systemd's own account).
    const sa = (await berth(['ssh', NAME, '--', 'sh', '-c', 'systemd-analyze; systemctl show -p ActiveEnterTimestampMonotonic -p ExecMainStartTimestampMonotonic docker.service containerd.service'])).stdout;
    const k = /\(kernel\) \+ ([\d.]+)s \(userspace\)/.exec(sa);
    const kernel = /in ([\d.]+)s \(kernel\)/.exec(sa);
    if (kernel) guest.kernelMs = Number(kernel[1]) * 1000;
    if (k) guest.userspaceMs = Number(k[1]) * 1000;
    const active = [...sa.matchAll(/ActiveEnterTimestampMonotonic=(\d+)/g)].map((m) => Number(m[1]) / 1000);
    const started = [...sa.matchAll(/ExecMainStartTimestampMonotonic=(\d+)/g)].map((m) => Number(m[1]) / 1000);
    if (active.length === 2 && started.length === 2) {
      guest.dockerdStartMs = active[0]! - started[0]!;
      guest.containerdStartMs = active[1]! - started[1]!;
      guest.engineUpSinceKernelStartMs = active[0]!;
    }
    if (i === RUNS - 1) {
      await new Promise((r) => setTimeout(r, 5000));
      b.rss = rssKiB(pidOf(path.join(env.BERTH_HOME!, NAME, 'qemu.pid')));
      b.agentRss = rssKiB(pidOf(path.join(env.BERTH_HOME!, NAME, 'ha.pid')));
      b.ping = await pingLatencies(sock, PINGS);
      b.run = await dockerRunLatencies(sock);
    }
    if (i < RUNS - 1) b.stop.push(await timed(() => berth(['stop', NAME])));
  }
  // warm: suspend → start (resume) → docker version
  await dockerAt(sock, ['run', '-d', '--name', 'counter', 'bb:bench', 'sh', '-c', 'while true; do sleep 1; done']);
  for (let i = 0; i < RUNS; i++) {
    log(`berth warm start ${i + 1}/${RUNS}`);
    b.suspend.push(await timed(() => berth(['suspend', NAME])));
    b.warm.push(await timed(async () => {
      await berth(['start', NAME, '--no-activate']);
      await dockerAt(sock, ['version']);
    }));
  }
  const stillRunning = (await dockerAt(sock, ['ps', '--filter', 'name=counter', '--format', '{{.Status}}'])).trim();
  if (!stillRunning.startsWith('Up')) throw new Error(`the container did not survive suspend/resume: "${stillRunning}"`);
  await berth(['delete', NAME, '--force']);

  const cpuModel = os.cpus()[0]?.model ?? 'unknown';
  const result: Result = {
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, model: cpuModel, memGiB: Math.round(os.totalmem() / 1024 ** 3), kernel: os.release(), accel: 'tcg', quick, runs: RUNS },
    baseline: common(base),
    berth: {
      ...common(b),
      warmStartMs: median(b.warm),
      suspendMs: median(b.suspend),
      agentRssMiB: b.agentRss !== undefined ? b.agentRss / 1024 : undefined,
    },
    breakdown,
    guest,
  };
  await fsp.mkdir(path.join(REPO, 'bench', 'results'), { recursive: true });
  const jsonFile = path.join(REPO, 'bench', 'results', quick ? 'quick.json' : 'latest.json');
  await fsp.writeFile(jsonFile, JSON.stringify({ ...result, raw: { baseline: base, berth: b } }, null, 2) + '\n');
  if (!quick) await fsp.writeFile(path.join(REPO, 'docs', 'benchmarks.md'), markdown(result));
  process.stdout.write(markdown(result));
}

/** The figures measured the same way for berth and the baseline. */
function common(m: { cold: number[]; stop: number[]; ping?: { p50: number; p99: number; totalMs: number }; run?: number; rss?: number }) {
  return {
    coldStartMs: median(m.cold),
    stopMs: median(m.stop),
    pingP50Ms: m.ping?.p50,
    pingP99Ms: m.ping?.p99,
    ping500TotalMs: m.ping ? (m.ping.totalMs * 500) / PINGS : undefined,
    dockerRunMs: m.run,
    qemuRssMiB: m.rss !== undefined ? m.rss / 1024 : undefined,
  };
}

function fmt(v: number | undefined, unit: 's' | 'ms' | 'MiB'): string {
  if (v === undefined || Number.isNaN(v)) return '–';
  if (unit === 's') return `${(v / 1000).toFixed(2)} s`;
  if (unit === 'ms') return `${v.toFixed(2)} ms`;
  return `${v.toFixed(0)} MiB`;
}

function ratio(a: number | undefined, b: number | undefined): string {
  return a !== undefined && b !== undefined && b > 0 ? `${(a / b).toFixed(2)}×` : '–';
}

function markdown(r: Result): string {
  const rows: Array<[string, number | undefined, number | undefined, 's' | 'ms' | 'MiB']> = [
    ['cold start → `docker version` ok', r.berth.coldStartMs, r.baseline.coldStartMs, 's'],
    ['warm start (resume) → `docker version` ok', r.berth.warmStartMs, r.baseline.coldStartMs, 's'],
    ['stop (graceful)', r.berth.stopMs, r.baseline.stopMs, 's'],
    ['`GET /_ping` p50 (keep-alive)', r.berth.pingP50Ms, r.baseline.pingP50Ms, 'ms'],
    ['`GET /_ping` p99 (keep-alive)', r.berth.pingP99Ms, r.baseline.pingP99Ms, 'ms'],
    ['500 × `GET /_ping` total', r.berth.ping500TotalMs, r.baseline.ping500TotalMs, 'ms'],
    ['`docker run --rm busybox true` (median)', r.berth.dockerRunMs, r.baseline.dockerRunMs, 'ms'],
    ['QEMU RSS at idle', r.berth.qemuRssMiB, r.baseline.qemuRssMiB, 'MiB'],
  ];
  const lines = [
    '# Benchmarks',
    '',
    `Run ${r.date} by \`npm run bench${r.machine.quick ? ' -- --quick' : ''}\` on ${r.machine.cpus} × ${r.machine.model}, ${r.machine.memGiB} GiB, Linux ${r.machine.kernel},`,
    `accelerator ${r.machine.accel} (KVM is not usable on these machines). ${r.machine.runs} run(s) per start metric; medians.`,
    'Baseline: the plain Debian guest of the field notes (mmdebstrap minbase + systemd + docker.io + sshd) booted the common way',
    '(readiness by polling SSH, engine socket via `ssh -L`), built and measured by the harness in the same run, same CPUs, memory and',
    'accelerator. Ratio = berth / baseline (lower is better for times).',
    '',
    '| metric | berth | baseline | ratio |',
    '|---|---|---|---|',
    ...rows.map(([k, a, b, u]) => `| ${k} | ${fmt(a, u)} | ${fmt(b, u)} | ${ratio(a, b)} |`),
    `| host agent RSS at idle | ${fmt(r.berth.agentRssMiB, 'MiB')} | – (ssh -L process) | |`,
    `| suspend (save state) | ${fmt(r.berth.suspendMs, 's')} | – | |`,
    '',
  ];
  if (r.breakdown && Object.keys(r.breakdown).length) {
    lines.push('berth cold start breakdown (from `berth start --verbose`, last run):', '');
    lines.push('| phase | time |', '|---|---|');
    for (const [k, v] of Object.entries(r.breakdown)) lines.push(`| ${k} | ${(v / 1000).toFixed(1)} s |`);
    lines.push('');
  }
  if (r.guest && Object.keys(r.guest).length) {
    lines.push('Inside the guest phase (systemd\'s account, last cold run):', '');
    lines.push('| | time |', '|---|---|');
    const names: Record<string, string> = {
      kernelMs: 'kernel + initrd',
      userspaceMs: 'userspace until default target',
      engineUpSinceKernelStartMs: 'dockerd ready, counted from kernel start',
      containerdStartMs: 'containerd start',
      dockerdStartMs: 'dockerd start',
    };
    for (const [k, v] of Object.entries(r.guest)) lines.push(`| ${names[k] ?? k} | ${(v / 1000).toFixed(1)} s |`);
    lines.push('');
  }
  return lines.join('\n');
}

try {
  await main();
} finally {
  await execa(process.execPath, [path.join(REPO, 'bin', 'berth'), 'delete', NAME, '--force'], { env, extendEnv: false, reject: false });
  await fsp.rm(work, { recursive: true, force: true });
}
