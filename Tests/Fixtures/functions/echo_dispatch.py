"""Test dispatcher: returns the commands an event's payload lists, as they are; each call leaves a file in CALLS_DIR."""
import os
import sys
import uuid

sys.path.insert(0, os.environ["EVENTO_RUNTIME_PY"])
from evento_runtime import serve  # noqa: E402


def dispatch(event):
    calls = os.environ.get("CALLS_DIR")
    if calls:
        open(os.path.join(calls, "%s-%s" % (event["id"], uuid.uuid4().hex)), "w").close()
    return event["payload"]["commands"]


serve(dispatch=dispatch)
