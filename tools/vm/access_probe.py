#!/usr/bin/python3
"""Runs in the two-tier guest, under `numactl --membind=NODE`: writes a known
amount to PAGES pages of its own and prints their guest-physical frame
numbers, so that the host can find them in the QEMU plugin's counts
(tools/vm/access_check.py).  Needs root (/proc/self/pagemap's PFNs).

usage: access_probe.py NODE [PAGES] [ROUNDS] [DIR|-] [user|kernel]
prints "PROBE LABEL ROUNDS SECONDS PFN...": LABEL is NODE, with a "k" after
it in kernel mode, where the kernel writes the pages (read(2) from
/dev/zero into them), which the plugin must not count as the program's.
With DIR (a share the host sees; "-" for none), it writes DIR/ready-LABEL
once its pages are in place and waits for DIR/go-LABEL before writing, then
DIR/done-LABEL after, and waits for DIR/end-LABEL before it exits (and
frees its pages to others), so that the host can snapshot the counts at
both ends: the window then holds the probe's writes alone.
"""
import os
import ctypes
import mmap
import struct
import sys
import time

node = sys.argv[1]
pages = int(sys.argv[2]) if len(sys.argv) > 2 else 32
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 200
handshake = sys.argv[4] if len(sys.argv) > 4 and sys.argv[4] != "-" else None
kernel = len(sys.argv) > 5 and sys.argv[5] == "kernel"
label = node + ("k" if kernel else "")
m = mmap.mmap(-1, pages * 4096)
m[:] = b"\0" * len(m)  # every page present before its frame is read
base = ctypes.addressof(ctypes.c_char.from_buffer(m)) >> 12
pfns = []
with open("/proc/self/pagemap", "rb") as f:
    for i in range(pages):
        f.seek((base + i) * 8)
        entry = struct.unpack("<Q", f.read(8))[0]
        if not entry >> 63 or entry & ((1 << 55) - 1) == 0:
            sys.exit("access_probe: page %d has no frame (not root?)" % i)
        pfns.append(entry & ((1 << 55) - 1))
fill = b"\x5a" * 4096


def handshake_step(say, wait):
    """Tells the host `say`, then waits for its `wait`."""
    if not handshake:
        return
    open(os.path.join(handshake, "%s-%s" % (say, label)), "w").close()
    deadline = time.monotonic() + 120
    while not os.path.exists(os.path.join(handshake, "%s-%s" % (wait, label))):
        if time.monotonic() > deadline:
            sys.exit("access_probe: no %s-%s in %s within 120 s" % (wait, label, handshake))
        time.sleep(0.01)


handshake_step("ready", "go")
start = time.monotonic()
if kernel:
    view = memoryview(m)
    with open("/dev/zero", "rb", buffering=0) as zero:
        for _ in range(rounds):
            for i in range(pages):
                zero.readinto(view[i * 4096:(i + 1) * 4096])
    view.release()
else:
    for _ in range(rounds):
        for i in range(pages):
            m[i * 4096:(i + 1) * 4096] = fill
elapsed = time.monotonic() - start
handshake_step("done", "end")
print("PROBE %s %d %.3f %s" % (label, rounds, elapsed,
                             " ".join("%x" % p for p in pfns)), flush=True)
