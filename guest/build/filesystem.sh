#!/bin/sh
# Makes the image's files from the root filesystem that mmdebstrap wrote as a tarball (see src/image/build.ts).
# Runs inside `mmdebstrap --unshare-helper`: for an ordinary user a user namespace where the user's subordinate
# ids are 0…65535, the ids the tarball's owners were written in (root: the same without a user namespace). So
# the files extracted here keep the tarball's owners, modes, set-id bits and xattrs as mkfs.ext4 -d sees them,
# and what an unprivileged user could neither read nor delete outside never leaves the namespace: extracted,
# made into the filesystem and removed in here.
#   stdin:  the root filesystem as a tar (mmdebstrap's output)
#   stdout: a tar of rootfs.qcow2, boot/ (kernels and initrds) and packages (the image's package list)
# Device nodes cannot be made in a user namespace (mknod is refused): their extraction fails (as root they are
# made, then removed), and they are made in the filesystem image itself by debugfs, with the tarball's modes and
# owners, as root or not.
set -eu

# chmod-style octal of an `ls -l`/`tar -tv` mode string (crw-rw-rw- → 0666; set-id and sticky bits included).
octal_mode() {
  printf '%s\n' "$1" | awk '{
    m = 0; s = substr($0, 2, 9)
    for (i = 1; i <= 9; i++) {
      c = substr(s, i, 1); bit = 2 ^ (9 - i)
      if (c == "r" || c == "w" || c == "x" || c == "s" || c == "t") m += bit
    }
    if (substr(s, 3, 1) ~ /[sS]/) m += 2048
    if (substr(s, 6, 1) ~ /[sS]/) m += 1024
    if (substr(s, 9, 1) ~ /[tT]/) m += 512
    printf "%04o\n", m
  }'
}

main() {
  # stdout is the output tar's alone: everything else says what it says on stderr (mkfs.ext4 -q still talks).
  exec 3>&1 1>&2
  # In $TMPDIR (berth sets it: not a tmpfs /tmp), named so that the next build can tell a leftover of a build
  # killed outright (SIGKILL leaves no trap to run) and remove it.
  T=$(mktemp -d "${TMPDIR:-/tmp}/berth-fs.XXXXXXXX")
  trap 'rm -rf "$T"' EXIT
  trap 'exit 1' HUP INT TERM PIPE
  R="$T/root"
  O="$T/out"
  mkdir "$R" "$O" "$O/boot"
  # Extracted straight from the stream, listed as it goes ("crw-rw-rw- 0/0 5,1 2026-12-07 20:08 ./dev/console").
  # A device node fails in a user namespace ("Cannot mknod: Operation not permitted"), and that is the only
  # failure accepted; as root it is made, and removed again below, so that both make it the same way.
  status=0
  tar --numeric-owner --same-owner --same-permissions --xattrs --xattrs-include='*' -xvvf - -C "$R" \
    >"$T/listing" 2>"$T/tar.err" || status=$?
  awk '$1 ~ /^[cb]/ { split($2, o, "/"); split($3, d, ","); print substr($1, 1, 1), $1, o[1], o[2], d[1], d[2], $NF }' \
    "$T/listing" >"$T/devices"
  if [ "$status" -ne 0 ]; then
    if grep -v -e ': Cannot mknod: Operation not permitted$' -e '^tar: Exiting with failure status due to previous errors$' \
      "$T/tar.err" >&2 || [ "$status" -ne 2 ]; then
      echo "filesystem.sh: extracting the root filesystem failed (tar exit $status)" >&2
      exit 1
    fi
  fi
  rm "$T/listing" "$T/tar.err"
  while read -r _ _ _ _ _ _ name; do rm -f "$R/$name"; done <"$T/devices"

  used=$(du -sb "$R" | cut -f1)
  # 30 % and 256 MiB of room over what the files take.
  size=$(((used * 13 / 10 + 256 * 1048576 + 1048575) / 1048576))
  mkfs.ext4 -q -F -L berth-root -E root_owner=0:0 -d "$R" "$T/rootfs.raw" "${size}M"
  while read -r type mode uid gid major minor name; do
    path=${name#.}
    kind=8192 # S_IFCHR
    [ "$type" = c ] || kind=24576 # S_IFBLK
    perm=$(octal_mode "$mode")
    # debugfs's mknod takes a name in its current folder (a path would become one odd name in /).
    printf 'cd %s\nmknod %s %s %s %s\nsif %s mode 0%o\nsif %s uid %s\nsif %s gid %s\ncd /\n' \
      "${path%/*}/" "${path##*/}" "$type" "$major" "$minor" "${path##*/}" $((kind + 0$perm)) \
      "${path##*/}" "$uid" "${path##*/}" "$gid"
  done <"$T/devices" >"$T/debugfs.cmds"
  if [ -s "$T/debugfs.cmds" ]; then
    # debugfs reports a failed command on stderr but exits 0: any output there is an error.
    debugfs -w -f "$T/debugfs.cmds" "$T/rootfs.raw" >/dev/null 2>"$T/debugfs.err"
    if grep -v '^debugfs [0-9]' "$T/debugfs.err" >&2; then
      echo "filesystem.sh: debugfs could not make the device nodes" >&2
      exit 1
    fi
  fi

  for f in "$R"/boot/vmlinuz-* "$R"/boot/initrd.img-* "$R"/boot/berth-initrd.img; do
    [ ! -f "$f" ] || cp "$f" "$O/boot/"
  done
  [ ! -f "$R/usr/local/lib/berth/packages" ] || cp "$R/usr/local/lib/berth/packages" "$O/packages"
  rm -rf "$R"
  qemu-img convert -f raw -O qcow2 "$T/rootfs.raw" "$O/rootfs.qcow2"
  rm "$T/rootfs.raw"
  tar -C "$O" -cf - . >&3
}

main "$@"
