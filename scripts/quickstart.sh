#!/usr/bin/env bash
# berth's main job on a fresh Debian machine: set up, start the default instance, and run a container
# through the host's docker CLI. The image is built from local files (no registry needed).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# The docker CLI setup.sh installed for you (when the machine had none) is in ~/.local/bin, which your PATH may
# not hold yet.
if ! command -v docker >/dev/null 2>&1 && [ -x "$HOME/.local/bin/docker" ]; then
  PATH="$HOME/.local/bin:$PATH"
fi
if [ "$(id -u)" -eq 0 ]; then
  # berth refuses VMs as root unless told (SECURITY.md): a fresh machine set up as root is a throwaway one.
  echo "quickstart: running as root: BERTH_ALLOW_ROOT=1 (use your own user on a real machine)" >&2
  export BERTH_ALLOW_ROOT=1
fi
./bin/berth start
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp "$(command -v busybox)" "$ctx/busybox"
printf 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox","--install","-s","/bin"]\nCMD ["sh"]\n' > "$ctx/Dockerfile"
echo "+ docker build -t berth-hello (FROM scratch + busybox-static)" >&2
docker build -q -t berth-hello "$ctx" >/dev/null
echo "+ docker run --rm berth-hello" >&2
docker run --rm berth-hello sh -c 'echo "Hello from a container in berth: $(uname -sm), $(cat /proc/cpuinfo | grep -c ^processor) CPUs"'
