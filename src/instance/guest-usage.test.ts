import { describe, expect, it } from 'vitest';
import { guestDiskWarning } from './lifecycle.js';
import { parseGuestUsage } from '../agent-api/events.js';

const MEMINFO = 'MemTotal:        1004412 kB\nMemFree:          500000 kB\nMemAvailable:     704412 kB\n';

describe('guest usage', () => {
  it('reads df -B1 --output=size,used,avail and /proc/meminfo as the guest prints them', () => {
    const df = '     1B-blocks       Used     Avail\n 64424509440 1073741824 60129542144\n';
    expect(parseGuestUsage(df + MEMINFO, new Date(0))).toEqual({
      diskBytes: 64424509440,
      diskUsedBytes: 1073741824,
      diskFreeBytes: 60129542144,
      memoryBytes: 1004412 * 1024,
      memoryUsedBytes: 300000 * 1024,
      at: '1970-01-01T00:00:00.000Z',
    });
  });

  it('anything else is no answer (a guest is not trusted to print what was asked)', () => {
    expect(parseGuestUsage('', new Date())).toBeUndefined();
    expect(parseGuestUsage('df: /var/lib/docker: No such file\n' + MEMINFO, new Date())).toBeUndefined();
    expect(parseGuestUsage(' 1 2 3\nMemTotal: lots\n', new Date())).toBeUndefined();
    const huge = parseGuestUsage(` ${'9'.repeat(40)} 1 1\n${MEMINFO}`, new Date());
    expect(huge?.diskBytes).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('warns from 90 % full, with what to do', () => {
    const u = (used: number) => ({
      ...parseGuestUsage(` 100 ${used} ${100 - used}\n${MEMINFO}`, new Date())!,
    });
    expect(guestDiskWarning(u(89), 'dev')).toBeUndefined();
    expect(guestDiskWarning(u(93), 'dev')).toMatch(
      /^the guest's disk is 93% full \(0\.0 GiB free\): "docker system prune" .* "berth start dev --disk SIZE"/,
    );
  });
});
