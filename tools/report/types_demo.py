"""A program with one hot and one cold class, for mtp-report's type panel.

    PYTHONPATH=DIR_WITH_MTP python3 types_demo.py [SECONDS]

It builds 200,000 ColdThing objects it never touches again, then 20,000
HotThing objects whose attributes it updates in a loop for SECONDS (default
30), collecting the young generation each pass.  The README's
docs/mtp-report-types.png is a recording of it.
"""
import gc
import sys
import time

import mtp  # noqa: F401  (observed from its first collection)


class HotThing:
    __slots__ = ("a", "b")

    def __init__(self, i):
        self.a = i
        self.b = [i]


class ColdThing:
    def __init__(self, i):
        self.x = i
        self.y = str(i)


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 30.0
    cold = [ColdThing(i) for i in range(200000)]
    hot = [HotThing(i) for i in range(20000)]
    print("ready", flush=True)
    end, s = time.time() + seconds, 0
    while time.time() < end:
        for h in hot:
            h.a += 1
            s += len(h.b)
        gc.collect(0)
    print("done", len(cold), s > 0)


if __name__ == "__main__":
    main()
