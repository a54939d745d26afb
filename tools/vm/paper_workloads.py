#!/usr/bin/python3
"""The workloads of the MTP paper's evaluation, for the two-node guest.

*Memory Tiering in Python Virtual Machine* (VMIL 2025) evaluates networkx A*,
Bellman-Ford, BFS, bidirectional search, k-core and shortest paths, and
SQLAlchemy ORM inserts on SQLite.  This file runs one of them the way a
long-running service would: it keeps yesterday's data (the *archive*, cold)
and works on today's (the *hot* part).  The harness (tools/vm/vm_eval.py)
measures which of the process's recently written pages sit on the fast node.

  /usr/bin/python3 tools/vm/paper_workloads.py NAME [--scale F] [--duration SEC] [--seed N]
  /usr/bin/python3 tools/vm/paper_workloads.py --list

NAME: astar, bellman_ford, bfs, bidirectional, kcore, shortest_paths, sqlalchemy.

Protocol (stdout; everything else goes to stderr):
  1. `import mtp` (built extension on PYTHONPATH; exit 1 if it is missing,
     unless MTP_WORKLOAD_NO_MTP=1), then networkx / sqlalchemy and setup.
  2. `ready <pid>`, then one line (or EOF) is read from stdin.
  3. Build: the cold part FIRST, then the hot part (allocation order matters
     for placement: the archive gets the older, lower arenas).
  4. `phase run`, then the algorithm repeats on the hot part for --duration
     seconds of wall time.  Recent results go to a bounded cache, so the run
     phase allocates and frees too.
  5. The archive is touched once, lightly (its size is counted), and
     `done {json}` is printed: name, scale, seed, iterations, build_s, run_s,
     iteration times, rss_anon_kb (RssAnon at the end), vm_hwm_kb, the RssAnon
     before/after the archive's build (archive_kb, archive_share) and
     mtp_stats (mtp.stats(), or null).  Exit 0.
Deterministic given --seed (default 1), except for how many iterations fit.

Graphs (networkx): a jittered grid, side = 150*sqrt(scale) (22,500 nodes at
scale 1), each node linked to its right and lower neighbours, to the diagonal
one with probability 0.3 and to a random node within 3 cells with
probability 0.1 (about 2.4 edges per node).  Nodes carry 'pos' (x, y), edges
an integer 'weight' = ceil(100 * distance * U(1, 1.5)), so 100 * Euclidean
distance is an admissible A* heuristic.  The archive is the two previous
daily snapshots: the same generator with seeds seed+1000 and seed+2000.
Run phase, one iteration:
  astar           nx.astar_path between 8 random pairs at most side/3 apart
  bidirectional   nx.bidirectional_dijkstra between 4 random pairs at most side/3 apart
  shortest_paths  nx.single_source_dijkstra_path_length from 8 random sources,
                  cutoff = 100 * side/5 (each a disc of about 8% of the graph)
  bellman_ford    nx.single_source_bellman_ford_path_length from a random source
                  within a random square region of (2*side/5)^2 nodes (subgraph view)
  bfs             nx.bfs_edges from a random source over the whole graph
                  (the BFS tree is kept as a predecessor dict)
  kcore           nx.core_number of the whole graph
SQLAlchemy: an `events` table (integer key, user_id with an index, kind, ts,
amount, payload text of 200-1000 characters) in SQLite in memory
("sqlite://", one connection).  The archive is 22,000*scale rows inserted
through the ORM in batches of 500 (one Session per batch, expire_on_commit
off), whose objects are kept in a list as an application cache would; their
rows stay in the database.  The hot part is the insert stream: a window of
the 8,000*scale newest rows, in the database (older stream rows are deleted,
so SQLite reuses their pages) and as objects in a bounded deque.  The build
fills that window once.  One iteration = 400 ORM inserts (add_all + commit)
plus the retention DELETE.

Measured (2-core host running other jobs; guest = tools/vm/vm.sh TCG, 2 vCPUs,
MTP_WORKLOAD_NO_MTP=1, --scale 1 --duration 20).  RssAnon at the end;
archive = RssAnon after minus before the archive's build, share = of the end's
RssAnon; iter = median seconds per iteration:
  workload        | host: build_s iters iter  RssAnon MiB archive share | guest: build_s iters iter   RssAnon MiB archive share
  astar           |       0.46    562  0.032  102.9  55.2 0.54        |        7.6     35  0.56   102.5  55.2  0.54
  bellman_ford    |       0.53    423  0.043  107.1  55.2 0.52        |       10.4     20  1.12   107.3  55.2  0.52
  bfs             |       0.41    545  0.034  109.4  55.2 0.51        |       10.2     32  0.59   108.5  55.2  0.51
  bidirectional   |       0.56    637  0.027  105.6  55.2 0.52        |        5.2     52  0.36   104.7  55.2  0.53
  kcore           |       0.54    235  0.079  107.8  55.2 0.51        |        6.5     16  1.26   109.0  55.2  0.51
  shortest_paths  |       0.46    700  0.028  106.0  55.2 0.52        |        9.8     40  0.47   106.6  55.2  0.52
  sqlalchemy      |       1.56    679  0.024  113.6  61.8 0.54        |       17.4     76  0.24   114.1  61.5  0.54
Guest iteration ranges (min-max s): astar 0.23-1.03, bellman_ford 0.42-2.20,
bfs 0.35-0.96, bidirectional 0.09-1.44, kcore 0.84-1.72, shortest_paths
0.26-1.02, sqlalchemy 0.17-0.89.  Guest VmHWM 111-126 MiB; the interpreter
with networkx imported is ~18 MiB of RssAnon before the build.  The host was
loaded (load average ~3), so the guest was only 10-20x slower here; with a
quiet host expect the guest's relative slowdown to be larger, not its times.
SQLAlchemy's RssAnon stays flat in the run phase (retention deletes; SQLite
reuses the freed pages): on the host 112.1 MiB after the build, 113.6 MiB
after 272k more rows were inserted (and as many deleted).
Note: full (gen 2) collections walk every tracked object, archive included,
and so write its pages too; that is CPython's, not this file's doing.
"""
import argparse
import collections
import json
import math
import os
import random
import sys
import time

