import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { escapePath, escapeWord } from '../util/escape.js';
import { GuestChannel, guestBootPhases, parseBootMarks, parseClockAnswer } from './guest-channel.js';

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

  it('reads the guest clock against the midpoint of the round trip, within half of it', () => {
    // Asked at host 1000.000 s, answered at 1000.200 s: the midpoint is 1000.100 s.
    expect(parseClockAnswer('1000.350000000', 1_000_000, 1_000_200)).toEqual({
      offsetMs: 250,
      uncertaintyMs: 100,
    });
    expect(parseClockAnswer('990', 1_000_000, 1_000_000)).toEqual({ offsetMs: -10_000, uncertaintyMs: 0 });
    for (const bad of ['', 'soon', '1e12', '-5.0', '1.2.3', '9'.repeat(30), '1000.5 extra'])
      expect(parseClockAnswer(bad, 0, 1)).toBeUndefined();
  });

  it('asks a guest for its clock, and to flush, over the channel', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-ch-'));
    const sock = path.join(dir, 'events.sock');
    // A guest whose clock runs 42 s ahead, and one that says nothing useful.
    let answer = (): string => `clock ${((Date.now() + 42_000) / 1000).toFixed(9)}`;
    let flushAnswer = 'ok flush';
    const server = net.createServer((c) =>
      c.on('data', (d) => {
        if (d.toString() === 'clock\n') c.write(`${answer()}\n`);
        if (d.toString() === 'flush\n') c.write(`${flushAnswer}\n`);
      }),
    );
    await new Promise<void>((r) => server.listen(sock, r));
    try {
      const ch = new GuestChannel(sock);
      await ch.connect(2000, () => false);
      const o = await ch.clockOffset();
      expect(o!.offsetMs).toBeGreaterThan(42_000 - 1 - 2 * o!.uncertaintyMs);
      expect(o!.offsetMs).toBeLessThan(42_000 + 1 + 2 * o!.uncertaintyMs);
      answer = () => 'clock';
      expect(await ch.clockOffset()).toBeUndefined();
      expect(await ch.flush()).toBeUndefined(); // done
      flushAnswer = 'err flush';
      expect(await ch.flush()).toBe('failed');
      ch.close();
    } finally {
      server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
