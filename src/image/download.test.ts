import fsp from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { download } from './download.js';

let server: http.Server;
let base: string;
let dir: string;

beforeAll(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'berth-dl-'));
  server = http.createServer((req, res) => {
    const u = req.url ?? '/';
    if (u === '/ok') return res.end('image bytes');
    if (u.startsWith('/hop/')) {
      const n = Number(u.slice(5));
      res.writeHead(302, { location: n > 0 ? `/hop/${n - 1}` : '/ok' });
      return res.end();
    }
    if (u === '/to-file') {
      res.writeHead(302, { location: 'file:///etc/passwd' });
      return res.end();
    }
    if (u === '/big') return res.end(Buffer.alloc(4096));
    if (u === '/stall') {
      res.write('a little');
      return; // then nothing, never ended
    }
    res.statusCode = 404;
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  server.close();
  await fsp.rm(dir, { recursive: true, force: true });
});

const limits = { stallMs: 300, maxBytes: 1024, maxRedirects: 3 };
const get = (p: string) => download(`${base}${p}`, path.join(dir, 'out'), () => new PassThrough(), limits);

describe('download: bounded, no downgrade', () => {
  it('follows a few redirects to the file', async () => {
    await get('/hop/2');
    expect(await fsp.readFile(path.join(dir, 'out'), 'utf8')).toBe('image bytes');
  });

  it('refuses too many redirects, a redirect out of http(s), a 404, an oversized body and a stall', async () => {
    await expect(get('/hop/5')).rejects.toThrow(/more than 3 redirects/);
    await expect(get('/to-file')).rejects.toThrow(/refusing a redirect from http: to file:/);
    await expect(get('/missing')).rejects.toThrow(/HTTP 404/);
    await expect(get('/big')).rejects.toMatchObject({
      code: 'IMAGE',
      message: expect.stringMatching(/over the limit/),
    });
    await expect(get('/stall')).rejects.toThrow(/nothing arrived for 0.3 s/);
  });
});
