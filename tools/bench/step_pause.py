"""Step pauses at default budgets on a large long-lived heap, traced.

Builds --heap GC-tracked long-lived objects (gc_churn.py's shapes: a
__slots__ instance, a dict and a list each third), imports mtp, attaches
`mtp-trace --pid PID --json` to itself (steps run only while a tracer is
attached) and then runs --seconds of light mutation: a few list items
changed and a few short-lived objects made per iteration, so the collector
runs (collection steps) and the ticker's timer steps take the GIL.

mtp.stats() is polled every 10 ms; a step's pause is observe_ns_last when
`observations` moved (steps are at most 4 a second, so few are missed).
Prints one JSON object: the worst pause (observe_ns_max, over the whole
traced run), the mean (observe_ns_total / observations), the polled
pauses' median and 99th percentile, and the tables' sizes.  Run as root:

  PYTHONPATH=$(make -s pyext-dir PYTHON=/usr/bin/python3) \\
      /usr/bin/python3 tools/bench/step_pause.py --trace build/mtp-trace --heap 1000000
"""
import argparse
import gc
import json
import os
import platform
import random
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gc_churn import build_heap  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--heap", type=int, default=1000000, help="long-lived GC-tracked objects")
    ap.add_argument("--seconds", type=float, default=20.0, help="traced mutation phase")
    ap.add_argument("--trace", default="build/mtp-trace", help="the mtp-trace binary")
    ap.add_argument("--no-written-scan", action="store_true",
                    help="pass --no-written-scan to mtp-trace (reference counts only)")
    ap.add_argument("--prefill", action="store_true",
                    help="first one unbudgeted mtp.observe() over the whole heap, so the timed "
                         "steps run against a full side table (a cycle's steady state); the "
                         "worst pause is then the polled one")
    args = ap.parse_args()

    import mtp
    heap = build_heap(args.heap)
    gc.collect()
    cmd = [args.trace, "--pid", str(os.getpid()), "--json"]
    if args.no_written_scan:
        cmd.append("--no-written-scan")
    tracer = subprocess.Popen(cmd,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not mtp.tracing():
        if time.monotonic() > deadline or tracer.poll() is not None:
            print("step_pause: no tracer attached", file=sys.stderr)
            tracer.kill()
            sys.exit(2)
        time.sleep(0.05)

    prefill_ms = None
    if args.prefill:
        mtp.observe()
        prefill_ms = mtp.stats()["observe_ns_last"] / 1e6
    rng = random.Random(1)
    start = mtp.stats()
    last_obs = start["observations"]
    pauses = []
    kept = []
    t_end = time.monotonic() + args.seconds
    next_poll = 0.0
    while True:
        now = time.monotonic()
        if now >= t_end:
            break
        for _ in range(200):  # light mutation of the long-lived heap
            slot = heap[rng.randrange(len(heap))]
            slot.value["v"][0] += 1
        kept.append([{"i": i} for i in range(50)])  # short-lived garbage, some kept a while
        if len(kept) > 200:
            kept = []
        if now >= next_poll:
            st = mtp.stats()
            if st["observations"] != last_obs:
                pauses.append(st["observe_ns_last"])
                last_obs = st["observations"]
            next_poll = now + 0.01
        time.sleep(0.0005)
    end = mtp.stats()
    tracer.terminate()
    tracer.wait()

    obs = end["observations"] - start["observations"]
    pauses.sort()
    result = {
        "python": platform.python_version(),
        "heap": args.heap,
        "written_scan": end["written_scan"],
        "seconds": args.seconds,
        "observations": obs,
        "timer_steps": end["timer_steps"] - start["timer_steps"],
        "objects_seen": end["objects_seen"] - start["objects_seen"],
        "cycles": end["cycles"] - start["cycles"],
        "cycle_ms": end["cycle_ns"] / 1e6,
        "prefill_ms": prefill_ms,
        "observe_ms_max": end["observe_ns_max"] / 1e6,
        "polled_ms_max": pauses[-1] / 1e6 if pauses else None,
        "observe_ms_mean": (end["observe_ns_total"] - start["observe_ns_total"]) / max(obs, 1) / 1e6,
        "polled_steps": len(pauses),
        "polled_ms_p50": pauses[len(pauses) // 2] / 1e6 if pauses else None,
        "polled_ms_p99": pauses[min(len(pauses) - 1, len(pauses) * 99 // 100)] / 1e6
        if pauses else None,
        "side_table_mib": end["side_table_bytes"] / 2**20,
        "extent_table_mib": end["extent_table_bytes"] / 2**20,
        "extents_credited": end["extents_credited"] - start["extents_credited"],
    }
    print(json.dumps(result), flush=True)
    del heap


if __name__ == "__main__":
    main()
