#!/usr/bin/python3
"""Soft-dirty pages: which pages a process wrote, as its kernel saw them.

A ground truth independent of mtp (issue 4): `echo 4 > /proc/PID/clear_refs`
write-protects every page of PID and clears its soft-dirty bit; the first
write to a page then faults and the kernel sets the bit again, which
/proc/PID/pagemap shows as bit 55 of the page's 8-byte entry
(Documentation/admin-guide/mm/soft-dirty.rst and pagemap.rst).  In CPython
reading an object writes its reference count, so written pages are close to
touched pages.

  check(pid)              (ok, reason): does this kernel track soft-dirty, and
                          may we clear and read PID's bits
  supported(pid)          check(pid)[0]
  clear(pid)              start a new window
  written_pages(pid, ranges=None, as_array=False)
                          page addresses written (and present) since the last
                          clear, over ranges (default: heap_ranges(maps(pid)))
  maps(pid), parse_maps(text), heap_ranges(mappings)
                          /proc/PID/maps; its private writable anonymous
                          mappings and [heap], where a Python heap lives
  flagged_ranges(pid)     mappings whose every page reads soft-dirty (below)
  heap_and_flagged(pid)   both, from one read of /proc/PID/smaps
  snapshot(pid)           all of it in one pass: heap ranges, flagged mappings,
                          written pages, huge pages (below), AnonHugePages

What the bit does not tell apart, so callers must:
  - a mapping created or grown since the last clear (an mmap merged into its
    neighbour, brk) is marked soft-dirty as a whole (VM_SOFTDIRTY, "sd" in
    smaps' VmFlags): all its pages read as written.  flagged_ranges() lists
    such mappings;
  - a transparent huge page mapped whole (by one PMD) has one bit for its 512
    pages: a write to one marks all.  huge_ranges() finds them with the
    PAGEMAP_SCAN ioctl (Linux 6.7+, category PAGE_IS_HUGE); before that,
    huge_blocks() guesses from frame numbers (512 present entries, consecutive
    from a 512-aligned one, confirmed in /proc/kpageflags; needs
    CAP_SYS_ADMIN), which also counts a huge page split into 4 KiB mappings;
  - writes made on the process's behalf (a collector, a profiler, mtp's own
    observation, which raises every reference count) count as writes.
Without CONFIG_MEM_SOFT_DIRTY the kernel accepts `4` and bit 55 stays 0:
check() detects that by writing to a page of its own process.

Self-test (pure parsing, then, if the kernel supports it, a live check on
this process):  python3 tools/vm/softdirty.py
Watch a process:  python3 tools/vm/softdirty.py --pid PID [--every 1]
"""
import argparse
import array
import collections
import ctypes
import mmap
import os
import sys
import time

try:
    import numpy as np
except ImportError:  # the module works without it, more slowly
    np = None

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
PAGE_SHIFT = PAGE_SIZE.bit_length() - 1

# pagemap entry bits (Documentation/admin-guide/mm/pagemap.rst)
PM_PFN_MASK = (1 << 55) - 1  # 0-54: page frame number when present (0 without CAP_SYS_ADMIN)
PM_SWAP_TYPE_MASK = 0x1f  # 0-4: swap type when swapped
PM_SOFT_DIRTY = 1 << 55
PM_MMAP_EXCLUSIVE = 1 << 56
PM_UFFD_WP = 1 << 57  # write-protected by userfaultfd
PM_FILE = 1 << 61  # file page or shared anonymous
PM_SWAP = 1 << 62
PM_PRESENT = 1 << 63
ENTRY = 8
CHUNK_PAGES = 1 << 16  # entries per read(2): 512 KiB
HUGE_PAGES = 512  # 4 KiB pages in a 2 MiB transparent huge page (x86-64, arm64 4K)
KPF_THP = 1 << 22  # /proc/kpageflags

# PAGEMAP_SCAN (include/uapi/linux/fs.h, Linux 6.7)
PAGE_IS_PRESENT = 1 << 3
PAGE_IS_HUGE = 1 << 6


class _PageRegion(ctypes.Structure):
    _fields_ = [("start", ctypes.c_uint64), ("end", ctypes.c_uint64),
                ("categories", ctypes.c_uint64)]


class _PmScanArg(ctypes.Structure):
    _fields_ = [(n, ctypes.c_uint64) for n in (
        "size", "flags", "start", "end", "walk_end", "vec", "vec_len", "max_pages",
        "category_inverted", "category_mask", "category_anyof_mask", "return_mask")]


