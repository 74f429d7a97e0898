import fsp from 'node:fs/promises';
import { writeFileAtomic } from '../store/instance-store.js';
import { instanceFile } from '../store/paths.js';
import { isErrnoException } from '../util/errors.js';

/** Facts fixed when an instance is created, checked on every start. */
export interface InstanceInfo {
  arch: string;
  /** The largest disk size ever applied (disks grow, never shrink). */
  diskBytes: number;
  createdAt: string;
  /**
   * The cached image the instance's disk was created from (its qcow2 backing file). The instance keeps
   * booting that image's kernel even when a newer berth builds a newer image: a kernel must match the
   * modules on the disk.
   */
  imageDir?: string;
}

export async function readInstanceInfo(name: string): Promise<InstanceInfo | undefined> {
  try {
    return JSON.parse(await fsp.readFile(instanceFile(name, 'instanceInfo'), 'utf8')) as InstanceInfo;
  } catch (err) {
    if (isErrnoException(err, 'ENOENT')) return undefined;
    throw err;
  }
}

export async function writeInstanceInfo(name: string, info: InstanceInfo): Promise<void> {
  await writeFileAtomic(instanceFile(name, 'instanceInfo'), JSON.stringify(info, null, 2) + '\n');
}
