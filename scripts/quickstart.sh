#!/usr/bin/env bash
# One command from a fresh Debian machine to a running Evento with the bank example: installs the
# packages, builds, and serves with the example functions registered (functions/bank.json).
# Extra arguments go to `evento serve` (e.g. --port 9090, --data-dir /var/lib/evento).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo "quickstart: building (the first build takes a few minutes)"
swift build -c release --product evento
swift build -c release --product checking-function
exec .build/release/evento serve --functions functions/bank.json "$@"
