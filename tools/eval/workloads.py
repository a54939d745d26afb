"""Evaluation workloads for mtp, each with a known hot set and cold set.

Run by tools/eval/run.py, one process per workload, with `import mtp` on the
path:

  python3 workloads.py KIND VARIANT --seconds S --ctl DIR [--seed N]

KIND and VARIANT:
  uniform  read|store  Rec objects in runs; the hot runs are accessed uniformly
  zipf     read|store  the same objects, accessed with Zipf(1.2) popularity
  phase    read|store  uniform over hot set A, then over a disjoint set B
  small    store       1.5 M small objects, 10% of them (in runs) hot
  buffers  read|write  bytearray, array.array and numpy buffers, a few hot
  graph    mixed       networkx shortest paths and weight updates over a
                       graph (hot) while an unrelated list of records idles

`read` variants only read their hot objects (acc += o.x, len(o.vals),
o.vals[i]): no reference to a hot object is stored anywhere, so reference
counts at collections do not move.  `store` variants store references to hot
objects in a holder list that is replaced when full.  Every variant makes the
same background garbage (short-lived lists) so the collector runs, which is
when mtp observes.

Ground truth: the workload writes DIR/truth.json as soon as its objects exist
and again after a phase change ("t": the time.time() of the change).  Each
phase lists the 4 KiB page numbers (address >> 12) that hot and cold objects
occupy: every object's allocation from its GC pre-header on (sys.getsizeof()
- __sizeof__()), a list's item array (ctypes, PyListObject's public layout),
a dict's keys table (ctypes, PyDictObject's layout, checked at start), a
buffer's data (buffer_info(), numpy .ctypes.data, ctypes.from_buffer).

Protocol with the harness (files in DIR): the workload writes truth.json and
then `ready`, waits for `start`, runs for --seconds, writes `done` (JSON: run
times, mtp.stats(), its own counters), then waits for `exit`.
"""
import argparse
import array
import ctypes
import gc
import json
import os
import random
import sys
import time

PAGE_SHIFT = 12
PTR = ctypes.sizeof(ctypes.c_void_p)
SSIZE = ctypes.sizeof(ctypes.c_ssize_t)

# ------------------------------------------------------------------ layout


def preheader(obj):
    """Bytes allocated in front of id(obj): the GC link, 3.11+'s managed dict."""
    try:
        return sys.getsizeof(obj) - obj.__sizeof__()
    except TypeError:
        return 0


def list_items(lst):
    """(address, bytes) of a list's out-of-line item array (ob_item, allocated)."""
    base = id(lst) + SSIZE + PTR + SSIZE  # ob_refcnt, ob_type, ob_size
    items = ctypes.c_void_p.from_address(base).value or 0
    allocated = ctypes.c_ssize_t.from_address(base + PTR).value
    return items, allocated * PTR


# PyDictObject: ob_refcnt, ob_type, ma_used, ma_version_tag, ma_keys, ma_values
# (the same in 3.9-3.13).  check_dict_layout() verifies it on this interpreter.
_DICT_USED = SSIZE + PTR
_DICT_KEYS = _DICT_USED + SSIZE + 8
_DICT_VALUES = _DICT_KEYS + PTR


def check_dict_layout():
    d = {i: i for i in range(37)}
    used = ctypes.c_ssize_t.from_address(id(d) + _DICT_USED).value
    if used != 37:
        sys.exit("workloads.py: PyDictObject layout not understood on this Python "
                 "(ma_used read %d, expected 37)" % used)


def dict_tables(d):
    """Ranges of a dict's out-of-line storage owned by it alone."""
    out = []
    extra = d.__sizeof__() - type(d).__basicsize__  # keys (and values) it owns
    values = ctypes.c_void_p.from_address(id(d) + _DICT_VALUES).value
    keys = ctypes.c_void_p.from_address(id(d) + _DICT_KEYS).value
    if extra > 0 and keys and not values:
        out.append((keys, extra))
    return out


