/**
 * The guest image built by root and by an ordinary user: `npm run bench:image-build [-- --runs N]` (as root).
 * Both run the same build (mmdebstrap --mode=unshare, then build/filesystem.sh; the user's in a user
 * namespace over its subordinate ids), alternating which goes first, each into an empty cache of its own. The
 * wall time of each build is reported with medians and the user/root ratio of the same run; then the last
 * pair is compared file by file (loop-mounted read-only): type, mode with set-id bits, owner, size, link target,
 * device numbers and every xattr, and each regular file's sha256.
 * Writes docs/benchmarks-image-build.md and bench/results/image-build.json.
 */
import { execa } from 'execa';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BERTH_BIN, ok, REPO } from '../test/support/env.js';
import { otherUser } from '../test/support/other-user.js';
import { table } from './markdown.js';
import { median } from './stats.js';

const argRuns = process.argv.indexOf('--runs');
const runs = argRuns > 0 ? Number(process.argv[argRuns + 1]) : 3;
const log = (m: string) => process.stderr.write(`[bench:image-build] ${m}\n`);
if (process.getuid?.() !== 0) {
  process.stderr.write('bench:image-build: run as root (it creates a user and loop-mounts both images)\n');
  process.exit(64);
}
const user = await otherUser('berth-bench');
const scratch = await fsp.mkdtemp(path.join(os.tmpdir(), 'berth-bench-build-'));
const userScratch = path.join(user.home, '.cache', 'berth-bench-build');

// One line per path: type+mode (octal), uid:gid, size / link / device numbers, xattrs (hex); and file hashes.
const LISTER = `
import hashlib, os, stat, sys
root, kind = sys.argv[1], sys.argv[2]
out = []
for dp, dns, fns in os.walk(root):
    for n in dns + fns:
        p = os.path.join(dp, n); st = os.lstat(p); rel = p[len(root):]
        if kind == 'sums':
            if stat.S_ISREG(st.st_mode):
                h = hashlib.sha256()
                with open(p, 'rb') as f:
                    for b in iter(lambda: f.read(1 << 20), b''): h.update(b)
                out.append(rel + ' ' + h.hexdigest())
            continue
        extra = ''
        if stat.S_ISLNK(st.st_mode): extra = '-> ' + os.readlink(p)
        elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode): extra = 'dev %d,%d' % (os.major(st.st_rdev), os.minor(st.st_rdev))
        elif stat.S_ISREG(st.st_mode): extra = 'size %d' % st.st_size
        xs = ['%s=%s' % (x, os.getxattr(p, x, follow_symlinks=False).hex()) for x in sorted(os.listxattr(p, follow_symlinks=False))]
        out.append('%s %o %d:%d %s %s' % (rel, st.st_mode, st.st_uid, st.st_gid, extra, ' '.join(xs)))
print('\\n'.join(sorted(out)))
`;

async function buildAsRoot(cache: string): Promise<{ ms: number; dir: string }> {
  const t0 = performance.now();
  const r = await execa(process.execPath, [BERTH_BIN, 'image', 'build'], {
    env: { BERTH_IMAGE_CACHE: cache, BERTH_HOME: path.join(scratch, 'home') },
    reject: false,
  });
  if (r.exitCode !== 0) throw new Error(`root build failed:\n${r.stderr}`);
  return { ms: performance.now() - t0, dir: r.stdout.trim() };
}

async function buildAsUser(cache: string): Promise<{ ms: number; dir: string }> {
  ok('mkdir', await user.run(['mkdir', '-p', '-m', '700', cache]));
  const t0 = performance.now();
  const r = ok('user build', await user.berth(['image', 'build'], { BERTH_IMAGE_CACHE: cache }));
  return { ms: performance.now() - t0, dir: r.stdout.trim() };
}

