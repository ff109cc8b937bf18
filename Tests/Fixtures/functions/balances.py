"""A projector for the console test: each account's balance, in the view `balances`."""
import os
import sys

sys.path.insert(0, os.environ["EVENTO_RUNTIME_PY"])
from evento_runtime import serve  # noqa: E402


def project(events):
    ops = []
    for e in events:
        balance = e.get("payload", {}).get("balance")
        if balance is not None:
            ops.append({"op": "merge", "view": "balances", "key": e["entity"], "patch": {"balance": balance, "lastEvent": e["type"]}})
    return ops


if __name__ == "__main__":
    serve(project=project)
