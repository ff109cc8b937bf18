"""The transfer saga (a process manager), in Python: the transfer aggregate's handler and aggregator, and the
dispatcher that moves the money, in one program. docs/sagas.md tells the whole story.

    python3 functions/transfer/transfer.py              # a worker on stdin/stdout (the process transport)
    python3 functions/transfer/transfer.py --http 9003  # an HTTP function

A client sends RequestTransfer {from, to, amount, timeoutMs?} to transfer:<id>. From then on every step is
an event of the transfer or of an account, and the dispatcher below answers each with the next command:

    TransferRequested  → WithdrawCash on from (carrying the transfer), TimeoutTransfer on the transfer (delayMs)
    CashWithdrawn      → RecordWithdrawal → WithdrawalRecorded → DepositCash on to
    CashDeposited      → RecordDeposit    → TransferCompleted (or TransferRefunded for a refund)
    WithdrawalRejected → FailTransfer     → TransferFailed
    TimeoutTransfer, still waiting for the withdrawal → TransferTimedOut
    a withdrawal after that, or a refused deposit     → RefundIssued → DepositCash back on from

The transfer's state decides; the dispatcher only routes. So the steps may arrive in any order (a timer
against a withdrawal, say: whichever its entity's lane runs first wins, and the other is answered for), and
money is never created or lost: whatever left `from` reaches `to` or comes back to `from`.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "runtime", "python"))
from evento_runtime import FunctionError, serve  # noqa: E402

# The aggregates a transfer moves money between: they take WithdrawCash/DepositCash with a "transfer" field.
ACCOUNTS = ("checking", "savings")
DEFAULT_TIMEOUT_MS = 30_000
MAX_TIMEOUT_MS = 86_400_000  # a day: a transfer waits for its withdrawal no longer

# The transfer's steps that only its own dispatcher sends ("internal": true in schemas/transfer.avsc).
STEPS = ("RecordWithdrawal", "RecordDeposit", "FailTransfer", "TimeoutTransfer")


def event(type_, **payload):
    return [{"type": type_, "payload": payload}]


def rejected(command, reason):
    return event("CommandRejected", command=command["type"], reason=reason)


def is_account(entity):
    aggregate, _, key = entity.partition(":")
    return aggregate in ACCOUNTS and key != ""


# -- Handler: a command and the transfer's state → its events.


def handle(command, aggregate):
    transfer = aggregate["state"]
    kind = command["type"]
    p = command["payload"]
    if kind == "RequestTransfer":
        return request(command, transfer, p)
    if kind not in STEPS:
        raise FunctionError("transfer does not know the command %s" % kind, retryable=False)
    if transfer is None:
        return rejected(command, "there is no such transfer")
    status = transfer["status"]
    if kind == "TimeoutTransfer":
        if status != "REQUESTED":
            return rejected(command, "the transfer is no longer waiting for its withdrawal (%s)" % status)
        return event("TransferTimedOut", timeoutMs=transfer["timeoutMs"])
    if kind == "RecordWithdrawal":
        if status == "REQUESTED":
            return event("WithdrawalRecorded", **{"from": transfer["from"], "to": transfer["to"], "amount": transfer["amount"]})
        if status in ("TIMED_OUT", "FAILED"):
            # Compensation: the money left after the transfer was given up (a withdrawal slower than the
            # timeout); it goes back, so that nothing is lost.
            return event("RefundIssued", account=transfer["from"], amount=transfer["amount"],
                         reason="the withdrawal came after the transfer ended: %s" % transfer["reason"])
        return rejected(command, "the withdrawal is already recorded (%s)" % status)
    if kind == "RecordDeposit":
        if status == "WITHDRAWN" and p["account"] == transfer["to"]:
            return event("TransferCompleted", **{"from": transfer["from"], "to": transfer["to"], "amount": transfer["amount"]})
        if status == "REFUNDING" and p["account"] == transfer["from"]:
            return event("TransferRefunded", account=transfer["from"], amount=transfer["amount"])
        return rejected(command, "no deposit on %s is expected (%s)" % (p["account"], status))
    # FailTransfer: an account refused the leg the transfer waits for.
    if status == "REQUESTED" and p["account"] == transfer["from"]:
        return event("TransferFailed", reason=p["reason"])
    if status == "WITHDRAWN" and p["account"] == transfer["to"]:
        return event("RefundIssued", account=transfer["from"], amount=transfer["amount"],
                     reason="%s refused the deposit: %s" % (transfer["to"], p["reason"]))
    if status == "REFUNDING" and p["account"] == transfer["from"]:
        return event("RefundFailed", account=transfer["from"], amount=transfer["amount"], reason=p["reason"])
    return rejected(command, "no leg on %s is pending (%s)" % (p["account"], status))


def request(command, transfer, p):
    if transfer is not None:
        return rejected(command, "the transfer was already requested")
    timeout = p.get("timeoutMs")
    timeout = DEFAULT_TIMEOUT_MS if timeout is None else timeout
    for side in ("from", "to"):
        if not is_account(p[side]):
            return rejected(command, "%s must be an account (checking:ID or savings:ID), got %r" % (side, p[side]))
    if p["from"] == p["to"]:
        return rejected(command, "from and to are the same account")
    if p["amount"] <= 0:
        return rejected(command, "the amount must be positive")
    if not 1 <= timeout <= MAX_TIMEOUT_MS:
        return rejected(command, "timeoutMs must be from 1 to %d" % MAX_TIMEOUT_MS)
    return event("TransferRequested", **{"from": p["from"], "to": p["to"], "amount": p["amount"], "timeoutMs": timeout})


# -- Aggregator: fold one event into the transfer's state.

STATUS_AFTER = {
    "WithdrawalRecorded": "WITHDRAWN",
    "TransferCompleted": "COMPLETED",
    "TransferFailed": "FAILED",
    "TransferTimedOut": "TIMED_OUT",
    "RefundIssued": "REFUNDING",
    "TransferRefunded": "REFUNDED",
    "RefundFailed": "REFUND_FAILED",
}


def apply(state, event):
    kind = event["type"]
    p = event["payload"]
    if kind == "TransferRequested":
        # Also when it was published with POST /events: the saga runs all the same.
        return {"from": p["from"], "to": p["to"], "amount": p["amount"], "status": "REQUESTED",
                "timeoutMs": timeout_of(p), "reason": None}
    if state is None or kind not in STATUS_AFTER:
        return state  # rejections change nothing
    state = dict(state, status=STATUS_AFTER[kind])
    if kind == "TransferTimedOut":
        state["reason"] = "no withdrawal within %d ms" % p["timeoutMs"]
    elif "reason" in p:
        state["reason"] = p["reason"]
    return state


# -- Dispatcher: route each event to the saga's next command. Stateless: the transfer decides.


def timeout_of(requested):
    """The timer of a TransferRequested (one published with POST /events may carry none, or any number)."""
    timeout = requested.get("timeoutMs")
    return DEFAULT_TIMEOUT_MS if timeout is None else min(max(timeout, 1), MAX_TIMEOUT_MS)


def dispatch(event):
    kind = event["type"]
    entity = event["entity"]
    p = event["payload"]
    aggregate = entity.partition(":")[0]
    if aggregate == "transfer":
        if kind == "TransferRequested":
            timer = {"entity": entity, "type": "TimeoutTransfer", "payload": {}, "delayMs": timeout_of(p)}
            if not (is_account(p["from"]) and is_account(p["to"]) and p["amount"] > 0):
                return [timer]  # published unchecked (RequestTransfer refuses it): nothing moves, it times out
            return [{"entity": p["from"], "type": "WithdrawCash", "payload": {"amount": p["amount"], "transfer": entity}}, timer]
        if kind == "WithdrawalRecorded":
            return [{"entity": p["to"], "type": "DepositCash", "payload": {"amount": p["amount"], "transfer": entity}}]
        if kind == "RefundIssued":
            return [{"entity": p["account"], "type": "DepositCash", "payload": {"amount": p["amount"], "transfer": entity}}]
        return []
    transfer = p.get("transfer")
    if aggregate not in ACCOUNTS or transfer is None:
        return []  # an account's own business, not a transfer's leg
    if kind == "CashWithdrawn":
        step = ("RecordWithdrawal", {"account": entity, "amount": p["amount"]})
    elif kind == "CashDeposited":
        step = ("RecordDeposit", {"account": entity, "amount": p["amount"]})
    elif kind == "WithdrawalRejected":
        step = ("FailTransfer", {"account": entity, "reason": p["reason"]})
    elif kind == "CommandRejected":
        step = ("FailTransfer", {"account": entity, "reason": "%s: %s" % (p["command"], p["reason"])})
    else:
        return []
    return [{"entity": transfer, "type": step[0], "payload": step[1]}]


if __name__ == "__main__":
    serve(handle=handle, apply=apply, dispatch=dispatch)
