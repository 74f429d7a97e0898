import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { syncManifest, syncState } from './share-events.js';
import { escapeWord } from '../util/escape.js';
import { GUEST_DIR } from '../guest/guest-tree.js';

// berth-syncd (the guest side of synchronised folders, guest/rootfs/usr/local/sbin) run on the host, Perl as in
// the guest, with plain folders in place of the 9p mount and the guest's copy, fed with this room's states and
// manifests: the sync rules, fast. The e2e suite runs it in a real guest, over 9p.
const BERTH_SYNCD = path.join(GUEST_DIR, 'rootfs/usr/local/sbin/berth-syncd');
let child: ChildProcess | undefined;
const roots: string[] = [];
afterEach(async () => {
  child?.kill('SIGKILL');
  child = undefined;
  for (const r of roots.splice(0)) await fsp.rm(r, { recursive: true, force: true });
});

const until = async (what: string, cond: () => boolean, ms = 10000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};
const read = (p: string) => (fs.existsSync(p) ? fs.readFileSync(p, 'utf8') : undefined);

async function startSyncd(
  host: Record<string, string>,
  local: Record<string, string> = {},
  withManifest = false,
) {
  const root = await fsp.mkdtemp(path.join(os.tmpdir(), 'berth-syncd-'));
  roots.push(root);
  const remote = path.join(root, 'run/berth/sync/berth0');
  const copy = path.join(root, 'var/lib/berth/sync/abc123');
  for (const [dir, files] of [
    [remote, host],
    [copy, local],
  ] as const) {
    if (dir === copy && Object.keys(files).length === 0) continue; // berth-syncd makes it
    await fsp.mkdir(dir, { recursive: true });
    for (const [rel, body] of Object.entries(files)) {
      await fsp.mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
      await fsp.writeFile(path.join(dir, rel), body);
      await fsp.utimes(path.join(dir, rel), 1700000000, 1700000000); // equal files are equal on both sides
    }
  }
  await fsp.mkdir(path.join(root, 'run/berth/sync/berth1'), { recursive: true }); // a second, empty, read-only one
  const manifest = withManifest ? { BERTH_SYNCD_MANIFEST: await syncManifest(remote, []) } : {};
  let log = '';
  child = spawn('perl', [BERTH_SYNCD], {
    env: {
      ...process.env,
      BERTH_SYNCD_ROOT: root,
      BERTH_SYNCD_TABLE:
        'berth0\t/g\trw,msize=512000,cache=mmap,berth.sync=abc123\nberth1\t/other\tro,msize=512000,cache=mmap,berth.sync=def456\n',
      ...manifest,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  await until('ready', () => fs.existsSync(path.join(root, 'run/berth/sync.ready')));
  const fifo = path.join(root, 'run/berth/sync.fifo');
  /** What berth-guestd passes on for a host-side change (the host agent's "sync" line). */
  const hostEvent = (rel: string) =>
    fs.writeFileSync(
      fifo,
      `sync ${escapeWord(`/g/${rel}`)} ${escapeWord(syncState(path.join(remote, rel)))}\n`,
      { flag: 'a' },
    );
  return { root, remote, copy, hostEvent, log: () => log };
}

describe('berth-syncd (on the host, plain folders)', { timeout: 20000 }, () => {
  it('makes the guest copy equal to the host folder at start: files, folders, links, modes, mtimes; drops stale ones', async () => {
    const { remote, copy } = await startSyncd(
      { 'a.txt': 'A', 'd/e/f.txt': 'F' },
      { 'stale.txt': 'old', 'a.txt': 'older' },
    );
    expect(read(path.join(copy, 'a.txt'))).toBe('A');
    expect(read(path.join(copy, 'd/e/f.txt'))).toBe('F');
    expect(fs.existsSync(path.join(copy, 'stale.txt'))).toBe(false);
    for (const rel of ['a.txt', 'd', 'd/e/f.txt'])
      expect(syncState(path.join(copy, rel))).toBe(syncState(path.join(remote, rel)));
  });

  it("at a cold boot, follows the host agent's manifest: copies only what differs, removes what it lacks", async () => {
    const { remote, copy, log } = await startSyncd(
      { 'same.txt': 's', 'new dir/n.txt': 'n', 'changed.txt': 'host' },
      { 'stale/x.txt': 'x', 'changed.txt': 'guest!', 'same.txt': 's' },
      true,
    );
    expect(read(path.join(copy, 'new dir/n.txt'))).toBe('n');
    expect(read(path.join(copy, 'changed.txt'))).toBe('host');
    expect(fs.existsSync(path.join(copy, 'stale'))).toBe(false);
    for (const rel of ['same.txt', 'new dir', 'new dir/n.txt', 'changed.txt'])
      expect(syncState(path.join(copy, rel))).toBe(syncState(path.join(remote, rel)));
    expect(log()).toMatch(/from the host's manifest, 3 copied/); // new dir, its n.txt, changed.txt; not same.txt
  });

  it('copies guest-side creates, edits, renames and deletes to the host, with the exact mtime and mode', async () => {
    const { remote, copy } = await startSyncd({ 'keep.txt': 'k' });
    expect(syncState(copy)).toBe(syncState(remote));
    await fsp.mkdir(path.join(copy, 'src/deep'), { recursive: true });
    await fsp.writeFile(path.join(copy, 'src/deep/x.js'), 'one');
    await fsp.chmod(path.join(copy, 'src/deep/x.js'), 0o750);
    await fsp.symlink('deep/x.js', path.join(copy, 'src/link'));
    await until(
      'the new tree on the host',
      () =>
        read(path.join(remote, 'src/deep/x.js')) === 'one' && fs.existsSync(path.join(remote, 'src/link')),
    );
    expect(syncState(path.join(remote, 'src/deep/x.js'))).toBe(syncState(path.join(copy, 'src/deep/x.js')));
    expect(fs.readlinkSync(path.join(remote, 'src/link'))).toBe('deep/x.js');
    await fsp.writeFile(path.join(copy, 'src/deep/x.js'), 'two!');
    await until('the edit', () => read(path.join(remote, 'src/deep/x.js')) === 'two!');
    await fsp.rename(path.join(copy, 'src/deep'), path.join(copy, 'src/moved'));
    await until(
      'the rename',
      () =>
        read(path.join(remote, 'src/moved/x.js')) === 'two!' && !fs.existsSync(path.join(remote, 'src/deep')),
    );
    await fsp.rm(path.join(copy, 'src'), { recursive: true });
    await until('the delete', () => !fs.existsSync(path.join(remote, 'src')));
    expect(read(path.join(remote, 'keep.txt'))).toBe('k');
    expect(fs.readdirSync(remote).filter((n) => n.startsWith('.berth-sync.'))).toEqual([]);
  });

  it('never gives a file or a folder set-id bits on the host', async () => {
    const { remote, copy } = await startSyncd({ 'keep.txt': 'k' });
    await fsp.mkdir(path.join(copy, 'sgid'));
    await fsp.chmod(path.join(copy, 'sgid'), 0o2775);
    await fsp.writeFile(path.join(copy, 'sgid/tool'), '#!/bin/sh\n');
    await fsp.chmod(path.join(copy, 'sgid/tool'), 0o4755);
    await until('the tool on the host', () => read(path.join(remote, 'sgid/tool')) === '#!/bin/sh\n');
    expect(fs.statSync(path.join(remote, 'sgid/tool')).mode & 0o7777).toBe(0o755);
    expect(fs.statSync(path.join(remote, 'sgid')).mode & 0o7777).toBe(0o775);
  });

  it('applies host-side changes it is told about; its own copy coming back changes nothing', async () => {
    const { remote, copy, hostEvent } = await startSyncd({ 'a.txt': 'A' });
    await fsp.writeFile(path.join(remote, 'a.txt'), 'A2');
    await fsp.mkdir(path.join(remote, 'new dir'));
    await fsp.writeFile(path.join(remote, 'new dir/n.txt'), 'N');
    hostEvent('a.txt');
    hostEvent('new dir');
    await until(
      'the host changes in the copy',
      () => read(path.join(copy, 'a.txt')) === 'A2' && read(path.join(copy, 'new dir/n.txt')) === 'N',
    );
    // A guest-side write, then the host's event for that same write (the echo): the host file is not copied again.
    await fsp.writeFile(path.join(copy, 'g.txt'), 'G');
    await until('the guest write on the host', () => read(path.join(remote, 'g.txt')) === 'G');
    const ino = fs.statSync(path.join(remote, 'g.txt')).ino;
    const copyIno = fs.statSync(path.join(copy, 'g.txt')).ino;
    hostEvent('g.txt');
    await fsp.rm(path.join(remote, 'a.txt'));
    hostEvent('a.txt'); // a marker that the echo before it was handled
    await until('the host delete in the copy', () => !fs.existsSync(path.join(copy, 'a.txt')));
    expect(fs.statSync(path.join(remote, 'g.txt')).ino).toBe(ino);
    expect(fs.statSync(path.join(copy, 'g.txt')).ino).toBe(copyIno);
  });

  it('both sides changed: the host wins and the guest version is kept; a delete keeps what the other side added since', async () => {
    const { root, remote, copy, hostEvent, log } = await startSyncd({ 'c.txt': 'base', 'd/old.txt': 'o' });
    // Both edit c.txt before either change is copied: the host's event first, then the guest's own.
    await fsp.writeFile(path.join(remote, 'c.txt'), 'host edit');
    await fsp.writeFile(path.join(copy, 'c.txt'), 'guest edit');
    hostEvent('c.txt');
    await until('the host version in the copy', () => read(path.join(copy, 'c.txt')) === 'host edit');
    expect(read(path.join(remote, 'c.txt'))).toBe('host edit');
    const kept = fs.readdirSync(path.join(root, 'var/lib/berth/sync-conflicts'));
    expect(kept).toHaveLength(1);
    expect(read(path.join(root, 'var/lib/berth/sync-conflicts', kept[0]!))).toBe('guest edit');
    expect(log()).toMatch(/conflict on \/g\/c\.txt/);
    // The host adds a file in d/ (its event not handled yet) while the guest deletes d/.
    await fsp.writeFile(path.join(remote, 'd/new.txt'), 'newer');
    await fsp.rm(path.join(copy, 'd'), { recursive: true });
    await until('the delete handled', () => !fs.existsSync(path.join(remote, 'd/old.txt')));
    await until('the newer file back in the copy', () => read(path.join(copy, 'd/new.txt')) === 'newer');
    expect(read(path.join(remote, 'd/new.txt'))).toBe('newer');
  });

  it('a scan from the host (after a resume) brings changes that had no events, deletes included', async () => {
    const { root, remote, copy } = await startSyncd({ 'gone.txt': 'g', 'stays.txt': 's', 'd/x.txt': 'x' });
    // Changed while no events flowed.
    await fsp.rm(path.join(remote, 'gone.txt'));
    await fsp.rm(path.join(remote, 'd'), { recursive: true });
    await fsp.writeFile(path.join(remote, 'added.txt'), 'a');
    const fifo = path.join(root, 'run/berth/sync.fifo');
    const lines = [
      'sync /g scan-begin',
      ...['stays.txt', 'added.txt'].map((n) => `sync /g/${n} ${syncState(path.join(remote, n))}`),
      'sync /g scan-end',
    ];
    fs.writeFileSync(fifo, lines.join('\n') + '\n', { flag: 'a' });
    await until(
      'the scan applied',
      () =>
        read(path.join(copy, 'added.txt')) === 'a' &&
        !fs.existsSync(path.join(copy, 'gone.txt')) &&
        !fs.existsSync(path.join(copy, 'd')),
    );
    expect(read(path.join(copy, 'stays.txt'))).toBe('s');
  });

  it('on SIGTERM, copies what is pending before it exits', async () => {
    const { remote, copy } = await startSyncd({});
    await fsp.writeFile(path.join(copy, 'last.txt'), 'written just before the shutdown');
    const exited = new Promise<number | null>((r) => child!.on('exit', (code) => r(code)));
    child!.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(read(path.join(remote, 'last.txt'))).toBe('written just before the shutdown');
  });
});
