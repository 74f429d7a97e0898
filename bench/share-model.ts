/**
 * What the 9p security model costs: `npm run bench:share-model [-- --quick]`.
 * berth run as root shares folders with `security_model=mapped-xattr` (the guest's owners and modes kept in
 * xattrs, QEMU without capabilities); run as a user, with `security_model=none`. The same file workload as
 * `npm run bench` (bench/measure/files.ts) runs on a shared folder of each: one instance started by root,
 * then one started by an ordinary user from the same image, one VM at a time, same CPUs and memory. Each
 * share is measured against its own guest's disk, so the two VMs' own speeds cancel out of the ratios.
 * Writes docs/benchmarks-share-model.md and bench/results/share-model.json (not for --quick).
 */
import { execa } from 'execa';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { berth, berthOk, makeEnv, ok, REPO, writeConfig } from '../test/support/env.js';
import { otherUser, serveFile } from '../test/support/other-user.js';
import { CPUS, MEM_MIB, sizes } from './context.js';
import { fileWorkloadScript, GUEST_DISK_DIR, parseFileWorkload } from './measure/files.js';
import { table } from './markdown.js';
import type { FileFigures } from './result.js';
import { median } from './stats.js';

const quick = process.argv.includes('--quick');
const runs = quick ? 1 : 3;
const n = sizes(quick);
const log = (m: string) => process.stderr.write(`[bench:share-model] ${m}\n`);
const NAME = 'share-model';
const USER = 'berth-bench';
const e = await makeEnv('share-model');
const user = await otherUser(USER);

type Where = 'disk' | 'share';
type Series = Record<Where, FileFigures[]>;

/** `runs` rounds of the workload, alternating the guest's disk and the share; `sh` runs a script in the guest. */
async function series(sh: (script: string) => Promise<string>, share: string): Promise<Series> {
  const s: Series = { disk: [], share: [] };
  for (let i = 0; i < runs; i++) {
    for (const [where, dir] of [
      ['disk', GUEST_DISK_DIR],
      ['share', share],
    ] as const) {
      log(`  ${where} ${i + 1}/${runs}`);
      s[where].push(parseFileWorkload(await sh(fileWorkloadScript(dir, n.fileMiB, n.smallFiles))));
    }
  }
  return s;
}

const startArgs = ['start', NAME, '--cpus', String(CPUS), '--memory', `${MEM_MIB}MiB`, '--no-activate'];

