"""A program whose hottest and coldest Python types are known, for --top's
tests (top_tests.py) and the README's screenshot (tools/top_screenshot.sh):
20,000 __main__.HotThing objects written in a loop, 200,000
__main__.ColdThing objects never touched after they are made.  mtp must be
importable (PYTHONPATH).

Usage: top_program.py SECONDS [READY_FILE]"""
import gc
import sys
import time

import mtp  # noqa: F401  (observed from here on)


class HotThing:
    __slots__ = ("a", "b")

    def __init__(self, i):
        self.a = i
        self.b = [i]


class ColdThing:
    def __init__(self, i):
        self.x = i
        self.y = str(i)


cold = [ColdThing(i) for i in range(200000)]
hot = [HotThing(i) for i in range(20000)]
if len(sys.argv) > 2:
    with open(sys.argv[2], "w") as f:
        f.write("ready\n")
end = time.monotonic() + float(sys.argv[1])
s = 0
while time.monotonic() < end:
    for h in hot:
        h.a += 1
        s += len(h.b)
    gc.collect(0)
print("done", s > 0, len(cold))
