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

serve() { # PORT DIR
  $evento serve --port "$1" --data-dir "$work/$2" --log-level warning >"$work/$2.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$1/healthz" >/dev/null && return; sleep 0.1; done
  echo "server on $1 did not start" >&2; exit 1
}

run() { # NAME ARGS...
  local name=$1; shift
  echo "== $name"
  $evento bench "$@" --json 2>/dev/null | tee "bench/results/$name.json" | python3 -c '
import json, sys
r = json.load(sys.stdin)
print("  %.0f %s/s  p50 %.2f  p90 %.2f  p99 %.2f  max %.2f ms  errors %d  verified %s  peak RSS %.0f MB"
      % (r["throughputPerSecond"], r["unit"], r["p50Ms"], r["p90Ms"], r["p99Ms"], r["maxMs"], r["errors"], r["verified"],
         r.get("serverPeakRssBytes", 0) / 1048576))
for k, v in r.get("limits", {}).items():
    print("  limit %s: %.0f/s (Evento at %.0f%%)" % (k, v, 100 * r["ratios"][k]))'
}

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
