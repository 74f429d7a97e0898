#!/usr/bin/env bash
# Sets up what is missing, then runs the whole test suite: lint + types, unit tests, e2e tests (real VMs).
# Each stage is timed; at the end (pass or fail) scripts/test-report.mjs prints where the time went: stages,
# e2e files and cases, the berth commands the tests ran and their phases, guest kernel panics.
set -euo pipefail
cd "$(dirname "$0")/.."
results="$PWD/.test-results"
rm -rf "$results"
mkdir -p "$results"
export BERTH_TEST_RESULTS="$results/e2e.json" BERTH_TEST_TIMINGS="$results/berth.jsonl" BERTH_TEST_FILES="$results/files.jsonl"
report() {
  status=$?
  echo
  echo "================ where the time went ================"
  node scripts/test-report.mjs "$results" || true
  exit "$status"
}
trap report EXIT
# stage NAME CMD…: runs CMD, records its wall time and exit code (and stops the run if it failed).
stage() {
  local name=$1 t0 code=0
  shift
  t0=$(date +%s%3N)
  "$@" || code=$?
  printf '%s\t%s\t%s\n' "$name" "$(($(date +%s%3N) - t0))" "$code" >>"$results/stages.tsv"
  return "$code"
}
packages() {
  # (set -e does not reach into a function run as "cmd || code=$?": each step returns its own failure.)
  local SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  # The e2e tests compile two tiny static helpers (a UDP echo server, an inotify watcher) for their images.
  if ! command -v gcc >/dev/null 2>&1 || [ "$(gcc -print-file-name=libc.a)" = libc.a ]; then
    $SUDO apt-get update -qq || return
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends gcc libc6-dev >/dev/null || return
  fi
  # The dashboard's e2e test drives Debian's Chromium (playwright-core; no browser download).
  if ! command -v chromium >/dev/null 2>&1; then
    echo "test: installing Debian's chromium for the dashboard's browser test" >&2
    $SUDO apt-get update -qq || return
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null || return
  fi
}
stage setup ./scripts/setup.sh
stage test-packages packages
stage typecheck npm run --silent typecheck
stage lint npm run --silent lint
stage unit npm test
# As root (CI): the README's main job as an ordinary user too, with the image that user builds; the e2e tests'
# ordinary-user cases then run as that user, on that image (test/e2e/nonroot.e2e.test.ts).
if [ "$(id -u)" -eq 0 ]; then
  stage quickstart-as-user ./scripts/quickstart-as-user.sh
fi
stage e2e npm run test:e2e
# The benchmark harness must run to completion (speed is never asserted here).
stage bench-quick npm run --silent bench -- --quick
