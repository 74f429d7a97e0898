/**
 * What every measurement module is handed: the throwaway environment berth and docker run in, the sizes of
 * this run (`--quick` is a smoke test of the harness, not a measurement), and the log.
 */
import path from 'node:path';
import { berthOk, dockerOk, type Env, type RunResult } from '../test/support/env.js';

export const CPUS = 2;
export const MEM_MIB = 2048;
export const NAME = 'bench';
/** A second instance, with one synchronised folder, measured after the first is gone (one VM at a time). */
export const SYNC_NAME = 'bench-sync';
export const SHARE_MODES = ['mmap', 'loose', 'none'] as const;

export interface Sizes {
  /** Runs per start metric (and per throughput figure). */
  runs: number;
  pings: number;
  dockerRuns: number;
  xferBytes: number;
  conns: number;
  listenTrials: number;
  fileMiB: number;
  smallFiles: number;
}

export function sizes(quick: boolean): Sizes {
  return {
    runs: quick ? 1 : 3,
    pings: quick ? 100 : 500,
    dockerRuns: quick ? 3 : 10,
    xferBytes: (quick ? 16 : 512) * 1024 ** 2,
    conns: quick ? 50 : 1000,
    listenTrials: quick ? 3 : 20,
    fileMiB: quick ? 16 : 256,
    smallFiles: quick ? 200 : 2000,
  };
}

export interface Bench {
  /** BERTH_HOME and DOCKER_CONFIG under e.root, the run's scratch folder (removed at the end). */
  e: Env;
  n: Sizes;
  log: (m: string) => void;
}

/** The engine socket of an instance of this run. */
export function socketOf(b: Bench, name = NAME): string {
  return path.join(b.e.home, name, 'docker.sock');
}

/** The host's `docker -H unix://SOCKET ARGS`, throwing unless it exits 0. */
export function dockerAt(b: Bench, socket: string, args: string[]): Promise<RunResult> {
  return dockerOk(b.e, ['-H', `unix://${socket}`, ...args]);
}

/** A shell script run in an instance's guest over `berth ssh`; its stdout. */
export async function guestSh(b: Bench, script: string, name = NAME): Promise<string> {
  return (await berthOk(b.e, ['ssh', name, '--', 'sh', '-c', script])).stdout;
}

/** ms that fn takes. */
export async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}
