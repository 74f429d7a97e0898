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
import { spawn } from 'node:child_process';
import {
  bootBaseline,
  freePort,
  sshArgs,
  stopBaseline,
  waitBaselineDocker,
  type BaselineVm,
} from './baseline.js';
import {
  fileWorkloadScript,
  GUEST_PORTS,
  guestServersScript,
  listenToAccept,
  parseFileWorkload,
  receiveThroughput,
  sendThroughput,
  shortConnections,
  waitEcho,
  waitPort,
} from './io.js';
import { ensureBaselineImage } from './baseline-image.js';
import { pingLatencies } from './http-ping.js';
import { median, percentile, rssKiB } from './stats.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const quick = process.argv.includes('--quick');
const RUNS = quick ? 1 : 3;
const PINGS = quick ? 100 : 500;
const DOCKER_RUNS = quick ? 3 : 10;
const CPUS = 2;
const MEM_MIB = 2048;
const NAME = 'bench';
/** A second instance, with one synchronised folder, measured after the first is gone (one VM at a time). */
const SYNC_NAME = 'bench-sync';
const XFER_BYTES = (quick ? 16 : 512) * 1024 ** 2;
const CONNS = quick ? 50 : 1000;
const LISTEN_TRIALS = quick ? 3 : 20;
const FILE_MIB = quick ? 16 : 256;
const SMALL_FILES = quick ? 200 : 2000;
const SHARE_MODES = ['mmap', 'loose', 'none'] as const;

const work = await fsp.mkdtemp(path.join(os.tmpdir(), 'berth-bench-'));
const env: NodeJS.ProcessEnv = {
  ...process.env,
  BERTH_HOME: path.join(work, 'home'),
  DOCKER_CONFIG: path.join(work, 'docker'),
};
delete env.DOCKER_HOST;
delete env.DOCKER_CONTEXT;
fs.mkdirSync(env.DOCKER_CONFIG!, { recursive: true });
const sock = path.join(env.BERTH_HOME!, NAME, 'docker.sock');

const log = (m: string) => process.stderr.write(`[bench] ${m}\n`);

async function berth(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await execa(process.execPath, [path.join(REPO, 'bin', 'berth'), ...args], {
    env,
    extendEnv: false,
    reject: false,
  });
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
  await fsp.writeFile(
    path.join(dir, 'Dockerfile'),
    'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox","--install","-s","/bin"]\n',
  );
  return dir;
}

async function dockerRunLatencies(socket: string): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < DOCKER_RUNS; i++)
    xs.push(await timed(() => dockerAt(socket, ['run', '--rm', 'bb:bench', 'true'])));
  return median(xs);
}

function pidOf(file: string): number | undefined {
  try {
    return Number(fs.readFileSync(file, 'utf8').trim()) || undefined;
  } catch {
    return undefined;
  }
}

interface PortFigures {
  upMs: number;
  downMs: number;
  p50: number;
  p99: number;
}

/** Throughput: median of RUNS transfers each way (one 512 MiB sample swings a lot on these machines). */
async function portFigures(ports: { sink: number; source: number; echo: number }): Promise<PortFigures> {
  const ups: number[] = [];
  const downs: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    ups.push(await retried('host → guest transfer', () => sendThroughput(ports.sink, XFER_BYTES)));
    downs.push(await retried('guest → host transfer', () => receiveThroughput(ports.source, XFER_BYTES)));
  }
  const upMs = median(ups);
  const downMs = median(downs);
  const { p50, p99 } = await retried('short connections', () => shortConnections(ports.echo, CONNS));
  return { upMs, downMs, p50, p99 };
}

/**
 * One more try after a reset connection: on these noisy machines a 512 MiB transfer through a tunnel is
 * occasionally reset (seen once through the baseline's ssh -L); a second failure ends the run.
 */
async function retried<T>(what: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    log(`${what} failed (${(err as Error).message}); trying once more in 2 s`);
    await new Promise((r) => setTimeout(r, 2000));
    return f();
  }
}

