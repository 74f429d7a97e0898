import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { ensureHome, pidAlive, writeFileAtomic } from '../store/instance-store.js';
import { homeFile } from '../store/paths.js';
import { fileLogger } from '../util/logger.js';
import { newSecret } from './security.js';
import { startDashboard } from './server.js';

/**
 * The dashboard daemon (`berth dashboard` starts it detached): one per user, on 127.0.0.1, recorded in
 * BERTH_HOME/_config/dashboard.json (0600: the file holds the URL's token) so the next `berth dashboard` reuses
 * it and `--stop` ends it.
 */
export const DashboardRecord = z.object({
  pid: z.number().int(),
  port: z.number().int(),
  token: z.string(),
  url: z.string(),
  startedAt: z.string(),
});
export type DashboardRecord = z.infer<typeof DashboardRecord>;

export async function readDashboardRecord(): Promise<DashboardRecord | undefined> {
  const text = await fsp.readFile(homeFile('dashboard'), 'utf8').catch(() => undefined);
  if (!text) return undefined;
  try {
    const r = DashboardRecord.parse(JSON.parse(text));
    return pidAlive(r.pid) ? r : undefined;
  } catch {
    return undefined;
  }
}

export function dashboardUrl(port: number, token: string): string {
  return `http://127.0.0.1:${port}/?token=${token}`;
}

async function main(): Promise<void> {
  const portArg = process.argv.indexOf('--port');
  const port = portArg > 0 ? Number(process.argv[portArg + 1]) : 0;
  await ensureHome();
  const logFd = fs.openSync(homeFile('dashboardLog'), 'a', 0o600);
  const log = fileLogger(logFd);
  const here = path.dirname(fileURLToPath(import.meta.url));
  const token = newSecret();
  const dash = await startDashboard({
    port,
    token,
    session: newSecret(),
    webDir: path.join(here, '..', 'web'),
    cliEntry: path.join(here, '..', 'cli', 'main.js'),
    log,
  });
  const record: DashboardRecord = {
    pid: process.pid,
    port: dash.port,
    token,
    url: dashboardUrl(dash.port, token),
    startedAt: new Date().toISOString(),
  };
  await writeFileAtomic(homeFile('dashboard'), `${JSON.stringify(record, null, 2)}\n`, 0o600);
  log.info({ port: dash.port }, 'dashboard listening on 127.0.0.1');
  const stop = async (sig: string) => {
    log.info(`dashboard stopping (${sig})`);
    const cur = await readDashboardRecord();
    if (cur?.pid === process.pid) await fsp.rm(homeFile('dashboard'), { force: true });
    await dash.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGHUP', () => undefined); // the terminal that started it closing is no reason to stop
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  main().catch((err: unknown) => {
    process.stderr.write(`berth dashboard: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
