/**
 * A setup file of the e2e run (vitest.e2e.config.ts): the wall time of each test file, its beforeAll and
 * afterAll included (vitest's own JSON counts only the cases), appended as JSON lines to $BERTH_TEST_FILES,
 * and the file's name for test/support/timings.ts, which gives each berth command to the file that ran it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { REPO } from './env.js';

let t0 = 0;
let file = '';

beforeAll((suite) => {
  const fp =
    (suite as { filepath?: string; file?: { filepath?: string } }).filepath ?? suite.file?.filepath ?? '';
  file = path.relative(REPO, fp);
  (globalThis as { berthTestFile?: string }).berthTestFile = file;
  t0 = Date.now();
});

afterAll(() => {
  const out = process.env.BERTH_TEST_FILES;
  if (out) fs.appendFileSync(out, JSON.stringify({ file, start: t0, end: Date.now() }) + '\n');
});
