"""Integration tests of `mtp-trace --inject`: mtp loaded into a running
Python that never imported it (no `import mtp`, no PYTHONPATH), then traced;
the program's output and exit status unchanged; and the refusals, each of
which must leave the target as it was: a process that is not Python, a
stopped one (still stopped after, then finishing normally), one already
ptraced, an interpreter with no extension built (the MTP_INJECT_BUILD test
seam points mtp-trace at an empty build directory), an unsupported
interpreter, and no gdb.  gdb cut short by --inject-timeout at many points
must never harm the target either.

Run by run.py (which registers these tests); the helpers are run.py's.
"""
import functools
import glob
import shutil
import os
import signal
import subprocess
import time

import run
from run import Failure, check
from fleet_tests import HEAP_LOOP, Stream, fills, make_cgroup, remove_cgroup

# Under the guest's emulation (MTP_EMULATED) gdb reads the interpreter's
# symbols many times slower: every deadline scales.
SLOW = 8.0 if os.environ.get("MTP_EMULATED") else 1.0

# A plain program: changes a heap for a while, then prints what injection
# must not change -- its sys.path, the names bound in __main__ -- and exits
# with a status of its own.  It never imports mtp.
PLAIN = r"""
import gc, json, os, sys, time
open(sys.argv[3], "w").close()  # running: injection can start
""" + HEAP_LOOP + r"""
print(json.dumps({"path": sys.path, "main": sorted(k for k in globals() if k[:2] != "__"),
                  "changed": n > 0}))
sys.exit(int(sys.argv[2]))
"""


def plain_env():
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return env


def start_plain(python, tmp, seconds, code=4):
    path = os.path.join(tmp, "plain.py")
    with open(path, "w") as f:
        f.write(PLAIN)
    ready = os.path.join(tmp, "plain-ready-%d" % time.monotonic_ns())
    proc = subprocess.Popen([python, path, str(seconds), str(code), ready], env=plain_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp)
    run.wait_for(ready, proc, timeout=60 * SLOW)
    return proc


def alone_output(python, tmp):
    """What PLAIN prints and exits with when nothing touches it."""
    p = start_plain(python, tmp, 0.2)
    out, err = p.communicate(timeout=60 * SLOW)
    check(p.returncode == 4 and not err, "PLAIN alone exited %s: %s" % (p.returncode, err))
    return out


def has_mtp(pid):
    with open("/proc/%d/maps" % pid) as f:
        # " (deleted)" once mtp-trace has removed its copy
        return any("/mtp." in line and ".so" in line for line in f)


def state_of(pid):
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def inject_dirs():
    return set(glob.glob("/tmp/mtp-inject-*"))


def finish_unchanged(proc, expected, what):
    out, err = proc.communicate(timeout=120 * SLOW)
    check(proc.returncode == 4, "%s: the program exited %s, expected 4; stderr: %s"
          % (what, proc.returncode, err[-1500:]))
    check(out == expected, "%s: the program's output changed:\n%s\nvs alone:\n%s"
          % (what, out, expected))
    check(err == "", "%s: the program wrote to stderr: %s" % (what, err[-1500:]))


@functools.lru_cache(maxsize=None)
def gdb_calls_safe():
    """Whether gdb's calls leave a process as they found it on this machine:
    the probe mtp-trace makes before --inject (user/lib/inject_script.h),
    made apart.  Where gdb cannot write a stopped thread's registers back
    (some CPUs and kernels), a call breaks the interrupted system call's
    restart and the process's sleep fails with ERESTART* errno values.
    gdb runs without the sanitizer runtime the --san run preloads into
    everything (mtp-trace drops LD_PRELOAD for gdb too: user/gdb_run.c);
    a gdb that still does not finish counts as unsafe: mtp-trace refuses."""
    sleeper = subprocess.Popen(["sleep", "2"], stderr=subprocess.DEVNULL)
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    try:
        time.sleep(0.1)
        try:
            out = subprocess.run(["gdb", "-p", str(sleeper.pid), "-batch", "-nx", "-ex",
                                  "call (int)getpid()"], capture_output=True, text=True,
                                 timeout=60, env=env)
        except subprocess.TimeoutExpired:
            return False
        time.sleep(0.1)
        return "Couldn't write" not in out.stdout + out.stderr and sleeper.poll() in (None, 0)
    finally:
        sleeper.kill()
        sleeper.wait()


