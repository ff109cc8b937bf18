"""The social network's queries, in Python: answers computed from the projector's views.

    python3 functions/social/queries.py friends                 # a query worker (the process transport)
    python3 functions/social/queries.py recommendations --http 9013

The first argument names the query:

    friends          ?user=ID            {"user": U, "friends": [U…]}               (U: {"id", "username", "name"})
    mutual-friends   ?user=ID&other=ID   {"user": U, "other": U, "mutualFriends": [U…]}
    recommendations  ?user=ID&limit=10   {"user": U, "recommendations": [U + {"mutualFriends": n}…]}

Recommendations are "friends you may know": friends of the user's friends who are neither the user nor a
friend already, ranked by how many friends they share with the user, ties by id. Each query reads the views
(functions/social/projector.py) at the Evento that calls it, in two or three requests whatever the number of
friends: the user's friends, then the friends of all of them in one POST /views/friends/_get, then the names.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "runtime", "python"))
from evento_runtime import FunctionError, evento_client, serve  # noqa: E402

MAX_LIMIT = 1000


def param(params, name):
    value = params.get(name)
    if not value:
        raise FunctionError("the query needs the parameter %r (a user id)" % name, retryable=False)
    return value


def friend_ids(doc):
    """The ids of a friends document ({"friends": {"bob": true}}), sorted; none for a missing one."""
    return sorted(k for k, v in ((doc or {}).get("friends") or {}).items() if v)


def people(users, ids):
    """[{"id", "username", "name"}] of ids, from a users lookup."""
    return [dict(id=i, username=users.get(i, {}).get("username"), name=users.get(i, {}).get("name")) for i in ids]


def known(users, user):
    if user not in users:
        raise FunctionError("unknown user %r" % user, retryable=False)
    return people(users, [user])[0]


def friends(params, evento_url):
    evento = evento_client(evento_url)
    user = param(params, "user")
    ids = friend_ids(evento.view("friends", user))
    users = evento.views("users", [user] + ids)
    return {"user": known(users, user), "friends": people(users, ids)}


def mutual_friends(params, evento_url):
    evento = evento_client(evento_url)
    user, other = param(params, "user"), param(params, "other")
    docs = evento.views("friends", [user, other])
    mutual = sorted(set(friend_ids(docs.get(user))) & set(friend_ids(docs.get(other))))
    users = evento.views("users", [user, other] + mutual)
    return {"user": known(users, user), "other": known(users, other), "mutualFriends": people(users, mutual)}


def recommendations(params, evento_url):
    evento = evento_client(evento_url)
    user = param(params, "user")
    try:
        limit = int(params.get("limit", "10"))
    except ValueError:
        raise FunctionError("limit must be an integer, got %r" % params.get("limit"), retryable=False)
    if not 1 <= limit <= MAX_LIMIT:
        raise FunctionError("limit must be between 1 and %d, got %d" % (MAX_LIMIT, limit), retryable=False)
    mine = friend_ids(evento.view("friends", user))
    shared = {}  # candidate -> how many of the user's friends are its friends
    for doc in evento.views("friends", mine).values():
        for candidate in friend_ids(doc):
            shared[candidate] = shared.get(candidate, 0) + 1
    excluded = set(mine)
    excluded.add(user)
    ranked = sorted(((-n, c) for c, n in shared.items() if c not in excluded))[:limit]
    top = [c for _, c in ranked]
    users = evento.views("users", [user] + top)
    found = people(users, top)
    for person, (n, _) in zip(found, ranked):
        person["mutualFriends"] = -n
    return {"user": known(users, user), "recommendations": found}


QUERIES = {"friends": friends, "mutual-friends": mutual_friends, "recommendations": recommendations}


def chosen(argv):
    """The query the command line names: its first argument that is not an option or an option's value."""
    i = 0
    while i < len(argv):
        if argv[i] in ("--http", "--host"):
            i += 2
            continue
        if not argv[i].startswith("-"):
            return argv[i]
        i += 1
    return os.environ.get("SOCIAL_QUERY")


if __name__ == "__main__":
    name = chosen(sys.argv[1:])
    if name not in QUERIES:
        sys.exit("usage: queries.py {%s} [--http PORT]" % ",".join(QUERIES))
    serve(query=QUERIES[name])
