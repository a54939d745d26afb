"""make install, the man page and the systemd unit (issue 15).  Run by
run.py."""

import os
import re
import shutil
import subprocess
import tempfile

import run
from run import check


def test_install(trace_bin):
    """make install DESTDIR=... PREFIX=/usr/local installs every file it
    lists, and nothing else; the installed mtp-trace runs; the man page
    renders with no groff warning and names every option --help lists; the
    unit template passes systemd-analyze verify (as an instance); the
    extension imports from where it was installed."""
    dest = tempfile.mkdtemp(prefix="mtp-install-")
    try:
        r = subprocess.run(["make", "-s", "-C", run.ROOT, "install", "DESTDIR=" + dest,
                            "PREFIX=/usr/local", "PYTHON=/usr/bin/python3"],
                           capture_output=True, text=True, timeout=600)
        check(r.returncode == 0, "make install failed: %s" % r.stderr[-2000:])
        got = sorted(os.path.relpath(os.path.join(d, f), dest)
                     for d, _, files in os.walk(dest) for f in files)
        want = ["usr/local/bin/mtp-report",
                "usr/local/lib/python3.11/dist-packages/mtp.cpython-311-x86_64-linux-gnu.so",
                "usr/local/lib/systemd/system/mtp-trace@.service",
                "usr/local/sbin/mtp-trace",
                "usr/local/share/doc/mtp/example.ini",
                "usr/local/share/man/man8/mtp-trace.8"]
        check(got == want, "installed %s, expected %s" % (got, want))
        sbin = os.path.join(dest, "usr/local/sbin/mtp-trace")
        r = subprocess.run([sbin, "--help"], capture_output=True, text=True, timeout=30)
        check(r.returncode == 0, "the installed mtp-trace: exit %d" % r.returncode)
        # The option lines of --help: "  -p, --pid=..." or "      --json ...".
        options = set(re.findall(r"^\s+(?:-\S, )?--([a-z][a-z-]+)", r.stdout, re.M))
        options -= {"help", "usage", "version"}
        check(len(options) > 20, "--help lists only %s" % sorted(options))
        page = os.path.join(dest, "usr/local/share/man/man8/mtp-trace.8")
        g = subprocess.run(["groff", "-mdoc", "-ww", "-z", page], capture_output=True,
                           text=True, timeout=30)
        check(g.returncode == 0 and g.stderr == "", "groff warns: %s" % g.stderr[-1500:])
        text = subprocess.run(["man", "-l", "-P", "cat", page], capture_output=True, text=True,
                              timeout=30, env=dict(os.environ, MANWIDTH="100")).stdout
        missing = sorted(o for o in options if "--" + o not in text)
        check(not missing, "the man page lacks %s" % missing)
        for section in ("EXIT STATUS", "OPTIONS", "FILES"):
            check(section in text, "the man page has no %s" % section)
        unit = os.path.join(dest, "mtp-trace@demo.service")
        with open(os.path.join(dest, "usr/local/lib/systemd/system/mtp-trace@.service")) as f:
            body = f.read().replace("/usr/local/sbin/mtp-trace", sbin)
        with open(unit, "w") as f:
            f.write(body)
        if shutil.which("systemd-analyze"):
            # The service it binds to, beside it.
            demo = os.path.join(dest, "demo.service")
            with open(demo, "w") as f:
                f.write("[Service]\nExecStart=/bin/sleep infinity\n")
            v = subprocess.run(["systemd-analyze", "verify", "--man=no", demo, unit],
                               capture_output=True, text=True, timeout=60)
            check(v.returncode == 0 and v.stderr == "", "systemd-analyze verify: %s"
                  % v.stderr[-1500:])
        r = subprocess.run(["/usr/bin/python3", "-c", "import mtp; print(mtp.__file__)"],
                           capture_output=True, text=True, timeout=30,
                           env=dict(os.environ, PYTHONPATH=os.path.join(
                               dest, "usr/local/lib/python3.11/dist-packages")))
        check(r.returncode == 0 and dest in r.stdout, "the installed extension: %s%s"
              % (r.stdout, r.stderr[-1000:]))
    finally:
        shutil.rmtree(dest, ignore_errors=True)
