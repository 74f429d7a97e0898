import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as prettier from 'prettier';
import { describe, expect, it } from 'vitest';
import { renderReport } from './report.js';
import type { BenchResult, PortFigures } from './result.js';

// The renderer against a fixed full run's results (bench/fixtures/results-2026-11-25.json: a copy, so that a new
// run's bench/results/latest.json changes no test).
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DOC = path.join(REPO, 'docs', 'benchmarks.md');
const latest = JSON.parse(
  fs.readFileSync(path.join(REPO, 'bench', 'fixtures', 'results-2026-11-25.json'), 'utf8'),
) as BenchResult;
const io = latest.io!;
const md = renderReport(latest);
const lines = md.split('\n');

/** The table whose header row starts with these cells: its header and its body rows, cells trimmed. */
function tableStartingWith(text: string, ...first: string[]): { header: string[]; rows: string[][] } {
  const all = text.split('\n');
  const cells = (l: string) =>
    l
      .slice(1, -1)
      .split('|')
      .map((c) => c.trim());
  const at = all.findIndex((l) => l.startsWith('|') && first.every((f, i) => cells(l)[i] === f));
  if (at < 0) throw new Error(`no table starting with ${first.join(' | ')}`);
  expect(cells(all[at + 1]!).every((c) => /^-{3,}$/.test(c))).toBe(true);
  const body: string[][] = [];
  for (let i = at + 2; all[i]?.startsWith('|'); i++) body.push(cells(all[i]!));
  return { header: cells(all[at]!), rows: body };
}

const row = (t: { rows: string[][] }, name: string) => {
  const r = t.rows.find((c) => c[0] === name);
  if (!r) throw new Error(`no row "${name}"`);
  return r;
};

const x2 = (v: number) => `${v.toFixed(2)}×`;

