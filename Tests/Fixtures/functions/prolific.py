"""Test handler: answers COUNT events (default 1), each with a payload of PAD_BYTES characters."""
import os
import sys

sys.path.insert(0, os.environ["EVENTO_RUNTIME_PY"])
from evento_runtime import serve  # noqa: E402

COUNT = int(os.environ.get("COUNT", "1"))
PAD = "x" * int(os.environ.get("PAD_BYTES", "0"))


def handle(command, aggregate):
    return [{"type": "Made", "payload": {"i": i, "pad": PAD}} for i in range(COUNT)]


serve(handle=handle)
