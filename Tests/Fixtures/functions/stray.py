"""Test handler: the first call for each command (a marker file in STATE_DIR) writes a stray line to the
real stdout (a debug print that bypasses the runtime), waits STRAY_DELAY_MS, then answers. Every answer
names the command, the entity and the worker's pid."""
import os
import sys
import time

sys.path.insert(0, os.environ["EVENTO_RUNTIME_PY"])
from evento_runtime import serve  # noqa: E402

DELAY = int(os.environ.get("STRAY_DELAY_MS", "300")) / 1000.0


def handle(command, aggregate):
    marker = os.path.join(os.environ["STATE_DIR"], command["id"] + ".stray")
    if command["payload"].get("stray") and not os.path.exists(marker):
        open(marker, "w").close()
        os.write(1, b"debug: handling a command\n")
        time.sleep(DELAY)
    return [{"type": "Done", "payload": {"command": command["id"], "entity": command["entity"], "pid": os.getpid()}}]


serve(handle=handle)