describe('renderReport on a full run of 2026-11-25', () => {
  it('docs/benchmarks.md is the rendering of the committed bench/results/latest.json', () => {
    const committed = JSON.parse(
      fs.readFileSync(path.join(REPO, 'bench', 'results', 'latest.json'), 'utf8'),
    ) as BenchResult;
    expect(renderReport(committed)).toBe(fs.readFileSync(DOC, 'utf8'));
  });

  it('comes out as Prettier formats it, so a freshly written doc passes npm run lint', async () => {
    const options = await prettier.resolveConfig(DOC);
    expect(await prettier.format(md, { ...options, filepath: DOC })).toBe(md);
  });

  it('has the sections in order, and says how and where it ran', () => {
    const headings = lines.filter((l) => l.startsWith('#'));
    expect(headings).toEqual(['# Benchmarks', '## Port forwarding', '## Shared folders']);
    expect(lines[2]).toBe(
      'Run 2026-11-25T16:09:20.585Z by `npm run bench` on 2 × AMD EPYC, 24 GiB, Linux 6.18.44-fc-v595,',
    );
    expect(lines[3]).toMatch(/^accelerator tcg .* 3 run\(s\) per start metric; medians\.$/);
    expect(md.endsWith('one file at a time).\n')).toBe(true);
  });

  it('main table: every metric, its figures formatted with their unit, ratio = berth / baseline', () => {
    const t = tableStartingWith(md, 'metric');
    expect(t.header).toEqual(['metric', 'berth', 'baseline', 'ratio']);
    expect(t.rows.map((r) => r[0])).toEqual([
      'cold start → `docker version` ok',
      'warm start (resume) → `docker version` ok',
      'stop (graceful)',
      '`GET /_ping` p50 (keep-alive)',
      '`GET /_ping` p99 (keep-alive)',
      '500 × `GET /_ping` total',
      '`docker run --rm busybox true` (median)',
      'QEMU RSS at idle',
      'host agent RSS at idle',
      'suspend (save state)',
    ]);
    expect(row(t, 'cold start → `docker version` ok')).toEqual([
      'cold start → `docker version` ok',
      '11.14 s',
      '30.06 s',
      '0.37×',
    ]);
    // The warm start is set against the baseline's cold start (it has no warm start).
    expect(row(t, 'warm start (resume) → `docker version` ok').slice(1)).toEqual([
      '2.17 s',
      '30.06 s',
      '0.07×',
    ]);
    expect(row(t, 'stop (graceful)').slice(1)).toEqual(['0.99 s', '2.44 s', '0.40×']);
    expect(row(t, '`GET /_ping` p50 (keep-alive)').slice(1)).toEqual(['5.12 ms', '3.47 ms', '1.48×']);
    expect(row(t, '500 × `GET /_ping` total').slice(1)).toEqual(['2636.46 ms', '1905.25 ms', '1.38×']);
    expect(row(t, 'QEMU RSS at idle').slice(1)).toEqual(['745 MiB', '1798 MiB', '0.41×']);
    expect(row(t, 'host agent RSS at idle').slice(1)).toEqual(['65 MiB', '– (ssh -L process)', '']);
    expect(row(t, 'suspend (save state)').slice(1)).toEqual(['1.57 s', '–', '']);
    // Every ratio from the JSON's unrounded figures.
    const keys = [
      'coldStartMs',
      'stopMs',
      'pingP50Ms',
      'pingP99Ms',
      'ping500TotalMs',
      'dockerRunMs',
      'qemuRssMiB',
    ];
    const ratios = t.rows.filter((_, i) => i !== 1 && i < 8).map((r) => r[3]);
    expect(ratios).toEqual(keys.map((k) => x2(latest.berth[k]! / latest.baseline[k]!)));
  });

  it("the start breakdowns: the host's phases and the guest's, in s with one decimal", () => {
    const host = tableStartingWith(md, 'phase', 'time');
    expect(host.rows).toEqual(
      Object.entries(latest.breakdown!).map(([k, v]) => [k, `${(v / 1000).toFixed(1)} s`]),
    );
    expect(row(host, 'guest')).toEqual(['guest', '9.9 s']);
    const guest = tableStartingWith(md, '', 'time');
    expect(guest.rows).toHaveLength(Object.keys(latest.guest!).length);
    expect(guest.rows[0]).toEqual(['kernel, until it runs the initrd', '1.6 s']);
    expect(guest.rows[4]).toEqual(['dockerd start until it answers (containerd in parallel)', '6.2 s']);
  });

  it('port forwarding: MiB/s from bytes and ms, berth relative to each path (above 1 = berth better)', () => {
    expect(md).toContain('512 MiB through one TCP connection each way');
    expect(md).toContain('and 1000 sequential short connections');
    const t = tableStartingWith(md, '', 'berth', 'hostfwd');
    expect(t.header).toEqual(['', 'berth', 'hostfwd', 'ssh -L', 'vs hostfwd', 'vs ssh -L']);
    expect(row(t, 'host → guest throughput')).toEqual([
      'host → guest throughput',
      '73 MiB/s',
      '69 MiB/s',
      '20 MiB/s',
      '1.07×',
      '3.58×',
    ]);
    expect(row(t, 'short connection p99').slice(1)).toEqual([
      '6.41 ms',
      '4.57 ms',
      '12.97 ms',
      '0.71×',
      '2.02×',
    ]);
    // Times: the other path's time over berth's; throughputs: berth's over the other's, i.e. the same.
    const rel = (f: (p: PortFigures) => number) => [
      x2(f(io.hostfwd) / f(io.berth)),
      x2(f(io.sshL) / f(io.berth)),
    ];
    expect(row(t, 'host → guest throughput').slice(4)).toEqual(rel((p) => p.upMs));
    expect(row(t, 'guest → host throughput').slice(4)).toEqual(rel((p) => p.downMs));
    expect(row(t, 'short connection p50').slice(4)).toEqual(rel((p) => p.p50));
    expect(row(t, 'short connection p99').slice(4)).toEqual(rel((p) => p.p99));
    expect(md).toContain(
      'Listener in the guest → host port accepts: p50 141 ms, p95 226 ms over 20 listeners',
    );
  });

  it('shared folders: one row per folder, s with two decimals, small files relative to the right disk', () => {
    expect(md).toContain('Measured inside the guest: 256 MiB sequential write');
    expect(md).toContain('create + stat + read + delete of 2000 small files.');
    const t = tableStartingWith(md, '', 'write');
    expect(t.rows.map((r) => r[0])).toEqual([
      'guest disk',
      '9p share, cache=mmap (default)',
      '9p share, cache=loose',
      '9p share, cache=none',
      'guest disk (second instance)',
      'synchronised folder (`sync: true`, second instance)',
    ]);
    expect(row(t, '9p share, cache=mmap (default)')).toEqual([
      '9p share, cache=mmap (default)',
      '0.58 s',
      '0.38 s',
      '20.81 s',
      '10.15×',
    ]);
    const disk = io.files.disk!.smallMs;
    expect(t.rows.slice(0, 4).map((r) => r[4])).toEqual(
      ['disk', 'mmap', 'loose', 'none'].map((k) => x2(io.files[k]!.smallMs / disk)),
    );
    // The synchronised folder against its own instance's disk, not the first instance's.
    expect(t.rows[5]![4]).toBe(x2(io.sync!.sync.smallMs / io.sync!.disk.smallMs));
    expect(t.rows[5]![4]).toBe('0.94×');
  });

  it("names the shares' 9p security model when the run read it off QEMU's command line", () => {
    expect(md).not.toContain('security_model=');
    const withModel = renderReport({ ...latest, io: { ...io, shareModel: 'mapped-xattr' } });
    expect(withModel).toContain('QEMU served the shares with `security_model=mapped-xattr`');
    expect(withModel.indexOf('security_model=')).toBeGreaterThan(withModel.indexOf('## Shared folders'));
  });

  it('the synchronised folder: boot cost and copy times, per file too', () => {
    expect(md).toContain("berth-syncd held dockerd's start for\n0.46 s (start of berth-syncd");
    expect(md).toContain('2000 small files made in the guest were all on the host after 27.0 s');
    expect(md).toContain('2000 made on the host all in the\nguest after 25.1 s (13.5 and 12.5 ms a file');
  });
});

describe('renderReport on a partial result (a run that stopped early, or --quick)', () => {
  const partial: BenchResult = {
    date: '2026-01-02T03:04:05.000Z',
    machine: { ...latest.machine, quick: true, runs: 1 },
    baseline: { coldStartMs: 20000, stopMs: 0 },
    berth: { coldStartMs: 10000, stopMs: 1000 },
    breakdown: {},
  };
  const out = renderReport(partial);

  it('says --quick, prints – for missing figures and ratios, and leaves out the sections it has no data for', () => {
    expect(out).toContain('by `npm run bench -- --quick` on');
    const t = tableStartingWith(out, 'metric');
    expect(row(t, 'cold start → `docker version` ok').slice(1)).toEqual(['10.00 s', '20.00 s', '0.50×']);
    expect(row(t, 'stop (graceful)').slice(1)).toEqual(['1.00 s', '0.00 s', '–']); // no ratio to a zero
    expect(row(t, '`GET /_ping` p50 (keep-alive)').slice(1)).toEqual(['–', '–', '–']);
    expect(out).not.toContain('breakdown');
    expect(out).not.toContain('Inside the guest phase');
    expect(out).not.toContain('## Port forwarding');
    expect(out).not.toContain('## Shared folders');
  });
});
