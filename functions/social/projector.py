"""The social network's projector, in Python: keeps the views the queries read.

    users/ID    {"username": …, "name": …}            put on UserCreated, merged on UserUpdated
    friends/ID  {"friends": {"bob": true, …}}         a set as a map: RFC 7396 merge patches add a key
                                                      (FriendAdded) or remove it with null (FriendRemoved)

A user without friends has no friends document. Evento hands the projector its events in position order, a
batch at a time, and applies the operations in order; this one sends one merge per user and batch for the
friends view (the patches of a batch compose into one: later values win, null included).
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "runtime", "python"))
from evento_runtime import serve  # noqa: E402


def project(events):
    operations = []
    friends = {}  # user id -> {friend: True | None}, in order of first change; flushed at the end
    for event in events:
        me = event["entity"].split(":", 1)[1]
        kind = event["type"]
        p = event["payload"]
        if kind == "UserCreated":
            operations.append({"op": "put", "view": "users", "key": me, "doc": {"username": p["username"], "name": p["name"]}})
        elif kind == "UserUpdated":
            operations.append({"op": "merge", "view": "users", "key": me, "patch": {"username": p["username"], "name": p["name"]}})
        elif kind == "FriendAdded":
            friends.setdefault(me, {})[p["friend"]] = True
        elif kind == "FriendRemoved":
            friends.setdefault(me, {})[p["friend"]] = None
    # The friends view gets only merges, so moving them after the users operations changes nothing.
    for me, patch in friends.items():
        operations.append({"op": "merge", "view": "friends", "key": me, "patch": {"friends": patch}})
    return operations


if __name__ == "__main__":
    serve(project=project)
