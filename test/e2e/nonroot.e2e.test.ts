import { execa } from 'execa';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BERTH_BIN, REPO, berth, makeEnv, type Env } from '../support/env.js';
import { busyboxContext } from '../support/images.js';
import { processesMatching } from '../support/proc.js';

// An ordinary user runs berth with a prebuilt image downloaded over HTTP (sha256-verified): covers
// "running VMs never needs root" and the image URL path. Creating that user needs root, which CI has.
const USER = 'berth-e2e';
const isRoot = process.getuid?.() === 0;

describe.runIf(isRoot)('non-root user with a prebuilt image from an http URL', () => {
  let root: Env;
  let work: string;
  let server: http.Server;
  let url: string;
  let digest: string;
  let appDir: string;
  let userHome: string;

  const asUser = (args: string[], env: Record<string, string> = {}) =>
    execa(
      'runuser',
      [
        '-u',
        USER,
        '--',
        'env',
        `HOME=${userHome}`,
        `BERTH_HOME=${userHome}/.berth`,
        `DOCKER_CONFIG=${userHome}/.docker`,
        `PATH=${process.env.PATH}`,
        ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
        ...args,
      ],
      {
        reject: false,
        cwd: '/',
      },
    );

  beforeAll(async () => {
    root = await makeEnv('nonroot');
    work = path.dirname(root.home);
    await fsp.chmod(work, 0o755);
    // The image archive, made from root's cache (built by the core tests or here).
    const archive = path.join(work, 'berth-image.tar');
    const p = await berth(root, ['image', 'pack', archive]);
    if (p.code !== 0) throw new Error(`image pack failed: ${p.stderr}`);
    digest = p.stdout.trim().replace(/^sha256:/, '');
    server = http.createServer((req, res) => {
      if (req.url !== '/berth-image.tar') return res.writeHead(404).end();
      const st = fs.statSync(archive);
      res.writeHead(200, { 'content-length': st.size });
      fs.createReadStream(archive).pipe(res);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}/berth-image.tar`;

    if ((await execa('id', ['-u', USER], { reject: false })).exitCode !== 0) {
      await execa('useradd', ['--create-home', '--shell', '/bin/sh', USER]);
    }
    userHome = (await execa('sh', ['-c', `getent passwd ${USER} | cut -d: -f6`])).stdout.trim();
    await execa('runuser', [
      '-u',
      USER,
      '--',
      'rm',
      '-rf',
      `${userHome}/.berth`,
      `${userHome}/.cache/berth`,
      `${userHome}/.docker`,
    ]);
    // The user needs to read the program: give it a world-readable copy of the built CLI.
    appDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'berth-app-'));
    for (const d of ['bin', 'dist', 'node_modules', 'package.json']) {
      await fsp.cp(path.join(REPO, d), path.join(appDir, d), { recursive: true });
    }
    await execa('chmod', ['-R', 'a+rX', appDir]);
    expect(fs.existsSync(BERTH_BIN)).toBe(true);
  });

  afterAll(async () => {
    await asUser([process.execPath, path.join(appDir, 'bin', 'berth'), 'delete', 'user1', '--force']);
    server?.close();
  });

  it('a wrong digest is refused and nothing is cached', async () => {
    const r = await asUser([
      process.execPath,
      path.join(appDir, 'bin', 'berth'),
      'image',
      'import',
      url,
      '--sha256',
      '0'.repeat(64),
    ]);
    expect(r.exitCode).toBe(74);
    expect(String(r.stderr)).toMatch(/digest mismatch/);
  });

  it('starts, runs a container through the host docker CLI, and stops, all as that user', async () => {
    const bin = path.join(appDir, 'bin', 'berth');
    const s = await asUser([
      process.execPath,
      bin,
      'start',
      'user1',
      '--cpus',
      '1',
      '--memory',
      '1GiB',
      '--image',
      url,
      '--image-sha256',
      digest,
    ]);
    expect(s.exitCode, String(s.stderr)).toBe(0);
    expect(String(s.stderr)).toMatch(/downloading image/);
    const sock = `${userHome}/.berth/user1/docker.sock`;
    expect(String(s.stdout).trim()).toBe(sock);
    const pids = await processesMatching('berth-user1 -machine');
    expect(pids).toHaveLength(1);
    const owner = await execa('stat', ['-c', '%U', `/proc/${pids[0]}`]);
    expect(owner.stdout.trim()).toBe(USER);
    const bb = await busyboxContext();
    const b = await asUser(['docker', 'build', '-q', '-t', 'bb:user', bb]);
    expect(b.exitCode, String(b.stderr)).toBe(0);
    const r = await asUser(['docker', 'run', '--rm', 'bb:user', 'id', '-u']);
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(String(r.stdout).trim()).toBe('0');
    // The home is shared: a file a root container writes there belongs to the host user, not to root. As a
    // user (9p security_model=none) the mode and the link the container makes are the host's own.
    const w = await asUser([
      'docker',
      'run',
      '--rm',
      '-v',
      `${userHome}:/h`,
      'bb:user',
      'sh',
      '-c',
      'rm -f /h/from-container.txt /h/from-container.link; echo hi > /h/from-container.txt && chmod 640 /h/from-container.txt && ln -s from-container.txt /h/from-container.link',
    ]);
    expect(w.exitCode, String(w.stderr)).toBe(0);
    const made = fs.lstatSync(path.join(userHome, 'from-container.txt'));
    expect(made.uid).toBe(Number((await execa('id', ['-u', USER])).stdout.trim()));
    expect(made.mode & 0o7777).toBe(0o640);
    expect(fs.readlinkSync(path.join(userHome, 'from-container.link'))).toBe('from-container.txt');
    // And QEMU serves it with the none model (as root it would be mapped-xattr, without capabilities).
    expect((await fsp.readFile(`/proc/${pids[0]}/cmdline`, 'utf8')).split('\0').join(' ')).toMatch(
      /security_model=none/,
    );
    fs.rmSync(path.join(userHome, 'from-container.txt'));
    fs.rmSync(path.join(userHome, 'from-container.link'));
    const viaHost = await asUser(['docker', 'version', '--format', '{{.Server.Os}}'], {
      DOCKER_HOST: `unix://${sock}`,
    });
    expect(String(viaHost.stdout).trim()).toBe('linux');
    const st = await asUser([process.execPath, bin, 'stop', 'user1']);
    expect(st.exitCode).toBe(0);
    expect(fs.existsSync(sock)).toBe(false);
  });
});
