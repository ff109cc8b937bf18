"""Test function that never answers: handle and dispatch both sleep for an hour (the call's timeout kills
the worker)."""
import os
import sys
import time

sys.path.insert(0, os.environ["EVENTO_RUNTIME_PY"])
from evento_runtime import serve  # noqa: E402


def hang(*_):
    time.sleep(3600)


serve(handle=hang, dispatch=hang)
