#!/usr/bin/env python3
"""CPython's own regression tests under mtp (issue 14): a subset of Debian's
libpython3.11-testsuite, run by Debian's python3 once alone and once
launched by mtp-trace (the extension imported through launch mode's
sitecustomize, a tracer attached from the start, the written-page scan on),
compared test case by test case from regrtest's JUnit XML.  Debian leaves
test_capi out of its package; it runs from pyenv's 3.11 (same version,
whole test directory) when that is installed.

A test case whose outcome differs is run again, alone, both ways, up to
twice: a timing-sensitive test (test_threading, test_signal) may flip once
by chance, and a difference mtp causes does not go away.  Prints the
counts; fails on any difference that stays.

Usage: cpython_suite.py --build build"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYTHON = "/usr/bin/python3"
TESTS = ["test_gc", "test_weakref", "test_finalization", "test_threading", "test_os",
         "test_signal", "test_mmap"]
# Not in Debian's libpython3.11-testsuite.
PYENV_TESTS = ["test_capi"]


def pyenv_311():
    """pyenv's newest 3.11, or None."""
    root = subprocess.run(["bash", "-lc", "pyenv root"], capture_output=True,
                          text=True).stdout.strip() or os.path.expanduser("~/.pyenv")
    versions = sorted(v for v in os.listdir(os.path.join(root, "versions"))
                      if v.startswith("3.11.")) if os.path.isdir(
                          os.path.join(root, "versions")) else []
    return os.path.join(root, "versions", versions[-1], "bin", "python3") if versions else None


def outcomes(xml_path):
    """{test case id: 'ok' | 'failure' | 'error' | 'skipped'} from regrtest's
    --junit-xml file."""
    out = {}
    for case in ET.parse(xml_path).getroot().iter("testcase"):
        cid = "%s.%s" % (case.get("classname", ""), case.get("name", ""))
        kind = "ok"
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                kind = child.tag
        out[cid] = kind
    return out


def regrtest(python, trace_bin, tests, xml_path, traced, match=None, timeout=1800):
    """One regrtest run, in one process (no -j: the tracer follows the one
    interpreter); its wall time, exit status and output."""
    cmd = [python, "-m", "test", "--timeout", "600", "--junit-xml", xml_path]
    if match:
        cmd += ["--matchfile", match]
    cmd += tests
    if traced:
        cmd = [trace_bin, "--interval", "1", "--"] + cmd
    t0 = time.monotonic()
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=timeout, cwd=tempfile.gettempdir())
    return time.monotonic() - t0, r.returncode, r.stdout


def compare(python, trace_bin, tests, tmp):
    """Runs tests alone and traced with python and compares them; the
    number of test cases that matched, or None after saying what differs."""
    runs = {}
    for traced in (False, True):
        xml_path = os.path.join(tmp, "traced.xml" if traced else "alone.xml")
        wall, rc, log = regrtest(python, trace_bin, tests, xml_path, traced)
        if not os.path.exists(xml_path):
            print("FAIL regrtest %s wrote no results (exit %d):\n%s"
                  % ("traced" if traced else "alone", rc, log[-3000:]))
            return None
        if traced and "mtp-trace: tracing pid" not in log:
            print("FAIL the traced run was not traced:\n%s" % log[-3000:])
            return None
        runs[traced] = outcomes(xml_path)
        counts = {}
        for kind in runs[traced].values():
            counts[kind] = counts.get(kind, 0) + 1
        print("%-6s %5.0f s, exit %d: %d test cases: %s" % (
            "traced" if traced else "alone", wall, rc, len(runs[traced]),
            ", ".join("%s %d" % kv for kv in sorted(counts.items()))), flush=True)
    alone, traced = runs[False], runs[True]
    differ = sorted(c for c in set(alone) | set(traced) if alone.get(c) != traced.get(c))
    for attempt in range(2):
        if not differ:
            break
        print("%d test cases differ; running them again alone and traced: %s"
              % (len(differ), ", ".join(differ[:10])), flush=True)
        match = os.path.join(tmp, "match.txt")
        with open(match, "w") as f:
            f.write("\n".join(c.rsplit(".", 1)[-1] for c in differ) + "\n")
        again = {}
        for side in (False, True):
            xml_path = os.path.join(tmp, "again-%d-%d.xml" % (attempt, side))
            regrtest(python, trace_bin, tests, xml_path, side, match=match)
            again[side] = outcomes(xml_path) if os.path.exists(xml_path) else {}
        differ = [c for c in differ if again[False].get(c) != again[True].get(c)]
    if differ:
        for c in differ:
            print("FAIL %s: alone %s, traced %s" % (c, alone.get(c), traced.get(c)))
        return None
    return len(set(alone) | set(traced))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build")
    args = ap.parse_args()
    trace_bin = os.path.join(ROOT, args.build, "mtp-trace")
    if not os.path.exists("/usr/lib/python3.11/test/test_gc.py"):
        print("error: CPython's tests are missing: apt-get install libpython3.11-testsuite "
              "(make deps installs it)", file=sys.stderr)
        return 2
    suites = [("Debian " + PYTHON, PYTHON, TESTS)]
    other = pyenv_311()
    if other:
        # Launch mode traces a program only with the extension built for it.
        subprocess.run(["make", "-s", "-C", ROOT, "pyext", "PYTHON=" + other,
                        "BUILD=" + args.build], check=True)
        suites.append(("pyenv " + other, other, PYENV_TESTS))
    else:
        print("note: no pyenv 3.11: %s not run" % ", ".join(PYENV_TESTS))
    passed = failed = 0
    for label, python, tests in suites:
        print("=== %s: %s" % (label, " ".join(tests)), flush=True)
        with tempfile.TemporaryDirectory(prefix="mtp-cpython-") as tmp:
            same = compare(python, trace_bin, tests, tmp)
        if same is None:
            failed += 1
        else:
            passed += 1
            print("ok   %s's %s: all %d test cases end as they do without mtp"
                  % (label, ",".join(tests), same))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
