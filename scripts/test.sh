#!/usr/bin/env bash
# Runs every test: unit tests and the integration tests that start real servers.
# Expects the machine prepared by scripts/setup.sh (.ci/run does that first).
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --build-tests
swift test --skip-build "$@"
