#!/bin/sh
# mmdebstrap's essential hook: $1 the root being built, $2 berth's guest tree (see src/image/build.ts). Runs after
# the essential packages and before the rest: the initramfs settings must be in place before the kernel package
# builds its initrd, so it is built once and lean (under qemu-user, for a foreign-arch image, every initrd build
# costs minutes).
set -eu
R="$1"
G="$2"
install -d "$R/etc/initramfs-tools/conf.d" "$R/etc/initramfs-tools/hooks"
install -m 0644 "$G/build/initramfs.conf" "$R/etc/initramfs-tools/conf.d/berth.conf"
install -m 0755 "$G/build/initramfs-hook" "$R/etc/initramfs-tools/hooks/berth"
