#!/usr/bin/env bash
# Runs every test: unit tests and the integration tests that start real servers.
# Expects the machine prepared by scripts/setup.sh (.ci/run does that first).
set -euo pipefail
cd "$(dirname "$0")/.."
# librdkafka 2.16 (see scripts/setup.sh) for the tests and the servers they start.
export LD_LIBRARY_PATH="$PWD/.evento/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# A local PostgreSQL (Debian's package, scripts/postgres.sh) for the PostgreSQL store and cluster tests;
# EVENTO_TEST_POSTGRES_URL already set uses that server instead.
if [ -z "${EVENTO_TEST_POSTGRES_URL:-}" ]; then
  EVENTO_TEST_POSTGRES_URL="$(scripts/postgres.sh start)"
  export EVENTO_TEST_POSTGRES_URL
fi
swift build --build-tests
swift test --skip-build "$@"
# The whole suite (no filter given) also runs each libFuzzer target briefly (scripts/fuzz.sh, Tests/Fuzz)
# and schemathesis against the served OpenAPI document (scripts/conformance.sh).
if [ $# -eq 0 ]; then
  scripts/fuzz.sh "${EVENTO_FUZZ_SECONDS:-15}"
  scripts/conformance.sh
fi
