"""One mtp observation's pause against the size of the live heap.

Builds a heap of --heap GC-tracked objects (the same shapes as gc_churn.py's
long-lived heap), imports mtp and stops observing at collections
(set_min_interval(3600), and no timer steps), so only explicit mtp.observe()
calls observe; each is one step with no budget, over the whole heap.
It needs mtp-trace attached (mtp.observe() does nothing untraced); it talks
to tools/bench/run.py over stdin/stdout:

  ready   heap built; the runner attaches mtp-trace and answers a line
  first   the first observation (every page new to the BPF map) is done;
          the runner snapshots the BPF programs' run time and answers
  done    --observations more rounds are done, each one, interleaved:
            gc.get_objects() alone, a full gc.collect(), mtp.observe()
          (the result JSON follows on the next line); the runner snapshots
          the BPF run time again and answers, and the script exits

Pauses are mtp.stats()['observe_ns_last'] (measured by the extension around
its own work, including the BPF programs that run inside its USDT firings).
"""
import argparse
import gc
import json
import os
import platform
import struct
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gc_churn import build_heap  # noqa: E402


def sync(tag):
    print(tag, flush=True)
    if not sys.stdin.readline():
        sys.exit(1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--heap", type=int, default=1000000, help="long-lived GC-tracked objects")
    ap.add_argument("--observations", type=int, default=5, help="timed rounds after the first")
    ap.add_argument("--dump-addresses", metavar="FILE",
                    help="at the end, write what mtp's side table holds for each object, in "
                         "gc.get_objects() order (address u64, refcount u32, type tag u32), "
                         "for the runner to time the sort on its own")
    args = ap.parse_args()

    import mtp
    mtp.set_min_interval(3600.0)
    mtp.set_budget(0.2, timer_share=0)  # no timer steps either: only mtp.observe()
    heap = build_heap(args.heap)
    gc.collect()
    sync("ready")
    if not mtp.tracing():
        print("observe_scale: no tracer attached", file=sys.stderr)
        sys.exit(2)

    first_seen = mtp.observe()
    first_ns = mtp.stats()["observe_ns_last"]
    before = mtp.stats()
    sync("first")

    rounds = []
    for _ in range(args.observations):
        t0 = time.perf_counter()
        objs = gc.get_objects()
        get_ns = (time.perf_counter() - t0) * 1e9
        del objs
        t0 = time.perf_counter()
        gc.collect()
        full_ns = (time.perf_counter() - t0) * 1e9
        seen = mtp.observe()
        rounds.append({"get_objects_ns": get_ns, "full_collect_ns": full_ns,
                       "observe_ns": mtp.stats()["observe_ns_last"], "objects": seen})
    after = mtp.stats()
    result = {
        "python": platform.python_version(),
        "executable": sys.executable,
        "heap_kept": len(heap),
        "first": {"objects": first_seen, "observe_ns": first_ns},
        "rounds": rounds,
        "records": after["records_fired"] - before["records_fired"],
        "batches": after["batches_fired"] - before["batches_fired"],
        "objects": after["objects_seen"] - before["objects_seen"],
        "observe_ns_total": after["observe_ns_total"] - before["observe_ns_total"],
        "side_table_bytes": after["side_table_bytes"],
    }
    if args.dump_addresses:
        with open(args.dump_addresses, "wb") as f:
            f.write(b"".join(struct.pack("<QII", id(o), sys.getrefcount(o) & 0xffffffff,
                                         id(type(o)) & 0xffffffff) for o in gc.get_objects()))
    print("done", flush=True)
    print(json.dumps(result), flush=True)
    sys.stdin.readline()


if __name__ == "__main__":
    main()
