"""mtp-trace --top (issue 15): the live view driven as a person would, in a
real terminal (tmux, 80x24) on a program whose hot and cold types are known
(top_program.py): the tier lines and the hot type appear after a few
intervals, a key re-sorts, a resize redraws to the new size, q ends it with
exit 0 and the final report after the screen.  Piped, --top prints the plain
lines and says so once.  Its two command-line errors name the fix.  Run by
run.py."""

import os
import subprocess
import time

import run
from run import check

PROGRAM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "top_program.py")


class Tmux:
    """A tmux server of the test's own (its own socket), one window."""

    def __init__(self, command, width, height):
        self.sock = "mtp-top-test-%d" % os.getpid()
        self.tmux("new-session", "-d", "-s", "top", "-x", str(width), "-y", str(height), command)

    def tmux(self, *args):
        return subprocess.run(["tmux", "-L", self.sock] + list(args), capture_output=True,
                              text=True, timeout=30, check=True).stdout

    def screen(self, history=False):
        """The pane's text, one string a row (-S -: its scrollback too)."""
        return self.tmux("capture-pane", "-p", "-t", "top",
                         *(["-S", "-"] if history else [])).split("\n")[:-1]

    def wait(self, cond, what, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = self.screen()
            if cond(rows):
                return rows
            time.sleep(0.2)
        raise run.Failure("timed out waiting for %s; the screen:\n%s"
                          % (what, "\n".join(self.screen())))

    def close(self):
        subprocess.run(["tmux", "-L", self.sock, "kill-server"], capture_output=True)


def start_program(python, pydir, tmp, seconds):
    ready = os.path.join(tmp, "top-ready-%d" % time.monotonic_ns())
    prog = subprocess.Popen([python, PROGRAM, str(seconds), ready], env=run.env_with(pydir),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    run.wait_for(ready, prog)
    return prog


def row_of(rows, needle, first=0):
    return next((i for i, r in enumerate(rows) if i >= first and needle in r), -1)


def interval_of(rows):
    """The interval the title shows, or 0."""
    title = rows[0] if rows else ""
    return int(title.rsplit("interval", 1)[1]) if "interval" in title else 0


def test_top_live(trace_bin, python, pydir, tmp):
    prog = start_program(python, pydir, tmp, 120)
    exit_file = os.path.join(tmp, "top-exit")
    if os.path.exists(exit_file):
        os.unlink(exit_file)
    # After the view, the shell keeps the pane open so that its scrollback
    # (the final report) can be read.
    term = Tmux("%s --pid %d --top; echo $? > %s; echo EXIT DONE; sleep 600"
                % (trace_bin, prog.pid, exit_file), 80, 24)
    try:
        # ColdThing's 200,000 objects are the most bytes without heat once a
        # cycle has observed them (seconds; longer under sanitizers).  HotThing
        # is seen before it has heat: GC never visits it (it is old), so its
        # heat comes from the written-page scan, whose stride covers every
        # page only in a few intervals.  The table is read once both hold.
        def settled(r):
            hot, cold = row_of(r, "__main__.HotThing", 7), row_of(r, "__main__.ColdThing", 7)
            return (interval_of(r) >= 3 and hot > 0 and 0 < cold and hot < cold
                    and r[5].startswith("coldest __main__.ColdThing "))

        rows = term.wait(settled, "__main__.HotThing above __main__.ColdThing by heat, "
                         "and __main__.ColdThing coldest", timeout=60)
        check(len(rows) == 24 and all(len(r) <= 80 for r in rows),
              "not 80x24: %d rows, widest %d" % (len(rows), max(map(len, rows))))
        check(rows[0].startswith("mtp-trace --top  pid %d (python3)" % prog.pid),
              "title: %r" % rows[0])
        tiered = row_of(rows, "fast [") == 1
        if tiered:
            check(row_of(rows, "slow [") == 2 and "budget" in rows[1], "tier bars: %r" % rows[1:3])
        else:  # one node, as on this host: said, not drawn as empty tiers
            check(rows[1].startswith("mem  [") and " live, " in rows[1]
                  and "everything on one node" in rows[2], "one-tier lines: %r" % rows[1:3])
        check(rows[4].startswith("scan ") and "% of wall" in rows[4], "scan line: %r" % rows[4])
        header = row_of(rows, "TYPE (")
        check(header == 6 and "by heat" in rows[6] and len(rows[6]) == 80,
              "type table header: %r" % rows[6])
        check(rows[23].startswith("q quit"), "keys line: %r" % rows[23])

        term.tmux("send-keys", "-t", "top", "c")
        rows = term.wait(lambda r: "by coldest first" in r[6], "the table sorted by coldness")
        check(rows[5].startswith("hottest"), "sorted by coldness, line 5: %r" % rows[5])

        term.tmux("resize-window", "-t", "top", "-x", "100", "-y", "30")
        rows = term.wait(lambda r: len(r) == 30 and len(r[6]) == 100,
                         "a redraw at 100x30")
        check(rows[29].startswith("q quit") and all(len(r) <= 100 for r in rows),
              "after the resize: %r" % rows[-1])

        term.tmux("send-keys", "-t", "top", "q")
        term.wait(lambda r: any("EXIT DONE" in x for x in r), "mtp-trace to end on q")
        with open(exit_file) as f:
            status = int(f.read())
        text = "\n".join(term.screen(history=True))
        check(status == 0, "q: exit %d\n%s" % (status, text[-2000:]))
        check("pid %d stopped (signal)" % prog.pid in text, "no final report after q:\n%s"
              % text[-2000:])
        final = text[text.index("pid %d stopped" % prog.pid):]
        check("Python types" in final and "__main__.HotThing" in final,
              "the final report misses the type table:\n%s" % final)
        check(not os.path.exists("/sys/fs/bpf/mtp/%d" % prog.pid), "pins left after q")
    finally:
        term.close()
        prog.kill()
        prog.communicate()


def test_top_piped(trace_bin, python, pydir, tmp):
    prog = start_program(python, pydir, tmp, 60)
    try:
        r = subprocess.run([trace_bin, "--pid", str(prog.pid), "--top", "--duration", "2.5"],
                           capture_output=True, text=True, timeout=60)
    finally:
        prog.kill()
        prog.communicate()
    check(r.returncode == 0, "exit %d: %s" % (r.returncode, r.stderr[-1500:]))
    check(r.stderr.count("stdout is not a terminal") == 1 and
          "plain lines instead of the live view" in r.stderr, "not said once: %s" % r.stderr)
    lines = r.stdout.splitlines()
    check(lines and lines[0].split()[:2] == ["PID", "TIME(s)"], "no header: %r" % lines[:2])
    rows = [l for l in lines[1:] if l.split() and l.split()[0] == str(prog.pid)]
    check(len(rows) >= 2, "fewer than 2 interval lines:\n%s" % r.stdout)
    check("stopped (duration)" in r.stdout and "\x1b" not in r.stdout,
          "not plain text, or no final report:\n%s" % r.stdout[-1500:])


def test_top_errors(trace_bin):
    run.expect_error(trace_bin, ["--pid", "1", "--top", "--json"],
                     "--top and --json conflict: --top draws a live view on the terminal")
    run.expect_error(trace_bin, ["--pid", "1", "--top", "10"],
                     "the hottest pages to list are --top-pages 10")
    run.expect_error(trace_bin, ["--top", "3", "--pid", "1"], "--top-pages 3")
