import { createHash } from 'node:crypto';
import { BINFMT_ARCHES, type Arch } from '../config/schema.js';
import { readGuestTree, type GuestFile, type GuestRuntime } from '../guest/guest-tree.js';

/** Everything that determines the built guest image. Its hash is the cache key. */
export interface ImageRecipe {
  version: number;
  /** The base Debian release: "trixie". A change of suite (or of any source) is a new image. */
  suite: string;
  /** apt sources, one-line style: the base suite, its updates and security suites, and any newer suite. */
  sources: string[];
  /** /etc/apt/preferences.d/berth: which packages come from the newer suite (empty: none). */
  aptPreferences: string;
  arch: Arch;
  packages: string[];
  dpkgExcludes: string[];
  /**
   * The files the build hands mmdebstrap's hooks (see build.ts): build/customize.sh runs as its customize hook,
   * build/essential.sh (if present) as its essential hook, both with the tree's folder as $2. berth's own: guest/
   * plus the generated guest.conf (guest-tree.ts).
   */
  tree: GuestFile[];
  /** x86_64: boot the kernel's uncompressed ELF through its PVH entry (see kernel.ts) instead of the bzImage. */
  pvhKernel?: boolean;
}

const DEBIAN_ARCH: Record<Arch, string> = { x86_64: 'amd64', aarch64: 'arm64' };

export function debianArch(arch: Arch): string {
  return DEBIAN_ARCH[arch];
}

/**
 * The built-in image for an arch and a container runtime: the runtime brings its packages (docker.io for
 * Docker) and its guest overlay, so another runtime is another image.
 */
export function defaultRecipe(arch: Arch, runtime: GuestRuntime): ImageRecipe {
  const base = 'trixie';
  return {
    version: 2,
    suite: base,
    sources: debianSources(base, runtime.newer?.suite),
    aptPreferences: runtime.newer ? pinFrom(runtime.newer.suite, runtime.newer.packages) : '',
    arch,
    packages: [
      arch === 'x86_64' ? 'linux-image-amd64' : 'linux-image-arm64',
      ...runtime.packages,
      'openssh-server',
      'iproute2',
      'udev',
      'kmod',
      'ca-certificates',
      'e2fsprogs',
      // Since QEMU 9.1 (trixie) qemu-user's interpreters are static binaries; qemu-user-binfmt has their binfmt
      // entries (berth registers them itself, with flag F: see berth-setup).
      'qemu-user',
      'qemu-user-binfmt',
      'dnsmasq-base',
      'busybox-static', // berth's initrd
      'cpio', // to pack it
      'git', // BuildKit's git contexts (docker build https://…/repo.git)
    ],
    // Files nobody reads in a headless engine VM: docs, man pages, translations, and kernel
    // drivers for hardware a VM never has. Keeps the image small and the build fast.
    dpkgExcludes: [
      // qemu-user: keep only the interpreters berth registers (the package has ~30, 380 MB).
      '/usr/bin/qemu-*',
      ...BINFMT_ARCHES.map((a) => `!/usr/bin/qemu-${a}`),
      '/usr/lib/binfmt.d/qemu-*',
      ...BINFMT_ARCHES.map((a) => `!/usr/lib/binfmt.d/qemu-${a}.conf`),
      '/usr/share/qemu/binfmt.d/*',
      ...BINFMT_ARCHES.map((a) => `!/usr/share/qemu/binfmt.d/qemu-${a}.conf`),
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
    tree: readGuestTree(runtime),
    pvhKernel: arch === 'x86_64',
  };
}

/**
 * The base suite with its updates and security suites, and a newer suite that only pinned packages come from.
 * BERTH_DEBIAN_MIRROR / BERTH_DEBIAN_SECURITY_MIRROR override the archive's addresses.
 */
export function debianSources(base: string, newer?: string): string[] {
  const mirror = process.env.BERTH_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';
  const security = process.env.BERTH_DEBIAN_SECURITY_MIRROR ?? 'http://deb.debian.org/debian-security';
  return [
    `deb ${mirror} ${base} main`,
    `deb ${mirror} ${base}-updates main`,
    `deb ${security} ${base}-security main`,
    // Testing's Release file can lapse past its Valid-Until between archive pushes (forky's had, by 24 days,
    // on 2026-11-30); the base suites keep the check.
    ...(newer ? [`deb [check-valid-until=no] ${mirror} ${newer} main`] : []),
  ];
}

/** apt preferences: the newer suite below the base (100 < 500), except the named packages (990). */
export function pinFrom(suite: string, packages: readonly string[]): string {
  return (
    `Package: *\nPin: release n=${suite}\nPin-Priority: 100\n\n` +
    `Package: ${packages.join(' ')}\nPin: release n=${suite}\nPin-Priority: 990\n`
  );
}

/** The image cache's key: every field, and each file of the tree by path, mode and content. */
export function recipeHash(r: ImageRecipe): string {
  const { tree, ...rest } = r;
  const h = createHash('sha256').update(JSON.stringify(rest, Object.keys(rest).sort()));
  for (const f of [...tree].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)))
    h.update(`${f.path}\0${f.mode.toString(8)}\0${Buffer.byteLength(f.data)}\0`).update(f.data);
  return h.digest('hex').slice(0, 16);
}
