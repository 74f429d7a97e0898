import { execa } from 'execa';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BERTH_BIN, berth, makeEnv, type Env } from '../support/env.js';
import { busyboxContext } from '../support/images.js';
import { otherUser, serveFile, type OtherUser } from '../support/other-user.js';
import { processesMatching } from '../support/proc.js';

// An ordinary user runs berth with a prebuilt image downloaded over HTTP (sha256-verified): covers
// "running VMs never needs root" and the image URL path. Creating that user needs root, which CI has.
const USER = 'berth-e2e';
const isRoot = process.getuid?.() === 0;

describe.runIf(isRoot)('non-root user with a prebuilt image from an http URL', () => {
  let root: Env;
  let user: OtherUser;
  let served: { url: string; close: () => void };
  let url: string;
  let digest: string;
  let userHome: string;

  beforeAll(async () => {
    root = await makeEnv('nonroot');
    await fsp.chmod(path.dirname(root.home), 0o755);
    // The image archive, made from root's cache (built by the core tests or here).
    const archive = path.join(path.dirname(root.home), 'berth-image.tar');
    const p = await berth(root, ['image', 'pack', archive]);
    if (p.code !== 0) throw new Error(`image pack failed: ${p.stderr}`);
    digest = p.stdout.trim().replace(/^sha256:/, '');
    served = await serveFile(archive);
    url = served.url;
    user = await otherUser(USER);
    userHome = user.home;
    expect(fs.existsSync(BERTH_BIN)).toBe(true);
  });

  afterAll(async () => {
    await user?.berth(['delete', 'user1', '--force']);
    await user?.dispose();
    served?.close();
    // root's scratch folder holds the packed image (650 MB).
    if (root) await fsp.rm(root.root, { recursive: true, force: true });
  });

  it('a wrong digest is refused and nothing is cached', async () => {
    const r = await user.berth(['image', 'import', url, '--sha256', '0'.repeat(64)]);
    expect(r.code).toBe(74);
    expect(r.stderr).toMatch(/digest mismatch/);
  });

  it('starts, runs a container through the host docker CLI, and stops, all as that user', async () => {
    const s = await user.berth([
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
    expect(s.code, s.stderr).toBe(0);
    expect(s.stderr).toMatch(/downloading image/);
    const sock = `${userHome}/.berth/user1/docker.sock`;
    expect(s.stdout.trim()).toBe(sock);
    const pids = await processesMatching('berth-user1 -machine');
    expect(pids).toHaveLength(1);
    const owner = await execa('stat', ['-c', '%U', `/proc/${pids[0]}`]);
    expect(owner.stdout.trim()).toBe(USER);
    const bb = await busyboxContext();
    const b = await user.run(['docker', 'build', '-q', '-t', 'bb:user', bb]);
    expect(b.code, b.stderr).toBe(0);
    const r = await user.run(['docker', 'run', '--rm', 'bb:user', 'id', '-u']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('0');
    // The home is shared: a file a root container writes there belongs to the host user, not to root. As a
    // user (9p security_model=none) the mode and the link the container makes are the host's own.
    const w = await user.run([
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
    expect(w.code, w.stderr).toBe(0);
    const made = fs.lstatSync(path.join(userHome, 'from-container.txt'));
    expect(made.uid).toBe(user.uid);
    expect(made.mode & 0o7777).toBe(0o640);
    expect(fs.readlinkSync(path.join(userHome, 'from-container.link'))).toBe('from-container.txt');
    // And QEMU serves it with the none model (as root it would be mapped-xattr, without capabilities).
    expect((await fsp.readFile(`/proc/${pids[0]}/cmdline`, 'utf8')).split('\0').join(' ')).toMatch(
      /security_model=none/,
    );
    fs.rmSync(path.join(userHome, 'from-container.txt'));
    fs.rmSync(path.join(userHome, 'from-container.link'));
    const viaHost = await user.run(['docker', 'version', '--format', '{{.Server.Os}}'], {
      DOCKER_HOST: `unix://${sock}`,
    });
    expect(viaHost.stdout.trim()).toBe('linux');
    const st = await user.berth(['stop', 'user1']);
    expect(st.code).toBe(0);
    expect(fs.existsSync(sock)).toBe(false);
  });
});
