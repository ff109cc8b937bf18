"""Test handler: before answering, publishes an event to the command's own entity through Evento's REST
API, so the handler's own events always meet a version conflict."""
import json
import os
import sys
import urllib.request

sys.path.insert(0, os.environ["EVENTO_RUNTIME_PY"])
from evento_runtime import serve  # noqa: E402


def handle(command, aggregate):
    body = json.dumps({"entity": command["entity"], "type": "Interfered", "payload": {}}).encode()
    req = urllib.request.Request(os.environ["EVENTO_URL"] + "/events", data=body, headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req).read()
    return [{"type": "Done", "payload": {}}]


serve(handle=handle)
