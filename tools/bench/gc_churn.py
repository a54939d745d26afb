"""GC-heavy churn: what `import mtp` (and an attached mtp-trace) costs it.

Builds a long-lived heap of --heap GC-tracked objects, then (after the
runner says "go" on stdin, so a tracer can attach first) runs two timed
phases with time.perf_counter (and time.process_time, which an uprobe's
BPF program, run in this thread, is charged to, but time spent waiting for
a CPU taken by another process is not):

  churn    --rounds iterations that build and drop lists, dicts and
           instances, some in reference cycles, and keep a few alive for a
           while so they are promoted: the collector runs thousands of times.
  collect  --collects calls of gc.collect(0) on an almost empty young
           generation: the per-collection cost, with little else around it.

  collect_cb  (without --mtp only, after the others) the collect phase again
           with a no-op C callable ({}.get) in gc.callbacks: what CPython's
           own callback machinery costs per collection, mtp or not.

Collections are counted from gc.get_stats() before and after each phase
(no callback of our own, which would itself add cost).  With --mtp the
script imports mtp and reports mtp.stats() deltas per phase.  The result is
one JSON object on stdout.  Run by tools/bench/run.py; runnable by hand:

  PYTHONPATH=$(make -s pyext-dir PYTHON=/usr/bin/python3) \\
      /usr/bin/python3 tools/bench/gc_churn.py --mtp --no-wait
"""
import argparse
import gc
import json
import platform
import resource
import sys
import time


class Node:
    """An ordinary instance (with a __dict__), as application code makes."""

    def __init__(self, key):
        self.key = key
        self.peer = None
        self.tags = [key]


class Slot:
    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


def build_heap(n):
    """About n GC-tracked long-lived objects: a __slots__ instance, a dict and a list each third."""
    heap = []
    for i in range(n // 3):
        lst = [i]
        heap.append(Slot({"v": lst}))
    return heap


def churn(rounds):
    survivors = []
    acc = 0
    for i in range(rounds):
        a = [i, i + 1]
        d = {"k": a, "n": i}
        n = Node(i)
        n.peer = Node(i + 1)
        n.peer.peer = n  # a cycle: only the collector frees it
        acc += len(d) + len(a)
        if i % 16 == 0:
            # Medium-lived objects: survive a few collections, then go.
            survivors.append(d)
            if len(survivors) > 4000:
                survivors = []
    return acc


def collect_loop(count):
    collect = gc.collect
    for _ in range(count):
        collect(0)


def collections():
    return [g["collections"] for g in gc.get_stats()]


def stats_delta(mtp, before):
    if mtp is None:
        return None
    after = mtp.stats()
    return {k: after[k] - before[k] for k in after if isinstance(after[k], int)
            and not isinstance(after[k], bool) and k not in ("observe_ns_last", "side_table_bytes")}


def timed(fn, arg, mtp):
    before_stats = mtp.stats() if mtp else None
    c0 = collections()
    flt0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    fn(arg)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    minflt = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - flt0
    c1 = collections()
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "collections": [b - a for a, b in zip(c0, c1)],
        "minflt": minflt,
        "mtp": stats_delta(mtp, before_stats),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mtp", action="store_true", help="import mtp")
    ap.add_argument("--heap", type=int, default=200000, help="long-lived GC-tracked objects")
    ap.add_argument("--rounds", type=int, default=1000000, help="churn iterations")
    ap.add_argument("--collects", type=int, default=100000, help="gc.collect(0) calls")
    ap.add_argument("--no-wait", action="store_true",
                    help="do not wait for a line on stdin before the timed phases")
    args = ap.parse_args()

    mtp = None
    if args.mtp:
        import mtp
    heap = build_heap(args.heap)
    gc.collect()
    print("ready", flush=True)
    if not args.no_wait:
        sys.stdin.readline()

    result = {
        "python": platform.python_version(),
        "executable": sys.executable,
        "mtp": args.mtp,
        "tracing": bool(mtp and mtp.tracing()),
        "churn": timed(churn, args.rounds, mtp),
        "collect": timed(collect_loop, args.collects, mtp),
    }
    if not args.mtp:
        gc.callbacks.append({}.get)  # called as get(phase, info): returns info
        result["collect_cb"] = timed(collect_loop, args.collects, None)
        gc.callbacks.pop()
    result["live_objects"] = len(gc.get_objects())
    result["heap_kept"] = len(heap)
    if mtp:
        result["mtp_stats"] = mtp.stats()
    print(json.dumps(result), flush=True)
    if not args.no_wait:
        sys.stdin.read()  # until the runner closes it: it reads the tracer's BPF counters first


if __name__ == "__main__":
    main()
