import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { berth, berthOk, dockerOk, makeEnv, REPO, type Env } from '../support/env.js';
import { CHROMIUM, launchChromium } from '../support/browser.js';
import { busyboxContext } from '../support/images.js';
import { freePort } from '../support/net.js';
import { waitFor } from '../support/wait.js';

// The dashboard against a real instance, in Debian's Chromium: what a user sees and does, and that other web
// pages cannot do it. BERTH_SCREENSHOTS=1 also writes the screenshots in docs/ (npm run screenshots).
const NAME = 'dash';

interface Rec {
  url: string;
  port: number;
  pid: number;
}

/** A raw request to the dashboard with the headers a test chooses (a browser would not let it). */
function request(
  port: number,
  opts: { method?: string; path?: string; headers?: Record<string, string> },
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: opts.method ?? 'GET',
        path: opts.path ?? '/',
        headers: opts.headers,
      },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Whether a WebSocket upgrade with these headers is accepted (true) or refused with its status. */
function upgrade(url: string, headers: Record<string, string>): Promise<true | number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers });
    ws.on('open', () => {
      ws.close();
      resolve(true);
    });
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.on('error', () => resolve(0));
  });
}

/** The text of the lines xterm shows (its DOM renderer: one row per element). */
async function termLines(page: Page): Promise<string[]> {
  return (await page.locator('[data-testid=terminal] .xterm-rows > div').allInnerTexts()).map((l) =>
    l.replace(/\u00a0/g, ' ').trimEnd(),
  );
}

/** Waits for the terminal to show its first output (the shell's prompt): typing before it would be lost. */
async function prompt(page: Page): Promise<void> {
  await page.locator('[data-testid=terminal] .xterm-helper-textarea').waitFor({ state: 'attached' });
  await waitFor(async () => (await termLines(page)).some((l) => l.trim()), 60_000, 'the shell prompt');
}

