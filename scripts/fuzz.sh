#!/usr/bin/env bash
# Builds the libFuzzer targets (Tests/Fuzz/*.swift, with -sanitize=fuzzer,address) and runs each for a set
# time from its seed corpus (Tests/Fuzz/corpus/TARGET). A crash, a leak or a broken property fails the run and
# leaves the input in .build/fuzz/TARGET/ (crash-…): turn it into a regression test.
#
#   scripts/fuzz.sh          # 20 s each
#   scripts/fuzz.sh 300      # 5 minutes each
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-20}"
out=.build/fuzz
mkdir -p "$out"

# target name, harness, the sources it is compiled with (one module: the targets reach what they test
# without the package's dependencies, which the sanitizers would make slow to build)
targets=(
  "json|Tests/Fuzz/JSONParserFuzz.swift|Sources/EventoJSON/*.swift"
  "entity-id|Tests/Fuzz/EntityIdFuzz.swift|Sources/EventoCore/Model/EntityId.swift"
)

status=0
for t in "${targets[@]}"; do
  IFS='|' read -r name harness sources <<<"$t"
  echo "fuzz: building $name"
  # shellcheck disable=SC2086
  swiftc -sanitize=fuzzer,address -parse-as-library -O -module-name "Fuzz_${name//-/_}" \
    $sources "$harness" -o "$out/$name" 2> >(grep -v "Cannot export local symbol" >&2)
  mkdir -p "$out/$name-corpus"
  cp -n Tests/Fuzz/corpus/"$name"/* "$out/$name-corpus/" 2>/dev/null || true
  echo "fuzz: running $name for ${seconds}s"
  if ! (cd "$out" && ASAN_OPTIONS=detect_leaks=1 "./$name" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -max_len=65536 -artifact_prefix="$name-" "$name-corpus" 2>&1 | tail -4); then
    echo "fuzz: $name FAILED (input left in $out/$name-crash-* or -leak-*)" >&2
    status=1
  fi
done
exit $status
