#!/usr/bin/env bash
# The PostgreSQL and cluster figures of docs/performance.md and docs/scaling.md: SQLite for reference, then
# one instance and three on the local PostgreSQL (scripts/postgres.sh), events and commands saturated,
# each beside PostgreSQL's own limits measured in the same run, then a failover under load.
#   bench/cluster.sh [DURATION_SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10}
export LD_LIBRARY_PATH="$PWD/.evento/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
swift build -c release --product evento >/dev/null
swift build -c release --product checking-function >/dev/null
swift build -c release --product transfer-function >/dev/null
evento=.build/release/evento
pg="$(scripts/postgres.sh start)"
mkdir -p bench/results
work=$(mktemp -d /tmp/evento-cluster-bench.XXXXXX)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

source bench/lib.sh

settle() { # URL INSTANCES: wait until every partition is owned and spread
  for _ in $(seq 1 100); do
    curl -sf "$1/cluster" | python3 -c 'import json,sys; c=json.load(sys.stdin); sys.exit(0 if c["unownedPartitions"]==0 and len(c["instances"])==int(sys.argv[1]) and min(len(i["partitions"]) for i in c["instances"])>=c["partitions"]//int(sys.argv[1]) else 1)' "$2" && return
    sleep 0.2
  done
}

stop_all() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; pids=(); }

schema() { echo "$pg?schema=bench_$1_$$"; }

# What a run cost PostgreSQL, per acknowledged item: rows written in the run's schema (the limits write
# elsewhere) and group commits (each instance's evento_store_commit_duration_seconds_count).
pgstat() { # SCHEMA URLS
  local rows commits=0
  rows=$(psql "$pg" -Atc "SELECT COALESCE(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables WHERE schemaname = '$1'")
  for u in ${2//,/ }; do
    c=$(curl -sf "$u/metrics" | awk '/^evento_store_commit_duration_seconds_count/ {print int($2)}' | head -n 1)
    commits=$((commits + ${c:-0}))
  done
  echo "$rows|$commits"
}
pgrun() { # SCHEMA URLS NAME ARGS... : run, then print the cost per acknowledged item
  local sch=$1 urls=$2 before after
  shift 2
  before=$(pgstat "$sch" "$urls")
  run "$@"
  sleep 1  # the statistics collector lags a little
  after=$(pgstat "$sch" "$urls")
  python3 - "$before" "$after" "bench/results/$1.json" <<'PY'
import json, sys
b = [float(x) for x in sys.argv[1].split("|")]; a = [float(x) for x in sys.argv[2].split("|")]
r = json.load(open(sys.argv[3])); n = max(1, r.get("acknowledged") or 1)
print("  PostgreSQL per %s: %.2f rows written, %.3f group commits (%.1f items per commit)"
      % (r["unit"].rstrip("s"), (a[0] - b[0]) / n, (a[1] - b[1]) / n, n / max(1, a[1] - b[1])))
PY
}

# SQLite, for reference (same machine, same run).
serve 18911 sqlite-events
run sqlite-events events --url http://127.0.0.1:18911 --duration "$duration"
serve 18912 sqlite-commands
run sqlite-commands commands --url http://127.0.0.1:18912 --duration "$duration" --transport process
stop_all

# One instance on PostgreSQL.
s=$(schema one); sch=${s##*schema=}
serve 18921 pg1 --store "$s"
settle http://127.0.0.1:18921 1
pgrun "$sch" http://127.0.0.1:18921 pg1-events events --url http://127.0.0.1:18921 --duration "$duration" --store-url "$pg"
pgrun "$sch" http://127.0.0.1:18921 pg1-commands commands --url http://127.0.0.1:18921 --duration "$duration" --transport process --store-url "$pg"
stop_all

# Three instances on one PostgreSQL, load spread over all three.
s=$(schema three); sch=${s##*schema=}
serve 18931 pg3a --store "$s"; serve 18932 pg3b --store "$s"; serve 18933 pg3c --store "$s"
settle http://127.0.0.1:18931 3
urls=http://127.0.0.1:18931,http://127.0.0.1:18932,http://127.0.0.1:18933
pgrun "$sch" "$urls" pg3-events events --url "$urls" --duration "$duration" --store-url "$pg"
pgrun "$sch" "$urls" pg3-commands commands --url "$urls" --duration "$duration" --transport process --store-url "$pg"
stop_all

# Failover: three instances with the bank's checking functions, SIGKILL the third under load.
s=$(schema failover)
serve 18941 fa --store "$s" --functions functions/bank.json
serve 18942 fb --store "$s" --functions functions/bank.json
serve 18943 fc --store "$s" --functions functions/bank.json
victim=${pids[2]}
settle http://127.0.0.1:18941 3
echo "== failover (SIGKILL one of three under load)"
python3 bench/failover.py "$victim" http://127.0.0.1:18941 http://127.0.0.1:18942 http://127.0.0.1:18943 | tee bench/results/failover.json
