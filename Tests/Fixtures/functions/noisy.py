"""Test handler whose command payload asks for output trouble:
   {"stderrBytes": N}   writes N bytes to stderr without a newline, then answers;
   {"endlessStdout": true}  writes to stdout without a newline until it is killed;
   {"stdoutBytes": N}   answers with one reply line of about N bytes (a long payload field).
Otherwise it answers at once. Every answer names the command and the worker's pid."""
import json
import os
import sys

sys.path.insert(0, os.environ["EVENTO_RUNTIME_PY"])
from evento_runtime import serve  # noqa: E402


def handle(command, aggregate):
    p = command["payload"]
    if p.get("stderrBytes"):
        left = p["stderrBytes"]
        block = b"e" * (1 << 20)
        while left > 0:
            left -= os.write(2, block[: min(left, len(block))])
        os.write(2, b"\n")
    if p.get("endlessStdout"):
        block = b"x" * (1 << 20)
        while True:
            os.write(1, block)
    if p.get("stdoutBytes"):
        return [{"type": "Done", "payload": {"command": command["id"], "pid": os.getpid(), "filler": "f" * p["stdoutBytes"]}}]
    return [{"type": "Done", "payload": {"command": command["id"], "pid": os.getpid()}}]


serve(handle=handle)
