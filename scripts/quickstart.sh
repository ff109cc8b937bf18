#!/usr/bin/env bash
# One command from a fresh Debian machine to a running Evento: installs the packages, builds, serves.
# Extra arguments go to `evento serve` (e.g. --port 9090, --data-dir /var/lib/evento).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo "quickstart: building (the first build takes a few minutes)"
swift build -c release --product evento
exec .build/release/evento serve "$@"
