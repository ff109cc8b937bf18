"""Test handler for the checking aggregate: its first answer for each command is an event that does not
conform to the schema (amount is text); later answers conform."""
import os
import sys

sys.path.insert(0, os.environ["EVENTO_RUNTIME_PY"])
from evento_runtime import serve  # noqa: E402

calls = {}


def handle(command, aggregate):
    n = calls.get(command["id"], 0) + 1
    calls[command["id"]] = n
    amount = command["payload"]["amount"]
    if n == 1:
        return [{"type": "CashDeposited", "payload": {"amount": "ten", "balance": amount}}]
    return [{"type": "CashDeposited", "payload": {"amount": amount, "balance": amount}}]


serve(handle=handle)
