#!/usr/bin/python3
"""Reads the access counts of the QEMU plugin tools/vm/access_plugin.c.

The file's layout is include/mtp_access.h: a header, then per vCPU and kind
(loads, stores) one uint32 counter per guest-physical 4 KiB page.  The
plugin only increments; a window's counts are one snapshot minus the one
before (uint32 arithmetic: a counter may wrap once between the two).

As a command, prints the totals of a file (or of the window between two
snapshots saved with --save) per GiB of guest-physical space and the most
accessed pages:

    access_counts.py /dev/shm/mtp-access [--since SNAPSHOT.npy] [--save OUT.npy] [--top N]
"""
import argparse
import mmap
import struct
import sys
import time

import numpy as np

MAGIC = 0x7373636170746D00
VERSION = 2
KINDS = 2  # loads, stores
# struct mtp_access_header: magic, version, page_shift, n_pages, n_vcpus, sample, outside, io,
# count_want, instrumented
HEADER = struct.Struct("<QIIQIIQQII")
COUNT_WANT = struct.Struct("<I")
COUNT_WANT_AT = HEADER.size - 8
INSTRUMENTED_AT = HEADER.size - 4


class Counts:
    """A mapped count file: header fields, snapshot() and, mapped writable,
    the switch that turns counting off and on (set_counting())."""

    def __init__(self, path, writable=False):
        with open(path, "r+b" if writable else "rb") as f:
            self.map = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ | (
                mmap.PROT_WRITE if writable else 0))
        if len(self.map) < HEADER.size:
            raise ValueError("%s: %d bytes, shorter than the header" % (path, len(self.map)))
        (magic, version, self.page_shift, self.n_pages, self.n_vcpus, self.sample, _, _, _,
         _) = HEADER.unpack_from(self.map)
        if magic != MAGIC or version != VERSION:
            raise ValueError("%s: not an mtp access count file of version %d (magic %#x, "
                             "version %d)" % (path, VERSION, magic, version))
        want = HEADER.size + self.n_vcpus * KINDS * self.n_pages * 4
        if len(self.map) != want:
            raise ValueError("%s: %d bytes, its header says %d" % (path, len(self.map), want))
        self.sets = np.frombuffer(self.map, dtype=np.uint32, offset=HEADER.size,
                                  count=self.n_vcpus * KINDS * self.n_pages).reshape(
                                      self.n_vcpus, KINDS, self.n_pages)

    def outside_io(self):
        return HEADER.unpack_from(self.map)[6:8]

    def counting(self):
        """Whether the plugin counts now: asked to (count_want), and its
        callback is in the translated code (instrumented)."""
        return all(COUNT_WANT.unpack_from(self.map, at)[0] != 0
                   for at in (COUNT_WANT_AT, INSTRUMENTED_AT))

    def set_counting(self, on, timeout=5.0, poll=0.005):
        """Asks the plugin to count (or not).  Off, and on again after the
        first time, take effect at once; the first time on waits until the
        plugin has re-translated the guest's code (at a vCPU's next idle or
        resume).  Returns whether the plugin counts now."""
        COUNT_WANT.pack_into(self.map, COUNT_WANT_AT, 1 if on else 0)
        end = time.monotonic() + timeout
        while on and not self.counting() and time.monotonic() < end:
            time.sleep(poll)
        return self.counting()

    def snapshot(self):
        """(loads, stores) per page, summed over the vCPUs, as uint32 arrays
        (each vCPU's counters are read while it may be incrementing them:
        an access in flight lands in this window or the next)."""
        s = self.sets.copy()
        return s[:, 0, :].sum(axis=0, dtype=np.uint32), s[:, 1, :].sum(axis=0, dtype=np.uint32)


def window(now, before):
    """The counts between two snapshots (uint32 differences wrap right)."""
    return tuple((a - b).astype(np.uint32) for a, b in zip(now, before))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file")
    ap.add_argument("--since", help="a snapshot saved with --save: print the window since it")
    ap.add_argument("--save", help="save this snapshot (numpy .npy) for a later --since")
    ap.add_argument("--top", type=int, default=5, help="print the N most accessed pages")
    args = ap.parse_args()
    try:
        c = Counts(args.file)
    except (OSError, ValueError) as e:
        print("access_counts: %s" % e, file=sys.stderr)
        return 2
    snap = c.snapshot()
    if args.save:
        np.save(args.save, np.stack(snap))
    if args.since:
        snap = window(snap, tuple(np.load(args.since)))
    loads, stores = (x.astype(np.uint64) for x in snap)
    outside, io = c.outside_io()
    print("pages %d, vcpus %d, sample 1/%d, counting %s; loads %d, stores %d; outside %d, io %d"
          % (c.n_pages, c.n_vcpus, c.sample, "on" if c.counting() else "off", loads.sum(),
             stores.sum(), outside, io))
    per_gib = 1 << (30 - c.page_shift)
    for g in range(0, c.n_pages, per_gib):
        l, s = int(loads[g:g + per_gib].sum()), int(stores[g:g + per_gib].sum())
        if l or s:
            print("  GiB %d: loads %d, stores %d, pages touched %d" % (
                g // per_gib, l, s, int(np.count_nonzero(loads[g:g + per_gib] +
                                                         stores[g:g + per_gib]))))
    total = loads + stores
    for p in np.argsort(total)[::-1][:args.top]:
        if total[p]:
            print("  page %#x: loads %d, stores %d" % (int(p) << c.page_shift, loads[p], stores[p]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
