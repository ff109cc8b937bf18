"""The friendship saga, in Python: a dispatcher that turns each step's event into the next step's command.

    FriendRequested B      on user:A  →  AcceptFriend A         to user:B  (does B exist? a friend already?)
    FriendAdded A (by A)   on user:B  →  ConfirmFriend B        to user:A
    FriendRequestDeclined  on user:B  →  CancelFriendRequest B  to user:A  (with the reason, seen from A)
    FriendRemoved B (by A) on user:A  →  DropFriend A           to user:B

The commands it sends are internal (see schemas/user.avsc): a client cannot send them, so a friendship is
only ever added through the other user's own stream, which is where its existence is known.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "runtime", "python"))
from evento_runtime import serve  # noqa: E402

# A decline seen from the user who asked.
DECLINED = {"UNKNOWN_USER": "UNKNOWN_FRIEND", "ALREADY_FRIENDS": "ALREADY_FRIENDS"}


def dispatch(event):
    me = event["entity"].split(":", 1)[1]
    kind = event["type"]
    p = event["payload"]
    friend = p.get("friend")
    if kind == "FriendRequested":
        return [{"entity": "user:" + friend, "type": "AcceptFriend", "payload": {"friend": me}}]
    if kind == "FriendAdded" and p["initiator"] != me:
        return [{"entity": "user:" + p["initiator"], "type": "ConfirmFriend", "payload": {"friend": me}}]
    if kind == "FriendRequestDeclined":
        reason = DECLINED.get(p["reason"], p["reason"])
        return [{"entity": "user:" + friend, "type": "CancelFriendRequest", "payload": {"friend": me, "reason": reason}}]
    if kind == "FriendRemoved" and p["initiator"] == me:
        return [{"entity": "user:" + friend, "type": "DropFriend", "payload": {"friend": me}}]
    return []


if __name__ == "__main__":
    serve(dispatch=dispatch)
