"""A Python workload with a known hot set and a known cold set.

Used by the demo and the integration tests.  It allocates the cold objects
first and the hot ones after, so the two sets sit on different pages, then
keeps touching only the hot set: it stores and drops references to hot
objects and updates their items, which moves their reference counts between
collections.  The cold set is never touched after it is built.

--layout FILE writes the address ranges of both sets (ground truth) as JSON.
The program prints a checksum of its own computation and exits with
--exit-code, so a test can check that tracing changed neither.
"""
import argparse
import ctypes
import json
import mmap
import os
import random
import sys
import time


class Record:
    __slots__ = ("key", "values", "score")

    def __init__(self, key):
        self.key = key
        self.values = [key + i for i in range(8)]
        self.score = 0


# The two sets differ only in their class's name, so that a per-type report
# (mtp-trace's "types") can be checked against them; the layout is Record's.
class HotRecord(Record):
    __slots__ = ()


class ColdRecord(Record):
    __slots__ = ()


def list_items(lst):
    """Address and size of a list's out-of-line item array.

    Read with ctypes from PyListObject's public layout (ob_item follows the
    var-object header, then allocated), independently of mtp's own code.
    """
    header = ctypes.sizeof(ctypes.c_ssize_t) + 2 * ctypes.sizeof(ctypes.c_void_p)
    items = ctypes.c_void_p.from_address(id(lst) + header).value or 0
    allocated = ctypes.c_ssize_t.from_address(id(lst) + header + ctypes.sizeof(ctypes.c_void_p))
    return items, allocated.value * ctypes.sizeof(ctypes.c_void_p)


class Births:
    """New pages, as a program's allocations make them: every `every` seconds
    a fresh anonymous mapping of `size` bytes, each page written, and the
    one from `lifetime` seconds before unmapped.  Where the kernel placed
    each new mapping's pages, asked right after the writes (move_pages(2)
    with no target), goes to `log` as one JSON line: {"t", "pages", "on": {node: n}}."""

    SYS_MOVE_PAGES = 279  # x86_64

    def __init__(self, mib, log, every=0.5, lifetime=2.0):
        self.size = int(mib * (1 << 20)) // 4096 * 4096
        self.every, self.lifetime, self.log = every, lifetime, log
        self.live = []
        self.next = time.monotonic()
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.libc.syscall.restype = ctypes.c_long
        self.out = open(log, "a", buffering=1) if log else None

    def where(self, m):
        n = self.size // 4096
        base = ctypes.addressof(ctypes.c_char.from_buffer(m))
        pages = (ctypes.c_void_p * n)(*[base + i * 4096 for i in range(n)])
        status = (ctypes.c_int * n)()
        if self.libc.syscall(self.SYS_MOVE_PAGES, 0, ctypes.c_ulong(n), pages, None, status,
                             0) != 0:
            return {}
        on = {}
        for s in status:
            on[s] = on.get(s, 0) + 1
        return on

    def tick(self):
        now = time.monotonic()
        if not self.size or now < self.next:
            return
        self.next = now + self.every
        m = mmap.mmap(-1, self.size)
        for i in range(0, self.size, 4096):
            m[i] = 1
        if self.out:
            self.out.write(json.dumps({"t": now, "pages": self.size // 4096,
                                       "on": self.where(m)}) + "\n")
        self.live.append((now, m))
        while self.live and now - self.live[0][0] >= self.lifetime:
            self.live.pop(0)[1].close()


