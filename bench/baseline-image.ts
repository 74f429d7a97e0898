import fs from 'node:fs';
import path from 'node:path';
import { GUEST_DIR } from '../src/guest/guest-tree.js';
import { buildImage } from '../src/image/build.js';
import { debianSources, pinFrom, recipeHash, type ImageRecipe } from '../src/image/recipe.js';
import { dockerRuntime } from '../src/runtime/docker/docker-runtime.js';

const newer = dockerRuntime.guest.newer!;
import { imageCacheDir } from '../src/store/paths.js';

/**
 * The baseline guest: the plain image of ../shared/FIELD-NOTES.md (mmdebstrap minbase with systemd, the
 * Debian kernel, docker.io, openssh-server), with only what booting it by hand needs: DHCP via networkd and
 * an authorized key read from fw_cfg (what cloud-init would do, far cheaper). None of berth's boot trimming.
 */
const CUSTOMIZE = `#!/bin/sh
set -eu
R="$1"
mkdir -p "$R/etc/systemd/network"
printf '[Match]\\nName=en*\\n\\n[Network]\\nDHCP=yes\\n' > "$R/etc/systemd/network/20-dhcp.network"
rm -f "$R/etc/resolv.conf"; echo 'nameserver 10.0.2.3' > "$R/etc/resolv.conf"
cat > "$R/etc/systemd/system/bench-keys.service" <<'UNIT'
[Unit]
Description=authorized key from fw_cfg
Before=ssh.service
[Service]
Type=oneshot
ExecStart=/bin/sh -c 'modprobe qemu_fw_cfg; mkdir -p -m 0700 /root/.ssh; cat /sys/firmware/qemu_fw_cfg/by_name/opt/bench/authorized_keys/raw > /root/.ssh/authorized_keys'
[Install]
WantedBy=multi-user.target
UNIT
chroot "$R" systemctl enable systemd-networkd.service bench-keys.service >/dev/null
rm -rf "$R/var/cache/apt/archives/"*.deb "$R/var/lib/apt/lists/"*
`;

export function baselineRecipe(): ImageRecipe {
  return {
    version: 2,
    // The same Debian and engine as berth's guest (image/recipe.ts): a fair comparison.
    suite: 'trixie',
    sources: debianSources('trixie', newer.suite),
    aptPreferences: pinFrom(newer.suite, newer.packages),
    arch: 'x86_64',
    packages: [
      'systemd-sysv',
      'linux-image-amd64',
      'docker.io',
      'openssh-server',
      'iproute2',
      'udev',
      'kmod',
      'ca-certificates',
    ],
    dpkgExcludes: [],
    tree: [
      { path: 'build/customize.sh', mode: 0o755, data: CUSTOMIZE },
      // berth's own step from mmdebstrap's tarball to the ext4 and qcow2 (src/image/build.ts): the same for both.
      {
        path: 'build/filesystem.sh',
        mode: 0o755,
        data: fs.readFileSync(path.join(GUEST_DIR, 'build', 'filesystem.sh')),
      },
    ],
  };
}

export async function ensureBaselineImage(
  progress: (m: string) => void,
): Promise<{ kernel: string; initrd: string; rootfs: string }> {
  const r = baselineRecipe();
  const dir = path.join(imageCacheDir(), `bench-baseline-${recipeHash(r)}`);
  if (!fs.existsSync(path.join(dir, 'image.json'))) await buildImage(r, dir, progress);
  return {
    kernel: path.join(dir, 'vmlinuz'),
    initrd: path.join(dir, 'initrd.img'),
    rootfs: path.join(dir, 'rootfs.qcow2'),
  };
}
