import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { foldBursts, SETTLE_MS, ShareEventRelay, syncState, type GuestFileEvents } from './share-events.js';

class FakeGuest implements GuestFileEvents {
  touched: string[] = [];
  pinned: string[] = [];
  unpinned: string[] = [];
  synced: { guestPath: string; state: string }[] = [];
  sync(c: { guestPath: string; state: string }[]) {
    this.synced.push(...c);
  }
  touch(p: string[]) {
    this.touched.push(...p);
  }
  pin(p: string[]) {
    this.pinned.push(...p);
  }
  unpin(p: string[]) {
    this.unpinned.push(...p);
  }
}

const until = async (cond: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
};

let relay: ShareEventRelay | undefined;
const temps: string[] = [];
/** A temp folder, removed after the test. */
async function tempDir(): Promise<string> {
  const d = await fsp.mkdtemp(path.join(os.tmpdir(), 'berth-relay-'));
  temps.push(d);
  return d;
}
afterEach(async () => {
  await relay?.stop();
  for (const d of temps.splice(0)) await fsp.rm(d, { recursive: true, force: true });
});

/** A started relay over real folders (tags berth0, berth1…; writable; cache mmap); stopped after each test. */
async function startRelay(
  g: FakeGuest,
  ...folders: Array<{ hostPath: string; guestPath: string; sync?: boolean }>
): Promise<ShareEventRelay> {
  relay = new ShareEventRelay(
    folders.map((f, i) => ({ tag: `berth${i}`, writable: true, cache: 'mmap' as const, sync: false, ...f })),
    g,
    pino({ level: 'silent' }),
    () => undefined,
  );
  await relay.start();
  return relay;
}

describe('ShareEventRelay (real file watcher on a temp dir)', () => {
  it('pins directories except hidden ones and node_modules, and maps host paths to guest paths', async () => {
    const host = await tempDir();
    for (const d of ['a/b', '.git/objects', 'node_modules/x', 'c'])
      await fsp.mkdir(path.join(host, d), { recursive: true });
    const g = new FakeGuest();
    await startRelay(g, { hostPath: host, guestPath: '/g' });
    await until(() => g.pinned.length >= 4);
    expect(g.pinned.sort()).toEqual(['/g', '/g/a', '/g/a/b', '/g/c']);

    await fsp.writeFile(path.join(host, 'a', 'b', 'f.txt'), 'x');
    await until(() => g.touched.includes('/g/a/b/f.txt'));
    await fsp.mkdir(path.join(host, 'new', 'deep'), { recursive: true });
    await until(() => g.pinned.includes('/g/new/deep'));
    await fsp.rm(path.join(host, 'c'), { recursive: true });
    await until(() => g.unpinned.includes('/g/c') && g.touched.includes('/g'));
    // Changes in hidden folders are not relayed (nothing in the guest could see them).
    g.touched = [];
    await fsp.writeFile(path.join(host, '.git', 'objects', 'o'), 'x');
    await fsp.writeFile(path.join(host, 'a', 'marker'), 'x');
    await until(() => g.touched.includes('/g/a/marker'));
    expect(g.touched.some((p) => p.includes('.git'))).toBe(false);
  });

  it('touches once the events settle, so a touch never lands between a create and its chmod', async () => {
    const host = await tempDir();
    const g = new FakeGuest();
    const arrived: number[] = [];
    const touch = g.touch.bind(g);
    g.touch = (p: string[]) => {
      arrived.push(Date.now());
      touch(p);
    };
    await startRelay(g, { hostPath: host, guestPath: '/g' });
    const f = path.join(host, 'secret.txt');
    const written = Date.now();
    await fsp.writeFile(f, 'x');
    await fsp.chmod(f, 0o640);
    await until(() => g.touched.includes('/g/secret.txt'));
    // One touch for the create and the chmod, no sooner than the settle time after the first change.
    expect(arrived).toHaveLength(1);
    expect(arrived[0]! - written).toBeGreaterThanOrEqual(SETTLE_MS - 5);
    expect(g.touched.filter((p) => p === '/g/secret.txt')).toHaveLength(1);
  });

  it('drops the echo of its own touch (a mode change with the same mtime)', async () => {
    const host = await tempDir();
    const g = new FakeGuest();
    await startRelay(g, { hostPath: host, guestPath: '/g' });
    const f = path.join(host, 'f.txt');
    await fsp.writeFile(f, 'x');
    await until(() => g.touched.includes('/g/f.txt'));
    // writeFile may be seen as a create and then an update (a second, real mtime change): let them settle.
    for (let last = -1; last !== g.touched.length;) {
      last = g.touched.length;
      await new Promise((r) => setTimeout(r, 400));
    }
    const n = g.touched.length;
    fs.chmodSync(f, fs.statSync(f).mode & 0o777); // what the guest's touch does on the host
    await fsp.writeFile(path.join(host, 'other'), 'y');
    await until(() => g.touched.includes('/g/other'));
    expect(g.touched.slice(n)).toEqual(['/g/other']);
  });
});

