"""--prom-file against a real traced program (issue 15): the file parses as
Prometheus's text exposition format (0.0.4) with a small parser of its own,
and passes `promtool check metrics` when promtool is installed (Debian ships
it in the prometheus package, with the server: apt-get install prometheus);
a reader polling it all through the run never sees half a file, counters
never go down, and the last file agrees with mtp-trace's final JSON report,
its per-type samples included.  Run by run.py."""

import json
import os
import re
import shutil
import subprocess
import threading
import time

import run
from run import check

SLOW = 8.0 if os.environ.get("MTP_EMULATED") else 1.0

# The format's grammar, for what mtp-trace writes: metric and label names,
# label values with the format's three escapes (a type's name may need
# them), a float.
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
LABEL_PARTS = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')
UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}
VALUE = r"[-+]?(?:[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|\.[0-9]+|NaN|[-+]?Inf)"
SAMPLE = re.compile(r"^(%s)(?:\{(%s(?:,%s)*)?\})? (%s)$" % (NAME, LABEL, LABEL, VALUE))
HELP = re.compile(r"^# HELP (%s) (.*)$" % NAME)
TYPE = re.compile(r"^# TYPE (%s) (counter|gauge|histogram|summary|untyped)$" % NAME)


def parse(text):
    """{family: {"type", "help", "samples": {labels tuple: float}}}; raises
    ValueError on any line the format does not allow, a family typed twice
    or split, a sample before its TYPE, a counter not named _total."""
    if text and not text.endswith("\n"):
        raise ValueError("the text does not end in a newline (a half-written file?)")
    families, current = {}, None
    for n, line in enumerate(text.splitlines(), 1):
        m = HELP.match(line)
        if m:
            families.setdefault(m.group(1), {"samples": {}})["help"] = m.group(2)
            continue
        m = TYPE.match(line)
        if m:
            fam = families.setdefault(m.group(1), {"samples": {}})
            if "type" in fam:
                raise ValueError("line %d: %s typed twice" % (n, m.group(1)))
            if (m.group(2) == "counter") != m.group(1).endswith("_total"):
                raise ValueError("line %d: %s is a %s" % (n, m.group(1), m.group(2)))
            fam["type"], current = m.group(2), m.group(1)
            continue
        m = SAMPLE.match(line)
        if not m:
            raise ValueError("line %d is not a sample, HELP or TYPE: %r" % (n, line))
        if m.group(1) != current:
            raise ValueError("line %d: sample of %s outside its family (%s)"
                             % (n, m.group(1), current))
        labels = tuple(sorted((k, re.sub(r'\\[\\"n]', lambda e: UNESCAPE[e.group(0)], v))
                              for k, v in LABEL_PARTS.findall(m.group(2) or "")))
        samples = families[current]["samples"]
        if labels in samples:
            raise ValueError("line %d: a sample repeated: %r" % (n, line))
        samples[labels] = float(m.group(3))
    for name, fam in families.items():
        if "type" not in fam or "help" not in fam:
            raise ValueError("%s lacks its HELP or TYPE" % name)
    return families


def self_test():
    """The parser refuses what it must, so that its passes mean something."""
    good = "# HELP a_total x\n# TYPE a_total counter\na_total{pid=\"1\"} 2\n"
    parse(good)
    odd = parse(good.replace('pid="1"', 'pid="1",type="a\\"b\\\\c\\nd"'))
    if list(odd["a_total"]["samples"]) != [(("pid", "1"), ("type", 'a"b\\c\nd'))]:
        raise AssertionError("escapes read as %r" % odd)
    for bad in (good[:-1], good.replace("counter", "gauge"), good + "a_total{pid=\"1\"} 3\n",
                good + "# HELP b y\n# TYPE b gauge\nb 1\na_total{pid=\"2\"} 1\n",
                good.replace(" 2\n", " two\n"), good.replace('pid="1"', "pid=1"),
                good.replace('pid="1"', 'pid="1",type="a"b"'),
                good.replace('pid="1"', 'pid="1",type="a\\tb"')):
        try:
            parse(bad)
        except ValueError:
            continue
        raise AssertionError("the parser took %r" % bad)


def value(fams, name, pid, **labels):
    key = tuple(sorted([("pid", str(pid))] + list(labels.items())))
    return fams[name]["samples"].get(key)