def ranges_of(obj):
    """Where obj's memory lies, as (address, bytes, part): its allocation, and
    the storage it owns (a list's item array, a dict's keys table)."""
    pre = preheader(obj)
    if isinstance(obj, list):
        rs = [(id(obj) - pre, pre + list.__basicsize__, "objects")]
        items, size = list_items(obj)
        if items and size:
            rs.append((items, size, "list items"))
        return rs
    if isinstance(obj, dict):
        return [(id(obj) - pre, pre + dict.__basicsize__, "objects")] + [
            (a, n, "dict tables") for a, n in dict_tables(obj)]
    return [(id(obj) - pre, pre + obj.__sizeof__(), "objects")]


class Pages:
    """A page set with object and byte counts, and the pages of each part
    (objects, list items, dict tables, buffer data) for a per-part recall."""

    def __init__(self):
        self.pages = set()
        self.parts = {}
        self.objects = 0
        self.bytes = 0

    def add_range(self, addr, size, part="objects"):
        if size <= 0:
            return
        self.bytes += size
        first, last = addr >> PAGE_SHIFT, (addr + size - 1) >> PAGE_SHIFT
        pages = self.parts.setdefault(part, set())
        if first == last:
            self.pages.add(first)
            pages.add(first)
        else:
            self.pages.update(range(first, last + 1))
            pages.update(range(first, last + 1))

    def add(self, obj):
        self.objects += 1
        for a, s, part in ranges_of(obj):
            self.add_range(a, s, part)

    def add_header(self, obj):
        """Only the object's own allocation (a buffer's __sizeof__ counts its data)."""
        self.objects += 1
        pre = preheader(obj)
        self.add_range(id(obj) - pre, pre + type(obj).__basicsize__)

    def as_json(self, name):
        return {name + "_pages": sorted(self.pages), name + "_objects": self.objects,
                name + "_bytes": self.bytes,
                name + "_parts": {k: sorted(v) for k, v in self.parts.items()}}


class Truth:
    def __init__(self, ctl, kind, variant):
        self.path = os.path.join(ctl, "truth.json")
        self.doc = {"pid": os.getpid(), "kind": kind, "variant": variant,
                    "python": sys.version.split()[0], "page_shift": PAGE_SHIFT, "phases": []}

    def phase(self, name, hot, cold, **extra):
        ph = {"name": name, "t": time.time()}
        ph.update(hot.as_json("hot"))
        ph.update(cold.as_json("cold"))
        ph.update(extra)
        self.doc["phases"].append(ph)
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.doc, f)
        os.replace(tmp, self.path)


# ------------------------------------------------------------------ control


def touch(path, text=""):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def wait_file(path, timeout):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            sys.exit("workloads.py: no %s after %.0f s; is the harness alive?"
                     % (os.path.basename(path), timeout))
        time.sleep(0.02)


# ------------------------------------------------------------------ objects


class Rec:
    __slots__ = ("x", "vals")

    def __init__(self):
        self.x = 0
        self.vals = [0] * 8


class Small:
    __slots__ = ("v",)

    def __init__(self):
        self.v = 0