describe('a watcher that dies', () => {
  // @parcel/watcher's thread ends on a signal that lands on it while it polls ("Unable to poll: Interrupted
  // system call"; reproduced by hand with tgkill of SIGCHLD). Sending real signals to threads from a test
  // worker also upsets its own child reaping (it hung a run), so the error is handed to the relay as the
  // watcher would hand it.
  it('on a watcher error the relay watches again and relays what changes next, each time', async () => {
    const host = await tempDir();
    await fsp.mkdir(path.join(host, 'a'));
    const g = new FakeGuest();
    const share = {
      tag: 'berth0',
      writable: true,
      cache: 'mmap' as const,
      sync: false,
      hostPath: host,
      guestPath: '/g',
    };
    relay = new ShareEventRelay([share], g, pino({ level: 'silent' }), () => undefined);
    await relay.start();
    await until(() => g.pinned.includes('/g/a'));
    const rewatch = (relay as unknown as { rewatch: (s: typeof share, e: Error) => void }).rewatch.bind(
      relay,
    );
    for (let round = 1; round <= 3; round++) {
      rewatch(share, new Error('Unable to poll: Interrupted system call'));
      await new Promise((r) => setTimeout(r, 300));
      await fsp.writeFile(path.join(host, 'a', `after-${round}`), 'x');
      await until(() => g.touched.includes(`/g/a/after-${round}`));
    }
  });
});

describe('synchronised folders', () => {
  it('sends every change, hidden folders too, with the state berth-syncd compares; never pins', async () => {
    const host = await tempDir();
    await fsp.mkdir(path.join(host, '.git'));
    const g = new FakeGuest();
    await startRelay(g, { hostPath: host, guestPath: '/g', sync: true });
    await fsp.writeFile(path.join(host, '.git', 'HEAD'), 'ref\n');
    await fsp.writeFile(path.join(host, '.berth-sync.1.1'), 'a copy on its way');
    // The state is read when the event arrives (a create may come before the write): the final one arrives too.
    const final = () => syncState(path.join(host, '.git', 'HEAD'));
    await until(() => g.synced.some((c) => c.guestPath === '/g/.git/HEAD' && c.state === final()));
    expect(final()).toMatch(/^f:4:\d+\.\d{9}:[0-7]+$/);
    await fsp.rm(path.join(host, '.git', 'HEAD'));
    await until(() => g.synced.some((c) => c.guestPath === '/g/.git/HEAD' && c.state === 'none'));
    expect(g.synced.some((c) => c.guestPath.includes('.berth-sync.'))).toBe(false);
    expect(g.pinned).toEqual([]);
  });

  it('resync sends every path with its state between scan markers, and nothing for 9p folders', async () => {
    const host = await tempDir();
    const plain = await tempDir();
    await fsp.mkdir(path.join(host, 'a', '.hidden'), { recursive: true });
    await fsp.writeFile(path.join(host, 'a', '.hidden', 'f'), 'x');
    await fsp.writeFile(path.join(host, '.berth-sync.1.2'), 'a copy on its way');
    const g = new FakeGuest();
    relay = new ShareEventRelay(
      [
        { tag: 'berth0', hostPath: plain, guestPath: '/p', writable: true, cache: 'mmap', sync: false },
        { tag: 'berth1', hostPath: host, guestPath: '/g', writable: true, cache: 'mmap', sync: true },
      ],
      g,
      pino({ level: 'silent' }),
      () => undefined,
    );
    await relay.resync();
    expect(g.synced.map((c) => `${c.guestPath} ${c.state}`)).toEqual([
      '/g scan-begin',
      `/g/a ${syncState(path.join(host, 'a'))}`,
      `/g/a/.hidden ${syncState(path.join(host, 'a', '.hidden'))}`,
      `/g/a/.hidden/f ${syncState(path.join(host, 'a', '.hidden', 'f'))}`,
      '/g scan-end',
    ]);
  });

  it('a folder it cannot list ends the scan without scan-end (nothing counts as deleted), with a notice', async () => {
    // Here the folder was replaced by a file (unreadable folders are readable to root, who runs CI).
    const host = path.join(await tempDir(), 'f');
    await fsp.writeFile(host, 'not a folder');
    const g = new FakeGuest();
    const notices: string[] = [];
    relay = new ShareEventRelay(
      [{ tag: 'berth0', hostPath: host, guestPath: '/g', writable: true, cache: 'mmap', sync: true }],
      g,
      pino({ level: 'silent' }),
      (m) => notices.push(m),
    );
    await relay.resync();
    expect(g.synced.map((c) => c.state)).toEqual(['scan-begin']);
    expect(notices.join('\n')).toMatch(/cannot list .* in the synchronised folder/);
  });

  it('states: exact size, mtime to the nanosecond and mode; folders, links, absent paths', async () => {
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'berth-state-'));
    const f = path.join(dir, 'f');
    await fsp.writeFile(f, 'hello');
    await fsp.chmod(f, 0o640);
    // A whole second (utimes takes seconds): the nanoseconds are written out, nine digits.
    fs.utimesSync(f, 1795564800, 1795564800);
    expect(syncState(f)).toBe('f:5:1795564800.000000000:640');
    await fsp.chmod(dir, 0o750);
    expect(syncState(dir)).toBe('d:750');
    await fsp.symlink('../x y', path.join(dir, 'l'));
    expect(syncState(path.join(dir, 'l'))).toBe('l:../x y');
    expect(syncState(path.join(dir, 'missing'))).toBe('none');
  });
});

describe('foldBursts', () => {
  it('keeps a few paths per folder, and turns a burst in one folder into the folder', () => {
    const burst = Array.from({ length: 17 }, (_, i) => `/g/b/f${i}`);
    expect(foldBursts(['/g/a/x', '/g/a/y', ...burst]).sort()).toEqual(['/g/a/x', '/g/a/y', '/g/b']);
    expect(foldBursts(burst.slice(0, 16))).toHaveLength(16);
  });
});
