"""Allocation-heavy Python of a common kind: dict and list churn, json round trips,
linked __slots__ nodes, and a heap that grows to ~100 MiB during the timed part.

Each round builds a 20,000-entry dict of lists and small dicts, round-trips it
through json, links 20,000 __slots__ nodes (every 7th starts a new chain, so
most chains die with the next round), and keeps every third round's decoded
dict: the heap grows by ~10 MiB each kept round.  27 rounds at --scale 1.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


class Node:
    __slots__ = ("k", "v", "next")

    def __init__(self, k, v, n):
        self.k, self.v, self.next = k, v, n


def main():
    args = harness.parser(__doc__).parse_args()
    mtp = harness.import_mtp(args)
    rounds = max(1, int(27 * args.scale))
    keep = []

    def work():
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
        return {"rounds": rounds, "kept_dicts": len(keep)}

    harness.run("alloc_heavy", work, args, mtp)


if __name__ == "__main__":
    main()
