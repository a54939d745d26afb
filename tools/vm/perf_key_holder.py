#!/usr/bin/python3
"""Holds one task-bound, disabled perf event open until killed.

Runs in the two-tier guest for the whole test session (guest-tests.sh).
Creating the first task-bound perf event (as each mtp-trace attach does for
its uprobes) flips a static key inside the scheduler, which the kernel does
by live-patching __schedule with int3.  Under QEMU's TCG with 2 vCPUs the
other vCPU has been seen to execute a stale int3 there and panic the guest
(CI, 2026-11-26).  Holding one event keeps the key on, so it flips once, at
the start, while nothing else runs, instead of at every attach.
"""
import ctypes
import os
import signal
import struct
import sys
import time

NR_PERF_EVENT_OPEN = 298  # x86_64
PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK = 1, 0
ATTR_SIZE = 64  # PERF_ATTR_SIZE_VER0
DISABLED = 1  # the first bit of the flags word


def main():
    attr = bytearray(ATTR_SIZE)
    struct.pack_into("<IIQ", attr, 0, PERF_TYPE_SOFTWARE, ATTR_SIZE, PERF_COUNT_SW_CPU_CLOCK)
    struct.pack_into("<Q", attr, 40, DISABLED)  # after sample_period, sample_type, read_format
    buf = ctypes.create_string_buffer(bytes(attr), ATTR_SIZE)
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.syscall(NR_PERF_EVENT_OPEN, buf, os.getpid(), -1, -1, 0)
    if fd < 0:
        print("perf_key_holder: perf_event_open: %s" % os.strerror(ctypes.get_errno()),
              file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
