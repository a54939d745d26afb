#!/usr/bin/python3
"""mtp evaluation: how well the page temperatures follow known hot sets, and
what observing costs the collector.

For each workload in tools/eval/workloads.py (uniform, zipf, phase change,
millions of small objects, large buffers, a networkx graph), with read-only
and reference-storing variants, this starts the workload, attaches
`mtp-trace --pid PID --interval 1s --json --no-migrate` (and, for the uniform
and zipf runs again, with --no-written-scan: reference counts alone), reads the pinned page
map after every interval report (bpf(2) batch reads, see bpfmap.py), and
scores the map against the workload's own ground truth (truth.json: the pages
its hot and cold objects occupy).

Scoring, per interval, over the pages that hold only hot or only cold objects
(pages holding both are left out; pages holding neither are counted apart):
  - mtp's hot set: pages whose heat, decayed to the interval's epoch, is >= 1,
    i.e. mtp-trace's own rule (--hot-threshold 1, its JSON `hot_pages`);
    a page absent from the map has heat 0;
  - precision, recall and F1 of that set against the ground-truth hot pages,
    averaged over the run's steady intervals (from the 3rd second of the
    workload's loop to its end, each against the phase then current);
  - for information, the best F1 over all thresholds (an oracle: the threshold
    is chosen with the answer) and ROC AUC of heat;
  - phase change: the first interval after the change at which recall on the
    new hot set >= 0.9 and precision >= 0.8 ("not reached" if none);
  - pause: mtp.stats() of the workload (observe_ns_total / observations, and
    observe time as a share of the loop's wall time) and mtp-trace's JSON
    (observe_ms, gc_ms, gcs).

With --softdirty (a kernel with CONFIG_MEM_SOFT_DIRTY: the two-tier guest,
`make vm-eval-softdirty`; not this host's), a ground truth independent of mtp
as well: the pages the kernel saw the workload write (tools/vm/softdirty.py),
in windows that end at each interval and are cleared after each of mtp's
observations, since an observation may write objects' headers (see
SoftDirtyWindows).  Extra columns: mtp's hot set against the written
pages, and how well the written pages match the workload's own ground truth.
Where the kernel has no soft-dirty they read "n/a (kernel has no soft-dirty)".

Writes build/eval/results.json and build/eval/table.md and prints the table.
Run as root: /usr/bin/python3 tools/eval/run.py --build build   (`make eval`)
"""
import argparse
import datetime
import json
import os
import platform
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tools", "vm"))
sys.path.insert(0, os.path.join(ROOT, "tools"))

try:
    import numpy as np
except ImportError:
    sys.exit("error: the harness needs numpy: apt-get install python3-numpy")
import bpfmap  # noqa: E402
import softdirty  # noqa: E402
from heat import HOT_SLACK  # noqa: E402

WORKLOADS_PY = os.path.join(HERE, "workloads.py")
PIN_ROOT = "/sys/fs/bpf/mtp"
WARMUP_S = 3.0  # seconds of the loop before intervals count as steady
FOLLOW_RECALL, FOLLOW_PRECISION = 0.9, 0.8
SD_POLL_S = 0.05  # --softdirty: how often the stats map is polled for observations
SD_MARGIN_S = 0.01  # an observation's span starts this much before its earliest possible start
SD_NA = "n/a (kernel has no soft-dirty)"

# (kind, variant, seconds of the workload's loop, mtp-trace's signals).  "rc"
# runs add --no-written-scan: reference-count snapshots alone, the signal that
# is blind to objects that are only read.
PLAN = [
    ("uniform", "read", 20, "rc+written"), ("uniform", "store", 20, "rc+written"),
    ("zipf", "read", 20, "rc+written"), ("zipf", "store", 20, "rc+written"),
    ("uniform", "read", 20, "rc"), ("uniform", "store", 20, "rc"),
    ("zipf", "read", 20, "rc"), ("zipf", "store", 20, "rc"),
    ("phase", "read", 40, "rc+written"), ("phase", "store", 40, "rc+written"),
    ("small", "store", 45, "rc+written"),
    ("buffers", "read", 15, "rc+written"), ("buffers", "write", 20, "rc+written"),
    ("graph", "mixed", 30, "rc+written"),
]
SIGNAL_ARGS = {"rc+written": [], "rc": ["--no-written-scan"]}


class EvalError(Exception):
    pass


# ------------------------------------------------------------------ helpers


def log(msg):
    print(msg, flush=True)


class LineReader:
    """Whole lines from a pipe, with a timeout, without stdio buffering surprises."""

    def __init__(self, f):
        self.fd = f.fileno()
        os.set_blocking(self.fd, False)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.fd, selectors.EVENT_READ)
        self.buf = b""
        self.eof = False

    def poll(self, timeout):
        if not self.eof and self.sel.select(timeout):
            while True:
                try:
                    chunk = os.read(self.fd, 1 << 16)
                except BlockingIOError:
                    break
                if not chunk:
                    self.eof = True
                    break
                self.buf += chunk
        *lines, self.buf = self.buf.split(b"\n")
        return [ln.decode() for ln in lines if ln.strip()]


def touch(path):
    open(path, "w").close()


def tail(path, n=1500):
    try:
        with open(path, errors="replace") as f:
            return f.read()[-n:].strip()
    except OSError:
        return ""


def remove_pins(pid):
    d = os.path.join(PIN_ROOT, str(pid))
    if os.path.isdir(d):
        for name in os.listdir(d):
            try:
                os.unlink(os.path.join(d, name))
            except OSError:
                pass
        try:
            os.rmdir(d)
        except OSError:
            pass


def stop(proc, sig=signal.SIGKILL, timeout=10):
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.send_signal(sig)
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def kernel_written_page_support():
    """Can the kernel tell which pages a process wrote (soft-dirty, idle pages)?"""
    ok, reason = softdirty.check()
    return {"idle_page_tracking": os.path.exists("/sys/kernel/mm/page_idle/bitmap"),
            "soft_dirty": ok, "soft_dirty_check": reason, "kernel": platform.release(),
            "thp": tail("/sys/kernel/mm/transparent_hugepage/enabled", 200)}


