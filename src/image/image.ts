import type { Arch } from '../config/schema.js';

export { IMAGE_FILES } from '../store/filenames.js';

export interface ImageManifest {
  format: 1;
  arch: Arch;
  /** "built:<recipe hash>" or "sha256:<digest of the archive>" */
  source: string;
  kernelVersion: string;
  createdAt: string;
  /** The Debian release the image is built on (built images). */
  suite?: string;
  /** Package versions: kernel, dockerd, containerd, runc (built images; see packageVersions). */
  versions?: Record<string, string>;
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
