#!/usr/bin/env bash
# Reproduces docs/performance.md: builds release, starts fresh servers on temporary data directories and
# runs every scenario, saturating and at half the saturated rate, then the peer. Figures go to stdout and
# the JSON of each run to bench/results/ (git-ignored).
#   bench/run.sh [DURATION_SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10}
export LD_LIBRARY_PATH="$PWD/.evento/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
swift build -c release --product evento >/dev/null
swift build -c release --product checking-function >/dev/null
swift build -c release --product transfer-function >/dev/null
evento=.build/release/evento
mkdir -p bench/results
work=$(mktemp -d /tmp/evento-bench.XXXXXX)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT

source bench/lib.sh

half() { python3 -c 'import json,sys; print(max(1, int(json.load(open(sys.argv[1]))["throughputPerSecond"] / 2 / float(sys.argv[2]))))' "$1" "$2"; }

serve 18901 events
run events-saturated events --url http://127.0.0.1:18901 --duration "$duration"
run events-half events --url http://127.0.0.1:18901 --duration "$duration" --no-limits --rate "$(half bench/results/events-saturated.json 100)"

serve 18902 process
run commands-process-saturated commands --url http://127.0.0.1:18902 --duration "$duration" --transport process
run commands-process-half commands --url http://127.0.0.1:18902 --duration "$duration" --no-limits \
  --rate "$(half bench/results/commands-process-saturated.json 1)"

serve 18903 http
run commands-http-saturated commands --url http://127.0.0.1:18903 --duration "$duration" --transport http

echo "== peer: PyPI eventsourcing (SQLite, in-process)"
python3 bench/eventsourcing_bank.py --duration "$duration"
