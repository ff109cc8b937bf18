#!/usr/bin/env bash
# Runs every test: unit tests and the integration tests that start real servers.
# Expects the machine prepared by scripts/setup.sh (.ci/run does that first).
set -euo pipefail
cd "$(dirname "$0")/.."
# librdkafka 2.16 (see scripts/setup.sh) for the tests and the servers they start.
export LD_LIBRARY_PATH="$PWD/.evento/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
swift build --build-tests
swift test --skip-build "$@"
