/**
 * docs/benchmarks.md from a run's results (bench/results/latest.json). Pure: no I/O, no clock. Tables come
 * out as Prettier formats them (columns padded to their widest cell), so the written file passes
 * `npm run lint` as it is.
 */
import { table } from './markdown.js';
import type { BenchResult, FileFigures, PortFigures } from './result.js';

type Unit = 's' | 'ms' | 'MiB';

function fmt(v: number | undefined, unit: Unit): string {
  if (v === undefined || Number.isNaN(v)) return '–';
  if (unit === 's') return `${(v / 1000).toFixed(2)} s`;
  if (unit === 'ms') return `${v.toFixed(2)} ms`;
  return `${v.toFixed(0)} MiB`;
}

/** a / b as "0.37×"; "–" when either is missing. */
function ratio(a: number | undefined, b: number | undefined): string {
  return a !== undefined && b !== undefined && b > 0 ? `${(a / b).toFixed(2)}×` : '–';
}

const seconds = (ms: number, digits: number) => `${(ms / 1000).toFixed(digits)} s`;

const GUEST_PHASES: Record<string, string> = {
  kernel: 'kernel, until it runs the initrd',
  initrd: 'initrd: root disk drivers, mount the root',
  init: 'until berth-init (PID 1) runs',
  services: 'modules, network, shared folders, until dockerd starts',
  dockerd: 'dockerd start until it answers (containerd in parallel)',
};

/** A caption and a table of phases (ms → s with one decimal); nothing when there are none. */
function phaseTable(
  caption: string,
  first: string,
  phases: Record<string, number> | undefined,
  name: (k: string) => string,
): string[] {
  if (!phases || !Object.keys(phases).length) return [];
  const rows = Object.entries(phases).map(([k, v]) => [name(k), seconds(v, 1)]);
  return [caption, '', ...table([first, 'time'], rows), ''];
}

export function renderReport(r: BenchResult): string {
  const rows: Array<[string, number | undefined, number | undefined, Unit]> = [
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
    ...table(
      ['metric', 'berth', 'baseline', 'ratio'],
      [
        ...rows.map(([k, a, b, u]) => [k, fmt(a, u), fmt(b, u), ratio(a, b)]),
        ['host agent RSS at idle', fmt(r.berth.agentRssMiB, 'MiB'), '– (ssh -L process)', ''],
        ['suspend (save state)', fmt(r.berth.suspendMs, 's'), '–', ''],
      ],
    ),
    '',
  ];
  lines.push(
    ...phaseTable(
      'berth cold start breakdown (from `berth start --verbose`, last run):',
      'phase',
      r.breakdown,
      (k) => k,
    ),
    ...phaseTable(
      "Inside the guest phase (berth-init's record, last cold run):",
      '',
      r.guest,
      (k) => GUEST_PHASES[k] ?? k,
    ),
  );
  if (r.io) lines.push(...ioReport(r.io));
  return lines.join('\n');
}

function ioReport(io: NonNullable<BenchResult['io']>): string[] {
  const mib = io.bytes / 1024 ** 2;
  const mibs = (ms: number) => `${(mib / (ms / 1000)).toFixed(0)} MiB/s`;
  /** berth, hostfwd, ssh -L, then berth relative to each (above 1 = berth better). */
  const row = (
    k: string,
    f: (p: PortFigures) => number,
    show: (v: number) => string,
    better: 'higher' | 'lower',
  ) => {
    const [b, h, s] = [f(io.berth), f(io.hostfwd), f(io.sshL)];
    const rel = (x: number) => (better === 'higher' ? (b / x).toFixed(2) : (x / b).toFixed(2));
    return [k, show(b), show(h), show(s), `${rel(h)}×`, `${rel(s)}×`];
  };
  const ms = (v: number) => `${v.toFixed(2)} ms`;
  const lines = [
    '## Port forwarding',
    '',
    `${mib} MiB through one TCP connection each way (median of the runs), and ${io.conns} sequential short connections (connect, one request line,`,
    'one answer, close), against the same Perl server in the guest. berth: the forward the host agent added at run time',
    "when the guest started listening. hostfwd: QEMU's own `hostfwd` given on the baseline's command line. ssh -L: OpenSSH",
    "tunnel into the baseline guest. berth's forward and hostfwd are the same mechanism (QEMU's user network), in two",
    'different VMs: their difference is the noise between VMs. Ratios are berth relative to each (above 1 = berth better).',
    '',
    ...table(
      ['', 'berth', 'hostfwd', 'ssh -L', 'vs hostfwd', 'vs ssh -L'],
      [
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
        row('short connection p50', (p) => p.p50, ms, 'lower'),
        row('short connection p99', (p) => p.p99, ms, 'lower'),
      ],
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
    ...(io.shareModel
      ? [
          `QEMU served the shares with \`security_model=${io.shareModel}\` (mapped-xattr when berth runs as root, none as a user;`,
          'the two are compared in docs/benchmarks-share-model.md).',
        ]
      : []),
    '',
  ];
  const fileRow = (name: string, f: FileFigures, disk: FileFigures) => [
    name,
    seconds(f.writeMs, 2),
    seconds(f.readMs, 2),
    seconds(f.smallMs, 2),
    `${(f.smallMs / disk.smallMs).toFixed(2)}×`,
  ];
  const fileRows = Object.entries(io.files).map(([k, f]) =>
    fileRow(
      k === 'disk' ? 'guest disk' : `9p share, cache=${k}${k === 'mmap' ? ' (default)' : ''}`,
      f,
      io.files.disk!,
    ),
  );
  const s = io.sync;
  if (s) {
    fileRows.push(
      fileRow('guest disk (second instance)', s.disk, s.disk),
      fileRow('synchronised folder (`sync: true`, second instance)', s.sync, s.disk),
    );
  }
  lines.push(...table(['', 'write', 'read', 'small files', 'small files vs guest disk'], fileRows));
  if (s) {
    const perFile = (ms: number) => (ms / io.smallFiles).toFixed(1);
    lines.push(
      '',
      'The synchronised folder was measured in a second instance with only that folder (the start metrics above are the',
      `default configuration's), against that instance's own disk. At its cold boot berth-syncd held dockerd's start for`,
      `${seconds(s.syncdBootMs, 2)} (start of berth-syncd until its copy was ready; the folder was empty). Its copies, timed from the host:`,
      `${io.smallFiles} small files made in the guest were all on the host after ${seconds(s.toHostMs, 1)}, and ${io.smallFiles} made on the host all in the`,
      `guest after ${seconds(s.toGuestMs, 1)} (${perFile(s.toHostMs)} and ${perFile(s.toGuestMs)} ms a file, each several 9p round trips, one file at a time).`,
    );
  }
  lines.push('');
  return lines;
}
