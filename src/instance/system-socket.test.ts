import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { linkSystemSocket, systemSocketState, unlinkSystemSocket } from './system-socket.js';

describe('the opt-in system socket', () => {
  let dir: string;
  let link: string;
  let ours: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-syssock-'));
    link = path.join(dir, 'docker.sock');
    ours = path.join(dir, 'inst', 'docker.sock');
    fs.mkdirSync(path.dirname(ours));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('links when nothing is there, once; unlinks only its own link', async () => {
    expect(await linkSystemSocket(ours, link)).toBe('linked');
    expect(fs.readlinkSync(link)).toBe(ours);
    expect(await linkSystemSocket(ours, link)).toBe('already');
    expect(await unlinkSystemSocket(path.join(dir, 'other.sock'), link)).toBe(false);
    expect(fs.readlinkSync(link)).toBe(ours);
    expect(await unlinkSystemSocket(ours, link)).toBe(true);
    expect(await systemSocketState(ours, link)).toEqual({ kind: 'absent' });
    expect(fs.readdirSync(dir)).toEqual(['inst']); // no temporary link left behind
  });

  it("never takes a host engine's socket or a live link; a dead link is replaced", async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(link, r));
    try {
      expect(await systemSocketState(ours, link)).toEqual({ kind: 'native', what: 'a socket' });
      await expect(linkSystemSocket(ours, link)).rejects.toThrow(
        /is a socket of the host's own .* leaves it alone/,
      );
      expect(await unlinkSystemSocket(ours, link)).toBe(false);
      expect(fs.lstatSync(link).isSocket()).toBe(true);
    } finally {
      server.close();
      fs.rmSync(link, { force: true });
    }
    const live = path.join(dir, 'live.sock');
    fs.writeFileSync(live, '');
    fs.symlinkSync(live, link);
    await expect(linkSystemSocket(ours, link)).rejects.toThrow(
      /already points at .*live\.sock, which is in use/,
    );
    fs.rmSync(live);
    expect(await systemSocketState(ours, link)).toMatchObject({ kind: 'stale-link' });
    expect(await linkSystemSocket(ours, link)).toBe('linked');
    expect(fs.readlinkSync(link)).toBe(ours);
  });

  // Root writes anywhere: there is nothing to refuse.
  it.skipIf(process.getuid?.() === 0)(
    'a folder it may not write: a clear refusal with the root command',
    async () => {
      fs.chmodSync(dir, 0o500);
      try {
        await expect(linkSystemSocket(ours, link)).rejects.toThrow(/is not writable by this user/);
      } finally {
        fs.chmodSync(dir, 0o700);
      }
    },
  );
});
