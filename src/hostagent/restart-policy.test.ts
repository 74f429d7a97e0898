import { describe, expect, it } from 'vitest';
import { decideAgentExit, MAX_RESTARTS } from './restart-policy.js';

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
