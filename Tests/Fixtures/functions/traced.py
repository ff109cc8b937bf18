"""Test aggregate: Trace -> Traced{seen}, where seen is the traceparent the handler was called with."""
import os
import sys

sys.path.insert(0, os.environ["EVENTO_RUNTIME_PY"])
from evento_runtime import serve  # noqa: E402


def handle(command, aggregate):
    return [{"type": "Traced", "payload": {"seen": command.get("traceparent")}}]


def apply(state, event):
    return {"traced": (state or {}).get("traced", 0) + 1}


serve(handle=handle, apply=apply)
