import { z } from 'zod';
import { jsonRecord } from './json-record.js';

const fileSeal = z.object({
  sha256: z.string(),
  size: z.number(),
  mtimeMs: z.number(),
  ctimeMs: z.number(),
  ino: z.number(),
});
/**
 * What an instance recorded of the image files it boots (in instance.json, under BERTH_HOME, not in the image
 * cache): their sha256, and the stat that lets the large root filesystem skip rehashing while it is untouched
 * (a write, a copy or a rename over it changes its ctime or inode, which no user can set back).
 */
export const imageSealSchema = z.object({
  /** The image folder the seal is of. */
  dir: z.string(),
  kernel: fileSeal,
  initrd: fileSeal,
  rootfs: fileSeal,
});
export type ImageSeal = z.infer<typeof imageSealSchema>;

/** instance.json: facts fixed when an instance is created, checked on every start. */
export const InstanceInfoSchema = z
  .object({
    arch: z.string(),
    /** The largest disk size ever applied (disks grow, never shrink). */
    diskBytes: z.number(),
    createdAt: z.string(),
    /**
     * The cached image the instance's disk was created from (its qcow2 backing file). The instance keeps
     * booting that image's kernel even when a newer berth builds a newer image: a kernel must match the
     * modules on the disk.
     */
    imageDir: z.string().optional(),
    /**
     * Docker's image store, fixed when the data disk is made: `containerd` for a new instance (multi-platform
     * images), `overlay2` (the graph driver's) for one moved from the previous layout, whose images are there.
     * Absent: an instance of the previous layout (no data disk).
     */
    imageStore: z.enum(['containerd', 'overlay2']).optional(),
    /** The pinned image's files as the instance first booted them (image/seal.ts checks them at each boot). */
    imageSeal: imageSealSchema.optional(),
    /** An upgrade under way (instance/upgrade.ts): the next start finishes it. */
    upgrade: z.object({ to: z.string() }).optional(),
  })
  .passthrough();
export type InstanceInfo = z.infer<typeof InstanceInfoSchema>;
export const instanceInfoRecord = jsonRecord('instanceInfo', InstanceInfoSchema);

/** runtime.json: facts about the current (or last) run of an instance, written by its host agent. */
export const RuntimeStateSchema = z
  .object({
    sshPort: z.number(),
    accel: z.string(),
    imageId: z.string(),
    imageDir: z.string(),
    qemuPid: z.number().optional(),
    agentPid: z.number().optional(),
    startedAt: z.string(),
    /** Hardware fingerprint of the running VM (see instance/saved-state.ts). */
    fingerprint: z.string().optional(),
    /** Docker platforms the engine can run (native first), as found in the guest when it became ready. */
    platforms: z.array(z.string()).optional(),
  })
  .passthrough();
export type RuntimeState = z.infer<typeof RuntimeStateSchema>;
export const runtimeRecord = jsonRecord('runtime', RuntimeStateSchema, { lenient: true });

/** crashes.json: the VM's unexpected ends and the restarts they led to (hostagent/restart-policy.ts). */
export const CrashRecordSchema = z
  .object({
    /** When the agent restarted the VM (ms since the epoch), for the back-off and the crash-loop count. */
    restarts: z.array(z.number()),
    /** The last unexpected end. */
    last: z.object({ at: z.string(), kind: z.string(), text: z.string() }).optional(),
    /** Set when berth gave up: the next `berth start` clears it. */
    crashLoop: z.boolean().optional(),
  })
  .passthrough();
export type CrashRecord = z.infer<typeof CrashRecordSchema>;
export const crashRecord = jsonRecord('crashes', CrashRecordSchema, { lenient: true });

/** suspend.json: describes a suspended VM's state file; written only after the state file is complete. */
export const SavedStateMetaSchema = z
  .object({
    fingerprint: z.string(),
    imageId: z.string(),
    sizeBytes: z.number(),
    savedAt: z.string(),
  })
  .passthrough();
export type SavedStateMeta = z.infer<typeof SavedStateMetaSchema>;
export const savedStateRecord = jsonRecord('suspendMeta', SavedStateMetaSchema, { lenient: true });
