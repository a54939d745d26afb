#!/usr/bin/python3
"""Where the web service's time goes when traced: a CPU profile per request.

make bench's web benchmark (run.py) says how much slower the service is
traced; this says where the time went.  The same service (Flask under
gunicorn, 2 sync workers, web_app.py), the same load (wrk on /hot), in four
configurations interleaved over the repeats:

  b  import mtp, no tracer (the baseline)
  c  mtp-trace --pid W for each worker, at its defaults
  e  the same with --no-written-scan
  z  the same with the workers' observation all but off
     (MTP_BUDGET="share=0.1%,timer_share=0.1%,scan_share=0.1%"): what
     attaching costs without the steps

`perf record -e cpu-clock -g -p WORKERS` runs over wrk's measured run (every
thread of both workers: steps that the ticker thread runs are counted).  The
tables give perf samples per 1,000 requests, medians over the repeats, by
where they fell (the interpreter, the kernel, libc, mtp's extension, mtp's
BPF programs), and the addresses whose share grew most against (b).  An
address inside the interpreter is resolved with `objdump -d` on it.

Run as root, after `make all PYTHON=/usr/bin/python3`:

  /usr/bin/python3 tools/bench/web_profile.py --build build [--repeats 4]
"""
import argparse
import collections
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  -- the benchmark's service, tracer and wrk runners

CONFIGS = ("b", "c", "e", "z")
NAMES = {"b": "(b) import mtp", "c": "(c) mtp-trace", "e": "(e) --no-written-scan",
         "z": "(z) attached, steps all but off"}
QUIET_BUDGET = "share=0.1%,timer_share=0.1%,scan_share=0.1%"
CLASSES = ("interpreter", "kernel", "libc", "mtp extension", "mtp BPF", "other")


def classify(dso):
    if dso.startswith("python") or dso.startswith("libpython"):
        return "interpreter"
    if dso.startswith("[kernel"):
        return "kernel"
    if dso.startswith("libc.") or dso.startswith("libm."):
        return "libc"
    if dso.startswith("mtp."):
        return "mtp extension"
    if dso.startswith("bpf_prog"):
        return "mtp BPF"
    return "other"


