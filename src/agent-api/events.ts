import { lineSplitter } from '../util/lines.js';

/** JSON-line events the host agent emits (GET /events) and `berth start` prints. */
export type AgentEvent =
  | { type: 'progress'; t: number; step: string; message: string }
  | { type: 'notice'; t: number; message: string }
  | {
      type: 'ready';
      t: number;
      socket: string;
      elapsedMs: number;
      breakdown: Record<string, number>;
      /** Cold boots: the guest's own milestones, ms since its kernel started (see GuestChannel.bootMarks). */
      guestBoot?: Record<string, number>;
    }
  | { type: 'failed'; t: number; code: string; message: string; hint?: string; details?: string }
  | { type: 'stopped'; t: number; reason: string }
  /** A suspend that did not happen: the instance keeps running. */
  | { type: 'suspend-failed'; t: number; message: string; hint?: string };

/** The guest's own view of its disk (the engine's data) and memory, in bytes. */
export interface GuestUsage {
  diskBytes: number;
  diskUsedBytes: number;
  diskFreeBytes: number;
  memoryBytes: number;
  /** Memory in use: total less what the kernel counts available (page cache it can drop included). */
  memoryUsedBytes: number;
  at: string;
}

/**
 * Pure: the guest's `usage` answer (guest/PROTOCOL.md): the engine's file system in bytes (size, used,
 * available) and MemTotal, MemAvailable in kB. Anything else is no answer (the guest is not trusted).
 */
export function parseGuestUsage(payload: string, at: Date): GuestUsage | undefined {
  const m = /^(\d{1,20}) (\d{1,20}) (\d{1,20}) (\d{1,20}) (\d{1,20})$/.exec(payload.trim());
  if (!m) return undefined;
  const [size, used, avail, total, free] = m
    .slice(1)
    .map((s) => Math.min(Number(s), Number.MAX_SAFE_INTEGER));
  return {
    diskBytes: size!,
    diskUsedBytes: used!,
    diskFreeBytes: avail!,
    memoryBytes: Math.min(total! * 1024, Number.MAX_SAFE_INTEGER),
    memoryUsedBytes: Math.max(0, total! - free!) * 1024,
    at: at.toISOString(),
  };
}

/** The guest clock farther than this from the host's is set again (by the agent; doctor warns). */
export const CLOCK_TOLERANCE_MS = 500;

/** True when a measured guest clock is farther than CLOCK_TOLERANCE_MS from the host's. */
export function clockIsOff(c: { offsetMs: number }): boolean {
  return Math.abs(c.offsetMs) > CLOCK_TOLERANCE_MS;
}

/** The guest clock against the host's, as last measured over the guest channel. */
export interface GuestClock {
  /** guest − host, ms (positive: the guest is ahead). */
  offsetMs: number;
  /** The measurement's bound: half the round trip, ms. */
  uncertaintyMs: number;
  /** When it was set from the host's because it was off by more than CLOCK_TOLERANCE_MS: the offset before. */
  correctedFromMs?: number;
  at: string;
}

/** -1500 → "1.5 s behind", 250 → "0.25 s ahead of". */
export function formatOffset(ms: number): string {
  const s = Math.abs(ms) / 1000;
  return `${Number(s.toFixed(s < 10 ? 2 : 0))} s ${ms < 0 ? 'behind' : 'ahead of'}`;
}

export type AgentPhase = 'starting' | 'ready' | 'stopping' | 'stopped' | 'failed';

export interface AgentStatus {
  name: string;
  phase: AgentPhase;
  pid: number;
  /** The supervisor that started this agent and restarts it if it dies while the VM runs. */
  supervisorPid?: number;
  qemuPid?: number;
  accel?: string;
  sshPort?: number;
  socket?: string;
  startedAt: string;
  readyAt?: string;
  error?: string;
  /** Why the hypervisor paused the running VM (a full host disk), when it has. */
  paused?: string;
  /** What the guest itself reports (refreshed every 30 s while ready): the engine's disk and memory. */
  guest?: GuestUsage;
  /** The guest clock's offset (measured with the usage; set again when off by more than CLOCK_TOLERANCE_MS). */
  guestClock?: GuestClock;
  /** ms since the agent started, on the same clock as events' `t`: events with a larger t came after this status. */
  uptimeMs?: number;
}

/** Parses a stream of JSON lines into objects, keeping partial lines between chunks. */
export function jsonLineSplitter(onObject: (o: unknown) => void): (chunk: string) => void {
  return lineSplitter((line) => {
    try {
      onObject(JSON.parse(line));
    } catch {
      // a non-JSON line in an event stream is ignored: events are the only thing the agent writes there
    }
  });
}
