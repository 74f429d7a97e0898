import fs from 'node:fs';
import fsp from 'node:fs/promises';
import type { InstanceConfig } from '../config/schema.js';
import type { Driver } from '../driver/driver.js';
import { newestBuiltImage } from '../image/cache.js';
import { runtimeFor } from '../runtime/runtimes.js';
import type { GuestImage } from '../image/image.js';
import { instanceFile } from '../store/paths.js';
import { instanceInfoRecord } from '../store/records.js';
import { BerthError } from '../util/errors.js';
import { discardSavedState } from './saved-state.js';

/**
 * Where an instance keeps its engine's state: on its own data disk (`data`: the OS disk is the image's,
 * replaceable), or on its OS disk (`legacy`: made before the data disk, still on the image it was made from).
 * A new instance (no disk yet) gets a data disk. Decided by the files, not a record: after any step of an
 * upgrade cut short, the disks say where the state is.
 */
export type DiskLayout = 'data' | 'legacy';

export function diskLayout(name: string): DiskLayout {
  const os = fs.existsSync(instanceFile(name, 'disk'));
  const data = fs.existsSync(instanceFile(name, 'dataDisk'));
  return os && !data ? 'legacy' : 'data';
}

export interface UpgradeOutcome {
  from?: string;
  to: string;
  /** The state moved from the OS disk to a data disk (the previous layout's instance). */
  migrated: boolean;
}

/**
 * Moves a stopped instance to `image`, keeping its engine's state (images, containers, volumes, synchronised
 * folders). The OS disk is dropped (the next boot makes a new one from the image); an instance of the previous
 * layout first has its OS disk copied, whole and standalone, to be its data disk: the guest moves the state
 * to the data disk's top and the old OS aside on its first boot (move_legacy_data in guest sys.pl). A saved
 * state (suspend) is discarded: it belongs to the old disks.
 *
 * Each step can be run again: `upgrade` in instance.json says one is under way, and the next start finishes
 * it before booting (resumeUpgrade). The record changes last.
 */
export async function upgradeInstance(
  name: string,
  driver: Driver,
  image: GuestImage,
  progress: (m: string) => void,
): Promise<UpgradeOutcome> {
  const info = await instanceInfoRecord.read(name);
  if (!info) throw new BerthError('NOT_FOUND', `instance "${name}" has no instance.json`);
  if (info.arch !== image.manifest.arch)
    throw new BerthError(
      'IMAGE',
      `image ${image.id} is for ${image.manifest.arch}, the instance is ${info.arch}`,
    );
  const from = info.imageDir;
  await instanceInfoRecord.write(name, { ...info, upgrade: { to: image.dir } });
  const disk = instanceFile(name, 'disk');
  const data = instanceFile(name, 'dataDisk');
  // The image store is recorded when a data disk is made; only an instance of the previous layout has none.
  const migrated = info.imageStore === undefined;
  await discardSavedState(name);
  if (diskLayout(name) === 'legacy') {
    progress('copying the disk to be the data disk (its images, containers and volumes stay on it)');
    await driver.flattenDisk(disk, data);
  }
  await fsp.rm(disk, { force: true });
  await instanceInfoRecord.write(name, {
    ...info,
    imageDir: image.dir,
    // The previous layout's images are in the graph driver's store: it keeps that store (the containerd image
    // store would not see them).
    imageStore: info.imageStore ?? 'overlay2',
    upgrade: undefined,
  });
  return { from, to: image.dir, migrated };
}

/** Days after which `berth status` and `berth start` call an image old: its packages miss a month of fixes. */
export const IMAGE_MAX_AGE_DAYS = 30;

export function imageAgeDays(image: GuestImage, now = Date.now()): number {
  return Math.floor((now - Date.parse(image.manifest.createdAt)) / 86_400_000);
}

/**
 * What `berth start` says about an instance's pinned image, if anything: the previous layout (the state still
 * on the OS disk), a newer cached build of the built-in image, or an old image. Each says how to move.
 */
export async function upgradeNotice(
  name: string,
  pinned: GuestImage,
  layout: DiskLayout,
  cfg: InstanceConfig,
): Promise<string | undefined> {
  const cmd = `berth start --upgrade${name === 'default' ? '' : ` ${name}`}`;
  if (layout === 'legacy')
    return (
      `this instance keeps its engine's data on its OS disk (made before berth gave it a data disk) and stays ` +
      `on its image ${pinned.id}; "${cmd}" moves the data to its own disk and the OS to the current image, ` +
      `keeping images, containers and volumes`
    );
  if (cfg.image?.path || cfg.image?.url) return undefined; // the user's own image: theirs to change
  const newest = await newestBuiltImage(cfg.arch, runtimeFor(cfg.runtime).guest);
  if (newest && newest.dir !== pinned.dir && newest.manifest.createdAt > pinned.manifest.createdAt)
    return `a newer guest image is cached (${newest.id}, built ${newest.manifest.createdAt.slice(0, 10)}): "${cmd}" moves to it, keeping images, containers and volumes`;
  const age = imageAgeDays(pinned);
  if (age > IMAGE_MAX_AGE_DAYS)
    return `the guest image is ${age} days old (no security fixes since): "berth image build --refresh" then "${cmd}"`;
  return undefined;
}
