import { spawn, type ChildProcess } from 'node:child_process';
import { lineSplitter } from '../util/lines.js';

export interface PipelineStage {
  file: string;
  args: string[];
  /** Each line the program writes on stderr. */
  onLine?: (line: string) => void;
}

/** How each stage ended: its exit code, or the signal's name; 'not started: …' when it could not start. */
export type StageEnd = number | string;

/** berth got SIGINT, SIGTERM or SIGHUP while the pipeline ran: its stages are stopped and have ended. */
export class PipelineInterrupted extends Error {
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted (${signal})`);
  }
}

/**
 * Runs programs as a shell pipeline does (each one's stdout into the next one's stdin; the last one's stdout is
 * dropped) and resolves when all have ended, with how each ended.
 * - The parent keeps no copy of a pipe it handed on, so a stage that ends early gives the one before it EPIPE
 *   instead of a write that blocks forever.
 * - Each stage is the leader of its own process group: a program that signals its whole group (mmdebstrap sends
 *   SIGHUP to its group when its output breaks) reaches only its own helpers, not berth and the scripts around
 *   it; and the group is what berth stops.
 * - When a stage fails (a code other than 0, or a signal), the stages still running are stopped (SIGTERM to
 *   their groups, SIGKILL 5 s later), so nothing waits on a half-finished stream.
 * - SIGINT, SIGTERM or SIGHUP to berth while it runs stop the groups too (they no longer share berth's
 *   terminal group); once they have ended, it rejects with PipelineInterrupted, so that the caller can clean
 *   up before it ends the process with that signal.
 */
export async function runPipeline(stages: PipelineStage[], env: NodeJS.ProcessEnv): Promise<StageEnd[]> {
  const children: ChildProcess[] = [];
  const ended: boolean[] = [];
  const stopAll = (signal: NodeJS.Signals) => {
    children.forEach((c, i) => {
      if (ended[i] || c.pid === undefined) return;
      try {
        process.kill(-c.pid, signal);
      } catch {
        // the group is gone already
      }
    });
  };
  let interrupted: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    interrupted ??= signal;
    stopAll('SIGTERM');
    killTimer ??= setTimeout(() => stopAll('SIGKILL'), 5000);
  };
  const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  let killTimer: NodeJS.Timeout | undefined;
  for (const s of SIGNALS) process.on(s, onSignal);
  try {
    const done = stages.map((stage, i) => {
      const prev = children[i - 1];
      const last = i === stages.length - 1;
      const child = spawn(stage.file, stage.args, {
        stdio: [prev?.stdout ?? 'ignore', last ? 'ignore' : 'pipe', 'pipe'],
        env,
        detached: true,
      });
      children.push(child);
      ended.push(false);
      // The next program holds that pipe now; this process's copy would keep the writer from seeing EPIPE.
      prev?.stdout?.destroy();
      child.stderr!.setEncoding('utf8');
      child.stderr!.on(
        'data',
        lineSplitter((line) => stage.onLine?.(line)),
      );
      const stderrEnd = new Promise<void>((resolve) => child.stderr!.on('close', resolve));
      const exited = new Promise<StageEnd>((resolve) => {
        child.on('error', (err) => resolve(`not started: ${err.message}`));
        // 'exit', not 'close': 'close' never comes for a child whose stdout was handed to the next one.
        child.on('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
      });
      return exited.then(async (end) => {
        ended[i] = true;
        if (end !== 0 && !killTimer) {
          stopAll('SIGTERM');
          killTimer = setTimeout(() => stopAll('SIGKILL'), 5000);
        }
        await stderrEnd;
        return end;
      });
    });
    const ends = await Promise.all(done);
    if (interrupted) throw new PipelineInterrupted(interrupted);
    return ends;
  } finally {
    if (killTimer) clearTimeout(killTimer);
    for (const s of SIGNALS) process.removeListener(s, onSignal);
  }
}
