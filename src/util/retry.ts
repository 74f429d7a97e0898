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
 * Calls fn every intervalMs until it returns a value for which done() holds, or timeoutMs passes;
 * then calls onTimeout (which should throw).
 */
export async function retryUntil<T>(
  fn: () => Promise<T>,
  done: (v: T) => boolean,
  opts: {
    intervalMs: number;
    timeoutMs: number;
    onTimeout: (last: T | undefined) => never;
    clock?: Clock;
    signal?: AbortSignal;
  },
): Promise<T> {
  const clock = opts.clock ?? systemClock;
  const deadline = clock.now() + opts.timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await fn();
    if (done(last)) return last;
    if (clock.now() >= deadline) opts.onTimeout(last);
    await clock.sleep(opts.intervalMs, opts.signal);
  }
}
