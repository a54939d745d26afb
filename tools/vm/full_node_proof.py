#!/usr/bin/python3
"""The fast node full, run inside the two-tier guest (make vm-test; issue 14).

A workload's hot set starts on the slow node while the fast node is held
full: its caches dropped, then hugetlb pages take all of it above its
low watermark (tools/vm/vm_eval.py's FastLimit).  Two runs of mtp-trace:

1. at the default --watermark (auto: the kernel's low watermarks, below which
   it places no new page on the node) it plans promotions only into what is
   free above them, and no move is refused;
2. with --watermark 0, an operator's override that lets it push, the node
   refuses the moves (move_pages: -ENOMEM).  mtp-trace must count them,
   hold promotions back for 1, 2, 4 ... intervals (promote_held, backoffs,
   a line on stderr), try in only a few intervals, and finish normally,
   the workload still running.

Ends with "N passed, N failed".
"""
import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import migration_proof  # noqa: E402
import vm_eval  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))
MIB = 1 << 20
FAST, SLOW = 0, 1


def trace(trace_bin, pid, seconds, extra):
    r, ivs = migration_proof.trace_intervals(trace_bin, pid, seconds, extra)
    # One line per interval: what was planned, moved, refused and held.
    print("     planned/promoted/demoted KiB, failed, held: " + "  ".join(
        "%d/%d/%d %d %d" % (t["planned_promote_bytes"] >> 10, t["promoted_bytes"] >> 10,
                            t["demoted_bytes"] >> 10, sum(t["failed"].values()),
                            t["promote_held"]) for t in ivs), flush=True)
    return r, ivs


# Anonymous memory bound to the fast node, touched a MiB at a time until
# the node's free memory above its low watermark is down to `leave` bytes,
# then held until killed.  It stops by what the node has, not by a size
# computed before it started: memory taken meanwhile (once, after the
# integration suite) made a fixed-size filler overshoot, and the kernel's
# OOM killer, whose candidates under --membind include every task of the
# default policy, killed the workload.  oom_score_adj 1000 makes the filler
# the one killed should it still overshoot.
FILL = r"""
import mmap, os, sys, time
sys.path.insert(0, sys.argv[4])
import vm_eval
open("/proc/self/oom_score_adj", "w").write("1000")
most, leave, node = int(sys.argv[1]), int(sys.argv[3]), 0
m = mmap.mmap(-1, most)
done = 0
while done < most:
    free = vm_eval.node_meminfo(node)["MemFree"] - vm_eval.zoneinfo()[node]["floor"]
    if free <= leave:
        break
    end = min(most, done + min(free - leave, 1 << 20))
    for i in range(done, end, 4096):
        m[i] = 1
    done = end
with open(sys.argv[2] + ".tmp", "w") as f:
    f.write(str(done))
os.rename(sys.argv[2] + ".tmp", sys.argv[2])  # whole when it appears
time.sleep(1e6)
"""


