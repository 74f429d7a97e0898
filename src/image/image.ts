import type { Arch } from '../config/schema.js';

/** A guest image in the cache: a directory with these files. */
export const IMAGE_FILES = {
  /** x86_64: the uncompressed kernel with its PVH entry (see kernel.ts); otherwise Debian's as shipped. */
  kernel: 'vmlinuz',
  initrd: 'initrd.img',
  rootfs: 'rootfs.qcow2',
  manifest: 'image.json',
} as const;

export interface ImageManifest {
  format: 1;
  arch: Arch;
  /** "built:<recipe hash>" or "sha256:<digest of the archive>" */
  source: string;
  kernelVersion: string;
  createdAt: string;
}

export interface GuestImage {
  id: string;
  dir: string;
  kernel: string;
  initrd: string;
  rootfs: string;
  manifest: ImageManifest;
}

export type ProgressFn = (line: string) => void;
