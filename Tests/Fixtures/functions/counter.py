"""Test aggregate: Increment -> Incremented{n}; the state counts them. Optional SLOW_MS per call."""
import os
import sys
import time

sys.path.insert(0, os.environ["EVENTO_RUNTIME_PY"])
from evento_runtime import serve  # noqa: E402

SLOW = int(os.environ.get("SLOW_MS", "0")) / 1000.0


def handle(command, aggregate):
    started = os.environ.get("STARTED_DIR")
    if started:
        open(os.path.join(started, "%s-%d" % (command["id"], aggregate["version"])), "w").close()
    if SLOW:
        time.sleep(SLOW)
    state = aggregate["state"] or {"count": 0}
    return [{"type": "Incremented", "payload": {"n": state["count"] + 1, "command": command["id"]}}]


def apply(state, event):
    mode_file = os.environ.get("AGG_MODE_FILE")
    if mode_file and open(mode_file).read().strip() == "fail":
        raise Exception("the aggregator is broken")
    state = state or {"count": 0}
    return {"count": state["count"] + 1, "last": event["payload"].get("n")}


serve(handle=handle, apply=apply)