try {
  log('ensuring the guest image is built');
  await berthOk(e, ['image', 'build']);

  log('root: mapped-xattr');
  const rootShare = path.join(e.root, 'share');
  await fsp.mkdir(rootShare);
  await writeConfig(e, NAME, `mounts:\n  - location: ${rootShare}\n`);
  await berthOk(e, startArgs);
  const mapped = await series(
    async (script) => (await berthOk(e, ['ssh', NAME, '--', 'sh', '-c', script])).stdout,
    rootShare,
  );
  await berthOk(e, ['delete', NAME, '--force']);

  log('an ordinary user: none (the image packed from root and served to it over http)');
  const archive = path.join(e.root, 'berth-image.tar');
  const digest = (await berthOk(e, ['image', 'pack', archive])).stdout.trim().replace(/^sha256:/, '');
  const served = await serveFile(archive);
  const userShare = path.join(user.home, 'share-model');
  let none: Series;
  try {
    ok('mkdir', await user.run(['mkdir', '-p', '-m', '700', userShare, `${user.home}/.berth/${NAME}`]));
    ok(
      'writing berth.yaml',
      await user.run([
        'sh',
        '-c',
        `printf 'mounts:\\n  - location: %s\\n' "$1" > "$2"`,
        'sh',
        userShare,
        `${user.home}/.berth/${NAME}/berth.yaml`,
      ]),
    );
    ok(
      'berth start (user)',
      await user.berth([...startArgs, '--image', served.url, '--image-sha256', digest]),
    );
    none = await series(
      async (script) =>
        ok('berth ssh (user)', await user.berth(['ssh', NAME, '--', 'sh', '-c', script])).stdout,
      userShare,
    );
  } finally {
    served.close();
    await user.berth(['delete', NAME, '--force']);
  }

  const med = (s: FileFigures[]): FileFigures => ({
    writeMs: median(s.map((f) => f.writeMs)),
    readMs: median(s.map((f) => f.readMs)),
    smallMs: median(s.map((f) => f.smallMs)),
  });
  const m = {
    mapped: { disk: med(mapped.disk), share: med(mapped.share) },
    none: { disk: med(none.disk), share: med(none.share) },
  };
  // Both folders must be on the same kind of host filesystem for the comparison to hold.
  const fsType = async (dir: string) => (await execa('stat', ['-f', '-c', '%T', dir])).stdout.trim();
  const hostFs = { root: await fsType(e.root), user: await fsType(user.home) };
  const r = {
    date: new Date().toISOString(),
    hostFs,
    machine: {
      cpus: os.cpus().length,
      model: os.cpus()[0]?.model,
      kernel: os.release(),
      accel: 'tcg',
      quick,
      runs,
    },
    fileMiB: n.fileMiB,
    smallFiles: n.smallFiles,
    medians: m,
    raw: { mapped, none },
  };
  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  const x = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
  const rel = (k: keyof FileFigures) =>
    m.mapped.share[k] / m.mapped.disk[k] / (m.none.share[k] / m.none.disk[k]);
  const row = (label: string, f: FileFigures, disk: FileFigures) => [
    label,
    s(f.writeMs),
    s(f.readMs),
    s(f.smallMs),
    x(f.smallMs, disk.smallMs),
  ];
  const md = [
    '# Shared folders: the 9p security model',
    '',
    `Run ${r.date} by \`npm run bench:share-model\` on ${r.machine.cpus} × ${r.machine.model}, Linux ${r.machine.kernel},`,
    `accelerator tcg. ${CPUS} CPUs and ${MEM_MIB} MiB per instance; median of ${runs} run(s) of the workload of`,
    `\`npm run bench\` (${n.fileMiB} MiB sequential write + fsync and read, then create + stat + read + delete of ${n.smallFiles}`,
    "small files), timed inside the guest, on the guest's disk and on a host folder shared with the default cache mode.",
    'berth started by root shares with `security_model=mapped-xattr` (QEMU without capabilities; owners and modes kept',
    'in xattrs); started by an ordinary user, with `security_model=none`. The two are different VMs of the same image,',
    "so each share is also given against its own guest disk. Host filesystem of the shared folders: root's",
    `${hostFs.root}, the user's ${hostFs.user}.`,
    '',
    ...table(
      ['', 'write', 'read', 'small files', 'small files vs guest disk'],
      [
        row('root: guest disk', m.mapped.disk, m.mapped.disk),
        row('root: 9p share, mapped-xattr', m.mapped.share, m.mapped.disk),
        row('user: guest disk', m.none.disk, m.none.disk),
        row('user: 9p share, none', m.none.share, m.none.disk),
      ],
    ),
    '',
    `mapped-xattr relative to none, each against its own guest disk: write ${rel('writeMs').toFixed(2)}×, read`,
    `${rel('readMs').toFixed(2)}×, small files ${rel('smallMs').toFixed(2)}× (above 1 = the mapped model is slower).`,
    '',
  ].join('\n');
  if (!quick) {
    await fsp.writeFile(
      path.join(REPO, 'bench', 'results', 'share-model.json'),
      JSON.stringify(r, null, 2) + '\n',
    );
    await fsp.writeFile(path.join(REPO, 'docs', 'benchmarks-share-model.md'), md);
  }
  process.stdout.write(md);
} finally {
  await berth(e, ['delete', NAME, '--force']);
  await user.dispose();
  await fsp.rm(e.root, { recursive: true, force: true });
}
