"""Test worker that never reads its stdin (a function stuck before its loop)."""
import time

time.sleep(3600)
