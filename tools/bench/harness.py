"""What every workload script of tools/bench shares: the ready/go handshake and
the timing of its timed part.

A workload script builds what it needs untimed, then calls
run(name, work, args): that prints "ready" and waits for a line on stdin (the
runner attaches mtp-trace meanwhile), times work() with time.perf_counter
(wall) and time.process_time (the CPU of the whole process, all threads; a
uprobe's BPF program runs in the traced thread and is charged to it), counts
the process's minor and major faults with getrusage(RUSAGE_SELF), takes
mtp.stats() before and after (with --mtp), prints one JSON object, and waits
for stdin to close, so the runner can read the tracer's BPF counters while the
process and its pinned maps still exist.

  result: {"workload", "python", "wall_s", "cpu_s", "minflt", "majflt",
           "maxrss_kib", "collections", "tracing", "mtp": {stats delta} | null,
           "mtp_end": {mtp.stats() at the end} | null, "info": {work()'s return}}

Run by tools/bench/run.py; each script also runs by hand:

  PYTHONPATH=$(make -s pyext-dir PYTHON=/usr/bin/python3) \\
      /usr/bin/python3 tools/bench/pickle_trips.py --mtp --no-wait
"""
import argparse
import gc
import json
import platform
import resource
import sys
import time

sys.dont_write_bytecode = True


def parser(doc, scale_help="work and data sizes, relative (1 = the default run)"):
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--mtp", action="store_true", help="import mtp (the extension)")
    ap.add_argument("--scale", type=float, default=1.0, help=scale_help)
    ap.add_argument("--no-wait", action="store_true",
                    help="do not wait for the runner on stdin (run by hand)")
    return ap


def import_mtp(args):
    """The mtp module with --mtp, else None.  Import it first thing, as a service would."""
    if not args.mtp:
        return None
    import mtp
    return mtp


def _counters():
    return [g["collections"] for g in gc.get_stats()]


def _delta(after, before):
    return {k: after[k] - before.get(k, 0) for k in after
            if isinstance(after[k], (int, float)) and not isinstance(after[k], bool)
            and k not in ("observe_ns_last", "observe_ns_max", "side_table_bytes",
                          "extent_table_bytes", "step_ns_p99", "cycle_ns", "written_stride",
                          "last_step_gen0", "last_step_gen1", "last_step_gen2",
                          "last_step_frozen")}


def run(name, work, args, mtp):
    """The handshake, then work() timed; prints the result JSON."""
    print("ready", flush=True)
    if not args.no_wait:
        if not sys.stdin.readline():
            sys.exit(1)
    st0 = mtp.stats() if mtp else None
    c0 = _counters()
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    info = work()
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    c1 = _counters()
    st1 = mtp.stats() if mtp else None
    result = {
        "workload": name,
        "python": platform.python_version(),
        "wall_s": wall,
        "cpu_s": cpu,
        "minflt": ru1.ru_minflt - ru0.ru_minflt,
        "majflt": ru1.ru_majflt - ru0.ru_majflt,
        "maxrss_kib": ru1.ru_maxrss,
        "collections": [b - a for a, b in zip(c0, c1)],
        "tracing": bool(mtp and mtp.tracing()),
        "mtp": _delta(st1, st0) if mtp else None,
        "mtp_end": st1,
        "info": info if isinstance(info, dict) else {},
    }
    print(json.dumps(result), flush=True)
    if not args.no_wait:
        sys.stdin.read()  # until the runner closes it