def test_inject_refused_where_unsafe(trace_bin, python, tmp):
    """Where gdb's calls would break the target's interrupted system call
    (gdb_calls_safe() is false), --inject refuses, says why and what to do,
    and the program runs on as it would alone."""
    expected = alone_output(python, tmp)
    p = start_plain(python, tmp, 3 * SLOW)
    r = subprocess.run([trace_bin, "--inject", "--pid", str(p.pid), "--duration", "2"],
                       capture_output=True, text=True, timeout=120 * SLOW)
    check(r.returncode != 0, "mtp-trace --inject exited 0 where gdb's calls are unsafe")
    check(("--inject is refused here" in r.stderr and "import mtp" in r.stderr)
          or "gdb did not finish its probe call" in r.stderr,
          "no refusal naming the fix: %s" % r.stderr[-1500:])
    check(not has_mtp(p.pid), "the extension is in the refused program's maps")
    finish_unchanged(p, expected, "refused")


def test_inject_traced(trace_bin, python, tmp):
    """--inject --pid: mtp is loaded into a plain program, which is then
    traced (JSON reports for its pid, with records), and the program's
    output, sys.path, __main__ and exit status are what they are alone;
    mtp-trace leaves no copy of the extension behind."""
    expected = alone_output(python, tmp)
    before = inject_dirs()
    p = start_plain(python, tmp, 6 * SLOW)
    check(not has_mtp(p.pid), "the plain program has mtp before injection")
    s = Stream([trace_bin, "--inject", "--inject-timeout", str(int(10 * SLOW)), "--pid",
                str(p.pid), "--interval", "0.5", "--json"])
    try:
        s.until(lambda: fills(s, p.pid), 30 * SLOW, "records from the injected program")
        check(has_mtp(p.pid), "reports came, but the extension is not in the maps")
        check(s.said("injecting mtp into pid %d" % p.pid), "no note of the injection: %s"
              % "".join(s.err))
        rc = s.finish(60 * SLOW)
    finally:
        s.kill()
        if p.poll() is None:
            finish_unchanged(p, expected, "injected")
    check(rc == 0, "mtp-trace exited %s: %s" % (rc, "".join(s.err)[-2000:]))
    final = [o for o in s.of(p.pid) if o.get("final")]
    check(final and final[0].get("stop_reason") == "target exited",
          "no final report for the injected program: %s" % s.objs[-1:])
    check(p.returncode == 4, "the injected program exited %s" % p.returncode)
    check(inject_dirs() <= before, "copies of the extension left: %s"
          % sorted(inject_dirs() - before))


def refuse(trace_bin, pid, needle, env=None, prefix=()):
    r = subprocess.run(list(prefix) + [trace_bin, "--inject", "--pid", str(pid), "--duration",
                                       "1"], capture_output=True, text=True, timeout=60 * SLOW,
                       env=env)
    check(r.returncode != 0, "mtp-trace --inject succeeded where it must refuse (%s): %s"
          % (needle, r.stderr))
    check(needle in r.stderr, "the refusal does not say %r: %s" % (needle, r.stderr))
    check("injecting" not in r.stderr, "mtp-trace went on to inject: %s" % r.stderr)
    return r


