import { describe, expect, it } from 'vitest';
import { runPipeline } from './pipeline.js';

const sh = (script: string, lines?: string[]) => ({
  file: 'sh',
  args: ['-c', script],
  ...(lines ? { onLine: (l: string) => lines.push(l) } : {}),
});

describe('runPipeline', () => {
  it('streams each stage into the next and reports every exit code', async () => {
    const out: string[] = [];
    const ends = await runPipeline(
      [sh('head -c 5000000 /dev/zero'), sh('wc -c >&2', out), sh('cat >/dev/null')],
      process.env,
    );
    expect(ends).toEqual([0, 0, 0]);
    expect(out.map((l) => l.trim())).toEqual(['5000000']);
  });

  it('a stage that ends early, with success, gives the one writing into it a broken pipe', async () => {
    // With the parent's copy of the pipe left open, `yes` would block for good once the pipe is full: the
    // test's timeout is what catches that.
    const ends = await runPipeline([sh('exec yes'), sh('head -c 10 >/dev/null'), sh('cat')], process.env);
    expect(ends[1]).toBe(0);
    // It ended: EPIPE (exit 1) or SIGPIPE. Being a failure, that stops what still runs after it (cat).
    expect(ends[0]).not.toBe(0);
  }, 10_000);

  it('a failed stage stops the others, even one that would never end on its own', async () => {
    const ends = await runPipeline([sh('exec sleep 60'), sh('exit 2')], process.env);
    expect(ends).toEqual(['SIGTERM', 2]);
  });

  it('a program that cannot start is reported, not thrown', async () => {
    const ends = await runPipeline([{ file: '/nonexistent/prog', args: [] }], process.env);
    expect(String(ends[0])).toMatch(/^not started: /);
  });
});
