"""The fault matrix's cases that need a process to misbehave at a chosen
moment (issue 14): each asserts the exact outcome for mtp-trace (exit status,
what it says) and that the program beside it is unharmed.  Run by run.py."""

import json
import os
import signal
import subprocess
import time

import run
from run import Failure, check

SLOW = 8.0 if os.environ.get("MTP_EMULATED") else 1.0

# Imports mtp, then says whether a tracer ever attached to it (the USDT
# semaphores mtp.tracing() reads) while it ran.
WATCHED = r"""
import os, sys, time
import mtp
open(sys.argv[2], "w").close()
end = time.monotonic() + float(sys.argv[1])
traced = False
while time.monotonic() < end:
    traced = traced or mtp.tracing()
    time.sleep(0.05)
print("traced:", traced)
"""


def has_pidfd(pid):
    """True once process pid holds a pidfd (mtp-trace opens its handle on
    the target first)."""
    fd_dir = "/proc/%d/fd" % pid
    for fd in os.listdir(fd_dir):
        try:
            if os.readlink(os.path.join(fd_dir, fd)) == "anon_inode:[pidfd]":
                return True
        except OSError:
            pass
    return False


def spawn_watched(python, pydir, tmp, seconds, name):
    """WATCHED, started; returns it and the file it creates once ready."""
    path = os.path.join(tmp, "watched.py")
    with open(path, "w") as f:
        f.write(WATCHED)
    ready = os.path.join(tmp, "%s-ready-%d" % (name, time.monotonic_ns()))
    proc = subprocess.Popen([python, path, str(seconds), ready], env=run.env_with(pydir),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, ready


def spawn_at_pid(pid, start):
    """Runs start() (which returns a process and its ready file) until the
    process it starts gets pid (the kernel hands
    out ns_last_pid + 1 next, when free): the real reuse of a pid, not a
    model of it.  Other processes may take the pid first, so it tries again."""
    for _ in range(20):
        with open("/proc/sys/kernel/ns_last_pid", "w") as f:
            f.write(str(pid - 1))
        proc, ready = start()
        if proc.pid == pid:
            run.wait_for(ready, proc, timeout=60 * SLOW)
            return proc
        proc.kill()
        proc.communicate()
    raise Failure("could not start a process at pid %d in 20 tries" % pid)


def test_pid_reused_during_inspection(trace_bin, python, pydir, tmp):
    """The target exits and its pid goes to another Python program with mtp
    loaded while mtp-trace is inspecting it.  mtp-trace's handle (a pidfd,
    opened before anything else) tells: it exits 1, saying so, and the
    newcomer is never traced; nothing is left pinned.  The window is widened
    by a test seam (MTP_TEST_INSPECT_DELAY_MS), which only waits: the exit,
    the reaping and the reuse are real."""
    first, ready = spawn_watched(python, pydir, tmp, 60 * SLOW, "first")
    run.wait_for(ready, first, timeout=60 * SLOW)
    pid = first.pid
    env = dict(os.environ, MTP_TEST_INSPECT_DELAY_MS=str(int(3000 * SLOW)))
    tracer = subprocess.Popen([trace_bin, "--pid", str(pid), "--interval", "0.2", "--duration",
                               "3"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    second = None
    try:
        deadline = time.monotonic() + 30 * SLOW
        while not has_pidfd(tracer.pid):
            if tracer.poll() is not None:  # read stderr only then: it blocks until the exit
                raise Failure("mtp-trace exited early (%s): %s"
                              % (tracer.returncode, tracer.stderr.read()))
            check(time.monotonic() < deadline, "mtp-trace opened no pidfd in %.0f s"
                  % (30 * SLOW))
            time.sleep(0.01)
        first.kill()
        first.communicate()
        second = spawn_at_pid(pid, lambda: spawn_watched(python, pydir, tmp, 6 * SLOW,
                                                         "second"))
        out, err = tracer.communicate(timeout=60 * SLOW)
        check(tracer.returncode == 1, "mtp-trace exited %s, expected 1: %s"
              % (tracer.returncode, err[-1500:]))
        check("exited while mtp-trace inspected it" in err,
              "mtp-trace did not say the target exited: %s" % err[-1500:])
        check(out == "", "mtp-trace reported on the newcomer: %s" % out[:500])
        sout, serr = second.communicate(timeout=60 * SLOW)
        check(second.returncode == 0 and serr == "", "the newcomer exited %s: %s"
              % (second.returncode, serr[-1500:]))
        check(sout == "traced: False\n", "the newcomer at pid %d was traced: %r" % (pid, sout))
        check(not os.path.exists("/sys/fs/bpf/mtp/%d" % pid), "pins left for pid %d" % pid)
    finally:
        for p in (first, second, tracer):
            if p is not None and p.poll() is None:
                p.kill()
                p.communicate()


# Waits for its tracer, then forks; the child says whether it took itself for
# traced at once, and what it observed and scanned while it worked.
FORKING = r"""
import gc, json, os, sys, time
import mtp
open(sys.argv[1], "w").close()
end = time.monotonic() + 60
while not mtp.tracing() and time.monotonic() < end:
    time.sleep(0.02)
if not mtp.tracing():
    sys.exit("never traced")
time.sleep(1.0)
keys = ("observations", "observe_ns_total", "records_fired", "written_scan_faults",
        "written_pages_fired", "timer_steps")
pid = os.fork()
if pid == 0:
    at_fork = mtp.tracing()
    before = mtp.stats()
    keep = []
    for i in range(10):
        keep.append([[j, str(j)] for j in range(20000)])
        gc.collect()
        time.sleep(0.05)
    after = mtp.stats()
    print(json.dumps({"tracing_at_fork": at_fork, "tracing_at_end": mtp.tracing(),
                      "delta": {k: after[k] - before[k] for k in keys}}), flush=True)
    os._exit(7)
_, status = os.waitpid(pid, 0)
print(json.dumps({"child_status": os.waitstatus_to_exitcode(status),
                  "parent_tracing": mtp.tracing()}), flush=True)
"""


def test_forked_child_untraced(trace_bin, python, pydir, tmp):
    """A child that a traced program forks is not traced (mtp-trace --pid
    follows the one process; launch mode follows children, tested there),
    and it knows so from its first instruction: it observes nothing, fires
    nothing and scans nothing.  The kernel copies the parent's probe
    semaphores into the child with its memory; the child once took itself
    for traced until it next fired each probe (one observation step)."""
    path = os.path.join(tmp, "forking.py")
    with open(path, "w") as f:
        f.write(FORKING)
    ready = os.path.join(tmp, "forking-ready-%d" % time.monotonic_ns())
    prog = subprocess.Popen([python, path, ready], env=run.env_with(pydir),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    tracer = None
    try:
        run.wait_for(ready, prog, timeout=60 * SLOW)
        tracer = run.start_tracer(trace_bin, prog.pid, ["--duration", str(int(60 * SLOW))])
        out, err = prog.communicate(timeout=90 * SLOW)
        check(prog.returncode == 0 and err == "", "the program exited %s: %s"
              % (prog.returncode, err[-1500:]))
        child, parent = [json.loads(line) for line in out.splitlines()]
        check(parent == {"child_status": 7, "parent_tracing": True},
              "the parent saw %r" % parent)
        check(child["tracing_at_fork"] is False and child["tracing_at_end"] is False,
              "the child took itself for traced: %r" % child)
        check(all(v == 0 for v in child["delta"].values()),
              "the untraced child observed or scanned: %r" % child["delta"])
    finally:
        if tracer is not None:
            tracer.send_signal(signal.SIGINT)
            tracer.communicate(timeout=60 * SLOW)
        if prog.poll() is None:
            prog.kill()
            prog.communicate()


SUBINTERPRETER = r"""
import gc, json, sys, _testcapi
result = sys.argv[1]
code = '''
try:
    import mtp
    r = "imported"
except ImportError as e:
    r = str(e)
open(%r, "w").write(r)
''' % result
out = {}
_testcapi.run_in_subinterp(code)
out["first"] = open(result).read()
import mtp
_testcapi.run_in_subinterp(code)
out["after_main"] = open(result).read()
out["callbacks"] = sum(1 for cb in gc.callbacks if getattr(cb, "__name__", "") == "_gc_callback")
del sys.modules["mtp"]
import mtp as again
out["reimported"] = [again.ABI_VERSION == mtp.ABI_VERSION, again.tracing()]
print(json.dumps(out))
"""


def test_subinterpreter_refused(python, pydir, tmp):
    """import mtp in a subinterpreter raises ImportError, before and after
    the main interpreter imported it (a single-phase module was once copied
    into the subinterpreter silently, with no GC callback there); the main
    interpreter's import registers one callback, and importing it there
    again works.  Subinterpreters come from _testcapi.run_in_subinterp, the
    legacy kind that shares the GIL and allows any module that allows it."""
    result = os.path.join(tmp, "subinterp-result")
    r = subprocess.run([python, "-c", SUBINTERPRETER, result], env=run.env_with(pydir),
                       capture_output=True, text=True, timeout=60 * SLOW)
    check(r.returncode == 0, "the program exited %d: %s" % (r.returncode, r.stderr[-1500:]))
    out = json.loads(r.stdout)
    for case in ("first", "after_main"):
        check("only be imported in the main interpreter" in out[case],
              "import mtp in a subinterpreter (%s): %r" % (case, out[case]))
    check(out["callbacks"] == 1, "%d GC callbacks registered" % out["callbacks"])
    check(out["reimported"] == [True, False], "a second import in the main interpreter: %r"
          % (out["reimported"],))