def test_inject_refusals(trace_bin, python, tmp):
    """Each refusal exits non-zero, says why and what to do, and leaves the
    target as it was: not Python, stopped, already traced, no build for its
    interpreter, no gdb on PATH, no CAP_SYS_PTRACE.  (Yama's scope 3 is
    unit-tested only: setting it cannot be undone before a reboot.)"""
    expected = alone_output(python, tmp)
    before = inject_dirs()
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        refuse(trace_bin, sleeper.pid, "not a Python process")
        check(sleeper.poll() is None, "the sleep died")
    finally:
        sleeper.kill()
        sleeper.wait()

    p = start_plain(python, tmp, 2 * SLOW)
    try:
        # Stopped: refused, and still stopped afterwards.
        os.kill(p.pid, signal.SIGSTOP)
        deadline = time.monotonic() + 10 * SLOW
        while state_of(p.pid) not in "Tt" and time.monotonic() < deadline:
            time.sleep(0.01)
        refuse(trace_bin, p.pid, "kill -CONT %d" % p.pid)
        check(state_of(p.pid) == "T", "the stopped program is in state %s after the refusal"
              % state_of(p.pid))
        os.kill(p.pid, signal.SIGCONT)

        # Already ptraced, by strace.
        tracer = subprocess.Popen(["strace", "-p", str(p.pid), "-o", "/dev/null"],
                                  stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 10 * SLOW
            while "TracerPid:\t0\n" in open("/proc/%d/status" % p.pid).read():
                check(time.monotonic() < deadline, "strace did not attach")
                time.sleep(0.02)
            refuse(trace_bin, p.pid, "already traced by pid %d" % tracer.pid)
        finally:
            tracer.terminate()
            tracer.wait(timeout=30)

        # No build for this interpreter (the test seam: an empty build dir).
        empty = os.path.join(tmp, "no-builds")
        os.makedirs(empty, exist_ok=True)
        r = refuse(trace_bin, p.pid, "make pyext PYTHON=",
                   env=dict(os.environ, MTP_INJECT_BUILD=empty))
        check(empty in r.stderr, "the refusal does not say where it looked: %s" % r.stderr)

        # No gdb: the apt command.
        refuse(trace_bin, p.pid, "apt-get install gdb", env=dict(os.environ, PATH="/nonexistent"))

        # Root without CAP_SYS_PTRACE (dropped from the bounding set, so the
        # exec'd mtp-trace lacks it in CapEff).
        refuse(trace_bin, p.pid, "needs CAP_SYS_PTRACE",
               prefix=["setpriv", "--inh-caps=-sys_ptrace", "--bounding-set=-sys_ptrace"])
        check(not has_mtp(p.pid), "a refusal loaded mtp anyway")
    finally:
        if p.poll() is None and state_of(p.pid) in "Tt":
            os.kill(p.pid, signal.SIGCONT)
        finish_unchanged(p, expected, "refused")
    check(inject_dirs() <= before, "a refusal left a copy: %s" % sorted(inject_dirs() - before))


def test_inject_unsupported(trace_bin, python, tmp):
    """An interpreter --inject does not support (pyenv's 3.8 here) is
    refused by version, read from the process."""
    p = start_plain(python, tmp, 2 * SLOW)
    try:
        refuse(trace_bin, p.pid, "Python 3.8 is not supported")
    finally:
        out, err = p.communicate(timeout=60 * SLOW)
    check(p.returncode == 4 and not err, "the 3.8 program exited %s: %s" % (p.returncode, err))


def test_inject_cut_short(trace_bin, python, tmp):
    """gdb cut short by --inject-timeout, at points from before it attaches
    to after it queued the import: whatever happens to the injection, the
    program runs on, is never left stopped, and prints and exits as alone."""
    expected = alone_output(python, tmp)
    before = inject_dirs()
    outcomes = []
    for ms in (100, 200, 300, 400, 500, 800):
        # Outlives an injection, a BPF load (1.5 s here) and an attach.
        p = start_plain(python, tmp, 6 * SLOW)
        try:
            r = subprocess.run([trace_bin, "--inject", "--inject-timeout", "%dms" % ms,
                                "--pid", str(p.pid), "--duration", "0.5"],
                               capture_output=True, text=True, timeout=60 * SLOW, cwd=tmp)
            outcomes.append("%dms:%s" % (ms, "traced" if r.returncode == 0 else "refused"))
            check(r.returncode == 0 or "inject-timeout" in r.stderr,
                  "at %d ms: mtp-trace failed without naming --inject-timeout: %s"
                  % (ms, r.stderr))
            check(p.poll() is not None or state_of(p.pid) not in "Tt",
                  "at %d ms: the program was left stopped" % ms)
        finally:
            finish_unchanged(p, expected, "cut short at %d ms" % ms)
    print("     " + " ".join(outcomes))
    check(inject_dirs() <= before, "copies left: %s" % sorted(inject_dirs() - before))
    # gdb stopped mid-attach once dumped core into mtp-trace's directory
    cores = glob.glob(os.path.join(tmp, "core*"))
    check(not cores, "gdb left a core in the operator's directory: %s" % cores)


def test_inject_cgroup(trace_bin, python, tmp):
    """--inject --cgroup: a plain Python that joins is injected and traced;
    a member that cannot be injected (a stopped one) is said once and not
    tried again at every interval."""
    cg, rel = make_cgroup("mtp-it-inject")
    check(cg, "no cgroup v2 hierarchy mounted")
    s = None
    expected = alone_output(python, tmp)
    try:
        s = Stream([trace_bin, "--inject", "--inject-timeout", str(int(10 * SLOW)),
                    "--cgroup", rel, "--interval", "0.5", "--json"])
        s.until(lambda: s.said("waiting for one"), 10 * SLOW, "note that the group is empty")
        held = start_plain(python, tmp, 3 * SLOW)
        os.kill(held.pid, signal.SIGSTOP)
        with open(os.path.join(cg, "cgroup.procs"), "w") as f:
            f.write(str(held.pid))
        # The shell joins and execs the program: a fork of this test (a
        # Python) never stands in the group, where it would be injected.
        path = os.path.join(tmp, "plain.py")
        ready = os.path.join(tmp, "plain-cg-ready")
        p = subprocess.Popen(["sh", "-c", 'echo $$ > "$0"/cgroup.procs && exec "$@"', cg, python,
                              path, str(6 * SLOW), "4", ready], env=plain_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        s.until(lambda: fills(s, p.pid), 40 * SLOW, "records from the injected member")
        s.pump(2.0)
        tried = sum("pid %d is stopped" % held.pid in line for line in s.err)
        check(tried == 1, "the stopped member was tried %d times: %s" % (tried, "".join(s.err)))
        check(s.proc.poll() is None, "mtp-trace stopped")
        os.kill(held.pid, signal.SIGCONT)
        finish_unchanged(held, expected, "stopped member")
        finish_unchanged(p, expected, "injected member")
        s.proc.send_signal(signal.SIGINT)
        rc = s.finish(30 * SLOW)
        check(rc == 0, "mtp-trace exited %d on SIGINT: %s" % (rc, "".join(s.err)[-1500:]))
    finally:
        if s:
            s.kill()
        remove_cgroup(cg)


def find_python38():
    for d in sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.8.*"))):
        exe = os.path.join(d, "bin", "python3.8")
        if os.access(exe, os.X_OK):
            return exe
    return None


def test_inject_retrace(trace_bin, python, tmp):
    """Once injected, a program stays traceable: its copy of the extension
    is removed (its mapping reads "(deleted)"), and a later mtp-trace, with
    or without --inject, traces it through /proc/PID/map_files without
    injecting again."""
    expected = alone_output(python, tmp)
    p = start_plain(python, tmp, 16 * SLOW)  # three BPF loads and traces
    try:
        for i, args in enumerate((["--inject"], [], ["--inject"])):
            r = subprocess.run([trace_bin, "--pid", str(p.pid), "--duration", "1", "--interval",
                                "0.5", "--json"] + args, capture_output=True, text=True,
                               timeout=60 * SLOW)
            check(r.returncode == 0, "mtp-trace %s exited %d: %s" % (args, r.returncode,
                                                                     r.stderr[-1500:]))
            check(any('"records"' in line and '"final":true' in line for line in
                      r.stdout.splitlines()), "mtp-trace %s printed no final report" % args)
            injected = r.stderr.count("injecting mtp")
            check(injected == (1 if i == 0 else 0), "run %d (%s) injected %d times: %s"
                  % (i, args, injected, r.stderr))
            check(i == 0 or "through /proc/%d/map_files/" % p.pid in r.stderr,
                  "run %d did not trace through map_files: %s" % (i, r.stderr))
        check("(deleted)" in open("/proc/%d/maps" % p.pid).read(),
              "the injected copy was not removed")
    finally:
        finish_unchanged(p, expected, "traced three times")


def test_inject_hostile_root(trace_bin, python, tmp):
    """A target in a root of its own (unshare -m + chroot, /usr bound in)
    whose /tmp is an absolute symlink, /var/tmp/VICTIM: the copy of the
    extension must land in the target's /var/tmp/VICTIM (openat2 with
    RESOLVE_IN_ROOT), never in mtp-trace's own /var/tmp/VICTIM, which exists
    too.  The program is traced and unchanged."""
    victim = "/var/tmp/mtp-it-victim-%d" % os.getpid()
    root = os.path.join(tmp, "jail")
    for d in ("usr", "work", victim.lstrip("/")):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    for link, to in (("lib", "usr/lib"), ("lib64", "usr/lib64"), ("bin", "usr/bin"),
                     ("tmp", victim)):
        os.symlink(to, os.path.join(root, link))
    with open(os.path.join(root, "work", "plain.py"), "w") as f:
        f.write(PLAIN)
    os.makedirs(victim, exist_ok=True)

    def jailed(seconds, ready):
        return subprocess.Popen(
            ["unshare", "-m", "--", "sh", "-c", 'mount --bind /usr "$0/usr" && exec chroot "$@"',
             root, root, python, "/work/plain.py", str(seconds), "4", ready],
            env=plain_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        alone = jailed(0.2, "/work/ready-alone")
        expected, err = alone.communicate(timeout=60 * SLOW)
        check(alone.returncode == 4 and not err, "the jailed program alone exited %s: %s"
              % (alone.returncode, err))
        p = jailed(8 * SLOW, "/work/ready")
        run.wait_for(os.path.join(root, "work", "ready"), p, timeout=60 * SLOW)
        # unshare execs sh, which execs chroot, which execs python: one pid.
        deadline = time.monotonic() + 10 * SLOW
        while os.readlink("/proc/%d/root" % p.pid) != root and time.monotonic() < deadline:
            time.sleep(0.05)
        r = subprocess.run([trace_bin, "--inject", "--pid", str(p.pid), "--duration", "1",
                            "--json", "--inject-timeout", str(int(10 * SLOW))],
                           capture_output=True, text=True, timeout=120 * SLOW)
        check(r.returncode == 0, "mtp-trace exited %d: %s" % (r.returncode, r.stderr[-2000:]))
        check(any('"records"' in line for line in r.stdout.splitlines()),
              "no report for the jailed program: %s" % r.stderr[-1500:])
        with open("/proc/%d/maps" % p.pid) as f:
            ext = [line.split(None, 5)[5].strip() for line in f if "/mtp-inject-" in line]
        check(ext and ext[0].startswith(os.path.join(root, victim.lstrip("/"), "mtp-inject-")),
              "the copy was not made in the jail's %s: %s" % (victim, ext[:1]))
        check(os.listdir(victim) == [], "something was written to mtp-trace's own %s: %s"
              % (victim, os.listdir(victim)))
        finish_unchanged(p, expected, "jailed")
    finally:
        os.rmdir(victim) if os.path.isdir(victim) and not os.listdir(victim) else None


def test_inject_gdb_hangs(trace_bin, python, tmp):
    """A gdb that hangs while it holds the target stopped (a wrapper first on
    PATH runs the real gdb with 'shell sleep' before mtp-trace's script):
    past --inject-timeout mtp-trace interrupts, terminates, then kills gdb,
    never the target, says so, and the target runs on unchanged, not
    stopped.  The wrapper hangs only with the target (mtp-trace runs gdb as
    'gdb -p PID ...'): mtp-trace first probes gdb's calls on a sleep(1) of
    its own with the same gdb, and a wrapper that hung there too failed this
    test on every host where gdb's calls are safe (since 98d0b00)."""
    expected = alone_output(python, tmp)
    bindir = os.path.join(tmp, "hanging-gdb")
    os.makedirs(bindir, exist_ok=True)
    wrapper = os.path.join(bindir, "gdb")
    before = inject_dirs()
    p = start_plain(python, tmp, 15 * SLOW)
    with open(wrapper, "w") as f:
        f.write('#!/bin/sh\n[ "$1 $2" = "-p %d" ] && exec %s -ex "shell sleep %d" "$@"\n'
                'exec %s "$@"\n' % (p.pid, shutil.which("gdb"), int(20 * SLOW),
                                    shutil.which("gdb")))
    os.chmod(wrapper, 0o755)
    try:
        t0 = time.monotonic()
        r = subprocess.run([trace_bin, "--inject", "--inject-timeout", "%.0f" % (2 * SLOW),
                            "--pid", str(p.pid)], capture_output=True, text=True,
                           timeout=120 * SLOW,
                           env=dict(os.environ, PATH=bindir + ":" + os.environ["PATH"]))
        took = time.monotonic() - t0
        check(r.returncode != 0, "mtp-trace succeeded with a hanging gdb: %s" % r.stderr)
        check("was stopped (the target runs on, untouched)" in r.stderr,
              "mtp-trace does not say it stopped gdb: %s" % r.stderr)
        check(took < 20 * SLOW, "mtp-trace waited %.1f s for the hanging gdb" % took)
        check(state_of(p.pid) not in "Tt", "the target was left stopped (%s)" % state_of(p.pid))
        with open("/proc/%d/status" % p.pid) as f:
            check("TracerPid:\t0\n" in f.read(), "the target is still traced")
        print("     gdb stopped after %.1f s; %s" % (took, r.stderr.strip().splitlines()[-1][:160]))
    finally:
        finish_unchanged(p, expected, "held by a hanging gdb")
    check(inject_dirs() <= before, "copies left: %s" % sorted(inject_dirs() - before))
