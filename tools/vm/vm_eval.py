#!/usr/bin/python3
"""Placement evaluation in the two-tier guest (make vm-eval).

Runs the MTP paper's workloads (tools/vm/paper_workloads.py) under six tiering
configurations, each with the fast node (node 0) limited to a share of the
workload's footprint, and measures placement itself, from the kernel and
independently of mtp: both guest nodes are equally fast, so time says nothing.

  a   first touch, no tiering (overflow to node 1)
  b   kernel.numa_balancing=2 with demotion enabled (the kernel's tiering)
  b2  DAMON: DAMOS migrate_hot / migrate_cold with quota goals (sysfs)
  c   mtp-trace at its defaults
  d   mtp-trace --eager (demote after one cold interval, never adapt)
  e   mtp-trace with each object counted on its first page only
      (MTP_FOOTPRINT=first-page, the paper prototype's footprint)
  cn  c without the written-page scan (--no-written-scan)
  en  e without the written-page scan
  cs  c without the sweep (--no-sweep)
  (experiments, not in the default matrix: cl, cr, ch, cnr, cw, c0, ci; see CONFIGS)

How the fast node is limited: like the paper's memory eater, the rest of node 0
is occupied, here by reserving 2 MiB hugetlb pages on node 0 (they cannot be
reclaimed, demoted or migrated, so no configuration can take them back), until
node 0's free memory above its low watermark is the share of the footprint.
The footprint is the workload's peak RssAnon in a calibration run without a
limit.  The harness and mtp-trace run with their memory bound to node 1.
Node 0's CPUs' free-page lists are shrunk for every configuration (--cpu-lists;
see kernel_settings): otherwise freed pages wait there, out of everyone's reach.

Metrics, sampled every --sample seconds:
  fast share   of the workload's pages written in the window (soft-dirty:
               clear_refs 4, then pagemap bit 55; in CPython reading an object
               writes its reference count), the share on node 0 (move_pages
               with nodes = NULL).  Reported over the run phase.
  moves        a page seen on node 1 and then on node 0 is a promotion, the
               reverse a demotion; a move back to where the page was before
               its previous move is a ping-pong.  Sampling misses moves that
               undo each other inside one window; /proc/vmstat pgmigrate_success
               (all migrations in the guest) is reported as a cross-check.
  cpu          the workload's and the tiering agent's CPU seconds; for mtp,
               also the time its observation steps held the traced program
               (mtp.stats(): collection steps + timer steps).
  modelled     touched slow pages per sample x (slow - fast latency),
               --lat-fast/--lat-slow ns.  Modelled: it counts touched pages,
               not accesses.
"""
import argparse
import ctypes
import json
import os
import platform
import re
import signal
import subprocess
import sys
import threading
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import softdirty  # noqa: E402

PAGE = 4096
MIB = 1 << 20
HUGE = 2 * MIB
FAST, SLOW = 0, 1
CONFIGS = {
    "a": "first touch",
    "b": "kernel NUMA balancing tiering",
    "b2": "DAMON migrate_hot/cold",
    "c": "mtp defaults",
    "d": "mtp --eager",
    "e": "mtp first-page footprint",
    # Ablations: the written-page scan off, with footprints (cn) and without (en);
    # the fast pages mtp never saw touched left alone (cs).
    "cn": "mtp --no-written-scan",
    "en": "mtp first-page footprint, --no-written-scan",
    "cs": "mtp --no-sweep",
    # An experiment, not in the default matrix: demotion four times lazier
    # (a page cold for 8 intervals, adapting up only).
    "cl": "mtp --lazy=8 --lazy-min=8",
    # Experiments: no idle demotions, a page leaves node 0 only for room (cr);
    # idle demotions only while mtp holds more than 85% of its budget (ch).
    "cr": "mtp --idle-floor=100",
    "ch": "mtp --idle-floor=85",
    # An experiment: without the scan, pages leave node 0 only for room, and
    # only pages mtp saw (cn demotes what it cannot see used: part 16).
    "cnr": "mtp --no-written-scan --idle-floor=100 --no-sweep",
    # An experiment: 8 MiB of node 0 kept free for the program's new pages.
    # mtp fills node 0 down to the kernel's low watermark, so pages born
    # between two intervals land on node 1 (part 18: 1-14 MiB a 2 s window).
    "cw": "mtp --watermark=8M",
    # An experiment: no headroom, promotions fill node 0 to the watermark
    # (the default before the measured headroom; part 19).
    "c0": "mtp --headroom=0",
    # An experiment: decisions twice a second, for hot sets that move within
    # a second of wall time (part 33's 25% cells on a faster host).
    "ci": "mtp --interval=0.5s",
    # An experiment: laziness capped at 8 intervals, ci's cap in wall time,
    # with decisions and heat's epochs still a second apart (part 37).
    "cm": "mtp --lazy-max=8",
}
EXPERIMENTS = ("cl", "cr", "ch", "cnr", "cw", "c0", "ci", "cm")
MTP_CONFIGS = ("c", "d", "e", "cn", "en", "cs") + EXPERIMENTS
DEFAULT_CONFIGS = [c for c in CONFIGS if c not in EXPERIMENTS]
NUMA_BAL = "/proc/sys/kernel/numa_balancing"
DEMOTION = "/sys/kernel/mm/numa/demotion_enabled"
THP = "/sys/kernel/mm/transparent_hugepage/enabled"
PCP_FRACTION = "/proc/sys/vm/percpu_pagelist_high_fraction"
DAMON = "/sys/kernel/mm/damon/admin/kdamonds"


def log(msg):
    print("vm-eval: " + msg, file=sys.stderr, flush=True)


def write(path, value):
    with open(path, "w") as f:
        f.write(str(value))


def read(path):
    with open(path) as f:
        return f.read().strip()


def node_meminfo(node):
    out = {}
    with open("/sys/devices/system/node/node%d/meminfo" % node) as f:
        for line in f:
            m = re.match(r"Node \d+ (\w+):\s+(\d+)", line)
            if m:
                out[m.group(1)] = int(m.group(2)) * 1024
    return out


# Who holds node 0, logged each sample: in bad runs the room mtp computes
# fell by 25-40 MiB mid-run.  These logs found where it went: free pages on
# the CPUs' lists, which MemFree leaves out (BENCHMARKS.md §6, "The fast
# node's free pages on its CPUs' lists").
NODE_HOLDERS = ("MemFree", "MemUsed", "AnonPages", "FilePages", "Shmem", "Slab", "KernelStack",
                "PageTables")


