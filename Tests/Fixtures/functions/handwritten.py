"""Test handler that speaks the function protocol by hand (no runtime). ECHO says what it does with the
request's callId: "last" echoes it as the last member with spaces (json.dumps defaults), "none" leaves it
out (a worker written for the protocol before call ids), "wrong" answers with another call id."""
import json
import os
import sys

ECHO = os.environ.get("ECHO", "last")

for line in sys.stdin:
    if not line.strip():
        continue
    request = json.loads(line)
    command = request["command"]
    reply = {"events": [{"type": "Done", "payload": {"command": command["id"], "pid": os.getpid()}}]}
    if ECHO == "last":
        reply["callId"] = request["callId"]
    elif ECHO == "wrong":
        reply = {"callId": request["callId"] + 1000, **reply}
    sys.stdout.write(json.dumps(reply) + "\n")
    sys.stdout.flush()
