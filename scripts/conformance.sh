#!/usr/bin/env bash
# API conformance: schemathesis (PyPI) against the served /openapi.json, every operation, every default
# check (no 5xx; status codes, content types, headers and bodies as documented; schema-violating requests
# refused and schema-valid ones accepted; tokens enforced; 405 for undocumented methods), on a fresh server
# with an admin token and the bank's schemas. Exceptions, each with its reason: Tests/Conformance/schemathesis.toml.
#
#   scripts/conformance.sh                 # 15 examples per operation, fixed seed (CI)
#   EVENTO_CONFORMANCE_SEED=random EVENTO_CONFORMANCE_EXAMPLES=100 scripts/conformance.sh
set -euo pipefail
cd "$(dirname "$0")/.."
binary="${EVENTO_BINARY:-.build/debug/evento}"
[ -x "$binary" ] || { echo "conformance: $binary is not built (swift build)" >&2; exit 1; }
command -v st >/dev/null 2>&1 || { echo "conformance: schemathesis is not installed (scripts/setup.sh)" >&2; exit 1; }

work="$(mktemp -d /tmp/evento-conformance-XXXXXX)"
token="conformance-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
EVENTO_ADMIN_TOKEN="$token" "$binary" serve --port 0 --data-dir "$work/data" >"$work/stdout" 2>"$work/server.log" &
server=$!
cleanup() { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
for _ in $(seq 1 300); do
  url="$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$work/stdout" | head -1)"
  [ -n "$url" ] && break
  kill -0 "$server" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$url" ] || { echo "conformance: the server did not start" >&2; cat "$work/server.log" >&2; exit 1; }

seed="${EVENTO_CONFORMANCE_SEED:-1}"
seed_args=(--seed "$seed")
[ "$seed" = random ] && seed_args=()
echo "conformance: schemathesis against $url/openapi.json"
status=0
st --config-file Tests/Conformance/schemathesis.toml run "$url/openapi.json" --workers 2 \
  --max-examples "${EVENTO_CONFORMANCE_EXAMPLES:-15}" "${seed_args[@]}" \
  -H "Authorization: Bearer $token" --no-color >"$work/report.txt" 2>&1 || status=$?
if [ $status -eq 0 ]; then sed -n '/= SUMMARY =/,$p' "$work/report.txt"; else sed -n '/= FAILURES =/,$p' "$work/report.txt" | grep -v "^$" | head -400; fi
[ $status -eq 0 ] || { echo "conformance: FAILED (the server's log follows)" >&2; tail -50 "$work/server.log" >&2; }
exit $status
