#!/usr/bin/env bash
# Installs what berth needs on a Debian machine (only what is missing), then builds berth.
# Safe to run again, as root or as your own user. Root (sudo) is needed only for missing Debian packages (and,
# on a host without systemd, to register qemu-user-static's aarch64 interpreter once); everything else lands in
# this checkout and in your home.
set -euo pipefail
cd "$(dirname "$0")/.."

# tool → Debian package
declare -A NEED=(
  [qemu-system-x86_64]=qemu-system-x86
  [qemu-img]=qemu-utils
  [mmdebstrap]=mmdebstrap
  [mkfs.ext4]=e2fsprogs
  [debugfs]=e2fsprogs
  # the guest image is built in a user namespace when you are not root (mmdebstrap --mode=unshare)
  [newuidmap]=uidmap
  [xz]=xz-utils
  [busybox]=busybox-static
  [script]=bsdutils
  [ssh]=openssh-client
  [ssh-keygen]=openssh-client
  # npm run lint / npm test: the guest tree's shell scripts and Perl tests
  [shellcheck]=shellcheck
  [prove]=perl
)
missing=()
for tool in "${!NEED[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || [ -x "/sbin/$tool" ] || missing+=("${NEED[$tool]}")
done
# SeaBIOS and the virtio option ROM are QEMU runtime files (not tools on PATH).
[ -e /usr/share/seabios/bios-256k.bin ] || missing+=(seabios)
[ -e /usr/lib/ipxe/qemu/efi-virtio.rom ] || missing+=(ipxe-qemu)
# Foreign-arch VMs (berth start --arch aarch64): the emulator, and qemu-user + arch-test to bootstrap the
# arm64 guest image on this host.
command -v qemu-system-aarch64 >/dev/null 2>&1 || missing+=(qemu-system-arm)
[ -e /usr/lib/binfmt.d/qemu-aarch64.conf ] || missing+=(qemu-user-static)
command -v arch-test >/dev/null 2>&1 || missing+=(arch-test)

if [ ${#missing[@]} -gt 0 ]; then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  apt_line="apt-get install --no-install-recommends ${missing[*]}"
  if [ "$(id -u)" -eq 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  elif command -v sudo >/dev/null 2>&1 && { sudo -n true 2>/dev/null || [ -t 0 ]; }; then
    echo "setup: these Debian packages are missing: ${missing[*]}" >&2
    echo "setup: installing them needs root: running sudo apt-get (the only step that does)" >&2
    sudo apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: these Debian packages are missing: ${missing[*]}" >&2
    echo "setup: sudo is not available to you here: ask an admin to run, once:" >&2
    echo "  apt-get update && $apt_line" >&2
    exit 1
  fi
fi

# aarch64 images are bootstrapped through qemu-user: its interpreter must be registered in binfmt_misc
# (host-wide). Installing qemu-user-static does that under systemd; without systemd, root does it here.
binfmt=/proc/sys/fs/binfmt_misc
if [ "$(uname -m)" != aarch64 ] && [ ! -e "$binfmt/qemu-aarch64" ]; then
  if [ "$(id -u)" -eq 0 ]; then
    mountpoint -q "$binfmt" || mount -t binfmt_misc binfmt_misc "$binfmt" 2>/dev/null || true
    if [ -w "$binfmt/register" ]; then
      echo "setup: registering qemu-aarch64 in binfmt_misc (for aarch64 guest images)" >&2
      grep '^:' /usr/lib/binfmt.d/qemu-aarch64.conf >"$binfmt/register"
    fi
  else
    echo "setup: note: qemu-aarch64 is not registered in binfmt_misc, so aarch64 guest images cannot be built;" >&2
    echo "  an admin can register it once: sudo sh -c 'mountpoint -q $binfmt || mount -t binfmt_misc binfmt_misc $binfmt; grep \"^:\" /usr/lib/binfmt.d/qemu-aarch64.conf > $binfmt/register'" >&2
  fi
fi

# As your own user the guest image is built with your subordinate ids (/etc/subuid, /etc/subgid): useradd
# gives every new user a range; an older account may lack one.
if [ "$(id -u)" -ne 0 ]; then
  me=$(id -un)
  for f in /etc/subuid /etc/subgid; do
    # As mmdebstrap reads it: the first line with the user's name, which must hold 65536 ids.
    if ! awk -F: -v me="$me" '$1 == me { found = 1; ok = ($3 >= 65536); exit } END { exit !(found && ok) }' "$f" 2>/dev/null; then
      echo "setup: $me has no range in $f, which building the guest image needs; an admin can add one once:" >&2
      echo "  sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 $me   (pick a range nobody in $f has)" >&2
      break
    fi
  done
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm dependencies" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi
echo "setup: building berth" >&2
npm run --silent build
# No docker CLI: a current one (with compose and buildx) from the engine's Debian release, as berth installs the
# plugins (berth cli install; Debian 12's own docker.io CLI is 20.10).
bin="$HOME/.local/bin"
[ "$(id -u)" -ne 0 ] || bin=/usr/local/bin
if ! command -v docker >/dev/null 2>&1 && [ ! -x "$bin/docker" ]; then
  echo "setup: installing the docker CLI into $bin" >&2
  node dist/cli/main.js cli install --docker-cli --bin-dir "$bin"
fi
if ! command -v docker >/dev/null 2>&1 && [ -x "$bin/docker" ]; then
  echo "setup: $bin is not on your PATH: add it (e.g. in ~/.profile: PATH=\"\$HOME/.local/bin:\$PATH\") to use docker" >&2
fi
