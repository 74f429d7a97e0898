import { describe, expect, it } from 'vitest';
import { retryUntil, type Clock } from './retry.js';

/** A clock that moves only when slept on: the loop runs without real waits. */
function fakeClock(): Clock & { slept: number[] } {
  let t = 0;
  const slept: number[] = [];
  return {
    slept,
    now: () => t,
    sleep: async (ms) => {
      slept.push(ms);
      t += ms;
    },
  };
}

describe('retryUntil', () => {
  it('returns the first value that is done, sleeping the interval between tries', async () => {
    const clock = fakeClock();
    let n = 0;
    const v = await retryUntil(
      async () => ++n,
      (x) => x === 3,
      { intervalMs: 50, timeoutMs: 1000, clock },
    );
    expect(v).toBe(3);
    expect(clock.slept).toEqual([50, 50]);
  });

  it('throws through onTimeout once the time is up', async () => {
    const clock = fakeClock();
    await expect(
      retryUntil(async () => false, Boolean, {
        intervalMs: 100,
        timeoutMs: 250,
        clock,
        onTimeout: () => {
          throw new Error('gave up');
        },
      }),
    ).rejects.toThrow('gave up');
    expect(clock.now()).toBe(300);
  });

  it('returns the last value on timeout when there is no onTimeout', async () => {
    const clock = fakeClock();
    expect(
      await retryUntil(
        async () => 'nope',
        (x) => x === 'yes',
        { intervalMs: 10, timeoutMs: 30, clock },
      ),
    ).toBe('nope');
  });

  it('stops at once when fn throws', async () => {
    const clock = fakeClock();
    await expect(
      retryUntil(
        async () => {
          throw new Error('vm gone');
        },
        () => false,
        { intervalMs: 10, timeoutMs: 1000, clock },
      ),
    ).rejects.toThrow('vm gone');
    expect(clock.slept).toEqual([]);
  });
});