class SoftDirtyWindows:
    """The workload's soft-dirty pages (tools/vm/softdirty.py), a ground truth
    independent of mtp, in windows: each interval, right after the page map
    is read, the pages written since the last clear are read and cleared.

    mtp's own observation may write objects' headers (gc.get_objects() raises
    every reference count; a walk of the collector's lists does not), and
    soft-dirty cannot tell that write from the program's.  So the pinned stats map is
    polled every SD_POLL_S: when its observe_ns grows, an observation has just
    ended (mtp:gc_done fires right after it); it ended after the previous poll,
    so it started after that poll minus its duration: that span is noted, and
    the bits are read (an "observation" window, kept as evidence) and cleared,
    so the next interval window starts after it.  At scoring, a window that
    overlaps any observation's span is not clean.  Two kinds of pages read as
    written whatever happened, and are left out of a window's scores: those of
    mappings created or grown during it (smaps VmFlags sd), and those of
    transparent huge pages mapped whole, one bit for 512 pages."""

    def __init__(self, pid, stats_pin):
        self.pid = pid
        self.stats = bpfmap.PinnedStats(stats_pin)
        self.windows = []
        self.spans = []  # (lo, hi) monotonic: mtp observations
        self.t_clear = None
        self.last = None  # (t, stats)

    def start(self):
        self.last = (time.monotonic(), self.stats.read())
        self.t_clear = time.monotonic()
        softdirty.clear(self.pid)

    def _stats(self):
        """Reads the stats map; notes the span of an observation that ended since
        the previous read.  True if one did."""
        t = time.monotonic()
        st = self.stats.read()
        t_prev, prev = self.last
        self.last = (t, st)
        if st["observe_ns"] == prev["observe_ns"]:
            return False
        took = (st["observe_ns"] - prev["observe_ns"]) / 1e9
        self.spans.append((t_prev - took - SD_MARGIN_S, time.monotonic()))
        return True

    def poll(self):
        if self._stats():
            self.window("observation")

    def window(self, kind):
        """Reads and clears the bits; returns the window."""
        if kind == "interval":
            self._stats()  # an observation that just ended lies in this window
        t0 = time.monotonic()
        try:
            snap = softdirty.snapshot(self.pid)
            t1 = time.monotonic()
            softdirty.clear(self.pid)
        except OSError as e:
            raise EvalError("soft-dirty read of %d failed: %s" % (self.pid, e))
        w = {"kind": kind, "t": time.time(), "lo": self.t_clear, "hi": t1,
             "pages": snap.written, "flagged": snap.flagged, "huge": snap.huge,
             "anon_huge_kb": snap.anon_huge_kb,
             "heap_pages": sum(b - a for a, b in snap.ranges) >> 12,
             "read_ms": 1e3 * (time.monotonic() - t0)}
        self.t_clear = time.monotonic()
        self.windows.append(w)
        self._stats()  # one that ended during the read reaches into the next window
        return w

    def classify(self):
        for w in self.windows:
            w["clean"] = not any(lo < w["hi"] and w["lo"] < hi for lo, hi in self.spans)

    def close(self):
        self.stats.close()


# ------------------------------------------------------------------ one run


