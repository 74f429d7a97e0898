import { describe, expect, it } from 'vitest';
import { guestDiskWarning } from './lifecycle.js';
import { parseGuestUsage } from '../agent-api/events.js';

describe('guest usage', () => {
  it("reads the guest's usage answer: bytes of disk, kB of memory", () => {
    expect(parseGuestUsage('64424509440 1073741824 60129542144 1004412 704412', new Date(0))).toEqual({
      diskBytes: 64424509440,
      diskUsedBytes: 1073741824,
      diskFreeBytes: 60129542144,
      memoryBytes: 1004412 * 1024,
      memoryUsedBytes: 300000 * 1024,
      at: '1970-01-01T00:00:00.000Z',
    });
  });

  it('anything else is no answer (a guest is not trusted to say what was asked)', () => {
    expect(parseGuestUsage('', new Date())).toBeUndefined();
    expect(parseGuestUsage('1 2 3 4', new Date())).toBeUndefined();
    expect(parseGuestUsage('1 2 3 4 x', new Date())).toBeUndefined();
    expect(parseGuestUsage(`${'9'.repeat(21)} 1 1 1 1`, new Date())).toBeUndefined();
    expect(parseGuestUsage(`${'9'.repeat(20)} 1 1 1 1`, new Date())?.diskBytes).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('warns from 90 % full, with what to do', () => {
    const u = (used: number) => parseGuestUsage(`100 ${used} ${100 - used} 1000 500`, new Date())!;
    expect(guestDiskWarning(u(89), 'dev')).toBeUndefined();
    expect(guestDiskWarning(u(93), 'dev')).toMatch(
      /^the guest's disk is 93% full \(0\.0 GiB free\): "docker system prune" .* "berth start dev --disk SIZE"/,
    );
  });
});
