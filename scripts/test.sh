#!/usr/bin/env bash
# Sets up what is missing, then runs the whole test suite: lint + types, unit tests, e2e tests (real VMs).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
npm run --silent typecheck
npm run --silent lint
npm test
npm run test:e2e
# The benchmark harness must run to completion (speed is never asserted here).
npm run --silent bench -- --quick
