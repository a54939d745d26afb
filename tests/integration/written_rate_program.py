"""A program that writes some pages often and others once in a while, for
written_tests: one 4 MiB anonymous mapping whose even pages are written every
2 ms and whose odd pages every 0.45 s (at least once in each of the
written-page scan's windows, which are 0.5 s or longer), so that the two
sets sit in the same 2-MiB chunks, are taken by the same scans, and differ
only in how often they are written.

Usage: written_rate_program.py LAYOUT READY STOP.  Writes LAYOUT (JSON:
"often" and "seldom" page addresses), then READY, runs until STOP exists
(at most 300 s), and prints the rounds it ran."""

import ctypes
import json
import mmap
import os
import sys
import time

PAGE, PAGES = 4096, 1024


def main():
    layout, ready, stop = sys.argv[1:4]
    import mtp  # noqa: F401  (what is tested is what its scan reports)
    # Private: the scan watches private anonymous mappings (a plain mmap(-1)
    # would be shared).
    buf = mmap.mmap(-1, PAGE * PAGES, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    base = ctypes.addressof(ctypes.c_char.from_buffer(buf))
    with open(layout, "w") as f:
        json.dump({"often": [base + p * PAGE for p in range(0, PAGES, 2)],
                   "seldom": [base + p * PAGE for p in range(1, PAGES, 2)]}, f)
    # One byte in each page of a set, in one C-level slice assignment.
    ones = bytes([1]) * (PAGES // 2)
    buf[0::2 * PAGE] = ones
    buf[PAGE::2 * PAGE] = ones
    open(ready, "w").close()
    rounds, end, seldom_next = 0, time.monotonic() + 300, 0.0
    while rounds % 256 or not os.path.exists(stop) and time.monotonic() < end:
        buf[0::2 * PAGE] = ones
        now = time.monotonic()
        if now >= seldom_next:
            buf[PAGE::2 * PAGE] = ones
            seldom_next = now + 0.45
        time.sleep(0.002)
        rounds += 1
    print(json.dumps({"rounds": rounds}))


if __name__ == "__main__":
    main()
