"""Integration tests of launch mode, `mtp-trace [options] -- python3 prog args`:
the program runs with mtp imported from its first line, unchanged (output,
sys.path, exit status), its descendants are traced, signals sent to
mtp-trace reach it, and a sitecustomize it already had still runs.

Run by run.py (which registers these tests); the helpers are run.py's.
"""
import json
import os
import signal
import subprocess
import time

from run import Failure, check
from fleet_tests import Stream, fills  # noqa: F401  (Stream: the JSON stream)

# Prints what a program can see of its own start; changes a heap meanwhile.
PROGRAM = r"""
import gc, json, os, sys, time
d = [{"k": i, "v": [i, i]} for i in range(30000)]
end = time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    for i in range(0, len(d), 5):
        d[i]["k"] += 1
    gc.collect(0)
    time.sleep(0.02)
print(json.dumps({"path": sys.path, "argv": sys.argv[1:], "marker": os.environ.get("MARK")}))
sys.exit(int(sys.argv[2]))
"""

FORKING = r"""
import gc, os, sys, time
pid = os.fork()
d = [[i] * 3 for i in range(30000)]
end = time.monotonic() + 10  # long enough to be found and attached in the guest
while time.monotonic() < end:
    for i in range(0, len(d), 7):
        d[i][0] += 1
    gc.collect(0)
    time.sleep(0.02)
if pid:
    os.waitpid(pid, 0)
    print("parent done")
else:
    os._exit(0)
"""

SIGNALS = r"""
import signal, sys, time
got = []
signal.signal(signal.SIGUSR1, lambda s, f: got.append("usr1"))
signal.signal(signal.SIGTERM, lambda s, f: (print("term", got, flush=True), sys.exit(7)))
print("ready", flush=True)
time.sleep(60)
"""


def write(tmp, name, text):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def launch_dirs():
    return {d for d in os.listdir("/tmp") if d.startswith("mtp-launch-")}


def plain_env():
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return env


def test_launch_unchanged(trace_bin, python, tmp):
    """The program's output (its sys.path and argv included) and exit status
    are the same launched as run alone, and it is traced from the start."""
    prog = write(tmp, "launched.py", PROGRAM)
    before = launch_dirs()
    alone = subprocess.run([python, prog, "1", "5", "--flag"], capture_output=True, text=True,
                           env=plain_env(), timeout=60)
    check(alone.returncode == 5, "untraced run exited %d: %s" % (alone.returncode, alone.stderr))
    s = Stream([trace_bin, "--interval", "0.5", "--json", "--", python, prog, "6", "5",
                "--flag"])
    rc = s.finish(60)
    out = [o for o in s.objs]
    check(rc == 5, "mtp-trace exited %d, the program's status was 5; stderr: %s"
          % (rc, "".join(s.err)[-1500:]))
    pids = {o["pid"] for o in out}
    check(len(pids) == 1 and fills(s, next(iter(pids))),
          "the launched program was not traced from the start: %s" % out[-1:])
    final = [o for o in out if o.get("final")]
    check(final and final[-1]["stop_reason"] == "target exited", "final reports: %s" % final)
    # mtp-trace's JSON went to its stdout; the program's own stdout is the
    # same stream, so its line is the one that is not a report.
    r = subprocess.run([trace_bin, "--interval", "0.5", "--", python, prog, "1", "0", "x"],
                       capture_output=True, text=True, env=plain_env(), timeout=60)
    lines = [l for l in r.stdout.splitlines() if l.startswith('{"path"')]
    again = subprocess.run([python, prog, "1", "0", "x"], capture_output=True, text=True,
                           env=plain_env(), timeout=60)
    check(r.returncode == 0 and lines == again.stdout.splitlines(),
          "launched output differs:\n%s\nalone:\n%s" % (lines, again.stdout))
    # The program's stderr is the rest of the stream mtp-trace writes to: an
    # interpreter without a sitecustomize of its own (pyenv's) once said
    # "Error in sitecustomize ... KeyError" there.
    theirs = [l for l in r.stderr.splitlines() if not l.startswith("mtp-trace:")]
    check(theirs == again.stderr.splitlines(), "launched, the program's stderr differs: %s\n"
          "alone: %s" % (theirs, again.stderr))
    left = launch_dirs() - before
    check(not left, "launch directories left behind: %s" % sorted(left))


