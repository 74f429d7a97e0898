import { describe, expect, it } from 'vitest';
import { foreignPlatforms } from './guest-link.js';

describe('foreignPlatforms', () => {
  it('maps the names berth knows, once each, sorted; a hostile reply adds nothing', () => {
    expect(foreignPlatforms(['riscv64', 'aarch64', 'aarch64', 'arm'], 'linux/amd64')).toEqual([
      'linux/arm/v7',
      'linux/arm64',
      'linux/riscv64',
    ]);
    expect(foreignPlatforms(['constructor', '__proto__', 'toString', 'x86_64'], 'linux/amd64')).toEqual([]);
  });
});
