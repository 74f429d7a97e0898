import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { lineSplitter } from '../../util/lines.js';
import { QmpClient } from './qmp-client.js';

// A fake QMP server speaking the protocol's shape (greeting, capabilities, commands, events, errors).
let server: net.Server | undefined;
afterEach(() => server?.close());

async function fakeQmp(
  handle: (cmd: { execute: string; id: string }, send: (o: unknown) => void) => void,
): Promise<string> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'qmp-'));
  const sock = path.join(dir, 'qmp.sock');
  server = net.createServer((c) => {
    const send = (o: unknown) => c.write(JSON.stringify(o) + '\r\n');
    send({ QMP: { version: { qemu: { major: 7 } }, capabilities: [] } });
    c.setEncoding('utf8');
    c.on(
      'data',
      lineSplitter((l) => handle(JSON.parse(l) as { execute: string; id: string }, send)),
    );
  });
  await new Promise<void>((r) => server!.listen(sock, r));
  return sock;
}

describe('QmpClient', () => {
  it('negotiates capabilities, runs commands, surfaces errors and events', async () => {
    const sock = await fakeQmp((cmd, send) => {
      if (cmd.execute === 'qmp_capabilities') send({ return: {}, id: cmd.id });
      else if (cmd.execute === 'query-status') {
        send({ event: 'RESUME', timestamp: {} });
        send({ return: { status: 'running', running: true }, id: cmd.id });
      } else
        send({
          error: { class: 'CommandNotFound', desc: `The command ${cmd.execute} has not been found` },
          id: cmd.id,
        });
    });
    const q = await QmpClient.connect(sock);
    const events: unknown[] = [];
    q.on('event', (e) => events.push(e));
    await expect(q.execute('query-status')).resolves.toEqual({ status: 'running', running: true });
    await expect(q.execute('frobnicate')).rejects.toThrow(/CommandNotFound: The command frobnicate/);
    expect(events).toEqual([{ event: 'RESUME', timestamp: {} }]);
    q.close();
  });

  it('times out when nothing greets', async () => {
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'qmp-'));
    const sock = path.join(dir, 'silent.sock');
    server = net.createServer(() => undefined);
    await new Promise<void>((r) => server!.listen(sock, r));
    await expect(QmpClient.connect(sock, 300)).rejects.toThrow(/did not greet/);
  });
});

describe('lineSplitter', () => {
  it('joins partial chunks and skips blank lines', () => {
    const out: string[] = [];
    const split = lineSplitter((l) => out.push(l));
    split('ab');
    split('c\n\n  d  \ne');
    split('f\n');
    expect(out).toEqual(['abc', 'd', 'ef']);
  });
});
