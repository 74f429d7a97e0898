/**
 * Where the e2e suite's time goes: each `berth start|stop|suspend|restart|delete` a test runs, with its wall
 * time, exit code, the phases its progress lines give ("[ 12.3s] booting the VM" …) and whether the guest's
 * kernel panicked during it, appended as one JSON line to $BERTH_TEST_TIMINGS when that is set (scripts/test.sh
 * sets it; scripts/test-report.mjs prints the table at the end of the run).
 */
import fsp from 'node:fs/promises';
import type { RunResult } from './env.js';

const TIMED = new Set(['start', 'stop', 'suspend', 'restart', 'delete']);

export interface BerthTiming {
  command: string;
  instance?: string;
  ms: number;
  code: number;
  /** Progress lines as [seconds since the command began, text]. */
  phases: [number, string][];
  /** The guest's kernel panicked and the agent booted it once more (or restarted it). */
  panics: number;
  /** The kernel's words for each panic ("Attempted to kill init! …"), as berth reported them. */
  panicTexts?: string[];
  /** When it ended. */
  at: string;
  /** The test file that ran it (set by test/support/per-file.ts). */
  file?: string;
}

/** The progress lines of a berth command's stderr: "[  4.2s] text". */
export function progressPhases(stderr: string): [number, string][] {
  const out: [number, string][] = [];
  for (const line of stderr.split('\n')) {
    const m = /^\[\s*(\d+(?:\.\d+)?)s\] (?! )(.+)$/.exec(line);
    if (m) out.push([Number(m[1]), m[2]!]);
  }
  return out;
}

/**
 * The kernel's words for each panic a berth command reported. A start boots once more after a panic and says
 * so ("… kernel panicked (WORDS) while it booted: booting it once more", however many times that line is
 * printed: one panic); a second panic ends the start with an error that names it ("error: … kernel panicked
 * (WORDS)"; its hint and details may repeat the words: still one panic).
 */
export function panicTexts(stderr: string): string[] {
  const lines = stderr.split('\n');
  const words = (l: string | undefined) => (l ? /kernel panicked \(([^)]*)\)/.exec(l)?.[1] : undefined);
  const again = words(
    lines.find((l) => /kernel panicked \(.*\) while it booted: booting it once more/.test(l)),
  );
  const ended = words(lines.find((l) => /error: .*kernel panicked \(/.test(l)));
  return [again, ended].filter((w): w is string => w !== undefined);
}

export async function recordBerth(args: string[], ms: number, r: RunResult): Promise<void> {
  const file = process.env.BERTH_TEST_TIMINGS;
  const command = args.find((a) => !a.startsWith('-'));
  if (!file || !command || !TIMED.has(command)) return;
  const rest = args.slice(args.indexOf(command) + 1);
  const panics = panicTexts(r.stderr);
  const t: BerthTiming = {
    command,
    instance: rest.find((a) => !a.startsWith('-')),
    ms: Math.round(ms),
    code: r.code,
    phases: progressPhases(r.stderr),
    panics: panics.length,
    panicTexts: panics,
    at: new Date().toISOString(),
    file: (globalThis as { berthTestFile?: string }).berthTestFile,
  };
  await fsp.appendFile(file, JSON.stringify(t) + '\n');
}
