import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { berth, docker, makeEnv, writeConfig, type Env } from '../support/env.js';
import { startWatcher, toolsContext } from '../support/images.js';
import { mappedMode, mappedShares } from '../support/mapped.js';
import { httpGet, tcpOpen, udpEcho } from '../support/net.js';
import { waitFor } from '../support/wait.js';

// One VM with two shared folders (one read-only) and port rules, in a throwaway BERTH_HOME.
const NAME = 'ports';
let e: Env;
let shared: string;
let readonly: string;
let synced: string;
let syncedRo: string;
let holder: net.Server;
const HELD_PORT = 19292;

interface PortRow {
  proto: string;
  guestPort: number;
  guestBind: string;
  hostPort?: number;
  state: string;
  reason?: string;
}

async function ports(): Promise<PortRow[]> {
  const r = await berth(e, ['ports', NAME, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as PortRow[];
}

async function guestShell(script: string): Promise<void> {
  const r = await berth(e, ['ssh', NAME, '--', 'sh', '-c', script]);
  expect(r.code, r.stderr).toBe(0);
}

/** A TCP listener in the guest itself (not in a container), started over berth ssh; perl-base is in the image. */
function guestListener(addr: string, port: number, reply: string): Promise<void> {
  const perl = `use IO::Socket::INET; my $s = IO::Socket::INET->new(LocalAddr => "${addr}", LocalPort => ${port}, Listen => 5, ReuseAddr => 1) or die; while (my $c = $s->accept) { print $c "${reply}\\n"; close $c }`;
  return guestShell(`setsid perl -e '${perl}' >/dev/null 2>&1 < /dev/null &`);
}

/**
 * What the bind-mount tests' container wrote in dir, as the host sees it: content, owner, mode, mtime, link. Run
 * as root (mapped-xattr shares), the mode and the link's type are in the host file's attributes, and the file
 * itself is root's 0600: nothing the guest asks for is applied to the host's inode.
 */
function expectContainerWrites(dir: string): void {
  const c = path.join(dir, 'c.txt');
  const st = fs.lstatSync(c);
  expect(fs.readFileSync(c, 'utf8')).toBe('from-container\n');
  expect(st.uid).toBe(process.getuid!());
  expect(st.mtime.getUTCFullYear()).toBe(2001);
  expect(guestMode(c)).toBe(0o100640);
  const link = path.join(dir, 'link');
  if (mappedShares) {
    expect(st.mode & 0o7777).toBe(0o600);
    expect(fs.lstatSync(link).isFile()).toBe(true);
    expect(fs.readFileSync(link, 'utf8')).toBe('c.txt');
    expect(guestMode(link)).toBe(0o120777);
  } else {
    expect(fs.readlinkSync(link)).toBe('c.txt');
  }
}

/** A host file's mode (with its type) as the guest sees it. */
function guestMode(file: string): number | undefined {
  if (mappedShares) return mappedMode(file);
  return fs.lstatSync(file, { throwIfNoEntry: false })?.mode;
}

function readLine(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = net.createConnection({ host: '127.0.0.1', port });
    let data = '';
    s.setEncoding('utf8');
    s.setTimeout(3000, () => s.destroy());
    s.on('data', (d: string) => (data += d));
    s.on('close', () => resolve(data ? data.trim() : undefined));
    s.on('error', () => undefined);
  });
}

