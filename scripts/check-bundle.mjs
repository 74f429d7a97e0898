#!/usr/bin/env node
// The dashboard's size budget (run by "npm run build"): what a browser downloads for the page, gzipped, must stay
// within BUDGET. It fails the build with what grew, so a heavy dependency is a decision, not an accident.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

const BUDGET = 160 * 1024;
const dir = path.resolve('dist/web');
const files = [];
const walk = (d) => {
  for (const e of fs.readdirSync(d, { withFileTypes: true })) {
    const p = path.join(d, e.name);
    if (e.isDirectory()) walk(p);
    else if (/\.(js|css|html)$/.test(e.name)) files.push(p);
  }
};
if (!fs.existsSync(dir)) {
  console.error('check-bundle: dist/web is missing: run "npm run build"');
  process.exit(1);
}
walk(dir);
let total = 0;
const rows = files.map((f) => {
  const gz = zlib.gzipSync(fs.readFileSync(f), { level: 9 }).length;
  total += gz;
  return `  ${path.relative(dir, f)}: ${(gz / 1024).toFixed(1)} KiB gzipped`;
});
if (total > BUDGET) {
  console.error(
    `check-bundle: the dashboard is ${(total / 1024).toFixed(1)} KiB gzipped, over its ${BUDGET / 1024} KiB budget:\n${rows.join('\n')}\nhint: look for a dependency that grew, or raise BUDGET in scripts/check-bundle.mjs with a reason`,
  );
  process.exit(1);
}
if (process.env.BERTH_BUNDLE_REPORT)
  console.log(`${rows.join('\n')}\n  total: ${(total / 1024).toFixed(1)} KiB`);
