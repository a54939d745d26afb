"""Steps must spend the budget they are given, not a fraction of it.  Run by
tests/integration/run.py with mtp-trace --no-written-scan attached.

usage: spend_program.py STATS.json READY GO SECONDS [--syscalls]

A heap of 100,000 records, each holding a list of eight small ints, the
same int objects over and over: a step's walk visits a shared int once per
referrer, so a step visits several times more entries than it observes
unique objects.  When steps were sized by their cost per *unique* entry,
they stopped at a fifth of their credit and observation took ~0.5% of the
program's time against its 2% budget (a pass over this heap took ~18 s).
The loop makes some garbage so that the program collects, as most do.
Writes mtp.stats() and the loop's wall time to STATS.json.

The window measured opens once a step has run and the timer credit is above
zero again: the steps at the attach (the first ones fault in mtp's tables, and in the emulated
guest translate its code) may cost more than the credit held, and that
debt is repaid out of the window's share -- at 0.5% a 20-ms debt takes 4 s
of an 8-s window (CI once read 0.12% so).  At most 30 s of such warm-up.

With --syscalls the loop also lets go of the GIL for a moment every ~1 ms
(a stat(), as a service's socket reads do): such a program once took the
GIL back before mtp's ticker could, every time, and starved its steps.  The
collector is off then, so that the steps are all the ticker's.
"""
import gc
import json
import os
import random
import sys
import time

import mtp
from handshake import ready_then_wait

STATS, READY, GO, SECONDS = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
SYSCALLS = sys.argv[5:] == ["--syscalls"]
if SYSCALLS:
    gc.disable()


class Rec:
    __slots__ = ("x", "vals")

    def __init__(self):
        self.x = 0
        self.vals = [0] * 8


heap = [Rec() for _ in range(100000)]
ready_then_wait("spend program", READY, GO)

rng = random.Random(1)
junk = []


def loop(seconds, until=None):
    end = time.monotonic() + seconds
    while time.monotonic() < end and not (until and until()):
        work()


def work():
    for i in range(2000):
        r = heap[rng.randrange(20000)]
        r.x += 1
        r.vals = [i & 7] * 8
        junk.append((i, [i]))
        if SYSCALLS and i % 500 == 0:
            os.stat(".")
    junk.clear()


w0 = time.perf_counter()


def repaid():
    st = mtp.stats()
    return st.get("observations", 0) > 0 and st.get("timer_credit_ns", 0) > 0


loop(30.0, repaid)
warmup = time.perf_counter() - w0
st0 = mtp.stats()
t0 = time.perf_counter()
loop(SECONDS)
wall = time.perf_counter() - t0
st1 = mtp.stats()
with open(STATS, "w") as f:
    json.dump({"tracing": mtp.tracing(), "wall_s": wall, "warmup_s": warmup, "start": st0,
               "end": st1}, f)
print("done")
