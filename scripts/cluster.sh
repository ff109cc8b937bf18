#!/usr/bin/env bash
# One command to a local three-instance Evento cluster on PostgreSQL: installs the packages, builds,
# starts PostgreSQL (scripts/postgres.sh, 127.0.0.1:55432), a local Kafka-protocol broker (Tansu,
# 127.0.0.1:9092) and three `evento serve` instances on ports 8081, 8082 and 8083, all on one database,
# with the bank example's functions. Any instance takes any request; kill one and the others take over
# its partitions within seconds. Ctrl-C stops them all (PostgreSQL keeps running: scripts/postgres.sh stop).
#
#   scripts/cluster.sh                       # three instances
#   EVENTO_INSTANCES=5 scripts/cluster.sh    # five (ports 8081…8085)
#   EVENTO_STORE=postgres://u:p@db:5432/evento scripts/cluster.sh   # your PostgreSQL instead of the local one
#
# Extra arguments go to every `evento serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo "cluster: building (the first build takes a few minutes)"
swift build -c release --product evento
swift build -c release --product checking-function
swift build -c release --product transfer-function

export LD_LIBRARY_PATH="$PWD/.evento/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
store="${EVENTO_STORE:-$(scripts/postgres.sh start)}"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true' EXIT INT TERM
kafka=()
if [ "${EVENTO_LOCAL_BROKER:-1}" != "0" ]; then
  if ! (exec 3<>/dev/tcp/127.0.0.1/9092) 2>/dev/null; then
    .evento/bin/tansu broker --listener-url tcp://127.0.0.1:9092 --advertised-listener-url tcp://127.0.0.1:9092 \
      > .evento/tansu.log 2>&1 &
    pids+=($!)
  fi
  kafka=(--kafka-brokers 127.0.0.1:9092)
fi
count="${EVENTO_INSTANCES:-3}"
mkdir -p .evento/cluster
for i in $(seq 1 "$count"); do
  port=$((8080 + i))
  .build/release/evento serve --port "$port" --store "$store" --data-dir ".evento/cluster/$i" \
    --functions functions/bank.json "${kafka[@]}" "$@" > ".evento/cluster/$i.log" 2>&1 &
  pids+=($!)
done
for i in $(seq 1 "$count"); do
  port=$((8080 + i))
  for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  echo "cluster: instance $i on http://127.0.0.1:$port (log: .evento/cluster/$i.log)"
done
echo "cluster: GET http://127.0.0.1:8081/cluster shows who holds which partitions; Ctrl-C stops the instances"
wait
