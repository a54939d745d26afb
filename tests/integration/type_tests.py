"""Type attribution (issue 15): a real program whose hot and cold classes are
known, traced for real; the types' names and sums read back from the pinned
BPF maps with bpftool and from mtp-trace's JSON.  Run by run.py."""

import json
import os
import subprocess
import time

import run
from run import check

PROGRAM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "types_program.py")
SLOW = 8.0 if os.environ.get("MTP_EMULATED") else 1.0


def trace_program(trace_bin, python, pydir, tmp, seconds, extra_args=(), many=0, cycles=0,
                  warm=False):
    """Runs types_program.py under mtp-trace --json until the extension has
    completed `cycles` heap cycles, and with `warm` two more after the
    written-page scan warmed every page (or `seconds` passed), dumps the pinned
    maps, then ends the program; returns (the tracer's JSON lines, the
    dumps, the program's output)."""
    ready, go = os.path.join(tmp, "types.ready"), os.path.join(tmp, "types.go")
    for p in (ready, go, go + ".stop"):
        if os.path.exists(p):
            os.unlink(p)
    # The program runs until told to stop (or long past the wait below).
    cmd = [python, PROGRAM, ready, go, str(seconds + 120)] + (["--many", str(many)] if many else [])
    # What is checked is attribution, not the budget: a larger observation
    # share makes the heap cycles the checks wait for come sooner.
    proc = subprocess.Popen(cmd, env=dict(run.env_with(pydir), MTP_BUDGET="timer_share=10%"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    tracer = None
    dumps = {}
    try:
        run.wait_for(ready, proc, timeout=120 * SLOW)
        pin_dir = "/sys/fs/bpf/mtp/%d" % proc.pid
        tracer = subprocess.Popen([trace_bin, "--pid", str(proc.pid), "--json", "--interval",
                                   "0.5"] + list(extra_args),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30 * SLOW
        while not os.path.exists(os.path.join(pin_dir, "type_tiers")):
            check(time.monotonic() < deadline and tracer.poll() is None,
                  "mtp-trace did not attach: %s" % (tracer.poll() is not None
                                                     and tracer.stderr.read()))
            time.sleep(0.05)
        time.sleep(0.3)
        open(go, "w").close()
        # The per-type bytes are those of the last complete heap cycle, each
        # object's page hot or not when the object was observed.  With
        # `warm`, that cycle began after the written-page scan's sample had
        # visited every page (run.scan_rotated): two heap cycles alone
        # left most of Hot's pages unvisited at stride 16-32, in 4 of 6 runs.
        lines, started, warm_at = [], time.monotonic(), None
        stride, since = None, 0
        while time.monotonic() < started + seconds:
            line = tracer.stdout.readline()
            if not line:  # read stderr only then: mtp-trace holds it open while it runs
                check(False, "mtp-trace stopped after %.1f s: %s" % (
                    time.monotonic() - started, tracer.stderr.read()[-600:]))
            obj = json.loads(line)
            lines.append(obj)
            since = since + 1 if obj.get("written_stride", 0) == stride else 0
            stride = obj.get("written_stride", 0)
            if warm_at is None and (not warm or run.scan_rotated(obj, since)):
                warm_at = obj.get("cycles", 0)
            if warm_at is not None and obj.get("cycles", 0) >= max(cycles, warm_at + 2 * warm):
                break
        print("     %d heap cycles in %.1f s, %d types met, the scan's stride %s%s" % (
            lines[-1].get("cycles", 0), time.monotonic() - started,
            lines[-1].get("types_total", 0), lines[-1].get("written_stride"),
            "" if warm_at is not None else ", its sample never visited every page"))
        for name in ("types", "type_names", "type_tiers"):
            dumps[name] = run.bpftool_dump(os.path.join(pin_dir, name))
        open(go + ".stop", "w").close()
        out, err = proc.communicate(timeout=120 * SLOW)
        check(proc.returncode == 0, "the program failed (%d): %s" % (proc.returncode, err[-800:]))
        rest, terr = tracer.communicate(timeout=30 * SLOW)
        check(tracer.returncode == 0, "mtp-trace failed (%d): %s" % (tracer.returncode, terr))
    finally:
        for p in (proc, tracer):
            if p is not None and p.poll() is None:
                p.kill()
                p.communicate()
    lines += [json.loads(line) for line in rest.splitlines() if line.strip()]
    return lines, dumps, json.loads(out)


def name_of(value):
    """A char array as bpftool prints it: a string, or (when it holds bytes
    that are not printable ASCII) a list of the bytes."""
    if isinstance(value, str):
        return value
    raw = bytes((int(b, 0) if isinstance(b, str) else b) & 0xFF for b in value)  # char: signed
    return raw.split(b"\0")[0].decode("utf-8")


def rows_by_name(report):
    return {t["type"]: t for t in report.get("types", [])}


def test_types_attributed(trace_bin, python, pydir, tmp):
    """The hot class ranks above the cold one, with most of its pages hot;
    the cold class holds megabytes, almost none hot; names are module.QualName
    (nested, __module__ set, builtins); bpftool reads the three maps."""
    lines, dumps, out = trace_program(trace_bin, python, pydir, tmp, 90 * SLOW,
                                      ["--types", "40"], cycles=2, warm=True)
    last = [r for r in lines if not r.get("final") and r.get("types")][-1]
    seen = "the last report: %d events, %d records, %d collections, observe %.0f ms, cycle " \
        "%.1f s, %d types met, scan %s; the program: %s" % (
            last["events"], last["records"], last["gcs"], last["observe_ms"], last["cycle_s"],
            last.get("types_total", 0), last["written_scan"], out)
    first = next((r for r in lines if r.get("records")), None)
    check(first is not None and last["records"] > first["records"],
          "observation stopped: %s" % seen)
    # The program lets go of the GIL once a loop (its stop file's stat()):
    # before timer steps asked by pending call, that starved the ticker of
    # the GIL, and no heap cycle completed in 90 s.
    check(last["cycles"] >= 2, "fewer than two whole heap cycles in %d s: %s"
          % (90 * SLOW, seen))
    names = {e["key"]: name_of(e["value"]["name"]) for e in dumps["type_names"]}
    names = {k: v for k, v in names.items() if v}
    ids = {v: k for k, v in names.items()}
    for want in ("__main__.Hot", "__main__.Outer.Inner", "pkg.mod.Dyn", "__main__.ColdRecord",
                 "builtins.int", "builtins.list"):
        check(want in ids, "type_names has no %s: %s" % (want, sorted(ids)))
    sums = {e["key"]: e["value"] for e in dumps["types"]}
    tiers = {e["key"]: e["value"] for e in dumps["type_tiers"]}
    hot_id, cold_id = ids["__main__.Hot"], ids["__main__.ColdRecord"]
    check(sums[hot_id]["records"] > 0 and sums[hot_id]["bytes"] > 0,
          "no records for Hot in the types map: %s" % sums[hot_id])
    check(sum(tiers[hot_id]["bytes"]) > 0 and sum(tiers[hot_id]["hot_bytes"]) > 0,
          "type_tiers counts no bytes or no hot bytes for Hot: %s" % tiers[hot_id])
    check(sum(sum(bank["bytes"]) for bank in sums[cold_id]["bank"]) > 0,
          "the types map's banks hold no bytes for ColdRecord: %s" % sums[cold_id])
    check(out["types"] >= 6, "mtp.stats() numbered only %d types" % out["types"])
    # The long name is cut to 63 bytes on a whole character (the JSON and
    # bpftool output above decoded as UTF-8).
    long_names = [n for n in names.values() if n.startswith("__main__._\u00dc")]
    check(long_names and len(long_names[0].encode()) == 62
          and long_names[0] == "__main__._" + "\u00dc" * 26,
          "the long class name was not cut on a character: %r" % long_names)

    rows = rows_by_name(last)
    order = [t["type"] for t in last["types"]]
    print("     types by heat: %s" % ", ".join(order[:6]))
    hot, cold = rows.get("__main__.Hot"), rows.get("__main__.ColdRecord")
    check(hot is not None and cold is not None, "JSON types lack Hot or ColdRecord: %s" % order)
    print("     Hot: %d KiB, %d hot; ColdRecord: %d KiB, %d hot"
          % (hot["bytes"] >> 10, hot["hot_bytes"] >> 10, cold["bytes"] >> 10,
             cold["hot_bytes"] >> 10))
    check(order.index("__main__.Hot") < order.index("__main__.ColdRecord"),
          "ColdRecord ranks above Hot: %s" % order)
    check(hot["hot_bytes"] >= 0.5 * hot["bytes"] > 0,
          "only %d of Hot's %d bytes are hot" % (hot["hot_bytes"], hot["bytes"]))
    check(cold["bytes"] >= 2 << 20, "ColdRecord holds only %d bytes" % cold["bytes"])  # 60k x 56 B
    check(cold["hot_bytes"] <= 0.2 * cold["bytes"],
          "%d of ColdRecord's %d bytes are hot" % (cold["hot_bytes"], cold["bytes"]))
    check(last["types_total"] >= len(last["types"]), "types_total below the rows shown")
    check(len(lines[-1].get("types", [])) <= 40, "more rows than --types 40")


def test_type_table_full(trace_bin, python, pydir, tmp):
    """More classes than ids: mtp numbers MTP_TYPES_MAX - 1 of them, the
    rest are "(unattributed)", and the program runs on unharmed."""
    # One whole heap cycle, so that every class's instance was observed.
    lines, _, out = trace_program(trace_bin, python, pydir, tmp, 90 * SLOW, ["--types", "4096"],
                                  many=5000, cycles=1)
    check(out["types"] == 4095, "mtp.stats() numbered %d types, not 4095" % out["types"])
    check(out["kept"] == 60000 + 6000 + 5000, "the program's data changed: %s" % out)
    rows = rows_by_name(lines[-1])
    check("(unattributed)" in rows and rows["(unattributed)"]["observed_bytes_total"] > 0,
          "no unattributed row with bytes: %s" % sorted(rows)[:5])
    print("     %d types reported; unattributed %d KiB observed"
          % (lines[-1]["types_total"], rows["(unattributed)"]["observed_bytes_total"] >> 10))
