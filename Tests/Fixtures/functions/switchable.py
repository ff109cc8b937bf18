"""Test handler: fails while the file MODE_FILE says "fail", works when it says "ok"."""
import os
import sys

sys.path.insert(0, os.environ["EVENTO_RUNTIME_PY"])
from evento_runtime import FunctionError, serve  # noqa: E402


def handle(command, aggregate):
    with open(os.environ["MODE_FILE"]) as f:
        mode = f.read().strip()
    if mode != "ok":
        raise FunctionError("the function is broken (mode %s)" % mode)
    return [{"type": "Done", "payload": {}}]


serve(handle=handle)
