#!/usr/bin/env node
// Offline supply-chain check of package-lock.json (npm's audit endpoint is not reachable from these machines):
// every package comes from the npm registry (its https URL, or no "resolved": npm's default) with a sha512
// integrity, and no dependency is a git
// URL, a tarball URL or a local path. Exit 1 naming each one that does not.
import fs from 'node:fs';

const lock = JSON.parse(fs.readFileSync(new URL('../package-lock.json', import.meta.url), 'utf8'));
const bad = [];
for (const [where, p] of Object.entries(lock.packages ?? {})) {
  if (where === '' || p.link) continue; // the project itself; workspace links
  // No "resolved" is the registry's (npm's omit-lockfile-registry-resolved); any other must be the registry.
  if (p.resolved !== undefined && !p.resolved.startsWith('https://registry.npmjs.org/'))
    bad.push(`${where}: resolved from ${p.resolved}`);
  else if (!/^sha512-/.test(p.integrity ?? '')) bad.push(`${where}: no sha512 integrity`);
}
if (lock.lockfileVersion < 2) bad.push(`lockfileVersion ${lock.lockfileVersion}: regenerate with npm 7+`);
if (bad.length) {
  console.error(
    `package-lock.json: ${bad.length} package(s) not from the registry with an integrity:\n${bad.join('\n')}`,
  );
  process.exit(1);
}
console.error(
  `package-lock.json: ${Object.keys(lock.packages).length - 1} packages, all from the npm registry with sha512 integrity`,
);
