import { createHash } from 'node:crypto';
import fsp from 'node:fs/promises';
import type { InstanceConfig } from '../config/schema.js';
import { writeFileAtomic } from '../store/instance-store.js';
import { instanceFile } from '../store/paths.js';
import { isErrnoException } from '../util/errors.js';

/** Describes a suspended VM's state file; written only after the state file is complete. */
export interface SavedStateMeta {
  fingerprint: string;
  imageId: string;
  sizeBytes: number;
  savedAt: string;
}

/** What must be identical for a saved state to be resumable: the VM's hardware (shared folders are devices too) and its disk's base. */
export function stateFingerprint(cfg: InstanceConfig, imageId: string, qemuVersion: string): string {
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
        qemuVersion,
      }),
    )
    .digest('hex')
    .slice(0, 16);
}

export async function readSavedState(name: string): Promise<SavedStateMeta | undefined> {
  try {
    const meta = JSON.parse(await fsp.readFile(instanceFile(name, 'suspendMeta'), 'utf8')) as SavedStateMeta;
    const st = await fsp.stat(instanceFile(name, 'suspendState'));
    // A state file whose size differs from what was recorded is partial or was modified.
    return st.size === meta.sizeBytes ? meta : { ...meta, sizeBytes: -st.size };
  } catch (err) {
    if (isErrnoException(err, 'ENOENT') || err instanceof SyntaxError) return undefined;
    throw err;
  }
}

export async function writeSavedStateMeta(name: string, meta: SavedStateMeta): Promise<void> {
  await writeFileAtomic(instanceFile(name, 'suspendMeta'), JSON.stringify(meta, null, 2) + '\n');
}

export async function discardSavedState(name: string): Promise<void> {
  await fsp.rm(instanceFile(name, 'suspendMeta'), { force: true });
  await fsp.rm(instanceFile(name, 'suspendState'), { force: true });
  await fsp.rm(`${instanceFile(name, 'suspendState')}.tmp`, { force: true });
}

/** Why a saved state cannot be used, or undefined when it can. */
export function savedStateProblem(meta: SavedStateMeta, fingerprint: string): string | undefined {
  if (meta.sizeBytes < 0) return 'the saved state file is incomplete or was changed';
  if (meta.fingerprint !== fingerprint) return 'the configuration, image or QEMU changed since it was saved';
  return undefined;
}
