#!/usr/bin/python3
"""mtp benchmarks (not tests): what mtp costs Python programs and a web service.

  suite   nine workloads (tools/bench/*.py; see WORKLOADS), each timing itself
          after a ready/go handshake on stdin, in five configurations: (a) no
          mtp, (b) `import mtp` with no tracer, (c) `mtp-trace --pid PID --json`
          at its defaults, (d) the same with --dry-run, (e) with
          --no-written-scan.  Wall and CPU ratios b/a, c/b, d/b, e/b; minor
          faults; per-unit costs (ns per observed object, BPF ns per record,
          the loader's CPU per interval and per tracked page, the written-page
          scan's faults and cost).
  web     Flask under gunicorn (2 sync workers, 300k catalog entries each) on
          127.0.0.1, loaded by wrk: requests/s and p50/p99 latency in (a), (b),
          (c) and (e), one mtp-trace per worker.
  scale   one observation's pause against the live heap size (observe_scale.py).
  churn   gc_churn's per-collection detail on every interpreter found (not in
          the default run: --only churn).

Every configuration runs in a fresh process; repeats are interleaved (a b c d
e, then e d c b a, ...); every ratio is taken against the baseline of the same
repeat, and tables show the median ratio with [min..max] over the repeats.
Run as root (mtp-trace loads BPF).  `make bench` runs this after building:

  /usr/bin/python3 tools/bench/run.py --build build [--quick] [--repeats N]
      [--only NAME[,NAME]] [--json FILE]
"""
import argparse
import ctypes
import datetime
import glob
import json
import math
import os
import platform
import queue
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.path.join(ROOT, "tools", "bench")
CONFIGS = ("a", "b", "c")
CONFIG_NAMES = {"a": "(a) no mtp", "b": "(b) import mtp", "c": "(c) + mtp-trace"}


class BenchError(Exception):
    pass


# ---------------------------------------------------------------- machine


def machine_info(pythons):
    model, family = "?", {}
    with open("/proc/cpuinfo") as f:
        for line in f:
            key, _, val = line.partition(":")
            key, val = key.strip(), val.strip()
            if key == "model name":
                model = val
            elif key in ("cpu family", "model", "stepping") and key not in family:
                family[key] = val
    if family:
        model += " (family %s model %s stepping %s)" % (
            family.get("cpu family", "?"), family.get("model", "?"), family.get("stepping", "?"))
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": model,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "pythons": ["%s (%s)" % (label, path) for label, path in pythons],
        "loadavg": open("/proc/loadavg").read().split()[:3],
        "source": source_state(),
    }


def source_state():
    """The commit measured, and whether the work tree had uncommitted changes."""
    def git(*a):
        r = subprocess.run(["git", "-C", ROOT] + list(a), capture_output=True, text=True)
        return r.stdout.strip() if r.returncode == 0 else ""
    head = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = [l[3:] for l in git("status", "--porcelain", "--untracked-files=no").splitlines()
             if l[3:].startswith(("pyext/", "bpf/", "include/", "user/"))]
    return "git %s%s" % (head, " + uncommitted changes to %s" % ", ".join(dirty)
                         if dirty else "")


