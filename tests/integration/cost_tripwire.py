#!/usr/bin/python3
"""Cost tripwire: what tracing at the defaults costs an allocation-heavy program.

This is a TRIPWIRE AGAINST GROSS REGRESSIONS, NOT A BENCHMARK.  It runs
tests/integration/cost_workload.py (imports mtp; ~1.5-2 s of CPU here)
untraced and traced by `mtp-trace --pid PID --json` at the defaults,
interleaved, 3 repeats (5 when the first 3 straddle the limit), and fails
when the median of the per-repeat ratios traced/untraced of the program's
own CPU time (time.process_time() of the timed part; mtp-trace's own CPU is
not counted) exceeds --limit (1.5).  The machine is shared and noisy: a
pass says tracing is not grossly dear, not that it costs some exact amount.

It builds nothing (make test builds first): the extension is found with
`make -s pyext-dir`, the loader at BUILD/mtp-trace.  mtp-trace attaches
while the program waits before its timed part; the program starts only
after mtp-trace's "pinned at" line (ready/go over the program's stdin).
Every process is killed on every path and every wait is bounded.
--trace-arg passes extra arguments to mtp-trace (to show the tripwire
passing with e.g. --trace-arg=--no-written-scan; not for CI).

Run as root (BPF and uprobes).  The last line is "N passed, N failed".
"""
import argparse
import ctypes
import json
import os
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORKLOAD = os.path.join(ROOT, "tests", "integration", "cost_workload.py")
PIN_ROOT = "/sys/fs/bpf/mtp"


class Failure(Exception):
    pass


class Interrupted(BaseException):
    """SIGINT/SIGTERM/SIGHUP: unwinds through every finally, which kills the children."""


def on_signal(signum, _frame):
    raise Interrupted("interrupted by signal %d" % signum)


def die_with_parent(sig):
    """preexec_fn: the child gets `sig` when the tripwire dies, even by SIGKILL."""
    def preexec():
        ctypes.CDLL(None, use_errno=True).prctl(1, sig)  # PR_SET_PDEATHSIG
    return preexec


def read_line(stream, proc, timeout, what):
    """One line from a child's pipe within `timeout` seconds."""
    fd, buf = stream.fileno(), b""
    deadline = time.monotonic() + timeout
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise Failure("no %s within %.0f s" % (what, timeout))
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 1)  # one byte at a time: leave the rest in the pipe
            if not chunk:
                raise Failure("workload exited (%s) before %s" % (proc.poll(), what))
            buf += chunk
    return buf.decode()


def wait_for_pin(tracer, err_path, timeout=30.0):
    """Until mtp-trace printed "pinned at": every probe is attached by then."""
    deadline = time.monotonic() + timeout
    while True:
        with open(err_path) as f:
            err = f.read()
        if "pinned at" in err:
            return
        if tracer.poll() is not None:
            raise Failure("mtp-trace exited %s before attaching: %s" % (tracer.returncode, err))
        if time.monotonic() > deadline:
            raise Failure("mtp-trace did not attach in %.0f s: %s" % (timeout, err))
        time.sleep(0.02)


def stop(proc, grace=5.0):
    """Ends a child of ours: SIGINT, then SIGKILL, each wait bounded."""
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=grace)


