import { describe, expect, it } from 'vitest';
import { msFromEnv } from './env-ms.js';

describe('msFromEnv', () => {
  const range = { min: 100, max: 5000 };
  it('whole milliseconds within the range; the default otherwise', () => {
    expect(msFromEnv({ X: '100' }, 'X', 7, range)).toBe(100);
    expect(msFromEnv({ X: '5000' }, 'X', 7, range)).toBe(5000);
    expect(msFromEnv({}, 'X', 7, range)).toBe(7);
    for (const bad of ['99', '5001', '1e3', '1.5', '-1', ' 200', '200ms', ''])
      expect(msFromEnv({ X: bad }, 'X', 7, range), bad).toBe(7);
  });
});
