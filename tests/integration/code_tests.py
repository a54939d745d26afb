"""The running code (pyext/mtp_stack.c): a real program whose hot data is
code the collector never tracks, traced for real; the pages' heat read back
from the pinned map with bpftool.  Run by run.py."""

import json
import os
import signal
import subprocess
import time

import run
from run import check
from running_code_program import HOT

PROGRAM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "running_code_program.py")
SLOW = 8.0 if os.environ.get("MTP_EMULATED") else 1.0


def test_running_code_hot(trace_bin, python, pydir, tmp):
    """Code that runs is found hot, code that never runs is not: the code
    objects, bytecode, constants, names and line and exception tables of 12
    functions called all the time against those of 600 never called, with
    the written-page scan off, so that the records alone must tell them
    apart (these objects are never walked: the collector does not track
    them, and the interpreter reads them without a reference count moving).
    Before mtp_stack.c this read AUC 0.5 (nothing warm).  The program's
    checksum is the same as an untraced replay's."""
    layout, ready, stop = (os.path.join(tmp, "code.%s" % n) for n in ("layout", "ready", "stop"))
    for p in (layout, ready, stop):
        if os.path.exists(p):
            os.unlink(p)
    proc = subprocess.Popen([python, PROGRAM, layout, ready, stop, str(300 * SLOW)],
                            env=run.env_with(pydir), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    tracer = None
    try:
        run.wait_for(ready, proc, timeout=60 * SLOW)
        pin = "/sys/fs/bpf/mtp/%d/pages" % proc.pid
        # Its stderr to a file: a pipe nobody reads while the test waits
        # would stop mtp-trace once full.
        terr_file = open(os.path.join(tmp, "code.stderr"), "w+")
        tracer = subprocess.Popen([trace_bin, "--pid", str(proc.pid), "--json", "--interval",
                                   "0.5", "--no-written-scan"],
                                  stdout=subprocess.PIPE, stderr=terr_file, text=True)
        # Two heap cycles, so that the walk has seen (and left cold) every
        # cold function's code object it reaches, and 15 s of steps.  Then
        # the map is read until the running code is told apart, for at most
        # 60 s: steps sample the stack where the program lets them in, and
        # one CI run under ASan had left 10 of the 31 pages unwarmed at
        # 15 s.  A page once warm stays so in what is read (heat as of its
        # last warming), and code never run is never recorded, so waiting
        # cannot make a wrong placement pass.
        with open(layout) as f:
            ranges = json.load(f)
        started, obj, dump = time.monotonic(), {}, []
        while time.monotonic() < started + 60 * SLOW:
            line = tracer.stdout.readline()
            check(line, "mtp-trace stopped: %s" % open(terr_file.name).read()[-600:])
            obj = json.loads(line)
            if obj.get("cycles", 0) >= 2 and time.monotonic() > started + 15 * SLOW:
                dump = run.bpftool_dump(pin)
                if separation(ranges, dump)[0] > 0.9:
                    break
        waited = time.monotonic() - started
        open(stop, "w").close()
        out, err = proc.communicate(timeout=60 * SLOW)
        tracer.send_signal(signal.SIGINT)
        tracer.communicate(timeout=30 * SLOW)
        terr = open(terr_file.name).read()
    finally:
        run.kill_left(proc, tracer)
    check(proc.returncode == 0, "the program failed (%s): %s" % (proc.returncode, err[-800:]))
    check(tracer.returncode == 0, "mtp-trace failed (%s): %s" % (tracer.returncode, terr[-800:]))
    result = json.loads(out.splitlines()[-1])
    replay = subprocess.run([python, PROGRAM, "--replay", str(result["rounds"])],
                            capture_output=True, text=True, timeout=300 * SLOW)
    check(json.loads(replay.stdout)["total"] == result["total"],
          "the traced program computed %s, untraced %s" % (out.strip(), replay.stdout.strip()))
    score, heat, hot, cold, unsampled = separation(ranges, dump)
    print("     %s code objects recorded on steps' stacks in %d rounds, %d heap cycles, %.0f s; "
          "running code: %d pages, %d warm; never run: %d pages, %d warm; AUC %.3f"
          % (result["recorded"], result["rounds"], obj.get("cycles", 0), waited, len(hot),
             sum(heat.get(p, 0) > 0 for p in hot), len(cold),
             sum(heat.get(p, 0) > 0 for p in cold), score))
    check(len(hot) >= 2 and len(cold) >= 50, "the layout did not separate the code: %d hot "
          "pages, %d cold" % (len(hot), len(cold)))
    check(score > 0.9, "the running code is not found hotter than code never run: AUC %.3f; "
          "hot functions with no warm page: %s" % (score, unsampled))


def separation(ranges, dump):
    """AUC of the running code's pages against the never-run code's, by heat
    as of each page's last warming: whether steps recorded the page at all
    (decayed to now, a page of a function sampled last some seconds ago
    reads cold where cycles are short: this heap's take ~0.4 s, and heat
    halves every cycle).  With the heat, the two page sets, and the hot
    functions (by index) none of whose pages is warm."""
    heat = {e["key"]: e["value"]["heat"] for e in dump}
    hot, cold = run.pages_of(ranges["hot"]), run.pages_of(ranges["cold"])
    hot, cold = hot - cold, cold - hot
    score = run.auc([heat.get(p, 0) for p in hot], [heat.get(p, 0) for p in cold])
    per_fn = len(ranges["hot"]) // HOT  # running_code_program.ranges(): as many for each
    unsampled = [i for i in range(HOT)
                 if not any(heat.get(p, 0) > 0 for p in
                            run.pages_of(ranges["hot"][i * per_fn:(i + 1) * per_fn]) & hot)]
    return score, heat, hot, cold, unsampled
