#!/usr/bin/env bash
# Sets up what is missing, then runs the whole test suite: lint + types, unit tests, e2e tests (real VMs).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# The e2e tests compile two tiny static helpers (a UDP echo server, an inotify watcher) for their images.
if ! command -v gcc >/dev/null 2>&1 || [ "$(gcc -print-file-name=libc.a)" = libc.a ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends gcc libc6-dev >/dev/null
fi
# The dashboard's e2e test drives Debian's Chromium (playwright-core; no browser download).
if ! command -v chromium >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "test: installing Debian's chromium for the dashboard's browser test" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
npm run --silent typecheck
npm run --silent lint
npm test
# As root (CI): the README's main job as an ordinary user too, with the image that user builds; the e2e tests'
# ordinary-user cases then run as that user, on that image (test/e2e/nonroot.e2e.test.ts).
if [ "$(id -u)" -eq 0 ]; then
  ./scripts/quickstart-as-user.sh
fi
npm run test:e2e
# The benchmark harness must run to completion (speed is never asserted here).
npm run --silent bench -- --quick