NAMES = ("astar", "bellman_ford", "bfs", "bidirectional", "kcore", "shortest_paths",
         "sqlalchemy")
GRAPH_SIDE = 150            # grid side at scale 1.0 (nodes = side^2)
ARCHIVE_SNAPSHOTS = 2       # older snapshots kept as the archive
CACHE_ITEMS = 60_000        # bound of the recent-results cache (entries, at scale 1)
SQL_ARCHIVE_ROWS = 22_000   # earlier rows (cold), at scale 1
SQL_WINDOW_ROWS = 8_000     # the insert stream's retained window (hot), at scale 1
SQL_BUILD_BATCH = 500
SQL_RUN_BATCH = 400


def log(*a):
    print("paper_workloads:", *a, file=sys.stderr, flush=True)


def proto(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def status_kb(field):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class RecentResults:
    """A bounded cache of recent results, bounded by their total entry count."""

    def __init__(self, max_items):
        self.max_items = max(1, int(max_items))
        self.items = collections.deque()
        self.total = 0
        self.stored = 0

    def put(self, key, value, size):
        self.items.append((key, value, size))
        self.total += size
        self.stored += 1
        while self.total > self.max_items and len(self.items) > 1:
            self.total -= self.items.popleft()[2]


# ------------------------------------------------------------------ graphs


def make_graph(nx, side, seed):
    """A connected jittered grid with short shortcuts, 'pos' and integer 'weight'.

    Edges come from a generator so no temporary list outlives the build (its
    freed memory would otherwise be reused by whatever is built next)."""
    rng = random.Random(seed)
    n = side * side
    g = nx.Graph()
    g.add_nodes_from((i, {"pos": (i // side + rng.uniform(-0.3, 0.3),
                                  i % side + rng.uniform(-0.3, 0.3))}) for i in range(n))
    node = g._node

    def weight(i, j):
        (ax, ay), (bx, by) = node[i]["pos"], node[j]["pos"]
        return int(math.ceil(100.0 * math.hypot(ax - bx, ay - by) * rng.uniform(1.0, 1.5)))

    def edges():
        for i in range(n):
            x, y = divmod(i, side)
            if x + 1 < side:
                yield i, i + side, {"weight": weight(i, i + side)}
            if y + 1 < side:
                yield i, i + 1, {"weight": weight(i, i + 1)}
            if x + 1 < side and y + 1 < side and rng.random() < 0.3:
                yield i, i + side + 1, {"weight": weight(i, i + side + 1)}
            if rng.random() < 0.1:
                j = (min(side - 1, max(0, x + rng.randint(-3, 3))) * side
                     + min(side - 1, max(0, y + rng.randint(-3, 3))))
                if j != i and j not in g._adj[i]:
                    yield i, j, {"weight": weight(i, j)}

    g.add_edges_from(edges())
    return g


class GraphWorkload:
    def __init__(self, name, args, nx):
        self.name, self.nx = name, nx
        self.side = max(10, int(round(GRAPH_SIDE * math.sqrt(args.scale))))
        self.seed = args.seed
        self.rng = random.Random(args.seed * 7919 + NAMES.index(name))
        self.cache = RecentResults(CACHE_ITEMS * args.scale)
        self.archive = []
        self.g = None

    def build_archive(self):
        for k in range(ARCHIVE_SNAPSHOTS):
            self.archive.append(make_graph(self.nx, self.side, self.seed + 1000 * (k + 1)))

    def build_hot(self):
        self.g = make_graph(self.nx, self.side, self.seed)

    def touch_archive(self):
        return {"archive_nodes": sum(a.number_of_nodes() for a in self.archive)}

    def info(self):
        return {"side": self.side, "nodes": self.g.number_of_nodes(),
                "edges": self.g.number_of_edges(), "archive_snapshots": len(self.archive),
                "cache_items": self.cache.total, "results_stored": self.cache.stored}

    # --- helpers
    def node_at(self, x, y):
        s = self.side
        return min(s - 1, max(0, x)) * s + min(s - 1, max(0, y))

    def random_pair(self, radius):
        s, r = self.side, self.rng
        x, y = r.randrange(s), r.randrange(s)
        u = self.node_at(x, y)
        v = self.node_at(x + r.randint(-radius, radius), y + r.randint(-radius, radius))
        if v == u:
            v = self.node_at(x + 1, y) if x + 1 < s else self.node_at(x - 1, y)
        return u, v

    # --- one iteration each
    def iterate(self):
        getattr(self, "it_" + self.name)()

    def it_astar(self):
        nx, g = self.nx, self.g
        node = g.nodes

        def h(u, v):
            (ax, ay), (bx, by) = node[u]["pos"], node[v]["pos"]
            return 100.0 * math.hypot(ax - bx, ay - by)

        for _ in range(8):
            u, v = self.random_pair(self.side // 3)
            path = nx.astar_path(g, u, v, heuristic=h, weight="weight")
            self.cache.put((u, v), path, len(path))

    def it_bidirectional(self):
        for _ in range(4):
            u, v = self.random_pair(self.side // 3)
            length, path = self.nx.bidirectional_dijkstra(self.g, u, v, weight="weight")
            self.cache.put((u, v), (length, path), len(path))

    def it_shortest_paths(self):
        for _ in range(8):
            u = self.rng.randrange(self.g.number_of_nodes())
            d = self.nx.single_source_dijkstra_path_length(self.g, u, cutoff=100 * self.side // 5,
                                                           weight="weight")
            self.cache.put(u, d, len(d))

    def it_bellman_ford(self):
        s, r = self.side, self.rng
        w = max(2, (2 * s) // 5)
        x0, y0 = r.randrange(s - w + 1), r.randrange(s - w + 1)
        region = [x * s + y for x in range(x0, x0 + w) for y in range(y0, y0 + w)]
        sub = self.g.subgraph(region)
        u = region[r.randrange(len(region))]
        d = self.nx.single_source_bellman_ford_path_length(sub, u, weight="weight")
        self.cache.put(u, d, len(d))

    def it_bfs(self):
        u = self.rng.randrange(self.g.number_of_nodes())
        pred = {v: p for p, v in self.nx.bfs_edges(self.g, u)}
        self.cache.put(u, pred, len(pred))

    def it_kcore(self):
        core = self.nx.core_number(self.g)
        self.cache.put(max(core.values()), core, len(core))


# ------------------------------------------------------------------ sqlalchemy


PAYLOAD_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789 " * 4
KINDS = ("view", "click", "search", "cart", "buy", "login", "logout", "rate")


class SqlWorkload:
    def __init__(self, args, sa, orm):
        self.sa, self.orm = sa, orm
        self.rng = random.Random(args.seed * 7919 + NAMES.index("sqlalchemy"))
        # Random text to slice payloads from: setup, not the workload's memory
        # (each payload is a new string, a slice of it).
        self.text = "".join(self.rng.choice(PAYLOAD_ALPHABET) for _ in range(1 << 16))
        self.archive_rows = max(SQL_BUILD_BATCH, int(SQL_ARCHIVE_ROWS * args.scale))
        self.window = max(SQL_RUN_BATCH, int(SQL_WINDOW_ROWS * args.scale))
        Base = orm.declarative_base()

        class Event(Base):
            __tablename__ = "events"
            id = sa.Column(sa.Integer, primary_key=True)
            user_id = sa.Column(sa.Integer, nullable=False, index=True)
            kind = sa.Column(sa.String(16), nullable=False)
            ts = sa.Column(sa.Float, nullable=False)
            amount = sa.Column(sa.Integer, nullable=False)
            payload = sa.Column(sa.String, nullable=False)

        self.Event = Event
        self.engine = sa.create_engine("sqlite://")
        Base.metadata.create_all(self.engine)
        self.archive = []
        self.recent = collections.deque(maxlen=self.window)
        self.next_id = 1
        self.archive_max_id = 0
        self.ts = 1.7e9
        self.deleted = 0

    def make_rows(self, n):
        r, text, Ev = self.rng, self.text, self.Event
        rows = []
        for _ in range(n):
            ln = r.randint(200, 1000)
            off = r.randrange(len(text) - ln)
            self.ts += r.random()
            rows.append(Ev(id=self.next_id, user_id=r.randrange(100_000), kind=r.choice(KINDS),
                           ts=self.ts, amount=r.randrange(1_000_000),
                           payload=text[off:off + ln]))
            self.next_id += 1
        return rows

    def insert(self, n):
        rows = self.make_rows(n)
        with self.orm.Session(self.engine, expire_on_commit=False) as s:
            s.add_all(rows)
            s.commit()
        return rows

    def build_archive(self):
        left = self.archive_rows
        while left > 0:
            self.archive.extend(self.insert(min(SQL_BUILD_BATCH, left)))
            left -= SQL_BUILD_BATCH
        self.archive_max_id = self.next_id - 1

    def build_hot(self):
        left = self.window
        while left > 0:
            self.recent.extend(self.insert(min(SQL_BUILD_BATCH, left)))
            left -= SQL_BUILD_BATCH

    def iterate(self):
        self.recent.extend(self.insert(SQL_RUN_BATCH))
        # Retention: the stream keeps its newest `window` rows in the database.
        cut = self.next_id - 1 - self.window
        if cut > self.archive_max_id:
            E = self.Event
            with self.orm.Session(self.engine) as s:
                res = s.execute(self.sa.delete(E).where(E.id > self.archive_max_id, E.id <= cut)
                                .execution_options(synchronize_session=False))
                s.commit()
                self.deleted += res.rowcount or 0

    def touch_archive(self):
        return {"archive_rows": len(self.archive),
                "archive_last_id": self.archive[-1].id if self.archive else None}

    def info(self):
        return {"archive_rows_target": self.archive_rows, "window_rows": self.window,
                "rows_inserted": self.next_id - 1, "rows_deleted": self.deleted,
                "recent_objects": len(self.recent)}


# ------------------------------------------------------------------ main


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="paper_workloads.py",
        description="MTP paper workloads (networkx, SQLAlchemy) for the tiering guest.")
    p.add_argument("name", nargs="?", metavar="NAME",
                   help="one of: " + ", ".join(NAMES))
    p.add_argument("--list", action="store_true", help="print the workload names and exit")
    p.add_argument("--scale", type=float, default=1.0, help="memory scale (default 1.0)")
    p.add_argument("--duration", type=float, default=60.0,
                   help="run phase wall time in seconds (default 60)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    a = p.parse_args(argv)
    if a.list:
        return a
    if a.name is None:
        p.error("NAME is required (one of: %s)" % ", ".join(NAMES))
    if a.name not in NAMES:
        p.error("unknown workload %r (choose from: %s)" % (a.name, ", ".join(NAMES)))
    if not a.scale > 0:
        p.error("--scale must be > 0")
    if not a.duration >= 0:
        p.error("--duration must be >= 0")
    return a


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    if a.list:
        for n in NAMES:
            proto(n)
        return 0

    mtp = None
    if os.environ.get("MTP_WORKLOAD_NO_MTP") != "1":
        try:
            import mtp  # noqa: F401  (must come first: the harness traces this process)
        except ImportError as e:
            print("paper_workloads: cannot import mtp (%s); put the built extension on "
                  "PYTHONPATH (make -s pyext-dir PYTHON=%s) or set MTP_WORKLOAD_NO_MTP=1"
                  % (e, sys.executable), file=sys.stderr, flush=True)
            return 1

    t_setup = time.monotonic()
    if a.name == "sqlalchemy":
        try:
            import sqlalchemy as sa
            import sqlalchemy.orm as orm
        except ImportError as e:
            print("paper_workloads: sqlalchemy missing (%s): apt-get install python3-sqlalchemy"
                  % e, file=sys.stderr, flush=True)
            return 1
        w = SqlWorkload(a, sa, orm)
    else:
        try:
            import networkx as nx
        except ImportError as e:
            print("paper_workloads: networkx missing (%s): apt-get install python3-networkx"
                  % e, file=sys.stderr, flush=True)
            return 1
        w = GraphWorkload(a.name, a, nx)
    setup_s = time.monotonic() - t_setup

    proto("ready %d" % os.getpid())
    sys.stdin.readline()  # the harness configures tiering meanwhile; EOF = go

    rss0 = status_kb("RssAnon")
    t0 = time.monotonic()
    w.build_archive()
    t1 = time.monotonic()
    rss1 = status_kb("RssAnon")
    w.build_hot()
    t2 = time.monotonic()
    rss2 = status_kb("RssAnon")
    log("%s: built archive in %.2fs (+%s kB), hot part in %.2fs (+%s kB)"
        % (a.name, t1 - t0, rss1 - rss0 if rss0 else "?", t2 - t1,
           rss2 - rss1 if rss1 else "?"))

    proto("phase run")
    iters = []
    t_run = time.monotonic()
    end = t_run + a.duration
    while True:
        ti = time.monotonic()
        if ti >= end:
            break
        w.iterate()
        iters.append(time.monotonic() - ti)
    run_s = time.monotonic() - t_run

    touched = w.touch_archive()
    rss_end = status_kb("RssAnon")
    st = None
    if mtp is not None:
        try:
            st = {k: v for k, v in mtp.stats().items()
                  if isinstance(v, (bool, int, float, str)) or v is None}
        except Exception as e:  # the report must still come out
            log("mtp.stats() failed: %r" % e)
    s_it = sorted(iters)
    archive_kb = (rss1 - rss0) if rss0 is not None and rss1 is not None else None
    done = {
        "name": a.name, "scale": a.scale, "seed": a.seed, "duration": a.duration,
        "iterations": len(iters),
        "setup_s": round(setup_s, 3),
        "build_s": round(t2 - t0, 3), "archive_build_s": round(t1 - t0, 3),
        "hot_build_s": round(t2 - t1, 3), "run_s": round(run_s, 3),
        "iter_s_min": round(s_it[0], 4) if s_it else None,
        "iter_s_median": round(s_it[len(s_it) // 2], 4) if s_it else None,
        "iter_s_max": round(s_it[-1], 4) if s_it else None,
        "rss_anon_kb": rss_end, "vm_hwm_kb": status_kb("VmHWM"), "vm_rss_kb": status_kb("VmRSS"),
        "rss_anon_kb_before_archive": rss0, "rss_anon_kb_after_archive": rss1,
        "rss_anon_kb_after_build": rss2, "archive_kb": archive_kb,
        "archive_share": round(archive_kb / rss_end, 3) if archive_kb and rss_end else None,
        "mtp_stats": st,
    }
    done.update(w.info())
    done.update(touched)
    proto("done " + json.dumps(done, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