def rss_bytes(pid):
    """Resident bytes of pid, or None once it has gone."""
    try:
        with open("/proc/%d/statm" % pid) as f:
            return int(f.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return None


def node_holders(node, pids):
    """Node `node`'s memory by kind, the free pages on its CPUs' lists (pcp,
    which MemFree leaves out), and the resident bytes of each named pid."""
    m = node_meminfo(node)
    out = {k: m[k] for k in NODE_HOLDERS if k in m}
    z = zoneinfo().get(node, {})
    out["pcp"], out["pcp_high"] = z.get("pcp", 0), z.get("pcp_high", 0)
    out.update({"rss_" + name: rss_bytes(pid) for name, pid in pids.items()})
    return out


def parse_zoneinfo(text):
    """{node: {"min"|"low"|"high": bytes, "floor": bytes, "start": byte, "end": byte, "pcp":
    bytes on the CPUs' free lists, "pcp_high": their limits}} summed over zones.  "floor" is
    where the kernel stops placing a program's pages on the node, as mtp-trace's --watermark
    auto reads it (user/lib/zoneinfo.h): per zone the smaller of its managed pages and its low
    watermark plus the largest entry of its protection line (a lower zone's reserve)."""
    nodes, cur, zones = {}, None, []
    for line in text.splitlines():
        m = re.match(r"Node (\d+), zone\s+(\w+)", line)
        if m:
            cur = nodes.setdefault(int(m.group(1)), {"min": 0, "low": 0, "high": 0,
                                                     "floor": 0, "start": None, "end": 0,
                                                     "pcp": 0, "pcp_high": 0})
            zone = {"node": cur}
            zones.append(zone)
            continue
        if cur is None:
            continue
        f = line.split()
        if line.strip().startswith("protection: ("):
            zone["reserve"] = max(int(x) for x in line.split("(", 1)[1].rstrip(")").split(","))
        elif len(f) == 2 and f[0] in ("min", "low", "high", "spanned", "present", "managed"):
            zone[f[0]] = int(f[1])
            if f[0] in ("min", "low", "high"):
                cur[f[0]] += int(f[1]) * PAGE
        elif len(f) == 2 and f[0] in ("count:", "high:"):
            # A CPU's list of free pages (pagesets): "high" the watermark,
            # "high:" the list's limit.
            cur["pcp" if f[0] == "count:" else "pcp_high"] += int(f[1]) * PAGE
        elif len(f) == 2 and f[0] == "start_pfn:":
            start = int(f[1])
            if zone.get("present", 0) > 0:
                cur["start"] = start * PAGE if cur["start"] is None else min(cur["start"],
                                                                            start * PAGE)
                cur["end"] = max(cur["end"], (start + zone.get("spanned", 0)) * PAGE)
    for z in zones:
        floor = z.get("low", 0) + z.get("reserve", 0)
        z["node"]["floor"] += min(floor, z.get("managed", floor)) * PAGE
    return nodes


def zoneinfo():
    with open("/proc/zoneinfo") as f:
        return parse_zoneinfo(f.read())


def pcp_fraction():
    """The fraction (node memory over the lists' total) that makes node 0's
    CPUs' free-page lists hold about 1/32 of its floor between them."""
    total = node_meminfo(FAST)["MemTotal"]
    return max(8, 32 * total // max(1, zoneinfo()[FAST]["floor"]))


def vmstat():
    out = {}
    with open("/proc/vmstat") as f:
        for line in f:
            k, v = line.split()
            out[k] = int(v)
    return out


def cpu_seconds(pid):
    """utime + stime of a process or kernel thread, or None once it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def kthreads(prefix):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if read("/proc/%s/comm" % d).startswith(prefix):
                    out.append(int(d))
            except OSError:
                pass
    return out


class Numa:
    """move_pages(2) with nodes = NULL: where pages are, nothing moved."""

    def __init__(self):
        self.lib = ctypes.CDLL("libnuma.so.1", use_errno=True)
        self.lib.numa_move_pages.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p,
                                             ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]

    def where(self, pid, pages):
        status = np.empty(len(pages), np.int32)
        pages = np.ascontiguousarray(pages, np.uint64)
        step = 65536
        for i in range(0, len(pages), step):
            chunk, out = pages[i:i + step], status[i:i + step]
            if self.lib.numa_move_pages(pid, len(chunk), chunk.ctypes.data, None,
                                        out.ctypes.data, 0) < 0:
                raise OSError(ctypes.get_errno(), "move_pages query of %d failed" % pid)
        return status


CGROUP = "/sys/fs/cgroup/mtp-eval"


def workload_cgroup():
    """A memory cgroup of its own for the workload: DAMON, which watches
    physical memory, filters its actions to the workload's pages by it, as
    mtp and the kernel's NUMA balancing act on the one process."""
    if not os.path.isdir(CGROUP):
        with open("/sys/fs/cgroup/cgroup.subtree_control", "w") as f:
            f.write("+memory")
        os.mkdir(CGROUP)
    return CGROUP


def workload_preexec():
    """In the workload's child: join its cgroup before it allocates anything,
    and set_mempolicy(MPOL_DEFAULT) to undo the harness's binding to node 1,
    so it allocates first-touch as any program."""
    try:
        with open(os.path.join(CGROUP, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))
    except OSError:
        os._exit(96)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.syscall(238, 0, None, 0) != 0:  # SYS_set_mempolicy on x86-64
        os._exit(97)


class Knobs:
    """Kernel settings changed for one run and put back afterwards."""

    def __init__(self):
        self.saved = {}

    def set(self, path, value):
        if path not in self.saved:
            self.saved[path] = read(path)
        write(path, value)

    def restore(self):
        for path, value in self.saved.items():
            if path == THP:
                value = re.search(r"\[(\w+)\]", value).group(1)
            try:
                write(path, value)
            except OSError as e:
                log("could not restore %s: %s" % (path, e))
        self.saved = {}


class FastLimit:
    """Occupies node 0 with hugetlb pages so that cap bytes stay allocatable."""

    PATH = "/sys/devices/system/node/node%d/hugepages/hugepages-2048kB/nr_hugepages" % FAST

    def set(self, cap):
        # where the kernel stops placing the program's pages, not the lows
        # alone: node 0's DMA zone keeps 3.7 MiB more from them
        low = zoneinfo()[FAST]["floor"]
        # 2 MiB pages need contiguous memory, which earlier runs fragment.
        try:
            write("/sys/devices/system/node/node%d/compact" % FAST, 1)
        except OSError:
            pass
        for _ in range(6):
            free = node_meminfo(FAST)["MemFree"]
            have = int(read(self.PATH))
            extra = (free - low - cap) // HUGE
            if abs(extra) <= 1:
                break
            write(self.PATH, max(0, have + extra))
        free = node_meminfo(FAST)["MemFree"]
        usable = max(0, free - low)
        return {"hugetlb_pages": int(read(self.PATH)), "free": free, "floor": low,
                "usable": usable, "reached": abs(usable - cap) <= max(4 * MIB, 0.15 * cap)}

    def clear(self):
        write(self.PATH, 0)


KPF_HUGE = 1 << 17  # /proc/kpageflags: a hugetlb page


def hugetlb_runs(start, end):
    """[(start, end)] byte ranges of hugetlb pages in the physical range."""
    first, last = start // PAGE, end // PAGE
    with open("/proc/kpageflags", "rb") as f:
        f.seek(first * 8)
        flags = np.frombuffer(f.read((last - first) * 8), "<u8")
    huge = ((flags & np.uint64(KPF_HUGE)) != 0).astype(np.int8)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], huge, [0]))))
    return [(int(a + first) * PAGE, int(b + first) * PAGE) for a, b in zip(edges[0::2],
                                                                          edges[1::2])]


