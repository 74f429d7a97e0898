import { spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { readDashboardRecord, type DashboardRecord } from '../../dashboard/main.js';
import { ensureHome, waitPidGone } from '../../store/instance-store.js';
import { homeFile } from '../../store/paths.js';
import { BerthError } from '../../util/errors.js';
import { retryUntil } from '../../util/retry.js';
import { info, json, result } from '../output.js';

/** Whether the recorded server answers (a pid alive is not enough: it may be another program now). */
function answers(r: DashboardRecord): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(
      {
        host: '127.0.0.1',
        port: r.port,
        path: '/api/health',
        headers: { host: `127.0.0.1:${r.port}` },
        timeout: 2000,
      },
      (res) => {
        res.resume();
        // 401 without a session: it is a dashboard, and it is up.
        resolve(res.statusCode === 401 || res.statusCode === 200);
      },
    );
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
  });
}

async function running(): Promise<DashboardRecord | undefined> {
  const r = await readDashboardRecord();
  return r && (await answers(r)) ? r : undefined;
}

/** Starts the dashboard daemon detached (it outlives the terminal) and waits for its record. */
async function launch(port: number): Promise<DashboardRecord> {
  await ensureHome();
  const entry = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'dashboard', 'main.js');
  const out = fs.openSync(homeFile('dashboardLog'), 'a', 0o600);
  const child = spawn(process.execPath, [entry, '--port', String(port)], {
    detached: true,
    stdio: ['ignore', out, out],
  });
  fs.closeSync(out);
  child.unref();
  let exited = false;
  child.once('exit', () => (exited = true));
  return retryUntil(
    async () => {
      if (exited) {
        const log = await fsp.readFile(homeFile('dashboardLog'), 'utf8').catch(() => '');
        const last = log.trim().split('\n').pop() ?? '';
        throw new BerthError('INTERNAL', `the dashboard server did not start: ${last}`, {
          hint: port
            ? `is port ${port} in use? try another --port, or leave it out`
            : `see ${homeFile('dashboardLog')}`,
        });
      }
      const r = await readDashboardRecord();
      return r?.pid === child.pid ? r : undefined;
    },
    (r) => r !== undefined,
    {
      intervalMs: 100,
      timeoutMs: 15000,
      onTimeout: () => {
        throw new BerthError('TIMEOUT', 'the dashboard server did not start within 15 s', {
          hint: `see ${homeFile('dashboardLog')}`,
        });
      },
    },
  ) as Promise<DashboardRecord>;
}

/** Opens the URL in the user's browser when there is a display to show it on. */
function openBrowser(url: string): boolean {
  const cmd =
    process.platform === 'darwin'
      ? 'open'
      : process.env.DISPLAY || process.env.WAYLAND_DISPLAY
        ? 'xdg-open'
        : undefined;
  if (!cmd) return false;
  const child = spawn(cmd, [url], { detached: true, stdio: 'ignore' });
  child.on('error', () => undefined);
  child.unref();
  return true;
}

export function registerDashboard(program: Command, run: (fn: () => Promise<void>) => Promise<void>): void {
  program
    .command('dashboard')
    .description(
      'open the dashboard: instances, containers, images, volumes, logs and terminals in the browser',
    )
    .option('--no-open', 'print the URL, do not open a browser')
    .option('--port <port>', 'the port on 127.0.0.1 (default: a free one)')
    .option('--stop', 'stop the dashboard server')
    .option('--json', 'machine-readable output')
    .action((o: { open: boolean; port?: string; stop?: boolean; json?: boolean }) =>
      run(async () => {
        if (o.stop) {
          const r = await readDashboardRecord();
          // Only a pid that answers as the dashboard is signalled: after a crash the pid may be another program's.
          if (!r || !(await answers(r))) {
            await fsp.rm(homeFile('dashboard'), { force: true });
            return info('the dashboard is not running');
          }
          process.kill(r.pid, 'SIGTERM');
          await waitPidGone(r.pid, 5000);
          await fsp.rm(homeFile('dashboard'), { force: true });
          return info(`stopped the dashboard (pid ${r.pid})`);
        }
        if (process.getuid?.() === 0 && process.env.BERTH_ALLOW_ROOT !== '1')
          throw new BerthError('PERMISSION', 'the dashboard does not run as root', {
            hint: 'run berth as your own user; on a throwaway machine (CI) set BERTH_ALLOW_ROOT=1',
          });
        let port = 0;
        if (o.port !== undefined) {
          port = Number(o.port);
          if (!Number.isInteger(port) || port < 1 || port > 65535)
            throw new BerthError('USAGE', `--port: "${o.port}" is not a port number`, {
              hint: 'e.g. --port 7780',
            });
        }
        let r = await running();
        if (r && port && r.port !== port)
          throw new BerthError('CONFLICT', `the dashboard already runs on port ${r.port}`, {
            hint: 'stop it first: berth dashboard --stop',
          });
        const reused = Boolean(r);
        r ??= await launch(port);
        if (o.json) return json({ url: r.url, port: r.port, pid: r.pid, reused });
        result(r.url);
        const opened = o.open && openBrowser(r.url);
        info(
          `${reused ? 'the dashboard is running' : 'started the dashboard'} on 127.0.0.1:${r.port}${opened ? '; opened in your browser' : ''}; "berth dashboard --stop" ends it`,
        );
      }),
    );
}
