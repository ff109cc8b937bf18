"""Test dispatcher: each Ping event becomes one Increment command for the counter it names."""
import os
import sys

sys.path.insert(0, os.environ["EVENTO_RUNTIME_PY"])
from evento_runtime import serve  # noqa: E402


def dispatch(event):
    return [{"entity": event["payload"]["counter"], "type": "Increment", "payload": {}}]


serve(dispatch=dispatch)
