#!/usr/bin/env node
// The table at the end of scripts/test.sh: where the run's time went. Reads the stage times test.sh wrote, the
// e2e run's vitest JSON (per file and per case) and the berth commands the tests ran (test/support/timings.ts).
// Usage: test-report.mjs DIR   (DIR holds stages.tsv, e2e.json, berth.jsonl; any may be missing)
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const dir = process.argv[2] ?? '.test-results';
const read = (f) => {
  try {
    return fs.readFileSync(path.join(dir, f), 'utf8');
  } catch {
    return undefined;
  }
};
const s = (ms) => `${(ms / 1000).toFixed(1)} s`;
const median = (xs) => {
  if (!xs.length) return 0;
  const a = [...xs].sort((x, y) => x - y);
  const m = Math.floor(a.length / 2);
  return a.length % 2 ? a[m] : (a[m - 1] + a[m]) / 2;
};
const table = (head, rows) => {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (r) =>
    r.map((c, i) => (i === 0 ? String(c).padEnd(w[i]) : String(c).padStart(w[i]))).join('  ');
  return [line(head), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n');
};
const out = [];

const stages = (read('stages.tsv') ?? '')
  .split('\n')
  .filter(Boolean)
  .map((l) => l.split('\t'));
if (stages.length) {
  const total = stages.reduce((a, [, ms]) => a + Number(ms), 0);
  out.push('## scripts/test.sh stages', '');
  out.push(
    table(
      ['stage', 'wall', 'exit'],
      [...stages.map(([n, ms, code]) => [n, s(Number(ms)), code]), ['total', s(total), '']],
    ),
  );
  out.push('');
}

// A run killed mid-write leaves a cut last line: skipped, not fatal.
const commands = (read('berth.jsonl') ?? '').split('\n').flatMap((l) => {
  try {
    return l ? [JSON.parse(l)] : [];
  } catch {
    return [];
  }
});
let files = [];
// Per file: wall time from test/support/per-file.ts (setup included), cases from vitest's JSON.
const walls = new Map(
  (read('files.jsonl') ?? '').split('\n').flatMap((l) => {
    try {
      const j = l ? JSON.parse(l) : undefined;
      return j ? [[j.file, j.end - j.start]] : [];
    } catch {
      return [];
    }
  }),
);
const e2e = read('e2e.json');
if (e2e) {
  const j = JSON.parse(e2e);
  files = j.testResults.map((f) => {
    const name = path.relative(REPO, f.name);
    return { name, ms: walls.get(name) ?? f.endTime - f.startTime, cases: f.assertionResults };
  });
  for (const c of commands) c.file ??= '(outside a file)';
  out.push(
    walls.size
      ? '## e2e files (wall time, their beforeAll and afterAll included)'
      : '## e2e files (time of their cases only: no per-file record)',
    '',
  );
  out.push(
    table(
      ['file', 'wall', 'cases', 'failed', 'skipped', 'berth starts', 'start time'],
      [...files]
        .sort((a, b) => b.ms - a.ms)
        .map((f) => {
          const starts = commands.filter((c) => c.file === f.name && c.command === 'start');
          return [
            f.name.replace(/^test\/e2e\//, ''),
            s(f.ms),
            f.cases.length,
            f.cases.filter((c) => c.status === 'failed').length,
            f.cases.filter((c) => c.status === 'skipped' || c.status === 'pending').length,
            starts.length,
            s(starts.reduce((a, c) => a + c.ms, 0)),
          ];
        }),
    ),
  );
  out.push('', `e2e total: ${s(files.reduce((a, f) => a + f.ms, 0))} in ${files.length} files`, '');
  const cases = files.flatMap((f) => f.cases.map((c) => ({ file: f.name, ...c })));
  out.push('## slowest e2e cases (the case body; setup is in the file figure)', '');
  out.push(
    table(
      ['case', 'file', 'time', 'status'],
      cases
        .filter((c) => typeof c.duration === 'number')
        .sort((a, b) => b.duration - a.duration)
        .slice(0, 15)
        .map((c) => [
          c.title.slice(0, 90),
          path.basename(c.file).replace(/\.e2e\.test\.ts$/, ''),
          s(c.duration),
          c.status,
        ]),
    ),
  );
  out.push('');
}

if (commands.length) {
  out.push('## berth commands run by the tests', '');
  const kinds = [...new Set(commands.map((c) => c.command))];
  out.push(
    table(
      ['command', 'count', 'total', 'median', 'max', 'failed'],
      kinds.map((k) => {
        const cs = commands.filter((c) => c.command === k);
        const ms = cs.map((c) => c.ms);
        return [
          k,
          cs.length,
          s(ms.reduce((a, b) => a + b, 0)),
          s(median(ms)),
          s(Math.max(...ms)),
          cs.filter((c) => c.code !== 0).length,
        ];
      }),
    ),
  );
  // A start's phases from its progress lines: each phase lasts until the next line (the last until it returned).
  const phaseTotals = new Map();
  for (const c of commands.filter((x) => x.command === 'start' && x.code === 0)) {
    c.phases.forEach(([at, text], i) => {
      const until = i + 1 < c.phases.length ? c.phases[i + 1][0] : c.ms / 1000;
      const key = text
        .replace(/\s*\(.*$/, '')
        .replace(/\d+(\.\d+)?\s*(s|MiB|%)/g, 'N')
        .slice(0, 60);
      const e = phaseTotals.get(key) ?? [];
      e.push((until - at) * 1000);
      phaseTotals.set(key, e);
    });
  }
  if (phaseTotals.size) {
    out.push('', 'successful starts, by phase (from their progress lines):', '');
    out.push(
      table(
        ['phase', 'starts', 'total', 'median'],
        [...phaseTotals.entries()]
          .sort((a, b) => b[1].reduce((x, y) => x + y, 0) - a[1].reduce((x, y) => x + y, 0))
          .slice(0, 12)
          .map(([k, v]) => [k, v.length, s(v.reduce((x, y) => x + y, 0)), s(median(v))]),
      ),
    );
  }
  // heal's crash-loop case boots a guest with an empty OS disk on purpose: its kernel panics with "Attempted to
  // kill init!" at every boot. Any other panic is one nobody planned (the rare early panic under TCG).
  const texts = commands.flatMap((c) => c.panicTexts ?? Array(c.panics).fill('(words not recorded)'));
  const planned = texts.filter((t) => /Attempted to kill init/.test(t)).length;
  out.push(
    '',
    `guest kernel panics during berth commands: ${texts.length - planned} unplanned, ${planned} planned (a guest with no root file system)`,
  );
  for (const t of texts.filter((t) => !/Attempted to kill init/.test(t))) out.push(`  unplanned: ${t}`);
  out.push('');
}

process.stdout.write(out.length ? out.join('\n') + '\n' : `test-report: nothing recorded in ${dir}\n`);
