import { describe, expect, it } from 'vitest';
import { intFromEnv } from './env-int.js';

describe('intFromEnv', () => {
  const range = { min: 100, max: 5000 };
  it('whole milliseconds within the range; the default otherwise', () => {
    expect(intFromEnv({ X: '100' }, 'X', 7, range)).toBe(100);
    expect(intFromEnv({ X: '5000' }, 'X', 7, range)).toBe(5000);
    expect(intFromEnv({}, 'X', 7, range)).toBe(7);
    for (const bad of ['99', '5001', '1e3', '1.5', '-1', ' 200', '200ms', ''])
      expect(intFromEnv({ X: bad }, 'X', 7, range), bad).toBe(7);
  });
});
