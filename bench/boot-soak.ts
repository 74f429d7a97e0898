/**
 * Boot soak: `npm run bench:boot-soak -- [--boots 200] [--variant NAME] [--tcg-thread single|multi] [--cpu MODEL]`
 * Not in CI (200 boots take about an hour here). One instance booted N times: `berth start` (a cold boot),
 * `docker run --rm` of a busybox image, `berth stop`. It counts the guest kernel's panics (berth's start boots
 * once more after a panic and says so: the soak counts every such notice, so the rate is the raw one), starts
 * that failed anyway and failed workloads, and keeps, for each boot with a panic or a failure, the agent's log
 * (which holds the console's last lines at a panic) and the console in bench/results/boot-soak/VARIANT/.
 * It saves after every boot to bench/results/boot-soak/VARIANT.json and resumes from it, since a long run may be
 * cut off. --tcg-thread and --cpu set QEMU's TCG threading and CPU model (BERTH_TCG_THREAD, BERTH_TCG_CPU) to
 * compare variants; run one variant at a time. Nothing here asserts: the figures go in the docs.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { berth, docker, makeEnv, REPO } from '../test/support/env.js';
import { busyboxContext } from '../test/support/images.js';
import { panicTexts } from '../test/support/timings.js';
import { median, wilson } from './stats.js';

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const BOOTS = Number(arg('boots') ?? 200);
const thread = arg('tcg-thread');
const cpu = arg('cpu');
const VARIANT =
  arg('variant') ??
  [thread ? `thread-${thread}` : 'default', cpu ? `cpu-${cpu}` : ''].filter(Boolean).join('-');
const NAME = 'boot-soak';
const dir = path.join(REPO, 'bench', 'results', 'boot-soak');
const file = path.join(dir, `${VARIANT}.json`);
const keepDir = path.join(dir, VARIANT);
const log = (m: string) =>
  process.stderr.write(`[boot-soak ${VARIANT}] ${new Date().toISOString().slice(11, 19)} ${m}\n`);

interface Boot {
  n: number;
  startMs: number;
  startCode: number;
  panics: number;
  /** The kernel's words for each panic (berth's notices and errors). */
  panicTexts?: string[];
  /** The VM ended on its own after the start was ready (the agent's restart: it carries its own words). */
  crashAfterReady?: string;
  workload: boolean;
  stopCode: number;
  at: string;
}
interface SoakRecord {
  variant: string;
  env: { BERTH_TCG_THREAD?: string; BERTH_TCG_CPU?: string };
  boots: Boot[];
}

await fsp.mkdir(keepDir, { recursive: true });
const rec: SoakRecord = fs.existsSync(file)
  ? (JSON.parse(await fsp.readFile(file, 'utf8')) as SoakRecord)
  : { variant: VARIANT, env: {}, boots: [] };
rec.env = { ...(thread ? { BERTH_TCG_THREAD: thread } : {}), ...(cpu ? { BERTH_TCG_CPU: cpu } : {}) };
const e = await makeEnv('boot-soak');
Object.assign(e.env, rec.env);
e.env.DOCKER_HOST = `unix://${path.join(e.home, NAME, 'docker.sock')}`;
const startArgs = ['start', NAME, '--cpus', '2', '--memory', '1GiB', '--no-activate'];

try {
  let built = false;
  for (let n = rec.boots.length + 1; n <= BOOTS; n++) {
    const t0 = performance.now();
    const s = await berth(e, startArgs);
    const startMs = performance.now() - t0;
    const bootAt = new Date(Date.now() - startMs).toISOString();
    const texts = panicTexts(s.stderr);
    const panics = texts.length;
    let workload = false;
    let crashAfterReady: string | undefined;
    if (s.code === 0) {
      if (!built) {
        built = (await docker(e, ['build', '-q', '-t', 'bb:soak', await busyboxContext()])).code === 0;
      }
      workload = built && (await docker(e, ['run', '--rm', 'bb:soak', 'true'])).code === 0;
      const st = await berth(e, ['status', NAME, '--json']);
      const crash = (JSON.parse(st.stdout || '{}') as { lastCrash?: { at: string; text: string } }).lastCrash;
      if (crash && crash.at >= bootAt) crashAfterReady = crash.text;
    }
    const stop = await berth(e, ['stop', NAME]);
    const boot: Boot = {
      n,
      startMs: Math.round(startMs),
      startCode: s.code,
      panics,
      ...(panics ? { panicTexts: texts } : {}),
      ...(crashAfterReady ? { crashAfterReady } : {}),
      workload,
      stopCode: stop.code,
      at: new Date().toISOString(),
    };
    if (panics > 0 || crashAfterReady || s.code !== 0 || !workload || stop.code !== 0) {
      const agent = await berth(e, ['logs', NAME, '--source', 'agent']);
      const serial = await berth(e, ['logs', NAME, '--source', 'serial']);
      await fsp.writeFile(
        path.join(keepDir, `boot-${n}.log`),
        `start exit ${s.code}\n${s.stderr}\n--- agent log\n${agent.stdout.split('\n').slice(-200).join('\n')}\n--- console\n${serial.stdout}`,
      );
    }
    rec.boots.push(boot);
    await fsp.writeFile(file, JSON.stringify(rec, null, 2) + '\n');
    log(
      `boot ${n}/${BOOTS}: start ${(startMs / 1000).toFixed(1)} s, exit ${s.code}, panics ${panics}${panics ? ` (${texts.join('; ')})` : ''}${crashAfterReady ? `, crashed after ready: ${crashAfterReady}` : ''}, workload ${workload ? 'ok' : 'FAILED'}`,
    );
  }
} finally {
  await berth(e, ['delete', NAME, '--force']);
  await fsp.rm(e.root, { recursive: true, force: true });
}

const b = rec.boots;
const panicked = b.filter((x) => x.panics > 0).length;
const panicsAll = b.reduce((a, x) => a + x.panics, 0);
const later = b.filter((x) => x.crashAfterReady).length;
const failed = b.filter((x) => x.startCode !== 0 || !x.workload).length;
const [lo, hi] = wilson(panicked, b.length);
process.stdout.write(
  [
    `variant ${VARIANT} (${JSON.stringify(rec.env)}): ${b.length} boots`,
    `  boots with a kernel panic: ${panicked} (${((100 * panicked) / Math.max(1, b.length)).toFixed(2)} %, 95 % interval ${lo.toFixed(2)}–${hi.toFixed(2)} %)`,
    `  kernel panics in all (a boot made again after a panic can panic too): ${panicsAll} in ${b.length + panicsAll} boots made`,
    `  VMs that ended on their own after ready: ${later}`,
    `  failed starts or workloads (after berth's one extra boot): ${failed}`,
    `  start time, median of successful boots: ${(median(b.filter((x) => x.startCode === 0).map((x) => x.startMs)) / 1000).toFixed(1)} s`,
    '',
  ].join('\n'),
);
