"""--record and mtp-report (issue 15): a real traced program recorded, every
line an interval with its heatmap column and its Python types; the
recording drawn to PNG and SVG, which have the asked size and are not blank
(their pixels and elements are counted); a recording made in the two-tier
guest (tests/data/, tiering on, before type attribution) drawn here, as it
is and with synthetic type rows added; the type panel's bars found by their
colours where the panel is, and its printed line checked against the
recording; bad inputs refused.  Run by run.py."""

import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET

import run
from run import check

SLOW = 8.0 if os.environ.get("MTP_EMULATED") else 1.0
MIB = 1 << 20
REPORT = os.path.join(run.ROOT, "tools", "report", "mtp-report")
GUEST_RECORDING = os.path.join(run.ROOT, "tests", "data", "guest-tiered.jsonl")


# The type panel's bar colours (tools/report/mtp-report's SEGMENTS_*).
FAST_HOT, FAST_COLD, SLOW_HOT, SLOW_COLD = "#08519c", "#9ecae1", "#a63603", "#fdae6b"
HOT, COLD = "#cb181d", "#bdbdbd"

# Synthetic types for the guest recording: (name, id, share of the fast
# pages, of the slow pages, share of its pages hot).  A name with the
# characters JSON and a terminal need escaped, and one name twice.
GUEST_TYPES = (
    ("__main__.Node", 7, 0.55, 0.05, 0.9),
    ("builtins.dict", 2, 0.20, 0.30, 0.4),
    ("builtins.list", 3, 0.10, 0.35, 0.2),
    ('odd."name"\\with\nescapes', 9, 0.05, 0.10, 0.1),
    ("__main__.Node", 12, 0.05, 0.10, 0.0),
    ("(unattributed)", 0, 0.05, 0.10, 0.5),
)


def with_types(src, dst):
    """Writes src with type rows as mtp-trace writes them when it tiers
    (each line's fast and slow pages shared out by GUEST_TYPES); returns the
    last line."""
    out = []
    with open(src) as f:
        for o in (json.loads(line) for line in f):
            t, rows = o["tiering"], []
            for i, (name, tid, fast_share, slow_share, hot_share) in enumerate(GUEST_TYPES):
                fast, slow = int(t["on_fast"] * fast_share), int(t["on_slow"] * slow_share)
                hot = int((fast + slow) * hot_share)
                fast_hot = min(int(fast * hot_share), hot)
                rows.append({"type": name, "id": tid, "observed_bytes": 1000 * i,
                             "observed_bytes_total": 1000 * i * o["interval"],
                             "heat": 10 ** (6 - i), "bytes": (fast + slow) * run.PAGE,
                             "hot_bytes": hot * run.PAGE, "fast_bytes": fast * run.PAGE,
                             "slow_bytes": slow * run.PAGE, "fast_hot_bytes": fast_hot * run.PAGE,
                             "slow_hot_bytes": (hot - fast_hot) * run.PAGE,
                             "promoted_bytes": 0, "demoted_bytes": 0})
            o["types"], o["types_total"] = rows, len(rows) + 3
            out.append(o)
    with open(dst, "w") as f:
        f.writelines(json.dumps(o) + "\n" for o in out)
    return out[-1]


def panel_colours(path, colours):
    """How many pixels of each colour (within 6 of each channel) lie in the
    type panel's bars: the bottom fifth of the image, its left half."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.image
    import numpy as np
    img = (matplotlib.image.imread(path)[:, :, :3] * 255).astype(int)
    h, w = img.shape[:2]
    band = img[int(h * 0.80):, :int(w * 0.55)]
    counts = {}
    for c in colours:
        rgb = np.array([int(c[i:i + 2], 16) for i in (1, 3, 5)])
        counts[c] = int(np.sum(np.all(np.abs(band - rgb) <= 6, axis=2)))
    return counts


def type_summary(stdout):
    """The line mtp-report prints about its type panel."""
    lines = [l for l in stdout.splitlines() if l.startswith("mtp-report: type panel: ")]
    check(len(lines) == 1, "mtp-report did not say what its type panel drew: %r" % stdout)
    return lines[0][len("mtp-report: type panel: "):]


def png_pixels(path):
    """(height, width, share of pixels that are not white, colours seen)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.image
    import numpy as np
    img = matplotlib.image.imread(path)
    rgb = img[:, :, :3]
    inked = float(np.mean(np.any(rgb < 0.97, axis=2)))
    colours = len(np.unique((rgb * 255).astype(np.uint8).reshape(-1, 3), axis=0))
    return img.shape[0], img.shape[1], inked, colours


