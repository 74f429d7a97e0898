/**
 * Dashboard benchmark: `npm run bench:dashboard [-- --quick]`.
 * With one instance running and a container in it: the time from opening the dashboard's URL in Chromium to
 * the instance's container row on screen (first render), against `berth status --json` plus `docker ps`
 * from the terminal (what a user runs to see the same facts), measured in the same run; the server's RSS with
 * no page open and with one open; and the server's and the browser-facing CPU at idle with a page open for
 * IDLE_S seconds (pushed updates: nothing should poll). Medians of several runs; writes
 * docs/benchmarks-dashboard.md and bench/results/dashboard.json. Nothing asserts speed.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { launchChromium } from '../test/support/browser.js';
import { berth, berthOk, dockerOk, makeEnv, REPO } from '../test/support/env.js';
import { busyboxContext } from '../test/support/images.js';
import { pidFromFile, rssKiB } from '../test/support/proc.js';
import { FILES } from '../src/store/filenames.js';
import { table } from './markdown.js';
import { median } from './stats.js';

const quick = process.argv.includes('--quick');
const RUNS = quick ? 2 : 7;
const IDLE_S = quick ? 5 : 60;
const NAME = 'dashbench';
const e = await makeEnv('dbench');
const log = (m: string) => process.stderr.write(`[bench:dashboard] ${m}\n`);

/** utime+stime of a process, in seconds. */
function cpuSeconds(pid: number): number {
  const rest = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(rest[11]) + Number(rest[12])) / 100;
}

try {
  log('starting an instance with one container');
  await berthOk(e, ['start', NAME, '--cpus', '2', '--memory', '1GiB']);
  e.env.DOCKER_CONTEXT = `berth-${NAME}`;
  await dockerOk(e, ['build', '-q', '-t', 'bb', await busyboxContext()]);
  await dockerOk(e, ['run', '-d', '--name', 'idle', 'bb', 'sleep', '100000']);

  const cli: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    await berthOk(e, ['status', NAME, '--json']);
    await dockerOk(e, ['ps']);
    cli.push(performance.now() - t);
  }

  const rec = JSON.parse((await berthOk(e, ['dashboard', '--no-open', '--json'])).stdout) as {
    url: string;
    pid: number;
  };
  await new Promise((r) => setTimeout(r, 2000));
  const rssIdleNoPage = rssKiB(rec.pid)!;
  const browser = await launchChromium();
  const render: number[] = [];
  try {
    for (let i = 0; i < RUNS; i++) {
      const page = await browser.context.newPage();
      const t = performance.now();
      await page.goto(rec.url);
      await page.locator('tr[data-container=idle]').waitFor({ timeout: 60_000 });
      render.push(performance.now() - t);
      await page.close();
    }
    const page = await browser.context.newPage();
    await page.goto(rec.url);
    await page.locator('tr[data-container=idle]').waitFor({ timeout: 60_000 });
    await new Promise((r) => setTimeout(r, 3000));
    // The server's own CPU, and the host agent's (the engine API calls go through its socket forwarder), with
    // a page open; the agent's also with no page open, as the baseline.
    const agentPid = pidFromFile(path.join(e.home, NAME, FILES.agentPid))!;
    const c0 = cpuSeconds(rec.pid);
    const a0 = cpuSeconds(agentPid);
    await new Promise((r) => setTimeout(r, IDLE_S * 1000));
    const serverCpuPct = ((cpuSeconds(rec.pid) - c0) / IDLE_S) * 100;
    const agentCpuPct = ((cpuSeconds(agentPid) - a0) / IDLE_S) * 100;
    const rssOnePage = rssKiB(rec.pid)!;
    await page.close();
    await new Promise((r) => setTimeout(r, 3000));
    const a1 = cpuSeconds(agentPid);
    await new Promise((r) => setTimeout(r, IDLE_S * 1000));
    const agentCpuPctNoPage = ((cpuSeconds(agentPid) - a1) / IDLE_S) * 100;

    const r = {
      date: new Date().toISOString(),
      machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, runs: RUNS, idleSeconds: IDLE_S },
      firstRenderMs: median(render),
      cliStatusAndPsMs: median(cli),
      ratio: median(render) / median(cli),
      serverRssMiB: { noPage: rssIdleNoPage / 1024, onePage: rssOnePage / 1024 },
      serverCpuPercentIdleOnePage: serverCpuPct,
      agentCpuPercent: { onePage: agentCpuPct, noPage: agentCpuPctNoPage },
      raw: { render, cli },
    };
    await fsp.mkdir(path.join(REPO, 'bench', 'results'), { recursive: true });
    await fsp.writeFile(
      path.join(REPO, 'bench', 'results', quick ? 'dashboard-quick.json' : 'dashboard.json'),
      `${JSON.stringify(r, null, 2)}\n`,
    );
    if (!quick) {
      const md = [
        '# Dashboard benchmark',
        '',
        `Measured ${r.date.slice(0, 10)} by \`npm run bench:dashboard\` on ${r.machine.cpus} CPUs (${r.machine.model}), TCG, one instance (2 CPUs, 1 GiB) running one container; medians of ${RUNS} runs.`,
        '',
        ...table(
          ['what', 'berth dashboard', 'baseline (same run)', 'ratio'],
          [
            [
              'instance and its containers on screen',
              `${r.firstRenderMs.toFixed(0)} ms (open URL → container row shown, Chromium)`,
              `${r.cliStatusAndPsMs.toFixed(0)} ms (\`berth status --json\` + \`docker ps\`)`,
              `${r.ratio.toFixed(2)}×`,
            ],
            ['server RSS, no page open', `${r.serverRssMiB.noPage.toFixed(1)} MiB`, '', ''],
            ['server RSS, one page open', `${r.serverRssMiB.onePage.toFixed(1)} MiB`, '', ''],
            [
              `host agent CPU, idle ${IDLE_S} s`,
              `${r.agentCpuPercent.onePage.toFixed(2)} % of one core (one page open)`,
              `${r.agentCpuPercent.noPage.toFixed(2)} % (no page open)`,
              `+${(r.agentCpuPercent.onePage - r.agentCpuPercent.noPage).toFixed(2)} points`,
            ],
            [
              `server CPU, one page open, idle ${IDLE_S} s`,
              `${r.serverCpuPercentIdleOnePage.toFixed(2)} % of one core`,
              '',
              '',
            ],
          ],
        ),
        '',
        'While a page is open the server looks at the instances every 5 s (and at once on an engine event) and',
        'pushes a snapshot only when something changed; with no page open it holds no timer and no engine stream.',
        '',
      ].join('\n');
      await fsp.writeFile(path.join(REPO, 'docs', 'benchmarks-dashboard.md'), md);
    }
    log(
      JSON.stringify({
        firstRenderMs: r.firstRenderMs,
        cli: r.cliStatusAndPsMs,
        rss: r.serverRssMiB,
        cpu: serverCpuPct,
      }),
    );
  } finally {
    await browser.close();
  }
} finally {
  await berth(e, ['dashboard', '--stop']);
  await berth(e, ['delete', NAME, '--force']);
  await fsp.rm(e.root, { recursive: true, force: true });
}
