#!/usr/bin/env bash
# One command from a fresh Debian machine to a running Evento with the bank example: installs the
# packages, builds, starts a local Kafka-protocol broker (Tansu, 127.0.0.1:9092) and serves with the
# example functions registered (functions/bank.json), publishing every event to kf-evento-events.
#
#   EVENTO_KAFKA_BROKERS=host:9092 scripts/quickstart.sh   # use your Kafka instead of the local broker
#   EVENTO_LOCAL_BROKER=0 scripts/quickstart.sh            # no Kafka at all (events wait in the outbox)
#
# Extra arguments go to `evento serve` (e.g. --port 9090, --data-dir /var/lib/evento).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo "quickstart: building (the first build takes a few minutes)"
swift build -c release --product evento
swift build -c release --product checking-function
swift build -c release --product transfer-function  # the bench's Swift dispatcher

# librdkafka 2.16 from confluent-kafka's wheel (Debian's 2.0.2 cannot talk to Tansu; see scripts/setup.sh).
export LD_LIBRARY_PATH="$PWD/.evento/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
kafka=()
if [ -n "${EVENTO_KAFKA_BROKERS:-}" ]; then
  kafka=(--kafka-brokers "$EVENTO_KAFKA_BROKERS")
elif [ "${EVENTO_LOCAL_BROKER:-1}" != "0" ]; then
  if (exec 3<>/dev/tcp/127.0.0.1/9092) 2>/dev/null; then
    echo "quickstart: something already listens on 127.0.0.1:9092; using it as the broker"
  else
    echo "quickstart: starting the local broker (Tansu, memory only) on 127.0.0.1:9092"
    .evento/bin/tansu broker --listener-url tcp://127.0.0.1:9092 --advertised-listener-url tcp://127.0.0.1:9092 \
      > .evento/tansu.log 2>&1 &
    broker=$!
    trap 'kill $broker 2>/dev/null || true' EXIT
  fi
  kafka=(--kafka-brokers 127.0.0.1:9092)
fi
# The web console: the same address as the API, under /ui (the port may be changed by --port or EVENTO_PORT).
port="${EVENTO_PORT:-8080}"
for ((i = 1; i <= $#; i++)); do
  if [ "${!i}" = "--port" ]; then j=$((i + 1)); port="${!j}"; fi
done
echo "quickstart: the web console will be at http://127.0.0.1:${port}/ui"
.build/release/evento serve --functions functions/bank.json "${kafka[@]}" "$@"