def check_drawing(recording, out_dir, name, extra=()):
    """Draws the recording as PNG and SVG; returns the PNG's share inked,
    its colours, and the line about the type panel."""
    png, svg = os.path.join(out_dir, name + ".png"), os.path.join(out_dir, name + ".svg")
    for out in (png, svg):
        r = subprocess.run([REPORT, recording, "-o", out, "--size", "1000x1200"] + list(extra),
                           capture_output=True, text=True, timeout=300)
        check(r.returncode == 0 and os.path.getsize(out) > 10000,
              "mtp-report -o %s: exit %d: %s" % (out, r.returncode, r.stderr[-1000:]))
        check(not r.stderr, "mtp-report -o %s warned: %s" % (out, r.stderr[-1000:]))
        summary = type_summary(r.stdout)
    h, w, inked, colours = png_pixels(png)
    check((h, w) == (1200, 1000), "%s is %dx%d, asked 1000x1200" % (png, w, h))
    # Axes, text and lines alone ink ~5%; a drawn heatmap many more, in many colours.
    check(inked > 0.12 and colours > 50, "%s looks blank: %.1f%% inked, %d colours"
          % (png, 100 * inked, colours))
    root = ET.parse(svg).getroot()
    paths = sum(1 for e in root.iter() if e.tag.endswith("}path") or e.tag.endswith("}image"))
    check(root.get("width", "").startswith("720") and paths > 50,
          "%s: width %s, %d paths/images" % (svg, root.get("width"), paths))
    return inked, colours, summary


