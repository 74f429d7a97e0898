import { createHash } from 'node:crypto';
import { BINFMT_ARCHES, type Arch } from '../config/schema.js';
import { GUEST_FILES } from '../guest/guest-files.js';

/** Everything that determines the built guest image. Its hash is the cache key. */
export interface ImageRecipe {
  version: number;
  suite: string;
  mirror: string;
  arch: Arch;
  packages: string[];
  dpkgExcludes: string[];
  files: Record<string, string>;
  /** x86_64: boot the kernel's uncompressed ELF through its PVH entry (see kernel.ts) instead of the bzImage. */
  pvhKernel?: boolean;
}

const DEBIAN_ARCH: Record<Arch, string> = { x86_64: 'amd64', aarch64: 'arm64' };

export function debianArch(arch: Arch): string {
  return DEBIAN_ARCH[arch];
}

export function defaultRecipe(arch: Arch): ImageRecipe {
  return {
    version: 1,
    suite: 'bookworm',
    mirror: process.env.BERTH_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian',
    arch,
    packages: [
      arch === 'x86_64' ? 'linux-image-amd64' : 'linux-image-arm64',
      'docker.io',
      'openssh-server',
      'iproute2',
      'udev',
      'kmod',
      'ca-certificates',
      'e2fsprogs',
      'qemu-user-static',
      'dnsmasq-base',
      'busybox-static', // berth's initrd
    ],
    // Files nobody reads in a headless engine VM: docs, man pages, translations, and kernel
    // drivers for hardware a VM never has. Keeps the image small and the build fast.
    dpkgExcludes: [
      // qemu-user-static: keep only the interpreters berth registers (the package has ~30, 380 MB).
      '/usr/bin/qemu-*',
      ...BINFMT_ARCHES.map((a) => `!/usr/bin/qemu-${a}-static`),
      '/usr/lib/binfmt.d/qemu-*',
      ...BINFMT_ARCHES.map((a) => `!/usr/lib/binfmt.d/qemu-${a}.conf`),
      '/usr/libexec/qemu-binfmt/*',
      ...BINFMT_ARCHES.map((a) => `!/usr/libexec/qemu-binfmt/${a}-binfmt-P`),
      '/usr/share/binfmts/*',
      '/usr/share/doc/*',
      '/usr/share/man/*',
      '/usr/share/info/*',
      '/usr/share/locale/*',
      '/usr/share/lintian/*',
      '/usr/lib/modules/*/kernel/drivers/gpu/*',
      '/usr/lib/modules/*/kernel/drivers/net/wireless/*',
      '/usr/lib/modules/*/kernel/drivers/net/ethernet/*',
      '/usr/lib/modules/*/kernel/drivers/media/*',
      '/usr/lib/modules/*/kernel/drivers/infiniband/*',
      '/usr/lib/modules/*/kernel/drivers/staging/*',
      '/usr/lib/modules/*/kernel/drivers/bluetooth/*',
      '/usr/lib/modules/*/kernel/drivers/isdn/*',
      '/usr/lib/modules/*/kernel/drivers/iio/*',
      '/usr/lib/modules/*/kernel/drivers/hid/*',
      '/usr/lib/modules/*/kernel/drivers/usb/*',
      '/usr/lib/modules/*/kernel/drivers/scsi/*',
      '/usr/lib/modules/*/kernel/sound/*',
      '/usr/lib/modules/*/kernel/net/wireless/*',
      '/usr/lib/modules/*/kernel/net/mac80211/*',
      '/usr/lib/modules/*/kernel/net/bluetooth/*',
    ],
    files: GUEST_FILES,
    pvhKernel: arch === 'x86_64',
  };
}

export function recipeHash(r: ImageRecipe): string {
  const canonical = JSON.stringify(r, Object.keys(r).sort());
  const h = createHash('sha256').update(canonical);
  for (const k of Object.keys(r.files).sort()) h.update(k).update('\0').update(r.files[k]!).update('\0');
  return h.digest('hex').slice(0, 16);
}
