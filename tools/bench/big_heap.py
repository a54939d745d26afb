"""A heap of many long-lived objects with light mutation: what mtp's round-robin
observation costs a program whose heap is large and mostly still.

Builds (untimed) --objects long-lived GC-tracked objects (a __slots__ record
holding a small list, two GC objects per record) and runs a full collection.
The timed part updates a few records per step at strided positions across
the whole heap and allocates a little (a small dict per step, every 64th
kept for a while), so young collections run as in a service between
requests.
"""
import gc
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


class Rec:
    __slots__ = ("key", "hits", "vals")

    def __init__(self, key):
        self.key = key
        self.hits = 0
        self.vals = [key]


def main():
    ap = harness.parser(__doc__)
    ap.add_argument("--objects", type=int, default=1000000,
                    help="long-lived GC-tracked objects (two per record)")
    args = ap.parse_args()
    mtp = harness.import_mtp(args)
    heap = [Rec(i) for i in range(args.objects // 2)]
    gc.collect()
    n = len(heap)
    steps = max(1, int(1500000 * args.scale))

    def work():
        recent = []
        pos = 0
        for i in range(steps):
            pos = (pos + 7919) % n
            r = heap[pos]
            r.hits += 1
            if i % 16 == 0:
                r.vals.append(i)
                if len(r.vals) > 4:
                    del r.vals[1:]
            d = {"k": pos, "v": [i]}
            if i % 64 == 0:
                recent.append(d)
                if len(recent) > 2000:
                    recent = []
        return {"records": n, "steps": steps, "live_objects": len(gc.get_objects())}

    harness.run("big_heap", work, args, mtp)


if __name__ == "__main__":
    main()