def test_launch_descendants_and_chain(trace_bin, python, tmp):
    """A forked child is traced too; a sitecustomize the program already had
    on its PYTHONPATH still runs."""
    prog = write(tmp, "forking.py", FORKING)
    site = os.path.join(tmp, "site-own")
    os.makedirs(site, exist_ok=True)
    marker = os.path.join(tmp, "own-sitecustomize-ran")
    if os.path.exists(marker):
        os.unlink(marker)
    write(site, "sitecustomize.py", "open(%r, 'w').close()\n" % marker)
    env = dict(plain_env(), PYTHONPATH=site)
    p = subprocess.Popen([trace_bin, "--interval", "0.5", "--json", "--", python, prog],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    out, err = p.communicate(timeout=60)
    objs = [json.loads(l) for l in out.splitlines() if l.startswith('{"pid"')]
    check(p.returncode == 0 and "parent done" in out,
          "exit %d, out %r, err %s" % (p.returncode, out[-300:], err[-1500:]))
    pids = {o["pid"] for o in objs if o.get("records", 0) > 0}
    check(len(pids) == 2, "expected the program and its forked child traced, got %s; %s"
          % (pids, err[-1500:]))
    check(os.path.exists(marker), "the program's own sitecustomize did not run")


def test_launch_signals(trace_bin, python, tmp):
    """Signals sent to mtp-trace reach the program, which decides what they
    do; mtp-trace exits with the program's status."""
    prog = write(tmp, "signals.py", SIGNALS)
    p = subprocess.Popen([trace_bin, "--interval", "0.5", "--", python, prog],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=plain_env())
    try:
        line = p.stdout.readline()
        deadline = time.monotonic() + 30
        while "ready" not in line and time.monotonic() < deadline and line:
            line = p.stdout.readline()
        check("ready" in line, "the program never said ready")
        time.sleep(1.0)  # traced by now: the signals must not stop mtp-trace
        p.send_signal(signal.SIGUSR1)
        time.sleep(0.5)
        check(p.poll() is None, "SIGUSR1 stopped mtp-trace")
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=30)
    except (Failure, subprocess.TimeoutExpired):
        p.kill()
        p.communicate()
        raise
    check("term ['usr1']" in out, "the program did not see SIGUSR1 then SIGTERM: %r; %s"
          % (out[-500:], err[-1000:]))
    check(p.returncode == 7, "mtp-trace exited %d, the program's status was 7" % p.returncode)


def test_launch_short_children(trace_bin, python, tmp):
    """A launched program that runs short-lived Python children (which exit
    while mtp-trace is attaching to them, or before) is traced, and the
    children's exits need no word: no error, no libbpf message; the
    program's output and status are its own."""
    prog = write(tmp, "spawner.py", "import subprocess, sys, time\n"
                 "time.sleep(1)\n"
                 "for i in range(8):\n"
                 "    code = 'import time; time.sleep(%.2f); print(%d)' % (0.04 * i, i)\n"
                 "    subprocess.run([sys.executable, '-c', code], check=True)\n"
                 "sys.exit(3)\n")
    r = subprocess.run([trace_bin, "--interval", "0.5", "--", python, prog], capture_output=True,
                       text=True, env=plain_env(), timeout=120)
    check(r.returncode == 3, "mtp-trace exited %d, the program's status was 3: %s"
          % (r.returncode, r.stderr[-1500:]))
    printed = [l for l in r.stdout.splitlines() if l.strip().isdigit() and len(l.strip()) == 1]
    check(printed == [str(i) for i in range(8)], "the children's output: %r" % printed)
    noise = [l for l in r.stderr.splitlines() if "error" in l or l.startswith("libbpf:")]
    check(not noise, "short-lived children made noise: %s" % noise[:5])
    check("tracing pid" in r.stderr, "the program was not traced: %s" % r.stderr[-1500:])
