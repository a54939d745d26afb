"""What a traced program must survive: threads, fork, gc.freeze() and
gc.disable().  Run untraced and traced by tests/integration/run.py, which
compares the output (it must be identical) and reads the JSON that this
writes to argv[1] (mtp's counters at each phase).

usage: safety_program.py STATS.json READY GO DISABLE_SECONDS
It creates READY and waits for GO, so a tracer can attach first.
"""
import gc
import json
import os
import sys
import threading
import time

import mtp
from handshake import ready_then_wait

STATS, READY, GO, DISABLE_S = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
report = {"walks_gc_lists": mtp.stats()["walks_gc_lists"]}

ready_then_wait("safety program", READY, GO)
report["tracing"] = mtp.tracing()


def checksum(obj):
    """Walks a structure of dicts, lists, tuples, str and int."""
    if isinstance(obj, dict):
        return sum(checksum(k) * 31 + checksum(v) for k, v in obj.items()) % (1 << 61)
    if isinstance(obj, (list, tuple)):
        return sum((i + 1) * checksum(v) for i, v in enumerate(obj)) % (1 << 61)
    if isinstance(obj, str):
        return sum(obj.encode()) + len(obj)
    return obj


def observations():
    return mtp.stats()["observations"]


# Threads: four of them build and mutate their own structures and a shared
# one while collections (and so mtp's steps) run on whichever thread
# triggers them.
before = observations()
shared, lock = {}, threading.Lock()


def worker(seed):
    mine = []
    for round_ in range(3000):
        mine.append({"k%d" % i: [seed, round_, i, "v" * (i % 7)] for i in range(40)})
        if len(mine) > 60:
            del mine[: len(mine) // 2]
        with lock:
            shared[(seed, round_ % 17)] = (seed * round_, str(round_))
        if round_ % 100 == 0:
            gc.collect(round_ % 3)
    return checksum(mine)


results = [None] * 4
threads = [threading.Thread(target=lambda s=s: results.__setitem__(s, worker(s)))
           for s in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("threads", results, checksum(shared))
report["threads_observations"] = observations() - before

# fork: the child starts with no history of the parent's and must work
# normally; the parent carries on.
# A later after-fork hook that runs Python code: on 3.13, which counts
# threads after these hooks and warns (on stderr, here: the fork is in
# __main__) when there is more than one, mtp's ticker must not come back
# inside it.
os.register_at_fork(after_in_parent=lambda: sum(i for i in range(20000)))
big = [{"n": i, "s": str(i)} for i in range(20000)]
gc.collect()
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(r)
    child_table = mtp.stats()["side_table_bytes"]
    child = [[i, str(i)] for i in range(30000)]
    gc.collect()
    os.write(w, json.dumps({"sum": checksum(child) + checksum(big),
                            "side_table_bytes": child_table}).encode())
    os._exit(7)
os.close(w)
with os.fdopen(r) as f:
    child_out = json.loads(f.read())
_, status = os.waitpid(pid, 0)
print("fork child exit", os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode")
      else status >> 8, "sum", child_out["sum"])
report["child_side_table_bytes"] = child_out["side_table_bytes"]
report["parent_side_table_bytes"] = mtp.stats()["side_table_bytes"]

# gc.freeze(): frozen objects move to the permanent generation, which no
# collection visits; mtp still sees them.
frozen = [[i, str(i)] for i in range(50000)]  # lists: always tracked
gc.freeze()
report["frozen"] = gc.get_freeze_count()
mtp.observe()  # one unbudgeted step: every list once, the permanent one in full
report["frozen_walked"] = mtp.stats()["last_step_frozen"]
total = 0
for rep in range(5):
    more = [[i] * 3 for i in range(20000)]
    total += sum(d[0] for d in frozen) + len(more)
    gc.collect()
print("freeze", total, checksum(frozen[:1000]))
report["frozen_observations"] = observations()
gc.unfreeze()
del more

# gc.disable(): no collections, so no callbacks; mtp's timer steps observe.
gc.disable()
before, steps_before = observations(), mtp.stats()["timer_steps"]
data = [{"d": i} for i in range(100000)]
end, total = time.monotonic() + DISABLE_S, 0
while time.monotonic() < end:
    total += sum(d["d"] for d in data[:20000])
    data.append({"d": len(data)})
gc.enable()
print("disable", len(data) > 100000, total > 0)
report["disabled_observations"] = observations() - before
report["timer_steps"] = mtp.stats()["timer_steps"] - steps_before

with open(STATS, "w") as f:
    json.dump(report, f)
print("done")