def fill(most, tmp):
    """(process, bytes): anonymous memory bound to the fast node, touched up
    to `most` bytes or until 1 MiB is left above the node's low watermark,
    held until killed; (None, 0) when there is nothing to take."""
    if most < MIB:
        return None, 0
    ready = os.path.join(tmp, "filled")
    if os.path.exists(ready):
        os.unlink(ready)
    proc = subprocess.Popen(["numactl", "--membind=%d" % FAST, sys.executable, "-c", FILL,
                             str(most), ready, str(MIB), HERE])
    deadline = time.monotonic() + 120
    while not os.path.exists(ready):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit("the filler of node %d did not start (exit %s)"
                             % (FAST, proc.poll()))
        time.sleep(0.2)
    with open(ready) as f:
        return proc, int(f.read())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--python", default="/usr/bin/python3")
    ap.add_argument("--seconds", type=int, default=30, help="how long the pushing run lasts")
    ap.add_argument("--hugetlb-leaves", type=int, default=0, metavar="MIB",
                    help="free memory the hugetlb pages leave for the filler (as fragmentation "
                    "does; to test the filler)")
    args = ap.parse_args()

    trace_bin = os.path.join(ROOT, args.build, "mtp-trace")
    tmp = "/tmp/mtp-full-node"
    workload, layout_path, ready = migration_proof.start_workload(
        args.build, args.python, tmp, 120000, 10000, args.seconds * 3 + 120)
    passed = failed = 0

    def check(name, ok, detail):
        nonlocal passed, failed
        print("%s %s: %s" % ("ok  " if ok else "FAIL", name, detail), flush=True)
        passed, failed = passed + bool(ok), failed + (not ok)

    limit = vm_eval.FastLimit()
    fillers = []
    try:
        layout = migration_proof.wait_layout(workload, layout_path, ready)
        pid = layout["pid"]
        hot = migration_proof.pages_of(layout["hot"]) - migration_proof.pages_of(layout["cold"])
        subprocess.run(["migratepages", str(pid), str(FAST), str(SLOW)], check=True)
        vm_eval.write("/proc/sys/vm/drop_caches", 3)
        held = limit.set(args.hugetlb_leaves * MIB)
        # After a long run node 0's free memory is fragmented, and 2 MiB
        # pages could not take the last ~50 MiB (CI, once): anonymous memory
        # bound to the node takes what they left, down to 1 MiB.
        # At most what was free plus 64 MiB the kernel's reclaim may free
        # meanwhile; the filler stops when the node is full.  The reclaim can
        # also free memory after a filler stopped (18 MiB once, in CI's
        # guest): another one takes that, up to three in all.
        for _ in range(3):
            fillers.append(fill(held["usable"] + 64 * MIB, tmp))
            held["usable"] = max(0, vm_eval.node_meminfo(FAST)["MemFree"] -
                                 vm_eval.zoneinfo()[FAST]["floor"])
            if held["usable"] <= 4 * MIB:
                break
        if workload.poll() is not None:
            check("the workload outlives the node's filling", False,
                  "exit status %s (-9: killed, likely by the OOM killer; see dmesg)"
                  % workload.poll())
            print("full node: %d passed, %d failed" % (passed, failed))
            return 1
        where = migration_proof.Numa().where(pid, hot)
        check("the fast node is full and the hot set on the slow one",
              held["usable"] <= 4 * MIB and where[SLOW] >= 0.95 * len(hot),
              "%d hugetlb pages and %.1f MiB of anonymous memory hold node %d, %.1f MiB free "
              "above its low watermark; "
              "%d of %d hot pages on node %d" % (held["hugetlb_pages"],
                                                 sum(f[1] for f in fillers) / MIB, FAST,
                                                 held["usable"] / MIB, where[SLOW], len(hot),
                                                 SLOW))

        r, ivs = trace(trace_bin, pid, 8, [])
        planned = sum(t["planned_promote_bytes"] for t in ivs)
        moved = sum(t["promoted_bytes"] for t in ivs)
        refused = sum(t["failed"]["nomem"] + t["failed"]["refused"] + t["failed"]["busy"]
                      for t in ivs)
        check("at the kernel's watermark no move is refused",
              r.returncode == 0 and ivs and refused == 0,
              "exit %d, %d intervals, planned %.1f MiB of promotions (what the kernel's "
              "reclaim had freed above its low watermarks), promoted %.1f MiB, %d refused, "
              "pressure in %d intervals%s"
              % (r.returncode, len(ivs), planned / MIB, moved / MIB, refused,
                 sum(t["pressure"] for t in ivs), "" if r.returncode == 0 else
                 ": " + r.stderr[-300:]))

        r, ivs = trace(trace_bin, pid, args.seconds, ["--watermark", "0"])
        nomem = sum(t["failed"]["nomem"] for t in ivs)
        trying = [i for i, t in enumerate(ivs)
                  if t["promoted_bytes"] or t["failed"]["nomem"] or t["failed"]["busy"]]
        first = next((i for i, t in enumerate(ivs) if t["failed"]["nomem"]), None)
        after = [i for i in trying if first is not None and i > first]
        held_and_tried = [i for i in trying if ivs[i]["promote_held"]]
        totals = ivs[-1]["totals"] if ivs else {}
        check("with --watermark 0 the full node refuses moves, and mtp-trace counts them",
              r.returncode == 0 and nomem > 0 and totals.get("failed_pages", 0) >= nomem,
              "exit %d, %d intervals, %d pages refused with ENOMEM, %d failed in all (%s)%s"
              % (r.returncode, len(ivs), nomem, totals.get("failed_pages", 0),
                 {k: sum(t["failed"][k] for t in ivs) for k in ivs[0]["failed"]} if ivs else {},
                 "" if r.returncode == 0 else ": " + r.stderr[-300:]))
        remaining = len(ivs) - 1 - (first if first is not None else len(ivs))
        check("it backs off: 1, 2, 4 ... intervals between tries, none while held",
              first is not None and totals.get("backoffs", 0) >= 2 and not held_and_tried and
              len(after) <= max(1, remaining // 2) and "a node refused" in r.stderr,
              "tried in %d of %d intervals (%d after the first refusal, in %d intervals left), "
              "%d backoffs, %d tries while held; stderr: %s"
              % (len(trying), len(ivs), len(after), remaining, totals.get("backoffs", 0),
                 len(held_and_tried),
                 next((l for l in r.stderr.splitlines() if "a node refused" in l), "no line")))
        check("the workload runs on", workload.poll() is None,
              "exit status %s" % workload.poll())
    finally:
        limit.clear()
        for proc, _ in fillers:
            if proc:
                proc.kill()
                proc.wait()
        workload.kill()
        workload.wait()
    print("full node: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
