import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { capLogFile, printable, readTail } from './log-files.js';

describe('log files', () => {
  it('printable drops escape sequences and other control characters, keeps text, newlines and tabs', () => {
    expect(printable('ok\x1b]52;c;ZXZpbA==\x07 done\r\n\tnext\x9b2J')).toBe(
      'ok]52;c;ZXZpbA== done\n\tnext2J',
    );
    expect(printable('plain ünïcode ✓')).toBe('plain ünïcode ✓');
  });

  it('readTail reads the end from a line start; capLogFile keeps the tail in FILE.1 and empties the file', async () => {
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'berth-logs-'));
    const f = path.join(dir, 'serial.log');
    await fsp.writeFile(f, Array.from({ length: 1000 }, (_, i) => `line ${i}`).join('\n') + '\n');
    const t = await readTail(f, 30);
    expect(t.text).toBe('line 997\nline 998\nline 999\n');
    expect(await readTail(path.join(dir, 'missing'), 10)).toEqual({ text: '', size: 0 });
    const one = path.join(dir, 'one-line');
    await fsp.writeFile(one, 'x'.repeat(100) + ' end\n');
    expect((await readTail(one, 10)).text).toBe('xxxxx end\n'); // one long last line: kept, cut
    expect(await capLogFile(f, 1 << 20, 100)).toBe(false);
    // An appender keeps writing at the (new) end after a cut.
    const fd = fs.openSync(f, 'a');
    expect(await capLogFile(f, 1000, 30)).toBe(true);
    expect(await fsp.readFile(`${f}.1`, 'utf8')).toBe('line 997\nline 998\nline 999\n');
    fs.writeSync(fd, 'after the cut\n');
    fs.closeSync(fd);
    expect(await fsp.readFile(f, 'utf8')).toBe('after the cut\n');
    await fsp.rm(dir, { recursive: true });
  });
});