/** The baseline's two paths: the static QEMU hostfwd rules it booted with, and `ssh -L`. */
async function baselineIo(
  vm: BaselineVm,
  fwd: { sink: number; source: number; echo: number },
): Promise<{ hostfwd: PortFigures; sshL: PortFigures }> {
  await execa('ssh', [...sshArgs(vm), 'root@127.0.0.1', guestServersScript(XFER_BYTES)]);
  await waitEcho(fwd.echo, 30000);
  const hostfwd = await portFigures(fwd);
  const l = { sink: await freePort(), source: await freePort(), echo: await freePort() };
  const tunnel = spawn(
    'ssh',
    [
      ...sshArgs(vm),
      '-N',
      '-o',
      'ExitOnForwardFailure=yes',
      '-L',
      `${l.sink}:127.0.0.1:${GUEST_PORTS.sink}`,
      '-L',
      `${l.source}:127.0.0.1:${GUEST_PORTS.source}`,
      '-L',
      `${l.echo}:127.0.0.1:${GUEST_PORTS.echo}`,
      'root@127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
  try {
    await waitEcho(l.echo, 30000);
    return { hostfwd, sshL: await portFigures(l) };
  } finally {
    tunnel.kill();
  }
}

async function berthSsh(script: string, name = NAME): Promise<string> {
  return (await berth(['ssh', name, '--', 'sh', '-c', script])).stdout;
}

/** berth's path: the guest listeners are forwarded automatically (same ports on the host). */
/**
 * A synchronised folder's copies, timed from the host: N small files made in the guest until all are on the
 * host, and N made on the host until all are in the guest (from the start of the writes; polled every 50 ms).
 */
async function syncFigures(dir: string, n: number): Promise<{ toHostMs: number; toGuestMs: number }> {
  const toHost = path.join(dir, 'to-host');
  let t = performance.now();
  await berthSsh(
    `mkdir ${toHost} && cd ${toHost} && perl -e 'for (1 .. ${n}) { open(my $f, ">", "f$_") or die; print $f "x" x 100; close $f }'`,
    SYNC_NAME,
  );
  for (;;) {
    const have = await fsp.readdir(toHost).catch(() => []);
    if (have.length >= n) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const toHostMs = performance.now() - t;
  const toGuest = path.join(dir, 'to-guest');
  t = performance.now();
  await fsp.mkdir(toGuest);
  for (let i = 1; i <= n; i++) await fsp.writeFile(path.join(toGuest, `f${i}`), 'x'.repeat(100));
  await berthSsh(`until [ "$(ls ${toGuest} 2>/dev/null | wc -l)" -ge ${n} ]; do sleep 0.05; done`, SYNC_NAME);
  return { toHostMs, toGuestMs: performance.now() - t };
}

/**
 * The synchronised folder, in its own instance (the start metrics stay those of the default configuration):
 * the file workloads on it and on that guest's disk, how long berth-syncd held the engine's start at boot, and
 * how long its copies take to reach the other side.
 */
async function syncIo(): Promise<SyncIo> {
  const dir = path.join(work, 'share-sync');
  await fsp.mkdir(dir, { recursive: true });
  await fsp.mkdir(path.join(env.BERTH_HOME!, SYNC_NAME), { recursive: true, mode: 0o700 });
  await fsp.writeFile(
    path.join(env.BERTH_HOME!, SYNC_NAME, 'berth.yaml'),
    `mounts:\n  - location: ${dir}\n    sync: true\n`,
  );
  await berth(['start', SYNC_NAME, '--cpus', String(CPUS), '--memory', `${MEM_MIB}MiB`, '--no-activate']);
  try {
    const boot = await berthSsh('cat /run/berth/boot', SYNC_NAME);
    const at = (what: string) => Number(new RegExp(`^(\\S+) syncd ${what}$`, 'm').exec(boot)?.[1]);
    const disk = parseFileWorkload(
      await berthSsh(fileWorkloadScript('/var/tmp/berth-bench', FILE_MIB, SMALL_FILES), SYNC_NAME),
    );
    const sync = parseFileWorkload(await berthSsh(fileWorkloadScript(dir, FILE_MIB, SMALL_FILES), SYNC_NAME));
    return {
      disk,
      sync,
      syncdBootMs: (at('ready') - at('start')) * 1000,
      ...(await syncFigures(dir, SMALL_FILES)),
    };
  } finally {
    await berth(['delete', SYNC_NAME, '--force']);
  }
}

interface FileFigures {
  writeMs: number;
  readMs: number;
  smallMs: number;
}
interface SyncIo {
  disk: FileFigures;
  sync: FileFigures;
  syncdBootMs: number;
  toHostMs: number;
  toGuestMs: number;
}

async function berthIo(): Promise<{
  ports: PortFigures;
  listen: number[];
  files: Record<string, { writeMs: number; readMs: number; smallMs: number }>;
}> {
  await berthSsh(`cd / && ${guestServersScript(XFER_BYTES)}`);
  for (const p of Object.values(GUEST_PORTS)) await waitPort(p, 30000);
  await waitEcho(GUEST_PORTS.echo, 30000);
  const ports = await portFigures(GUEST_PORTS);
  const listen: number[] = [];
  for (let i = 0; i < LISTEN_TRIALS; i++) {
    listen.push(
      await listenToAccept(
        [process.execPath, path.join(REPO, 'bin', 'berth'), 'ssh', NAME, '--'],
        7100 + i,
        env,
      ),
    );
    await new Promise((r) => setTimeout(r, 300));
  }
  const files: Record<string, { writeMs: number; readMs: number; smallMs: number }> = {};
  files.disk = parseFileWorkload(
    await berthSsh(fileWorkloadScript('/var/tmp/berth-bench', FILE_MIB, SMALL_FILES)),
  );
  for (const m of SHARE_MODES) {
    files[m] = parseFileWorkload(
      await berthSsh(fileWorkloadScript(path.join(work, `share-${m}`), FILE_MIB, SMALL_FILES)),
    );
  }
  await berthSsh("pkill -f 'IO[:]:Socket' || true"); // they hold the shared home (their cwd): suspend needs it free
  return { ports, listen, files };
}

interface Result {
  date: string;
  machine: {
    cpus: number;
    model: string;
    memGiB: number;
    kernel: string;
    accel: string;
    quick: boolean;
    runs: number;
  };
  baseline: Record<string, number | undefined>;
  berth: Record<string, number | undefined>;
  breakdown?: Record<string, number>;
  guest?: Record<string, number>;
  io?: {
    bytes: number;
    conns: number;
    berth: PortFigures;
    hostfwd: PortFigures;
    sshL: PortFigures;
    listenP50Ms: number;
    listenP95Ms: number;
    listenSamples: number;
    fileMiB: number;
    smallFiles: number;
    files: Record<string, { writeMs: number; readMs: number; smallMs: number }>;
    sync?: SyncIo;
  };
}

async function main(): Promise<void> {
  const bbDir = await busyboxContext();
  log("ensuring the guest images are built (berth's and the plain baseline)");
  await berth(['image', 'build']);
  const img = await ensureBaselineImage((m) => log(`baseline image: ${m}`));

  // ---- baseline ----
  const base: {
    cold: number[];
    stop: number[];
    ping?: { p50: number; p99: number; totalMs: number };
    run?: number;
    rss?: number;
    io?: { hostfwd: PortFigures; sshL: PortFigures };
  } = { cold: [], stop: [] };
  const fwd = { sink: await freePort(), source: await freePort(), echo: await freePort() };
  for (let i = 0; i < RUNS; i++) {
    log(`baseline cold start ${i + 1}/${RUNS}`);
    const t = performance.now();
    const vm = await bootBaseline(img, path.join(work, 'baseline'), CPUS, MEM_MIB, [
      [fwd.sink, GUEST_PORTS.sink],
      [fwd.source, GUEST_PORTS.source],
      [fwd.echo, GUEST_PORTS.echo],
    ]);
    try {
      await waitBaselineDocker(vm, 300000);
      base.cold.push(performance.now() - t);
      if (i === RUNS - 1) {
        await execa('docker', ['-H', `unix://${vm.socket}`, 'build', '-q', '-t', 'bb:bench', bbDir], {
          env,
          extendEnv: false,
        });
        await new Promise((r) => setTimeout(r, 5000)); // let the guest settle before idle/latency figures
        base.rss = rssKiB(vm.qemu.pid);
        base.ping = await pingLatencies(vm.socket, PINGS);
        base.run = await dockerRunLatencies(vm.socket);
        log('baseline port forwarding: QEMU hostfwd and ssh -L');
        base.io = await baselineIo(vm, fwd);
      }
    } catch (err) {
      // A failed run must not leave the baseline VM running (it would skew every later run on this machine).
      vm.forward?.kill();
      vm.qemu.kill('SIGKILL');
      throw err;
    }
    base.stop.push(await stopBaseline(vm));
  }

  // ---- berth ----
  const b: {
    cold: number[];
    warm: number[];
    stop: number[];
    suspend: number[];
    ping?: { p50: number; p99: number; totalMs: number };
    run?: number;
    rss?: number;
    agentRss?: number;
  } = {
    cold: [],
    warm: [],
    stop: [],
    suspend: [],
  };
  let breakdown: Record<string, number> | undefined;
  const guest: Record<string, number> = {};
  let io: Awaited<ReturnType<typeof berthIo>> | undefined;
  // The instance: the default home share plus one folder per 9p cache mode for the file workloads.
  const yaml = ['mounts:', '  - location: "~"'];
  for (const m of SHARE_MODES) {
    await fsp.mkdir(path.join(work, `share-${m}`), { recursive: true });
    yaml.push(`  - location: ${path.join(work, `share-${m}`)}`, `    cache: ${m}`);
  }
  await fsp.mkdir(path.join(env.BERTH_HOME!, NAME), { recursive: true, mode: 0o700 });
  await fsp.writeFile(path.join(env.BERTH_HOME!, NAME, 'berth.yaml'), yaml.join('\n') + '\n');
  await berth(['start', NAME, '--cpus', String(CPUS), '--memory', `${MEM_MIB}MiB`, '--no-activate']); // creates it (not timed)
  await dockerAt(sock, ['build', '-q', '-t', 'bb:bench', bbDir]);
  b.stop.push(await timed(() => berth(['stop', NAME])));
  for (let i = 0; i < RUNS; i++) {
    log(`berth cold start ${i + 1}/${RUNS}`);
    let out = '';
    b.cold.push(
      await timed(async () => {
        out = (await berth(['start', NAME, '--cold', '--verbose', '--no-activate'])).stderr;
        await dockerAt(sock, ['version']);
      }),
    );
    // `berth start --verbose`: the host's phases, then the guest's own (milestones berth-init recorded).
    const [hostPart, guestPart = ''] = out.split('inside the guest');
    const phases = (text: string) =>
      Object.fromEntries(
        [...text.matchAll(/^\s{2}(\w+)\s+([\d.]+) s$/gm)].map((m) => [m[1]!, Number(m[2]) * 1000]),
      );
    breakdown = phases(hostPart!);
    Object.assign(guest, phases(guestPart));
    if (i === RUNS - 1) {
      await new Promise((r) => setTimeout(r, 5000));
      b.rss = rssKiB(pidOf(path.join(env.BERTH_HOME!, NAME, 'qemu.pid')));
      b.agentRss = rssKiB(pidOf(path.join(env.BERTH_HOME!, NAME, 'ha.pid')));
      b.ping = await pingLatencies(sock, PINGS);
      b.run = await dockerRunLatencies(sock);
      log('berth port forwarding, listen → accept, shared folders');
      io = await berthIo();
    }
    if (i < RUNS - 1) b.stop.push(await timed(() => berth(['stop', NAME])));
  }
  // warm: suspend → start (resume) → docker version
  await dockerAt(sock, [
    'run',
    '-d',
    '--name',
    'counter',
    'bb:bench',
    'sh',
    '-c',
    'while true; do sleep 1; done',
  ]);
  for (let i = 0; i < RUNS; i++) {
    log(`berth warm start ${i + 1}/${RUNS}`);
    b.suspend.push(await timed(() => berth(['suspend', NAME])));
    b.warm.push(
      await timed(async () => {
        await berth(['start', NAME, '--no-activate']);
        await dockerAt(sock, ['version']);
      }),
    );
  }
  const stillRunning = (
    await dockerAt(sock, ['ps', '--filter', 'name=counter', '--format', '{{.Status}}'])
  ).trim();
  if (!stillRunning.startsWith('Up'))
    throw new Error(`the container did not survive suspend/resume: "${stillRunning}"`);
  await berth(['delete', NAME, '--force']);
  log('berth synchronised folder (a second instance)');
  const sync = await syncIo();

  const cpuModel = os.cpus()[0]?.model ?? 'unknown';
  const result: Result = {
    date: new Date().toISOString(),
    machine: {
      cpus: os.cpus().length,
      model: cpuModel,
      memGiB: Math.round(os.totalmem() / 1024 ** 3),
      kernel: os.release(),
      accel: 'tcg',
      quick,
      runs: RUNS,
    },
    baseline: common(base),
    berth: {
      ...common(b),
      warmStartMs: median(b.warm),
      suspendMs: median(b.suspend),
      agentRssMiB: b.agentRss !== undefined ? b.agentRss / 1024 : undefined,
    },
    breakdown,
    guest,
    io:
      io && base.io
        ? {
            bytes: XFER_BYTES,
            conns: CONNS,
            berth: io.ports,
            hostfwd: base.io.hostfwd,
            sshL: base.io.sshL,
            listenP50Ms: percentile(io.listen, 50),
            listenP95Ms: percentile(io.listen, 95),
            listenSamples: io.listen.length,
            fileMiB: FILE_MIB,
            smallFiles: SMALL_FILES,
            files: io.files,
            sync,
          }
        : undefined,
  };
  await fsp.mkdir(path.join(REPO, 'bench', 'results'), { recursive: true });
  const jsonFile = path.join(REPO, 'bench', 'results', quick ? 'quick.json' : 'latest.json');
  await fsp.writeFile(
    jsonFile,
    JSON.stringify({ ...result, raw: { baseline: base, berth: b } }, null, 2) + '\n',
  );
  if (!quick) await fsp.writeFile(path.join(REPO, 'docs', 'benchmarks.md'), markdown(result));
  process.stdout.write(markdown(result));
}

/** The figures measured the same way for berth and the baseline. */
function common(m: {
  cold: number[];
  stop: number[];
  ping?: { p50: number; p99: number; totalMs: number };
  run?: number;
  rss?: number;
}) {
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
    lines.push("Inside the guest phase (berth-init's record, last cold run):", '');
    lines.push('| | time |', '|---|---|');
    const names: Record<string, string> = {
      kernel: 'kernel, until it runs the initrd',
      initrd: 'initrd: root disk drivers, mount the root',
      init: 'until berth-init (PID 1) runs',
      services: 'modules, network, shared folders, until dockerd starts',
      dockerd: 'dockerd start until it answers (containerd in parallel)',
    };
    for (const [k, v] of Object.entries(r.guest))
      lines.push(`| ${names[k] ?? k} | ${(v / 1000).toFixed(1)} s |`);
    lines.push('');
  }
  if (r.io) lines.push(...ioMarkdown(r.io));
  return lines.join('\n');
}

function ioMarkdown(io: NonNullable<Result['io']>): string[] {
  const mibs = (ms: number) => `${(io.bytes / 1024 ** 2 / (ms / 1000)).toFixed(0)} MiB/s`;
  const mib = io.bytes / 1024 ** 2;
  const row = (
    k: string,
    f: (p: PortFigures) => number,
    show: (v: number) => string,
    better: 'higher' | 'lower',
  ) => {
    const [b, h, s] = [f(io.berth), f(io.hostfwd), f(io.sshL)];
    const rel = (x: number) => (better === 'higher' ? (b / x).toFixed(2) : (x / b).toFixed(2));
    return `| ${k} | ${show(b)} | ${show(h)} | ${show(s)} | ${rel(h)}× | ${rel(s)}× |`;
  };
  const lines = [
    '## Port forwarding',
    '',
    `${mib} MiB through one TCP connection each way (median of the runs), and ${io.conns} sequential short connections (connect, one request line,`,
    'one answer, close), against the same Perl server in the guest. berth: the forward the host agent added at run time',
    "when the guest started listening. hostfwd: QEMU's own `hostfwd` given on the baseline's command line. ssh -L: OpenSSH",
    "tunnel into the baseline guest. berth's forward and hostfwd are the same mechanism (QEMU's user network), in two",
    'different VMs: their difference is the noise between VMs. Ratios are berth relative to each (above 1 = berth better).',
    '',
    '| | berth | hostfwd | ssh -L | vs hostfwd | vs ssh -L |',
    '|---|---|---|---|---|---|',
    row(
      'host → guest throughput',
      (p) => 1 / p.upMs,
      (v) => mibs(1 / v),
      'higher',
    ),
    row(
      'guest → host throughput',
      (p) => 1 / p.downMs,
      (v) => mibs(1 / v),
      'higher',
    ),
    row(
      'short connection p50',
      (p) => p.p50,
      (v) => `${v.toFixed(2)} ms`,
      'lower',
    ),
    row(
      'short connection p99',
      (p) => p.p99,
      (v) => `${v.toFixed(2)} ms`,
      'lower',
    ),
    '',
    `Listener in the guest → host port accepts: p50 ${io.listenP50Ms.toFixed(0)} ms, p95 ${io.listenP95Ms.toFixed(0)} ms over ${io.listenSamples} listeners`,
    '(from the listener\'s "listening" line reaching the host over ssh until a connect to the same host port succeeds; polled every 10 ms).',
    '',
    '## Shared folders',
    '',
    `Measured inside the guest: ${io.fileMiB} MiB sequential write (+ fsync) and read (guest caches dropped first), and`,
    `create + stat + read + delete of ${io.smallFiles} small files. "guest disk" is the guest's own ext4 disk; the 9p rows are`,
    'host folders shared with berth\'s 9p cache modes (mmap is the default); "synchronised" is a folder with `sync: true`',
    '(the guest works on its own copy; berth-syncd copies changes across in the background). Ratio = time / guest disk time.',
    '',
    '| | write | read | small files | small files vs guest disk |',
    '|---|---|---|---|---|',
  ];
  const fileRow = (name: string, f: FileFigures, disk: FileFigures) =>
    `| ${name} | ${(f.writeMs / 1000).toFixed(2)} s | ${(f.readMs / 1000).toFixed(2)} s | ${(f.smallMs / 1000).toFixed(2)} s | ${(f.smallMs / disk.smallMs).toFixed(2)}× |`;
  for (const [k, f] of Object.entries(io.files)) {
    lines.push(
      fileRow(
        k === 'disk' ? 'guest disk' : `9p share, cache=${k}${k === 'mmap' ? ' (default)' : ''}`,
        f,
        io.files.disk!,
      ),
    );
  }
  if (io.sync) {
    const s = io.sync;
    lines.push(
      fileRow('guest disk (second instance)', s.disk, s.disk),
      fileRow('synchronised folder (`sync: true`, second instance)', s.sync, s.disk),
      '',
      'The synchronised folder was measured in a second instance with only that folder (the start metrics above are the',
      `default configuration's), against that instance's own disk. At its cold boot berth-syncd held dockerd's start for`,
      `${(s.syncdBootMs / 1000).toFixed(2)} s (start of berth-syncd until its copy was ready; the folder was empty). Its copies, timed from the host:`,
      `${io.smallFiles} small files made in the guest were all on the host after ${(s.toHostMs / 1000).toFixed(1)} s, and ${io.smallFiles} made on the host all in the`,
      `guest after ${(s.toGuestMs / 1000).toFixed(1)} s (${(s.toHostMs / io.smallFiles).toFixed(1)} and ${(s.toGuestMs / io.smallFiles).toFixed(1)} ms a file, each several 9p round trips, one file at a time).`,
    );
  }
  lines.push('');
  return lines;
}

try {
  await main();
} finally {
  for (const n of [NAME, SYNC_NAME])
    await execa(process.execPath, [path.join(REPO, 'bin', 'berth'), 'delete', n, '--force'], {
      env,
      extendEnv: false,
      reject: false,
    });
  await fsp.rm(work, { recursive: true, force: true });
}
