"""The transfer dispatcher, in Python: a TransferRequested becomes a withdrawal and a deposit.

Kept as simple as the example needs: both commands are sent at once, so a rejected withdrawal does not
stop the deposit. A production saga would deposit only after CashWithdrawn (a dispatcher on that event).
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "runtime", "python"))
from evento_runtime import serve  # noqa: E402


def dispatch(event):
    if event["type"] != "TransferRequested":
        return []
    p = event["payload"]
    return [
        {"entity": p["from"], "type": "WithdrawCash", "payload": {"amount": p["amount"]}},
        {"entity": p["to"], "type": "DepositCash", "payload": {"amount": p["amount"]}},
    ]


if __name__ == "__main__":
    serve(dispatch=dispatch)