def subtract(start, end, holes):
    """[start, end) minus the sorted, disjoint holes."""
    out, cur = [], start
    for a, b in holes:
        if a > cur:
            out.append((cur, min(a, end)))
        cur = max(cur, b)
    if cur < end:
        out.append((cur, end))
    return [(a, b) for a, b in out if b > a]


class Damon:
    """DAMON's own tiering through sysfs, in the shape the kernel's docs give
    it: one kdamond monitors the slow node's physical memory and promotes
    (migrate_hot), one monitors the fast node's and demotes (migrate_cold).
    6.12 implements the migrate actions for physical-address monitoring only
    (vaddr gained them in 6.16).  Quota goals: promote while the fast node is
    used below its target, demote while its free memory is below its target;
    6.12 has no node-memory goal metric, so the harness feeds both as
    user_input goals every second (commit_schemes_quota_goals)."""

    def __init__(self, rate_mib=100):
        self.rate = rate_mib * MIB
        self.zones = zoneinfo()
        node_total = node_meminfo(FAST)["MemTotal"]
        # One threshold for both: promote while the fast node's free memory is
        # above its high watermark (plus 2 MiB), demote while below.  The
        # kernel keeps free memory near its watermarks (several % of a small
        # node) anyway, so a goal below them could never be reached.
        self.free_goal_bp = int((self.zones[FAST]["high"] + HUGE) * 10000 / node_total)

    def _scheme(self, k, action, nid, hot):
        s = "%s/%d/contexts/0/schemes/0" % (DAMON, k)
        write(s + "/action", action)
        write(s + "/target_nid", nid)
        ap = s + "/access_pattern"
        # Ages and access counts are unsigned int in the kernel: a larger
        # "max" written through sysfs silently wraps, to 0 for 1 << 62.
        uint_max = (1 << 32) - 1
        write(ap + "/sz/min", 0)
        write(ap + "/sz/max", 1 << 62)
        write(ap + "/nr_accesses/min", 1 if hot else 0)
        write(ap + "/nr_accesses/max", uint_max if hot else 0)
        write(ap + "/age/min", 0 if hot else 10)  # cold for 10 aggregations = 1 s
        write(ap + "/age/max", uint_max)
        q = s + "/quotas"
        # The goal tuner starts an effective quota at 1 byte and at best
        # doubles it per reset interval, so a short interval lets it reach
        # the rate cap in about 3 s rather than 30.
        write(q + "/ms", 0)
        write(q + "/bytes", self.rate // 10)
        write(q + "/reset_interval_ms", 100)
        write(q + "/goals/nr_goals", 1)
        write(q + "/goals/0/target_metric", "user_input")
        write(q + "/goals/0/target_value", 10000)
        write(q + "/goals/0/current_value", 10000)
        # Only the workload's pages (its memory cgroup), not the harness's.
        f = s + "/filters"
        write(f + "/nr_filters", 1)
        write(f + "/0/type", "memcg")
        write(f + "/0/memcg_path", "/" + os.path.basename(CGROUP))
        write(f + "/0/matching", "N")
        write(q + "/weights/sz_permil", 0)
        write(q + "/weights/nr_accesses_permil", 1000 if hot else 0)
        write(q + "/weights/age_permil", 0 if hot else 1000)

    def start(self):
        write(DAMON + "/nr_kdamonds", 2)
        for k, (watch, action, nid, hot) in enumerate((
                (SLOW, "migrate_hot", FAST, True), (FAST, "migrate_cold", SLOW, False))):
            c = "%s/%d/contexts" % (DAMON, k)
            write(c + "/nr_contexts", 1)
            write(c + "/0/operations", "paddr")
            write(c + "/0/targets/nr_targets", 1)
            z = self.zones[watch]
            # Leave out the hugetlb pages that limit the fast node: DAMON
            # cannot migrate them, yet, never accessed, they would rank
            # coldest and use up the demotion quota (charged when tried).
            regions = subtract(z["start"], z["end"], hugetlb_runs(z["start"], z["end"]))
            self.regions = getattr(self, "regions", {})
            self.regions[watch] = regions
            write(c + "/0/targets/0/regions/nr_regions", len(regions))
            for i, (a, b) in enumerate(regions):
                write(c + "/0/targets/0/regions/%d/start" % i, a)
                write(c + "/0/targets/0/regions/%d/end" % i, b)
            write(c + "/0/schemes/nr_schemes", 1)
            self._scheme(k, action, nid, hot)
        self.update()
        for k in (0, 1):
            write("%s/%d/state" % (DAMON, k), "on")

    def update(self):
        """Feeds the goals.  A goal's score is current / target (10000 =
        met); the tuner grows the quota while the score is below it, in
        proportion to the shortfall, and shrinks it above.  Promotion's score
        is goal free / free (far below while the fast node has room, above
        once it has less than the goal); demotion's is free / goal free."""
        mi = node_meminfo(FAST)
        free = max(1, mi["MemFree"])
        goal = self.free_goal_bp * mi["MemTotal"] / 10000
        for k, cur in ((0, goal / free), (1, free / goal)):
            cur = max(1, min(20000, int(cur * 10000)))
            write("%s/%d/contexts/0/schemes/0/quotas/goals/0/current_value" % (DAMON, k), cur)
            try:
                write("%s/%d/state" % (DAMON, k), "commit_schemes_quota_goals")
            except OSError:
                pass  # not running yet

    def threads(self):
        return [int(read("%s/%d/pid" % (DAMON, k))) for k in (0, 1)]

    def stats(self):
        out = {}
        for k, name in ((0, "promote"), (1, "demote")):
            write("%s/%d/state" % (DAMON, k), "update_schemes_stats")
            st = "%s/%d/contexts/0/schemes/0/stats" % (DAMON, k)
            out[name] = {f: int(read(st + "/" + f)) for f in ("nr_tried", "sz_tried",
                                                               "nr_applied", "sz_applied")}
        return out

    def stop(self):
        for k in (0, 1):
            try:
                write("%s/%d/state" % (DAMON, k), "off")
            except OSError:
                pass
        write(DAMON + "/nr_kdamonds", 0)


class DamonProbe:
    """A measurement, not a tiering agent (--damon-probe): DAMON monitoring
    the workload's virtual address space beside mtp, for the read signal
    mtp lacks (data read but never written).  One kdamond, vaddr, a `stat`
    scheme over every region; at each window's end the regions it tried
    in its last aggregation (by default 400 ms of 20-ms samples, 10 to
    1,000 regions: --damon-probe-*), with their nr_accesses, saved with
    the window's pages for vm_eval_report.py.
    Needs no other kdamond running (the kernel's sysfs cannot add one
    beside a running one)."""

    SAMPLE_US = 20000

    def __init__(self, pid, aggr_ms=400, max_regions=1000, min_regions=10):
        self.pid, self.k = pid, "%s/0" % DAMON
        self.aggr_us, self.max_regions = aggr_ms * 1000, max(max_regions, min_regions)
        self.min_regions = min_regions
        self.error = None
        self.tid, self.cpu_s = None, 0.0

    def start(self):
        write(DAMON + "/nr_kdamonds", 1)
        c = self.k + "/contexts"
        write(c + "/nr_contexts", 1)
        write(c + "/0/operations", "vaddr")
        iv = c + "/0/monitoring_attrs/intervals"
        write(iv + "/sample_us", self.SAMPLE_US)
        write(iv + "/aggr_us", self.aggr_us)
        write(iv + "/update_us", 1000000)
        # max first: the kernel refuses a min above the max in force
        write(c + "/0/monitoring_attrs/nr_regions/max", self.max_regions)
        write(c + "/0/monitoring_attrs/nr_regions/min", self.min_regions)
        write(c + "/0/targets/nr_targets", 1)
        write(c + "/0/targets/0/pid_target", self.pid)
        write(c + "/0/schemes/nr_schemes", 1)
        s = c + "/0/schemes/0"
        write(s + "/action", "stat")
        uint_max = (1 << 32) - 1  # see Damon._scheme
        for f, hi in (("sz", 1 << 62), ("nr_accesses", uint_max), ("age", uint_max)):
            write("%s/access_pattern/%s/min" % (s, f), 0)
            write("%s/access_pattern/%s/max" % (s, f), hi)
        write(self.k + "/state", "on")
        self.tid = int(read(self.k + "/pid"))

    def note_cpu(self):
        """The kdamond's CPU time so far, kept: it exits with its target, so
        read after the workload it is gone."""
        cpu = cpu_seconds(self.tid) if self.tid and self.tid > 0 else None
        if cpu is not None:
            self.cpu_s = cpu

    def read(self):
        """The regions of the last aggregation: start, end, nr_accesses,
        age arrays; empty ones (and the error kept) if DAMON failed."""
        out = {k: [] for k in ("damon_start", "damon_end", "damon_nr", "damon_age")}
        self.note_cpu()
        try:
            write(self.k + "/state", "update_schemes_tried_regions")
            d = self.k + "/contexts/0/schemes/0/tried_regions"
            for name in os.listdir(d):
                if name.isdigit():
                    r = "%s/%s/" % (d, name)
                    for key, f in (("damon_start", "start"), ("damon_end", "end"),
                                   ("damon_nr", "nr_accesses"), ("damon_age", "age")):
                        out[key].append(int(read(r + f)))
            if not out["damon_start"] and not self.error:
                # said in the run's results, not guessed at in the report
                self.error = "no regions; kdamond %s" % read(self.k + "/state")
        except OSError as e:
            self.error = repr(e)
        return {k: np.array(v, dtype=np.uint64) for k, v in out.items()}

    def stop(self):
        try:
            write(self.k + "/state", "off")
        except OSError:
            pass
        write(DAMON + "/nr_kdamonds", 0)


def account_moves(old_pages, old_nodes, pages, nodes, last_dir):
    """Moves between two windows, on pages present in both (sorted uint64
    address arrays and their nodes): up = slow to fast, down = fast to slow.
    A move opposite to the page's previous one is a ping-pong; last_dir
    (page -> +1 up / -1 down) carries that across windows.  Returns (up,
    down, ping-pongs)."""
    common, i_now, i_old = np.intersect1d(pages, old_pages, assume_unique=True,
                                          return_indices=True)
    before, after = old_nodes[i_old], nodes[i_now]
    up = common[(before == SLOW) & (after == FAST)]
    down = common[(before == FAST) & (after == SLOW)]
    bounced = 0
    for arr, d in ((up, 1), (down, -1)):
        for p in arr.tolist():
            if last_dir.get(p) == -d:
                bounced += 1
            last_dir[p] = d
    return up, down, bounced


class AccessWindows:
    """The guest's half of the access counts (tools/vm/access_host.py, which
    runs QEMU with the TCG plugin): at each window boundary it asks the host
    for a snapshot of the counts and waits for it, then saves the workload's
    pages as they are at that moment: their pagemap entries (the frames:
    the harness runs as root), their nodes and, under mtp, its page heat.
    vm_eval_report.py joins the two.  A boundary the host does not answer
    within `timeout` s marks its window as uncounted; the workload never
    waits, only the harness does."""

    def __init__(self, directory, run, timeout=10.0):
        self.dir, self.run, self.timeout = directory, run, timeout
        self.answered = self.missed = 0

    def boundary(self, k, count):
        """Closes window k-1 and, from here on, has the plugin count or not
        (count: only the windows the report scores are counted, the rest
        of the guest runs without the plugin's cost)."""
        base = os.path.join(self.dir, "%s.%d" % (self.run, k))
        with open(base + ".req.tmp", "w") as f:
            f.write("count=%d\n" % (1 if count else 0))
        os.rename(base + ".req.tmp", base + ".req")
        end = time.monotonic() + self.timeout
        while not os.path.exists(base + ".ok"):
            if time.monotonic() > end:
                self.missed += 1
                return False
            time.sleep(0.01)
        self.answered += 1
        return True

    def save(self, k, entries, pages, nodes, heat, regions=None):
        np.savez(os.path.join(self.dir, "%s.%d.pages.npz" % (self.run, k)),
                 entries=entries, pages=pages, nodes=nodes, **(heat or {}), **(regions or {}))


class MtpHeat:
    """mtp's page map as it is at a window's end, for the rank agreement:
    keys, heat and what decaying it to the current epoch needs
    (tools/eval/run.py's decayed()).  The map is opened once (its BTF read
    through bpftool) and read with the bpf(2) syscall; None when it cannot
    be read."""

    def __init__(self, tracer, pid):
        sys.path.insert(0, os.path.join(ROOT, "tools", "eval"))
        import bpfmap  # noqa: E402
        self.bpfmap, self.tracer, self.pmap = bpfmap, tracer, None
        self.pin = "/sys/fs/bpf/mtp/%d/pages" % pid  # pinned per traced process
        self.error = None

    def __call__(self):
        try:
            if self.pmap is None:
                self.pmap = self.bpfmap.PinnedMap(self.pin)
            keys, vals = self.pmap.read()
        except (OSError, self.bpfmap.MapError, subprocess.SubprocessError) as e:
            self.error = repr(e)  # said in the run's results
            return None
        epochs = [l["epoch"] for l in self.tracer.lines if "epoch" in l]
        out = {"keys": keys, "heat": vals["heat"].astype(np.uint64),
               "last_epoch": vals["last_epoch"].astype(np.int64),
               "epoch": np.int64(epochs[-1] if epochs else 0)}
        if "period" in vals.dtype.names:
            out["period"] = vals["period"].astype(np.int64)
        return out

    def close(self):
        if self.pmap is not None:
            self.pmap.close()
            self.pmap = None


class Sampler:
    """Per window: the workload's written pages and where its pages are."""

    def __init__(self, pid, numa, access=None, heat=None, probe=None):
        self.pid, self.numa = pid, numa
        self.access, self.heat, self.probe = access, heat, probe
        self.k = 0
        self.last_pages = np.zeros(0, np.uint64)
        self.last_nodes = np.zeros(0, np.int32)
        self.last_dir = {}  # page -> +1 (promoted) / -1 (demoted), its last move
        self.promoted = self.demoted = self.pingpongs = 0

    def start(self):
        softdirty.clear(self.pid)
        if self.access:
            self.access.boundary(0, count=False)

    def finish(self):
        """Counting off once the run is over."""
        if self.access:
            self.access.boundary(self.k + 1, count=False)

    def sample(self, count=True):
        """The window since the last sample; count: whether the plugin counts
        the next one."""
        self.k += 1
        counted = self.access.boundary(self.k, count) if self.access else False
        # DAMON's regions read at once after the boundary (the write waits
        # for the kdamond's next aggregation)
        regions = self.probe.read() if self.probe and counted else None
        ranges = softdirty.heap_ranges(softdirty.maps(self.pid))
        present, written, entries = [], [], []
        with open("/proc/%d/pagemap" % self.pid, "rb", buffering=0) as f:
            for start, end in ranges:
                e = softdirty.read_pagemap(self.pid, start, end, f)
                addrs = np.uint64(start) + np.arange(len(e), dtype=np.uint64) * np.uint64(PAGE)
                is_present = (e >> np.uint64(63)) & np.uint64(1) == 1
                present.append(addrs[is_present])
                entries.append(e[is_present])
                written.append(addrs[is_present & ((e >> np.uint64(55)) & np.uint64(1) == 1)])
        softdirty.clear(self.pid)
        pages = np.concatenate(present) if present else np.zeros(0, np.uint64)
        touched = np.concatenate(written) if written else np.zeros(0, np.uint64)
        nodes = self.numa.where(self.pid, pages)
        up, down, bounced = account_moves(self.last_pages, self.last_nodes, pages, nodes,
                                          self.last_dir)
        self.pingpongs += bounced
        self.promoted += len(up)
        self.demoted += len(down)
        self.last_pages, self.last_nodes = pages, nodes
        t_nodes = nodes[np.searchsorted(pages, touched)] if len(touched) else nodes[:0]
        if counted:
            self.access.save(self.k, np.concatenate(entries) if entries else np.zeros(0, np.uint64),
                             pages, nodes, self.heat() if self.heat else None, regions)
        return {"k": self.k, "counted": counted, "touched": int(len(touched)), "touched_fast": int((t_nodes == FAST).sum()),
                "touched_slow": int((t_nodes == SLOW).sum()), "present": int(len(pages)),
                "present_fast": int((nodes == FAST).sum()),
                "present_slow": int((nodes == SLOW).sum()), "up": int(len(up)),
                "down": int(len(down))}


class Workload:
    def __init__(self, args, name, env_extra):
        env = dict(os.environ, PYTHONPATH=args.pydir, **env_extra)
        self.proc = subprocess.Popen(
            [args.python, os.path.join(HERE, "paper_workloads.py"), name, "--scale",
             str(args.scale), "--duration", str(args.duration), "--seed", str(args.seed)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
            preexec_fn=workload_preexec)
        self.pid = self.proc.pid
        self.lines = []
        self.phase = "start"
        self.done = None
        self.rusage = None
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            line = line.strip()
            self.lines.append(line)
            if line.startswith("ready"):
                self.phase = "ready"
            elif line == "phase run":
                self.phase = "run"
            elif line.startswith("done "):
                self.done = json.loads(line[5:])
                self.phase = "done"

    def wait_ready(self, timeout):
        end = time.monotonic() + timeout
        while self.phase == "start":
            if not self.alive() or time.monotonic() > end:
                raise RuntimeError("workload did not become ready: %s" % self.lines[-3:])
            time.sleep(0.1)

    def go(self):
        self.proc.stdin.write("go\n")
        self.proc.stdin.close()

    def alive(self):
        """Reaps with wait4 (never Popen.poll) to keep the child's rusage."""
        if self.rusage is None:
            pid, status, ru = os.wait4(self.pid, os.WNOHANG)
            if pid == self.pid:
                self.rusage = ru
                self.proc.returncode = os.waitstatus_to_exitcode(status)
        return self.rusage is None

    def reap(self, timeout=60):
        end, killed = time.monotonic() + timeout, False
        while self.alive():
            if time.monotonic() > end and not killed:
                self.proc.kill()
                killed = True
            time.sleep(0.1)
        self.reader.join(5)
        return self.proc.returncode


class Tracer:
    """mtp-trace in the background, its JSON lines collected."""

    def __init__(self, args, pid, extra):
        cmd = [args.trace, "--pid", str(pid), "--json"] + extra
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.lines, self.err = [], []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=lambda: self.err.extend(self.proc.stderr), daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            if line.startswith("{"):
                try:
                    obj = json.loads(line)
                except ValueError:
                    continue
                # when the harness read it, on the samples' clock: places
                # each interval in the workload's build or run phase
                obj["harness_t"] = time.monotonic()
                self.lines.append(obj)

    def wait_attached(self, timeout):
        end = time.monotonic() + timeout
        while not self.lines:
            if self.proc.poll() is not None or time.monotonic() > end:
                raise RuntimeError("mtp-trace did not start: %s" % "".join(self.err[-5:]))
            time.sleep(0.1)

    def stop(self):
        cpu = cpu_seconds(self.proc.pid)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            _, status, ru = os.wait4(self.proc.pid, 0)
            cpu = ru.ru_utime + ru.ru_stime
        except ChildProcessError:
            pass
        time.sleep(0.2)
        return cpu


def kernel_settings(args, config):
    """The guest kernel's settings for one run of `config`, as (path, value).

    With --cpu-lists shrunk (the default) node 0's CPUs' free-page lists are
    cut to about 1/32 of its floor for every configuration, first touch and
    the kernel's tiering included: pages freed by a migration or by the
    program wait on the freeing CPU's list, out of MemFree, where the kernel
    places no new page and mtp sees no room.  At the kernel's sizes they held
    23-36 MiB of a 27-MiB fast node for up to 11 s (BENCHMARKS.md parts 22
    and 23), more than any placement decision moved."""
    out = [(THP, args.thp), (NUMA_BAL, 2 if config == "b" else 0),
           (DEMOTION, 1 if config == "b" else 0)]
    if args.cpu_lists == "shrunk":
        out.append((PCP_FRACTION, pcp_fraction()))
    return out


def run_one(args, numa, name, config, share, footprint):
    """One workload under one configuration; share None = no limit (calibration)."""
    knobs, limit, damon, tracer, probe = Knobs(), FastLimit(), None, None, None
    res = {"workload": name, "config": config, "share": share, "samples": []}
    settings = kernel_settings(args, config)
    for path, value in settings:
        knobs.set(path, value)
    res["kernel_settings"] = {path: value for path, value in settings}
    env = {"MTP_FOOTPRINT": "first-page"} if config in ("e", "en") else {}
    wl = Workload(args, name, env)
    try:
        wl.wait_ready(args.ready_timeout)
        if config in MTP_CONFIGS:
            extra = {"d": ["--eager"], "cn": ["--no-written-scan"],
                     "en": ["--no-written-scan"], "cs": ["--no-sweep"],
                     "cl": ["--lazy=8", "--lazy-min=8"],
                     "cr": ["--idle-floor=100"], "ch": ["--idle-floor=85"],
                     "cnr": ["--no-written-scan", "--idle-floor=100", "--no-sweep"],
                     "cw": ["--watermark=8M"], "c0": ["--headroom=0"],
                     "ci": ["--interval=0.5s"],
                     "cm": ["--lazy-max=8"]}.get(config, [])
            tracer = Tracer(args, wl.pid, extra + args.trace_arg)
            tracer.wait_attached(60)
        if share is not None:
            res["limit"] = limit.set(int(share * footprint))
        if config == "b2":
            damon = Damon(args.max_rate)
            damon.start()
        agent_threads = damon.threads() if damon else kthreads("kswapd") if config == "b" else []
        agent_cpu0 = {t: cpu_seconds(t) or 0 for t in agent_threads}
        vm0 = vmstat()
        access = None
        if args.access:
            args.access_runs += 1
            res["access_run"] = "%s_%d_%s_%d" % (name, round((share or 0) * 100), config,
                                                 args.access_runs)
            res["access_spans"] = {n: [z["start"] // PAGE, z["end"] // PAGE]
                                   for n, z in zoneinfo().items() if z["start"] is not None}
            access = AccessWindows(args.access, res["access_run"])
        heat = MtpHeat(tracer, wl.pid) if access and tracer else None
        if heat and args.damon_probe:
            probe = DamonProbe(wl.pid, args.damon_probe_aggr_ms, args.damon_probe_regions,
                               args.damon_probe_min_regions)
            probe.start()
        sampler = Sampler(wl.pid, numa, access, heat, probe)
        sampler.start()
        t0 = time.monotonic()
        wl.go()
        next_t = t0 + args.sample
        while wl.alive() and wl.phase != "done":
            time.sleep(max(0.0, next_t - time.monotonic()))
            next_t += args.sample
            if damon:
                damon.update()
            phase = wl.phase
            try:
                # The build's windows are not scored (vm_eval_report's
                # run_windows): counted from the first run-phase sample on.
                s = sampler.sample(count=phase == "run")
            except (OSError, ValueError) as e:  # the process exited mid-read
                if wl.alive() and wl.phase != "done":
                    log("%s/%s: sample failed: %s" % (name, config, e))
                break
            s["t"] = round(time.monotonic() - t0, 2)
            s["phase"] = phase
            s["node0"] = node_holders(FAST, dict(
                {"workload": wl.pid, "harness": os.getpid()},
                **({"mtp_trace": tracer.proc.pid} if tracer else {})))
            res["samples"].append(s)
            if time.monotonic() - t0 > args.duration + args.build_timeout:
                log("%s/%s: no end after %d s, stopping" % (name, config, time.monotonic() - t0))
                wl.proc.kill()
                break
        sampler.finish()
        vm1 = vmstat()
        res["agent_cpu_s"] = sum((cpu_seconds(t) or 0) - agent_cpu0[t] for t in agent_threads)
        if damon:
            res["damon"] = damon.stats()
            res["damon"]["regions"] = {str(k): len(v) for k, v in damon.regions.items()}
        if probe:
            probe.note_cpu()
            res["damon_probe"] = {"kdamond_cpu_s": probe.cpu_s,
                                  "aggr_ms": probe.aggr_us // 1000,
                                  "max_regions": probe.max_regions,
                                  "min_regions": probe.min_regions, "error": probe.error}
        if heat:
            heat.close()
            if heat.error:
                res["mtp_heat_error"] = heat.error
        if access:
            res["access_windows"] = {"answered": access.answered, "missed": access.missed}
        if tracer:
            res["agent_cpu_s"] = tracer.stop()
            ti = [l["tiering"] for l in tracer.lines if "tiering" in l]
            res["mtp_intervals"] = [
                {"t": l["elapsed_s"], "t_go": round(l["harness_t"] - t0, 2),
                 "hot": l["hot_pages"], "written": l["written_pages"],
                 **{k: l["tiering"][k] for k in ("on_fast", "on_slow", "promoted_bytes",
                                                 "demoted_bytes", "pingpongs", "lazy_n",
                                                 "budget_bytes", "budget_used_bytes")},
                 # where mtp's own moves were to leave node 0: the budget
                 # is mtp's to keep here; an interval that starts over it
                 # after a plan within it was put there by the program
                 "fast_bytes_planned": l["tiering"].get("fast_bytes_planned"),
                 # node 0's CPUs' free-page lists as mtp-trace read them
                 "fast_free_lists_bytes": l["tiering"].get("fast_free_lists_bytes"),
                 # why it demoted: idle (no room was needed) or for room
                 "idle_demote_bytes": l["tiering"].get("planned_idle_demote_bytes", 0),
                 "headroom_bytes": l["tiering"].get("headroom_bytes", 0),
                 # demotions past laziness that opened it (since 10840af)
                 "headroom_demote_bytes": l["tiering"].get("planned_headroom_demote_bytes", 0),
                 "planned_demote_bytes": l["tiering"].get("planned_demote_bytes", 0)}
                for l in tracer.lines if "tiering" in l]
            if ti:
                res["mtp"] = {"promoted_bytes": ti[-1]["totals"]["promoted_pages"] * PAGE,
                              "demoted_bytes": ti[-1]["totals"]["demoted_pages"] * PAGE,
                              "pingpongs": ti[-1]["totals"]["pingpongs"],
                              "lazy_n": ti[-1]["lazy_n"]}
            res["mtp_trace_stderr"] = "".join(tracer.err[-20:])
            tracer = None
        rc = wl.reap()
        res["exit"] = rc
        res["done"] = wl.done
        if wl.rusage:
            res["workload_cpu_s"] = wl.rusage.ru_utime + wl.rusage.ru_stime
            res["workload_sys_s"] = wl.rusage.ru_stime
            res["peak_rss"] = wl.rusage.ru_maxrss * 1024
        res["moves"] = {"promoted_bytes": sampler.promoted * PAGE,
                        "demoted_bytes": sampler.demoted * PAGE, "pingpongs": sampler.pingpongs}
        res["vmstat"] = {k: vm1.get(k, 0) - vm0.get(k, 0) for k in (
            "pgmigrate_success", "pgmigrate_fail", "pgpromote_success", "pgdemote_kswapd",
            "pgdemote_direct", "numa_pages_migrated", "numa_hint_faults")}
        res["agent_moves"] = agent_moves(config, res)
        if rc != 0:
            res["error"] = "workload exited %s: %s" % (rc, wl.lines[-3:])
        elif res.get("limit") and not res["limit"]["reached"]:
            res["error"] = "fast-node limit not reached: %.0f MiB usable for %.0f MiB" % (
                res["limit"]["usable"] / MIB, share * footprint / MIB)
    finally:
        if tracer:
            tracer.stop()
        if wl.alive():
            wl.proc.kill()
            wl.reap(0)
        if damon:
            damon.stop()
        if probe:
            probe.stop()
        limit.clear()
        knobs.restore()
    summarize(res, args)
    return res


def agent_moves(config, res):
    """Bytes each configuration's own mover reports: mtp-trace's re-queried
    moves, DAMOS sz_applied, the kernel's promotion and demotion counters."""
    if config in MTP_CONFIGS and res.get("mtp"):
        m = res["mtp"]
        return {"promoted_bytes": m["promoted_bytes"], "demoted_bytes": m["demoted_bytes"],
                "source": "mtp-trace"}
    if config == "b2" and res.get("damon"):
        d = res["damon"]
        return {"promoted_bytes": d["promote"]["sz_applied"],
                "demoted_bytes": d["demote"]["sz_applied"], "source": "DAMOS sz_applied"}
    v = res["vmstat"]
    return {"promoted_bytes": v["pgpromote_success"] * PAGE,
            "demoted_bytes": (v["pgdemote_kswapd"] + v["pgdemote_direct"]) * PAGE,
            "source": "vmstat"}


def summarize(res, args):
    """Fast share: the mean over run-phase windows of each window's share
    (the first such window overlaps the build, whose allocations would
    outweigh the rest)."""
    run = [s for s in res["samples"] if s["phase"] == "run"][1:]
    shares = [s["touched_fast"] / s["touched"] for s in run if s["touched"]]
    res["fast_share"] = sum(shares) / len(shares) if shares else None
    res["run_samples"] = len(shares)
    res["touched_per_sample"] = sum(s["touched"] for s in run) / len(run) if run else 0
    res["modelled_penalty_us"] = (sum(s["touched_slow"] for s in run) / len(run)
                                  * (args.lat_slow - args.lat_fast) / 1000 if run else None)
    st = (res.get("done") or {}).get("mtp_stats") or {}
    res["mtp_pause_s"] = ((st.get("gc_step_ns_total", 0) + st.get("timer_step_ns_total", 0)) / 1e9
                          if st else None)
    am = res.get("agent_moves") or {}
    res["migrated_bytes"] = am.get("promoted_bytes", 0) + am.get("demoted_bytes", 0)
    res["over_budget"] = over_budget_by_phase(res)


def over_budget_by_phase(res):
    """mtp's intervals that began over the budget (its tracked fast bytes
    above it: the node was at the kernel's floor), by the workload's phase:
    "build" (attach and the build, whose first touches fill the fast node
    faster than an interval), "run" (the scored phase, from its first sample
    to its last) and "end" (the exit); and "planned": intervals, in any
    phase, whose own moves were planned to leave node 0 over the budget
    (mtp's doing, where the others are the program's new pages; absent for
    runs that did not record the plan).  None for runs without mtp or
    recorded before the intervals carried the harness's clock."""
    iv = res.get("mtp_intervals") or []
    run = [s["t"] for s in res.get("samples", []) if s["phase"] == "run" and "t" in s]
    if not iv or "t_go" not in iv[0] or not run:
        return None
    out = {"build": 0, "run": 0, "end": 0}
    for i in iv:
        if i["budget_used_bytes"] > i["budget_bytes"]:
            out["build" if i["t_go"] < run[0] else "run" if i["t_go"] <= run[-1] else "end"] += 1
    if all(i.get("fast_bytes_planned") is not None for i in iv):
        out["planned"] = sum(i["fast_bytes_planned"] > i["budget_bytes"] for i in iv)
    return out


def calibrate(args, numa, name):
    """The footprint: a first-touch run without a limit (a short run phase:
    the workloads reach their size in the build)."""
    full = args.duration
    args.duration = min(full, 6)
    try:
        res = run_one(args, numa, name, "a", None, None)
    finally:
        args.duration = full
    peak = max([s["present"] for s in res["samples"]] or [0]) * PAGE
    rss = (res.get("done") or {}).get("rss_anon_kb", 0) * 1024
    res["footprint"] = max(peak, rss)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--commit", help="the host tree's commit, for the record (make vm-eval sets it)")
    ap.add_argument("--python", default="/usr/bin/python3")
    ap.add_argument("--workloads", nargs="+",
                    default=["astar", "bellman_ford", "bfs", "bidirectional", "kcore",
                             "shortest_paths", "sqlalchemy"])
    ap.add_argument("--configs", nargs="+", default=DEFAULT_CONFIGS, choices=list(CONFIGS))
    ap.add_argument("--shares", nargs="+", type=float, default=[0.25, 0.5, 0.75])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--duration", type=float, default=24, help="run phase, seconds")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--sample", type=float, default=2.0, help="window, seconds")
    ap.add_argument("--damon-probe", action="store_true",
                    help="with --access, under mtp: DAMON (vaddr) watches the workload too, "
                    "and the report says what its read signal would add to mtp's ranking")
    ap.add_argument("--damon-probe-aggr-ms", type=int, default=400, metavar="MS",
                    help="the probe's aggregation (its counts are of the last one before a "
                    "window's end; reading them waits for it)")
    ap.add_argument("--damon-probe-regions", type=int, default=1000, metavar="N",
                    help="the probe's most regions")
    ap.add_argument("--damon-probe-min-regions", type=int, default=10, metavar="N",
                    help="the probe's fewest regions (DAMON merges regions of like counts: "
                    "at its default of 10, ~110-MiB workloads were watched in ~45)")
    ap.add_argument("--repeats", type=int, default=3,
                    help="runs of every cell, interleaved (the report takes the median)")
    ap.add_argument("--thp", default="madvise", choices=["always", "madvise", "never"])
    ap.add_argument("--cpu-lists", default="shrunk", choices=["shrunk", "kernel"],
                    help="node 0's CPUs' free-page lists: shrunk to ~1/32 of its floor "
                    "for every configuration (vm.percpu_pagelist_high_fraction, put back "
                    "after each run), or left at the kernel's sizes (before part 24)")
    ap.add_argument("--max-rate", type=int, default=100, help="DAMON quota, MiB/s")
    ap.add_argument("--lat-fast", type=float, default=100.0, help="modelled, ns")
    ap.add_argument("--lat-slow", type=float, default=250.0, help="modelled, ns")
    ap.add_argument("--trace-arg", action="append", default=[],
                    help="extra mtp-trace option for c/d/e (repeat)")
    ap.add_argument("--ready-timeout", type=float, default=300)
    ap.add_argument("--build-timeout", type=float, default=600)
    ap.add_argument("--out", required=True, help="results.json path")
    ap.add_argument("--access", metavar="DIR",
                    help="count every access through the host's TCG plugin: the directory "
                    "tools/vm/access_host.py serves (make vm-eval sets it)")
    args = ap.parse_args()
    args.access_runs = 0

    if os.geteuid() != 0:
        sys.exit("vm-eval: needs root (run it in the guest: make vm-eval)")
    if not os.path.exists(DAMON) and "b2" in args.configs:
        sys.exit("vm-eval: no %s: this kernel lacks CONFIG_DAMON_SYSFS" % DAMON)
    if args.damon_probe and not os.path.exists(DAMON):
        sys.exit("vm-eval: --damon-probe needs %s (CONFIG_DAMON_SYSFS)" % DAMON)
    if args.damon_probe and "b2" in args.configs:
        # sysfs cannot add a kdamond beside running ones: the probe would
        # fail at b2's first run, or b2 at the probe's
        sys.exit("vm-eval: --damon-probe cannot run in a batch with b2 (one set of kdamonds); "
                 "run b2 in a batch of its own")
    if args.damon_probe and not args.access:
        sys.exit("vm-eval: --damon-probe needs the access counts (--access; make vm-eval "
                 "passes it unless VM_EVAL_ACCESS=0)")
    args.trace = os.path.join(ROOT, args.build, "mtp-trace")
    args.pydir = os.path.join(ROOT, subprocess.run(
        ["make", "-s", "-C", ROOT, "pyext-dir", "PYTHON=" + args.python, "BUILD=" + args.build],
        capture_output=True, text=True, check=True).stdout.strip())
    softdirty.check()
    workload_cgroup()
    numa = Numa()
    out = {"kernel": platform.release(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
           "args": {k: v for k, v in vars(args).items()}, "configs": CONFIGS,
           # memory_tierN -> its nodes; a lower N is a faster tier
           "tiers": {"%04d" % int(t[len("memory_tier"):]): read(os.path.join(
               "/sys/devices/virtual/memory_tiering", t, "nodelist"))
               for t in os.listdir("/sys/devices/virtual/memory_tiering")
               if t.startswith("memory_tier")},
           "node_total": {n: node_meminfo(n)["MemTotal"] for n in (FAST, SLOW)},
           "calibration": {}, "runs": []}

    def save():
        tmp = args.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(out, f, indent=1)
        os.replace(tmp, args.out)

    total = len(args.workloads) * (1 + args.repeats * len(args.shares) * len(args.configs))
    done = 0
    t_start = time.monotonic()
    for name in args.workloads:
        try:
            cal = calibrate(args, numa, name)
        except Exception as e:
            cal = {"exit": None, "error": repr(e), "footprint": 0}
        done += 1
        fp = cal["footprint"]
        out["calibration"][name] = {k: cal.get(k) for k in ("footprint", "exit", "done",
                                                            "fast_share", "error")}
        log("[%d/%d] %s: footprint %.1f MiB (%s)" % (done, total, name, fp / MIB,
                                                   cal.get("error") or "ok"))
        save()
        if cal.get("exit") != 0:
            continue
        cells = [(rep, share, config) for rep in range(args.repeats) for share in args.shares
                 for config in args.configs]  # each cell once, then again: interleaved
        for rep, share, config in cells:
            try:
                r = run_one(args, numa, name, config, share, fp)
            except Exception as e:  # one broken run must not end hours of them
                log("%s %s %s: %r" % (name, share, config, e))
                r = {"workload": name, "config": config, "share": share, "samples": [],
                     "error": repr(e), "moves": {"promoted_bytes": 0, "demoted_bytes": 0,
                                                 "pingpongs": 0}}
                summarize(r, args)
            r["footprint"] = fp
            r["repeat"] = rep
            out["runs"].append(r)
            done += 1
            el = time.monotonic() - t_start
            log("[%d/%d] %s %3d%% %-2s fast share %s, moved %.1f MiB up %.1f MiB down, "
                "%d ping-pongs%s; %.0f min left" % (
                    done, total, name, share * 100, config,
                    "%.3f" % r["fast_share"] if r["fast_share"] is not None else "-",
                    r["moves"]["promoted_bytes"] / MIB, r["moves"]["demoted_bytes"] / MIB,
                    r["moves"]["pingpongs"], "; " + r["error"] if r.get("error") else "",
                    el / done * (total - done) / 60))
            save()
    out["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    save()
    bad = [r for r in out["runs"] if r.get("error")]
    return 1 if bad or not out["runs"] else 0


if __name__ == "__main__":
    sys.exit(main())
