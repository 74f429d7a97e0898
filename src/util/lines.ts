export interface LineLimits {
  /** The longest line accepted, in characters; a longer one calls onOverflow and is discarded. */
  maxLine?: number;
  /** Called once per line that grew past maxLine (with how long it had got); the rest of it is skipped. */
  onOverflow?: (length: number) => void;
}

/**
 * Turns a stream of text chunks into complete, trimmed, non-empty lines (a partial line waits for its end).
 * Each chunk is scanned once (the pending part of a line is never rescanned), and with `maxLine` a line that
 * never ends costs bounded memory: what a peer that is not trusted sends (the guest) cannot stall or exhaust
 * the process.
 */
export function lineSplitter(
  onLine: (line: string) => void,
  limits: LineLimits = {},
): (chunk: string) => void {
  const max = limits.maxLine ?? Infinity;
  let parts: string[] = [];
  let pending = 0;
  let skipping = false; // inside a line that overflowed: drop until its end
  return (chunk: string) => {
    let from = 0;
    let i: number;
    while ((i = chunk.indexOf('\n', from)) >= 0) {
      const piece = chunk.slice(from, i);
      from = i + 1;
      if (skipping) {
        skipping = false;
        continue;
      }
      if (pending + piece.length > max) {
        limits.onOverflow?.(pending + piece.length);
        parts = [];
        pending = 0;
        continue;
      }
      const line = (parts.length ? parts.join('') + piece : piece).trim();
      parts = [];
      pending = 0;
      if (line) onLine(line);
    }
    if (from >= chunk.length || skipping) return;
    const rest = chunk.slice(from);
    if (pending + rest.length > max) {
      limits.onOverflow?.(pending + rest.length);
      parts = [];
      pending = 0;
      skipping = true;
      return;
    }
    parts.push(rest);
    pending += rest.length;
  };
}