describe.skipIf(!CHROMIUM)('dashboard (Chromium against a real instance)', () => {
  let e: Env;
  let rec: Rec;
  let session: string;
  let browser: Awaited<ReturnType<typeof launchChromium>>;
  let page: Page;
  let webPort: number;
  const shots = process.env.BERTH_SCREENSHOTS === '1';

  /** The page shows the instance in `status` (waiting up to `timeoutMs`), and `berth status` agrees. */
  async function expectStatus(status: string, timeoutMs: number): Promise<void> {
    await expect
      .poll(() => page.getByTestId(`status-${NAME}`).innerText(), { timeout: timeoutMs, interval: 1000 })
      .toBe(status);
    const cli = JSON.parse((await berthOk(e, ['status', NAME, '--json'])).stdout) as { status: string };
    expect(cli.status).toBe(status);
  }

  beforeAll(async () => {
    e = await makeEnv('dash');
    // The guest image is built (or found cached) first: the start from the form then shows a boot's progress.
    await berthOk(e, ['image', 'build']);
    const r = await berthOk(e, ['dashboard', '--no-open', '--json']);
    rec = JSON.parse(r.stdout) as Rec;
    browser = await launchChromium();
    page = await browser.context.newPage();
    page.on('dialog', (d) => void d.accept());
  });
  // A test that failed with a side panel open must not leave it over the next test's buttons.
  afterEach(async () => {
    const close = page?.getByRole('button', { name: 'Close' });
    if (close && (await close.count())) await close.click();
  });
  afterAll(async () => {
    await browser?.close();
    if (e) {
      await berth(e, ['dashboard', '--stop']);
      await berth(e, ['delete', NAME, '--force']);
    }
  });

  it('security: 127.0.0.1 only; no session → 401; a wrong Host → 403; cross-origin POST and WebSocket → 403', async () => {
    // Listening on the loopback address only: /proc/net/tcp lists it bound to 0100007F (127.0.0.1).
    const hex = rec.port.toString(16).toUpperCase().padStart(4, '0');
    const listening = ['/proc/net/tcp', '/proc/net/tcp6']
      .flatMap((f) => fs.readFileSync(f, 'utf8').split('\n').slice(1))
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f[1]?.endsWith(`:${hex}`) && f[3] === '0A');
    expect(listening.map((f) => f[1])).toEqual([`0100007F:${hex}`]);
    const host = `127.0.0.1:${rec.port}`;
    expect((await request(rec.port, { path: '/api/events', headers: { host } })).status).toBe(401);
    expect((await request(rec.port, { path: '/?token=wrong', headers: { host } })).status).toBe(401);
    // The token from the printed URL gives the session cookie, HttpOnly and SameSite=Strict.
    const ex = await request(rec.port, {
      path: new URL(rec.url).pathname + new URL(rec.url).search,
      headers: { host },
    });
    expect(ex.status).toBe(303);
    const cookie = String(ex.headers['set-cookie']);
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    session = cookie.split(';')[0]!;
    const page200 = await request(rec.port, { headers: { host, cookie: session } });
    expect(page200.status).toBe(200);
    expect(String(page200.headers['content-security-policy'])).toMatch(/default-src 'none'/);
    expect(page200.headers['access-control-allow-origin']).toBeUndefined();
    // DNS rebinding: a page on evil.example resolving to 127.0.0.1 sends its own name as Host.
    const rebind = await request(rec.port, {
      headers: { host: `evil.example:${rec.port}`, cookie: session },
    });
    expect(rebind.status).toBe(403);
    // Cross-site requests: even with the cookie (a browser would not send it, SameSite), a foreign Origin is refused.
    const post = await request(rec.port, {
      method: 'POST',
      path: `/api/instances/${NAME}/stop`,
      headers: { host, cookie: session, origin: 'http://evil.example' },
    });
    expect(post.status).toBe(403);
    const wsUrl = `ws://127.0.0.1:${rec.port}/api/instances/${NAME}/shell`;
    expect(await upgrade(wsUrl, { cookie: session, origin: 'http://evil.example' })).toBe(403);
    expect(await upgrade(wsUrl, { cookie: session })).toBe(403); // no Origin at all
    expect(await upgrade(wsUrl, { origin: `http://${host}` })).toBe(401); // no session
    // A second `berth dashboard` reuses the running server.
    const again = JSON.parse((await berthOk(e, ['dashboard', '--no-open', '--json'])).stdout) as Rec & {
      reused: boolean;
    };
    expect(again).toMatchObject({ pid: rec.pid, reused: true });
  });

  it('with no instance it says what to do; the create form shows the schema error the CLI prints for a bad memory value', async () => {
    await page.goto(rec.url);
    await expect
      .poll(() => page.locator('main').innerText(), { timeout: 30_000 })
      .toMatch(/No instance yet.*berth start/s);
    const cli = await berth(e, ['start', 'bad', '--memory', 'lots']);
    expect(cli.code).not.toBe(0);
    const cliError = /berth: error: ([^\n]*)/.exec(cli.stderr)![1]!;
    await page.getByRole('button', { name: '+ New instance' }).click();
    await page.getByLabel('Name').fill('bad');
    await page.getByLabel('Memory').fill('lots');
    await page.getByRole('button', { name: 'Create and start' }).click();
    await expect
      .poll(() => page.locator('form.create [role=alert]').innerText(), { timeout: 30_000 })
      .toContain(cliError);
    expect(fs.existsSync(path.join(e.home, 'bad'))).toBe(false);
    if (shots) await page.screenshot({ path: path.join(REPO, 'docs', 'dashboard-empty.png') });
  });

  it('a start from the form shows its progress live; the instance shows as running with its facts', async () => {
    await page.getByLabel('Name').fill(NAME);
    await page.getByLabel('Memory').fill('1GiB');
    await page.getByLabel('CPUs').fill('2');
    await page.getByRole('button', { name: 'Create and start' }).click();
    // The agent's progress lines, as `berth start` prints them, while the start runs.
    await expect
      .poll(() => page.locator('.progress pre').innerText(), { timeout: 60_000 })
      .toMatch(/booting the VM/);
    await expectStatus('Running', 300_000);
    await expect.poll(() => page.locator('dl.facts').innerText(), { timeout: 30_000 }).toMatch(/dockerd/);
  });

  it('a container started from the host CLI appears without a reload; its port link answers; its logs stream', async () => {
    // The host docker CLI talks to the instance through its context (made by the start).
    e.env.DOCKER_CONTEXT = `berth-${NAME}`;
    await dockerOk(e, ['build', '-q', '-t', 'bb', await busyboxContext()]);
    webPort = await freePort();
    await dockerOk(e, [
      'run',
      '-d',
      '--name',
      'web',
      '-p',
      `${webPort}:80`,
      'bb',
      'sh',
      '-c',
      'mkdir -p /www && echo served-by-web > /www/index.html && i=0; httpd -p 80 -h /www; while true; do echo tick-$i; i=$((i+1)); sleep 1; done',
    ]);
    const t0 = Date.now();
    const row = page.locator('tr[data-container=web]');
    await row.waitFor({ timeout: 30_000 });
    console.log(
      `[dashboard] the container's row was on screen ${Date.now() - t0} ms after docker run returned`,
    );
    await expect.poll(() => row.innerText(), { timeout: 30_000 }).toMatch(/running/);
    const link = row.getByRole('link', { name: `${webPort}→80` });
    expect(await link.getAttribute('href')).toBe(`http://127.0.0.1:${webPort}`);
    const answer = await waitFor(
      async () => {
        const r = await fetch(`http://127.0.0.1:${webPort}/`).catch(() => undefined);
        return r?.ok ? r.text() : undefined;
      },
      30_000,
      'the port link to answer',
    );
    expect(answer.trim()).toBe('served-by-web');
    if (shots) {
      await page.screenshot({ path: path.join(REPO, 'docs', 'dashboard-containers.png') });
      await page.emulateMedia({ colorScheme: 'dark' });
      await page.screenshot({ path: path.join(REPO, 'docs', 'dashboard-containers-dark.png') });
      await page.emulateMedia({ colorScheme: 'light' });
    }
    await row.getByRole('button', { name: 'Logs' }).click();
    const logs = page.getByTestId('logs');
    const first = await waitFor(
      async () => /tick-(\d+)/.exec(await logs.innerText())?.[1],
      30_000,
      'a log line',
    );
    // New lines arrive while it is open (follow), without a reload.
    await waitFor(
      async () =>
        [...(await logs.innerText()).matchAll(/tick-(\d+)/g)].some((m) => Number(m[1]) > Number(first) + 1),
      30_000,
      'newer log lines',
    );
    await page.getByLabel('Search the logs').fill(`tick-${first}`);
    await expect.poll(async () => (await logs.innerText()).trim(), { timeout: 30_000 }).toBe(`tick-${first}`);
    await page.getByRole('button', { name: 'Close' }).click();
  });

  it('`echo hi` typed into the container terminal prints hi; the instance terminal runs in the VM', async () => {
    const row = page.locator('tr[data-container=web]');
    await row.getByRole('button', { name: 'Terminal' }).click();
    await prompt(page);
    await page.keyboard.type('echo hi\n');
    await waitFor(async () => (await termLines(page)).includes('hi'), 30_000, '"hi" in the terminal');
    // Left quiet past the engine client's 10 s idle timeout, the terminal still works.
    await page.waitForTimeout(12_000);
    await page.keyboard.type('echo still-here\n');
    await waitFor(
      async () => (await termLines(page)).includes('still-here'),
      30_000,
      'the idle terminal to answer',
    );
    await page.getByRole('button', { name: 'Close' }).click();
    await page.getByRole('button', { name: 'Terminal', exact: true }).first().click();
    await prompt(page);
    await page.keyboard.type('cat /proc/sys/kernel/hostname\n');
    const hostname = (
      await berthOk(e, ['ssh', NAME, '--', 'cat', '/proc/sys/kernel/hostname'])
    ).stdout.trim();
    await waitFor(
      async () => (await termLines(page)).includes(hostname),
      30_000,
      'the VM hostname in the terminal',
    );
    await page.getByRole('button', { name: 'Close' }).click();
  });

  it('stop from the dashboard stops the container (the CLI agrees); images, volumes and folders are listed', async () => {
    const row = page.locator('tr[data-container=web]');
    await row.getByRole('button', { name: 'Stop' }).click();
    await expect.poll(() => row.innerText(), { timeout: 60_000 }).toMatch(/exited/);
    const st = await dockerOk(e, ['inspect', '-f', '{{.State.Status}}', 'web']);
    expect(st.stdout.trim()).toBe('exited');
    await dockerOk(e, ['volume', 'create', 'dash-vol']);
    await page.getByRole('tab', { name: 'Images' }).click();
    await expect.poll(() => page.locator('main table').innerText(), { timeout: 30_000 }).toMatch(/bb:latest/);
    await page.getByRole('tab', { name: 'Volumes' }).click();
    await expect.poll(() => page.locator('main table').innerText(), { timeout: 30_000 }).toMatch(/dash-vol/);
    await page
      .getByRole('row', { name: /dash-vol/ })
      .getByRole('button', { name: 'Remove' })
      .click();
    await waitFor(
      async () => !(await dockerOk(e, ['volume', 'ls', '-q'])).stdout.includes('dash-vol'),
      30_000,
      'the volume removed',
    );
    // The shared home, as the guest's own mount table shows it.
    await page.getByRole('tab', { name: 'Folders' }).click();
    await expect
      .poll(() => page.locator(`tr[data-share="${os.homedir()}"]`).innerText(), { timeout: 30_000 })
      .toMatch(/read-write\s+shared \(9p\)\s+mounted/);
    await page.getByRole('tab', { name: 'Resources' }).click();
    await page.locator('.charts .uplot').first().waitFor();
    if (shots) await page.screenshot({ path: path.join(REPO, 'docs', 'dashboard-resources.png') });
    await page.getByRole('tab', { name: 'Containers' }).click();
  });

  it('suspend and start from the dashboard; the CLI agrees at each step', async () => {
    await page.getByRole('button', { name: 'Suspend' }).click();
    await expectStatus('Suspended', 180_000);
    await page.getByRole('button', { name: 'Start' }).click();
    await expectStatus('Running', 180_000);
    // The engine is back: the container list shows again.
    await page.locator('tr[data-container=web]').waitFor({ timeout: 60_000 });
  });

  it('stop from the dashboard stops the instance; it fits a narrow window; dark theme follows the system setting', async () => {
    await page.getByRole('button', { name: 'Stop' }).first().click();
    await expectStatus('Stopped', 120_000);
    // A phone-sized window: nothing wider than the window (tables scroll inside their tab).
    await page.setViewportSize({ width: 390, height: 800 });
    for (const tab of ['Containers', 'Folders', 'Resources']) {
      await page.getByRole('tab', { name: tab }).click();
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    }
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.emulateMedia({ colorScheme: 'dark' });
    const bg = await page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
    expect(bg).toBe('rgb(17, 20, 24)');
  });
});
