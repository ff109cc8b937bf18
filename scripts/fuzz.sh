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

# swift-w3c-trace-context's sources (pure Swift), as `swift build` checked them out.
w3c=.build/checkouts/swift-w3c-trace-context/Sources/W3CTraceContext

# target name, harness, the sources it is compiled with (one module: the targets reach what they test
# without the package's dependencies, which the sanitizers would make slow to build), and the modules those
# sources import that are compiled into the one module too or shimmed (Tests/Fuzz/Shims): each such import
# finds an empty module of that name.
targets=(
  "json|Tests/Fuzz/JSONParserFuzz.swift|Sources/EventoJSON/*.swift"
  "entity-id|Tests/Fuzz/EntityIdFuzz.swift|Sources/EventoCore/Model/EntityId.swift"
  "avro-validator|Tests/Fuzz/AvroValidatorFuzz.swift|Sources/EventoJSON/*.swift Sources/EventoAvro/AvroSchema.swift \
Sources/EventoAvro/AvroSchema+Forms.swift Sources/EventoAvro/AvroValidator.swift Sources/EventoAvro/AvroLogicalValues.swift \
Sources/EventoCore/Support/EventoError.swift Sources/EventoCore/Model/EntityId.swift|EventoCore"
  "traceparent|Tests/Fuzz/TraceParentFuzz.swift|Sources/EventoCore/Support/Identifiers.swift Sources/EventoCore/Support/TraceSampler.swift Sources/EventoCore/Support/Timestamp.swift \
$w3c/*.swift Tests/Fuzz/Shims/OrderedDictionaryFuzzShim.swift|W3CTraceContext OrderedCollections"
  "function-reply|Tests/Fuzz/FunctionReplyFuzz.swift|Sources/EventoJSON/*.swift Sources/EventoCore/Functions/FunctionProtocol.swift \
Sources/EventoCore/Functions/FunctionDefinition.swift Sources/EventoCore/Support/FieldReader.swift Sources/EventoCore/Support/EventoError.swift \
Sources/EventoCore/Support/Timestamp.swift Sources/EventoCore/Support/Identifiers.swift Sources/EventoCore/Support/TraceSampler.swift Sources/EventoCore/Model/EntityId.swift \
Sources/EventoCore/Model/CommandRecord.swift Sources/EventoCore/Model/EventEnvelope.swift Sources/EventoCore/Model/CausationKind.swift \
Sources/EventoCore/Model/ExpectedVersion.swift Sources/EventoCore/Application/SubmissionParser.swift \
Sources/EventoCore/Pipeline/CauseResolver.swift Sources/EventoCore/Store/EventLog.swift Sources/EventoCore/Store/CommitSignal.swift \
Sources/EventoCore/Store/TraceIndex.swift $w3c/*.swift Tests/Fuzz/Shims/OrderedDictionaryFuzzShim.swift|W3CTraceContext OrderedCollections"
)
if [ ! -d "$w3c" ]; then
  echo "fuzz: $w3c is missing (run swift build or swift package resolve first)" >&2
  exit 1
fi

status=0
for t in "${targets[@]}"; do
  IFS='|' read -r name harness sources imports <<<"$t"
  echo "fuzz: building $name"
  stubs="$out/$name-imports"
  mkdir -p "$stubs"
  : >"$stubs/empty.swift"
  for m in $imports; do
    swiftc -emit-module -parse-as-library -module-name "$m" "$stubs/empty.swift" -emit-module-path "$stubs/$m.swiftmodule"
  done
  # shellcheck disable=SC2086
  swiftc -sanitize=fuzzer,address -parse-as-library -O -module-name "Fuzz_${name//-/_}" -package-name evento_fuzz -I "$stubs" \
    $sources "$harness" -o "$out/$name" 2> >(grep -v "Cannot export local symbol" >&2)
  mkdir -p "$out/$name-corpus"
  cp -n Tests/Fuzz/corpus/"$name"/* "$out/$name-corpus/" 2>/dev/null || true
  echo "fuzz: running $name for ${seconds}s"
  # SWIFT_BACKTRACE: a trap is libFuzzer's to report (Swift's backtracer, attached to a sanitized fuzzer, was
  # seen to hang on after the fuzzer died, holding the output pipe open).
  if ! (cd "$out" && ASAN_OPTIONS=detect_leaks=1 SWIFT_BACKTRACE=enable=no "./$name" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -max_len=65536 -artifact_prefix="$name-" "$name-corpus" 2>&1 | tail -4); then
    echo "fuzz: $name FAILED (input left in $out/$name-crash-* or -leak-*)" >&2
    status=1
  fi
done
exit $status
