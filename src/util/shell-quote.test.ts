import { describe, expect, it } from 'vitest';
import { shellQuote } from './shell-quote.js';

describe('shellQuote', () => {
  it('leaves plain words alone and quotes the rest', () => {
    expect(shellQuote('ls')).toBe('ls');
    expect(shellQuote('exit 3')).toBe("'exit 3'");
    expect(shellQuote("it's")).toBe("'it'\\''s'");
    expect(['sh', '-c', 'exit 3'].map(shellQuote).join(' ')).toBe("sh -c 'exit 3'");
  });
});
