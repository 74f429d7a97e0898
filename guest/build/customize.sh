#!/bin/sh
# mmdebstrap's customize hook: $1 the root being built, $2 berth's guest tree (see src/image/build.ts), with the
# generated usr/local/lib/berth/guest.conf in rootfs/ and every directory 0755. Runs as root, or as root of the
# user namespace of an unprivileged build: nothing here may need more (no mknod), and the tree's own files may
# belong to the user who built it, so their owners are never copied.
set -eu
R="$1"
G="$2"
# The image's own files, at their paths, with their modes, owned by root.
cp -R --preserve=mode,timestamps "$G/rootfs/." "$R/"
# berth-init is the init: no systemd (see usr/local/sbin/berth-init).
ln -sf /usr/local/sbin/berth-init "$R/sbin/init"
install -d "$R/usr/lib/berth/binfmt" "$R/var/log/berth"
# qemu-user-binfmt's entries are links into /usr/share/qemu/binfmt.d: copy what they point to.
for f in "$R"/usr/lib/binfmt.d/qemu-*.conf; do
  [ ! -e "$f" ] || cp -L "$f" "$R/usr/lib/berth/binfmt/"
  rm -f "$f"
done
rm -f "$R"/etc/ssh/ssh_host_*
# Written at boot from the host's network addresses (berth-init, before dockerd).
rm -f "$R/etc/resolv.conf"
ln -s /run/berth/resolv.conf "$R/etc/resolv.conf"
echo 'root:*' | chroot "$R" chpasswd -e
# root's home is not /root: a host user who is root has /root shared over it, and a login there (berth ssh)
# would run the host's dotfiles in the guest (bash sources ~/.bashrc for ssh commands) and hold the share busy.
# /var/root, as on macOS.
# (Not usermod: it refuses while the build host has root processes.)
cp -a "$R/root" "$R/var/root"
sed -i -E 's#^(root:[^:]*:[^:]*:[^:]*:[^:]*):/root:#\1:/var/root:#' "$R/etc/passwd"
grep -q '^root:.*:/var/root:' "$R/etc/passwd"
# One member of a newc cpio archive with no data: name, mode (decimal), device major and minor; owned by 0:0,
# padded to 4 bytes as the format wants.
newc_member() {
  printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%s' \
    1 "$2" 0 0 1 0 0 0 0 "$3" "$4" $((${#1} + 1)) 0 "$1"
  pad=$(((4 - (110 + ${#1} + 1) % 4) % 4))
  head -c $((pad + 1)) /dev/zero
}
# berth's initrd (see initrd/init): busybox, /init, and the modules in dependency order, uncompressed.
# The kernel's version: the (one) folder in /lib/modules.
for K in "$R"/lib/modules/*; do K=${K##*/}; break; done
I="$R/tmp/berth-initrd"
rm -rf "$I"; mkdir -p "$I/bin" "$I/dev" "$I/proc" "$I/root" "$I/lib/modules"
cp "$R/bin/busybox" "$I/bin/busybox"
install -m 0755 "$G/initrd/init" "$I/init"
modules=$(sed -n 's/^initrd_modules=//p' "$R/usr/local/lib/berth/guest.conf")
[ -n "$modules" ] || { echo "customize.sh: no initrd_modules in guest.conf" >&2; exit 1; }
for m in $modules; do chroot "$R" modprobe -S "$K" --show-depends "$m"; done |
  awk '$1 == "insmod" && !seen[$2]++ { print $2 }' |
  while read -r p; do
    b=$(basename "$p")
    cp "$R$p" "$I/lib/modules/$b"
    # Debian's kernel ships them xz-compressed: unpacked once here, not by busybox's insmod at every boot.
    case "$b" in *.xz) xz -d "$I/lib/modules/$b"; b=${b%.xz} ;; esac
    echo "$b"
  done > "$I/modules"
# /dev/console (the kernel opens it before /init runs) as a second newc archive written here: mknod is refused in
# a user namespace, and the kernel unpacks concatenated archives.
{
  chroot "$R" sh -c 'cd /tmp/berth-initrd && find . | cpio -o -H newc -R 0:0 --quiet'
  newc_member dev/console 8576 5 1 # S_IFCHR | 0600
  newc_member TRAILER!!! 0 0 0
} > "$R/boot/berth-initrd.img"
rm -rf "$I"
# What the image holds, for the host (the image's manifest: kernel and engine versions) and for people.
# shellcheck disable=SC2016 # dpkg-query's own ${field} syntax, not the shell's
chroot "$R" dpkg-query -W -f '${Package}\t${Version}\n' > "$R/usr/local/lib/berth/packages"
rm -rf "$R/var/cache/apt/archives/"*.deb "$R/var/lib/apt/lists/"*
