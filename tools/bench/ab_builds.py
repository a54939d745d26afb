#!/usr/bin/python3
"""Two builds of mtp against each other, traced: what a change to a hot path costs.

    ab_builds.py --a BUILD_A --b BUILD_B [--workloads alloc_heavy,networkx_algos]
                 [--repeats 5] [-- MTP_TRACE_ARGS...]

For each workload and repeat, each build in turn (A B, then B A, ...): the
workload script of tools/bench under that build's extension (--mtp), that
build's mtp-trace --pid attached at the script's ready line (at its defaults,
or with the arguments after --; "none" runs untraced), and the script's own
wall and CPU time of its timed part.  Prints each repeat and the median of
the per-repeat ratios B/A with [min..max].  Build each side first, e.g.
`git worktree add /tmp/old REV && make -C /tmp/old all BUILD=/tmp/bold`.
Needs root (BPF).  Not a test: nothing passes or fails.
"""
import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYTHON = "/usr/bin/python3"


def pydir(build):
    out = subprocess.run(["make", "-s", "-C", ROOT, "pyext-dir", "PYTHON=" + PYTHON,
                          "BUILD=" + build], capture_output=True, text=True, check=True)
    path = out.stdout.strip()
    return path if os.path.isabs(path) else os.path.join(ROOT, path)


def one(build, ext, workload, trace_args):
    """(wall s, cpu s) of one traced run of workload under build."""
    env = dict(os.environ, PYTHONPATH=ext)
    prog = subprocess.Popen([PYTHON, os.path.join(ROOT, "tools", "bench", workload + ".py"),
                             "--mtp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env=env)
    tracer = None
    try:
        if prog.stdout.readline().strip() != "ready":
            sys.exit("%s did not start" % workload)
        if trace_args != ["none"]:
            tracer = subprocess.Popen([os.path.join(build, "mtp-trace"), "--pid", str(prog.pid)]
                                      + trace_args, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 30
            while not os.path.exists("/sys/fs/bpf/mtp/%d/stats" % prog.pid):
                if time.monotonic() > deadline or tracer.poll() is not None:
                    sys.exit("mtp-trace of %s did not attach" % build)
                time.sleep(0.02)
            time.sleep(0.3)  # the uprobes attach right after the pins
        prog.stdin.write("go\n")
        prog.stdin.flush()
        res = json.loads(prog.stdout.readline())
        prog.stdin.close()
        prog.wait()
    finally:
        if prog.poll() is None:
            prog.kill()
        if tracer is not None:
            tracer.send_signal(signal.SIGINT)
            tracer.wait()
    return res["wall_s"], res["cpu_s"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--a", required=True, help="build directory A (the baseline)")
    ap.add_argument("--b", required=True, help="build directory B")
    ap.add_argument("--workloads", default="alloc_heavy,networkx_algos")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("trace_args", nargs="*", help="mtp-trace's arguments (after --)")
    args = ap.parse_args()
    builds = {"A": os.path.abspath(args.a), "B": os.path.abspath(args.b)}
    exts = {k: pydir(v) for k, v in builds.items()}
    for workload in args.workloads.split(","):
        walls, cpus = [], []
        for r in range(args.repeats):
            order = "AB" if r % 2 == 0 else "BA"
            got = {k: one(builds[k], exts[k], workload, args.trace_args) for k in order}
            walls.append(got["B"][0] / got["A"][0])
            cpus.append(got["B"][1] / got["A"][1])
            print("%s repeat %d: A %.3f s wall %.3f s CPU, B %.3f / %.3f"
                  % (workload, r, got["A"][0], got["A"][1], got["B"][0], got["B"][1]), flush=True)
        print("%s B/A: wall %.3f [%.3f..%.3f], CPU %.3f [%.3f..%.3f]"
              % (workload, statistics.median(walls), min(walls), max(walls),
                 statistics.median(cpus), min(cpus), max(cpus)), flush=True)


if __name__ == "__main__":
    main()
