import { describe, expect, it } from 'vitest';
import { lineSplitter } from './lines.js';

function collect(limits = {}) {
  const lines: string[] = [];
  const overflows: number[] = [];
  const push = lineSplitter((l) => lines.push(l), {
    ...limits,
    onOverflow: (n: number) => overflows.push(n),
  });
  return { lines, overflows, push };
}

describe('lineSplitter', () => {
  it('splits chunks into trimmed, non-empty lines, joining a line across chunks', () => {
    const c = collect();
    c.push('a\nb');
    c.push('c\n\n  d  \ne');
    expect(c.lines).toEqual(['a', 'bc', 'd']);
    c.push('\n');
    expect(c.lines).toEqual(['a', 'bc', 'd', 'e']);
  });

  it('drops a line longer than maxLine, once, and goes on with the next one', () => {
    const c = collect({ maxLine: 10 });
    c.push('ok\n' + 'x'.repeat(8));
    c.push('x'.repeat(8));
    c.push('y'.repeat(100));
    c.push('z\nafter\n');
    expect(c.lines).toEqual(['ok', 'after']);
    expect(c.overflows).toHaveLength(1);
    c.push('0123456789\n'); // exactly the limit
    c.push('01234567890\nend\n');
    expect(c.lines).toEqual(['ok', 'after', '0123456789', 'end']);
    expect(c.overflows).toHaveLength(2);
  });

  it('64 MiB without a newline: one overflow, nothing kept, the next line comes through', () => {
    const c = collect({ maxLine: 1 << 20 });
    const chunk = 'x'.repeat(64 * 1024);
    for (let i = 0; i < 1024; i++) c.push(chunk);
    c.push('\nfine\n');
    expect(c.lines).toEqual(['fine']);
    expect(c.overflows).toHaveLength(1);
  });
});
