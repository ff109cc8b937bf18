"""The savings account aggregate: handler and aggregator, in Python.

    python3 functions/savings/savings.py              # a worker on stdin/stdout (the process transport)
    python3 functions/savings/savings.py --http 9002  # an HTTP function
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "runtime", "python"))
from evento_runtime import FunctionError, serve  # noqa: E402

# Balances are Avro longs: Python's integers do not overflow, but a balance past this does not fit the
# schema, and every retry of the command would fail the same way.
LONG_MAX = 2**63 - 1


def leg(command, payload):
    """A transfer's withdrawal or deposit carries the transfer's id; its event echoes it (docs/sagas.md)."""
    transfer = command["payload"].get("transfer")
    return payload if transfer is None else dict(payload, transfer=transfer)


def rejected(command, reason):
    return [{"type": "CommandRejected", "payload": leg(command, {"command": command["type"], "reason": reason})}]


def handle(command, aggregate):
    account = aggregate["state"]
    kind = command["type"]
    payload = command["payload"]
    if kind == "OpenAccount":
        if account is not None:
            return rejected(command, "the account is already open")
        return [{"type": "AccountOpened", "payload": {"owner": payload["owner"], "interestRate": payload.get("interestRate", 0.0)}}]
    if kind not in ("DepositCash", "WithdrawCash", "CloseAccount"):
        raise FunctionError("savings does not know the command %s" % kind, retryable=False)
    if account is None:
        return rejected(command, "the account is not open")
    if account["status"] == "CLOSED":
        return rejected(command, "the account is closed")
    balance = account["balance"]
    if kind == "DepositCash":
        if payload["amount"] <= 0:
            return rejected(command, "the amount must be positive")
        if balance + payload["amount"] > LONG_MAX:
            return rejected(command, "the amount is too large: the balance would pass %d" % LONG_MAX)
        return [{"type": "CashDeposited", "payload": leg(command, {"amount": payload["amount"], "balance": balance + payload["amount"]})}]
    if kind == "WithdrawCash":
        amount = payload["amount"]
        if amount <= 0:
            return rejected(command, "the amount must be positive")
        if amount > balance:
            return [{"type": "WithdrawalRejected", "payload": leg(command, {"amount": amount, "balance": balance, "reason": "insufficient funds"})}]
        return [{"type": "CashWithdrawn", "payload": leg(command, {"amount": amount, "balance": balance - amount})}]
    if balance != 0:
        return rejected(command, "the balance must be 0 to close the account")
    return [{"type": "AccountClosed", "payload": {"balance": 0}}]


def apply(state, event):
    kind = event["type"]
    payload = event["payload"]
    if kind == "AccountOpened":
        return {"owner": payload["owner"], "balance": 0, "status": "OPEN", "interestRate": payload.get("interestRate", 0.0)}
    if kind in ("CashDeposited", "CashWithdrawn"):
        return dict(state, balance=payload["balance"])
    if kind == "AccountClosed":
        return dict(state, status="CLOSED")
    return state  # rejections change nothing


if __name__ == "__main__":
    serve(handle=handle, apply=apply)
