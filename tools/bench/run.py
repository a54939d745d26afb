#!/usr/bin/python3
"""mtp benchmarks (not tests): what mtp costs a GC-heavy Python program.

  1. gc_churn, (a) without mtp, (b) with `import mtp` and no tracer:
     wall time of the churn phase, and ns per collection added, from the
     churn phase and from a loop of gc.collect(0).
  2. gc_churn, (c) with `mtp-trace --pid PID --json` attached for the whole
     timed part: ratio c/a, and mtp's own numbers (mtp.stats(), the
     tracer's final JSON).
  3. observe_scale: one observation's pause against the live heap size,
     against gc.get_objects() and a full gc.collect() on the same heap,
     with the BPF programs' share (kernel BPF run-time stats).

Runs are interleaved (a b c, then c b a, ...), every ratio is taken against
the baseline of the same repeat, and tables show medians over the repeats.
Run as root (mtp-trace loads BPF).  `make bench` runs this after building:

  /usr/bin/python3 tools/bench/run.py --build build [--quick] [--repeats N]
"""
import argparse
import ctypes
import datetime
import glob
import json
import os
import platform
import queue
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

    def __init__(self, trace_bin, pid, timeout=30.0):
        self.proc = subprocess.Popen([trace_bin, "--pid", str(pid), "--json"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.err = Lines(self.proc.stderr)
        self.out = Lines(self.proc.stdout)
        try:
            while "pinned at" not in self.err.get(timeout, "mtp-trace to attach"):
                pass
        except BenchError as e:
            self.kill()
            raise BenchError("%s; mtp-trace said: %s" % (e, "".join(self.err.all).strip()))

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


# ---------------------------------------------------------------- tables


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def table(headers, rows, title):
    """A markdown table, columns padded so it also reads well in a terminal."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def fmt(r):
        return "| " + " | ".join(c.rjust(w) if i else c.ljust(w)
                                 for i, (c, w) in enumerate(zip(r, widths))) + " |"
    lines = [title, "", fmt(cells[0]),
             "|" + "|".join(("-" * (w + 1) + ":") if i else ("-" * (w + 2))
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


# ---------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.splitlines()[1:]))
    ap.add_argument("--build", default="build", help="build directory (holds mtp-trace)")
    ap.add_argument("--quick", action="store_true",
                    help="fewer rounds, repeats and sizes: a smoke run in under a minute")
    ap.add_argument("--repeats", type=int, help="repeats of each churn configuration "
                    "(default 7, --quick 3)")
    ap.add_argument("--only", choices=("churn", "scale"), help="run one benchmark")
    ap.add_argument("--python", action="append", default=[],
                    help="also benchmark this interpreter (repeatable)")
    ap.add_argument("--heap", type=int, help="live objects kept by gc_churn (default 200000)")
    ap.add_argument("--rounds", type=int, help="gc_churn iterations (default 1000000)")
    ap.add_argument("--sizes", help="observe_scale heap sizes, comma-separated "
                    "(default 100000,1000000,3000000)")
    ap.add_argument("--json", help="also write every raw result to this file")
    args = ap.parse_args()

    args.repeats = args.repeats or (3 if args.quick else 7)
    args.heap = args.heap or 200000
    args.rounds = args.rounds or (500000 if args.quick else 1000000)
    args.collects = 20000 if args.quick else 50000
    args.observations = 3 if args.quick else 5
    args.sizes = [int(x) for x in (args.sizes or
                                   ("100000,1000000" if args.quick
                                    else "100000,1000000,3000000")).split(",")]
    if args.repeats < 1:
        ap.error("--repeats must be at least 1")

    def log(msg):
        print("  " + msg, file=sys.stderr, flush=True)

    if os.geteuid() != 0:
        sys.exit("run.py: run as root: mtp-trace loads BPF programs")
    trace_bin = os.path.join(ROOT, args.build, "mtp-trace")
    if not os.access(trace_bin, os.X_OK):
        sys.exit("run.py: %s missing: run 'make all PYTHON=/usr/bin/python3' first" % trace_bin)

    pythons = find_pythons(args.python)
    if not pythons:
        sys.exit("run.py: no interpreter found")
    t_start = time.monotonic()
    pydirs = {}
    for label, python in pythons:
        pydirs[label] = build_extension(python, args.build)
    info = machine_info(pythons)

    raw = {"machine": info, "args": {k: v for k, v in vars(args).items()}}
    sections = []
    try:
        if args.only in (None, "churn"):
            log("gc_churn: %d repeats x %d interpreters x 3 configurations"
                % (args.repeats, len(pythons)))
            churn = bench_churn(pythons, pydirs, trace_bin, args, log)
            raw["churn"] = churn
            sections.append(churn_tables(churn, args))
        if args.only in (None, "scale"):
            log("observe_scale: heaps %s" % ", ".join(str(s) for s in args.sizes))
            scale = bench_scale(pythons, pydirs, trace_bin, args, log)
            raw["scale"] = {k: {str(h): v for h, v in per.items()} for k, per in scale.items()}
            sections.append(scale_tables(scale, args))
    except BenchError as e:
        sys.exit("run.py: %s" % e)
    finally:
        if args.json:
            with open(args.json, "w") as f:
                json.dump(raw, f, indent=1)

    print()
    print("mtp benchmarks, %s" % info["date"])
    print("machine: %s, %d cores, kernel %s, load average at start %s"
          % (info["cpu"], info["cores"], info["kernel"], " ".join(info["loadavg"])))
    print("pythons: %s" % "; ".join(info["pythons"]))
    print("source: %s" % info["source"])
    print("command: /usr/bin/python3 tools/bench/run.py %s" % " ".join(sys.argv[1:]))
    print()
    print("\n\n".join(sections))
    print()
    print("total %.0f s" % (time.monotonic() - t_start))


if __name__ == "__main__":
    main()
