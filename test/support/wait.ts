import { retryUntil, type Clock } from '../../src/util/retry.js';

/**
 * Calls fn every intervalMs (default 250) until it returns something truthy, and returns that; throws
 * "timed out waiting for WHAT" once timeoutMs has passed. The loop is the project's retryUntil.
 */
export async function waitFor<T>(
  fn: () => Promise<T | undefined | false>,
  timeoutMs: number,
  what: string,
  opts: { intervalMs?: number; clock?: Clock } = {},
): Promise<T> {
  const v = await retryUntil(fn, Boolean, {
    intervalMs: opts.intervalMs ?? 250,
    timeoutMs,
    clock: opts.clock,
    onTimeout: () => {
      throw new Error(`timed out waiting for ${what}`);
    },
  });
  return v as T;
}
