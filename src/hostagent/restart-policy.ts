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
