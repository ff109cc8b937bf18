"""Test handler: fails the first FAIL_TIMES calls for each command (counted in memory: run with 1 worker)."""
import os
import sys

sys.path.insert(0, os.environ["EVENTO_RUNTIME_PY"])
from evento_runtime import FunctionError, serve  # noqa: E402

FAIL_TIMES = int(os.environ.get("FAIL_TIMES", "2"))
calls = {}


def handle(command, aggregate):
    n = calls.get(command["id"], 0) + 1
    calls[command["id"]] = n
    if n <= FAIL_TIMES:
        raise FunctionError("flaky failure %d of %d" % (n, FAIL_TIMES))
    return [{"type": "Done", "payload": {"calls": n}}]


serve(handle=handle)
