/**
 * The shape of bench/results/latest.json, and how the measurement modules' raw figures become it (medians,
 * per-500 scaling, KiB → MiB). Pure: no I/O.
 */
import type { Sizes } from './context.js';
import { median, percentile } from './stats.js';

export interface PingFigures {
  p50: number;
  p99: number;
  totalMs: number;
}

/** One data path's port-forwarding figures: ms per transfer each way, short-connection percentiles in ms. */
export interface PortFigures {
  upMs: number;
  downMs: number;
  p50: number;
  p99: number;
}

/** The file workload in one folder (ms, timed inside the guest). */
export interface FileFigures {
  writeMs: number;
  readMs: number;
  smallMs: number;
}

/** The synchronised folder, measured in its own instance. */
export interface SyncFigures {
  disk: FileFigures;
  sync: FileFigures;
  syncdBootMs: number;
  toHostMs: number;
  toGuestMs: number;
}

/** What is measured the same way for berth and the baseline once a VM is up and idle. */
export interface IdleFigures {
  /** QEMU's RSS, KiB. */
  rss?: number;
  /** The host agent's RSS, KiB (berth only). */
  agentRss?: number;
  ping?: PingFigures;
  /** Median ms of `docker run --rm`. */
  run?: number;
}

/** The baseline's raw figures (`raw.baseline` in the JSON). */
export interface BaselineRaw extends IdleFigures {
  cold: number[];
  stop: number[];
  io?: { hostfwd: PortFigures; sshL: PortFigures };
}

/** berth's raw figures (`raw.berth` in the JSON). */
export interface BerthRaw extends IdleFigures {
  cold: number[];
  warm: number[];
  stop: number[];
  suspend: number[];
}

/** berth's port and shared-folder figures (from the default instance). */
export interface BerthIo {
  ports: PortFigures;
  /** ms from a guest listener to the host port accepting, one sample per listener. */
  listen: number[];
  /** `disk` (the guest's own disk) and one entry per 9p cache mode. */
  files: Record<string, FileFigures>;
  /** The 9p security_model QEMU served the shares with (read off its command line). */
  shareModel?: string;
}

export interface Machine {
  cpus: number;
  model: string;
  memGiB: number;
  kernel: string;
  accel: string;
  quick: boolean;
  runs: number;
}

export interface BenchResult {
  date: string;
  machine: Machine;
  baseline: Record<string, number | undefined>;
  berth: Record<string, number | undefined>;
  /** berth's cold start phases, ms (`berth start --verbose`, last run). */
  breakdown?: Record<string, number>;
  /** Inside the guest phase, ms (berth-init's record, last cold run). */
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
    files: Record<string, FileFigures>;
    shareModel?: string;
    sync?: SyncFigures;
  };
}

/** The figures measured the same way for berth and the baseline. */
function common(m: { cold: number[]; stop: number[] } & IdleFigures, pings: number) {
  return {
    coldStartMs: median(m.cold),
    stopMs: median(m.stop),
    pingP50Ms: m.ping?.p50,
    pingP99Ms: m.ping?.p99,
    ping500TotalMs: m.ping ? (m.ping.totalMs * 500) / pings : undefined,
    dockerRunMs: m.run,
    qemuRssMiB: m.rss !== undefined ? m.rss / 1024 : undefined,
  };
}

export function toResult(r: {
  date: string;
  machine: Machine;
  n: Sizes;
  base: BaselineRaw;
  berth: BerthRaw;
  breakdown?: Record<string, number>;
  guest: Record<string, number>;
  io?: BerthIo;
  sync?: SyncFigures;
}): BenchResult {
  const { n, base, berth: b, io } = r;
  return {
    date: r.date,
    machine: r.machine,
    baseline: common(base, n.pings),
    berth: {
      ...common(b, n.pings),
      warmStartMs: median(b.warm),
      suspendMs: median(b.suspend),
      agentRssMiB: b.agentRss !== undefined ? b.agentRss / 1024 : undefined,
    },
    breakdown: r.breakdown,
    guest: r.guest,
    io:
      io && base.io
        ? {
            bytes: n.xferBytes,
            conns: n.conns,
            berth: io.ports,
            hostfwd: base.io.hostfwd,
            sshL: base.io.sshL,
            listenP50Ms: percentile(io.listen, 50),
            listenP95Ms: percentile(io.listen, 95),
            listenSamples: io.listen.length,
            fileMiB: n.fileMiB,
            smallFiles: n.smallFiles,
            files: io.files,
            shareModel: io.shareModel,
            sync: r.sync,
          }
        : undefined,
  };
}
