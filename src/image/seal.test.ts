import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { GuestImage } from './image.js';
import { checkImageSeal, recordUserImageSeal, sealImage, userImageSeal } from './seal.js';

let dir: string;
let img: GuestImage;

describe('image seals', () => {
  beforeEach(async () => {
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'berth-seal-'));
    process.env.BERTH_HOME = path.join(dir, 'home');
    img = {
      id: 'built-x',
      dir: path.join(dir, 'built-x'),
      kernel: path.join(dir, 'built-x', 'vmlinuz'),
      initrd: path.join(dir, 'built-x', 'initrd.img'),
      rootfs: path.join(dir, 'built-x', 'rootfs.qcow2'),
      manifest: { format: 1, arch: 'x86_64', source: 'built:x', kernelVersion: '6.12', createdAt: 'now' },
    };
    await fsp.mkdir(img.dir);
    for (const f of [img.kernel, img.initrd, img.rootfs])
      await fsp.writeFile(f, `content of ${path.basename(f)}`);
  });
  afterEach(async () => {
    delete process.env.BERTH_HOME;
    await fsp.rm(dir, { recursive: true, force: true });
  });

  it('passes untouched files, and a root filesystem touched but unchanged (with its new stat)', async () => {
    const seal = await sealImage(img);
    expect(await checkImageSeal(img, seal)).toEqual(seal);
    await fsp.utimes(img.rootfs, new Date(0), new Date(0));
    const again = await checkImageSeal(img, seal);
    expect(again.rootfs.sha256).toBe(seal.rootfs.sha256);
    expect(again.rootfs.mtimeMs).toBe(0);
  });

  it('refuses a changed kernel, naming the file, with a hint', async () => {
    const seal = await sealImage(img);
    await fsp.writeFile(img.kernel, 'a backdoored kernel');
    await expect(checkImageSeal(img, seal)).rejects.toMatchObject({
      code: 'IMAGE',
      message: expect.stringContaining(`${img.kernel} is not the one this instance was made with`),
      hint: expect.stringMatching(/berth start --upgrade/),
    });
  });

  it('refuses a root filesystem changed in place even with its size and mtime put back', async () => {
    const seal = await sealImage(img);
    const st = await fsp.stat(img.rootfs);
    await fsp.writeFile(img.rootfs, 'CONTENT OF rootfs.qcow2');
    await fsp.utimes(img.rootfs, st.atime, st.mtime); // ctime still moves
    await expect(checkImageSeal(img, seal)).rejects.toThrow(/rootfs.qcow2 is not the one/);
  });

  it("keeps the user's seals outside the image cache, by image folder", async () => {
    expect(await userImageSeal(img.dir)).toBeUndefined();
    await recordUserImageSeal(img);
    expect((await userImageSeal(img.dir))?.kernel.sha256).toBe((await sealImage(img)).kernel.sha256);
    expect((await fsp.stat(path.join(dir, 'home', '_config', 'image-seals.json'))).mode & 0o777).toBe(0o600);
  });
});
