import { describe, expect, it } from 'vitest';
import { BerthError, EXIT_CODES, exitCodeFor } from './errors.js';
import { missingTool } from './exec.js';
import { approxSize, formatSize, parseSize } from './size.js';

describe('errors', () => {
  it('maps codes to distinct sysexits-style exit codes', () => {
    expect(new BerthError('USAGE', 'x').exitCode).toBe(64);
    expect(new BerthError('BAD_CONFIG', 'x').exitCode).toBe(65);
    expect(new BerthError('MISSING_DEPENDENCY', 'x').exitCode).toBe(69);
    expect(new BerthError('TIMEOUT', 'x').exitCode).toBe(75);
    expect(exitCodeFor(new Error('boom'))).toBe(EXIT_CODES.INTERNAL);
  });

  it('names the Debian package of a missing tool', () => {
    const e = missingTool('/usr/bin/qemu-system-x86_64');
    expect(e.code).toBe('MISSING_DEPENDENCY');
    expect(e.message).toBe('qemu-system-x86_64 was not found on PATH');
    expect(e.hint).toBe('install it: apt-get install qemu-system-x86');
  });
});

describe('sizes', () => {
  it('parses and formats', () => {
    expect(parseSize('4GiB')).toBe(4 * 1024 ** 3);
    expect(parseSize('512M')).toBe(512 * 1024 ** 2);
    expect(parseSize('1.5G')).toBe(1.5 * 1024 ** 3);
    expect(parseSize('2GB')).toBe(2e9);
    expect(parseSize('lots')).toBeUndefined();
    expect(parseSize('4XB')).toBeUndefined();
    expect(parseSize('0')).toBeUndefined();
    expect(formatSize(4 * 1024 ** 3)).toBe('4GiB');
    expect(approxSize(18350080)).toBe('17.5 MiB');
    expect(approxSize(512)).toBe('512 B');
    expect(formatSize(1536 * 1024 ** 2)).toBe('1536MiB');
  });
});