PAGEMAP_SCAN = (3 << 30) | (ctypes.sizeof(_PmScanArg) << 16) | (ord("f") << 8) | 16
_libc = ctypes.CDLL(None, use_errno=True)

Mapping = collections.namedtuple("Mapping", "start end perms offset dev inode path")
Snapshot = collections.namedtuple("Snapshot", "ranges flagged written huge anon_huge_kb")


# ------------------------------------------------------------------ pure parsing


def decode(entry):
    """A pagemap entry as a dict of its fields."""
    out = {"present": bool(entry & PM_PRESENT), "swapped": bool(entry & PM_SWAP),
           "file": bool(entry & PM_FILE), "exclusive": bool(entry & PM_MMAP_EXCLUSIVE),
           "uffd_wp": bool(entry & PM_UFFD_WP), "soft_dirty": bool(entry & PM_SOFT_DIRTY)}
    if out["swapped"]:
        out["swap_type"] = entry & PM_SWAP_TYPE_MASK
        out["swap_offset"] = (entry & PM_PFN_MASK) >> 5
    elif out["present"]:
        out["pfn"] = entry & PM_PFN_MASK
    return out


def is_written(entry):
    """Present and soft-dirty: written since the last clear."""
    return entry & (PM_PRESENT | PM_SOFT_DIRTY) == PM_PRESENT | PM_SOFT_DIRTY


def written_in(entries, start):
    """Addresses of the written pages among consecutive pagemap entries
    (an array('Q'), a numpy uint64 array or any sequence of ints) whose first
    entry is the page at address start.  A numpy array gives a sorted numpy
    array back, anything else a list."""
    if np is not None and isinstance(entries, np.ndarray):
        bits = PM_PRESENT | PM_SOFT_DIRTY
        idx = np.flatnonzero((entries & np.uint64(bits)) == np.uint64(bits))
        return np.uint64(start) + (idx.astype(np.uint64) << np.uint64(PAGE_SHIFT))
    return [start + (i << PAGE_SHIFT) for i, e in enumerate(entries) if is_written(e)]


