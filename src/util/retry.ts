export interface Clock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const t = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = () => {
        clearTimeout(t);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

/**
 * The one poll loop: calls fn every intervalMs until done(value) holds, or timeoutMs passes. On timeout it
 * calls onTimeout (which throws), or, without one, returns the last value (the caller decides). fn may throw
 * to stop early (e.g. the VM went away). The clock is injectable, so tests run without real waits.
 */
export async function retryUntil<T>(
  fn: () => Promise<T>,
  done: (v: T) => boolean,
  opts: {
    intervalMs: number;
    timeoutMs: number;
    onTimeout?: (last: T) => never;
    clock?: Clock;
    signal?: AbortSignal;
  },
): Promise<T> {
  const clock = opts.clock ?? systemClock;
  const deadline = clock.now() + opts.timeoutMs;
  for (;;) {
    const last = await fn();
    if (done(last)) return last;
    if (clock.now() >= deadline) {
      if (opts.onTimeout) opts.onTimeout(last);
      return last;
    }
    await clock.sleep(opts.intervalMs, opts.signal);
  }
}