def check_types(fams, final, pid):
    """The per-type samples are the final report's "types", no more: one
    tier ("all") on this one-node host, labelled by name and id."""
    types = final.get("types")
    check(types and value(fams, "mtp_types", pid) == final["types_total"] and
          len(types) == min(5, final["types_total"]),
          "mtp_types %s, the report's %d types of %s" % (value(fams, "mtp_types", pid),
                                                         len(types or []), final.get("types_total")))
    for name, key in (("mtp_type_bytes", "bytes"), ("mtp_type_hot_bytes", "hot_bytes"),
                      ("mtp_type_heat", "heat"),
                      ("mtp_type_observed_bytes_total", "observed_bytes_total")):
        tier = {"tier": "all"} if name in ("mtp_type_bytes", "mtp_type_hot_bytes") else {}
        check(fams[name]["samples"] and len(fams[name]["samples"]) == len(types),
              "%s has %d samples for %d types" % (name, len(fams[name]["samples"]), len(types)))
        for t in types:
            got = value(fams, name, pid, type=t["type"], type_id=str(t["id"]), **tier)
            check(got == t[key], "%s of %s: %s, the report's %s %s"
                  % (name, t["type"], got, key, t[key]))
    check("mtp_type_promoted_bytes_total" not in fams, "moves per type without tiering")
    check(any(t["id"] and t["hot_bytes"] > 0 for t in types),
          "no named type holds a hot page: %s" % types)
    return "types: " + ", ".join("%s %d KiB" % (t["type"], t["bytes"] // 1024) for t in types)


def promtool(path):
    """Prometheus's own check of the file, when it is installed."""
    tool = shutil.which("promtool")
    if not tool:
        return "promtool: not installed (apt-get install prometheus), not run"
    r = subprocess.run([tool, "check", "metrics"], stdin=open(path, "rb"), capture_output=True,
                       text=True, timeout=60)
    check(r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(),
          "promtool check metrics: exit %d: %s%s" % (r.returncode, r.stdout, r.stderr))
    return "promtool check metrics: no problem found"


def test_prom_file(trace_bin, python, pydir, tmp):
    self_test()
    d = os.path.join(tmp, "textfile")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "mtp.prom")
    workload = subprocess.Popen(
        [python, run.WORKLOAD, "--seconds", str(30 * SLOW), "--ready", os.path.join(d, "ready")],
        env=run.env_with(pydir), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    reads, errors, stop = [], [], threading.Event()

    def reader():
        # node_exporter's view: open, read, parse, over and over.
        while not stop.is_set():
            try:
                with open(path, encoding="utf-8") as f:  # strict: the format is UTF-8
                    text = f.read()
            except FileNotFoundError:
                continue
            try:
                reads.append((time.monotonic(), parse(text)))
            except ValueError as e:  # UnicodeDecodeError too
                errors.append(str(e))
            time.sleep(0.01)

    t = threading.Thread(target=reader)
    try:
        run.wait_for(os.path.join(d, "ready"), workload)
        t.start()
        r = subprocess.run([trace_bin, "--pid", str(workload.pid), "--interval", "0.5",
                            "--duration", str(int(6 * SLOW)), "--json", "--prom-file", path,
                            "--types", "5"],
                           capture_output=True, text=True, timeout=120 * SLOW)
        stop.set()
        t.join()
        check(r.returncode == 0, "mtp-trace exited %d: %s" % (r.returncode, r.stderr[-1500:]))
        check("Prometheus metrics in %s" % path in r.stderr, "the start does not say where the "
              "metrics go: %s" % r.stderr)
        check(not errors, "%d of %d reads did not parse, e.g. %s"
              % (len(errors), len(reads) + len(errors), errors[:1]))
        full = [f for _, f in reads if f]  # the empty file written at the start is valid
        check(len(full) >= 4, "only %d non-empty reads of %s" % (len(full), path))
        pid = workload.pid
        # Counters never go down from one read to the next.
        for name in ("mtp_records_total", "mtp_events_total", "mtp_observe_seconds_total"):
            seq = [value(f, name, pid) for f in full]
            check(None not in seq and all(a <= b for a, b in zip(seq, seq[1:])) and seq[-1] > 0,
                  "%s is missing or goes down: %s" % (name, seq[:3] + ["..."] + seq[-3:]))
        # A type's counter too, while it stays among the types shown.
        name = "mtp_type_observed_bytes_total"
        for a, b in zip(full, full[1:]):
            sa, sb = a.get(name, {}).get("samples", {}), b.get(name, {}).get("samples", {})
            down = [k for k in sa if k in sb and sb[k] < sa[k]]
            check(not down, "%s goes down: %s" % (name, down[:2]))
        check(value(full[0], "mtp_up", pid) == 1, "mtp_up is not 1 while tracing")
        with open(path, encoding="utf-8") as f:
            text = f.read()
        last = parse(text)
        final = [json.loads(l) for l in r.stdout.splitlines() if l.startswith("{")][-1]
        check(final.get("final") and value(last, "mtp_up", pid) == 0,
              "the last file does not say the tracing ended (mtp_up 0)")
        for name, key in (("mtp_records_total", "records"), ("mtp_events_total", "events"),
                          ("mtp_pages_tracked", "pages_tracked")):
            check(value(last, name, pid) == final[key], "%s %s, the final report's %s %s"
                  % (name, value(last, name, pid), key, final[key]))
        samples = last["mtp_written_scan_state"]["samples"]
        state = [dict(k)["state"] for k, v in samples.items() if v == 1]
        check(state == [final["written_scan"]], "mtp_written_scan_state says %s, the report %s"
              % (state, final["written_scan"]))
        types = check_types(last, final, pid)
        check(sorted(os.listdir(d)) == ["mtp.prom", "ready"], "files left beside it: %s"
              % os.listdir(d))
        print("     %d reads while tracing, all parsed; %d families; records %d; %s"
              % (len(full), len(last), final["records"], types))
        print("     " + promtool(path))
    finally:
        stop.set()
        if t.is_alive():
            t.join()
        workload.kill()
        workload.communicate()
