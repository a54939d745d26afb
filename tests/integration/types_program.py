"""A program whose hot and cold Python types are known, for type_tests.py:
`Hot` objects are rewritten all the time, `ColdRecord`s never after they are
made; a nested class, a class whose __module__ is set, and (with --many) more
classes than mtp numbers.  Runs SECONDS, or until GO.stop exists.  Prints
mtp.stats()'s "types" as JSON at the end.

    types_program.py READY GO SECONDS [--many N]
"""
import gc
import json
import os
import sys
import time

import mtp
from handshake import ready_then_wait


class Hot:
    __slots__ = ("n", "link")

    def __init__(self, i):
        self.n = i
        self.link = None


class Outer:
    class Inner:
        def __init__(self, i):
            self.v = i


class ColdRecord:
    def __init__(self, i):
        self.a = i
        self.b = -i
        self.c = None


Dyn = type("Dyn", (), {"__module__": "pkg.mod"})
# A name longer than mtp keeps (63 bytes), cut inside a two-byte character.
Long = type("_" + "\u00dc" * 40, (), {})


def main():
    ready, go, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    many = int(sys.argv[5]) if len(sys.argv) > 5 and sys.argv[4] == "--many" else 0
    cold = [ColdRecord(i) for i in range(60000)]
    inner = [Outer.Inner(i) for i in range(2000)]
    dyn = [Dyn() for _ in range(2000)]
    long_named = [Long() for _ in range(2000)]
    # Classes beyond the table's ids, each with instances that live.
    crowd = [type("C%d" % i, (), {})() for i in range(many)]
    hot = [Hot(i) for i in range(20000)]
    ready_then_wait("types_program", ready, go)
    end = time.monotonic() + seconds
    stop = go + ".stop"  # the test may end the run early
    while time.monotonic() < end and not os.path.exists(stop):
        for h in hot:
            h.n += 1
            h.link = h
        for h in hot:
            h.link = None
        gc.collect(0)
    st = mtp.stats()
    print(json.dumps({"types": st["types"], "observations": st["observations"],
                      "timer_steps": st["timer_steps"], "objects_seen": st["objects_seen"],
                      "cycles": st["cycles"], "walk_restarts": st["walk_restarts"],
                      "kept": len(cold) + len(inner) + len(dyn)
                      + len(crowd) + len(long_named)}))


main()
