"""The ready/go handshake of the integration tests' programs: run.py's
run_ready_go() waits for READY, attaches mtp-trace, then creates GO."""
import os
import sys
import time


def ready_then_wait(name, ready, go, timeout=60.0):
    """Creates `ready`, then waits for `go`; exits naming `name` if it never comes."""
    open(ready, "w").close()
    deadline = time.monotonic() + timeout
    while not os.path.exists(go):
        if time.monotonic() > deadline:
            sys.exit("%s: never told to go" % name)
        time.sleep(0.01)
