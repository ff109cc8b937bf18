"""Test query: reads an aggregate through EventoClient, with the token the server gives its workers, and says
which of the operator's token variables it inherited (none should be)."""
import os
import sys

sys.path.insert(0, os.environ["EVENTO_RUNTIME_PY"])
from evento_runtime import EventoClient, serve  # noqa: E402


def query(params, evento_url):
    found = EventoClient(evento_url).aggregate(params["entity"])
    inherited = sorted(k for k in ("EVENTO_TOKENS", "EVENTO_ADMIN_TOKEN", "EVENTO_TOKENS_FILE") if k in os.environ)
    return {"version": found and found["version"], "inherited": inherited, "hasToken": bool(os.environ.get("EVENTO_TOKEN"))}


if __name__ == "__main__":
    serve(query=query)
