/**
 * Starts and stops: the baseline booted the common way, berth cold (`--cold`) and warm (suspend → resume),
 * each timed until `docker version` answers on the host; graceful stops; berth's own time breakdown.
 * Each cold-start series calls `atLast` in its last run, while the VM is up, for the figures taken once, and
 * returns what it returned as `last`.
 */
import path from 'node:path';
import { berthOk, writeConfig } from '../../test/support/env.js';
import {
  BaselinePanic,
  bootBaseline,
  stopBaseline,
  waitBaselineDocker,
  type BaselineImage,
  type BaselineVm,
} from '../baseline.js';
import { CPUS, dockerAt, MEM_MIB, NAME, socketOf, timed, type Bench } from '../context.js';

/** The baseline: `runs` cold boots until `docker version` works through `ssh -L`, each stopped gracefully. */
export async function baselineStarts<T>(
  b: Bench,
  img: BaselineImage,
  hostfwds: Array<[number, number]>,
  atLast: (vm: BaselineVm) => Promise<T>,
): Promise<{ cold: number[]; stop: number[]; last?: T }> {
  const cold: number[] = [];
  const stop: number[] = [];
  let last: T | undefined;
  for (let i = 0; i < b.n.runs; i++) {
    b.log(`baseline cold start ${i + 1}/${b.n.runs}`);
    const boot = () => bootBaseline(img, path.join(b.e.root, 'baseline'), CPUS, MEM_MIB, hostfwds);
    let t = performance.now();
    let vm = await boot();
    try {
      // The baseline's stock kernel now and then panics early under multi-threaded TCG (seen once: an int3
      // in sched_clock_cpu while the kernel patches its own code). That boot is not a measurement: it is
      // logged and booted again, at most twice.
      for (let attempt = 1; ; attempt++) {
        try {
          await waitBaselineDocker(vm, 300000);
          break;
        } catch (err) {
          if (!(err instanceof BaselinePanic) || attempt === 3) throw err;
          b.log(
            `baseline cold start ${i + 1}: the guest's kernel panicked (${err.message}); booting it again, not counted`,
          );
          const dead = vm.qemu;
          if (dead.exitCode === null && dead.signalCode === null) {
            const gone = new Promise((r) => dead.once('exit', r));
            dead.kill('SIGKILL');
            await gone;
          }
          t = performance.now();
          vm = await boot();
        }
      }
      cold.push(performance.now() - t);
      if (i === b.n.runs - 1) last = await atLast(vm);
    } catch (err) {
      // A failed run must not leave the baseline VM running (it would skew every later run on this machine).
      vm.forward?.kill();
      vm.qemu.kill('SIGKILL');
      throw err;
    }
    stop.push(await stopBaseline(vm));
  }
  return { cold, stop, last };
}

/**
 * `berth start --verbose`'s report: the host's phases, then the guest's own (the milestones berth-init
 * recorded), each "  NAME  1.2 s"; ms by name.
 */
export function parseVerbose(stderr: string): {
  host: Record<string, number>;
  guest: Record<string, number>;
} {
  const [hostPart, guestPart = ''] = stderr.split('inside the guest');
  const phases = (text: string) =>
    Object.fromEntries(
      [...text.matchAll(/^\s{2}(\w+)\s+([\d.]+) s$/gm)].map((m) => [m[1]!, Number(m[2]) * 1000]),
    );
  return { host: phases(hostPart!), guest: phases(guestPart) };
}

/**
 * berth's default instance, created from `mounts` (its berth.yaml lines) with an untimed first start that
 * also builds bb:bench from bbDir; then a timed stop, and `runs` cold starts, each but the last stopped.
 * The instance is left running.
 */
export async function berthColdStarts<T>(
  b: Bench,
  mounts: string[],
  bbDir: string,
  atLast: () => Promise<T>,
): Promise<{
  last?: T;
  cold: number[];
  stop: number[];
  breakdown?: Record<string, number>;
  guest: Record<string, number>;
}> {
  const sock = socketOf(b);
  const cold: number[] = [];
  const stop: number[] = [];
  let breakdown: Record<string, number> | undefined;
  const guest: Record<string, number> = {};
  let last: T | undefined;
  await writeConfig(b.e, NAME, mounts.join('\n') + '\n');
  await berthOk(b.e, ['start', NAME, '--cpus', String(CPUS), '--memory', `${MEM_MIB}MiB`, '--no-activate']); // creates it (not timed)
  await dockerAt(b, sock, ['build', '-q', '-t', 'bb:bench', bbDir]);
  stop.push(await timed(() => berthOk(b.e, ['stop', NAME])));
  for (let i = 0; i < b.n.runs; i++) {
    b.log(`berth cold start ${i + 1}/${b.n.runs}`);
    let out = '';
    cold.push(
      await timed(async () => {
        out = (await berthOk(b.e, ['start', NAME, '--cold', '--verbose', '--no-activate'])).stderr;
        await dockerAt(b, sock, ['version']);
      }),
    );
    const phases = parseVerbose(out);
    breakdown = phases.host;
    Object.assign(guest, phases.guest);
    if (i === b.n.runs - 1) last = await atLast();
    if (i < b.n.runs - 1) stop.push(await timed(() => berthOk(b.e, ['stop', NAME])));
  }
  return { cold, stop, breakdown, guest, last };
}

/**
 * Warm starts of the running default instance: `runs` times suspend (timed) then start (resume) until
 * `docker version` answers (timed), with a container counting throughout, which must survive.
 */
export async function berthWarmStarts(b: Bench): Promise<{ warm: number[]; suspend: number[] }> {
  const docker = (args: string[]) => dockerAt(b, socketOf(b), args);
  const warm: number[] = [];
  const suspend: number[] = [];
  await docker(['run', '-d', '--name', 'counter', 'bb:bench', 'sh', '-c', 'while true; do sleep 1; done']);
  for (let i = 0; i < b.n.runs; i++) {
    b.log(`berth warm start ${i + 1}/${b.n.runs}`);
    suspend.push(await timed(() => berthOk(b.e, ['suspend', NAME])));
    warm.push(
      await timed(async () => {
        await berthOk(b.e, ['start', NAME, '--no-activate']);
        await docker(['version']);
      }),
    );
  }
  const stillRunning = (
    await docker(['ps', '--filter', 'name=counter', '--format', '{{.Status}}'])
  ).stdout.trim();
  if (!stillRunning.startsWith('Up'))
    throw new Error(`the container did not survive suspend/resume: "${stillRunning}"`);
  return { warm, suspend };
}
