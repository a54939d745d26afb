#!/usr/bin/python3
"""The host's side of make vm-eval's access counts (issue 13).

    access_host.py --plugin SO --dir DIR [--gib N] -- COMMAND...

Runs COMMAND (tools/vm/vm.sh run ...) with its QEMU loading the TCG plugin
(tools/vm/access_plugin.c, counts in /dev/shm) and, while it runs, serves
the guest harness's window boundaries: for each request DIR/NAME.req that
tools/vm/vm_eval.py writes (NAME = RUN.K, K counting windows from 0), it
snapshots the counts and writes DIR/NAME.npz, the accesses since the
previous snapshot of the same RUN (pages with any: `idx`, `loads`,
`stores`; empty for K = 0, which only starts the run), then DIR/NAME.ok.
The guest waits for the .ok before it reads where the pages are, so that
both sides close the window at the same moment, give or take the request's
trip through the shared directory (polled every 20 ms here).

A request that holds "count=1" or "count=0" also switches the plugin's
counting on or off from that boundary on: the guest counts only the windows
it scores.  QEMU starts with the plugin's code uninstrumented (count=0), so
the boot and everything up to the first counted window run at TCG's own
speed; the first switch on waits (at most 5 s) until the plugin has
instrumented the code, and from then on, off only makes each access return
at once (include/mtp_access.h says why it is never uninstrumented again).
Each window's file says whether counting was on throughout (`counted`).

Exits with COMMAND's status; the count file is removed.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import access_counts  # noqa: E402

POLL_S = 0.02


def qemu_wrapper(tmp, plugin, counts, gib, count=True):
    """A script that runs QEMU with the plugin, for vm.sh's MTP_VM_QEMU;
    count: whether counting starts on."""
    path = os.path.join(tmp, "qemu")
    with open(path, "w") as f:
        f.write("#!/bin/sh\nexec qemu-system-x86_64 -plugin %s,out=%s,gib=%d,count=%d \"$@\"\n"
                % (plugin, counts, gib, 1 if count else 0))
    os.chmod(path, 0o755)
    return path


class Windows:
    """Answers the guest's requests: one snapshot per boundary, the window
    since the run's previous boundary saved beside the request."""

    def __init__(self, counts_path, directory, switch_timeout=5.0):
        self.counts_path, self.dir = counts_path, directory
        self.switch_timeout = switch_timeout
        self.counts = None
        self.last = {}  # run -> its previous snapshot
        self.on = {}  # run -> whether the plugin counted from its previous boundary on
        self.served = 0
        self.switch_failed = 0

    def _counts(self):
        if self.counts is None and os.path.exists(self.counts_path):
            self.counts = access_counts.Counts(self.counts_path, writable=True)
        return self.counts

    def _switch(self, path):
        """The request's count=0|1, applied; returns whether the plugin counts
        now (a request without one leaves counting as it is)."""
        with open(path) as f:
            text = f.read().strip()
        if text not in ("count=0", "count=1"):
            return self.counts.counting()
        want = text == "count=1"
        on = self.counts.set_counting(want, timeout=self.switch_timeout)
        if want and not on:
            self.switch_failed += 1
            print("access_host: %s: the plugin did not switch counting on within %g s; "
                  "the next window is not counted" % (os.path.basename(path), self.switch_timeout),
                  file=sys.stderr)
        # Switched off, the plugin may count a little longer (it switches at a
        # vCPU's next idle): the window is not scored either way.
        return want and on

    def serve(self):
        for name in sorted(os.listdir(self.dir)):
            if not name.endswith(".req"):
                continue
            base = name[:-4]
            run, _, k = base.rpartition(".")
            counts = self._counts()
            if counts is None:
                continue  # QEMU has not created it yet: the guest waits
            now = counts.snapshot()
            before = self.last.get(run) if k != "0" else None
            if before is not None:
                loads, stores = access_counts.window(now, before)
                idx = np.flatnonzero((loads.astype(np.uint64) + stores) > 0).astype(np.uint32)
                loads, stores = loads[idx], stores[idx]
            else:
                idx = np.zeros(0, np.uint32)
                loads = stores = np.zeros(0, np.uint32)
            self.last[run] = now
            # Counted throughout: on since the previous boundary and still on.
            counted = bool(self.on.get(run) and counts.counting())
            self.on[run] = self._switch(os.path.join(self.dir, name))
            tmp = os.path.join(self.dir, base + ".tmp.npz")
            np.savez(tmp, idx=idx, loads=loads, stores=stores, counted=counted)
            os.rename(tmp, os.path.join(self.dir, base + ".npz"))
            with open(os.path.join(self.dir, base + ".ok"), "w"):
                pass
            os.unlink(os.path.join(self.dir, name))
            self.served += 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plugin", required=True)
    ap.add_argument("--dir", required=True, help="the directory the guest shares for requests")
    ap.add_argument("--gib", type=int, default=6, help="guest-physical space counted")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not cmd:
        ap.error("no command to run")
    if not os.access(args.plugin, os.R_OK):
        print("access_host: %s not built: run 'make vm-plugin'" % args.plugin, file=sys.stderr)
        return 2
    os.makedirs(args.dir, exist_ok=True)
    counts = "/dev/shm/mtp-access-eval-%d" % os.getpid()
    with tempfile.TemporaryDirectory(prefix="mtp-access-") as tmp:
        env = dict(os.environ,
                   MTP_VM_QEMU=qemu_wrapper(tmp, args.plugin, counts, args.gib, count=False))
        win = Windows(counts, args.dir)
        proc = subprocess.Popen(cmd, env=env)
        try:
            while proc.poll() is None:
                win.serve()
                time.sleep(POLL_S)
        finally:
            if proc.poll() is None:
                proc.terminate()
            rc = proc.wait()
            if os.path.exists(counts):
                os.unlink(counts)
    print("access_host: %d window boundaries served%s" % (
        win.served, ", counting not switched on at %d" % win.switch_failed
        if win.switch_failed else ""), file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main())
