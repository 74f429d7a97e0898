/**
 * Running berth and docker the way the e2e tests and the benchmark do: the CLI from this checkout, in a
 * throwaway BERTH_HOME and DOCKER_CONFIG, so nothing touches the user's instances or docker contexts.
 * Test and bench code only: nothing under src/ imports this folder.
 */
import { execa, type Options } from 'execa';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { recordBerth } from './timings.js';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BERTH_BIN = path.join(REPO, 'bin', 'berth');

export interface Env {
  /** The temporary directory that holds the two below; free for other scratch files. */
  root: string;
  home: string;
  dockerConfig: string;
  env: NodeJS.ProcessEnv;
}

/** Where the e2e run's global setup installed compose and buildx once (test/support/global-setup.ts). */
export const PLUGIN_DIR_ENV = 'BERTH_TEST_PLUGIN_DIR';

/**
 * A fresh `$TMPDIR/berth-PREFIX-XXXXXX` with `home` (BERTH_HOME) and `docker` (DOCKER_CONFIG) in it. In an e2e
 * run, DOCKER_CONFIG's config.json names the run's shared plugin folder, so no start downloads compose and
 * buildx again; `ownPlugins` leaves it out (the start installs them, as on a user's first start).
 */
export async function makeEnv(prefix: string, opts: { ownPlugins?: boolean } = {}): Promise<Env> {
  const root = await fsp.mkdtemp(path.join(os.tmpdir(), `berth-${prefix}-`));
  const home = path.join(root, 'home');
  const dockerConfig = path.join(root, 'docker');
  await fsp.mkdir(dockerConfig, { recursive: true });
  const plugins = process.env[PLUGIN_DIR_ENV];
  if (plugins && !opts.ownPlugins)
    await fsp.writeFile(
      path.join(dockerConfig, 'config.json'),
      JSON.stringify({ cliPluginsExtraDirs: [plugins] }, null, 2) + '\n',
    );
  // The suite runs as root on CI machines (throwaway): berth refuses root VMs unless told.
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    BERTH_HOME: home,
    DOCKER_CONFIG: dockerConfig,
    BERTH_ALLOW_ROOT: '1',
  };
  delete env.DOCKER_HOST;
  delete env.DOCKER_CONTEXT;
  const e = { root, home, dockerConfig, env };
  made.push(e);
  return e;
}

/** The environments made in this process since the last disposeEnvs() (an e2e file's, in a test run). */
const made: Env[] = [];

/** The instances (folders with an instance.json) in the environments made since the last disposeEnvs(). */
export async function madeInstances(): Promise<{ e: Env; name: string }[]> {
  const out: { e: Env; name: string }[] = [];
  for (const e of made) {
    for (const n of await fsp.readdir(e.home).catch(() => [] as string[]))
      if (fs.existsSync(path.join(e.home, n, 'instance.json'))) out.push({ e, name: n });
  }
  return out;
}

/** A temporary folder removed when this process ends (build contexts and the like that tests make). */
export async function scratchDir(prefix: string): Promise<string> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), `berth-${prefix}-`));
  // One list and one exit handler per process, however often a test run loads this module afresh.
  const g = globalThis as { berthScratch?: string[] };
  if (!g.berthScratch) {
    const list: string[] = (g.berthScratch = []);
    process.once('exit', () => {
      for (const d of list) fs.rmSync(d, { recursive: true, force: true });
    });
  }
  g.berthScratch.push(dir);
  return dir;
}

/**
 * What an e2e file leaves behind, removed after it (test/support/per-file.ts runs this after the file's own
 * afterAll): every instance still in its environments' BERTH_HOMEs is deleted (its VM and agent stopped, its
 * context removed) and their folders go. Returns the instances it had to delete: a file should delete its own.
 */
export async function disposeEnvs(): Promise<string[]> {
  const left: string[] = [];
  for (const { e, name } of await madeInstances()) {
    left.push(`${name} (${e.home})`);
    await berth(e, ['delete', name, '--force']);
  }
  for (const e of made.splice(0))
    await fsp.rm(e.root, { recursive: true, force: true }).catch(() => undefined);
  return left;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(e: Env, file: string, args: string[], opts: Options): Promise<RunResult> {
  const t0 = performance.now();
  const r = await execa(file, args, { env: e.env, reject: false, extendEnv: false, ...opts });
  const res = { code: r.exitCode ?? -1, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
  if (file === process.execPath && args[0] === BERTH_BIN)
    await recordBerth(args.slice(1), performance.now() - t0, res);
  return res;
}

/** r, or an error naming what failed with its stderr unless it exited 0. */
export function ok(what: string, r: RunResult): RunResult {
  if (r.code !== 0) throw new Error(`${what} failed:\n${r.stderr}`);
  return r;
}

/** `berth ARGS` from this checkout; never throws on an exit code (tests check it). */
export function berth(e: Env, args: string[], opts: Options = {}): Promise<RunResult> {
  return run(e, process.execPath, [BERTH_BIN, ...args], opts);
}

/** `berth ARGS`, throwing with its stderr unless it exits 0. */
export async function berthOk(e: Env, args: string[], opts: Options = {}): Promise<RunResult> {
  return ok(`berth ${args.join(' ')}`, await berth(e, args, opts));
}

/** The host's `docker ARGS`; never throws on an exit code. */
export function docker(e: Env, args: string[], opts: Options = {}): Promise<RunResult> {
  return run(e, 'docker', args, opts);
}

/** The host's `docker ARGS`, throwing with its stderr unless it exits 0. */
export async function dockerOk(e: Env, args: string[], opts: Options = {}): Promise<RunResult> {
  return ok(`docker ${args.join(' ')}`, await docker(e, args, opts));
}

/**
 * Writes an instance's berth.yaml before its first start (in a 0700 instance folder, as berth makes it);
 * returns the file's path.
 */
export async function writeConfig(e: Env, name: string, yaml: string): Promise<string> {
  const dir = path.join(e.home, name);
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, 'berth.yaml');
  await fsp.writeFile(file, yaml);
  return file;
}

/** True when stderr holds no JavaScript stack trace (what users see must be a message, not a crash). */
export function noStackTrace(stderr: string): boolean {
  return !/\n\s+at .+\(.*:\d+:\d+\)/.test(stderr);
}

/** Prints the last lines of an instance's agent log and guest console: what a test shows when it fails on CI. */
export async function printInstanceLogs(e: Env, name: string, lines = 60): Promise<void> {
  const tail = async (f: string) =>
    (await fsp.readFile(path.join(e.home, name, f), 'utf8').catch(() => '(none)'))
      .split('\n')
      .slice(-lines)
      .join('\n');
  console.log(`[${name}] ha.log, last ${lines} lines:\n${await tail('ha.log')}`);
  console.log(`[${name}] serial.log, last ${lines} lines:\n${await tail('serial.log')}`);
  console.log(`[${name}] QEMU's stderr:\n${await tail('serial.log.qemu-stderr')}`);
}