describe('ports, shared folders and host names', () => {
  beforeAll(async () => {
    e = await makeEnv('ports');
    const root = await fsp.mkdtemp(path.join(os.tmpdir(), 'berth-share-'));
    shared = path.join(root, 'rw');
    readonly = path.join(root, 'ro');
    synced = path.join(root, 'sync');
    syncedRo = path.join(root, 'sync-ro');
    await fsp.mkdir(path.join(synced, 'src', 'deep'), { recursive: true });
    await fsp.writeFile(path.join(synced, 'src', 'deep', 'app.js'), 'v1\n');
    await fsp.mkdir(syncedRo);
    await fsp.writeFile(path.join(syncedRo, 'keep.txt'), 'read only, synchronised\n');
    await fsp.mkdir(path.join(shared, 'www'), { recursive: true });
    await fsp.mkdir(path.join(shared, 'watch', 'a', 'b'), { recursive: true });
    await fsp.mkdir(readonly);
    await fsp.writeFile(path.join(shared, 'www', 'index.html'), 'served from a shared folder\n');
    await fsp.writeFile(path.join(readonly, 'keep.txt'), 'read only\n');
    // A host port another program holds: its guest twin must be reported, not fatal.
    holder = net.createServer();
    await new Promise<void>((r) => holder.listen(HELD_PORT, '127.0.0.1', () => r()));
    await writeConfig(
      e,
      NAME,
      [
        'cpus: 2',
        'memory: 2GiB',
        'mounts:',
        `  - location: ${shared}`,
        `  - location: ${readonly}`,
        '    writable: false',
        `  - location: ${synced}`,
        '    sync: true',
        `  - location: ${syncedRo}`,
        '    writable: false',
        '    sync: true',
        'portForwards:',
        '  - guestPort: 19191',
        '    ignore: true',
        '  - guestPort: 18282',
        '    hostPort: 28282',
        '',
      ].join('\n'),
    );
    const r = await berth(e, ['start', NAME, '--no-activate']);
    if (r.code !== 0) throw new Error(`berth start failed (${r.code}):\n${r.stderr}`);
    e.env.DOCKER_HOST = `unix://${path.join(e.home, NAME, 'docker.sock')}`;
    const b = await docker(e, ['build', '-t', 'tools:e2e', await toolsContext()]);
    if (b.code !== 0) throw new Error(`docker build failed:\n${b.stderr}`);
  });

  afterAll(async () => {
    holder?.close();
    if (e && !process.env.BERTH_E2E_KEEP) await berth(e, ['delete', NAME, '--force']); // kept: to look at a failure
  });

  it('a published port serves a shared folder on the host, and closes when the container stops', async () => {
    const r = await docker(e, [
      'run',
      '-d',
      '--name',
      'web',
      '-p',
      '18080:80',
      '-v',
      `${shared}/www:/www`,
      'tools:e2e',
      'httpd',
      '-f',
      '-p',
      '80',
      '-h',
      '/www',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(await waitFor(() => httpGet(18080, '/index.html'), 10000, 'the published port')).toBe(
      'served from a shared folder\n',
    );
    expect((await ports()).find((p) => p.guestPort === 18080)).toMatchObject({
      proto: 'tcp',
      hostPort: 18080,
      state: 'forwarded',
    });
    expect((await docker(e, ['rm', '-f', 'web'])).code).toBe(0);
    const t = Date.now();
    await waitFor(async () => !(await tcpOpen(18080)), 5000, 'the host port to close');
    expect(Date.now() - t).toBeLessThan(2000);
  });

  it('-P: the random port docker reports is reachable on the host', async () => {
    const r = await docker(e, [
      'run',
      '-d',
      '--name',
      'rnd',
      '-P',
      '-v',
      `${shared}/www:/www`,
      'tools:e2e',
      'httpd',
      '-f',
      '-p',
      '80',
      '-h',
      '/www',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const p = await docker(e, ['port', 'rnd', '80/tcp']);
    const port = Number(/:(\d+)/.exec(p.stdout)![1]);
    expect(port).toBeGreaterThan(1024);
    expect(await waitFor(() => httpGet(port, '/index.html'), 10000, `random port ${port}`)).toBe(
      'served from a shared folder\n',
    );
    await docker(e, ['rm', '-f', 'rnd']);
  });

  it('a UDP port published with -p …/udp answers from the host', async () => {
    const r = await docker(e, [
      'run',
      '-d',
      '--name',
      'udp',
      '-p',
      '15353:5353/udp',
      'tools:e2e',
      'udp-echo',
      '5353',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(await waitFor(() => udpEcho(15353, 'ping over udp', 1000), 10000, 'the UDP echo')).toBe(
      'ping over udp',
    );
    expect((await ports()).find((p) => p.guestPort === 15353)).toMatchObject({
      proto: 'udp',
      state: 'forwarded',
    });
    await docker(e, ['rm', '-f', 'udp']);
  });

  it('listeners started over berth ssh: loopback-only ones too; an ignore rule hides one; a mapping rule moves one', async () => {
    await guestListener('127.0.0.1', 19090, 'loopback in the guest');
    await guestListener('0.0.0.0', 19191, 'ignored');
    await guestListener('0.0.0.0', 18282, 'mapped');
    expect(await waitFor(() => readLine(19090), 10000, 'the loopback listener')).toBe(
      'loopback in the guest',
    );
    expect(await waitFor(() => readLine(28282), 10000, 'the mapped listener')).toBe('mapped');
    const all = await ports();
    expect(all.find((p) => p.guestPort === 19090)).toMatchObject({ guestBind: 'lo', state: 'forwarded' });
    expect(all.find((p) => p.guestPort === 19191)).toMatchObject({ state: 'ignored' });
    expect(await tcpOpen(19191)).toBe(false);
    expect(all.some((p) => p.guestPort === 22)).toBe(false);
  });

  it('a host port held by another program is reported in berth ports --json; the others keep working', async () => {
    await guestListener('0.0.0.0', HELD_PORT, 'twin');
    const row = await waitFor(
      async () => (await ports()).find((p) => p.guestPort === HELD_PORT),
      10000,
      'the held port in the list',
    );
    expect(row).toMatchObject({ state: 'conflict', reason: expect.stringMatching(/in use/) });
    expect(await readLine(19090)).toBe('loopback in the guest');
    const log = await fsp.readFile(path.join(e.home, NAME, 'ha.log'), 'utf8');
    expect(log).toMatch(
      new RegExp(`guest port tcp/${HELD_PORT} not forwarded: host port 127.0.0.1:${HELD_PORT} is in use`),
    );
  });

  it('bind mounts: container writes land on the host owned by the host user; host writes show in the container', async () => {
    const r = await docker(e, [
      'run',
      '--rm',
      '-v',
      `${shared}:/s`,
      'tools:e2e',
      'sh',
      '-c',
      'echo from-container > /s/c.txt && chmod 640 /s/c.txt && ln -s c.txt /s/link && mkdir /s/d && echo x > /s/d/old && mv /s/d/old /s/d/new && touch -d "2001-02-03 04:05:06" /s/c.txt',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expectContainerWrites(shared);
    expect(fs.readdirSync(path.join(shared, 'd'))).toEqual(['new']);

    await fsp.writeFile(path.join(shared, 'h.txt'), 'from-host\n');
    const c = await docker(e, [
      'run',
      '--rm',
      '-v',
      `${shared}:/s`,
      'tools:e2e',
      'sh',
      '-c',
      'cat /s/h.txt; rm /s/h.txt /s/link',
    ]);
    expect(c.stdout).toBe('from-host');
    expect(fs.existsSync(path.join(shared, 'h.txt'))).toBe(false);
  });

  it('a file larger than 2 GiB keeps its size and contents past 2 GiB', async () => {
    const r = await docker(e, [
      'run',
      '--rm',
      '-v',
      `${shared}:/s`,
      'tools:e2e',
      'sh',
      '-c',
      'truncate -s 3G /s/big && echo past-2g | dd of=/s/big bs=1 seek=2684354560 conv=notrunc 2>/dev/null && ls -l /s/big',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(fs.statSync(path.join(shared, 'big')).size).toBe(3 * 1024 ** 3);
    const fd = await fsp.open(path.join(shared, 'big'), 'r');
    const buf = Buffer.alloc(7);
    await fd.read(buf, 0, 7, 2684354560);
    await fd.close();
    expect(buf.toString()).toBe('past-2g');
    await fsp.rm(path.join(shared, 'big'));
  });

  it('a read-only share is read-only in the guest', async () => {
    const r = await docker(e, [
      'run',
      '--rm',
      '-v',
      `${readonly}:/ro`,
      'tools:e2e',
      'sh',
      '-c',
      'cat /ro/keep.txt; echo no > /ro/new.txt',
    ]);
    expect(r.stdout).toBe('read only');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Read-only file system/);
    expect(fs.existsSync(path.join(readonly, 'new.txt'))).toBe(false);
  });

  it('a recursive inotify watcher in a container sees host-side edits, creates and deletes in nested folders', async () => {
    await fsp.writeFile(path.join(shared, 'watch', 'a', 'b', 'edit.txt'), 'v1\n');
    const logs = await startWatcher((a) => docker(e, a), 'watcher', `${shared}/watch`, 'tools:e2e');
    await fsp.appendFile(path.join(shared, 'watch', 'a', 'b', 'edit.txt'), 'v2\n');
    await waitFor(async () => (await logs()).includes('/w/a/b/edit.txt'), 5000, 'the edit event');
    await fsp.writeFile(path.join(shared, 'watch', 'a', 'created.txt'), 'new\n');
    await waitFor(async () => (await logs()).includes('/w/a/created.txt'), 5000, 'the create event');
    const before = (await logs()).split('\n').length;
    await fsp.rm(path.join(shared, 'watch', 'a', 'created.txt'));
    await waitFor(
      async () =>
        (await logs())
          .split('\n')
          .slice(before - 1)
          .some((l) => l.includes('/w/a')),
      5000,
      'the delete event',
    );
    // The container reads what the host wrote (no stale cache).
    const c = await docker(e, ['exec', 'watcher', 'cat', '/w/a/b/edit.txt']);
    expect(c.stdout).toBe('v1\nv2');
    await docker(e, ['rm', '-f', 'watcher']);
  });

  it('a synchronised folder: the guest works on its own disk; changes cross both ways, with owner, mode, mtime, links', async ({
    onTestFailed,
  }) => {
    onTestFailed(async () => {
      // berth-syncd's own account (passes, conflicts), for a failure seen only on CI.
      const log = await berth(e, ['ssh', NAME, '--', 'tail', '-n', '80', '/var/log/berth/syncd.log']);
      console.log(`[sync] berth-syncd's log, last 80 lines:\n${log.stdout}${log.stderr}`);
    });
    // In the guest, the folder is the guest's own filesystem (ext4), not 9p.
    const fsType = await berth(e, ['ssh', NAME, '--', 'stat', '-f', '-c', '%T', synced]);
    expect(fsType.stdout.trim()).toMatch(/^ext2\/ext3$/);
    // Present at boot, before any event.
    const logs = await startWatcher((a) => docker(e, a), 'syncwatch', synced, 'tools:e2e');
    expect((await docker(e, ['exec', 'syncwatch', 'cat', '/w/src/deep/app.js'])).stdout).toBe('v1');

    // Container → host.
    const r = await docker(e, [
      'exec',
      'syncwatch',
      'sh',
      '-c',
      'echo from-container > /w/c.txt && chmod 640 /w/c.txt && touch -d "2001-02-03 04:05:06" /w/c.txt && ln -s c.txt /w/link && mkdir -p /w/d/e && echo x > /w/d/e/old && mv /w/d/e/old /w/d/e/new && rm /w/src/deep/app.js',
    ]);
    expect(r.code, r.stderr).toBe(0);
    // Every change has crossed, c.txt's mode and mtime (set after it was written) too: berth-syncd copies a
    // batch of paths in no set order, so the link may be there a moment before c.txt's attributes.
    const cTxtDone = () => {
      const st = fs.statSync(path.join(synced, 'c.txt'), { throwIfNoEntry: false });
      return (
        st !== undefined &&
        guestMode(path.join(synced, 'c.txt')) === 0o100640 &&
        st.mtime.getUTCFullYear() === 2001
      );
    };
    await waitFor(
      async () =>
        (fs.existsSync(path.join(synced, 'd', 'e', 'new')) &&
          !fs.existsSync(path.join(synced, 'src', 'deep', 'app.js')) &&
          fs.existsSync(path.join(synced, 'link')) &&
          cTxtDone()) ||
        undefined,
      10000,
      "the container's changes on the host",
    );
    expectContainerWrites(synced);
    expect(fs.readdirSync(path.join(synced, 'd', 'e'))).toEqual(['new']);
    expect(fs.readdirSync(synced).filter((n) => n.startsWith('.berth-sync'))).toEqual([]);

    // Host → container: the watcher sees a native event for each; the content is the host's.
    const before = (await logs()).split('\n').length;
    await fsp.writeFile(path.join(synced, 'src', 'deep', 'h.txt'), 'from-host\n');
    await waitFor(
      async () =>
        (await logs())
          .split('\n')
          .slice(before - 1)
          .some((l) => l.includes('/w/src/deep/h.txt')),
      5000,
      'the host create in the container',
    );
    expect((await docker(e, ['exec', 'syncwatch', 'cat', '/w/src/deep/h.txt'])).stdout).toBe('from-host');
    await fsp.appendFile(path.join(synced, 'src', 'deep', 'h.txt'), 'more\n');
    await waitFor(
      async () =>
        (await docker(e, ['exec', 'syncwatch', 'cat', '/w/src/deep/h.txt'])).stdout === 'from-host\nmore' ||
        undefined,
      5000,
      'the host edit in the container',
    );
    await fsp.rm(path.join(synced, 'd'), { recursive: true });
    await waitFor(
      async () =>
        (await docker(e, ['exec', 'syncwatch', 'ls', '/w'])).stdout.split('\n').includes('d')
          ? undefined
          : true,
      5000,
      'the host delete in the container',
    );
    await docker(e, ['rm', '-f', 'syncwatch']);
  });

  it('a read-only synchronised folder is read-only in the guest and still follows the host', async () => {
    const r = await docker(e, [
      'run',
      '--rm',
      '-v',
      `${syncedRo}:/ro`,
      'tools:e2e',
      'sh',
      '-c',
      'cat /ro/keep.txt; echo no > /ro/new.txt',
    ]);
    expect(r.stdout).toBe('read only, synchronised');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Read-only file system/);
    await fsp.writeFile(path.join(syncedRo, 'later.txt'), 'from the host\n');
    await waitFor(
      async () =>
        (await berth(e, ['ssh', NAME, '--', 'cat', path.join(syncedRo, 'later.txt')])).stdout ===
          'from the host' || undefined,
      5000,
      'the host file in the guest',
    );
  });

  it('host.berth.internal reaches a server on the host loopback from a container', async () => {
    const server = http.createServer((_req, res) => res.end('hello from the host\n'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const r = await docker(e, [
        'run',
        '--rm',
        'tools:e2e',
        'wget',
        '-q',
        '-O',
        '-',
        `http://host.berth.internal:${port}/`,
      ]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe('hello from the host');
    } finally {
      server.close();
    }
  });

  it('forwards come back after the host agent restarts and after stop/start', async () => {
    const r = await docker(e, [
      'run',
      '-d',
      '--name',
      'keep',
      '--restart',
      'always',
      '-p',
      '18081:80',
      '-v',
      `${shared}/www:/www`,
      'tools:e2e',
      'httpd',
      '-f',
      '-p',
      '80',
      '-h',
      '/www',
    ]);
    expect(r.code, r.stderr).toBe(0);
    await waitFor(() => httpGet(18081, '/index.html'), 10000, 'the published port');
    const pid = Number(await fsp.readFile(path.join(e.home, NAME, 'ha.pid'), 'utf8'));
    process.kill(pid, 'SIGKILL');
    // A host change in a synchronised folder while no agent relays events: its scan at re-attach brings it.
    await fsp.writeFile(path.join(synced, 'while-agent-down.txt'), 'no event for this\n');
    expect((await berth(e, ['start', NAME, '--no-activate'])).code).toBe(0);
    await waitFor(
      async () =>
        (await berth(e, ['ssh', NAME, '--', 'cat', path.join(synced, 'while-agent-down.txt')])).stdout ===
          'no event for this' || undefined,
      10000,
      'the change made while the agent was down',
    );
    expect(await httpGet(18081, '/index.html')).toBe('served from a shared folder\n');
    expect((await ports()).find((p) => p.guestPort === 18081)).toMatchObject({ state: 'forwarded' });

    // The guest's last write to a synchronised folder reaches the host before the stop completes.
    expect(
      (
        await docker(e, [
          'run',
          '--rm',
          '-v',
          `${synced}:/s`,
          'tools:e2e',
          'sh',
          '-c',
          'echo last > /s/last.txt',
        ])
      ).code,
    ).toBe(0);
    expect((await berth(e, ['stop', NAME])).code).toBe(0);
    expect(fs.readFileSync(path.join(synced, 'last.txt'), 'utf8')).toBe('last\n');
    expect(await tcpOpen(18081)).toBe(false);
    await fsp.writeFile(path.join(synced, 'while-stopped.txt'), 'edited while stopped\n');
    // From this start on, only what containers publish (and what a rule names) is forwarded.
    const yaml = path.join(e.home, NAME, 'berth.yaml');
    await fsp.appendFile(yaml, 'autoForward: published\n');
    expect((await berth(e, ['start', NAME, '--no-activate'])).code).toBe(0);
    // The engine restarts the container once it is up (restart: always), under TCG that can take a while; on
    // failure, say where it stuck: the container, or the forward.
    const back = await waitFor(() => httpGet(18081, '/index.html'), 60000, 'the port after a restart').catch(
      async (err: Error) => {
        const ps = await docker(e, [
          'ps',
          '-a',
          '--filter',
          'name=keep',
          '--format',
          '{{.Status}} {{.Ports}}',
        ]);
        const fw = (await ports()).filter((p) => p.guestPort === 18081);
        throw new Error(`${err.message}\ncontainer keep: ${ps.stdout}\nforwards: ${JSON.stringify(fw)}`);
      },
    );
    expect(back).toBe('served from a shared folder\n');
    expect(
      (
        await berth(e, [
          'ssh',
          NAME,
          '--',
          'cat',
          path.join(synced, 'while-stopped.txt'),
          path.join(synced, 'last.txt'),
        ])
      ).stdout,
    ).toBe('edited while stopped\nlast');
  });

  it("autoForward: published: a container's published port is forwarded, a process listening in the guest is not unless a rule names it", async () => {
    // The instance runs with autoForward: published since the last test's restart.
    await guestListener('0.0.0.0', 19393, 'not published');
    await guestListener('0.0.0.0', 18282, 'mapped by a rule');
    expect(await waitFor(() => readLine(28282), 10000, 'the listener a rule names')).toBe('mapped by a rule');
    const st = await waitFor(
      async () => (await ports()).find((p) => p.guestPort === 19393),
      10000,
      'the unpublished listener in berth ports',
    );
    expect(st).toMatchObject({
      state: 'ignored',
      reason: expect.stringMatching(
        /^not a port a container publishes \(autoForward: published; listened on by perl\)/,
      ),
    });
    expect(await tcpOpen(19393)).toBe(false);
    expect((await ports()).find((p) => p.guestPort === 18081)).toMatchObject({ state: 'forwarded' });
    expect(await httpGet(18081, '/index.html')).toBe('served from a shared folder\n');
  });
});