def find_pythons(extra):
    """(label, path): Debian's python3, pyenv's newest 3.12 and 3.13, then --python ones."""
    found = []
    if os.access("/usr/bin/python3", os.X_OK):
        found.append(("debian " + py_version("/usr/bin/python3"), "/usr/bin/python3"))
    try:
        root = subprocess.run(["pyenv", "root"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        root = os.path.expanduser("~/.pyenv")
    for minor in (12, 13):
        dirs = sorted(glob.glob(os.path.join(root, "versions", "3.%d.*" % minor)))
        exes = [os.path.join(d, "bin", "python3.%d" % minor) for d in dirs]
        exes = [e for e in exes if os.access(e, os.X_OK)]
        if exes:
            found.append(("pyenv " + py_version(exes[-1]), exes[-1]))
    for path in extra:
        found.append(("%s %s" % (os.path.basename(path), py_version(path)), path))
    return found


def py_version(path):
    return subprocess.run([path, "-c", "import platform; print(platform.python_version())"],
                          capture_output=True, text=True, check=True).stdout.strip()


def build_extension(python, build):
    subprocess.run(["make", "-s", "-C", ROOT, "pyext", "PYTHON=" + python, "BUILD=" + build],
                   check=True, stdout=subprocess.DEVNULL)
    out = subprocess.run(["make", "-s", "-C", ROOT, "pyext-dir", "PYTHON=" + python,
                          "BUILD=" + build], check=True, capture_output=True, text=True)
    return os.path.join(ROOT, out.stdout.strip())


# ---------------------------------------------------------------- processes


class Lines:
    """Lines of a pipe, read by a thread, so every wait can time out."""

    def __init__(self, pipe):
        self.q = queue.Queue()
        self.all = []
        threading.Thread(target=self._pump, args=(pipe,), daemon=True).start()

    def _pump(self, pipe):
        for line in pipe:
            self.q.put(line)
        self.q.put(None)

    def get(self, timeout, what):
        try:
            line = self.q.get(timeout=timeout)
        except queue.Empty:
            raise BenchError("timed out after %.0f s waiting for %s" % (timeout, what))
        if line is None:
            self.q.put(None)
            raise BenchError("stream ended while waiting for %s" % what)
        self.all.append(line)
        return line.rstrip("\n")

    def expect(self, want, timeout, what):
        while True:
            line = self.get(timeout, what)
            if line == want:
                return


class Tracer:
    """build/mtp-trace --pid PID --json, attached and ready."""

    def __init__(self, trace_bin, pid, timeout=30.0, extra=()):
        self.pid = pid
        self.reports = []  # interval JSON objects taken by drain()
        self.proc = subprocess.Popen([trace_bin, "--pid", str(pid), "--json"] + list(extra),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.err = Lines(self.proc.stderr)
        self.out = Lines(self.proc.stdout)
        try:
            while "pinned at" not in self.err.get(timeout, "mtp-trace to attach"):
                pass
        except BenchError as e:
            self.kill()
            raise BenchError("%s; mtp-trace said: %s" % (e, "".join(self.err.all).strip()))

    def drain(self):
        """Take the interval reports printed so far (without waiting); the latest, or None."""
        while True:
            try:
                line = self.out.q.get_nowait()
            except queue.Empty:
                break
            if line is None:
                self.out.q.put(None)
                break
            self.out.all.append(line)
            if line.startswith("{"):
                self.reports.append(json.loads(line))
        return self.reports[-1] if self.reports else None

    def cpu_s(self):
        """mtp-trace's own CPU time so far (utime + stime, /proc/PID/stat), or None."""
        return proc_cpu_s(self.proc.pid)

    def final(self, timeout=30.0):
        """Wait for mtp-trace to notice the target's exit; its final JSON object."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise BenchError("mtp-trace did not exit after its target did")
        last = None
        while True:
            try:
                line = self.out.get(5, "mtp-trace output")
            except BenchError:
                break
            if line.startswith("{"):
                last = json.loads(line)
        if self.proc.returncode != 0 or not last or not last.get("final"):
            raise BenchError("mtp-trace exited %s without a final report: %s"
                             % (self.proc.returncode, "".join(self.err.all).strip()))
        if last.get("bad_abi") or last.get("bad_reads"):
            raise BenchError("mtp-trace rejected %d batches (bad_abi %d, bad_reads %d): the "
                             "extension and mtp-trace were built from different sources; run "
                             "'make all PYTHON=/usr/bin/python3' and retry"
                             % (last.get("bad_abi", 0) + last.get("bad_reads", 0),
                                last.get("bad_abi", 0), last.get("bad_reads", 0)))
        return last

    def kill(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Script:
    """A benchmark script speaking the ready/answer protocol on stdin/stdout."""

    def __init__(self, python, script, args, pydir):
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        if pydir:
            env["PYTHONPATH"] = pydir
        env.pop("PYTHONSTARTUP", None)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        self.proc = subprocess.Popen([python, os.path.join(BENCH, script)] + list(args),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env)
        self.out = Lines(self.proc.stdout)
        self.err = Lines(self.proc.stderr)

    def expect(self, tag, timeout):
        try:
            self.out.expect(tag, timeout, "%r from the benchmark script" % tag)
        except BenchError as e:
            self.kill()
            time.sleep(0.1)
            raise BenchError("%s; it said: %s" % (e, "".join(self.err.all).strip()[-2000:]))

    def answer(self):
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def result(self, timeout):
        line = ""
        while not line.startswith("{"):
            try:
                line = self.out.get(timeout, "the benchmark's result")
            except BenchError as e:
                self.kill()
                raise BenchError("%s; it said: %s" % (e, "".join(self.err.all).strip()[-2000:]))
        return json.loads(line)

    def wait(self, timeout=60):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        self.proc.wait(timeout=timeout)
        if self.proc.returncode != 0:
            raise BenchError("benchmark script exited %s: %s"
                             % (self.proc.returncode, "".join(self.err.all).strip()[-2000:]))

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


# ---------------------------------------------------------------- BPF run time


class BpfStats:
    """Kernel BPF run-time accounting, on only while this object is open.

    BPF_ENABLE_STATS hands back a file descriptor; the kernel counts each
    program's run time until it is closed (it costs two clock reads per
    program run).  Counters are read with bpftool.
    """

    SYS_BPF = {"x86_64": 321, "aarch64": 280}
    BPF_ENABLE_STATS = 32

    def __init__(self):
        self.fd = -1
        nr = self.SYS_BPF.get(platform.machine())
        if nr is None:
            return
        libc = ctypes.CDLL(None, use_errno=True)
        attr = ctypes.create_string_buffer(8)  # enable_stats.type = BPF_STATS_RUN_TIME (0)
        self.fd = libc.syscall(ctypes.c_long(nr), ctypes.c_long(self.BPF_ENABLE_STATS), attr,
                               ctypes.c_uint(8))

    def close(self):
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    @staticmethod
    def read(target_pid):
        """{program name: (run_time_ns, run_cnt)} for the programs of the mtp-trace
        tracing target_pid: those using the page map it pinned for that pid."""
        pin = "/sys/fs/bpf/mtp/%d/pages" % target_pid
        out = subprocess.run(["bpftool", "-j", "map", "show", "pinned", pin],
                             capture_output=True, text=True)
        if out.returncode != 0:
            return {}
        map_id = json.loads(out.stdout).get("id")
        out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True)
        progs = {}
        if out.returncode != 0 or map_id is None:
            return progs
        for p in json.loads(out.stdout or "[]"):
            if p.get("name", "").startswith("handle_") and map_id in p.get("map_ids", []):
                progs[p["name"]] = (p.get("run_time_ns", 0), p.get("run_cnt", 0))
        return progs


# ---------------------------------------------------------------- benchmarks


def run_churn_once(cfg, python, pydir, trace_bin, args):
    argv = ["--heap", str(args.heap), "--rounds", str(args.rounds), "--collects",
            str(args.collects)]
    if cfg != "a":
        argv.append("--mtp")
    s = Script(python, "gc_churn.py", argv, pydir if cfg != "a" else None)
    tracer = None
    try:
        s.expect("ready", 120)
        if cfg == "c":
            tracer = Tracer(trace_bin, s.proc.pid)
        busy0 = busy_seconds()
        s.answer()
        res = s.result(600)
        busy = busy_seconds() - busy0
        s.wait()
        # CPU the rest of the machine used while this run was timed, in cores:
        # the measure of how noisy the neighbours were (mtp-trace counts too).
        phases = [res[k] for k in ("churn", "collect", "collect_cb") if k in res]
        res["others_cores"] = max(0.0, busy - sum(p["cpu_s"] for p in phases)) \
            / sum(p["wall_s"] for p in phases)
        if cfg == "c":
            res["trace"] = tracer.final()
            if not res["tracing"]:
                raise BenchError("mtp.tracing() was False with mtp-trace attached")
        elif res["tracing"]:
            raise BenchError("mtp.tracing() was True with no tracer: another tracer is attached?")
        return res
    finally:
        s.kill()
        if tracer:
            tracer.kill()


def busy_seconds():
    """CPU seconds the whole machine has spent busy (not idle or iowait) since boot."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(fields[:8]) - fields[3] - fields[4]) / hz


def bench_churn(pythons, pydirs, trace_bin, args, log):
    """{python label: {cfg: [result per repeat]}}, interleaved a b c / c b a."""
    results = {label: {c: [] for c in CONFIGS} for label, _ in pythons}
    for rep in range(args.repeats):
        order = CONFIGS if rep % 2 == 0 else tuple(reversed(CONFIGS))
        for label, python in pythons:
            for cfg in order:
                t0 = time.monotonic()
                res = run_churn_once(cfg, python, pydirs[label], trace_bin, args)
                results[label][cfg].append(res)
                log("churn rep %d/%d %-14s %s  churn %.3f s  collect %.3f s  (%.1f s)"
                    % (rep + 1, args.repeats, label, cfg, res["churn"]["wall_s"],
                       res["collect"]["wall_s"], time.monotonic() - t0))
    return results


SORT_C = r"""
/* Times the extension's snapshot sort, mtp_sort_seen() from pyext/mtp_snapshot.h
 * (compiled -O2, as the extension is), on mtp's side-table entries read from a
 * file in gc.get_objects() order, as the extension fills them.  Each sort is
 * timed as mtp_observe() does it: malloc the n-entry scratch buffer, sort,
 * free whichever buffer did not end up sorted.  Prints three medians, ns per
 * entry, over several sorts (about 20 million entries sorted in all, 5 to 51
 * sorts): that sort; the sort alone on a warm, preallocated scratch buffer;
 * and glibc qsort with the comparator the extension used before 1037356, for
 * reference.  Then "ok", or "MISMATCH" if the radix order differs from
 * qsort's (addresses are unique, so the two orders must be identical). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "mtp_snapshot.h"
static int cmp(const void *a, const void *b)
{
    uint64_t x = ((const mtp_seen *)a)->addr, y = ((const mtp_seen *)b)->addr;
    return (x > y) - (x < y);
}
static int dcmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}
static double median(double *ns, int reps)
{
    qsort(ns, (size_t)reps, sizeof(double), dcmp);
    return ns[reps / 2];
}
int main(int argc, char **argv)
{
    FILE *f = argc > 1 ? fopen(argv[1], "rb") : NULL;
    long n;
    size_t bytes;
    mtp_seen *src, *ref, *warm_tmp, *sorted = NULL;
    double ns[51], radix, warm, qs;
    int reps, same;
    if (!f || fseek(f, 0, SEEK_END) != 0)
        return 1;
    n = ftell(f) / (long)sizeof(mtp_seen);
    rewind(f);
    bytes = (size_t)(n > 0 ? n : 1) * sizeof(mtp_seen);
    src = malloc(bytes);
    ref = malloc(bytes);
    warm_tmp = malloc(bytes);
    if (n <= 0 || !src || !ref || !warm_tmp ||
        fread(src, sizeof(mtp_seen), (size_t)n, f) != (size_t)n)
        return 1;
    reps = (int)(20000000 / n);
    reps = reps < 5 ? 5 : reps > 51 ? 51 : reps;
    /* As the extension: cur is filled (untimed here), then tmp malloc'd, sort, free. */
    for (int r = 0; r < reps; r++) {
        mtp_seen *cur = malloc(bytes), *tmp;
        double t0;
        if (!cur)
            return 1;
        memcpy(cur, src, bytes);
        t0 = now_ns();
        tmp = malloc(bytes);
        if (!tmp)
            return 1;
        sorted = mtp_sort_seen(cur, tmp, (size_t)n);
        free(sorted == cur ? tmp : cur);
        ns[r] = (now_ns() - t0) / (double)n;
        if (r + 1 < reps)
            free(sorted);
    }
    radix = median(ns, reps);
    /* The sort alone, scratch buffer warm. */
    memset(warm_tmp, 0, bytes);
    for (int r = 0; r < reps; r++) {
        double t0;
        memcpy(ref, src, bytes);
        t0 = now_ns();
        mtp_sort_seen(ref, warm_tmp, (size_t)n);
        ns[r] = (now_ns() - t0) / (double)n;
    }
    warm = median(ns, reps);
    for (int r = 0; r < reps; r++) {
        double t0;
        memcpy(ref, src, bytes);
        t0 = now_ns();
        qsort(ref, (size_t)n, sizeof(mtp_seen), cmp);
        ns[r] = (now_ns() - t0) / (double)n;
    }
    qs = median(ns, reps);
    same = memcmp(sorted, ref, (size_t)n * sizeof(mtp_seen)) == 0;
    printf("%.2f %.2f %.2f %s\n", radix, warm, qs, same ? "ok" : "MISMATCH");
    return 0;
}
"""


class SortTimer:
    """The extension's radix sort (pyext/mtp_snapshot.h), timed on its own on a dumped
    side table; also glibc qsort on the same data, for reference."""

    def __init__(self, tmp):
        self.exe = os.path.join(tmp, "sort_cost")
        src = self.exe + ".c"
        with open(src, "w") as f:
            f.write(SORT_C)
        r = subprocess.run(["cc", "-std=gnu11", "-O2", "-I", os.path.join(ROOT, "pyext"),
                            "-o", self.exe, src], capture_output=True, text=True)
        if r.returncode != 0:
            raise BenchError("cannot build the sort timer against pyext/mtp_snapshot.h: %s"
                             % r.stderr.strip())

    def ns_per_entry(self, path):
        """{'radix': ns, 'radix_warm': ns, 'qsort': ns, 'same_order': bool}, or None."""
        r = subprocess.run([self.exe, path], capture_output=True, text=True)
        if r.returncode != 0:
            return None
        radix, warm, qs, verdict = r.stdout.split()
        return {"radix": float(radix), "radix_warm": float(warm), "qsort": float(qs),
                "same_order": verdict == "ok"}


def run_scale_once(python, pydir, trace_bin, heap, observations, sorter, tmp):
    dump = os.path.join(tmp, "side-table.bin")
    s = Script(python, "observe_scale.py",
               ["--heap", str(heap), "--observations", str(observations),
                "--dump-addresses", dump], pydir)
    tracer = None
    stats = BpfStats()
    try:
        s.expect("ready", 300)
        tracer = Tracer(trace_bin, s.proc.pid)
        s.answer()
        s.expect("first", 300)
        bpf0 = BpfStats.read(s.proc.pid)
        s.answer()
        s.expect("done", 600)
        res = s.result(60)
        bpf1 = BpfStats.read(s.proc.pid)
        s.answer()
        s.wait()
        res["trace"] = tracer.final()
        if stats.fd >= 0 and "handle_objects" in bpf0 and "handle_objects" in bpf1:
            res["bpf_objects_ns"] = bpf1["handle_objects"][0] - bpf0["handle_objects"][0]
            res["bpf_objects_runs"] = bpf1["handle_objects"][1] - bpf0["handle_objects"][1]
        res["sort_ns_per_object"] = sorter.ns_per_entry(dump)
        if res["sort_ns_per_object"] and not res["sort_ns_per_object"]["same_order"]:
            raise BenchError("mtp_sort_seen() and qsort sorted a %d-object side table "
                             "differently" % heap)
        return res
    finally:
        stats.close()
        s.kill()
        if tracer:
            tracer.kill()
        if os.path.exists(dump):
            os.unlink(dump)


def bench_scale(pythons, pydirs, trace_bin, args, log):
    results = {label: {} for label, _ in pythons}
    with tempfile.TemporaryDirectory(prefix="mtp-bench-") as tmp:
        sorter = SortTimer(tmp)
        for heap in args.sizes:
            for label, python in pythons:
                t0 = time.monotonic()
                res = run_scale_once(python, pydirs[label], trace_bin, heap, args.observations,
                                     sorter, tmp)
                results[label][heap] = res
                log("scale %-14s heap %9d  observe %.1f ms  (%.1f s)"
                    % (label, heap, med([r["observe_ns"] for r in res["rounds"]]) / 1e6,
                       time.monotonic() - t0))
    return results


# ---------------------------------------------------------------- the suite


# (a) to (e): what each configuration runs.  Only (a) goes without the extension.
SUITE_CONFIGS = ("a", "b", "c", "d", "e")
SUITE_NAMES = {"a": "(a) no mtp", "b": "(b) import mtp", "c": "(c) mtp-trace",
               "d": "(d) --dry-run", "e": "(e) --no-written-scan"}
TRACE_ARGS = {"c": [], "d": ["--dry-run"], "e": ["--no-written-scan"]}
# Ratios shown, each against the configuration named second, in the same repeat.
SUITE_RATIOS = (("b", "a"), ("c", "b"), ("d", "b"), ("e", "b"))
GOALS = {("b", "a"): "<= 1.005", ("c", "b"): "<= 1.05 (geomean <= 1.02)",
         ("d", "b"): "<= 1.05 (geomean <= 1.02)", ("e", "b"): "(diagnostic)"}


class Workload:
    """A script under tools/bench/ speaking harness.py's protocol (gc_churn.py its own)."""

    def __init__(self, name, script, argv, doc, quick=("--scale", "0.5")):
        self.name, self.script, self.argv, self.doc, self.quick = name, script, argv, doc, quick

    def args(self, quick):
        return list(self.argv) + (list(self.quick) if quick else [])


WORKLOADS = [
    Workload("gc_churn", "gc_churn.py", ["--rounds", "1500000", "--collects", "0"],
             "GC-heavy churn over a 200k-object heap (its churn phase)",
             quick=("--rounds", "750000")),
    Workload("alloc_heavy", "alloc_heavy.py", [],
             "dict/list churn, json round trips, linked __slots__ nodes; heap grows to ~100 MiB"),
    Workload("networkx", "networkx_algos.py", [],
             "BFS, shortest paths, components, cores on a 40k-node 200k-edge graph"),
    Workload("sqlalchemy", "sqlalchemy_orm.py", [],
             "ORM inserts (6k customers, 18k orders) into in-memory sqlite"),
    Workload("pickle", "pickle_trips.py", [], "pickle round trips of nested records"),
    Workload("numpy", "numpy_loop.py", [], "a Python loop over small numpy operations"),
    Workload("heap_1m", "big_heap.py", ["--objects", "1000000"],
             "1M long-lived objects, light mutation"),
    Workload("heap_5m", "big_heap.py", ["--objects", "5000000"],
             "5M long-lived objects, light mutation (--quick: 2M)",
             quick=("--scale", "0.5", "--objects", "2000000")),
    Workload("threads", "threads_queue.py", [],
             "2 producer + 2 consumer threads through queue.Queue"),
]
WORKLOAD_NAMES = [w.name for w in WORKLOADS]


def proc_cpu_s(pid):
    """CPU time of a process's live threads: the sum of /proc/PID/task/*/schedstat's
    on-CPU nanoseconds, or, without schedstat, utime + stime from /proc/PID/stat
    (which counts 10 ms ticks: too coarse for a few seconds of a tracer).  None if
    the process is gone."""
    try:
        total = 0
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[0])
        return total / 1e9
    except (OSError, IndexError, ValueError):
        pass
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def zombie(pid):
    """Whether pid has exited and waits to be reaped (state Z): its memory and sockets are gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return True


def proc_minflt(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rsplit(")", 1)[1].split()[7])
    except (OSError, IndexError, ValueError):
        return None


class BpfStatsSysctl:
    """kernel.bpf_stats_enabled=1 while open (programs' run_time_ns/run_cnt count;
    two clock reads per program run), restored to its old value on close."""

    PATH = "/proc/sys/kernel/bpf_stats_enabled"

    def __init__(self):
        self.old = None
        try:
            with open(self.PATH) as f:
                self.old = f.read().strip()
            with open(self.PATH, "w") as f:
                f.write("1")
        except OSError:
            self.old = None

    @property
    def on(self):
        return self.old is not None

    def close(self):
        if self.old is not None:
            try:
                with open(self.PATH, "w") as f:
                    f.write(self.old)
            finally:
                self.old = None


def bpf_delta(before, after):
    """{program: (ns, runs)} run between two BpfStats.read() snapshots."""
    return {k: (after[k][0] - before.get(k, (0, 0))[0], after[k][1] - before.get(k, (0, 0))[1])
            for k in after}


def flatten_churn(res):
    """gc_churn.py's result in harness.py's shape: its churn phase is the timed part."""
    ch = res["churn"]
    return {"workload": "gc_churn", "python": res["python"], "wall_s": ch["wall_s"],
            "cpu_s": ch["cpu_s"], "minflt": ch.get("minflt"), "collections": ch["collections"],
            "tracing": res["tracing"], "mtp": ch["mtp"], "mtp_end": res.get("mtp_stats"),
            "info": {"live_objects": res.get("live_objects")}}


def run_workload_once(wl, cfg, python, pydir, trace_bin, args):
    """One fresh process of a workload in one configuration: its result, with the
    tracer's numbers (config c/d/e) under "trace", "loader" and "bpf"."""
    argv = wl.args(args.quick) + (["--mtp"] if cfg != "a" else [])
    s = Script(python, wl.script, argv, pydir if cfg != "a" else None)
    tracer = None
    try:
        s.expect("ready", 300)
        if cfg in TRACE_ARGS:
            tracer = Tracer(trace_bin, s.proc.pid, extra=TRACE_ARGS[cfg])
            rep0 = tracer.drain()
            bpf0 = BpfStats.read(s.proc.pid)
            cpu0 = tracer.cpu_s()
            t0 = time.monotonic()
        busy0 = busy_seconds()
        s.answer()
        res = s.result(900)
        busy = busy_seconds() - busy0
        if tracer:
            cpu1 = tracer.cpu_s()
            t1 = time.monotonic()
            bpf1 = BpfStats.read(s.proc.pid)
            rep1 = tracer.drain()
        s.wait()
        if wl.script == "gc_churn.py":
            res = flatten_churn(res)
        res["others_cores"] = max(0.0, busy - res["cpu_s"]) / res["wall_s"]
        if tracer:
            res["trace"] = tracer.final()
            res["bpf"] = bpf_delta(bpf0, bpf1)
            res["loader"] = {
                "cpu_s": None if cpu0 is None or cpu1 is None else cpu1 - cpu0,
                "seconds": t1 - t0,
                "intervals": (rep1 or {}).get("interval", 0) - (rep0 or {}).get("interval", 0),
                # the map as it ends: the latest interval report lags by up to 1 s
                "pages_tracked": max((rep1 or {}).get("pages_tracked", 0),
                                     res["trace"].get("pages_tracked", 0)),
            }
            if not res["tracing"]:
                raise BenchError("%s: mtp.tracing() was False with mtp-trace attached" % wl.name)
        elif res["tracing"]:
            raise BenchError("%s: mtp.tracing() was True with no tracer: another tracer "
                             "is attached?" % wl.name)
        return res
    finally:
        s.kill()
        if tracer:
            tracer.kill()


def bench_suite(names, python, pydir, trace_bin, args, log):
    """{workload: {cfg: [result per repeat]}}.  Every repeat runs every workload, each
    in a b c d e (even repeats) or e d c b a (odd repeats), one fresh process each."""
    wls = [w for w in WORKLOADS if w.name in names]
    results = {w.name: {c: [] for c in SUITE_CONFIGS} for w in wls}
    for rep in range(args.repeats):
        order = SUITE_CONFIGS if rep % 2 == 0 else tuple(reversed(SUITE_CONFIGS))
        for wl in wls:
            for cfg in order:
                t0 = time.monotonic()
                res = run_workload_once(wl, cfg, python, pydir, trace_bin, args)
                results[wl.name][cfg].append(res)
                log("rep %d/%d %-11s %s  wall %.3f s  cpu %.3f s  minflt %7d  (%.1f s)"
                    % (rep + 1, args.repeats, wl.name, cfg, res["wall_s"], res["cpu_s"],
                       res["minflt"] or 0, time.monotonic() - t0))
    return results


# ---------------------------------------------------------------- the web service


WEB_CONFIGS = ("a", "b", "c", "e")


def free_port():
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as so:
        so.bind(("127.0.0.1", 0))
        return so.getsockname()[1]


def port_open(port):
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as so:
        so.settimeout(1)
        return so.connect_ex(("127.0.0.1", port)) == 0


def children(pid):
    """Direct children of pid: /proc/PID/task/*/children, else a scan of /proc."""
    kids = set()
    try:
        for task in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, task)) as f:
                kids.update(int(x) for x in f.read().split())
        return sorted(kids)
    except OSError:
        pass
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        kids.add(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return sorted(kids)


def parse_wrk(text):
    """requests/s, p50/p90/p99 in ms, requests, errors from `wrk --latency` output."""
    import re
    unit = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}
    out = {"errors": 0}
    for line in text.splitlines():
        m = re.match(r"\s*(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$", line)
        if m:
            out["p%s_ms" % m.group(1)] = float(m.group(2)) * unit[m.group(3)]
        m = re.match(r"\s*Requests/sec:\s+([\d.]+)", line)
        if m:
            out["rps"] = float(m.group(1))
        m = re.match(r"\s*(\d+) requests in", line)
        if m:
            out["requests"] = int(m.group(1))
        m = re.match(r"\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                     line)
        if m:
            out["errors"] += sum(int(x) for x in m.groups())
        m = re.match(r"\s*Non-2xx or 3xx responses: (\d+)", line)
        if m:
            out["errors"] += int(m.group(1))
    if "rps" not in out or "p99_ms" not in out:
        raise BenchError("cannot read wrk's output: %s" % text.strip()[-500:])
    return out


class Service:
    """gunicorn (the master in its own session) serving web_app.py on 127.0.0.1."""

    def __init__(self, python, pydir, cfg, args, tmp):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="web-", dir=tmp)
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        env.update({"PYTHONDONTWRITEBYTECODE": "1", "MTP_BENCH_DIR": self.dir,
                    "MTP_BENCH_ITEMS": str(args.web_items),
                    "MTP_BENCH_MTP": "1" if cfg != "a" else "0"})
        if cfg != "a":
            env["PYTHONPATH"] = pydir
        self.log = open(os.path.join(self.dir, "gunicorn.log"), "w+")
        self.proc = subprocess.Popen(
            [python, "-m", "gunicorn", "-c", os.path.join(BENCH, "web_gunicorn.py"),
             "-w", str(args.web_workers), "-b", "127.0.0.1:%d" % self.port, "--chdir", BENCH,
             "web_app:app"], cwd=BENCH, env=env, stdin=subprocess.DEVNULL,
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.workers = []

    def said(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read().strip()[-2000:]

    def wait_ready(self, n, timeout=180):
        """The n workers, once each has built its catalog (its ready.PID file)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise BenchError("gunicorn exited %s: %s" % (self.proc.returncode, self.said()))
            kids = children(self.proc.pid)
            ready = {int(f.split(".")[1]) for f in os.listdir(self.dir) if f.startswith("ready.")}
            if len(kids) == n and set(kids) <= ready and port_open(self.port):
                self.workers = kids
                return kids
            time.sleep(0.2)
        raise BenchError("gunicorn's %d workers not ready after %d s: %s"
                         % (n, timeout, self.said()))

    def stop(self):
        """SIGTERM to the master (graceful: the workers write their stats and exit), then
        SIGKILL to the whole session if anything is left."""
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=20)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.kill()

    def kill(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        for pid in self.workers:  # a worker that left the group, if any
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if self.proc.poll() is None:
            self.proc.wait()
        # SIGKILL is asynchronous: wait until the workers are gone (their listening
        # socket goes with the last of them).
        end = time.monotonic() + 10
        while time.monotonic() < end and any(os.path.exists("/proc/%d" % p)
                                             and proc_cpu_s(p) is not None
                                             and not zombie(p) for p in self.workers):
            time.sleep(0.05)
        self.log.close()

    def worker_stats(self):
        out = {}
        for f in os.listdir(self.dir):
            if f.startswith("stats."):
                with open(os.path.join(self.dir, f)) as fh:
                    out[int(f.split(".")[1])] = json.load(fh)
        return out


def run_wrk(port, seconds, args):
    cmd = ["wrk", "-t1", "-c%d" % args.web_connections, "-d%ds" % seconds, "--latency",
           "--timeout", "5s", "http://127.0.0.1:%d/hot" % port]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30)
    except subprocess.TimeoutExpired:
        raise BenchError("wrk did not finish within %d s" % (seconds + 30))
    if r.returncode != 0:
        raise BenchError("wrk exited %d: %s" % (r.returncode, r.stderr.strip()))
    return parse_wrk(r.stdout)


def run_web_once(cfg, python, pydir, trace_bin, args, tmp):
    svc = Service(python, pydir, cfg, args, tmp)
    tracers = []
    try:
        workers = svc.wait_ready(args.web_workers)
        for w in workers:
            if cfg in TRACE_ARGS:
                tracers.append(Tracer(trace_bin, w, extra=TRACE_ARGS[cfg]))
        run_wrk(svc.port, args.web_warmup, args)  # warm-up: first requests, imports, caches
        rep0 = [t.drain() or {} for t in tracers]
        bpf0 = [BpfStats.read(w) for w in workers] if tracers else []
        tcpu0 = [t.cpu_s() for t in tracers]
        wcpu0 = [proc_cpu_s(w) for w in workers]
        wflt0 = [proc_minflt(w) for w in workers]
        busy0, t0 = busy_seconds(), time.monotonic()
        kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        res = run_wrk(svc.port, args.web_seconds, args)
        kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        busy, t1 = busy_seconds() - busy0, time.monotonic()
        wcpu = sum(proc_cpu_s(w) - c for w, c in zip(workers, wcpu0))
        res["worker_cpu_s"] = wcpu
        res["worker_minflt"] = sum(proc_minflt(w) - f for w, f in zip(workers, wflt0))
        res["seconds"] = t1 - t0
        res["busy_cores"] = busy / (t1 - t0)
        res["wrk_cpu_s"] = (kids1.ru_utime + kids1.ru_stime) - (kids0.ru_utime + kids0.ru_stime)
        if tracers:
            rep1 = [t.drain() or {} for t in tracers]
            res["bpf"] = [bpf_delta(b0, BpfStats.read(w)) for b0, w in zip(bpf0, workers)]
            res["loader"] = {
                "cpu_s": sum((t.cpu_s() or 0) - (c or 0) for t, c in zip(tracers, tcpu0)),
                "seconds": t1 - t0,
                "intervals": min(r1.get("interval", 0) - r0.get("interval", 0)
                                 for r0, r1 in zip(rep0, rep1)),
                "pages_tracked": sum(r.get("pages_tracked", 0) for r in rep1),
                "records": sum(r1.get("records", 0) - r0.get("records", 0)
                               for r0, r1 in zip(rep0, rep1)),
                "tracers": len(tracers),
            }
        res["others_cores"] = max(0.0, busy - wcpu - res["wrk_cpu_s"]
                                  - (res["loader"]["cpu_s"] if tracers else 0)) / (t1 - t0)
        svc.stop()
        if tracers:
            res["trace"] = [t.final() for t in tracers]
        res["mtp_end"] = list(svc.worker_stats().values())
        return res
    finally:
        svc.kill()
        for t in tracers:
            t.kill()
        end = time.monotonic() + 5
        while port_open(svc.port) and time.monotonic() < end:
            time.sleep(0.1)
        if port_open(svc.port):
            msg = "something still listens on 127.0.0.1:%d after the run" % svc.port
            if sys.exc_info()[0] is None:
                raise BenchError(msg)
            print("run.py: " + msg, file=sys.stderr)


def bench_web(python, pydir, trace_bin, args, log):
    results = {c: [] for c in WEB_CONFIGS}
    with tempfile.TemporaryDirectory(prefix="mtp-bench-web-") as tmp:
        for rep in range(args.web_repeats):
            order = WEB_CONFIGS if rep % 2 == 0 else tuple(reversed(WEB_CONFIGS))
            for cfg in order:
                t0 = time.monotonic()
                res = run_web_once(cfg, python, pydir, trace_bin, args, tmp)
                results[cfg].append(res)
                log("web rep %d/%d %s  %.0f req/s  p50 %.2f ms  p99 %.2f ms  (%.1f s)"
                    % (rep + 1, args.web_repeats, cfg, res["rps"], res["p50_ms"],
                       res["p99_ms"], time.monotonic() - t0))
    return results


# ---------------------------------------------------------------- tables


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def table(headers, rows, title, left=1):
    """A markdown table, columns padded so it also reads well in a terminal; the first
    `left` columns are text (left-aligned), the rest numbers (right-aligned)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def fmt(r):
        return "| " + " | ".join(c.rjust(w) if i >= left else c.ljust(w)
                                 for i, (c, w) in enumerate(zip(r, widths))) + " |"
    lines = [title, "", fmt(cells[0]),
             "|" + "|".join(("-" * (w + 1) + ":") if i >= left else ("-" * (w + 2))
                            for i, w in enumerate(widths)) + "|"]
    lines += [fmt(r) for r in cells[1:]]
    return "\n".join(lines)


def spread(xs, fmt):
    return "%s [%s..%s]" % (fmt % med(xs), fmt % min(xs), fmt % max(xs))


def paired(runs, base, fn):
    """fn(run, baseline run) for each repeat, paired with (a) of the same repeat."""
    return [fn(r, b) for r, b in zip(runs, base)]


def churn_tables(results, args):
    out = []
    rows = []
    for label, per in results.items():
        a = per["a"]
        for cfg in CONFIGS:
            runs = per[cfg]
            gcs = med([sum(r["churn"]["collections"]) for r in runs])
            row = [label if cfg == "a" else "", CONFIG_NAMES[cfg],
                   "%.3f" % med([r["churn"]["wall_s"] for r in runs]), "",
                   "%.3f" % med([r["churn"]["cpu_s"] for r in runs]), "", "%d" % gcs, "",
                   "%.0f" % (med([r["collect"]["wall_s"] for r in runs]) * 1e9 / args.collects),
                   "", "", "%.2f [%.2f]" % (med([r["others_cores"] for r in runs]),
                                        max(r["others_cores"] for r in runs))]
            if cfg != "a":
                row[3] = spread(paired(runs, a, lambda r, b: r["churn"]["wall_s"]
                                       / b["churn"]["wall_s"]), "%.3f")
                row[5] = spread(paired(runs, a, lambda r, b: r["churn"]["cpu_s"]
                                       / b["churn"]["cpu_s"]), "%.3f")
                row[7] = "%+.0f" % med(paired(
                    runs, a, lambda r, b: (r["churn"]["wall_s"] - b["churn"]["wall_s"]) * 1e9
                    / sum(r["churn"]["collections"])))
                row[9] = "%+.0f" % med(paired(
                    runs, a, lambda r, b: (r["collect"]["wall_s"] - b["collect"]["wall_s"])
                    * 1e9 / args.collects))
            if cfg == "b":
                row[10] = "%+.0f" % med([(b["collect_cb"]["wall_s"] - b["collect"]["wall_s"])
                                         * 1e9 / args.collects for b in a])
            rows.append(row)
    out.append(table(
        ["python", "config", "churn wall s", "wall ratio [min..max]", "churn CPU s",
         "CPU ratio [min..max]", "collections", "wall ns/collection added",
         "gc.collect(0) ns", "ns/collection added", "no-op C callback alone",
         "other load, cores [max]"],
        rows,
        "gc_churn: %d rounds over a heap of %d long-lived objects, then %d x gc.collect(0). "
        "%d repeats, interleaved; medians; each ratio is the median of per-repeat ratios "
        "against (a) of the same repeat, [min..max] over the repeats; 'other load' is the CPU "
        "the rest of the machine used meanwhile (mtp-trace included), a measure of the noise; "
        "'no-op C callback alone' is the gc.collect(0) loop in (a)'s process with {}.get in "
        "gc.callbacks: CPython's callback machinery, which any gc.callbacks user pays"
        % (args.rounds, args.heap, args.collects, args.repeats)))

    rows = []
    for label, per in results.items():
        c, a = per["c"], per["a"]
        st = [r["churn"]["mtp"] for r in c]
        ons = [x["observe_ns_total"] for x in st]
        seen = [x["objects_seen"] for x in st]
        recs = [x["records_fired"] for x in st]
        nobs = [x["observations"] for x in st]
        # Where (c) - (a) should go: the observations as mtp.stats() timed
        # them, plus each collection's callback (and the mtp:gc_done firing it
        # makes at most once a second), priced by the gc.collect(0) loop of
        # the same repeat.
        obs_share = paired(c, a, lambda r, b: r["churn"]["mtp"]["observe_ns_total"]
                           / (b["churn"]["wall_s"] * 1e9))
        gc_cost = paired(c, a, lambda r, b: (r["collect"]["wall_s"] - b["collect"]["wall_s"])
                         * 1e9 / args.collects)
        gc_share = [g * sum(r["churn"]["collections"]) / (b["churn"]["wall_s"] * 1e9)
                    for g, r, b in zip(gc_cost, c, a)]
        tr = [r["trace"] for r in c]
        rows.append([
            label, "%d" % med([r["live_objects"] for r in c]), "%d" % med(nobs),
            "%.1f" % med([o / max(1, n) / 1e6 for o, n in zip(ons, nobs)]),
            "%.0f" % med([o / max(1, n) for o, n in zip(ons, seen)]),
            "%.0f" % med([o / max(1, n) for o, n in zip(ons, recs)]),
            "%.1f%%" % (100 * med(obs_share)), "%.0f" % med(gc_cost),
            "%.1f%%" % (100 * med(gc_share)),
            "%.3f" % (1 + med(obs_share) + med(gc_share)),
            "%.3f" % med(paired(c, a, lambda r, b: r["churn"]["wall_s"] / b["churn"]["wall_s"])),
            "%.3f" % med(paired(c, a, lambda r, b: r["churn"]["cpu_s"] / b["churn"]["cpu_s"])),
        ])
    out.append(table(
        ["python", "live objects", "observations", "ms/observation", "ns/object", "ns/record",
         "observing, % of (a)", "ns/collection with tracer", "collections, % of (a)",
         "expected c/a", "wall c/a", "CPU c/a"],
        rows,
        "(c) in detail, from mtp.stats() over the churn phase: 'expected' is 1 + the time "
        "mtp spent observing + collections x the ns each one costs with the tracer attached "
        "(the gc.collect(0) loop's (c)-(a)), both over (a)'s wall time; medians of %d"
        % args.repeats))

    rows = []
    # The written-page scan (mtp-trace after 1037356) reports two more fields.
    written = any("written_pages" in r["trace"] for per in results.values() for r in per["c"])
    for label, per in results.items():
        tr = [r["trace"] for r in per["c"]]
        rows.append([label] + ["%d" % med([t[k] for t in tr]) for k in
                               ("gcs", "events", "records", "pages_tracked", "dropped",
                                "bad_reads", "bad_abi")]
                    + ["%.1f" % med([t["observe_ms"] for t in tr]),
                       "%.1f" % med([t["gc_ms"] for t in tr])]
                    + (["%d" % med([t.get("written_pages", 0) for t in tr]),
                        "/".join(sorted({str(t.get("written_scan")) for t in tr}))]
                       if written else []))
    out.append(table(
        ["python", "gcs", "events", "records", "pages_tracked", "dropped", "bad_reads",
         "bad_abi", "observe_ms", "gc_ms"] + (["written_pages", "written_scan"] if written
                                              else []),
        rows,
        "(c): mtp-trace's final JSON (the whole traced part of the process: both phases; "
        "gcs, observe_ms and gc_ms come from the extension's gc_done probe, which carries totals "
        "since its last firing, at most once a second: the last second's are not reported); "
        "medians of %d"
        % args.repeats))
    return "\n\n".join(out)


def scale_tables(results, args):
    rows, parts = [], []
    for label, per in results.items():
        for heap, r in sorted(per.items()):
            rounds = r["rounds"]
            objs = med([x["objects"] for x in rounds])
            obs = med([x["observe_ns"] for x in rounds])
            full = med([x["full_collect_ns"] for x in rounds])
            rows.append([label, "%d" % objs, "%.1f" % (obs / 1e6), "%.0f" % (obs / objs),
                         "%.1f" % (r["first"]["observe_ns"] / 1e6), "%.1f" % (full / 1e6),
                         "%.2f" % med([x["observe_ns"] / x["full_collect_ns"] for x in rounds]),
                         "%.0f%%" % (100.0 * obs / (5e8 + obs)),
                         "%.1f" % (r["side_table_bytes"] / 2**20)])
            n = max(1, r["objects"])
            total = r["observe_ns_total"] / n
            get = med([x["get_objects_ns"] / x["objects"] for x in rounds])
            bpf = r.get("bpf_objects_ns")
            srt = (r.get("sort_ns_per_object") or {}).get("radix")
            f = lambda v: "n/a" if v is None else "%.0f" % v  # noqa: E731
            rest = None if bpf is None or srt is None else total - bpf / n - get - srt
            parts.append([label, "%d" % objs, "%.2f" % (r["records"] / n), f(get), f(srt),
                          f(rest), f(None if bpf is None else bpf / n),
                          f(None if bpf is None else bpf / max(1, r["records"])), f(total)])
    return "\n\n".join([
        table(["python", "live objects", "observe ms", "ns/object", "first observe ms",
               "full gc.collect() ms", "observe / full GC", "pause share at 0.5 s",
               "side table MiB"], rows,
              "observe_scale: one mtp.observe() with mtp-trace attached, median of %d (after a "
              "first one that fills the page map), interleaved with a full gc.collect() on the "
              "same heap; 'pause share' = pause / (0.5 s min_interval + pause), the share of a "
              "program that collects all the time" % args.observations),
        table(["python", "live objects", "records/object", "gc.get_objects()", "sort (radix)",
               "merge + records", "BPF fold", "BPF ns/record", "total"], parts,
              "observe_scale: where an observation's time goes, ns per object (steady-state "
              "rounds; BPF from the kernel's run-time stats of handle_objects; sort (radix) is "
              "mtp_sort_seen() from pyext/mtp_snapshot.h timed apart on the same side table, "
              "scratch malloc and free included as in the extension; merge + records is the "
              "rest)"),
        sort_reference(results),
    ])


def sort_reference(results):
    rows = []
    for label, per in results.items():
        for heap, r in sorted(per.items()):
            st = r.get("sort_ns_per_object")
            if not st:
                continue
            rows.append([label, "%d" % med([x["objects"] for x in r["rounds"]]),
                         "%.1f" % st["radix"], "%.1f" % st["radix_warm"], "%.1f" % st["qsort"],
                         "%.1f" % (st["qsort"] / st["radix"]) if st["radix"] else "n/a"])
    return table(["python", "live objects", "radix, as the extension", "radix, warm scratch",
                  "qsort (before 1037356)", "qsort / radix"], rows,
                 "observe_scale: the snapshot sort on its own, ns per object, on the same "
                 "dumped side table: mtp_sort_seen() with the extension's scratch malloc/free, "
                 "the same on a warm preallocated scratch buffer, and glibc qsort with the "
                 "extension's former comparator (orders checked identical)")


def geomean(xs):
    xs = [x for x in xs if x and x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else float("nan")


def ratios(per, num, den, key):
    """Per-repeat ratios num/den of key, paired within the same repeat."""
    return [r[key] / b[key] for r, b in zip(per[num], per[den]) if b[key]]


def na(v, fmt):
    return "n/a" if v is None else fmt % v


def suite_tables(results, args):
    out = []
    note = ("%d repeats, interleaved (a b c d e, then e d c b a, ...), each configuration in a "
            "fresh process; ratios are medians of per-repeat ratios against the named "
            "configuration of the same repeat, [min..max] over the repeats; geomean over the "
            "workloads' median ratios" % args.repeats) + ("; --quick: sizes halved, "
                                                          "1 repeat is no median" if args.quick
                                                          else "")
    rows = []
    for wl in WORKLOADS:
        if wl.name not in results:
            continue
        per = results[wl.name]
        a = per["a"]
        rows.append([wl.name, wl.doc, "%.2f" % med([r["wall_s"] for r in a]),
                     "%d" % med([sum(r["collections"]) for r in a]),
                     "%.0f" % med([r.get("maxrss_kib", 0) / 1024 for r in a])
                     if "maxrss_kib" in a[0] else "n/a",
                     " ".join(wl.args(args.quick)) or "-"])
    out.append(table(["workload", "what", "(a) timed wall s", "(a) collections",
                      "(a) max RSS MiB", "script options"], rows, left=2,
                     title="Workloads (Debian /usr/bin/python3; each times itself after the ready/go "
                     "handshake, so the tracer is attached before the timed part)"))
    for key, what in (("wall_s", "wall time"), ("cpu_s", "CPU time (the process's own, "
                                                         "time.process_time)")):
        rows, meds = [], {rt: [] for rt in SUITE_RATIOS}
        for name, per in results.items():
            row = [name, "%.3f" % med([r[key] for r in per["a"]])]
            for rt in SUITE_RATIOS:
                xs = ratios(per, rt[0], rt[1], key)
                meds[rt].append(med(xs))
                row.append(spread(xs, "%.3f"))
            row.append("%.2f [%.2f]" % (med([r["others_cores"] for c in SUITE_CONFIGS
                                             for r in per[c]]),
                                        max(r["others_cores"] for c in SUITE_CONFIGS
                                            for r in per[c])))
            rows.append(row)
        rows.append(["**geomean**", ""] + ["**%.3f**" % geomean(meds[rt]) for rt in SUITE_RATIOS]
                    + [""])
        rows.append(["goal", ""] + [GOALS[rt] for rt in SUITE_RATIOS] + [""])
        out.append(table(["workload", "(a) %s s" % key[:-2].replace("_", " "), "b/a", "c/b",
                          "d/b", "e/b", "other load, cores [max]"], rows,
                         "Suite, %s: %s" % (what, note)))
    rows = []
    for name, per in results.items():
        row = [name, "%d" % med([sum(r["collections"]) for r in per["b"]])]
        for c in SUITE_CONFIGS:
            row.append("%.1f" % (med([r["minflt"] or 0 for r in per[c]]) / 1e3))
        for rt in (("c", "b"), ("e", "b")):
            row.append(spread(ratios(per, rt[0], rt[1], "minflt"), "%.2f"))
        rows.append(row)
    out.append(table(["workload", "(b) collections"] + ["%s minflt k" % c for c in SUITE_CONFIGS]
                     + ["minflt c/b", "minflt e/b"], rows,
                     "Suite, the process's minor page faults in the timed part (getrusage "
                     "ru_minflt, thousands; medians), and their per-repeat ratios"))
    return "\n\n".join(out)


def unit_row(name, cfg, runs):
    """One row of the per-unit table from the runs of one traced configuration."""
    def m(fn):
        xs = [v for v in (fn(r) for r in runs) if v is not None]
        return med(xs) if xs else None

    def st(r, k):
        return (r.get("mtp") or {}).get(k)

    def end(r, k):
        return (r.get("mtp_end") or {}).get(k)

    def bpf_ns(r, prog=None):
        b = r.get("bpf") or {}
        if not b:
            return None
        return b.get(prog, (0, 0))[0] if prog else sum(v[0] for v in b.values())

    def loader_ms(r):
        lo = r.get("loader") or {}
        # per report printed in the window; a timed part shorter than an interval
        # may see none, and then the loader did no interval's work in it: n/a
        if lo.get("cpu_s") is None or not lo.get("intervals"):
            return None
        return lo["cpu_s"] / lo["intervals"] * 1e3

    def scan_state(r):
        return end(r, "written_scan_state")

    states = sorted({str(scan_state(r)) for r in runs if scan_state(r) is not None})
    ns_obj = m(lambda r: st(r, "observe_ns_total") / st(r, "objects_seen")
               if st(r, "objects_seen") else None)
    return [name, SUITE_NAMES[cfg],
            na(ns_obj, "%.0f"),
            na(m(lambda r: 100.0 * st(r, "observe_ns_total") / (r["wall_s"] * 1e9)
                 if st(r, "observe_ns_total") is not None else None), "%.1f%%"),
            na(m(lambda r: end(r, "observe_ns_max") and end(r, "observe_ns_max") / 1e6),
               "%.1f"),
            na(m(lambda r: end(r, "step_ns_p99") and end(r, "step_ns_p99") / 1e6), "%.2f"),
            na(m(lambda r: bpf_ns(r, "handle_objects") / st(r, "records_fired")
                 if bpf_ns(r) is not None and st(r, "records_fired") else None), "%.0f"),
            na(m(lambda r: 100.0 * bpf_ns(r) / (r.get("bpf_wall_s", r["wall_s"]) * 1e9)
                 if bpf_ns(r) is not None else None), "%.2f%%"),
            na(m(loader_ms), "%.1f"),
            na(m(lambda r: (r.get("loader") or {}).get("pages_tracked")), "%d"),
            na(m(lambda r: loader_ms(r) * 1e6 / r["loader"]["pages_tracked"]
                 if loader_ms(r) is not None and r["loader"].get("pages_tracked") else None),
               "%.0f"),
            na(m(lambda r: (r.get("trace") or {}).get("written_pages")), "%d"),
            na(m(lambda r: st(r, "written_scan_faults") / r["wall_s"]
                 if st(r, "written_scan_faults") is not None else None), "%.0f"),
            na(m(lambda r: 100.0 * st(r, "written_scan_cost_ns") / (r["wall_s"] * 1e9)
                 if st(r, "written_scan_cost_ns") is not None else None), "%.2f%%"),
            "/".join(states) if states else "n/a"]


UNIT_HEADERS = ["workload", "config", "ns/object observed", "observing % of wall",
                "observe max ms", "step p99 ms", "BPF ns/record", "BPF % of wall",
                "loader CPU ms/interval", "pages tracked", "loader ns/page/interval",
                "written pages", "scan faults/s", "scan cost % of wall", "scan state"]


def unit_table(suite, web):
    rows = []
    for name, per in (suite or {}).items():
        for cfg in ("c", "d", "e"):
            rows.append(unit_row(name, cfg, per[cfg]))
    for cfg in ("c", "e"):
        if web and web.get(cfg):
            rows.append(unit_row("web (%d workers)" % len(web[cfg][0]["mtp_end"] or [0]), cfg,
                                 [web_as_run(r) for r in web[cfg]]))
    return table(
        UNIT_HEADERS, rows, left=2, title=
        "Per unit, traced configurations (medians over the repeats; the timed part; n/a: "
        "the extension or kernel does not report it).  ns/object observed = mtp.stats() "
        "observe_ns_total / objects_seen; observe max = observe_ns_max and step p99 = "
        "step_ns_p99 at the end; BPF = run_time_ns of the mtp programs (kernel."
        "bpf_stats_enabled=1 for the run), ns/record = handle_objects / records_fired, % of "
        "wall = all mtp programs; loader CPU = mtp-trace's CPU time (on-CPU ns from "
        "/proc/PID/task/*/schedstat; /proc/PID/stat's utime+stime count 10 ms ticks, too "
        "coarse here) over the timed part, per interval report printed in it (n/a: none), and "
        "per tracked page (pages in the map at the end); written pages = mtp-trace's final "
        "written_pages (whole traced life); "
        "scan faults/s = written_scan_faults, scan cost = written_scan_cost_ns, state = "
        "written_scan_state, from mtp.stats().  Web rows: all workers and tracers summed, "
        "over wrk's measured run; ns/object and scan from the workers' stats at exit (whole "
        "traced life)")


def web_as_run(r):
    """A web run in the shape unit_row() reads: workers' stats and tracers summed."""
    ends = r.get("mtp_end") or []
    tot = {}
    for e in ends:
        for k, v in e.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                tot[k] = tot.get(k, 0) + v
    for k in ("observe_ns_max", "step_ns_p99"):
        if any(k in e for e in ends):
            tot[k] = max(e.get(k, 0) for e in ends)
    states = [e["written_scan_state"] for e in ends if "written_scan_state" in e]
    end = dict(tot)
    if states:
        end["written_scan_state"] = "/".join(sorted(set(states)))
    bpf = {}
    for b in r.get("bpf") or []:
        for k, (ns, n) in b.items():
            x = bpf.get(k, (0, 0))
            bpf[k] = (x[0] + ns, x[1] + n)
    lo = dict(r.get("loader") or {})
    mtp = dict(tot)
    if "records" in lo:
        mtp["records_fired"] = lo["records"]
    # stats at exit cover the whole traced life: price them over it, not over wrk's run
    life = max(((t.get("elapsed_s") or 0) for t in r.get("trace") or []), default=0)
    n = max(1, len(ends))  # shares are per worker: over worker-seconds
    return {"wall_s": (life or r["seconds"]) * n, "bpf_wall_s": r["seconds"] * n,
            "mtp": mtp, "mtp_end": end,
            "bpf": bpf or None, "loader": lo,
            "trace": {"written_pages": sum(t.get("written_pages", 0)
                                           for t in r.get("trace") or [])}}


def web_table(results, args):
    rows = []
    meds = {}
    for cfg in WEB_CONFIGS:
        runs = results.get(cfg) or []
        if not runs:
            continue
        den = "a" if cfg == "b" else "b"
        row = [SUITE_NAMES[cfg]]
        for key, fmt in (("rps", "%.0f"), ("p50_ms", "%.2f"), ("p99_ms", "%.2f")):
            row.append(fmt % med([r[key] for r in runs]))
            if cfg == "a":
                row.append("")
            else:
                xs = ratios(results, cfg, den, key)
                meds[(cfg, key)] = med(xs)
                row.append("%s/%s %s" % (cfg, den, spread(xs, "%.3f")))
        row += ["%.2f" % med([r["worker_cpu_s"] * 1e6 / max(1, r["requests"]) for r in runs]),
                "%.2f" % med([r["worker_minflt"] / max(1, r["requests"]) for r in runs]),
                "%.2f" % med([r["busy_cores"] for r in runs]),
                "%.2f [%.2f]" % (med([r["others_cores"] for r in runs]),
                                 max(r["others_cores"] for r in runs))
                if all("others_cores" in r for r in runs) else "n/a",
                "%d" % sum(r["errors"] for r in runs)]
        rows.append(row)
    rows.append(["goal (c/b)", "", ">= 0.98", "", "", "", "<= 1.10", "", "", "", "", ""])
    return table(
        ["config", "requests/s", "ratio [min..max]", "p50 ms", "ratio", "p99 ms", "ratio",
         "worker CPU µs/request", "worker minflt/request", "machine busy, cores",
         "other load, cores [max]", "errors"],
        rows,
        "Web service: Flask (web_app.py) under gunicorn, %d sync workers of %d catalog "
        "entries each, on 127.0.0.1; `wrk -t1 -c%d -d%ds --latency` on /hot after a %d s "
        "warm-up; traced = one mtp-trace --pid per worker (c: defaults, e: "
        "--no-written-scan); %d repeats interleaved; medians, ratios per repeat against (a) "
        "for (b), against (b) for the others; worker CPU and faults from /proc over wrk's run; "
        "wrk shares the 2 cores with the workers; 'other load' is what the rest of the machine "
        "used meanwhile: busy less the workers, wrk and the tracers"
        % (args.web_workers, args.web_items, args.web_connections, args.web_seconds,
           args.web_warmup, args.web_repeats))


# ---------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.splitlines()[1:]))
    ap.add_argument("--build", default="build", help="build directory (holds mtp-trace)")
    ap.add_argument("--quick", action="store_true",
                    help="a smoke run (~3 min): 1 repeat, halved sizes, a short web run")
    ap.add_argument("--repeats", type=int,
                    help="repeats of every configuration (default: suite 3, web 3, churn 7; "
                    "--quick 1)")
    ap.add_argument("--only", metavar="NAME[,NAME]",
                    help="run only these: workload names (%s), 'suite' (all of them), 'web', "
                    "'scale', 'churn' (gc_churn's per-collection detail on every interpreter; "
                    "not in the default run)" % ", ".join(WORKLOAD_NAMES))
    ap.add_argument("--python", action="append", default=[],
                    help="also run churn and scale on this interpreter (repeatable)")
    ap.add_argument("--heap", type=int, help="churn: live objects kept by gc_churn "
                    "(default 200000)")
    ap.add_argument("--rounds", type=int, help="churn: gc_churn iterations (default 1000000)")
    ap.add_argument("--sizes", help="scale: heap sizes, comma-separated "
                    "(default 100000,1000000; --quick 100000)")
    ap.add_argument("--web-seconds", type=int, help="web: wrk's measured run (default 10)")
    ap.add_argument("--json", help="also write every raw result to this file")
    ap.add_argument("--from-json", metavar="FILE",
                    help="run nothing: print the tables of a run saved with --json")
    args = ap.parse_args()
    if args.from_json:
        with open(args.from_json) as f:
            raw = json.load(f)
        args = argparse.Namespace(**raw["args"])
        sections = []
        if raw.get("suite"):
            sections.append(suite_tables(raw["suite"], args))
        if raw.get("web"):
            sections.append(web_table(raw["web"], args))
        if raw.get("suite") or raw.get("web"):
            sections.append(unit_table(raw.get("suite"), raw.get("web")))
        if raw.get("churn"):
            args.repeats = len(next(iter(raw["churn"].values()))["a"])
            sections.append(churn_tables(raw["churn"], args))
        if raw.get("scale"):
            sections.append(scale_tables(raw["scale"], args))
        report(raw["machine"], sections, raw.get("command", "?") + "  (tables re-rendered "
               "from %s)" % os.path.basename(f.name), raw.get("total_s"))
        return

    known = set(WORKLOAD_NAMES) | {"suite", "web", "scale", "churn"}
    only = set((args.only or "suite,web,scale").split(","))
    if only - known:
        ap.error("--only: unknown %s (choose from %s)" % (", ".join(sorted(only - known)),
                                                         ", ".join(sorted(known))))
    names = [n for n in WORKLOAD_NAMES if n in only or "suite" in only]
    if args.repeats is not None and args.repeats < 1:
        ap.error("--repeats must be at least 1")
    churn_repeats = args.repeats or (3 if args.quick else 7)
    args.web_repeats = args.repeats or (1 if args.quick else 3)
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.heap = args.heap or 200000
    args.rounds = args.rounds or (500000 if args.quick else 1000000)
    args.collects = 20000 if args.quick else 50000
    args.observations = 3 if args.quick else 5
    args.sizes = [int(x) for x in (args.sizes or ("100000" if args.quick
                                                  else "100000,1000000")).split(",")]
    args.web_seconds = args.web_seconds or (4 if args.quick else 10)
    args.web_warmup = 1 if args.quick else 2
    args.web_items = 100000 if args.quick else 300000
    args.web_workers = 2
    args.web_connections = 8

    def log(msg):
        print("  " + msg, file=sys.stderr, flush=True)

    if os.geteuid() != 0:
        sys.exit("run.py: run as root: mtp-trace loads BPF programs")
    trace_bin = os.path.join(ROOT, args.build, "mtp-trace")
    if not os.access(trace_bin, os.X_OK):
        sys.exit("run.py: %s missing: run 'make all PYTHON=/usr/bin/python3' first" % trace_bin)
    if "web" in only:
        for tool in ("wrk",):
            if not any(os.access(os.path.join(d, tool), os.X_OK)
                       for d in os.environ.get("PATH", "/usr/bin").split(":")):
                sys.exit("run.py: %s missing: run tools/install-deps.sh (as root)" % tool)

    # A SIGTERM or SIGHUP unwinds like Ctrl-C, so every finally: below kills what it started.
    def stop(signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)

    debian = ("debian " + py_version("/usr/bin/python3"), "/usr/bin/python3")
    # churn and scale run on every interpreter found; --quick, and the suite and web
    # (their workloads need Debian's packages), on Debian's alone.
    pythons = find_pythons(args.python) if only & {"churn", "scale"} and not args.quick \
        else [debian]
    if not pythons:
        sys.exit("run.py: no interpreter found")
    t_start = time.monotonic()
    pydirs = {}
    for label, python in pythons + [debian]:
        if label not in pydirs:
            pydirs[label] = build_extension(python, args.build)
    info = machine_info(pythons)

    command = "/usr/bin/python3 tools/bench/run.py %s" % " ".join(sys.argv[1:])
    raw = {"machine": info, "command": command, "args": {k: v for k, v in vars(args).items()}}
    sections = []
    bpfstats = None
    suite = web = None
    try:
        if names or "web" in only:
            bpfstats = BpfStatsSysctl()
            if not bpfstats.on:
                log("cannot set kernel.bpf_stats_enabled: BPF columns will say n/a")
        if names:
            log("suite: %s; %d repeats x 5 configurations" % (", ".join(names), args.repeats))
            suite = bench_suite(names, debian[1], pydirs[debian[0]], trace_bin, args, log)
            raw["suite"] = suite
            sections.append(suite_tables(suite, args))
        if "web" in only:
            log("web: %d repeats x %d configurations, wrk %d s each"
                % (args.web_repeats, len(WEB_CONFIGS), args.web_seconds))
            web = bench_web(debian[1], pydirs[debian[0]], trace_bin, args, log)
            raw["web"] = web
            sections.append(web_table(web, args))
        if suite or web:
            sections.append(unit_table(suite, web))
        if bpfstats:
            bpfstats.close()
        if "churn" in only:
            args.repeats = churn_repeats
            log("gc_churn detail: %d repeats x %d interpreters x 3 configurations"
                % (args.repeats, len(pythons)))
            churn = bench_churn(pythons, pydirs, trace_bin, args, log)
            raw["churn"] = churn
            sections.append(churn_tables(churn, args))
        if "scale" in only:
            log("observe_scale: heaps %s" % ", ".join(str(s) for s in args.sizes))
            scale = bench_scale(pythons, pydirs, trace_bin, args, log)
            raw["scale"] = {k: {str(h): v for h, v in per.items()} for k, per in scale.items()}
            sections.append(scale_tables(scale, args))
    except BenchError as e:
        sys.exit("run.py: %s" % e)
    except KeyboardInterrupt as e:
        sys.exit("run.py: interrupted (%s); every process it started is stopped" % (e or "^C"))
    finally:
        if bpfstats:
            bpfstats.close()
        raw["total_s"] = time.monotonic() - t_start
        if args.json:
            with open(args.json, "w") as f:
                json.dump(raw, f, indent=1)
    report(info, sections, command, raw["total_s"])


def report(info, sections, command, total_s):
    print()
    print("mtp benchmarks, %s" % info["date"])
    print("machine: %s, %d cores, kernel %s, load average at start %s"
          % (info["cpu"], info["cores"], info["kernel"], " ".join(info["loadavg"])))
    print("pythons: %s" % "; ".join(info["pythons"]))
    print("source: %s" % info["source"])
    print("command: %s" % command)
    print()
    print("\n\n".join(sections))
    print()
    if total_s is not None:
        print("total %.0f s" % total_s)


if __name__ == "__main__":
    main()
