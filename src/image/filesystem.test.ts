/**
 * guest/build/filesystem.sh on a small root tarball: what mkfs.ext4 and debugfs make of owners, modes, set-id
 * bits and device nodes, run the way an image build runs it (as root directly, as a user in mmdebstrap's user
 * namespace). Needs e2fsprogs, qemu-img and python3 (to write a tarball with a device node without mknod).
 */
import { execa } from 'execa';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GUEST_DIR } from '../guest/guest-tree.js';
import { withSbin } from './build.js';

const SCRIPT = path.join(GUEST_DIR, 'build/filesystem.sh');
const PATH = withSbin(process.env.PATH ?? '');
const isRoot = process.getuid?.() === 0;
const have = (tool: string) => PATH.split(':').some((d) => fs.existsSync(path.join(d, tool)));
const canRun = ['mkfs.ext4', 'debugfs', 'qemu-img', 'python3'].every(have) && (isRoot || have('mmdebstrap'));

// A tar as mmdebstrap writes one: numeric owners, a set-uid program, a group-owned set-gid one, /dev/null.
const MAKE_TAR = `
import io, sys, tarfile
t = tarfile.open(fileobj=sys.stdout.buffer, mode='w|', format=tarfile.PAX_FORMAT)
def add(name, kind=tarfile.DIRTYPE, mode=0o755, uid=0, gid=0, data=b'', dev=(0, 0)):
    i = tarfile.TarInfo(name); i.type = kind; i.mode = mode; i.uid = uid; i.gid = gid
    i.devmajor, i.devminor = dev; i.size = len(data) if kind == tarfile.REGTYPE else 0
    t.addfile(i, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
for d in ['./', './boot/', './dev/', './etc/', './usr/', './usr/bin/', './usr/local/', './usr/local/lib/', './usr/local/lib/berth/']:
    add(d)
add('./boot/vmlinuz-6.1.0-test', tarfile.REGTYPE, 0o644, data=b'kernel')
add('./boot/initrd.img-6.1.0-test', tarfile.REGTYPE, 0o644, data=b'initrd')
add('./dev/null', tarfile.CHRTYPE, 0o666, dev=(1, 3))
add('./etc/shadow', tarfile.REGTYPE, 0o640, gid=42, data=b'root:*:1::::::\\n')
add('./usr/bin/passwd', tarfile.REGTYPE, 0o4755, data=b'#!/bin/sh\\n')
add('./usr/bin/chage', tarfile.REGTYPE, 0o2755, gid=42, data=b'#!/bin/sh\\n')
add('./usr/local/lib/berth/packages', tarfile.REGTYPE, 0o644, data=b'bash\\t5.2\\n')
t.close()
`;

describe.runIf(canRun)('guest/build/filesystem.sh', () => {
  let dir: string;
  let raw: string;
  const stat = async (p: string) =>
    (await execa('debugfs', ['-R', `stat ${p}`, raw], { env: { PATH } })).stdout;

  beforeAll(async () => {
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'berth-fs-test-'));
    await fsp.chmod(dir, 0o755);
    const tar = (await execa('python3', ['-c', MAKE_TAR], { encoding: 'buffer' })).stdout;
    const script = await fsp.readFile(SCRIPT, 'utf8');
    const cmd = isRoot
      ? ['sh', '-c', script, 'filesystem.sh']
      : ['mmdebstrap', '--unshare-helper', 'sh', '-c', script, 'filesystem.sh'];
    const made = await execa(cmd[0]!, cmd.slice(1), { input: tar, encoding: 'buffer', env: { PATH } });
    await execa('tar', ['-x', '-C', dir], { input: made.stdout });
    raw = path.join(dir, 'rootfs.raw');
    await execa('qemu-img', ['convert', '-O', 'raw', path.join(dir, 'rootfs.qcow2'), raw], { env: { PATH } });
  }, 60_000);

  afterAll(async () => {
    if (dir) await fsp.rm(dir, { recursive: true, force: true });
  });

  it('hands out the boot files and the package list beside the filesystem', async () => {
    expect((await fsp.readdir(path.join(dir, 'boot'))).sort()).toEqual([
      'initrd.img-6.1.0-test',
      'vmlinuz-6.1.0-test',
    ]);
    expect(await fsp.readFile(path.join(dir, 'packages'), 'utf8')).toBe('bash\t5.2\n');
  });

  it("keeps the tarball's owners, modes and set-id bits", async () => {
    expect(await stat('/etc/shadow')).toMatch(/Mode:\s+0640[\s\S]*User:\s+0\s+Group:\s+42\b/);
    expect(await stat('/usr/bin/passwd')).toMatch(/Mode:\s+04755[\s\S]*User:\s+0\s+Group:\s+0\b/);
    expect(await stat('/usr/bin/chage')).toMatch(/Mode:\s+02755[\s\S]*Group:\s+42\b/);
  });

  it('makes the device nodes in the image, with their numbers and modes', async () => {
    const s = await stat('/dev/null');
    expect(s).toMatch(/Type: character special\s+Mode:\s+0666/);
    expect(s).toMatch(/Device major\/minor number: 01:03/);
  });
});
