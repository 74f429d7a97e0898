import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startDashboard, type Dashboard } from './server.js';

// The real server on a free port, with a throwaway BERTH_HOME holding one (stopped) instance and a page dir.
describe('dashboard server (real HTTP, no VM)', () => {
  let dash: Dashboard;
  let home: string;
  let base: string;
  let cookie = '';
  const host = () => `127.0.0.1:${dash.port}`;
  const req = (p: string, init: RequestInit & { headers?: Record<string, string> } = {}) =>
    fetch(`${base}${p}`, { redirect: 'manual', ...init, headers: { cookie, ...init.headers } });

  beforeAll(async () => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-dash-unit-'));
    process.env.BERTH_HOME = home;
    fs.mkdirSync(path.join(home, 'one'), { mode: 0o700 });
    fs.writeFileSync(path.join(home, 'one', 'berth.yaml'), 'cpus: 1\n');
    const web = path.join(home, 'web');
    fs.mkdirSync(web);
    fs.writeFileSync(path.join(web, 'index.html'), '<!doctype html><title>berth</title>');
    dash = await startDashboard({
      port: 0,
      token: 'tok',
      session: 'sess',
      webDir: web,
      cliEntry: '/nonexistent',
      log: pino({ level: 'silent' }),
    });
    base = `http://${host()}`;
  });
  afterAll(async () => {
    await dash?.close();
    delete process.env.BERTH_HOME;
    fs.rmSync(home, { recursive: true, force: true });
  });

  it('the token becomes a cookie and leaves the address; a wrong one does not', async () => {
    expect((await req('/?token=nope')).status).toBe(401);
    expect((await req('/')).status).toBe(401);
    const r = await req('/?token=tok');
    expect(r.status).toBe(303);
    expect(r.headers.get('location')).toBe('/');
    cookie = r.headers.get('set-cookie')!.split(';')[0]!;
    expect(cookie).toBe('berth_session=sess');
    const page = await req('/');
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<title>berth</title>');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
  });

  it('serves nothing outside its page folder', async () => {
    expect((await req('/..%2f..%2fetc/passwd')).status).toBe(404);
    expect((await req('/assets/none.js')).status).toBe(404);
    expect((await req('/api/instances/%E0%A4%A')).status).toBe(400);
  });

  it('a change needs its own Origin; an id that walks a path is refused before the engine is asked', async () => {
    const post = (p: string, origin?: string) =>
      req(p, { method: 'POST', headers: origin ? { origin } : {} });
    expect((await post('/api/instances/one/containers/x/stop')).status).toBe(403);
    expect((await post('/api/instances/one/containers/x/stop', 'http://evil.example')).status).toBe(403);
    const bad = await post('/api/instances/one/containers/..%2f..%2fimages%2fx/stop', base);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/not a container, image or volume id/);
    const none = await post('/api/instances/nope/containers/x/stop', base);
    expect(none.status).toBe(404);
    const name = await post('/api/instances/..%2fx/stop', base);
    expect(name.status).toBe(400);
  });

  it('streams a snapshot of every instance, stopped ones too', async () => {
    const ctl = new AbortController();
    const r = await req('/api/events', { signal: ctl.signal });
    expect(r.headers.get('content-type')).toBe('text/event-stream');
    const reader = r.body!.getReader();
    let text = '';
    while (!text.includes('event: snapshot')) text += new TextDecoder().decode((await reader.read()).value);
    while (!text.includes('\n\n', text.indexOf('event: snapshot')))
      text += new TextDecoder().decode((await reader.read()).value);
    const data = JSON.parse(/event: snapshot\ndata: (.*)\n/.exec(text)![1]!) as {
      instances: { view: { name: string; status: string } }[];
    };
    expect(data.instances.map((i) => [i.view.name, i.view.status])).toEqual([['one', 'Stopped']]);
    ctl.abort();
  });

  it('a WebSocket that sends an oversized frame, or resets while refused, does not bring the server down', async () => {
    const ws = new WebSocket(`ws://${host()}/api/instances/one/shell`, { headers: { cookie, origin: base } });
    await new Promise<void>((resolve, reject) => {
      ws.on('open', () => {
        ws.send(Buffer.alloc(200 * 1024)); // over the 64 KiB frame cap
        resolve();
      });
      ws.on('error', reject);
    });
    await new Promise((resolve) => ws.on('close', resolve));
    // Refused (no Origin), and dropped by the client at once.
    const bad = new WebSocket(`ws://${host()}/api/instances/one/shell`, { headers: { cookie } });
    bad.on('error', () => undefined);
    bad.on('upgrade', () => undefined);
    setImmediate(() => bad.terminate());
    await new Promise((r) => setTimeout(r, 200));
    expect((await req('/api/health')).status).toBe(200);
  });
});