class Run:
    def __init__(self, args, kind, variant, seconds, signals):
        self.args, self.kind, self.variant, self.seconds = args, kind, variant, seconds
        self.signals = signals
        self.samples = []  # dicts: t, interval, keys, heat, last_epoch, written
        self.lines = []  # mtp-trace JSON objects
        self.truth = None
        self.done = None
        self.check = None
        self.stats_map = None
        self.tracer_err = ""
        self.harness_cpu_s = None
        self.sd = None  # SoftDirtyWindows with --softdirty

    def execute(self):
        cpu0 = time.process_time()
        try:
            self._execute()
        finally:
            self.harness_cpu_s = time.process_time() - cpu0

    def _execute(self):
        a = self.args
        tmp = tempfile.mkdtemp(prefix="mtp-eval-%s-%s-" % (self.kind, self.variant))
        out_path, err_path = os.path.join(tmp, "workload.out"), os.path.join(tmp, "workload.err")
        terr_path = os.path.join(tmp, "tracer.err")
        proc = tracer = pmap = None
        env = dict(os.environ, PYTHONPATH=a.pyext_dir)
        try:
            with open(out_path, "w") as wo, open(err_path, "w") as we:
                proc = subprocess.Popen(
                    [a.python, WORKLOADS_PY, self.kind, self.variant, "--seconds",
                     str(self.seconds * a.scale), "--ctl", tmp, "--seed", str(a.seed)],
                    env=env, stdout=wo, stderr=we)
            self.pid = proc.pid
            self._wait_file(os.path.join(tmp, "ready"), proc, err_path, 180, "build its objects")
            with open(os.path.join(tmp, "truth.json")) as f:
                self.truth = json.load(f)
            with open(terr_path, "w") as te:
                tracer = subprocess.Popen(
                    [a.trace, "--pid", str(proc.pid), "--interval", a.interval, "--json",
                     "--no-migrate"] + SIGNAL_ARGS[self.signals], stdout=subprocess.PIPE,
                    stderr=te)
            reader = LineReader(tracer.stdout)
            pin_dir = os.path.join(PIN_ROOT, str(proc.pid))
            deadline = time.monotonic() + 30
            while not os.path.exists(os.path.join(pin_dir, "pages")):
                if tracer.poll() is not None:
                    raise EvalError("mtp-trace exited %s before pinning its maps: %s"
                                    % (tracer.returncode, tail(terr_path)))
                if time.monotonic() > deadline:
                    raise EvalError("mtp-trace did not pin %s/pages in 30 s" % pin_dir)
                time.sleep(0.05)
            pmap = bpfmap.PinnedMap(os.path.join(pin_dir, "pages"))
            if a.softdirty_ok:
                self.sd = SoftDirtyWindows(proc.pid, os.path.join(pin_dir, "stats"))
                self.sd.start()
            touch(os.path.join(tmp, "start"))

            done_path = os.path.join(tmp, "done")
            limit = time.monotonic() + self.seconds * a.scale + 120
            while not os.path.exists(done_path):
                if proc.poll() is not None:
                    raise EvalError("workload exited %s during its loop: %s"
                                    % (proc.returncode, tail(err_path)))
                if tracer.poll() is not None:
                    raise EvalError("mtp-trace exited %s during the run: %s"
                                    % (tracer.returncode, tail(terr_path)))
                if time.monotonic() > limit:
                    raise EvalError("workload did not finish its loop in time")
                for line in reader.poll(SD_POLL_S if self.sd else 0.2):
                    self._line(line, pmap)
                if self.sd:
                    self.sd.poll()
            with open(done_path) as f:
                self.done = json.load(f)
            with open(os.path.join(tmp, "truth.json")) as f:  # with any later phases
                self.truth = json.load(f)
            if self.done.get("stats_error"):
                raise EvalError(self.done["stats_error"])
            if not self.done.get("tracing_at_start"):
                raise EvalError("mtp.tracing() was False when the loop started: "
                                "mtp-trace did not attach")
            # The loop is over and the workload idles (no collections, so no
            # observations): the map holds still for a cross-check with bpftool.
            for line in reader.poll(0):
                self._line(line, pmap)
            if self.sd:
                self.sd.poll()  # the last observation's span
                self.sd.classify()
                self.sd.close()
            self.check = bpfmap.check_against_bpftool(pmap)
            try:
                self.stats_map = bpfmap.bpftool_dump(os.path.join(pin_dir, "stats"))[0]["value"]
            except (bpfmap.MapError, IndexError, KeyError) as e:
                self.stats_map = {"error": str(e)}
            pmap.close()
            pmap = None
            tracer.send_signal(signal.SIGINT)
            end = time.monotonic() + 30
            while not reader.eof and time.monotonic() < end:
                for line in reader.poll(0.5):
                    self._line(line, None)
            tracer.wait(timeout=30)
            if tracer.returncode != 0:
                raise EvalError("mtp-trace exited %s on SIGINT: %s"
                                % (tracer.returncode, tail(terr_path)))
            if not self.lines or not self.lines[-1].get("final"):
                raise EvalError("mtp-trace printed no final JSON object")
            touch(os.path.join(tmp, "exit"))
            proc.wait(timeout=60)
            if proc.returncode != 0:
                raise EvalError("workload exited %s: %s" % (proc.returncode, tail(err_path)))
        finally:
            if pmap is not None:
                pmap.close()
            if self.sd is not None:
                self.sd.close()
            self.tracer_err = tail(terr_path, 4000)
            stop(tracer, signal.SIGINT)
            if proc is not None:
                stop(proc)
                remove_pins(proc.pid)
            if tracer is not None and tracer.stdout:
                tracer.stdout.close()
            if not a.keep_tmp:
                shutil.rmtree(tmp, ignore_errors=True)

    def _wait_file(self, path, proc, err_path, timeout, what):
        deadline = time.monotonic() + timeout
        while not os.path.exists(path):
            if proc.poll() is not None:
                raise EvalError("workload exited %s before it could %s: %s"
                                % (proc.returncode, what, tail(err_path)))
            if time.monotonic() > deadline:
                raise EvalError("workload did not %s in %d s" % (what, timeout))
            time.sleep(0.05)

    def _line(self, line, pmap):
        try:
            obj = json.loads(line)
        except ValueError:
            raise EvalError("mtp-trace printed a line that is not JSON: %r" % line[:200])
        self.lines.append(obj)
        if pmap is None or obj.get("final"):
            return
        t = time.time()
        keys, vals = pmap.read()
        names = vals.dtype.names
        opt = lambda name: vals[name].astype(np.uint64) if name in names else None  # noqa: E731
        self.samples.append({
            "t": t, "interval": obj["interval"], "keys": keys,
            "epoch": obj.get("epoch"), "period": opt("period"),
            "heat": vals["heat"].astype(np.uint64), "last_epoch": vals["last_epoch"].astype(np.int64),
            "written": opt("written"), "active": opt("active"),
            "hot_pages_json": obj.get("hot_pages"), "pages_json": obj.get("pages_tracked"),
            "sd": self.sd.window("interval") if self.sd else None})


# ------------------------------------------------------------------ scoring


def page_addrs(pages):
    return np.asarray(sorted(pages), dtype=np.uint64) << np.uint64(12)


class Labels:
    """A phase's ground truth as page addresses, shared pages left out."""

    def __init__(self, phase):
        hot, cold = set(phase["hot_pages"]), set(phase["cold_pages"])
        self.name, self.t = phase["name"], phase["t"]
        self.shared = len(hot & cold)
        self.hot = page_addrs(hot - cold)
        self.cold = page_addrs(cold - hot)
        self.hot_objects, self.cold_objects = phase["hot_objects"], phase["cold_objects"]
        self.hot_bytes, self.cold_bytes = phase["hot_bytes"], phase["cold_bytes"]
        self.parts = {k: page_addrs(set(v) - cold)
                      for k, v in phase.get("hot_parts", {}).items()}