def test_record_and_report(trace_bin, python, pydir, tmp):
    d = os.path.join(tmp, "record")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    recording = os.path.join(d, "run.jsonl")
    ready = os.path.join(d, "ready")
    workload = subprocess.Popen(
        [python, run.WORKLOAD, "--seconds", str(30 * SLOW), "--ready", ready],
        env=run.env_with(pydir), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        run.wait_for(ready, workload)
        r = subprocess.run([trace_bin, "--pid", str(workload.pid), "--interval", "0.5",
                            "--duration", str(int(8 * SLOW)), "--record", recording],
                           capture_output=True, text=True, timeout=120 * SLOW)
    finally:
        workload.kill()
        workload.communicate()
    check(r.returncode == 0, "mtp-trace --record exited %d: %s" % (r.returncode, r.stderr[-1500:]))
    check("mtp-report %s" % recording in r.stderr, "the start does not say how to draw it: %s"
          % r.stderr)
    with open(recording) as f:
        lines = [json.loads(l) for l in f]
    check(len(lines) >= 8 and lines[-1]["final"] and not any(o["final"] for o in lines[:-1]),
          "%d lines, finals %s" % (len(lines), [o["final"] for o in lines]))
    blocks = [len(o["heatmap"]["blocks"]) for o in lines]
    pages = [sum(b[1] for b in o["heatmap"]["blocks"]) for o in lines]
    check(all(o["heatmap"]["block_shift"] == 21 for o in lines) and max(blocks) > 0 and
          all(p == o["pages_tracked"] for p, o in zip(pages, lines)),
          "heatmap columns do not add up to the tracked pages: %s vs %s"
          % (pages[-3:], [o["pages_tracked"] for o in lines[-3:]]))

    # Drawn from a copy elsewhere, the traced process gone: the file is all it needs.
    away = os.path.join(d, "elsewhere")
    os.makedirs(away)
    shutil.copy(recording, away)
    inked, colours, summary = check_drawing(os.path.join(away, "run.jsonl"), away, "host")
    print("     host recording: %d intervals, up to %d blocks; PNG %.0f%% inked, %d colours"
          % (len(lines), max(blocks), 100 * inked, colours))
    # Its types: the last line's, in its order, those holding pages; one
    # tier here, so bars of hot and cold bytes, and some hot.
    last = lines[-1]
    # The 4 hottest holding pages, then the 4 largest of the others.
    rows = [t for t in last["types"] if t["bytes"] > 0]
    rest = sorted(rows[4:], key=lambda t: -t["bytes"])[:4]
    drawn = [t for t in rows if t in rows[:4] or t in rest]
    check(drawn and any(t["hot_bytes"] for t in drawn), "no type holds a hot page: %s"
          % last["types"])
    want = "%d of %d types at %.1f s, one tier: " % (len(drawn), last["types_total"],
                                                     last["elapsed_s"])
    check(summary.startswith(want), "type panel: %r, want it to start %r" % (summary, want))
    names = [part.rsplit(" ", 4)[0] for part in summary[len(want):].split("; ")]
    check(names == [t["type"] for t in drawn], "type panel drew %s, the recording's types are %s"
          % (names, [t["type"] for t in drawn]))
    seen = panel_colours(os.path.join(away, "host.png"), (HOT, COLD, FAST_HOT, SLOW_COLD))
    check(seen[HOT] > 200 and seen[FAST_HOT] == seen[SLOW_COLD] == 0,
          "type panel's bars not found, or tiers shown without tiering: %s" % seen)
    print("     host type panel: %s" % summary[:160])

    # A recording made in the two-tier guest (tiering on) by the full-node
    # proof's workload: its memory-by-tier and migration panels have lines.
    # It predates type attribution: the type panel says so and draws no bar.
    inked, colours, summary = check_drawing(GUEST_RECORDING, away, "guest")
    print("     guest recording: PNG %.0f%% inked, %d colours" % (100 * inked, colours))
    seen = panel_colours(os.path.join(away, "guest.png"), (HOT, FAST_HOT, SLOW_COLD))
    check(summary == "no per-type numbers in the recording" and not any(seen.values()),
          "guest recording without types: type panel %r, colours %s" % (summary, seen))

    # The same with type rows as a tiering mtp-trace writes them: bars
    # split by tier and heat, the names escaped, the repeated name told
    # apart by its id.
    typed = os.path.join(away, "guest-types.jsonl")
    last = with_types(GUEST_RECORDING, typed)
    inked, colours, summary = check_drawing(typed, away, "guest-types")
    parts = []
    for t in last["types"]:
        name = t["type"].replace("\n", "\\x0a")
        if [u["type"] for u in last["types"]].count(t["type"]) > 1:
            name += " #%d" % t["id"]
        parts.append("%s %.1f/%.1f MiB" % (name, t["fast_bytes"] / MIB,
                                           t["slow_bytes"] / MIB))
    want = "6 of 9 types at %.1f s, fast/slow: %s" % (last["elapsed_s"], "; ".join(parts))
    check(summary == want, "type panel: %r, want %r" % (summary, want))
    seen = panel_colours(os.path.join(away, "guest-types.png"),
                         (FAST_HOT, FAST_COLD, SLOW_HOT, SLOW_COLD, HOT))
    check(all(seen[c] > 100 for c in (FAST_HOT, FAST_COLD, SLOW_HOT, SLOW_COLD)) and
          seen[HOT] == 0, "type panel's tier bars not found: %s" % seen)
    print("     guest recording with types: PNG %.0f%% inked, %d colours; bar pixels %s"
          % (100 * inked, colours, seen))

    # Bad inputs: a clear error and a non-zero exit each.
    notjson = os.path.join(d, "notjson")
    with open(notjson, "w") as f:
        f.write("hello\n")
    for args, status, needle in (
            ([recording, "-o", os.path.join(d, "x.jpg")], 64, "name a .png or .svg"),
            ([recording], 64, "required"),
            ([os.path.join(d, "missing"), "-o", os.path.join(d, "x.png")], 1, "cannot read"),
            ([notjson, "-o", os.path.join(d, "x.png")], 1, "not a JSON line"),
            ([recording, "-o", os.path.join(d, "x.png"), "--pid", "1"], 1, "no reports of pid 1"),
            ([recording, "-o", os.path.join(d, "x.png"), "--size", "5x5"], 64, "--size"),
            ([recording, "-o", os.path.join(d, "x.png"), "--types", "0"], 64, "--types"),
            ([recording, "-o", "/nonexistent/x.png"], 1, "cannot write")):
        r = subprocess.run([REPORT] + args, capture_output=True, text=True, timeout=120)
        check(r.returncode == status and needle in r.stderr,
              "mtp-report %s: exit %d (want %d), stderr %r" % (" ".join(args), r.returncode,
                                                               status, r.stderr[-300:]))