def make_runs(n, run, rng, fraction, exclude=()):
    """Indices of whole runs of `run` objects, `fraction` of n, avoiding `exclude`."""
    runs = [r for r in range(n // run) if r not in exclude]
    chosen = sorted(rng.sample(runs, max(1, int(n * fraction) // run)))
    return chosen


def run_members(runs, run):
    return [r * run + i for r in runs for i in range(run)]


def zipf_draws(n, s, count, rng):
    cum, total = [], 0.0
    for rank in range(1, n + 1):
        total += rank ** -s
        cum.append(total)
    return array.array("I", rng.choices(range(n), cum_weights=cum, k=count))


def uniform_draws(n, count, rng):
    return array.array("I", (rng.randrange(n) for _ in range(count)))


HOLD = 4096  # references a store variant keeps before replacing its holder
CHURN = 64  # one short-lived list per this many accesses, so collections run


def access_loop(objs, draws, variant, deadline):
    """Accesses objs[draws[...]] until deadline; returns (accesses, checksum)."""
    junk, holder = [], []
    acc = accesses = 0
    pos, n = 0, len(draws)
    step = 4096
    while time.monotonic() < deadline:
        chunk = draws[pos:pos + step]
        pos = (pos + step) % (n - step)
        if variant == "store":
            for i, k in enumerate(chunk):
                o = objs[k]
                holder.append(o)
                holder.append(o.vals)
                o.x += 1
                if i % CHURN == 0:
                    junk.append([k])
                    if len(junk) > 2000:
                        junk = []
                if len(holder) >= HOLD:
                    holder = []
        else:
            for i, k in enumerate(chunk):
                o = objs[k]
                acc += o.x + len(o.vals) + o.vals[k & 7]
                if i % CHURN == 0:
                    junk.append([k])
                    if len(junk) > 2000:
                        junk = []
        accesses += len(chunk)
    return accesses, acc


def small_loop(objs, draws, deadline):
    junk, holder = [], []
    accesses = 0
    pos, n, step = 0, len(draws), 4096
    while time.monotonic() < deadline:
        chunk = draws[pos:pos + step]
        pos = (pos + step) % (n - step)
        for i, k in enumerate(chunk):
            o = objs[k]
            holder.append(o)
            o.v += 1
            if i % CHURN == 0:
                junk.append([k])
                if len(junk) > 2000:
                    junk = []
            if len(holder) >= HOLD:
                holder = []
        accesses += len(chunk)
    return accesses, 0


# ------------------------------------------------------------------ workloads


def w_records(args, truth, rng):
    """uniform, zipf, phase: N Rec objects, hot set in runs of RUN."""
    n, run, frac = 100_000, 512, 0.2
    objs = [Rec() for _ in range(n)]
    runs_a = make_runs(n, run, rng, frac)
    a = run_members(runs_a, run)
    runs_b = make_runs(n, run, rng, frac, exclude=set(runs_a)) if args.kind == "phase" else []
    b = run_members(runs_b, run)

    def sets(members):
        hot, cold = Pages(), Pages()
        inside = set(members)
        for i, o in enumerate(objs):
            p = hot if i in inside else cold
            p.add(o)
            p.add(o.vals)
            p.objects -= 1  # count a Rec and its list as one object
        return hot, cold

    hot_objs = [objs[i] for i in a]
    if args.kind == "zipf":
        # Popularity falls off with rank; ranks follow allocation order within
        # a run and the runs are shuffled, so popular objects cluster as
        # related objects allocated together do.
        order = list(range(len(runs_a)))
        rng.shuffle(order)
        ranked = [objs[runs_a[r] * run + i] for r in order for i in range(run)]
        hot_objs = ranked
        draws = zipf_draws(len(ranked), 1.2, 1 << 21, rng)
    else:
        draws = uniform_draws(len(hot_objs), 1 << 21, rng)
    hot, cold = sets(a)
    if b:
        hot_b, cold_b = sets(b)
    truth.phase("A" if b else "main", hot, cold)
    yield "ready"

    seconds = args.seconds
    if b:
        # Phase change at the middle: the hot set moves to B.
        first = seconds * args.phase_at
        t0 = time.monotonic()
        n1, c1 = access_loop(hot_objs, draws, args.variant, t0 + first)
        hot_objs = [objs[i] for i in b]
        truth.phase("B", hot_b, cold_b)
        n2, c2 = access_loop(hot_objs, draws, args.variant, t0 + seconds)
        yield {"accesses": n1 + n2, "checksum": c1 + c2}
    else:
        n, c = access_loop(hot_objs, draws, args.variant, time.monotonic() + seconds)
        yield {"accesses": n, "checksum": c}


def w_small(args, truth, rng):
    n, run, frac = args.small_objects, 1024, 0.1
    objs = [Small() for _ in range(n)]
    members = set(run_members(make_runs(n, run, rng, frac), run))
    hot, cold = Pages(), Pages()
    pre, size = preheader(objs[0]), Small.__basicsize__
    for i, o in enumerate(objs):
        (hot if i in members else cold).objects += 1
        p = hot if i in members else cold
        p.add_range(id(o) - pre, pre + size)  # as Pages.add, without its per-object cost
    hot_objs = [objs[i] for i in sorted(members)]
    draws = uniform_draws(len(hot_objs), 1 << 20, rng)
    truth.phase("main", hot, cold)
    yield "ready"
    n_acc, c = small_loop(hot_objs, draws, time.monotonic() + args.seconds)
    yield {"accesses": n_acc, "checksum": c}


def buffer_range(buf):
    """(address, bytes) of a buffer's data."""
    if isinstance(buf, array.array):
        addr, count = buf.buffer_info()
        return addr, count * buf.itemsize
    if isinstance(buf, bytearray):
        return ctypes.addressof((ctypes.c_char * len(buf)).from_buffer(buf)), len(buf)
    return buf.ctypes.data, buf.nbytes  # numpy


def w_buffers(args, truth, rng):
    try:
        import numpy as np
    except ImportError:
        np = None
    MiB = 1 << 20

    def make(kind):
        if kind == "bytearray":
            return bytearray(MiB)
        if kind == "array":
            return array.array("d", bytes(MiB))
        return np.zeros(2 * MiB // 8)  # 2 MiB: below numpy's 4 MiB hugepage advice

    kinds = ["bytearray", "array"] + (["numpy"] if np is not None else [])
    cold_bufs = [make(k) for k in kinds for _ in range(3)]
    hot_bufs = [make(k) for k in kinds]
    hot, cold = Pages(), Pages()
    for bufs, p in ((hot_bufs, hot), (cold_bufs, cold)):
        for b in bufs:
            p.add_header(b)  # the object itself
            p.add_range(*buffer_range(b), part="%s data" % type(b).__name__)
    truth.phase("main", hot, cold, numpy=np is not None)
    yield "ready"

    deadline = time.monotonic() + args.seconds
    junk, holder = [], []
    acc = rounds = 0
    write = args.variant == "write"
    while time.monotonic() < deadline:
        for b in hot_bufs:
            if write:
                holder.append(b)  # and a reference stored, as the store variants do
                if len(holder) >= HOLD:
                    holder = []
            if isinstance(b, bytearray):
                for off in range(0, len(b), 4096):
                    if write:
                        b[off] = (b[off] + 1) & 255
                    else:
                        acc += b[off]
                    if off % (CHURN * 4096) == 0:
                        junk.append([off])
            elif isinstance(b, array.array):
                for i in range(0, len(b), 512):
                    if write:
                        b[i] += 1.0
                    else:
                        acc += b[i]
                    if i % (CHURN * 512) == 0:
                        junk.append([i])
            else:
                if write:
                    b[::512] += 1.0
                else:
                    acc += float(b[::512].sum())
                junk.append([rounds])
            if len(junk) > 2000:
                junk = []
        rounds += 1
    yield {"accesses": rounds * len(hot_bufs), "checksum": int(acc)}


def w_graph(args, truth, rng):
    try:
        import networkx as nx
    except ImportError:
        sys.exit("workloads.py: graph needs networkx: apt-get install python3-networkx")
    # The unrelated cold structure first, so the two sit on different pages:
    # records as a JSON cache would hold them.
    cold_recs = [{"id": i, "name": "item%d" % i, "tags": [i, i + 1, i + 2]}
                 for i in range(40_000)]
    g = nx.gnm_random_graph(5000, 25_000, seed=args.seed)
    for u, v, d in g.edges(data=True):
        d["w"] = 1.0 + rng.random()
    for u, d in g.nodes(data=True):
        d["seen"] = 0
    hot, cold = Pages(), Pages()
    for r in cold_recs:
        cold.add(r)
        cold.add(r["tags"])
        cold.objects -= 1
    hot.add(g)
    hot.add(g.__dict__)
    for dd in (g._adj, g._node, g.graph):
        hot.add(dd)
    for u, nbrs in g._adj.items():
        hot.add(nbrs)
        hot.add(g._node[u])
    for u, v, d in g.edges(data=True):
        hot.add(d)
    truth.phase("main", hot, cold, nodes=g.number_of_nodes(), edges=g.number_of_edges())
    yield "ready"

    deadline = time.monotonic() + args.seconds
    nodes = list(g.nodes)
    recent = []
    ops = 0
    acc = 0.0
    while time.monotonic() < deadline:
        src, dst = rng.choice(nodes), rng.choice(nodes)
        dist = nx.single_source_dijkstra_path_length(g, src, weight="w")
        acc += sum(dist.values()) / max(1, len(dist))
        try:
            path = nx.shortest_path(g, src, dst)
        except nx.NetworkXNoPath:
            path = [src]
        for u, v in zip(path, path[1:]):
            g[u][v]["w"] = 1.0 + (g[u][v]["w"] * 0.9) % 1.0
        for u in path:
            g.nodes[u]["seen"] += 1
        recent.append((src, dst, path))
        if len(recent) > 50:
            recent = recent[-25:]
        ops += 1
    yield {"accesses": ops, "checksum": int(acc)}


WORKLOADS = {
    "uniform": (w_records, ("read", "store")),
    "zipf": (w_records, ("read", "store")),
    "phase": (w_records, ("read", "store")),
    "small": (w_small, ("store",)),
    "buffers": (w_buffers, ("read", "write")),
    "graph": (w_graph, ("mixed",)),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("kind", choices=sorted(WORKLOADS))
    ap.add_argument("variant")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--ctl", required=True, help="directory for truth.json and control files")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--phase-at", type=float, default=0.35,
                    help="phase: fraction of --seconds before the hot set moves")
    ap.add_argument("--small-objects", type=int, default=1_500_000)
    ap.add_argument("--no-mtp", action="store_true", help="do not import mtp")
    args = ap.parse_args()
    fn, variants = WORKLOADS[args.kind]
    if args.variant not in variants:
        ap.error("%s has variants %s" % (args.kind, ", ".join(variants)))
    mtp = None
    if not args.no_mtp:
        import mtp
    check_dict_layout()
    rng = random.Random(args.seed)
    truth = Truth(args.ctl, args.kind, args.variant)

    steps = fn(args, truth, rng)
    next(steps)  # objects built, truth written
    touch(os.path.join(args.ctl, "ready"))
    wait_file(os.path.join(args.ctl, "start"), 120)
    tracing = bool(mtp and mtp.tracing())
    t_start, c_start = time.time(), time.process_time()
    result = next(steps)
    t_end, c_end = time.time(), time.process_time()
    if mtp:
        # Hold the map still for the harness's final bpftool check: the loop
        # is over, but mtp's timer would keep stepping while it waits.
        mtp.set_budget(0.2, timer_share=0)
    try:
        stats, stats_error = (dict(mtp.stats()) if mtp else {}), None
    except Exception as e:  # report it; the harness says what broke
        stats, stats_error = {}, "mtp.stats() raised %s: %s" % (type(e).__name__, e)
    done = {"t_start": t_start, "t_end": t_end, "cpu_s": c_end - c_start,
            "tracing_at_start": tracing, "stats": stats, "stats_error": stats_error,
            "gc_counts": gc.get_count(), "gc_stats": gc.get_stats()}
    done.update(result)
    touch(os.path.join(args.ctl, "done"), json.dumps(done))
    wait_file(os.path.join(args.ctl, "exit"), 120)
    return 0


if __name__ == "__main__":
    sys.exit(main())
