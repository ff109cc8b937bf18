# Shared by bench/run.sh and bench/cluster.sh (sourced): fresh servers on temporary data directories and
# one scenario's figures, beside its limits. Expects $evento (the binary), $work (a scratch folder) and a
# `pids` array, and leaves each run's JSON in bench/results/.

serve() { # PORT NAME [SERVE ARGS...]: starts `evento serve` and waits until it answers
  local port=$1 name=$2; shift 2
  $evento serve --port "$port" --data-dir "$work/$name" --log-level warning "$@" >"$work/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && return; sleep 0.1; done
  echo "server on $port did not start" >&2; cat "$work/$name.log" >&2; exit 1
}

run() { # NAME BENCH ARGS...: one scenario, printed on two lines and more (its limits)
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