/** The listing and the file hashes of an image's root filesystem, read from a read-only loop mount. */
async function describeImage(dir: string, name: string): Promise<{ list: string[]; sums: string[] }> {
  const raw = path.join(scratch, `${name}.raw`);
  const mnt = path.join(scratch, `${name}.mnt`);
  await fsp.mkdir(mnt);
  await execa('qemu-img', ['convert', '-O', 'raw', path.join(dir, 'rootfs.qcow2'), raw]);
  await execa('mount', ['-o', 'loop,ro', raw, mnt]);
  try {
    const run = async (kind: string) =>
      (await execa('python3', ['-c', LISTER, mnt, kind], { maxBuffer: 1 << 28 })).stdout.split('\n');
    return { list: await run('list'), sums: await run('sums') };
  } finally {
    await execa('umount', [mnt]);
    await fsp.rm(raw, { force: true });
  }
}

function differing(a: string[], b: string[]): string[] {
  const inB = new Set(b);
  const inA = new Set(a);
  return [
    ...a.filter((l) => !inB.has(l)).map((l) => `root: ${l}`),
    ...b.filter((l) => !inA.has(l)).map((l) => `user: ${l}`),
  ];
}

try {
  const times = { root: [] as number[], user: [] as number[] };
  let last: { root: string; user: string } | undefined;
  for (let i = 0; i < runs; i++) {
    const order = i % 2 === 0 ? (['root', 'user'] as const) : (['user', 'root'] as const);
    const made: Record<string, string> = {};
    for (const who of order) {
      log(`run ${i + 1}/${runs}: ${who}`);
      const b =
        who === 'root'
          ? await buildAsRoot(path.join(scratch, `root-${i}`))
          : await buildAsUser(path.join(userScratch, `user-${i}`));
      times[who].push(b.ms);
      made[who] = b.dir;
      log(`  ${(b.ms / 1000).toFixed(1)} s`);
    }
    // Keep only the last pair on disk (each image is about 650 MB).
    if (last) {
      await fsp.rm(path.dirname(last.root), { recursive: true, force: true });
      await user.run(['rm', '-rf', path.dirname(last.user)]);
    }
    last = { root: made.root!, user: made.user! };
  }
  log('comparing the last pair');
  const root = await describeImage(last!.root, 'root');
  const usr = await describeImage(last!.user, 'user');
  const listDiff = differing(root.list, usr.list);
  const sumDiff = differing(root.sums, usr.sums);
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const m = { root: median(times.root), user: median(times.user) };
  const r = {
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, kernel: os.release() },
    runs,
    times,
    medians: m,
    ratio: m.user / m.root,
    sameRecipe: path.basename(last!.root) === path.basename(last!.user),
    entries: root.list.length,
    files: root.sums.length,
    listDiff,
    sumDiff,
  };
  const md = [
    '# The guest image built by root and by an ordinary user',
    '',
    `Run ${r.date} by \`npm run bench:image-build\` on ${r.machine.cpus} × ${r.machine.model}, Linux ${r.machine.kernel}.`,
    `${runs} build(s) each, alternating which goes first, each into an empty cache; the same recipe`,
    `(${r.sameRecipe ? 'the same recipe hash' : 'DIFFERENT recipe hashes'}), packages fetched from the Debian archive each time.`,
    '',
    ...table(
      ['', 'builds', 'median', 'user / root'],
      [
        ['root', times.root.map(s).join(', '), s(m.root), ''],
        ['ordinary user', times.user.map(s).join(', '), s(m.user), `${r.ratio.toFixed(2)}×`],
      ],
    ),
    '',
    `The last pair, compared: ${r.entries} paths listed (type, mode with set-id bits, owner, size, link target,`,
    `device numbers, xattrs): ${listDiff.length} line(s) differ; ${r.files} regular files hashed: ${sumDiff.length} line(s) differ.`,
    ...(listDiff.length + sumDiff.length > 0
      ? [
          '',
          'Differences (a build-time mtime or a compressed initramfs differs between any two builds):',
          '',
          '```',
          ...listDiff,
          ...sumDiff,
          '```',
        ]
      : []),
    '',
  ].join('\n');
  await fsp.writeFile(
    path.join(REPO, 'bench', 'results', 'image-build.json'),
    JSON.stringify(r, null, 2) + '\n',
  );
  await fsp.writeFile(path.join(REPO, 'docs', 'benchmarks-image-build.md'), md);
  process.stdout.write(md);
} finally {
  await fsp.rm(scratch, { recursive: true, force: true });
  if (fs.existsSync(userScratch)) await user.run(['rm', '-rf', userScratch]);
  await user.dispose();
}
