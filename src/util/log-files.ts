import fsp from 'node:fs/promises';

/**
 * Text a guest wrote (its console, its error lines) made safe for a terminal: control characters other than
 * newline and tab are dropped, so no escape sequence (a window title, the clipboard, cursor moves) passes.
 */
export function printable(text: string): string {
  return text.replace(/[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]/g, '');
}

/** The last `maxBytes` of a file (from a line start when it is cut), read by seeking: memory stays bounded. */
export async function readTail(file: string, maxBytes: number): Promise<{ text: string; size: number }> {
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(file, 'r');
  } catch {
    return { text: '', size: 0 };
  }
  try {
    const { size } = await fh.stat();
    const start = Math.max(0, size - maxBytes);
    const buf = Buffer.alloc(size - start);
    await fh.read(buf, 0, buf.length, start);
    let text = buf.toString('utf8');
    // Cut mid-line: from the next line, unless that would leave nothing (one long last line).
    const nl = text.indexOf('\n');
    if (start > 0 && nl >= 0 && nl < text.length - 1) text = text.slice(nl + 1);
    return { text, size };
  } finally {
    await fh.close();
  }
}

/**
 * Keeps a log file that something else appends to (O_APPEND: QEMU's console with append=on, the agent's log)
 * under `maxBytes`: past it, the last `keepBytes` go to FILE.1 (replacing the one before) and the file is
 * emptied in place; writers go on at its new end. True when it was cut.
 */
export async function capLogFile(file: string, maxBytes: number, keepBytes: number): Promise<boolean> {
  const st = await fsp.stat(file).catch(() => undefined);
  if (!st || st.size <= maxBytes) return false;
  const { text } = await readTail(file, keepBytes);
  await fsp.writeFile(`${file}.1`, text, { mode: 0o600 });
  await fsp.truncate(file, 0);
  return true;
}