def profile_once(cfg, python, pydir, trace_bin, args, tmp):
    """One service run: requests, and perf's samples as (dso, symbol, ip) counts."""
    saved = os.environ.get("MTP_BUDGET")
    if cfg == "z":
        os.environ["MTP_BUDGET"] = QUIET_BUDGET
    try:
        svc = run.Service(python, pydir, cfg, args, tmp)
    finally:
        if cfg == "z":
            os.environ.pop("MTP_BUDGET", None)
            if saved is not None:
                os.environ["MTP_BUDGET"] = saved
    tracers = []
    data = os.path.join(tmp, "perf.%s.data" % cfg)
    try:
        workers = svc.wait_ready(args.web_workers)
        if cfg != "b":
            extra = ["--no-written-scan"] if cfg == "e" else []
            tracers = [run.Tracer(trace_bin, w, extra=extra) for w in workers]
        run.run_wrk(svc.port, args.web_warmup, args)
        perf = subprocess.Popen(
            ["perf", "record", "-q", "-e", "cpu-clock", "-F", str(args.frequency), "-g",
             "-p", ",".join(map(str, workers)), "-o", data, "--", "sleep",
             str(args.web_seconds + 0.5)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        res = run.run_wrk(svc.port, args.web_seconds, args)
        perf.wait()
        svc.stop()
    finally:
        svc.kill()
        for t in tracers:
            t.kill()
    out = subprocess.run(["perf", "script", "-i", data, "-F", "ip,sym,dso", "-G"],
                         capture_output=True, text=True).stdout
    samples = collections.Counter()
    for line in out.splitlines():
        m = re.match(r"\s*([0-9a-f]+)\s+(.*?)\s+\((.*)\)\s*$", line)
        if m:
            samples[(os.path.basename(m.group(3)), m.group(2), int(m.group(1), 16))] += 1
    os.unlink(data)
    return res["requests"], res["rps"], res["p99_ms"], samples


def per_kreq(runs, key):
    return statistics.median(sum(v for k, v in s.items() if key(k)) * 1000.0 / req
                             for req, _, _, s in runs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.splitlines()[1:]))
    ap.add_argument("--build", default="build", help="build directory (holds mtp-trace)")
    ap.add_argument("--repeats", type=int, default=4, help="runs of each configuration")
    ap.add_argument("--frequency", type=int, default=499, help="perf's sampling rate, Hz")
    ap.add_argument("--top", type=int, default=12, help="addresses listed")
    args = ap.parse_args()
    if args.repeats < 1:
        ap.error("--repeats must be at least 1")
    if os.geteuid() != 0:
        sys.exit("web_profile.py: run as root: mtp-trace loads BPF programs")
    for tool in ("perf", "wrk", "objdump"):
        if not shutil.which(tool):
            sys.exit("web_profile.py: %s not found: apt-get install linux-perf wrk binutils"
                     % tool)
    trace_bin = os.path.join(run.ROOT, args.build, "mtp-trace")
    if not os.access(trace_bin, os.X_OK):
        sys.exit("web_profile.py: %s missing: run 'make all PYTHON=/usr/bin/python3' first"
                 % trace_bin)
    python = "/usr/bin/python3"
    pydir = run.build_extension(python, args.build)
    args.web_seconds, args.web_warmup, args.web_items = 10, 2, 300000
    args.web_workers, args.web_connections = 2, 8

    runs = {c: [] for c in CONFIGS}
    with tempfile.TemporaryDirectory(prefix="mtp-web-profile-") as tmp:
        for rep in range(args.repeats):
            for cfg in (CONFIGS if rep % 2 == 0 else tuple(reversed(CONFIGS))):
                print("  repeat %d: %s" % (rep + 1, NAMES[cfg]), file=sys.stderr, flush=True)
                runs[cfg].append(profile_once(cfg, python, pydir, trace_bin, args, tmp))

    print("perf samples per 1,000 requests at %d Hz (one sample = %.1f ms of CPU), medians "
          "over %d repeats; source %s\n" % (args.frequency, 1000.0 / args.frequency,
                                            args.repeats, run.source_state()))
    print("| config | requests/s | p99 ms | all | " + " | ".join(CLASSES) + " |")
    print("|---|---:|---:|---:|" + "---:|" * len(CLASSES))
    for cfg in CONFIGS:
        r = runs[cfg]
        cells = [per_kreq(r, lambda k, c=c: classify(k[0]) == c) for c in CLASSES]
        print("| %s | %.0f | %.2f | %.1f | %s |" % (
            NAMES[cfg], statistics.median(x[1] for x in r), statistics.median(x[2] for x in r),
            per_kreq(r, lambda k: True), " | ".join("%.1f" % v for v in cells)))

    def by_line(cfg):
        # 64-byte code lines, so one hot instruction's neighbours add up; a shared
        # library's named function as one row, since it loads elsewhere in every process.
        total = collections.Counter()
        for req, _, _, s in runs[cfg]:
            for (dso, sym, ip), v in s.items():
                shared = ".so" in dso and sym != "[unknown]"
                total[(dso, sym, 0 if shared else ip & ~0x3f)] += v * 1000.0 / req
        return {k: v / len(runs[cfg]) for k, v in total.items()}

    base = by_line("b")
    for cfg in ("c", "e"):
        cur = by_line(cfg)
        grown = sorted(((cur.get(k, 0) - base.get(k, 0), k) for k in set(cur) | set(base)),
                       reverse=True)[:args.top]
        print("\nGrown most, %s against (b), samples per 1,000 requests (means):\n" % NAMES[cfg])
        print("| + | (b) | %s | where |" % cfg)
        print("|---:|---:|---:|---|")
        for d, (dso, sym, ip) in grown:
            print("| %+.2f | %.2f | %.2f | %s %s%s |" % (
                d, base.get((dso, sym, ip), 0), cur.get((dso, sym, ip), 0), dso, sym,
                " 0x%x" % ip if ip else ""))


if __name__ == "__main__":
    main()
