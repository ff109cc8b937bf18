"""Test handler: the first call for a command writes the worker's pid to STATE_DIR/<command>.pid and then
sleeps (long enough to be killed); later calls for it answer at once."""
import os
import sys
import time

sys.path.insert(0, os.environ["EVENTO_RUNTIME_PY"])
from evento_runtime import serve  # noqa: E402


def handle(command, aggregate):
    marker = os.path.join(os.environ["STATE_DIR"], command["id"] + ".pid")
    if not os.path.exists(marker):
        with open(marker + ".tmp", "w") as f:
            f.write(str(os.getpid()))
        os.rename(marker + ".tmp", marker)
        time.sleep(30)
    return [{"type": "Done", "payload": {"pid": os.getpid()}}]


serve(handle=handle)
