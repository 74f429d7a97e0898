import { describe, expect, it } from 'vitest';
import { escapePath, escapeWord } from '../util/escape.js';
import { guestBootPhases, parseBootMarks } from './guest-channel.js';

describe('guest channel protocol', () => {
  it('reads the boot milestones that come with "ready"', () => {
    expect(parseBootMarks(' kernel=1.30 initrd=2.05 init=2.9 dockerd=3.71 engine=12.75')).toEqual({
      kernel: 1300,
      initrd: 2050,
      init: 2900,
      dockerd: 3710,
      engine: 12750,
    });
    expect(parseBootMarks('')).toEqual({});
  });

  it('turns milestones into phases, leaving out the ones it has no milestone for', () => {
    expect(guestBootPhases({ kernel: 1300, initrd: 2050, init: 2900, dockerd: 3710, engine: 12750 })).toEqual(
      [
        ['kernel', 1300],
        ['initrd', 750],
        ['init', 850],
        ['services', 810],
        ['dockerd', 9040],
      ],
    );
    // An image whose initrd does not report: its time counts into the next phase.
    expect(guestBootPhases({ kernel: 1300, init: 2900, engine: 12000 })).toEqual([
      ['kernel', 1300],
      ['init', 1600],
      ['dockerd', 9100],
    ]);
    expect(guestBootPhases({})).toEqual([]);
  });

  it('escapes what would break a line', () => {
    expect(escapePath('/a b/100%\nx')).toBe('/a b/100%25%0Ax');
    expect(escapeWord('/a b/100%\nx')).toBe('/a%20b/100%25%0Ax');
  });
});
