import { BerthError } from '../util/errors.js';

export const isTty = (): boolean => Boolean(process.stderr.isTTY);

/** Progress and notices: stderr, so stdout carries only results (and --json). */
export function info(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

export function step(msg: string, elapsedMs?: number): void {
  const t = elapsedMs !== undefined ? `[${(elapsedMs / 1000).toFixed(1).padStart(5)}s] ` : '';
  process.stderr.write(isTty() ? `\x1b[2m${t}\x1b[0m${msg}\n` : `${t}${msg}\n`);
}

export function result(msg: string): void {
  process.stdout.write(`${msg}\n`);
}

export function json(v: unknown): void {
  process.stdout.write(JSON.stringify(v, null, 2) + '\n');
}

export function printError(err: unknown, debug: boolean): void {
  if (err instanceof BerthError) {
    process.stderr.write(`berth: error: ${err.message}\n`);
    if (err.details) process.stderr.write(err.details.replace(/^/gm, '  ') + '\n');
    if (err.hint) process.stderr.write(`hint: ${err.hint}\n`);
    if (debug)
      process.stderr.write(
        `${err.stack ?? ''}\n${err.cause ? `cause: ${String((err.cause as Error).stack ?? err.cause)}\n` : ''}`,
      );
    return;
  }
  const e = err as Error;
  process.stderr.write(`berth: internal error: ${e?.message ?? String(err)}\n`);
  if (debug) process.stderr.write(`${e?.stack ?? ''}\n`);
  else process.stderr.write('hint: run again with --debug for details\n');
}

export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  '))
    .join('\n');
}
