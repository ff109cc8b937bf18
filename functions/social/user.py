"""The user aggregate of the social network: handler and aggregator, in Python.

    python3 functions/social/user.py              # a worker on stdin/stdout (the process transport)
    python3 functions/social/user.py --http 9011  # an HTTP function

A user is `user:ID`. Its username is unique across users, ignoring case: the schema marks the state's field
`"unique": "casefold"` and Evento refuses (409) a command whose result would take a username another user
holds, so this handler does not look.

Friendship is a saga between two users (functions/social/friendship.py dispatches its steps):

    AddFriend B            → A: FriendRequested B       (or FriendshipRejected: SELF, ALREADY_FRIENDS, …)
      AcceptFriend A       → B: FriendAdded A           (or FriendRequestDeclined: UNKNOWN_USER, ALREADY_FRIENDS)
        ConfirmFriend B    → A: FriendAdded B
      (CancelFriendRequest → A: FriendshipRejected UNKNOWN_FRIEND / ALREADY_FRIENDS)
    RemoveFriend B         → A: FriendRemoved B         (or FriendshipRejected NOT_FRIENDS)
      DropFriend A         → B: FriendRemoved A

The saga's commands are internal (the schema says so): clients cannot send them, only the dispatcher. So the
other user's existence is checked by the other user's own stream, and both sides end up with the same
friendship. Steps of the saga never fail: a step that finds its work done already records it again, which
changes nothing (friends is a set).
"""
import os
import re
import sys
import unicodedata

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "runtime", "python"))
from evento_runtime import FunctionError, serve  # noqa: E402

USERNAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def valid_id(text):
    """Whether `user:TEXT` is an entity id Evento accepts (non-empty, no whitespace or control characters, at
    most 256 bytes in all): anything else cannot name a user."""
    return (isinstance(text, str) and text != "" and len(("user:" + text).encode()) <= 256
            and not any(c.isspace() or unicodedata.category(c).startswith("C") for c in text))


def user_id(entity):
    """`user:alice` → `alice`."""
    return entity.split(":", 1)[1]


def friendship_rejected(command, friend, reason):
    return [{"type": "FriendshipRejected", "payload": {"command": command, "friend": friend, "reason": reason}}]


def user_rejected(command, reason):
    return [{"type": "UserRejected", "payload": {"command": command, "reason": reason}}]


def check_fields(command, username, name):
    """A rejection for an invalid username or name, or None."""
    if username is not None and not USERNAME.match(username):
        return user_rejected(command, "the username must be 1 to 64 letters, digits, '_', '.' or '-'")
    if name is not None and not name.strip():
        return user_rejected(command, "the name must not be blank")
    return None


def handle(command, aggregate):
    user = aggregate["state"]
    me = user_id(aggregate["entity"])
    kind = command["type"]
    payload = command["payload"]

    if kind == "CreateUser":
        if user is not None:
            return user_rejected(kind, "the user exists already")
        return check_fields(kind, payload["username"], payload["name"]) or [
            {"type": "UserCreated", "payload": {"username": payload["username"], "name": payload["name"]}}
        ]
    if kind == "UpdateUser":
        if user is None:
            return user_rejected(kind, "the user does not exist")
        username = user["username"] if payload.get("username") is None else payload["username"]
        name = user["name"] if payload.get("name") is None else payload["name"]
        return check_fields(kind, username, name) or [{"type": "UserUpdated", "payload": {"username": username, "name": name}}]

    friend = payload.get("friend")
    if kind == "AddFriend":
        if user is None:
            return friendship_rejected(kind, friend, "UNKNOWN_USER")
        if friend == me:
            return friendship_rejected(kind, friend, "SELF")
        if not valid_id(friend):
            return friendship_rejected(kind, friend, "UNKNOWN_FRIEND")
        if friend in user["friends"]:
            return friendship_rejected(kind, friend, "ALREADY_FRIENDS")
        if friend in user["requested"]:
            return friendship_rejected(kind, friend, "REQUEST_PENDING")
        return [{"type": "FriendRequested", "payload": {"friend": friend}}]
    if kind == "RemoveFriend":
        if user is None:
            return friendship_rejected(kind, friend, "UNKNOWN_USER")
        if friend not in user["friends"]:
            return friendship_rejected(kind, friend, "NOT_FRIENDS")
        return [{"type": "FriendRemoved", "payload": {"friend": friend, "initiator": me}}]

    # The saga's internal steps.
    if kind == "AcceptFriend":
        if user is None:
            return [{"type": "FriendRequestDeclined", "payload": {"friend": friend, "reason": "UNKNOWN_USER"}}]
        if friend in user["friends"]:
            # Both asked each other at once, and the other request got here first.
            return [{"type": "FriendRequestDeclined", "payload": {"friend": friend, "reason": "ALREADY_FRIENDS"}}]
        return [{"type": "FriendAdded", "payload": {"friend": friend, "initiator": friend}}]
    if kind == "ConfirmFriend":
        return [{"type": "FriendAdded", "payload": {"friend": friend, "initiator": me}}]
    if kind == "CancelFriendRequest":
        return friendship_rejected("AddFriend", friend, payload["reason"])
    if kind == "DropFriend":
        return [{"type": "FriendRemoved", "payload": {"friend": friend, "initiator": friend}}]
    raise FunctionError("user does not know the command %s" % kind, retryable=False)


def with_friend(ids, friend):
    return ids if friend in ids else sorted(ids + [friend])


def without(ids, friend):
    return [i for i in ids if i != friend]


def apply(state, event):
    kind = event["type"]
    p = event["payload"]
    if kind == "UserCreated":
        return {"username": p["username"], "name": p["name"], "status": "ACTIVE", "friends": [], "requested": []}
    if state is None:
        return None  # a declined request on a stream with no user: still no user
    if kind == "UserUpdated":
        return dict(state, username=p["username"], name=p["name"])
    if kind == "FriendRequested":
        return dict(state, requested=with_friend(state["requested"], p["friend"]))
    if kind == "FriendAdded":
        return dict(state, friends=with_friend(state["friends"], p["friend"]), requested=without(state["requested"], p["friend"]))
    if kind == "FriendRemoved":
        return dict(state, friends=without(state["friends"], p["friend"]))
    if kind == "FriendshipRejected" and p["command"] == "AddFriend" and p["reason"] != "REQUEST_PENDING":
        # The saga ended without a friendship (a second AddFriend while one is pending leaves that one).
        return dict(state, requested=without(state["requested"], p["friend"]))
    return state  # other rejections change nothing


if __name__ == "__main__":
    serve(handle=handle, apply=apply)