def decayed(sample):
    """Heat as mtp-trace itself judges it (mtp_heat_now in user/lib/interval.c,
    tools/heat.py): halved once per page period, scaled down linearly in
    between, and zero once older than a period plus the slack."""
    epoch = sample.get("epoch")
    if epoch is None:  # an mtp-trace from before epochs were reported
        epoch = sample["interval"] - 1
    period = sample.get("period")
    if period is None:  # a page map from before periods: halved per epoch
        period = np.ones(len(sample["heat"]), dtype=np.int64)
    period = np.maximum(period.astype(np.int64), 1)
    age = np.maximum(epoch - sample["last_epoch"], 0)
    halvings = np.minimum(age // period, 63).astype(np.uint64)
    rest = (age % period).astype(np.uint64)
    heat = sample["heat"] >> halvings
    heat = heat - heat // (2 * period.astype(np.uint64)) * rest
    heat[age // period >= 64] = 0
    heat[age > period + HOT_SLACK] = 0
    return heat


def lookup(keys_sorted, heat_sorted, pages):
    if len(keys_sorted) == 0 or len(pages) == 0:
        return np.zeros(len(pages), dtype=np.uint64)
    idx = np.clip(np.searchsorted(keys_sorted, pages), 0, len(keys_sorted) - 1)
    found = keys_sorted[idx] == pages
    return np.where(found, heat_sorted[idx], 0).astype(np.uint64)


def prf(h_hot, h_cold, thr):
    tp = int((h_hot >= thr).sum())
    fp = int((h_cold >= thr).sum())
    recall = tp / len(h_hot) if len(h_hot) else None
    precision = tp / (tp + fp) if tp + fp else None
    f1 = (2 * tp / (2 * tp + fp + (len(h_hot) - tp))) if len(h_hot) else None
    return precision, recall, f1


def best_f1(h_hot, h_cold):
    """(F1, threshold) maximising F1 over thresholds >= 1."""
    vals = np.concatenate([h_hot, h_cold])
    pos = np.concatenate([np.ones(len(h_hot), np.int64), np.zeros(len(h_cold), np.int64)])
    keep = vals >= 1
    vals, pos = vals[keep], pos[keep]
    if len(vals) == 0 or len(h_hot) == 0:
        return 0.0, None
    order = np.argsort(-vals.astype(np.float64), kind="stable")
    vals, pos = vals[order], pos[order]
    tp = np.cumsum(pos)
    fp = np.cumsum(1 - pos)
    last = np.r_[vals[1:] != vals[:-1], True]  # end of each run of equal heat
    f1 = 2 * tp[last] / (tp[last] + fp[last] + len(h_hot))
    i = int(np.argmax(f1))
    return float(f1[i]), int(vals[last][i])


def auc(h_hot, h_cold):
    if len(h_hot) == 0 or len(h_cold) == 0:
        return None
    allv = np.concatenate([h_hot, h_cold]).astype(np.float64)
    uniq, inv = np.unique(allv, return_inverse=True)
    pos = np.bincount(inv[:len(h_hot)], minlength=len(uniq)).astype(np.float64)
    neg = np.bincount(inv[len(h_hot):], minlength=len(uniq)).astype(np.float64)
    neg_below = np.cumsum(neg) - neg
    return float((pos * (neg_below + 0.5 * neg)).sum() / (len(h_hot) * len(h_cold)))


def counter_delta(sample, prev, name):
    """Per-key growth of a map counter since the previous sample, keys sorted."""
    if sample.get(name) is None:
        return None
    order = np.argsort(sample["keys"])
    ks, cur = sample["keys"][order], sample[name][order]
    if prev is None or prev.get(name) is None:
        return ks, cur
    porder = np.argsort(prev["keys"])
    before = lookup(prev["keys"][porder], prev[name][porder], ks)
    return ks, np.where(cur >= before, cur - before, cur)


def evidence_scores(sample, prev, labels, out):
    """Which signal put a page in this interval: its objects' reference counts
    changed (`active` grew) or the written-page scan reported it (`written`
    grew).  Scored like the hot set, for the two signals separately."""
    for name, tag in (("active", "refcount"), ("written", "written")):
        d = counter_delta(sample, prev, name)
        if d is None:
            continue
        ks, grew = d
        p, r, f1 = prf(lookup(ks, grew, labels.hot), lookup(ks, grew, labels.cold), 1)
        out[tag + "_precision"], out[tag + "_recall"], out[tag + "_f1"] = p, r, f1


def sd_scores(w, labels, ks=None, hs=None):
    """A soft-dirty window against the workload's ground truth and, given the
    map's sorted keys and decayed heat, mtp's hot set against the window."""
    hot, cold = labels.hot, labels.cold
    excluded = {}
    pages = w["pages"]
    for name in ("flagged", "huge"):  # every page of these reads as written
        if w[name]:
            kh = ~softdirty.pages_in(w[name], hot)
            kc = ~softdirty.pages_in(w[name], cold)
            excluded[name] = int((~kh).sum() + (~kc).sum())
            hot, cold = hot[kh], cold[kc]
            pages = pages[~softdirty.pages_in(w[name], pages)]
    wh, wc = np.isin(hot, pages), np.isin(cold, pages)
    written = int(wh.sum() + wc.sum())
    labelled = np.union1d(labels.hot, labels.cold)
    out = {"sd_kind": w["kind"], "sd_clean": w.get("clean"), "sd_window_s": w["hi"] - w["lo"],
           "sd_read_ms": w["read_ms"], "sd_written": int(len(w["pages"])),
           "sd_written_labelled": written,
           "sd_written_unlabelled": int((~np.isin(pages, labelled)).sum()),
           "sd_excluded": sum(excluded.values()) / max(1, len(labels.hot) + len(labels.cold)),
           "sd_excluded_flagged": excluded.get("flagged", 0),
           "sd_excluded_huge": excluded.get("huge", 0), "sd_anon_huge_kb": w["anon_huge_kb"],
           "sd_hot_recall": float(wh.mean()) if len(hot) else None,
           "sd_cold_share": float(wc.mean()) if len(cold) else None}
    if ks is not None:
        mh, mc = lookup(ks, hs, hot) >= 1, lookup(ks, hs, cold) >= 1
        both, mine = int((mh & wh).sum() + (mc & wc).sum()), int(mh.sum() + mc.sum())
        out["sd_precision"] = both / mine if mine else None
        out["sd_recall"] = both / written if written else None
        # mtp's hot pages outside the ground truth: did the program write them?
        other = ks[(hs >= 1) & ~np.isin(ks, labelled)]
        for name in ("flagged", "huge"):
            if w[name]:
                other = other[~softdirty.pages_in(w[name], other)]
        out["sd_unlabelled_hot"] = int(len(other))
        out["sd_unlabelled_hot_written"] = (float(np.isin(other, pages).mean())
                                            if len(other) else None)
    return out


def score_sample(sample, labels, prev=None):
    heat = decayed(sample)
    order = np.argsort(sample["keys"])
    ks, hs = sample["keys"][order], heat[order]
    h_hot, h_cold = lookup(ks, hs, labels.hot), lookup(ks, hs, labels.cold)
    p, r, f1 = prf(h_hot, h_cold, 1)
    bf1, bthr = best_f1(h_hot, h_cold)
    labelled = np.concatenate([labels.hot, labels.cold])
    labelled.sort()
    in_lab = np.isin(ks, labelled, assume_unique=False)
    hot_total = int((hs >= 1).sum())
    out = {"t": sample["t"], "interval": sample["interval"], "phase": labels.name,
           "precision": p, "recall": r, "f1": f1, "best_f1": bf1, "best_threshold": bthr,
           "auc": auc(h_hot, h_cold), "map_pages": int(len(ks)), "map_hot_pages": hot_total,
           "hot_pages_unlabelled": int(((hs >= 1) & ~in_lab).sum()),
           "json_hot_pages": sample["hot_pages_json"],
           "hot_set_pages_in_map": int(np.isin(labels.hot, ks).sum()),
           "cold_set_pages_in_map": int(np.isin(labels.cold, ks).sum())}
    out["part_recall"] = {k: (float((lookup(ks, hs, v) >= 1).mean()) if len(v) else None)
                          for k, v in labels.parts.items()}
    if sample["written"] is not None:
        w = sample["written"][order]
        out["written_hot_pages"] = int((lookup(ks, w, labels.hot) > 0).sum())
        out["written_cold_pages"] = int((lookup(ks, w, labels.cold) > 0).sum())
    if prev is not None:
        evidence_scores(sample, prev, labels, out)
    if sample.get("sd") is not None:
        out.update(sd_scores(sample["sd"], labels, ks, hs))
    return out


def mean(xs):
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else None


def score_run(run):
    phases = [Labels(p) for p in run.truth["phases"]]
    t_start, t_end = run.done["t_start"], run.done["t_end"]

    def labels_at(t):
        cur = phases[0]
        for ph in phases:
            if ph.t <= t:
                cur = ph
        return cur

    scored = [score_sample(s, labels_at(s["t"]), run.samples[i - 1] if i else None)
              for i, s in enumerate(run.samples)]
    steady = [s for s in scored if t_start + WARMUP_S <= s["t"] <= t_end + 0.5]
    res = {
        "workload": run.kind, "variant": run.variant, "signals": run.signals,
        "seconds": t_end - t_start,
        "hot_pages": len(phases[0].hot), "cold_pages": len(phases[0].cold),
        "shared_pages": phases[0].shared,
        "hot_objects": phases[0].hot_objects, "cold_objects": phases[0].cold_objects,
        "hot_bytes": phases[0].hot_bytes, "cold_bytes": phases[0].cold_bytes,
        "chance_precision": len(phases[0].hot) / max(1, len(phases[0].hot) + len(phases[0].cold)),
        "steady_intervals": len(steady),
        "precision": mean(s["precision"] for s in steady),
        "recall": mean(s["recall"] for s in steady),
        "f1": mean(s["f1"] for s in steady),
        "best_f1": mean(s["best_f1"] for s in steady),
        "best_threshold_median": (float(np.median([s["best_threshold"] for s in steady
                                                   if s["best_threshold"] is not None]))
                                  if any(s["best_threshold"] is not None for s in steady)
                                  else None),
        "auc": mean(s["auc"] for s in steady),
        "refcount_precision": mean(s.get("refcount_precision") for s in steady),
        "refcount_recall": mean(s.get("refcount_recall") for s in steady),
        "written_precision": mean(s.get("written_precision") for s in steady),
        "written_recall": mean(s.get("written_recall") for s in steady),
        "hot_pages_unlabelled": mean(s["hot_pages_unlabelled"] for s in steady),
        "hot_part_pages": {k: len(v) for k, v in phases[0].parts.items()},
        "hot_part_recall": {k: mean(s["part_recall"].get(k) for s in steady)
                            for k in phases[0].parts},
    }
    if len(phases) > 1:
        change = phases[1]
        after = [s for s in scored if change.t < s["t"] <= t_end + 0.5]
        res["phase_change_t"] = change.t - t_start
        res["phase_b_hot_pages"] = len(change.hot)

        def first(pred):
            for n, s in enumerate(after, 1):
                if pred(s):
                    return n
            return None

        res["follow_intervals"] = first(
            lambda s: (s["recall"] or 0) >= FOLLOW_RECALL and (s["precision"] or 0) >= FOLLOW_PRECISION)
        res["follow_recall_only"] = first(lambda s: (s["recall"] or 0) >= FOLLOW_RECALL)
        res["follow_best_f1_0.8"] = first(lambda s: s["best_f1"] >= 0.8)
        res["intervals_after_change"] = len(after)
        res["after_change"] = [{k: s[k] for k in ("interval", "precision", "recall", "best_f1")}
                               for s in after]
    if run.sd is not None:
        res.update(score_softdirty(run, steady, labels_at, t_start, t_end))
    elif run.args.softdirty:
        res["softdirty"] = SD_NA
    # The pause mtp adds to the collector.
    st = run.done.get("stats", {})
    loop_s = t_end - t_start
    final = run.lines[-1] if run.lines else {}
    obs = st.get("observations", 0)
    res["observations"] = obs
    res["objects_per_observation"] = st.get("objects_seen", 0) / obs if obs else None
    res["ms_per_observation"] = st.get("observe_ns_total", 0) / 1e6 / obs if obs else None
    res["observe_pct"] = 100.0 * st.get("observe_ns_total", 0) / 1e9 / loop_s if loop_s else None
    # Steps inside collections lengthen them: mtp's budget caps that at 20% of
    # the collector's own time.  Timer steps run outside collections.
    res["gc_pause_added_pct"] = (100.0 * st["gc_step_ns_total"] / st["gc_ns_total"]) \
        if st.get("gc_ns_total") else None
    res["timer_pct"] = (100.0 * st.get("timer_step_ns_total", 0) / 1e9 / loop_s) \
        if loop_s and "timer_step_ns_total" in st else None
    res["cycle_s"] = final.get("cycle_s")
    res["tracer_observe_ms"] = final.get("observe_ms")
    res["tracer_gc_ms"] = final.get("gc_ms")
    res["tracer_gcs"] = final.get("gcs")
    res["gc_pct"] = (100.0 * final["gc_ms"] / 1e3 / loop_s) if final.get("gc_ms") is not None \
        and loop_s else None
    res["tracer_observe_pct"] = (100.0 * final["observe_ms"] / 1e3 / loop_s) \
        if final.get("observe_ms") is not None and loop_s else None
    res["workload_cpu_s"] = run.done.get("cpu_s")
    res["harness_cpu_s"] = run.harness_cpu_s  # sampling + the final bpftool check
    res["accesses"] = run.done.get("accesses")
    res["mtp_stats"] = st
    res["bpf_stats"] = run.stats_map
    res["reader_check"] = run.check
    res["tracer_final"] = {k: v for k, v in final.items() if k != "top_pages"}
    res["intervals"] = scored
    return res


def score_softdirty(run, steady, labels_at, t_start, t_end):
    """Means over the steady interval windows that no mtp observation overlaps,
    and, as evidence, over the windows that ended with one.  Only windows that
    end before the loop does: after it the workload idles and writes nothing."""
    inter = [s for s in steady if "sd_kind" in s and s["t"] <= t_end]
    clean = [s for s in inter if s["sd_clean"]]
    obs = [sd_scores(w, labels_at(w["t"])) for w in run.sd.windows
           if w["kind"] == "observation" and t_start + WARMUP_S <= w["t"] <= t_end]
    cold = [s["sd_cold_share"] for s in clean if s["sd_cold_share"] is not None]
    return {
        "sd_windows": len(inter), "sd_windows_clean": len(clean),
        "sd_observations": len(run.sd.spans),
        "sd_precision": mean(s["sd_precision"] for s in clean),
        "sd_recall": mean(s["sd_recall"] for s in clean),
        "sd_truth_hot_recall": mean(s["sd_hot_recall"] for s in clean),
        "sd_truth_cold_share": mean(cold), "sd_truth_cold_share_max": max(cold) if cold else None,
        "sd_truth_hot_recall_all": mean(s["sd_hot_recall"] for s in inter),
        "sd_truth_cold_share_all": mean(s["sd_cold_share"] for s in inter),
        "sd_obs_windows": len(obs),
        "sd_obs_hot_recall": mean(w["sd_hot_recall"] for w in obs),
        "sd_obs_cold_share": mean(w["sd_cold_share"] for w in obs),
        "sd_window_s": mean(s["sd_window_s"] for s in clean),
        "sd_written_unlabelled": mean(s["sd_written_unlabelled"] for s in clean),
        "sd_unlabelled_hot": mean(s.get("sd_unlabelled_hot") for s in clean),
        "sd_unlabelled_hot_written": mean(s.get("sd_unlabelled_hot_written") for s in clean),
        "sd_excluded": mean(s["sd_excluded"] for s in clean),
        "sd_excluded_flagged": mean(s["sd_excluded_flagged"] for s in clean),
        "sd_excluded_huge": mean(s["sd_excluded_huge"] for s in clean),
        "sd_anon_huge_kb": mean(w["anon_huge_kb"] for w in run.sd.windows),
        "sd_read_ms": mean(w["read_ms"] for w in run.sd.windows),
        "sd_heap_pages": mean(w["heap_pages"] for w in run.sd.windows),
        "sd_observation_windows": [{k: w[k] for k in ("sd_window_s", "sd_hot_recall",
                                                      "sd_cold_share", "sd_written")}
                                   for w in obs],
    }


# ------------------------------------------------------------------ report

COLUMNS = [("workload", "workload"), ("variant", "variant"), ("signals", "signals"),
           ("pages hot/cold", None),
           ("P", "precision"), ("R", "recall"), ("F1", "f1"), ("P chance", "chance_precision"),
           ("F1max (thr)", None), ("AUC", "auc"), ("R rc/wr", None), ("follow", None),
           ("ms/obs", "ms_per_observation"), ("observe %", "observe_pct"), ("gc %", "gc_pct"),
           ("GC pause +%", "gc_pause_added_pct"), ("timer %", "timer_pct"), ("cycle s", "cycle_s")]
# With --softdirty (see SoftDirtyWindows and meta["sd_rule"]).
SD_COLUMNS = [("P/R vs SD", None), ("SD: R hot", "sd_truth_hot_recall"),
              ("SD: cold (max)", None), ("SD: cold, obs", "sd_obs_cold_share"),
              ("SD: excl", "sd_excluded"), ("SD win clean/all", None)]


def columns(sd):
    return COLUMNS + (SD_COLUMNS if sd else [])


def fmt(v, digits=2):
    if v is None:
        return "-"
    if isinstance(v, float):
        return "%.*f" % (digits, v)
    return str(v)


def row_cells(r, sd=False):
    if r.get("error"):
        return [r["workload"], r["variant"], r["signals"],
                "ERROR: " + r["error"].splitlines()[0][:90]]
    cells = []
    for title, key in columns(sd):
        if (title, key) in SD_COLUMNS:
            if r.get("softdirty"):
                cells.append(r["softdirty"])
            elif title == "P/R vs SD":
                cells.append("%s/%s" % (fmt(r["sd_precision"]), fmt(r["sd_recall"])))
            elif title == "SD: cold (max)":
                cells.append("%s (%s)" % (fmt(r["sd_truth_cold_share"]),
                                          fmt(r["sd_truth_cold_share_max"])))
            elif title == "SD win clean/all":
                cells.append("%d/%d" % (r["sd_windows_clean"], r["sd_windows"]))
            else:
                cells.append(fmt(r[key]))
            continue
        if title == "pages hot/cold":
            cells.append("%d/%d" % (r["hot_pages"], r["cold_pages"]))
        elif title == "F1max (thr)":
            cells.append("%s (%s)" % (fmt(r["best_f1"]), fmt(r["best_threshold_median"], 0)))
        elif title == "R rc/wr":
            cells.append("%s/%s" % (fmt(r["refcount_recall"]), fmt(r["written_recall"])))
        elif title == "follow":
            if "follow_intervals" not in r:
                cells.append("-")
            else:
                cells.append(str(r["follow_intervals"]) if r["follow_intervals"]
                             else "not reached (%d)" % r["intervals_after_change"])
        elif key in ("ms_per_observation", "observe_pct", "gc_pct", "gc_pause_added_pct",
                     "timer_pct", "cycle_s"):
            cells.append(fmt(r[key], 1))
        else:
            cells.append(fmt(r[key]))
    return cells


def text_table(rows, sd=False):
    head = [c for c, _ in columns(sd)]
    body = [row_cells(r, sd) for r in rows]
    widths = [max([len(head[i])] + [len(b[i]) for b in body if len(b) == len(head)])
              for i in range(len(head))]
    out = ["  ".join(h.ljust(w) for h, w in zip(head, widths))]
    for b in body:
        if len(b) != len(head):
            out.append("  ".join(b))
        else:
            out.append("  ".join(c.ljust(w) for c, w in zip(b, widths)))
    return "\n".join(out)


def markdown(rows, meta, sd=False):
    head = [c for c, _ in columns(sd)]
    lines = ["# mtp evaluation (%s)" % meta["date"], "",
             "Host: %s, kernel %s, %s; Python %s; interval %s; mtp %s; harness CPU %.0f s "
             "in %.0f s." % (meta["host_cpu"], meta["kernel"]["kernel"], meta["cpus"],
                             meta["python"], meta["interval"], meta["commit"],
                             meta["harness_cpu_s"], meta["total_s"]), "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = row_cells(r, sd)
        cells += [""] * (len(head) - len(cells))
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", meta["rule"], "", meta["pause"], "", meta["kernel_note"], ""]
    if meta["softdirty_ok"]:
        lines[-1:-1] = ["", meta["sd_rule"]]
    return "\n".join(lines)


# ------------------------------------------------------------------ main


def kernel_note(kernel, args):
    if args.softdirty_ok:
        return ("Cross-check against kernel-written pages: soft-dirty (kernel %s, THP %s); "
                "see the SD columns." % (kernel["kernel"], kernel["thp"]))
    if kernel["soft_dirty"]:
        return ("Cross-check against kernel-written pages: this kernel (%s) has soft-dirty; "
                "run with --softdirty to score against it." % kernel["kernel"])
    return ("Cross-check against kernel-written pages: not possible on this host (kernel %s: "
            "soft-dirty absent, idle page tracking %s); the scores rely on the workload's own "
            "ground truth. The two-tier guest's kernel has soft-dirty: make vm-eval-softdirty "
            "runs a subset with --softdirty there." % (
                kernel["kernel"], "available" if kernel["idle_page_tracking"] else "absent"))


def find_pyext(build, python):
    out = subprocess.run(["make", "-s", "-C", ROOT, "pyext-dir", "PYTHON=" + python,
                          "BUILD=" + build], capture_output=True, text=True)
    d = os.path.join(ROOT, out.stdout.strip())
    if out.returncode != 0 or not out.stdout.strip() or not any(
            n.startswith("mtp") and n.endswith(".so") for n in os.listdir(d)
            if os.path.isdir(d)):
        raise EvalError("no mtp extension for %s under %s: run make PYTHON=%s BUILD=%s"
                        % (python, build, python, build))
    return d


def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.machine()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--python", default="/usr/bin/python3", help="interpreter of the workloads")
    ap.add_argument("--only", nargs="*", help="KIND or KIND/VARIANT to run (default all)")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every run's length")
    ap.add_argument("--interval", default="1s")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--results", default=os.path.join(ROOT, "build", "eval", "results.json"))
    ap.add_argument("--table", default=None, help="markdown table (default BUILD/eval/table.md)")
    ap.add_argument("--keep-tmp", action="store_true", help="keep each run's control directory")
    ap.add_argument("--softdirty", action="store_true",
                    help="also score against the pages the kernel saw written (soft-dirty; "
                    "needs CONFIG_MEM_SOFT_DIRTY, e.g. the two-tier guest)")
    args = ap.parse_args()

    if os.geteuid() != 0:
        sys.exit("error: run as root (mtp-trace loads BPF programs and attaches uprobes)")
    build = args.build if os.path.isabs(args.build) else os.path.join(ROOT, args.build)
    args.trace = os.path.join(build, "mtp-trace")
    if not os.access(args.trace, os.X_OK):
        sys.exit("error: %s missing: run make (or make eval, which builds)" % args.trace)
    if shutil.which("bpftool") is None:
        sys.exit("error: bpftool missing: apt-get install bpftool")
    try:
        args.pyext_dir = find_pyext(args.build, args.python)
    except EvalError as e:
        sys.exit("error: %s" % e)
    table_path = args.table or os.path.join(build, "eval", "table.md")

    plan = PLAN
    if args.only:
        plan = [p for p in PLAN if p[0] in args.only or "%s/%s" % p[:2] in args.only
                or "%s/%s/%s" % (p[0], p[1], p[3]) in args.only]
        if not plan:
            sys.exit("error: --only %s matches nothing; choose from KIND, KIND/VARIANT or "
                     "KIND/VARIANT/SIGNALS among %s" % (" ".join(args.only), " ".join(
                         "%s/%s/%s" % (p[0], p[1], p[3]) for p in PLAN)))

    kernel = kernel_written_page_support()
    args.softdirty_ok = args.softdirty and kernel["soft_dirty"]
    if args.softdirty and not kernel["soft_dirty"]:
        log("soft-dirty: NOT AVAILABLE: %s. --softdirty scores nothing here; its columns "
            "read \"%s\". Use a kernel with soft-dirty, e.g. the guest: make vm-eval-softdirty"
            % (kernel["soft_dirty_check"], SD_NA))
    elif args.softdirty:
        log("soft-dirty: %s; each interval also reads the workload's written pages, then clears "
            "them" % kernel["soft_dirty_check"])
    pyver = subprocess.run([args.python, "-c", "import sys; print(sys.version.split()[0])"],
                           capture_output=True, text=True).stdout.strip()
    log("mtp eval: %d runs, ~%.0f s of workload loops, interval %s, %s (Python %s); "
        "signals rc = --no-written-scan"
        % (len(plan), sum(p[2] for p in plan) * args.scale, args.interval, args.python, pyver))
    rows = []
    t_all = time.monotonic()
    for kind, variant, seconds, signals in plan:
        t0 = time.monotonic()
        run = Run(args, kind, variant, seconds, signals)
        try:
            run.execute()
            row = score_run(run)
        except Exception as e:  # one broken run must not hide the others
            msg = str(e) if isinstance(e, (EvalError, bpfmap.MapError)) else traceback.format_exc()
            row = {"workload": kind, "variant": variant, "signals": signals, "error": msg}
            log("FAIL %s/%s/%s: %s" % (kind, variant, signals, msg))
        else:
            log("ok   %s/%s/%s (%.0f s): P %s R %s F1 %s, %s intervals, %s obs at %s ms; "
                "harness CPU %.1f s" % (kind, variant, signals, time.monotonic() - t0,
                                        fmt(row["precision"]), fmt(row["recall"]),
                                        fmt(row["f1"]), row["steady_intervals"],
                                        row["observations"], fmt(row["ms_per_observation"], 1),
                                        row["harness_cpu_s"] or 0))
            if "sd_windows" in row:
                log("     soft-dirty: P/R vs SD %s/%s; truth hot written %s, cold %s (max %s); "
                    "%d/%d windows clean of %d observations, mean %s s; observation windows: "
                    "cold %s; %s of the truth's pages left out (THP, new mappings); outside the "
                    "truth: %s pages written, mtp hot %s (%s of them written); read %s ms" % (
                        fmt(row["sd_precision"]), fmt(row["sd_recall"]),
                        fmt(row["sd_truth_hot_recall"]), fmt(row["sd_truth_cold_share"]),
                        fmt(row["sd_truth_cold_share_max"]), row["sd_windows_clean"],
                        row["sd_windows"], row["sd_observations"], fmt(row["sd_window_s"]),
                        fmt(row["sd_obs_cold_share"]), fmt(row["sd_excluded"]),
                        fmt(row["sd_written_unlabelled"], 0), fmt(row["sd_unlabelled_hot"], 0),
                        fmt(row["sd_unlabelled_hot_written"]), fmt(row["sd_read_ms"], 1)))
            if run.check and not run.check["ok"]:
                log("     warning: the bpf(2) reader and bpftool disagree: %s" % run.check)
        rows.append(row)

    meta = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "host_cpu": cpu_model(), "cpus": "%d CPUs" % os.cpu_count(), "python": pyver,
        "interval": args.interval, "kernel": kernel, "total_s": time.monotonic() - t_all,
        "harness_cpu_s": time.process_time(),
        "commit": subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                                 capture_output=True, text=True).stdout.strip(),
        "rule": ("signals: rc+written = mtp-trace's default (reference-count snapshots "
                 "and the extension's written-page scan); rc = --no-written-scan (reference "
                 "counts only). mtp's hot set = pages whose heat decayed to the interval's epoch is >= 1 "
                 "(mtp-trace's --hot-threshold default; its JSON hot_pages). P/R/F1: mean over "
                 "the intervals from the loop's 3rd second to its end, over pages holding only "
                 "hot or only cold objects (pages holding both are excluded; pages with neither "
                 "are not scored). P chance = hot pages / scored pages, the precision of a random "
                 "guess. F1max: best F1 over all heat thresholds, chosen knowing the answer "
                 "(median threshold shown); AUC: heat ranks hot above cold pages. R rc/wr: "
                 "recall of the pages each signal reported in the interval alone: reference "
                 "counts that changed (the map's `active` grew) / the written-page scan "
                 "(`written` grew). follow: "
                 "first interval after the phase change with recall >= 0.9 and precision >= 0.8 "
                 "on the new hot set (in brackets: intervals seen after the change)."),
        "pause": ("ms/obs = mtp.stats() observe_ns_total / observations (one step: a "
                  "budgeted round-robin slice of the heap + merge + USDT firing, at most every "
                  "0.5 s); observe % and gc % = mtp's observation time and the collections' "
                  "own time (mtp-trace JSON gc_ms) as shares of the workload loop's wall time; "
                  "GC pause +% = time of the steps taken inside collections / the collector's "
                  "own time (budget: 20%); timer % = steps from mtp's timer, outside "
                  "collections, as a share of wall time (budget: 2%); cycle s = time to observe "
                  "the whole heap once (mtp-trace JSON cycle_s)."),
        "kernel_note": kernel_note(kernel, args),
        "sd_rule": (
            "Soft-dirty (--softdirty): the pages the kernel saw the workload write "
            "(/proc/PID/clear_refs 4, pagemap bit 55), read and cleared right after each "
            "interval's map read, and also right after each mtp observation (seen in the "
            "pinned stats map, polled every %.0f ms): an observation may write objects' "
            "headers (gc.get_objects() raises every reference count), so the windows that "
            "overlap one are set apart. Means over the steady windows no observation overlaps "
            "(SD win clean/all), over the ground-truth pages (hot-only and cold-only, as P/R), "
            "leaving out the pages that read as written whatever was written: those of "
            "transparent huge pages mapped whole (one bit for 512 pages) and of mappings "
            "created or grown during the window; SD: excl = the share of ground-truth pages "
            "left out. P/R vs SD: mtp's hot set scored against the pages written in the "
            "window. SD: R hot = share of the truth's hot pages written; SD: cold = share of "
            "its cold pages written (mean, max); SD: cold, obs = the same in the windows that "
            "ended with an observation." % (SD_POLL_S * 1e3)),
        "softdirty": bool(args.softdirty), "softdirty_ok": bool(args.softdirty_ok),
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.results)), exist_ok=True)
    with open(args.results + ".tmp", "w") as f:
        json.dump({"meta": meta, "runs": rows}, f, indent=1)
    os.replace(args.results + ".tmp", args.results)
    os.makedirs(os.path.dirname(table_path), exist_ok=True)
    with open(table_path, "w") as f:
        f.write(markdown(rows, meta, args.softdirty))
    log("")
    log(text_table(rows, args.softdirty))
    log("")
    log(meta["rule"])
    log(meta["pause"])
    log(meta["kernel_note"])
    if args.softdirty_ok:
        log(meta["sd_rule"])
    log("wrote %s and %s (%.0f s)" % (os.path.relpath(args.results, ROOT),
                                       os.path.relpath(table_path, ROOT), meta["total_s"]))
    return 1 if any(r.get("error") for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
