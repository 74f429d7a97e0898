import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Driver } from '../driver/driver.js';
import type { GuestImage } from '../image/image.js';
import { instanceFile } from '../store/paths.js';
import { instanceInfoRecord } from '../store/records.js';
import { diskLayout, imageAgeDays, upgradeInstance } from './upgrade.js';

const NAME = 'box';
let home: string;

function image(id: string, createdAt = new Date().toISOString()): GuestImage {
  const dir = path.join(home, 'images', id);
  return {
    id,
    dir,
    kernel: `${dir}/vmlinuz`,
    initrd: `${dir}/initrd.img`,
    rootfs: `${dir}/rootfs.qcow2`,
    manifest: { format: 1, arch: 'x86_64', source: `built:${id}`, kernelVersion: '6.12', createdAt },
  };
}

/** A driver whose flattenDisk copies the file (the real one: qemu-img convert), failing when told to. */
function driver(opts: { failFlatten?: boolean } = {}): Driver {
  return {
    flattenDisk: async (from: string, to: string) => {
      if (opts.failFlatten) throw new Error('disk full');
      await fsp.copyFile(from, to);
    },
  } as unknown as Driver;
}

const exists = (f: 'disk' | 'dataDisk') => fs.existsSync(instanceFile(NAME, f));

describe('upgradeInstance', () => {
  beforeEach(async () => {
    home = await fsp.mkdtemp(path.join(os.tmpdir(), 'berth-upgrade-'));
    process.env.BERTH_HOME = home;
    await fsp.mkdir(path.join(home, NAME), { recursive: true });
  });
  afterEach(async () => {
    delete process.env.BERTH_HOME;
    await fsp.rm(home, { recursive: true, force: true });
  });

  const info = (extra: object = {}) =>
    instanceInfoRecord.write(NAME, {
      arch: 'x86_64',
      diskBytes: 1,
      createdAt: 'then',
      imageDir: image('old').dir,
      ...extra,
    });

  it('reads the layout from the disks: none or both = data disk, an OS disk alone = the previous layout', async () => {
    expect(diskLayout(NAME)).toBe('data');
    await fsp.writeFile(instanceFile(NAME, 'disk'), 'os');
    expect(diskLayout(NAME)).toBe('legacy');
    await fsp.writeFile(instanceFile(NAME, 'dataDisk'), 'data');
    expect(diskLayout(NAME)).toBe('data');
  });

  it('a data-disk instance: drops the OS disk and its saved state, keeps the data disk and the image store', async () => {
    await info({ imageStore: 'containerd' });
    await fsp.writeFile(instanceFile(NAME, 'disk'), 'os');
    await fsp.writeFile(instanceFile(NAME, 'dataDisk'), 'data');
    await fsp.writeFile(instanceFile(NAME, 'suspendState'), 'ram');
    const out = await upgradeInstance(NAME, driver(), image('new'), () => undefined);
    expect(out).toEqual({ from: image('old').dir, to: image('new').dir, migrated: false });
    expect(exists('disk')).toBe(false);
    expect(await fsp.readFile(instanceFile(NAME, 'dataDisk'), 'utf8')).toBe('data');
    expect(fs.existsSync(instanceFile(NAME, 'suspendState'))).toBe(false);
    const after = await instanceInfoRecord.read(NAME);
    expect(after).toMatchObject({ imageDir: image('new').dir, imageStore: 'containerd' });
    expect(after?.upgrade).toBeUndefined();
  });

  it('the previous layout: its OS disk becomes the data disk, with the graph-driver store', async () => {
    await info();
    await fsp.writeFile(instanceFile(NAME, 'disk'), 'everything');
    const out = await upgradeInstance(NAME, driver(), image('new'), () => undefined);
    expect(out.migrated).toBe(true);
    expect(await fsp.readFile(instanceFile(NAME, 'dataDisk'), 'utf8')).toBe('everything');
    expect(exists('disk')).toBe(false);
    expect((await instanceInfoRecord.read(NAME))?.imageStore).toBe('overlay2');
  });

  it('cut short, it leaves the old disk and a record that says an upgrade is under way; run again, it finishes', async () => {
    await info();
    await fsp.writeFile(instanceFile(NAME, 'disk'), 'everything');
    await expect(
      upgradeInstance(NAME, driver({ failFlatten: true }), image('new'), () => undefined),
    ).rejects.toThrow('disk full');
    expect(await fsp.readFile(instanceFile(NAME, 'disk'), 'utf8')).toBe('everything');
    expect((await instanceInfoRecord.read(NAME))?.upgrade).toEqual({ to: image('new').dir });
    const out = await upgradeInstance(NAME, driver(), image('new'), () => undefined);
    expect(out.migrated).toBe(true);
    expect(await fsp.readFile(instanceFile(NAME, 'dataDisk'), 'utf8')).toBe('everything');
    expect((await instanceInfoRecord.read(NAME))?.upgrade).toBeUndefined();
  });

  it('refuses an image of another architecture before touching anything', async () => {
    await info();
    await fsp.writeFile(instanceFile(NAME, 'disk'), 'everything');
    const arm = { ...image('arm'), manifest: { ...image('arm').manifest, arch: 'aarch64' as const } };
    await expect(upgradeInstance(NAME, driver(), arm, () => undefined)).rejects.toThrow(/for aarch64/);
    expect(exists('disk')).toBe(true);
    expect((await instanceInfoRecord.read(NAME))?.upgrade).toBeUndefined();
  });

  it('counts an image age in whole days', () => {
    const now = Date.parse('2026-12-01T00:00:00Z');
    expect(imageAgeDays(image('a', '2026-10-31T12:00:00Z'), now)).toBe(30);
    expect(imageAgeDays(image('b', '2026-11-30T23:00:00Z'), now)).toBe(0);
  });
});
