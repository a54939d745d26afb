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

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fast_fill  # noqa: E402
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
    check = migration_proof.Checks()

    hold = fast_fill.Hold()
    try:
        layout = migration_proof.wait_layout(workload, layout_path, ready)
        pid = layout["pid"]
        hot = migration_proof.pages_of(layout["hot"]) - migration_proof.pages_of(layout["cold"])
        subprocess.run(["migratepages", str(pid), str(FAST), str(SLOW)], check=True)
        vm_eval.write("/proc/sys/vm/drop_caches", 3)
        held = hold.set(MIB, tmp, args.hugetlb_leaves * MIB)
        if workload.poll() is not None:
            check("the workload outlives the node's filling", False,
                  "exit status %s (-9: killed, likely by the OOM killer; see dmesg)"
                  % workload.poll())
            print(check.summary("full node"))
            return 1
        where = migration_proof.Numa().where(pid, hot)
        check("the fast node is full and the hot set on the slow one",
              held["usable"] <= 4 * MIB and where[SLOW] >= 0.95 * len(hot),
              "%d hugetlb pages and %.1f MiB of anonymous memory hold node %d, %.1f MiB free "
              "above its low watermark; "
              "%d of %d hot pages on node %d" % (held["hugetlb_pages"],
                                                 held["anon"] / MIB, FAST,
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
        hold.clear()
        workload.kill()
        workload.wait()
    print(check.summary("full node"))
    return 1 if check.failed else 0


if __name__ == "__main__":
    sys.exit(main())
