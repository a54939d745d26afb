"""Allocation-heavy workload for tests/integration/cost_tripwire.py.

The shape of a common allocation-heavy program: dict and list churn, json
round trips, a long linked structure, a heap that keeps part of what it
builds (~60 MiB at the default 20 rounds).  Imports mtp, prints
"ready PID", waits for a line on stdin (the tripwire attaches mtp-trace in
between), runs the timed part and prints one line "RESULT {json}" with its
own CPU and wall time and mtp.stats()'s tracing state.

usage: cost_workload.py [ROUNDS]
"""
import gc
import json
import os
import resource
import signal
import sys
import time

import mtp

# Bounded even if the tripwire is killed before it can kill us.
signal.alarm(300)
rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20

print("ready %d" % os.getpid(), flush=True)
if sys.stdin.readline().strip() != "go":
    sys.exit(3)  # the tripwire went away: do not run unobserved work


class Node:
    __slots__ = ("k", "v", "next")

    def __init__(self, k, v, n):
        self.k, self.v, self.next = k, v, n


def collections():
    return [s["collections"] for s in gc.get_stats()]


g0 = collections()
f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
t0, c0 = time.perf_counter(), time.process_time()
keep = []
head = None
for r in range(rounds):
    d = {"id%d" % i: [i, str(i), {"x": i}] for i in range(20000)}
    s = json.dumps(d)
    d2 = json.loads(s)
    for i in range(20000):
        head = Node(i, (i, "n%d" % i), head if i % 7 else None)
    if r % 3 == 0:
        keep.append(d2)
    del d, s
cpu, wall = time.process_time() - c0, time.perf_counter() - t0
stats = mtp.stats()
print("RESULT " + json.dumps({
    "cpu_s": cpu, "wall_s": wall,
    "minflt": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0,
    "full_collections": collections()[2] - g0[2],
    "tracing": stats["tracing"], "written_scan": stats["written_scan"],
}), flush=True)
