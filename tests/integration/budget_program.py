"""Observation must go on whatever the budgets, and its costs must stay
within them.  Run by tests/integration/run.py with mtp-trace attached.

usage: budget_program.py STATS.json READY GO SHARE TIMER_SHARE SECONDS
It builds a heap of ~300,000 objects, sets mtp.set_budget(SHARE,
TIMER_SHARE), creates READY and waits for GO (so the tracer attaches
first), then churns allocations for SECONDS and writes mtp.stats() at the
first and the second half's ends to STATS.json.
"""
import gc
import json
import sys
import time

import mtp
from handshake import ready_then_wait

STATS, READY, GO = sys.argv[1], sys.argv[2], sys.argv[3]
SHARE, TIMER_SHARE, SECONDS = float(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])

heap = [{"id": i, "name": "n%d" % i, "tags": [i, i + 1]} for i in range(100000)]
mtp.set_budget(SHARE, timer_share=TIMER_SHARE)
ready_then_wait("budget program", READY, GO)

report = {"tracing": mtp.tracing()}
start = time.monotonic()
t0, c0 = time.perf_counter(), time.process_time()
halves = []
junk = []
for half in (1, 2):
    end = start + half * SECONDS / 2
    while time.monotonic() < end:
        junk.append([{"k": i, "v": str(i)} for i in range(300)])
        if len(junk) > 200:
            del junk[:100]
        heap[len(junk) * 97 % len(heap)]["tags"].append(half)
    halves.append(mtp.stats())
report["halves"] = halves
report["wall_s"] = time.perf_counter() - t0
report["cpu_s"] = time.process_time() - c0
with open(STATS, "w") as f:
    json.dump(report, f)
gc.collect()
print("done")
