import { describe, expect, it } from 'vitest';
import { median, wilson } from './stats.js';

describe('wilson', () => {
  it('gives the known 95 % intervals', () => {
    // 2 panics in 200 boots: 0.27–3.57 %; none in 200: 0–1.88 %.
    const [lo, hi] = wilson(2, 200);
    expect(lo).toBeCloseTo(0.27, 2);
    expect(hi).toBeCloseTo(3.57, 2);
    expect(wilson(0, 200)[0]).toBe(0);
    expect(wilson(0, 200)[1]).toBeCloseTo(1.88, 2);
    expect(wilson(0, 0)).toEqual([0, 100]);
  });
});

describe('median', () => {
  it('of an odd and an even count', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2);
  });
});
