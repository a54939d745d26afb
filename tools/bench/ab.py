#!/usr/bin/python3
"""An A/B of two builds' cost to a traced program (a benchmark, not a test).

The suite's workloads (tools/bench/run.py), each repeat in three fresh
processes in turn: (b) `import mtp` with no tracer, (A) traced at the
defaults by build A's extension and mtp-trace, (B) the same with build B's;
the order alternates between repeats (b A B, then B A b, ...).  Prints, per
workload, the medians of the per-repeat ratios A/b, B/b and B/A (wall and
CPU time of the timed part) with [min..max], and their geomeans.  A change to
a hot path is judged by B/A; A/b and B/b say what each costs.  Run as root:

  /usr/bin/python3 tools/bench/ab.py --a build-old --b build \\
      [--only gc_churn,alloc_heavy] [--repeats 7] [--python /usr/bin/python3]

Each build directory is a `make all BUILD=DIR` of the tree to compare (for
an older commit: a `git worktree` of it, built there).
"""
import argparse
import glob
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402  (the suite's workloads and harness)


def ratio_row(name, per, key):
    cells = [name]
    for num, den in (("A", "b"), ("B", "b"), ("B", "A")):
        rs = [n[key] / d[key] for n, d in zip(per[num], per[den])]
        cells.append("%.3f [%.3f..%.3f]" % (bench.med(rs), min(rs), max(rs)))
    return cells


def prebuilt(build, python):
    """(extension dir, mtp-trace) of a build made elsewhere: never rebuilt
    here, where make would build it from this tree's sources instead."""
    trace_bin = os.path.join(build, "mtp-trace")
    pydir = subprocess.run(["make", "-s", "-C", bench.ROOT, "pyext-dir", "PYTHON=" + python,
                            "BUILD=" + build], check=True, capture_output=True,
                           text=True).stdout.strip()
    pydir = os.path.join(bench.ROOT, pydir)
    if not os.access(trace_bin, os.X_OK) or not glob.glob(os.path.join(pydir, "mtp*.so")):
        sys.exit("ab.py: %s holds no mtp-trace or no extension for %s: run 'make all "
                 "BUILD=%s PYTHON=%s' in the tree to measure" % (build, python, build, python))
    return pydir, trace_bin


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--a", required=True, help="build directory A (the baseline)")
    ap.add_argument("--b", required=True, help="build directory B (the change)")
    ap.add_argument("--only", default="gc_churn,alloc_heavy,networkx,sqlalchemy",
                    help="workloads, comma-separated (default: %(default)s)")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--python", default="/usr/bin/python3")
    args = ap.parse_args()
    args.quick = False
    names = args.only.split(",")
    unknown = [n for n in names if n not in bench.WORKLOAD_NAMES]
    if unknown:
        sys.exit("ab.py: unknown workload(s) %s; choose from %s"
                 % (", ".join(unknown), ", ".join(bench.WORKLOAD_NAMES)))
    builds = {}
    for side, build in (("A", args.a), ("B", args.b)):
        builds[side] = prebuilt(os.path.join(bench.ROOT, build), args.python)
    wls = [w for w in bench.WORKLOADS if w.name in names]
    per = {w.name: {c: [] for c in ("b", "A", "B")} for w in wls}
    for rep in range(args.repeats):
        order = ("b", "A", "B") if rep % 2 == 0 else ("B", "A", "b")
        for wl in wls:
            for side in order:
                pydir, trace_bin = builds["A" if side == "b" else side]
                t0 = time.monotonic()
                res = bench.run_workload_once(wl, "b" if side == "b" else "c", args.python,
                                              pydir, trace_bin, args)
                per[wl.name][side].append(res)
                print("rep %d/%d %-11s %s  wall %.3f s  cpu %.3f s  (%.1f s)"
                      % (rep + 1, args.repeats, wl.name, side, res["wall_s"], res["cpu_s"],
                         time.monotonic() - t0), file=sys.stderr, flush=True)
    print("source: %s; A = %s, B = %s; %d repeats\n" % (bench.source_state(), args.a, args.b,
                                                        args.repeats))
    for key, what in (("wall_s", "wall"), ("cpu_s", "CPU")):
        rows = [ratio_row(w.name, per[w.name], key) for w in wls]
        geo = ["**geomean**"] + ["**%.3f**" % bench.geomean(
            [bench.med([n[key] / d[key] for n, d in zip(per[w.name][num], per[w.name][den])])
             for w in wls]) for num, den in (("A", "b"), ("B", "b"), ("B", "A"))]
        print(bench.table(["workload", "A/b", "B/b", "B/A"], rows + [geo],
                          "%s time, medians of per-repeat ratios [min..max]" % what) + "\n")


if __name__ == "__main__":
    main()
