/**
 * Kernel self-patching under TCG: `npm run bench:tcg-stress -- [--runs 3] [--seconds 120] [--tcg-thread
 * single|multi] [--cpu MODEL] [--variant NAME]`. Not in CI.
 *
 * The rare early guest-kernel panics under TCG ("Fatal exception in interrupt", an int3 oops) come from the
 * kernel patching its own code while the other vCPU runs it: a static key flipped (text_poke_bp: an int3 on the
 * site, an IPI to every CPU, the new bytes, the int3 taken away). A boot flips a few of them (netfilter's hooks
 * when dockerd writes its rules, cgroup BPF, …), so a boot soak needs thousands of boots to tell one rate from
 * another. This makes the same race happen thousands of times a minute: one vCPU flips the scheduler's
 * statistics key (kernel.sched_schedstats, whose sites are on the scheduler's paths) without end, while the
 * other switches tasks without end (two dd's through a pipe, one byte at a time). Each run boots a fresh
 * instance (restart: no, so the VM stays down and its console stays as it was), starts the load and waits for a
 * panic or the end of the run's time; it keeps the console of each panicked run in
 * bench/results/tcg-stress/VARIANT-N.log and the figures in bench/results/tcg-stress/VARIANT.json.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { berth, berthOk, makeEnv, REPO, writeConfig } from '../test/support/env.js';
import { median } from './stats.js';

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const RUNS = Number(arg('runs') ?? 3);
const SECONDS = Number(arg('seconds') ?? 120);
const thread = arg('tcg-thread');
const cpu = arg('cpu');
const VARIANT =
  arg('variant') ??
  [thread ? `thread-${thread}` : 'default', cpu ? `cpu-${cpu}` : ''].filter(Boolean).join('-');
const NAME = 'tcg-stress';
const dir = path.join(REPO, 'bench', 'results', 'tcg-stress');
const log = (m: string) =>
  process.stderr.write(`[tcg-stress ${VARIANT}] ${new Date().toISOString().slice(11, 19)} ${m}\n`);

// The load: CPU 1 switches tasks, CPU 0 flips the key and counts the flips in /run/flips (every 100).
const LOAD = [
  "nohup sh -c 'taskset -c 1 dd if=/dev/zero bs=1 2>/dev/null | taskset -c 1 dd of=/dev/null bs=1 2>/dev/null' >/dev/null 2>&1 &",
  "nohup taskset -c 0 sh -c 'n=0; while :; do echo 1 > /proc/sys/kernel/sched_schedstats;" +
    ' echo 0 > /proc/sys/kernel/sched_schedstats; n=$((n+1)); [ $((n % 100)) -eq 0 ] && echo $n > /run/flips;' +
    " done' >/dev/null 2>&1 &",
].join('\n');

interface Run {
  n: number;
  bootMs: number;
  /** Seconds from the load's start to the panic; undefined: none within the run's time. */
  panicAfterS?: number;
  /** The console's oops line ("Oops: int3: 0000 [#1] …") and the panic's words. */
  oops?: string;
  /** Key flips counted before the end (the last hundred the guest wrote down; a panic loses the rest). */
  flips: number;
  seconds: number;
}

await fsp.mkdir(dir, { recursive: true });
const runs: Run[] = [];
for (let n = 1; n <= RUNS; n++) {
  const e = await makeEnv('tcg-stress');
  Object.assign(e.env, {
    BERTH_HOST_CLI: '0',
    ...(thread ? { BERTH_TCG_THREAD: thread } : {}),
    ...(cpu ? { BERTH_TCG_CPU: cpu } : {}),
  });
  try {
    await writeConfig(e, NAME, 'cpus: 2\nmemory: 1GiB\nrestart: no\n');
    const t0 = performance.now();
    await berthOk(e, ['start', NAME, '--no-activate']);
    const bootMs = performance.now() - t0;
    await berthOk(e, ['ssh', NAME, '--', 'sh', '-c', LOAD]);
    const started = Date.now();
    let flips = 0;
    let panicAfterS: number | undefined;
    while ((Date.now() - started) / 1000 < SECONDS) {
      await new Promise((r) => setTimeout(r, 5000));
      const st = JSON.parse((await berth(e, ['status', NAME, '--json'])).stdout || '{}') as {
        status?: string;
      };
      if (st.status !== 'Running') {
        panicAfterS = (Date.now() - started) / 1000;
        break;
      }
      const f = await berth(e, ['ssh', NAME, '--', 'cat', '/run/flips']);
      if (f.code === 0) flips = Number(f.stdout.trim()) || flips;
    }
    const console = await fsp.readFile(path.join(e.home, NAME, 'serial.log'), 'utf8').catch(() => '');
    const oops = [
      /Oops: [^\r\n]*/.exec(console)?.[0],
      /RIP: 0010:[^\r\n]*/.exec(console)?.[0],
      /Kernel panic - not syncing: [^\r\n]*/.exec(console)?.[0],
    ]
      .filter(Boolean)
      .join('; ');
    if (panicAfterS !== undefined) await fsp.writeFile(path.join(dir, `${VARIANT}-${n}.log`), console);
    const run: Run = {
      n,
      bootMs: Math.round(bootMs),
      ...(panicAfterS !== undefined ? { panicAfterS: Math.round(panicAfterS), oops } : {}),
      flips,
      seconds: Math.round((Date.now() - started) / 1000),
    };
    runs.push(run);
    log(
      `run ${n}/${RUNS}: boot ${(bootMs / 1000).toFixed(1)} s; ` +
        (panicAfterS !== undefined
          ? `panicked ${run.panicAfterS} s into the load (${oops || 'no oops line'})`
          : `no panic in ${run.seconds} s, ${flips} flips of the key`),
    );
  } finally {
    await berth(e, ['delete', NAME, '--force']);
    await fsp.rm(e.root, { recursive: true, force: true });
  }
}

const file = path.join(dir, `${VARIANT}.json`);
const all: Run[] = fs.existsSync(file)
  ? [...(JSON.parse(await fsp.readFile(file, 'utf8')) as { runs: Run[] }).runs, ...runs]
  : runs;
await fsp.writeFile(
  file,
  JSON.stringify({ variant: VARIANT, env: { thread, cpu }, runs: all }, null, 2) + '\n',
);
const panicked = all.filter((r) => r.panicAfterS !== undefined);
process.stdout.write(
  [
    `variant ${VARIANT}: ${all.length} runs`,
    `  panicked: ${panicked.length}${panicked.length ? ` (median ${median(panicked.map((r) => r.panicAfterS!))} s into the load)` : ''}`,
    `  survived: ${all.length - panicked.length}, their key flips: ${all
      .filter((r) => r.panicAfterS === undefined)
      .map((r) => r.flips)
      .join(', ')}`,
    `  boot, median: ${(median(all.map((r) => r.bootMs)) / 1000).toFixed(1)} s`,
    '',
  ].join('\n'),
);
