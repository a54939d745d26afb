"""The written-page scan's peek (pyext/mtp_written.c, mtp_written_peek): a
real program's pages written often outrank those written once in a while,
read back from the pinned map with bpftool.  Run by run.py."""

import json
import os
import signal
import subprocess
import time

import heat as mtp_heat
import run
from run import check

PROGRAM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "written_rate_program.py")


def test_often_written_outranks_seldom(trace_bin, python, pydir, tmp):
    """Pages written every 2 ms against pages of the same chunks written
    every 0.45 s: every window of the scan finds both written, so before
    the peek both earned the same heat (AUC 0.5, all ties).  With it, a
    page written within ~60 ms of the window's start earns more: always the
    often-written ones, in ~1 window of 6 the others.  A scan budget of 10%
    keeps the sample wide enough that each chunk is seen every few s."""
    layout, ready, stop = (os.path.join(tmp, "rate.%s" % n) for n in ("layout", "ready", "stop"))
    for p in (layout, ready, stop):
        if os.path.exists(p):
            os.unlink(p)
    env = dict(run.env_with(pydir), MTP_BUDGET="scan_share=0.1")
    proc = subprocess.Popen([python, PROGRAM, layout, ready, stop], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    tracer, obj, dump = None, {}, []
    try:
        run.wait_for(ready, proc, timeout=60)
        pin = "/sys/fs/bpf/mtp/%d/pages" % proc.pid
        terr_file = open(os.path.join(tmp, "rate.stderr"), "w+")
        tracer = subprocess.Popen([trace_bin, "--pid", str(proc.pid), "--json", "--interval",
                                   "0.5"], stdout=subprocess.PIPE, stderr=terr_file, text=True)
        # 20 s of the scan: each of the two chunks is looked at every
        # `stride` takes, 0.5 s apart.
        started = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = tracer.stdout.readline()
            check(line, "mtp-trace stopped: %s" % open(terr_file.name).read()[-600:])
            obj = json.loads(line)
            if obj.get("written_scan") == "on" and started is None:
                started = time.monotonic()
            if started is not None and time.monotonic() > started + 20:
                break
        dump = run.bpftool_dump(pin)
        open(stop, "w").close()
        out, err = proc.communicate(timeout=60)
        tracer.send_signal(signal.SIGINT)
        tracer.communicate(timeout=30)
    finally:
        run.kill_left(proc, tracer)
    check(proc.returncode == 0, "the program failed (%s): %s" % (proc.returncode, err[-800:]))
    check(obj.get("written_scan") == "on", "the written-page scan is %r on this kernel"
          % obj.get("written_scan"))
    with open(layout) as f:
        pages = json.load(f)
    heat = mtp_heat.of_dump(dump)
    often = [heat.get(p, 0) for p in pages["often"]]
    seldom = [heat.get(p, 0) for p in pages["seldom"]]
    score = run.auc(often, seldom)
    print("     stride %d; written every 2 ms: %d pages, %d warm, median heat %d; every 0.45 s: "
          "%d pages, %d warm, median heat %d; AUC %.3f"
          % (obj.get("written_stride", 0), len(often), sum(h > 0 for h in often),
             sorted(often)[len(often) // 2], len(seldom), sum(h > 0 for h in seldom),
             sorted(seldom)[len(seldom) // 2], score))
    check(sum(h > 0 for h in often) > len(often) * 0.9,
          "the scan did not find the pages written every 2 ms: %d of %d warm"
          % (sum(h > 0 for h in often), len(often)))
    check(score > 0.75, "pages written every 2 ms do not outrank those written every 0.45 s: "
          "AUC %.3f" % score)