def huge_blocks(entries, start):
    """Start addresses of the 2 MiB blocks, among consecutive pagemap entries whose
    first is the page at address start, that look mapped by one huge page: all
    HUGE_PAGES present, frame numbers consecutive from a HUGE_PAGES-aligned,
    non-zero one.  A list."""
    first = (-(start >> PAGE_SHIFT)) % HUGE_PAGES  # the first aligned entry
    span = HUGE_PAGES << PAGE_SHIFT
    if np is not None and isinstance(entries, np.ndarray):
        nb = max(0, (len(entries) - first) // HUGE_PAGES)
        if nb == 0:
            return []
        blk = entries[first:first + nb * HUGE_PAGES].reshape(nb, HUGE_PAGES)
        pfn = blk & np.uint64(PM_PFN_MASK)
        ok = ((blk & np.uint64(PM_PRESENT)) != 0).all(axis=1)
        ok &= (pfn[:, 0] != 0) & (pfn[:, 0] % np.uint64(HUGE_PAGES) == 0)
        ok &= (pfn - pfn[:, :1] == np.arange(HUGE_PAGES, dtype=np.uint64)).all(axis=1)
        base = start + (first << PAGE_SHIFT)
        return [base + int(i) * span for i in np.flatnonzero(ok)]
    out = []
    for b in range(first, len(entries) - HUGE_PAGES + 1, HUGE_PAGES):
        e0 = entries[b]
        pfn0 = e0 & PM_PFN_MASK
        if not e0 & PM_PRESENT or pfn0 == 0 or pfn0 % HUGE_PAGES:
            continue
        if all(entries[b + i] & PM_PRESENT and entries[b + i] & PM_PFN_MASK == pfn0 + i
               for i in range(1, HUGE_PAGES)):
            out.append(start + (b << PAGE_SHIFT))
    return out


def parse_anon_huge_kb(text, ranges):
    """Sum of smaps' AnonHugePages over the mappings inside ranges."""
    total, inside = 0, False
    for line in text.splitlines():
        head = line.split(None, 1)[0] if line.strip() else ""
        if "-" in head and not head.endswith(":"):
            lo, _, hi = head.partition("-")
            try:
                a = int(lo, 16)
            except ValueError:
                continue
            inside = any(r0 <= a < r1 for r0, r1 in ranges)
        elif inside and head == "AnonHugePages:":
            total += int(line.split()[1])
    return total


def parse_smaps(text):
    """One pass over a /proc/PID/smaps text: (mappings, flagged, anon_huge_kb),
    the last two as in parse_smaps_flagged() and parse_anon_huge_kb() but with
    anon_huge_kb summed over the heap mappings."""
    mappings, flagged, huge_kb = [], [], 0
    cur = None
    for line in text.splitlines():
        c = line[:1]
        if c and c in "0123456789abcdef":  # a mapping's header; fields are capitalised
            m = parse_maps(line)
            cur = m[0] if m else None
            if cur is not None:
                mappings.append(cur)
        elif cur is None:
            continue
        elif c == "A" and line.startswith("AnonHugePages:") and is_heap(cur):
            huge_kb += int(line.split()[1])
        elif c == "V" and line.startswith("VmFlags:") and " sd" in line:
            if "sd" in line.split()[1:]:
                flagged.append((cur.start, cur.end))
    return mappings, sorted(flagged), huge_kb


def parse_maps(text):
    """Mappings of a /proc/PID/maps (or smaps) text; smaps' field lines are skipped."""
    out = []
    for line in text.splitlines():
        parts = line.split(None, 5)
        if len(parts) < 5 or "-" not in parts[0]:
            continue
        lo, _, hi = parts[0].partition("-")
        try:
            start, end = int(lo, 16), int(hi, 16)
            offset, inode = int(parts[2], 16), int(parts[4])
        except ValueError:
            continue  # an smaps field such as "Size:   4 kB"
        out.append(Mapping(start, end, parts[1], offset, parts[3], inode,
                           parts[5].strip() if len(parts) > 5 else ""))
    return out


def is_heap(m):
    """Private, writable, anonymous: the brk heap, malloc's and pymalloc's mmaps,
    thread stacks (not [stack], [vvar] and the like, nor shared memory)."""
    if len(m.perms) < 4 or m.perms[0] != "r" or m.perms[1] != "w" or m.perms[3] != "p":
        return False
    if m.inode != 0:
        return False
    return m.path in ("", "[heap]") or m.path.startswith("[anon:")


def heap_ranges(mappings):
    """[(start, end)] of the heap-like mappings, adjacent ones merged."""
    out = []
    for m in mappings:
        if not is_heap(m):
            continue
        if out and out[-1][1] == m.start:
            out[-1] = (out[-1][0], m.end)
        else:
            out.append((m.start, m.end))
    return out


def parse_smaps_flagged(text):
    """[(start, end)] of the mappings whose VmFlags include "sd": created or grown
    since the last clear, so that every page reads soft-dirty."""
    out, cur = [], None
    for line in text.splitlines():
        if line.startswith("VmFlags:"):
            if cur is not None and "sd" in line.split()[1:]:
                out.append(cur)
            cur = None
            continue
        head = line.split(None, 1)[0] if line.strip() else ""
        if "-" in head and not head.endswith(":"):
            lo, _, hi = head.partition("-")
            try:
                cur = (int(lo, 16), int(hi, 16))
            except ValueError:
                pass
    return out


def pages_in(ranges, pages):
    """Boolean list (numpy array for a numpy input): is each page address inside one of
    the sorted, disjoint ranges?"""
    if np is not None and isinstance(pages, np.ndarray):
        if not ranges:
            return np.zeros(len(pages), bool)
        starts = np.array([r[0] for r in ranges], np.uint64)
        ends = np.array([r[1] for r in ranges], np.uint64)
        i = np.searchsorted(starts, pages, side="right") - 1
        ok = i >= 0
        i = np.clip(i, 0, len(ranges) - 1)
        return ok & (pages < ends[i])
    import bisect
    starts = [r[0] for r in ranges]
    out = []
    for p in pages:
        i = bisect.bisect_right(starts, p) - 1
        out.append(i >= 0 and p < ranges[i][1])
    return out


# ------------------------------------------------------------------ the kernel


def _proc(pid, name):
    return "/proc/%s/%s" % ("self" if pid is None else int(pid), name)


def maps(pid=None):
    with open(_proc(pid, "maps")) as f:
        return parse_maps(f.read())


def flagged_ranges(pid=None):
    with open(_proc(pid, "smaps")) as f:
        return sorted(parse_smaps_flagged(f.read()))


def heap_and_flagged(pid=None):
    """(heap_ranges, flagged_ranges) from one read of /proc/PID/smaps."""
    with open(_proc(pid, "smaps")) as f:
        text = f.read()
    return heap_ranges(parse_maps(text)), sorted(parse_smaps_flagged(text))


def confirm_huge(blocks, pid=None, f=None):
    """The blocks that /proc/kpageflags says are transparent huge pages; all of
    them when it cannot be read (the caller should treat them as huge)."""
    if not blocks:
        return []
    try:
        kf = f or open("/proc/kpageflags", "rb", buffering=0)
        pm = open(_proc(pid, "pagemap"), "rb", buffering=0)
    except OSError:
        return list(blocks)
    out = []
    try:
        for b in blocks:
            e = int.from_bytes(os.pread(pm.fileno(), ENTRY, (b >> PAGE_SHIFT) * ENTRY), "little")
            flags = int.from_bytes(os.pread(kf.fileno(), ENTRY, (e & PM_PFN_MASK) * ENTRY),
                                   "little")
            if flags & KPF_THP:
                out.append(b)
    finally:
        pm.close()
        if f is None:
            kf.close()
    return out


def huge_ranges(pid=None, ranges=None, f=None):
    """[(start, end)] of the PMD-mapped huge pages in ranges (default: the heap
    ranges), from PAGEMAP_SCAN; None where the kernel has no PAGEMAP_SCAN."""
    if ranges is None:
        ranges = heap_ranges(maps(pid))
    own = f is None
    if own:
        f = open(_proc(pid, "pagemap"), "rb", buffering=0)
    vec = (_PageRegion * 256)()
    out = []
    try:
        for start, end in ranges:
            while start < end:
                arg = _PmScanArg(size=ctypes.sizeof(_PmScanArg), start=start, end=end,
                                 vec=ctypes.addressof(vec), vec_len=len(vec),
                                 category_mask=PAGE_IS_HUGE | PAGE_IS_PRESENT,
                                 return_mask=PAGE_IS_HUGE)
                got = _libc.ioctl(f.fileno(), ctypes.c_ulong(PAGEMAP_SCAN), ctypes.byref(arg))
                if got < 0:
                    err = ctypes.get_errno()
                    if err in (25, 22):  # ENOTTY, EINVAL: no PAGEMAP_SCAN here
                        return None
                    if err == 2:  # ENOENT: the mapping went away
                        break
                    raise OSError(err, "PAGEMAP_SCAN: %s" % os.strerror(err))
                for r in vec[:got]:
                    if out and out[-1][1] == r.start:
                        out[-1] = (out[-1][0], r.end)
                    else:
                        out.append((r.start, r.end))
                if got < len(vec) or arg.walk_end <= start:
                    break
                start = arg.walk_end
    finally:
        if own:
            f.close()
    return out


def snapshot(pid=None, confirm=True):
    """One pass over PID: its heap ranges and flagged mappings (one read of
    smaps), the pages written since the last clear in those ranges (sorted
    numpy uint64 array with numpy, else a sorted list), the [start, end) of the
    huge pages among them (huge_ranges(), else huge_blocks() confirmed in
    kpageflags with confirm), and smaps' AnonHugePages over them (kB)."""
    with open(_proc(pid, "smaps")) as f:
        mappings, flagged, huge_kb = parse_smaps(f.read())
    ranges = heap_ranges(mappings)
    written, guess = [], []
    with open(_proc(pid, "pagemap"), "rb", buffering=0) as f:
        huge = huge_ranges(pid, ranges, f)
        for start, end in ranges:
            entries = read_pagemap(pid, start, end, f)
            written.append(written_in(entries, start))
            if huge is None:
                guess.extend(huge_blocks(entries, start))
    if huge is None:
        span = HUGE_PAGES << PAGE_SHIFT
        huge = [(b, b + span) for b in (confirm_huge(guess, pid) if confirm else guess)]
    if np is not None:
        written = np.concatenate(written) if written else np.zeros(0, np.uint64)
    else:
        written = sorted(p for part in written for p in part)
    return Snapshot(ranges, flagged, written, huge, huge_kb)


def clear(pid=None):
    """Clears PID's soft-dirty bits (and write-protects its pages, so the next
    write to each faults once)."""
    with open(_proc(pid, "clear_refs"), "w") as f:
        f.write("4")


def read_pagemap(pid, start, end, f=None):
    """The pagemap entries of [start, end) as an array('Q') (numpy when available)."""
    own = f is None
    if own:
        f = open(_proc(pid, "pagemap"), "rb", buffering=0)
    try:
        n = (end - start) >> PAGE_SHIFT
        buf = bytearray(n * ENTRY)
        view = memoryview(buf)
        done = 0
        while done < n:
            want = min(CHUNK_PAGES, n - done)
            got = os.preadv(f.fileno(), [view[done * ENTRY:(done + want) * ENTRY]],
                            ((start >> PAGE_SHIFT) + done) * ENTRY)
            if got <= 0:  # the mapping went away under us
                break
            done += got // ENTRY
        if np is not None:
            return np.frombuffer(buf, "<u8", count=done)
        out = array.array("Q")
        out.frombytes(bytes(buf[:done * ENTRY]))
        if sys.byteorder != "little":
            out.byteswap()
        return out
    finally:
        if own:
            f.close()


def written_pages(pid=None, ranges=None, as_array=False):
    """Addresses of the pages of PID written since the last clear(pid) and present,
    over ranges [(start, end)] (default: its heap ranges now).  A set, or a sorted
    numpy uint64 array with as_array (needs numpy)."""
    if ranges is None:
        ranges = heap_ranges(maps(pid))
    parts = []
    with open(_proc(pid, "pagemap"), "rb", buffering=0) as f:
        for start, end in ranges:
            start &= ~(PAGE_SIZE - 1)
            parts.append(written_in(read_pagemap(pid, start, end, f), start))
    if as_array:
        if np is None:
            raise RuntimeError("as_array needs numpy")
        out = np.concatenate(parts) if parts else np.zeros(0, np.uint64)
        return np.unique(out.astype(np.uint64))
    out = set()
    for p in parts:
        out.update(int(x) for x in p)
    return out


class _OwnPage:
    """Private anonymous pages of this process, to write to and look at."""

    def __init__(self, pages=1):
        self.m = mmap.mmap(-1, pages * PAGE_SIZE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        self.buf = (ctypes.c_char * (pages * PAGE_SIZE)).from_buffer(self.m)
        self.addr = ctypes.addressof(self.buf)

    def write(self, page=0, value=b"x"):
        self.buf[page * PAGE_SIZE] = value

    def entry(self, page=0):
        with open("/proc/self/pagemap", "rb", buffering=0) as f:
            return int.from_bytes(os.pread(f.fileno(), ENTRY,
                                           ((self.addr >> PAGE_SHIFT) + page) * ENTRY), "little")

    def close(self):
        del self.buf
        self.m.close()


def check(pid=None):
    """(ok, reason).  ok: after clear_refs 4 bit 55 is 0 for a page this process
    wrote before, and 1 once it writes again, and PID's clear_refs and pagemap
    can be opened.  reason says what failed, or what was seen."""
    try:
        page = _OwnPage()
    except (OSError, ValueError) as e:
        return False, "cannot map a test page: %s" % e
    try:
        page.write(value=b"a")
        clear(None)
        before = page.entry()
        page.write(value=b"b")
        after = page.entry()
    except OSError as e:
        return False, "/proc/self/clear_refs or pagemap: %s" % e
    finally:
        page.close()
    if not before & PM_PRESENT or not after & PM_PRESENT:
        return False, "the test page was not present after a write (pagemap %#x, %#x)" % (
            before, after)
    if before & PM_SOFT_DIRTY or not after & PM_SOFT_DIRTY:
        return False, ("kernel %s has no soft-dirty tracking (CONFIG_MEM_SOFT_DIRTY): bit 55 "
                       "was %d after clear_refs 4 and %d after a write"
                       % (os.uname().release, bool(before & PM_SOFT_DIRTY),
                          bool(after & PM_SOFT_DIRTY)))
    if pid is not None:
        try:
            with open(_proc(pid, "clear_refs"), "w"):
                pass
            with open(_proc(pid, "pagemap"), "rb"):
                pass
        except OSError as e:
            return False, "process %s: %s" % (pid, e)
    return True, "kernel %s tracks soft-dirty pages" % os.uname().release


def supported(pid=None):
    return check(pid)[0]


# ------------------------------------------------------------------ self-test

# The first anonymous line ends in a space, as the kernel prints it.
MAPS_SAMPLE = """\
55d0c0a00000-55d0c0a01000 r--p 00000000 fe:01 1311 /usr/bin/python3.11
55d0c1e3b000-55d0c2070000 rw-p 00000000 00:00 0                          [heap]
7f3a1c000000-7f3a1c100000 rw-p 00000000 00:00 0\x20
7f3a1c100000-7f3a1c200000 rw-p 00000000 00:00 0
7f3a1c200000-7f3a1c300000 ---p 00000000 00:00 0
7f3a1d000000-7f3a1d021000 rw-p 00000000 00:00 0                          [anon:arena]
7f3a1e000000-7f3a1e100000 rw-s 00000000 00:01 2048                       /dev/zero (deleted)
7f3a1f000000-7f3a1f010000 rw-p 0001c000 fe:01 1400                       /usr/lib/libc.so.6
7ffd5d8e0000-7ffd5d901000 rw-p 00000000 00:00 0                          [stack]
7ffd5d9f0000-7ffd5d9f4000 r--p 00000000 00:00 0                          [vvar]
"""

SMAPS_SAMPLE = """\
7f3a1c000000-7f3a1c100000 rw-p 00000000 00:00 0
Size:               1024 kB
AnonHugePages:         0 kB
VmFlags: rd wr mr mw me ac sd
7f3a1c100000-7f3a1c200000 rw-p 00000000 00:00 0
Size:               1024 kB
AnonHugePages:      2048 kB
VmFlags: rd wr mr mw me ac
7f3a1d000000-7f3a1d021000 rw-p 00000000 00:00 0                          [anon:arena]
Rss:                 132 kB
AnonHugePages:      4096 kB
VmFlags: rd wr mr mw me ac sd nh
"""


class Checks:
    def __init__(self):
        self.passed = self.failed = 0

    def __call__(self, cond, what):
        if cond:
            self.passed += 1
        else:
            self.failed += 1
            print("FAIL " + what, flush=True)


def self_test_pure(ok):
    e = PM_PRESENT | PM_SOFT_DIRTY | PM_MMAP_EXCLUSIVE | 0x1234
    d = decode(e)
    ok(d["present"] and d["soft_dirty"] and d["exclusive"] and not d["swapped"]
       and d["pfn"] == 0x1234 and not d["uffd_wp"] and not d["file"], "decode present %r" % d)
    d = decode(PM_SWAP | PM_SOFT_DIRTY | (77 << 5) | 3)
    ok(d["swapped"] and not d["present"] and d["swap_type"] == 3 and d["swap_offset"] == 77
       and "pfn" not in d, "decode swapped %r" % d)
    d = decode(PM_PRESENT | PM_UFFD_WP | PM_FILE)
    ok(d["uffd_wp"] and d["file"] and not d["soft_dirty"], "decode uffd-wp file %r" % d)
    ok(is_written(PM_PRESENT | PM_SOFT_DIRTY), "present+soft-dirty is written")
    ok(not is_written(PM_SOFT_DIRTY), "soft-dirty but not present is not written")
    ok(not is_written(PM_PRESENT | 0x7f), "present, clean is not written")

    entries = [0, PM_PRESENT | PM_SOFT_DIRTY, PM_PRESENT, PM_SOFT_DIRTY | PM_SWAP,
               PM_PRESENT | PM_SOFT_DIRTY | PM_UFFD_WP | 5]
    base = 0x7f0000000000
    want = [base + PAGE_SIZE, base + 4 * PAGE_SIZE]
    ok(written_in(entries, base) == want, "written_in list: %r" % written_in(entries, base))
    ok(written_in(array.array("Q", entries), base) == want, "written_in array('Q')")
    if np is not None:
        got = written_in(np.array(entries, np.uint64), base)
        ok(isinstance(got, np.ndarray) and got.tolist() == want,
           "written_in numpy: %r" % got)

    base = 0x7f0000000000  # 2 MiB-aligned
    pfn0 = 0x40000  # 512-aligned
    blk = [PM_PRESENT | (pfn0 + i) for i in range(HUGE_PAGES)]
    ents = [PM_PRESENT | 7] * 3 + blk + blk[:HUGE_PAGES - 1] + [0]
    lead = base - 3 * PAGE_SIZE  # three pages before the aligned block
    ok(huge_blocks(ents, lead) == [base], "huge_blocks finds the aligned block: %r"
       % [hex(b) for b in huge_blocks(ents, lead)])
    ok(huge_blocks(ents, base) == [], "huge_blocks: nothing when the blocks are misaligned")
    shifted = [PM_PRESENT | (pfn0 + 1 + i) for i in range(HUGE_PAGES)]
    ok(huge_blocks(shifted, base) == [], "huge_blocks: frames must start 512-aligned")
    holed = list(blk)
    holed[100] = 0
    ok(huge_blocks(holed, base) == [], "huge_blocks: every page present")
    ok(huge_blocks([PM_PRESENT] * HUGE_PAGES, base) == [], "huge_blocks: pfn 0 (no privilege)")
    if np is not None:
        got = huge_blocks(np.array(ents, np.uint64), lead)
        ok(got == [base], "huge_blocks numpy: %r" % got)
        ok(huge_blocks(np.array(shifted + blk, np.uint64), base) == [base + 512 * PAGE_SIZE],
           "huge_blocks numpy: the second block")

    ms = parse_maps(MAPS_SAMPLE)
    ok(len(ms) == 10, "parse_maps: %d mappings, expected 10" % len(ms))
    heap = [m for m in ms if is_heap(m)]
    ok([m.path for m in heap] == ["[heap]", "", "", "[anon:arena]"],
       "is_heap picks [heap], the two anonymous rw-p and [anon:arena]: %r"
       % [(hex(m.start), m.path) for m in heap])
    ok(ms[7].offset == 0x1c000 and ms[7].inode == 1400 and ms[7].dev == "fe:01"
       and ms[7].path == "/usr/lib/libc.so.6", "parse_maps fields: %r" % (ms[7],))
    ok(ms[6].path == "/dev/zero (deleted)", "parse_maps keeps spaces in paths")
    ranges = heap_ranges(ms)
    ok(ranges == [(0x55d0c1e3b000, 0x55d0c2070000), (0x7f3a1c000000, 0x7f3a1c200000),
                  (0x7f3a1d000000, 0x7f3a1d021000)],
       "heap_ranges merges adjacent mappings: %r" % [(hex(a), hex(b)) for a, b in ranges])
    fl = parse_smaps_flagged(SMAPS_SAMPLE)
    ok(fl == [(0x7f3a1c000000, 0x7f3a1c100000), (0x7f3a1d000000, 0x7f3a1d021000)],
       "parse_smaps_flagged: %r" % fl)
    ok(parse_maps(SMAPS_SAMPLE)[1].start == 0x7f3a1c100000, "parse_maps skips smaps fields")
    ok(parse_anon_huge_kb(SMAPS_SAMPLE, [(0x7f3a1c000000, 0x7f3a1c200000)]) == 2048,
       "parse_anon_huge_kb sums the mappings inside the ranges")
    sm, sf, shk = parse_smaps(SMAPS_SAMPLE)
    ok(len(sm) == 3 and sf == fl and shk == 6144,
       "parse_smaps in one pass: %d mappings, %r, %d kB" % (len(sm), sf, shk))
    probe = [0x7f3a1c000000, 0x7f3a1c0fffff, 0x7f3a1c100000, 0x7f3a1d020000, 0x1000]
    ok(pages_in(fl, probe) == [True, True, False, True, False], "pages_in list")
    if np is not None:
        ok(pages_in(fl, np.array(probe, np.uint64)).tolist() == [True, True, False, True, False],
           "pages_in numpy")


def self_test_live(ok):
    """Against this process: returns a line saying what was checked."""
    good, reason = check()
    if not good:
        # Unsupported: the calls must still work and report nothing written.
        page = _OwnPage(4)
        try:
            page.write(1)
            clear()
            page.write(2)
            got = written_pages(None, [(page.addr, page.addr + 4 * PAGE_SIZE)])
            ok(got == set(), "without soft-dirty nothing reads as written: %r" % got)
        finally:
            page.close()
        ok(not supported(), "supported() agrees with check()")
        return "live: soft-dirty unsupported here (%s); the calls ran and saw nothing; %s" % (
            reason, self_test_huge(ok, False))
    n = 16
    page = _OwnPage(n)
    try:
        for i in range(n):
            page.write(i)
        rng = [(page.addr, page.addr + n * PAGE_SIZE)]
        clear()
        got = written_pages(None, rng)
        ok(got == set(), "nothing written right after clear: %r" % sorted(got))
        ok(flagged_ranges() == [] or not any(a <= page.addr < b for a, b in flagged_ranges()),
           "no mapping flagged right after clear")
        mine = {2, 5, 11, 15}
        for i in mine:
            page.write(i, b"y")
        got = written_pages(None, rng)
        ok(got == {page.addr + i * PAGE_SIZE for i in mine},
           "written pages are the ones written: %r" % sorted((p - page.addr) // PAGE_SIZE
                                                             for p in got))
        ok(all(decode(page.entry(i))["soft_dirty"] == (i in mine) for i in range(n)),
           "decode() of the live entries agrees")
        ok(any(a <= page.addr < b for a, b in heap_ranges(maps())),
           "the test mapping is among heap_ranges()")
        if np is not None:
            arr = written_pages(None, rng, as_array=True)
            ok(arr.tolist() == sorted(got), "as_array gives the same pages, sorted")
        snap = snapshot()
        ok(set(int(p) for p in snap.written) >= got, "snapshot() sees the same written pages")
        clear()
        ok(written_pages(None, rng) == set(), "clear() resets the window")
        fresh = _OwnPage(2)  # a new mapping is soft-dirty as a whole until the next clear
        try:
            fl = flagged_ranges()
            ok(any(a <= fresh.addr < b for a, b in fl),
               "a mapping created since the clear is flagged (VmFlags sd)")
        finally:
            fresh.close()
    finally:
        page.close()
    return "live: %s; %s" % (reason, self_test_huge(ok, True))


def self_test_huge(ok, sd):
    """huge_blocks() finds a transparent huge page, and (sd) it is one
    soft-dirty bit: writing one of its pages marks all 512."""
    span = HUGE_PAGES * PAGE_SIZE
    region = _OwnPage(2 * HUGE_PAGES)  # holds one aligned 2 MiB block
    try:
        try:
            region.m.madvise(mmap.MADV_HUGEPAGE)
        except (AttributeError, OSError):
            pass
        first = (-region.addr) % span // PAGE_SIZE
        for i in range(HUGE_PAGES):
            region.write(first + i)
        base = region.addr + first * PAGE_SIZE
        rng = [(base, base + span)]
        huge = confirm_huge(huge_blocks(read_pagemap(None, base, base + span), base))
        if not huge:
            return "no huge page was allocated (THP %s): huge-page check skipped" % (
                open("/sys/kernel/mm/transparent_hugepage/enabled").read().strip()
                if os.path.exists("/sys/kernel/mm/transparent_hugepage/enabled") else "absent")
        ok(huge == [base], "huge_blocks finds the huge page: %r" % huge)
        hr = huge_ranges(None, rng)
        ok(hr is None or hr == [(base, base + span)], "huge_ranges finds it: %r" % hr)
        if not sd:
            return "huge_blocks found a huge page"
        clear()
        region.write(first + 7, b"z")
        got = written_pages(None, rng)
        ok(len(got) == HUGE_PAGES, "one write marks the whole huge page: %d pages" % len(got))
        return "a huge page: one write marked its %d pages" % len(got)
    finally:
        region.close()


def watch(pid, every, count):
    good, reason = check(pid)
    if not good:
        sys.exit("error: %s" % reason)
    clear(pid)
    for i in range(count):
        time.sleep(every)
        t0 = time.monotonic()
        ranges = heap_ranges(maps(pid))
        got = written_pages(pid, ranges)
        fl = flagged_ranges(pid)
        clear(pid)
        total = sum(b - a for a, b in ranges) >> PAGE_SHIFT
        print("%3d  written %7d of %8d heap pages  flagged mappings %d  (read+clear %.1f ms)"
              % (i + 1, len(got), total, len(fl), 1e3 * (time.monotonic() - t0)), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pid", type=int, help="print PID's written heap pages every --every s")
    ap.add_argument("--every", type=float, default=1.0)
    ap.add_argument("--count", type=int, default=10)
    args = ap.parse_args()
    if args.pid:
        watch(args.pid, args.every, args.count)
        return 0
    ok = Checks()
    self_test_pure(ok)
    print("pure: %d checks" % (ok.passed + ok.failed), flush=True)
    print(self_test_live(ok), flush=True)
    print("%d passed, %d failed" % (ok.passed, ok.failed))
    return 1 if ok.failed else 0


if __name__ == "__main__":
    sys.exit(main())
