import { execa } from 'execa';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { berth, berthOk, docker, dockerOk, makeEnv, writeConfig, type Env } from '../support/env.js';
import { busyboxContext } from '../support/images.js';

// The OS is replaceable, the data is not: an instance's images and volumes survive a move to a new image
// (berth image build --refresh, then berth start --upgrade), and an instance of the previous layout (engine
// state on its one OS disk) is moved to a data disk by the same command.
interface Status {
  image?: { id: string; layout: string; imageStore?: string; warning?: string };
}
const status = async (e: Env, name: string) =>
  JSON.parse((await berth(e, ['status', name, '--json'])).stdout) as Status;

/** An image and a named volume with a file in it: what must survive. */
async function fill(e: Env, tag: string): Promise<void> {
  await dockerOk(e, ['build', '-q', '-t', tag, await busyboxContext()]);
  await dockerOk(e, ['volume', 'create', 'kept']);
  await dockerOk(e, ['run', '--rm', '-v', 'kept:/v', tag, 'sh', '-c', 'echo still-here > /v/file']);
}

async function expectFilled(e: Env, tag: string): Promise<void> {
  const r = await dockerOk(e, ['run', '--rm', '-v', 'kept:/v', tag, 'cat', '/v/file']);
  expect(r.stdout.trim()).toBe('still-here');
}

/** A file on the OS disk (not the data disk): gone once the OS is replaced. */
const osMark = (e: Env, name: string, cmd: string) => berth(e, ['ssh', name, '--', 'sh', '-c', cmd]);

describe('upgrades keep images, containers and volumes', () => {
  let e: Env;
  beforeAll(async () => {
    e = await makeEnv('upgrade');
  });
  let refreshed: string | undefined;
  afterAll(async () => {
    if (e) for (const n of ['up', 'old']) await berth(e, ['delete', n, '--force']);
    // The build this test made (the image cache is shared across runs: it must not grow by one each time).
    if (refreshed) await fsp.rm(refreshed, { recursive: true, force: true });
  });

  it('berth image build --refresh, then berth start --upgrade: a new OS, the same data', async () => {
    await berthOk(e, ['start', 'up', '--cpus', '2', '--memory', '1GiB']);
    const before = await status(e, 'up');
    expect(before.image?.layout).toBe('data');
    expect(before.image?.imageStore).toBe('containerd');
    await fill(e, 'keep:1');
    await dockerOk(e, ['create', '--name', 'parked', 'keep:1', 'true']);
    expect((await osMark(e, 'up', 'touch /etc/berth-old-os')).code).toBe(0);

    const built = await berthOk(e, ['image', 'build', '--refresh']);
    const newDir = built.stdout.trim().split('\n').pop()!;
    refreshed = newDir;
    expect(path.basename(newDir)).not.toBe(before.image!.id);
    expect((await status(e, 'up')).image?.warning).toMatch(/newer guest image is cached.*--upgrade/);

    const up = await berthOk(e, ['start', 'up', '--upgrade']);
    expect(up.stderr).toMatch(/upgraded the OS to .*images, containers and volumes are kept/);
    const after = await status(e, 'up');
    expect(after.image?.id).toBe(path.basename(newDir));
    expect(after.image?.warning).toBeUndefined();
    expect((await osMark(e, 'up', 'test -e /etc/berth-old-os')).code).toBe(1);
    await expectFilled(e, 'keep:1');
    const ps = await dockerOk(e, ['ps', '-a', '--filter', 'name=parked', '--format', '{{.Names}}']);
    expect(ps.stdout.trim()).toBe('parked');
    await berthOk(e, ['stop', 'up']); // one VM at a time on a small machine
  });

  it('an instance of the previous layout (state on its OS disk) is moved to a data disk', async () => {
    // The previous layout, as an older berth left it: instance.json without an image store, and one disk, a
    // copy-on-write overlay of the image, with everything on it.
    const img = (await berthOk(e, ['image', 'build'])).stdout.trim().split('\n').pop()!;
    await writeConfig(e, 'old', 'cpus: 2\nmemory: 1GiB\n');
    const dir = path.join(e.home, 'old');
    await fsp.writeFile(
      path.join(dir, 'instance.json'),
      JSON.stringify({
        arch: 'x86_64',
        diskBytes: 8 * 1024 ** 3,
        createdAt: new Date().toISOString(),
        imageDir: img,
      }),
      { mode: 0o600 },
    );
    await execa('qemu-img', [
      'create',
      '-q',
      '-f',
      'qcow2',
      '-F',
      'qcow2',
      '-b',
      path.join(img, 'rootfs.qcow2'),
      path.join(dir, 'disk.qcow2'),
      String(8 * 1024 ** 3),
    ]);
    const first = await berthOk(e, ['start', 'old']);
    expect(first.stderr).toMatch(/keeps its engine's data on its OS disk.*berth start --upgrade old/s);
    expect((await status(e, 'old')).image?.layout).toBe('legacy');
    expect(fs.existsSync(path.join(dir, 'data.qcow2'))).toBe(false);
    await fill(e, 'keep:2');
    expect((await dockerOk(e, ['info', '--format', '{{.Driver}}'])).stdout.trim()).toBe('overlay2');

    const up = await berthOk(e, ['start', 'old', '--upgrade']);
    expect(up.stderr).toMatch(/moved the engine's data to its own disk/);
    expect(fs.existsSync(path.join(dir, 'data.qcow2'))).toBe(true);
    const st = await status(e, 'old');
    expect(st.image?.layout).toBe('data');
    expect(st.image?.imageStore).toBe('overlay2'); // its images are in the graph driver's store
    await expectFilled(e, 'keep:2');
    const mnt = await osMark(e, 'old', 'ls -a /mnt/berth-data; findmnt -n -o SOURCE /var/lib/docker');
    expect(mnt.stdout).toMatch(/\bdocker\b/);
    expect(mnt.stdout).toMatch(/vdb/);
    // Its old OS goes in the background.
    const gone = await docker(e, ['info']);
    expect(gone.code).toBe(0);
  });
});
