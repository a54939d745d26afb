"""mtp must leave the program's allocator as it found it.  Run by
tests/integration/run.py, traced and untraced.

usage: allocator_program.py RESULT.json READY GO SECONDS

glibc adapts its mmap threshold to what the process frees: freeing one
malloc'd chunk above the threshold (128 KiB at first) raises the threshold
to that chunk's size for good, and changes how every later large
allocation of the program is served (BENCHMARKS §3: ~5% of an
allocation-heavy program's time).  This program never frees such a chunk
itself: it builds a heap of tuples and strings (pymalloc's arenas are
mmap'd directly, a growing list is mremap'd), lets the tracer observe it
for SECONDS, and then asks whether a 132-KiB malloc is still served by a
mapping of its own (mallinfo2's hblks grows by one), as it is at the
default threshold.
"""
import ctypes
import json
import sys
import time

import mtp
from handshake import ready_then_wait

RESULT, READY, GO, SECONDS = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])


class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]

heap = [(i, "s%d" % i) for i in range(300000)]
ready_then_wait("allocator program", READY, GO)

end = time.monotonic() + SECONDS
churn = 0
arena_lo = arena_hi = libc.mallinfo2().arena
while time.monotonic() < end:
    arena = libc.mallinfo2().arena
    arena_lo, arena_hi = min(arena_lo, arena), max(arena_hi, arena)
    # Small objects only: collections and steps run, nothing big is freed.
    junk = [(i, "t%d" % i) for i in range(2000)]
    churn += len(junk)
    time.sleep(0.001)

before = libc.mallinfo2().hblks
p = libc.malloc(132 * 1024)
mapped = libc.mallinfo2().hblks == before + 1
libc.free(p)
st = mtp.stats()
with open(RESULT, "w") as f:
    json.dump({"tracing": mtp.tracing(), "mapped_132k": mapped,
               "observations": st["observations"], "objects_seen": st["objects_seen"],
               "written_scan_state": st["written_scan_state"], "churn": churn, "own_mapped_bytes": st["own_mapped_bytes"],
               "side_table_bytes": st["side_table_bytes"], "arena_lo": arena_lo, "arena_hi": arena_hi}, f)
print("done")
