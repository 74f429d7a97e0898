import { createHash } from 'node:crypto';
import fsp from 'node:fs/promises';
import type { InstanceConfig } from '../config/schema.js';
import { tempFile } from '../store/filenames.js';
import { instanceFile } from '../store/paths.js';
import { savedStateRecord, type SavedStateMeta } from '../store/records.js';
import { isErrnoException } from '../util/errors.js';

/**
 * What must be identical for a saved state to be resumable: the VM's hardware (shared folders are devices
 * too), its disk's base, and the hypervisor (the driver's own fingerprint: binary and version).
 */
export function stateFingerprint(cfg: InstanceConfig, imageId: string, hypervisor: string): string {
  return createHash('sha256')
    .update(
      JSON.stringify({
        arch: cfg.arch,
        cpus: cfg.cpus,
        memory: cfg.memory,
        disk: cfg.disk,
        accel: cfg.accel,
        binfmt: cfg.binfmt,
        mounts: cfg.mounts,
        imageId,
        qemuVersion: hypervisor,
      }),
    )
    .digest('hex')
    .slice(0, 16);
}

/**
 * The saved state's record; its size is negative when the state file is partial or was modified. A state file
 * without a usable record (a crash between the two writes, a damaged record) reads as unusable, so the next
 * start discards it with a notice instead of leaving it on disk for ever.
 */
export async function readSavedState(name: string): Promise<SavedStateMeta | undefined> {
  let size: number;
  try {
    size = (await fsp.stat(instanceFile(name, 'suspendState'))).size;
  } catch (err) {
    if (isErrnoException(err, 'ENOENT')) return undefined;
    throw err;
  }
  const meta = await savedStateRecord.read(name);
  if (!meta) return { fingerprint: '', imageId: '', sizeBytes: -size, savedAt: 'unknown' };
  return size === meta.sizeBytes ? meta : { ...meta, sizeBytes: -size };
}

export async function discardSavedState(name: string): Promise<void> {
  await savedStateRecord.remove(name);
  await fsp.rm(instanceFile(name, 'suspendState'), { force: true });
  await fsp.rm(tempFile(instanceFile(name, 'suspendState')), { force: true });
}

/** Why a saved state cannot be used, or undefined when it can. */
export function savedStateProblem(meta: SavedStateMeta, fingerprint: string): string | undefined {
  if (meta.sizeBytes < 0) return 'the saved state file is incomplete or was changed';
  if (meta.fingerprint !== fingerprint) return 'the configuration, image or QEMU changed since it was saved';
  return undefined;
}