def one_run(args, pydir, trace_bin, traced, tmp):
    """Runs the workload once; returns its RESULT dict."""
    env = dict(os.environ, PYTHONPATH=pydir)
    env.pop("MTP_FOOTPRINT", None)
    proc = subprocess.Popen([args.python, WORKLOAD, str(args.rounds)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            preexec_fn=die_with_parent(signal.SIGKILL))
    tracer = None
    err_path = os.path.join(tmp, "trace.err")
    out_path = os.path.join(tmp, "trace.out")
    try:
        ready = read_line(proc.stdout, proc, 30, "ready line").split()
        if len(ready) != 2 or ready[0] != "ready" or int(ready[1]) != proc.pid:
            raise Failure("unexpected ready line %r" % ready)
        if traced:
            with open(err_path, "w") as err, open(out_path, "w") as out:
                tracer = subprocess.Popen([trace_bin, "--pid", str(proc.pid), "--json"]
                                          + args.trace_arg, stdout=out, stderr=err,
                                          # SIGTERM: mtp-trace unpins its maps on it
                                          preexec_fn=die_with_parent(signal.SIGTERM))
            wait_for_pin(tracer, err_path)
        proc.stdin.write(b"go\n")
        proc.stdin.flush()
        try:
            out, perr = proc.communicate(timeout=args.run_timeout)
        except subprocess.TimeoutExpired:
            raise Failure("workload did not finish in %.0f s" % args.run_timeout)
        if proc.returncode != 0:
            raise Failure("workload exited %s: %s" % (proc.returncode, perr.decode()[-2000:]))
        lines = [l for l in out.decode().splitlines() if l.startswith("RESULT ")]
        if not lines:
            raise Failure("workload printed no RESULT line: %r" % out[-500:])
        res = json.loads(lines[-1][len("RESULT "):])
        if traced:
            # mtp-trace follows the program's exit; bounded anyway.
            try:
                tracer.wait(timeout=30)
            except subprocess.TimeoutExpired:
                stop(tracer)
                raise Failure("mtp-trace did not stop after the program exited")
            with open(err_path) as f:
                terr = f.read()
            if tracer.returncode != 0:
                raise Failure("mtp-trace exited %s: %s" % (tracer.returncode, terr[-2000:]))
            if not res["tracing"]:
                raise Failure("the traced run was not traced (mtp.stats()['tracing'] false)")
        elif res["tracing"]:
            raise Failure("the untraced run was traced by someone else")
        return res
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        stop(tracer)  # SIGINT first: mtp-trace unpins its maps on it
        # A killed mtp-trace leaves its pins behind.
        pins = os.path.join(PIN_ROOT, str(proc.pid))
        if os.path.isdir(pins):
            shutil.rmtree(pins, ignore_errors=True)


def loadavg():
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def tripwire(args, pydir, trace_bin, tmp):
    ratios = []
    repeats = args.repeats
    i = 0
    while i < repeats:
        # Alternate the order so a drift in the machine's load hits both.
        order = (False, True) if i % 2 == 0 else (True, False)
        res = {}
        load = loadavg()
        for traced in order:
            res[traced] = one_run(args, pydir, trace_bin, traced, tmp)
        ratio = res[True]["cpu_s"] / res[False]["cpu_s"]
        ratios.append(ratio)
        print("repeat %d: untraced cpu %.2f s, traced cpu %.2f s (written_scan %s, "
              "full collections %d, minor faults %d -> %d, load %s): ratio %.2f"
              % (i + 1, res[False]["cpu_s"], res[True]["cpu_s"],
                 "on" if res[True]["written_scan"] else "off", res[True]["full_collections"],
                 res[False]["minflt"], res[True]["minflt"], load, ratio), flush=True)
        i += 1
        if i == 3 and repeats == 3 and min(ratios) <= args.limit < max(ratios):
            print("the first 3 ratios straddle the limit: 2 more repeats", flush=True)
            repeats = 5
    median = statistics.median(ratios)
    print("median ratio traced/untraced %.2f over %d repeats (limit %.2f)"
          % (median, len(ratios), args.limit), flush=True)
    if median > args.limit:
        raise Failure("tracing at the defaults costs %.2fx the program's CPU time, over the "
                      "%.2fx limit" % (median, args.limit))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build", help="the build directory (default build)")
    ap.add_argument("--python", default="/usr/bin/python3")
    ap.add_argument("--limit", type=float, default=1.5,
                    help="largest median CPU ratio traced/untraced that passes (default 1.5)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=20, help="workload size (default 20)")
    ap.add_argument("--run-timeout", type=float, default=120.0)
    ap.add_argument("--trace-arg", action="append", default=[],
                    help="an extra mtp-trace argument (demonstration only)")
    args = ap.parse_args()
    build = args.build if os.path.isabs(args.build) else os.path.join(ROOT, args.build)
    name = "cost tripwire (median CPU ratio traced/untraced <= %.2f)" % args.limit
    if args.trace_arg:
        name += " with mtp-trace %s" % " ".join(args.trace_arg)
    ok = False
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    tmp = tempfile.mkdtemp(prefix="mtp-tripwire-")
    try:
        if os.geteuid() != 0:
            raise Failure("needs root (BPF and uprobes)")
        trace_bin = os.path.join(build, "mtp-trace")
        if not os.access(trace_bin, os.X_OK):
            raise Failure("no %s: build first (make all)" % trace_bin)
        made = subprocess.run(["make", "-s", "-C", ROOT, "pyext-dir", "PYTHON=" + args.python,
                               "BUILD=" + build], capture_output=True, text=True, timeout=60)
        pydir = made.stdout.strip()
        pydir = pydir if os.path.isabs(pydir) else os.path.join(ROOT, pydir)
        if made.returncode != 0 or not os.path.isdir(pydir) or not any(
                f.startswith("mtp") and f.endswith(".so") for f in os.listdir(pydir)):
            raise Failure("no extension in %r: build first (make all)" % pydir)
        tripwire(args, pydir, trace_bin, tmp)
        ok = True
        print("ok   %s" % name, flush=True)
    except (Failure, Interrupted) as e:
        print("FAIL %s: %s" % (name, e), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (ok, not ok), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
