import { execa } from 'execa';
import fs from 'node:fs';
import http from 'node:http';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  berth,
  berthOk,
  docker,
  dockerOk,
  makeEnv,
  noStackTrace,
  writeConfig,
  type Env,
} from '../support/env.js';
import { busyboxContext } from '../support/images.js';
import { waitFor } from '../support/wait.js';
import { freePort, tcpOpen } from '../support/net.js';
import { listXattrs, mappedMode } from '../support/mapped.js';
import { processesMatching } from '../support/proc.js';
import { imageCacheDir } from '../../src/store/paths.js';

// A hostile container (or a malicious image the user runs with their home mounted) against berth's own state.
const NAME = 'sec';
let e: Env;
let imageTar: string;
let importedDir: string | undefined;
// As root, a share on a filesystem without user xattrs (ramfs), which the mapped 9p model needs.
const isRoot = process.getuid?.() === 0;
let noXattr: string | undefined;
let startStderr = '';

// The guest console's cap for this file's instance (BERTH_CONSOLE_LOG_MAX; 8 MiB by default).
const CONSOLE_LOG_MAX = 2 * 1024 ** 2;

describe('security: berth itself is out of the guest’s reach', () => {
  beforeAll(async () => {
    e = await makeEnv('sec');
    e.env.BERTH_CONSOLE_LOG_MAX = String(CONSOLE_LOG_MAX);
    // Its own copy of the image (imported: a cache entry of its own), so tampering with it touches nothing else.
    imageTar = path.join(e.root, 'image.tar');
    await fsp.mkdir(path.join(e.root, 'synced', 'a'), { recursive: true });
    await fsp.writeFile(path.join(e.root, 'synced', 'a', 'f'), 'host file');
    const packed = await berthOk(e, ['image', 'pack', imageTar]);
    importedDir = path.join(imageCacheDir(), `sha256-${packed.stdout.trim().replace(/^sha256:/, '')}`);
    if (isRoot) {
      noXattr = await fsp.mkdtemp(path.join(os.tmpdir(), 'berth-noxattr-'));
      await execa('mount', ['-t', 'ramfs', '-o', 'mode=755', 'ramfs', noXattr]);
      await fsp.writeFile(path.join(noXattr, 'host.txt'), 'from the host\n');
    }
    // The env's folder holds BERTH_HOME: share it as a user might share a work folder that contains it.
    await writeConfig(
      e,
      NAME,
      `cpus: 2\nmemory: 1GiB\nimage:\n  path: ${imageTar}\nmounts:\n  - location: "~"\n  - location: ${e.root}\n` +
        `  - location: ${path.join(e.root, 'synced')}\n    mountPoint: /synced\n    sync: true\n` +
        (noXattr ? `  - location: ${noXattr}\n` : ''),
    );
    startStderr = (await berthOk(e, ['start', NAME])).stderr;
    await dockerOk(e, ['build', '-q', '-t', 'bb:sec', await busyboxContext()]);
  });

  afterAll(async () => {
    if (e) await berth(e, ['delete', NAME, '--force']);
    // Its imported copy of the image: the shared cache must not keep it.
    if (importedDir) await fsp.rm(importedDir, { recursive: true, force: true });
    if (noXattr) {
      await execa('umount', [noXattr], { reject: false });
      await fsp.rmdir(noXattr).catch(() => undefined);
    }
    // And its scratch folder, with the packed image (650 MB) in it.
    if (e) await fsp.rm(e.root, { recursive: true, force: true });
  });

  it("a container with the share mounted sees berth's home and image cache empty and cannot write them", async () => {
    const info = await fsp.readFile(path.join(e.home, NAME, 'instance.json'), 'utf8');
    const cache = path.join(os.homedir(), '.cache', 'berth');
    const r = await docker(e, [
      'run',
      '--rm',
      '-v',
      `${e.root}:/h`,
      '-v',
      `${os.homedir()}:/hh`,
      'bb:sec',
      'sh',
      '-c',
      [
        'ls -A /h/home | wc -l',
        'ls -A /hh/.cache/berth | wc -l',
        'touch /h/home/planted 2>&1 || echo refused-home',
        `echo x > /h/home/${NAME}/berth.yaml 2>&1 || echo refused-yaml`,
        'touch /hh/.cache/berth/planted 2>&1 || echo refused-cache',
        'ls /h | grep -c image.tar', // the rest of the share is there
      ].join('; '),
    ]);
    expect(r.code, r.stderr).toBe(0);
    const out = r.stdout.trim().split('\n');
    expect(out[0]).toBe('0');
    expect(out[1]).toBe('0');
    expect(r.stdout).toMatch(/Read-only file system/);
    expect(r.stdout).toContain('refused-home');
    expect(r.stdout).toContain('refused-yaml');
    expect(r.stdout).toContain('refused-cache');
    expect(out.at(-1)).toBe('1');
    expect(fs.existsSync(path.join(e.home, 'planted'))).toBe(false);
    expect(fs.existsSync(path.join(cache, 'planted'))).toBe(false);
    expect(await fsp.readFile(path.join(e.home, NAME, 'instance.json'), 'utf8')).toBe(info);
  });

  // CI runs berth as root (BERTH_ALLOW_ROOT=1): this is that mode's boundary. As a user, QEMU has that user's
  // rights and the none model (the nonroot e2e).
  it.runIf(process.getuid?.() === 0)(
    'as root, QEMU holds no capability: guest root plants no set-id file, device node, owner or trusted xattr on the host, and gets no privileged port',
    async () => {
      const [pid] = await processesMatching(`berth-${NAME} -machine`);
      expect(pid).toBeGreaterThan(0);
      const status = await fsp.readFile(`/proc/${pid}/status`, 'utf8');
      expect(status).toMatch(/^Uid:\s+0\s/m); // still uid 0: what goes is every capability
      for (const set of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb'])
        expect(status).toMatch(new RegExp(`^${set}:\\s+0+$`, 'm'));
      expect(status).toMatch(/^NoNewPrivs:\s+1$/m);

      const dir = path.join(e.root, 'planted');
      await fsp.mkdir(dir);
      const r = await docker(e, [
        'run',
        '--rm',
        '-v',
        `${dir}:/p`,
        'bb:sec',
        'sh',
        '-c',
        'echo x > /p/suid && chown 1234:1234 /p/suid && chmod 6755 /p/suid && mknod /p/null c 1 3 && stat -c "%a %u %F" /p/suid /p/null',
      ]);
      expect(r.code, r.stderr).toBe(0);
      // The guest sees what it asked for...
      expect(r.stdout.trim().split('\n')).toEqual([
        '6755 1234 regular file',
        expect.stringMatching(/ 0 character special file$/),
      ]);
      // ...and the host has none of it: root's plain 0600 files.
      const suid = fs.lstatSync(path.join(dir, 'suid'));
      expect([suid.isFile(), suid.mode & 0o7777, suid.uid]).toEqual([true, 0o600, 0]);
      const nul = fs.lstatSync(path.join(dir, 'null'));
      expect([nul.isFile(), nul.mode & 0o7777, nul.uid]).toEqual([true, 0o600, 0]);
      expect(mappedMode(path.join(dir, 'suid'))).toBe(0o106755);

      // A trusted.* attribute (it would need CAP_SYS_ADMIN on the host) is refused: by the mapped model, which
      // passes only user.* names, and by QEMU's lack of capabilities. 189: lsetxattr on x86_64, this VM's arch.
      const x = await berth(e, [
        'ssh',
        NAME,
        '--',
        'perl',
        '-e',
        'my ($p, $n, $v) = (@ARGV, "x"); syscall(189, $p, $n, $v, 1, 0) == 0 ? print "set\n" : print "$!\n"',
        path.join(dir, 'suid'),
        'trusted.berth',
      ]);
      expect(x.stdout.trim()).toMatch(/^Operation not (permitted|supported)$/);
      expect(listXattrs(path.join(dir, 'suid')).filter((n) => !n.startsWith('user.virtfs.'))).toEqual([]);

      // A published privileged port stays unforwarded, with the reason, and nothing listens there on the host.
      await dockerOk(e, ['run', '-d', '--name', 'priv', '-p', '80:80', 'bb:sec', 'httpd', '-f', '-p', '80']);
      try {
        const row = await waitFor(
          async () => {
            const p = await berth(e, ['ports', NAME, '--json']);
            return (JSON.parse(p.stdout) as { guestPort: number; state: string; reason?: string }[]).find(
              (l) => l.guestPort === 80 && l.state !== 'forwarded',
            );
          },
          30000,
          'port 80 in the list',
        );
        expect(row.state).toBe('privileged');
        expect(row.reason).toMatch(/host port 80 is privileged here/);
        expect(await tcpOpen(80)).toBe(false);
      } finally {
        await docker(e, ['rm', '-f', 'priv']);
      }
    },
  );

  it.runIf(isRoot)(
    'as root, a share whose filesystem keeps no xattrs is named at start, and only that one',
    async () => {
      const notices = startStderr.split('\n').filter((l) => /keeps no extended attributes/.test(l));
      expect(notices).toEqual([
        `notice: shared folder ${noXattr}: its filesystem keeps no extended attributes, which berth run as root needs to keep the guest's owners and modes (9p mapped-xattr): the guest can read it but cannot create files in it (run berth as your own user, or share a folder on another filesystem)`,
      ]);
      // What the notice warns of: the guest reads the folder, and cannot create in it.
      const r = await docker(e, [
        'run',
        '--rm',
        '-v',
        `${noXattr}:/n`,
        'bb:sec',
        'sh',
        '-c',
        'cat /n/host.txt; echo x > /n/new.txt || echo refused',
      ]);
      expect(r.stdout.trim().split('\n')).toEqual(['from the host', 'refused']);
      expect(r.stderr).toMatch(/not supported/);
      expect(fs.existsSync(path.join(noXattr!, 'new.txt'))).toBe(false);
    },
  );

  it('berth-syncd follows no symbolic link a container plants in a synchronised folder', async () => {
    // The container swaps a folder of the synchronised copy for a link to a guest system folder.
    const r = await docker(e, [
      'run',
      '--rm',
      '-v',
      '/synced:/s',
      'bb:sec',
      'sh',
      '-c',
      'rm -rf /s/a && ln -s /etc /s/a && ls /s/a/hostname',
    ]);
    expect(r.code, r.stderr).toBe(0);
    // berth-syncd's own views of the copy and of the host folder refuse to walk through it (ELOOP), so a copy
    // into a/… can never land in /etc; the link itself is an ordinary synchronised link.
    const views = await berth(e, [
      'ssh',
      NAME,
      '--',
      'sh',
      '-c',
      'findmnt -n -o OPTIONS /run/berth/sync-copy/berth2; findmnt -n -o OPTIONS /run/berth/sync/berth2; ' +
        'cat /run/berth/sync-copy/berth2/a/hostname 2>&1; readlink /run/berth/sync-copy/berth2/a',
    ]);
    const lines = views.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/nosymfollow/);
    expect(lines[1]).toMatch(/nosymfollow/);
    expect(lines[1]).toMatch(/nosuid/);
    expect(views.stdout).toMatch(/Too many levels of symbolic links/);
    expect(lines.at(-1)).toBe('/etc');
  });

  it("the guest's console is capped and what berth prints of it has no terminal escapes", async () => {
    // 3 MB through the emulated UART (the file's cap is lowered to 2 MiB here, from 8 MiB: the UART is slow), then
    // an OSC 52 sequence (it would set the clipboard of a terminal).
    const w = await berth(e, [
      'ssh',
      NAME,
      '--',
      'sh',
      '-c',
      "head -c 3000000 /dev/zero | tr '\\0' x > /dev/ttyS0; printf '\\033]52;c;cHduZWQ=\\007 marker\\n' > /dev/ttyS0",
    ]);
    expect(w.code, w.stderr).toBe(0);
    const log = path.join(e.home, NAME, 'serial.log');
    const cut = await waitFor(async () => fs.existsSync(`${log}.1`), 30000, 'serial.log to be cut');
    expect(cut).toBe(true);
    expect(fs.statSync(log).size).toBeLessThan(CONSOLE_LOG_MAX + 1024 ** 2);
    expect(fs.statSync(`${log}.1`).size).toBeLessThanOrEqual(1024 ** 2);
    const shown = await waitFor(
      async () => {
        const r = await berth(e, ['logs', NAME, '--source', 'serial']);
        return r.stdout.includes('marker') ? r.stdout : undefined;
      },
      30000,
      'the marker in berth logs',
    );
    expect(shown).not.toMatch(/[\x1b\x07]/);
    expect(shown).toContain(']52;c;cHduZWQ= marker');
  });

  it('each instance logs in with its own key; there is no per-user key every guest trusts', () => {
    expect(fs.existsSync(path.join(e.home, NAME, 'user_ed25519'))).toBe(true);
    expect(fs.statSync(path.join(e.home, NAME, 'user_ed25519')).mode & 0o777).toBe(0o600);
    expect(fs.existsSync(path.join(e.home, '_config', 'user_ed25519'))).toBe(false);
  });

  it('a tampered cached kernel is refused at the next start, with what and where', async () => {
    await berthOk(e, ['stop', NAME]);
    const info = JSON.parse(await fsp.readFile(path.join(e.home, NAME, 'instance.json'), 'utf8')) as {
      imageDir: string;
    };
    expect(path.basename(info.imageDir)).toMatch(/^sha256-/); // the imported copy, not the shared build
    const kernel = path.join(info.imageDir, 'vmlinuz');
    await fsp.appendFile(kernel, 'backdoor');
    const r = await berth(e, ['start', NAME]);
    expect(r.code).toBe(74);
    expect(r.stderr).toContain(`${kernel} is not the one this instance was made with`);
    expect(r.stderr).toMatch(/hint: .*berth start --upgrade/);
    expect(noStackTrace(r.stderr)).toBe(true);
    expect(JSON.parse((await berth(e, ['status', NAME, '--json'])).stdout).status).toBe('Stopped');
    // Removing the tampered copy and moving the instance to a fresh import brings it back, data kept.
    await fsp.rm(info.imageDir, { recursive: true, force: true });
    await berthOk(e, ['start', NAME, '--upgrade']);
    expect((await dockerOk(e, ['image', 'inspect', 'bb:sec'])).stdout).toContain('bb:sec');
  });

  it("hostLoopback: a list lets containers reach only those host ports on the host's loopback", async () => {
    const servers = await Promise.all(
      [0, 1].map(async () => {
        const port = await freePort();
        const srv = http.createServer((_req, res) => res.end(`host ${port}`));
        await new Promise<void>((r) => srv.listen(port, '127.0.0.1', () => r()));
        return { port, srv };
      }),
    );
    const [open, closed] = servers as [(typeof servers)[0], (typeof servers)[0]];
    try {
      await berthOk(e, ['stop', NAME]);
      const cfg = path.join(e.home, NAME, 'berth.yaml');
      await fsp.appendFile(cfg, `hostLoopback: [${open.port}]\n`);
      await berthOk(e, ['start', NAME]);
      const get = (port: number) =>
        docker(e, [
          'run',
          '--rm',
          'bb:sec',
          // (no -T: Debian's static busybox wget crashes with it)
          'wget',
          '-q',
          '-O',
          '-',
          `http://host.berth.internal:${port}/`,
        ]);
      const ok = await get(open.port);
      expect(ok.stdout.trim(), ok.stderr).toBe(`host ${open.port}`);
      const refused = await get(closed.port);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(/Connection refused/); // REJECT: at once, not a timeout
      expect(refused.stdout).not.toContain('host');
    } finally {
      for (const { srv } of servers) srv.close();
    }
  });
});
