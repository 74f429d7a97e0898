#!/usr/bin/env bash
# Installs what berth needs on a Debian machine (only what is missing), then builds berth.
# Safe to run again. Needs root (or sudo) only when Debian packages are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# tool → Debian package
declare -A NEED=(
  [qemu-system-x86_64]=qemu-system-x86
  [qemu-img]=qemu-utils
  [mmdebstrap]=mmdebstrap
  [mkfs.ext4]=e2fsprogs
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
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm dependencies" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi
echo "setup: building berth" >&2
npm run --silent build
# No docker CLI: a current one (with compose and buildx) from the engine's Debian release, as berth installs the
# plugins (berth cli install; Debian 12's own docker.io CLI is 20.10).
if ! command -v docker >/dev/null 2>&1; then
  bin="$HOME/.local/bin"
  [ "$(id -u)" -ne 0 ] || bin=/usr/local/bin
  echo "setup: installing the docker CLI into $bin" >&2
  node dist/cli/main.js cli install --docker-cli --bin-dir "$bin"
fi
