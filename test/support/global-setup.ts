/**
 * The e2e run's global setup (vitest.e2e.config.ts), once per run however many files it runs:
 * - the guest image is built (or found in the cache) before the first file, so no file's first start pays
 *   for it and a file run alone gets it the same way;
 * - the docker CLI's compose and buildx plugins are installed once, by berth's own installer, into a folder
 *   that every test environment's config.json names in `cliPluginsExtraDirs` (test/support/env.ts): a start
 *   then finds them and downloads nothing. The first-start install itself stays covered by the files that opt
 *   out (core) and by the ordinary user's quickstart and e2e (nonroot).
 * At the end, a QEMU that a test of this run started and nobody stopped (its instance under the temporary
 * folder, the process younger than the run) is killed and fails the run: every file must clean up after itself
 * (test/support/per-file.ts deletes what a file's environments still hold).
 */
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { BERTH_BIN, PLUGIN_DIR_ENV } from './env.js';

/** QEMU processes started within the last `seconds` whose command line names a folder under `tmp`/berth-*. */
export async function strayVms(tmp: string, seconds: number): Promise<{ pid: number; args: string }[]> {
  const ps = await execa('ps', ['-eo', 'pid=,etimes=,args='], { reject: false });
  return String(ps.stdout)
    .split('\n')
    .map((l) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(l))
    .filter((m): m is RegExpExecArray => !!m)
    .filter((m) => /qemu-system-/.test(m[3]!) && m[3]!.includes(path.join(tmp, 'berth-')))
    .filter((m) => Number(m[2]) <= seconds)
    .map((m) => ({ pid: Number(m[1]), args: m[3]! }));
}

export default async function setup(): Promise<() => Promise<void>> {
  const started = Date.now();
  const root = await fsp.mkdtemp(path.join(os.tmpdir(), 'berth-e2e-run-'));
  const env = {
    ...process.env,
    BERTH_HOME: path.join(root, 'home'),
    DOCKER_CONFIG: path.join(root, 'docker'),
    BERTH_ALLOW_ROOT: '1',
  };
  const berth = async (args: string[]) => {
    const t0 = Date.now();
    const r = await execa(process.execPath, [BERTH_BIN, ...args], { env, reject: false });
    if (r.exitCode !== 0) throw new Error(`e2e setup: berth ${args.join(' ')} failed:\n${r.stderr}`);
    console.log(`e2e setup: berth ${args.join(' ')} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  };
  await berth(['image', 'build']);
  await berth(['cli', 'install']);
  process.env[PLUGIN_DIR_ENV] = path.join(root, 'docker', 'cli-plugins');
  return async () => {
    await fsp.rm(root, { recursive: true, force: true });
    const stray = await strayVms(os.tmpdir(), Math.ceil((Date.now() - started) / 1000));
    for (const v of stray) {
      try {
        process.kill(v.pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    if (stray.length)
      throw new Error(
        `the run left ${stray.length} VM(s) running (now killed):\n${stray.map((v) => `  ${v.pid}: ${v.args.slice(0, 200)}`).join('\n')}`,
      );
  };
}
