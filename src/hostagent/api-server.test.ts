import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  agentClock,
  agentPorts,
  agentStatus,
  agentStop,
  agentSuspend,
  followEvents,
} from '../agent-api/client.js';
import type { AgentEvent, AgentStatus } from '../agent-api/events.js';
import { startApiServer } from './api-server.js';

describe('agent API: the server and the leaf client over a real unix socket', () => {
  it('serves every route of the table, 0600, and streams history then live events', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-api-'));
    const sock = path.join(dir, 'ha.sock');
    const calls: string[] = [];
    let push: (e: AgentEvent) => void = () => undefined;
    const status: AgentStatus = { name: 'dev', phase: 'ready', pid: 1, startedAt: 'now' };
    const server = await startApiServer(sock, {
      status: () => status,
      history: () => [{ type: 'progress', t: 1, step: 'boot', message: 'booting' }],
      subscribe: (fn) => {
        push = fn;
        return () => undefined;
      },
      ports: () => [{ proto: 'tcp', guestPort: 80, guestBind: 'any', state: 'forwarded', hostPort: 80 }],
      stop: async (force) => void calls.push(`stop ${force}`),
      suspend: async () => void calls.push('suspend'),
      clock: async (sync) => {
        calls.push(`clock ${sync}`);
        return sync ? { offsetMs: 3, uncertaintyMs: 1, at: 'then' } : undefined;
      },
    });
    try {
      expect(fs.statSync(sock).mode & 0o777).toBe(0o600);
      expect(await agentStatus(sock)).toEqual(status);
      expect((await agentPorts(sock))[0]).toMatchObject({ guestPort: 80, state: 'forwarded' });
      await agentStop(sock, true);
      await agentSuspend(sock);
      expect(await agentClock(sock, true)).toEqual({ offsetMs: 3, uncertaintyMs: 1, at: 'then' });
      expect(await agentClock(sock, false)).toBeUndefined(); // 409: the guest cannot say
      expect(calls).toEqual(['stop true', 'suspend', 'clock true', 'clock false']);
      const seen: string[] = [];
      const last = followEvents(
        sock,
        (e) => seen.push(e.type),
        (e) => e.type === 'stopped',
      );
      await new Promise((r) => setTimeout(r, 50));
      push({ type: 'notice', t: 2, message: 'hi' });
      push({ type: 'stopped', t: 3, reason: 'stopped' });
      expect(await last).toMatchObject({ type: 'stopped', reason: 'stopped' });
      expect(seen).toEqual(['progress', 'notice', 'stopped']);
      expect(await agentStatus(path.join(dir, 'nobody.sock'))).toBeUndefined();
    } finally {
      server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
