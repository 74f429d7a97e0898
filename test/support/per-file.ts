/**
 * A setup file of the e2e run (vitest.e2e.config.ts), around each test file:
 * - its wall time, its beforeAll and afterAll included (vitest's own JSON counts only the cases), appended as
 *   JSON lines to $BERTH_TEST_FILES, and its name for test/support/timings.ts, which gives each berth command
 *   to the file that ran it;
 * - a failed case prints the agent log, the guest console and QEMU's stderr of every instance the file's test
 *   environments hold (what CI's log must show, since the folders go at the end);
 * - its teardown: whatever instances its test environments (makeEnv) still hold are deleted, and their
 *   folders removed, so no file leaves a VM, an agent, a context or a temporary folder behind.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { disposeEnvs, madeInstances, printInstanceLogs, REPO } from './env.js';

let t0 = 0;
let file = '';

beforeAll((suite) => {
  const fp =
    (suite as { filepath?: string; file?: { filepath?: string } }).filepath ?? suite.file?.filepath ?? '';
  file = path.relative(REPO, fp);
  (globalThis as { berthTestFile?: string }).berthTestFile = file;
  t0 = Date.now();
});

afterEach(async (ctx) => {
  if (ctx.task.result?.state !== 'fail') return;
  for (const { e, name } of await madeInstances()) await printInstanceLogs(e, name, 40);
});

afterAll(async () => {
  // The file's own afterAll has run (hooks after a file run in reverse): what it left behind goes now.
  const left = await disposeEnvs();
  if (left.length) console.log(`[${file}] deleted what it left running: ${left.join(', ')}`);
  const out = process.env.BERTH_TEST_FILES;
  if (out) fs.appendFileSync(out, JSON.stringify({ file, start: t0, end: Date.now() }) + '\n');
});