def footprint(obj):
    """Address ranges the object really occupies: itself, its list, the list's items."""
    return [(id(obj), type(obj).__basicsize__), (id(obj.values), list.__basicsize__),
            list_items(obj.values)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hot", type=int, default=20000, help="objects in the hot set")
    ap.add_argument("--cold", type=int, default=20000, help="objects in the cold set")
    ap.add_argument("--seconds", type=float, default=10.0, help="how long to run the hot loop")
    ap.add_argument("--layout", help="write the hot and cold address ranges here (JSON)")
    ap.add_argument("--ready", help="create this file once the sets are built")
    ap.add_argument("--exit-code", type=int, default=0)
    ap.add_argument("--no-mtp", action="store_true", help="do not import mtp")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-thp", action="store_true",
                    help="no transparent huge pages for this process (prctl "
                         "PR_SET_THP_DISABLE): a huge page moves whole, 512 pages at once, "
                         "so a placement checked page by page needs 4 KiB pages")
    ap.add_argument("--touch", choices=("store", "read"), default="store",
                    help="store: keep and drop references to hot objects and update them; "
                         "read: only read them, so their reference counts end where they "
                         "began (invisible to refcount snapshots)")
    ap.add_argument("--churn", type=float, default=0, metavar="MIB",
                    help="store mode: also write one byte of every page of a buffer this "
                         "large, an eighth of it each round: churn that is written often but "
                         "is neither set")
    ap.add_argument("--births", type=float, default=0, metavar="MIB",
                    help="store mode: every 0.5 s map and write a new buffer this large, and "
                         "unmap the one from 2 s before: new pages, as allocations make them")
    ap.add_argument("--births-log", metavar="FILE",
                    help="where each new buffer's pages landed, a JSON line per buffer")
    args = ap.parse_args()

    if args.no_thp:
        PR_SET_THP_DISABLE = 41
        if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) != 0:
            sys.exit("workload: prctl(PR_SET_THP_DISABLE): %s" % os.strerror(ctypes.get_errno()))
    if not args.no_mtp:
        import mtp  # noqa: F401  (importing is all it takes)

    cold = [ColdRecord(i) for i in range(args.cold)]
    hot = [HotRecord(i) for i in range(args.hot)]
    # Before ready: a mapping made after it would fall in the migration
    # proof's one-second count of written pages, which leaves new mappings
    # out (in two CI runs the count saw 305 and 1,621 pages, the buffer's
    # 6-10k pages left out).
    churn = bytearray(int(args.churn * (1 << 20)))
    if args.layout:
        layout = {
            "pid": os.getpid(),
            "hot": [r for o in hot for r in footprint(o)],
            "cold": [r for o in cold for r in footprint(o)],
        }
        with open(args.layout + ".tmp", "w") as f:
            json.dump(layout, f)
        os.replace(args.layout + ".tmp", args.layout)
    if args.ready:
        open(args.ready, "w").close()

    rng = random.Random(args.seed)
    holder = []
    recent = []
    checksum = 0
    rounds = 0
    deadline = time.monotonic() + args.seconds
    if args.touch == "read":
        reads = 0
        while time.monotonic() < deadline:
            for obj in hot:
                reads += obj.values[0] > obj.key  # a read of two objects, no store
                # Live-for-a-while containers drive the collector, as in store
                # mode; they hold no reference to the hot objects.
                recent.append([reads])
                if len(recent) >= 5000:
                    recent = []
            rounds += 1
        print("rounds-independent check: cold untouched=%s" % all(o.score == 0 for o in cold))
        print("per-round work consistent=%s" % (reads == rounds * len(hot)))
        sys.stdout.flush()
        return args.exit_code
    churn_pages = len(churn) // 4096
    churn_at = 0
    births = Births(args.births, args.births_log)
    while time.monotonic() < deadline:
        births.tick()
        holder.clear()
        for _ in range(churn_pages // 8):
            churn[churn_at * 4096] = rounds & 0xFF
            churn_at = churn_at + 1 if churn_at + 1 < churn_pages else 0
        for obj in rng.sample(hot, len(hot) // 4):
            holder.append(obj)
            obj.score += 1
            obj.values[obj.score % 8] += 1
            # Containers that live a while, as real code makes: they drive
            # the collector, which is when mtp observes.
            recent.append([obj.key, obj.score])
            if len(recent) >= 5000:
                recent = []
        rounds += 1
    # The checksum depends only on the seed and the number of rounds, so
    # print what is deterministic per round count.
    total = sum(o.score for o in hot) + sum(o.score for o in cold)
    print("rounds-independent check: cold untouched=%s" % all(o.score == 0 for o in cold))
    print("per-round work consistent=%s" % (total == rounds * (len(hot) // 4)))
    sys.stdout.flush()
    return args.exit_code


if __name__ == "__main__":
    sys.exit(main())
