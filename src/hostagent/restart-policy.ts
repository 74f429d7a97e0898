import { RESTART_WINDOW_MS, type RestartPolicy } from '../config/schema.js';

/** What the supervisor does when the host agent exits. */
export type AgentExitDecision =
  { action: 'restart'; delayMs: number; reason: string } | { action: 'exit'; code: number; reason: string };

/** At most this many restarts within WINDOW_MS; one more is a crash loop, and the supervisor gives up. */
export const MAX_RESTARTS = 5;
const WINDOW_MS = 60_000;

/**
 * Pure: an agent that exits 0 stopped on purpose (stop, suspend, the VM powered off); one that dies any other
 * way (a signal, an uncaught error) while its VM still runs is restarted (the new agent re-attaches), after
 * 0.25 s, doubling up to 4 s, unless it keeps dying. A VM that is gone needs no agent.
 */
export function decideAgentExit(f: {
  code: number | null;
  signal: string | null;
  vmAlive: boolean;
  /** When the earlier restarts happened (ms, same clock as now). */
  restarts: number[];
  now: number;
}): AgentExitDecision {
  const how = f.signal ? `killed by ${f.signal}` : `exited with code ${f.code}`;
  if (f.code === 0) return { action: 'exit', code: 0, reason: 'the host agent stopped' };
  if (!f.vmAlive)
    return { action: 'exit', code: f.code ?? 1, reason: `the host agent ${how}; the VM is not running` };
  const recent = f.restarts.filter((t) => f.now - t < WINDOW_MS).length;
  if (recent >= MAX_RESTARTS) {
    return {
      action: 'exit',
      code: 1,
      reason: `the host agent ${how} again: ${recent} restarts within ${WINDOW_MS / 1000} s, giving up (crash loop)`,
    };
  }
  return { action: 'restart', delayMs: Math.min(250 * 2 ** recent, 4000), reason: `the host agent ${how}` };
}

/** How a VM ended that berth did not stop. */
export interface VmExit {
  kind: 'poweroff' | 'reboot' | 'panic' | 'quit' | 'killed' | 'unknown';
  /** Whether it counts as a failure (restarted by `on-failure`). */
  failure: boolean;
  /** For the user: what happened, as a clause ("the guest powered off"). */
  text: string;
}

/**
 * Pure: the last SHUTDOWN event the VM's watch saw (if any) says how it ended. No event while watched: QEMU
 * died without shutting down (kill -9, the OOM killer, a crash). Not watched (a VM an older berth started):
 * unknown, and not taken for a failure.
 */
export function classifyVmExit(shutdown: { reason: string } | undefined, watched: boolean): VmExit {
  if (!watched) return { kind: 'unknown', failure: false, text: 'the VM exited' };
  const reason = shutdown?.reason;
  switch (reason) {
    case undefined:
      return {
        kind: 'killed',
        failure: true,
        text: 'QEMU died without shutting the VM down (killed, or it crashed)',
      };
    case 'guest-shutdown':
      return { kind: 'poweroff', failure: false, text: 'the guest powered off' };
    case 'guest-reset':
      return { kind: 'reboot', failure: true, text: 'the guest rebooted (a reboot, or its kernel panicked)' };
    case 'guest-panic':
      return { kind: 'panic', failure: true, text: "the guest's kernel panicked" };
    case 'host-signal':
      return { kind: 'quit', failure: false, text: 'QEMU was stopped by a signal on the host' };
    default:
      return { kind: 'quit', failure: false, text: `QEMU was told to quit (${reason})` };
  }
}

/** At most this many restarts within RESTART_WINDOW_MS; the next failure is a crash loop, and berth stops trying. */
export const MAX_VM_RESTARTS = 4;
export { RESTART_WINDOW_MS }; // the window crashes.json counts in (config/schema.ts: status reads it too)

export type VmExitDecision =
  | { action: 'restart'; delayMs: number; attempt: number; reason: string }
  | { action: 'stop'; crashLoop: boolean; reason: string };

/** The delay before the first restart (doubled for each next one, up to 30 s). */
export const FIRST_RESTART_DELAY_MS = 1000;

/**
 * Pure: whether the agent boots the VM again. Back-off doubles from 1 s (`firstDelayMs`; cap 30 s) with the
 * restarts of the last 10 minutes; one failure more than MAX_VM_RESTARTS in that window is a crash loop.
 */
export function decideVmExit(f: {
  policy: RestartPolicy;
  exit: VmExit;
  /** When the earlier restarts happened (ms, same clock as now). */
  restarts: number[];
  now: number;
  firstDelayMs?: number;
}): VmExitDecision {
  const { policy, exit } = f;
  if (policy === 'no' || (policy === 'on-failure' && !exit.failure))
    return { action: 'stop', crashLoop: false, reason: exit.text };
  const recent = f.restarts.filter((t) => f.now - t < RESTART_WINDOW_MS).length;
  if (recent >= MAX_VM_RESTARTS) {
    return {
      action: 'stop',
      crashLoop: true,
      reason: `crash loop: ${exit.text}, after ${recent} restarts within ${RESTART_WINDOW_MS / 60_000} min; not restarting it again`,
    };
  }
  return {
    action: 'restart',
    delayMs: Math.min((f.firstDelayMs ?? FIRST_RESTART_DELAY_MS) * 2 ** recent, 30_000),
    attempt: recent + 1,
    reason: exit.text,
  };
}
