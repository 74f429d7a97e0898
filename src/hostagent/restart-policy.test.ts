import { describe, expect, it } from 'vitest';
import {
  classifyVmExit,
  decideAgentExit,
  decideVmExit,
  MAX_RESTARTS,
  MAX_VM_RESTARTS,
  RESTART_WINDOW_MS,
} from './restart-policy.js';

describe('decideAgentExit', () => {
  const base = { code: null, signal: 'SIGKILL', vmAlive: true, restarts: [], now: 100_000 };

  it('restarts an agent killed while its VM runs, backing off as restarts pile up', () => {
    expect(decideAgentExit(base)).toEqual({
      action: 'restart',
      delayMs: 250,
      reason: 'the host agent killed by SIGKILL',
    });
    expect(decideAgentExit({ ...base, restarts: [99_000, 99_500] })).toMatchObject({
      action: 'restart',
      delayMs: 1000,
    });
    expect(decideAgentExit({ ...base, code: 70, signal: null })).toMatchObject({
      action: 'restart',
      reason: 'the host agent exited with code 70',
    });
  });

  it('a crash loop: gives up after MAX_RESTARTS within a minute; older restarts do not count', () => {
    const many = Array.from({ length: MAX_RESTARTS }, (_, i) => 95_000 + i);
    expect(decideAgentExit({ ...base, restarts: many })).toMatchObject({ action: 'exit', code: 1 });
    expect((decideAgentExit({ ...base, restarts: many }) as { reason: string }).reason).toMatch(/crash loop/);
    expect(decideAgentExit({ ...base, restarts: many.map((t) => t - 60_000) })).toMatchObject({
      action: 'restart',
      delayMs: 250,
    });
  });

  it('never restarts an agent that stopped on purpose, or one whose VM is gone', () => {
    expect(decideAgentExit({ ...base, code: 0, signal: null })).toMatchObject({ action: 'exit', code: 0 });
    expect(decideAgentExit({ ...base, vmAlive: false })).toMatchObject({ action: 'exit', code: 1 });
    expect(decideAgentExit({ ...base, code: 1, signal: null, vmAlive: false })).toMatchObject({
      action: 'exit',
      code: 1,
    });
  });
});

describe('classifyVmExit', () => {
  it('tells a crash from a power-off by what the watch saw', () => {
    expect(classifyVmExit(undefined, true)).toMatchObject({ kind: 'killed', failure: true });
    expect(classifyVmExit({ reason: 'guest-shutdown' }, true)).toMatchObject({
      kind: 'poweroff',
      failure: false,
    });
    expect(classifyVmExit({ reason: 'guest-reset' }, true)).toMatchObject({ kind: 'reboot', failure: true });
    expect(classifyVmExit({ reason: 'guest-panic' }, true)).toMatchObject({ kind: 'panic', failure: true });
    expect(classifyVmExit({ reason: 'host-signal' }, true)).toMatchObject({ kind: 'quit', failure: false });
    expect(classifyVmExit({ reason: 'host-qmp-quit' }, true).text).toMatch(/host-qmp-quit/);
    // Not watched (a VM an older berth started): nothing is known, nothing is taken for a crash.
    expect(classifyVmExit(undefined, false)).toEqual({
      kind: 'unknown',
      failure: false,
      text: 'the VM exited',
    });
  });
});

describe('decideVmExit', () => {
  const crash = classifyVmExit(undefined, true);
  const poweroff = classifyVmExit({ reason: 'guest-shutdown' }, true);
  const now = 10 * RESTART_WINDOW_MS;

  it('on-failure restarts crashes, not a power-off; always restarts both; no restarts nothing', () => {
    expect(decideVmExit({ policy: 'on-failure', exit: crash, restarts: [], now })).toMatchObject({
      action: 'restart',
      delayMs: 1000,
      attempt: 1,
    });
    expect(decideVmExit({ policy: 'on-failure', exit: poweroff, restarts: [], now })).toEqual({
      action: 'stop',
      crashLoop: false,
      reason: 'the guest powered off',
    });
    expect(decideVmExit({ policy: 'always', exit: poweroff, restarts: [], now })).toMatchObject({
      action: 'restart',
    });
    expect(decideVmExit({ policy: 'no', exit: crash, restarts: [], now })).toMatchObject({
      action: 'stop',
      crashLoop: false,
    });
  });

  it('a shorter first delay (what tests set) doubles the same way, capped at 30 s', () => {
    const at = (n: number, firstDelayMs?: number) =>
      decideVmExit({
        policy: 'on-failure',
        exit: crash,
        restarts: Array.from({ length: n }, (_, i) => now - 1000 * (i + 1)),
        now,
        firstDelayMs,
      });
    expect([0, 1, 2, 3].map((n) => (at(n, 250) as { delayMs: number }).delayMs)).toEqual([
      250, 500, 1000, 2000,
    ]);
    expect((at(3, 60_000) as { delayMs: number }).delayMs).toBe(30_000);
    expect((at(0) as { delayMs: number }).delayMs).toBe(1000);
  });

  it('backs off 1, 2, 4, 8 s; one failure more is a crash loop; restarts older than the window are forgotten', () => {
    const delays: number[] = [];
    const restarts: number[] = [];
    for (;;) {
      const d = decideVmExit({ policy: 'on-failure', exit: crash, restarts, now });
      if (d.action === 'stop') {
        expect(d.crashLoop).toBe(true);
        expect(d.reason).toMatch(/^crash loop: QEMU died .* after 4 restarts within 10 min/);
        break;
      }
      delays.push(d.delayMs);
      restarts.push(now - 1000);
    }
    expect(delays).toEqual([1000, 2000, 4000, 8000]);
    expect(restarts).toHaveLength(MAX_VM_RESTARTS);
    const old = restarts.map((t) => t - RESTART_WINDOW_MS);
    expect(decideVmExit({ policy: 'on-failure', exit: crash, restarts: old, now })).toMatchObject({
      action: 'restart',
      delayMs: 1000,
    });
  });
});
