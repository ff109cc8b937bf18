#!/usr/bin/env bash
# Installs what Evento needs on a Debian machine: the C libraries it links, and the PyPI packages its
# tests use. Safe to run again: it installs only what is missing.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

DEBIAN_PACKAGES=(
  libsqlite3-dev          # the embedded event store
  libcurl4-openssl-dev    # outbound HTTP to functions
  librdkafka-dev          # Kafka (kf-evento-events)
  libavro-dev             # Avro schemas
  pkg-config
  python3 python3-pip     # the Python function runtime, test clients
)
PYPI_PACKAGES=(
  openapi-spec-validator  # checks the served OpenAPI document in the tests
  fastavro                # an Avro implementation nobody here wrote, for interoperability tests
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
  python3 -m pip show -q "$p" >/dev/null 2>&1 || pip_missing+=("$p")
done
if [ ${#pip_missing[@]} -gt 0 ]; then
  echo "setup: installing PyPI packages: ${pip_missing[*]}"
  python3 -m pip install -q --disable-pip-version-check "${pip_missing[@]}" 2>/dev/null \
    || python3 -m pip install -q --disable-pip-version-check --break-system-packages "${pip_missing[@]}"
fi
echo "setup: ready"
