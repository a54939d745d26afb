"""--record and mtp-report (issue 15): a real traced program recorded, every
line an interval with its heatmap column; the recording drawn to PNG and
SVG, which have the asked size and are not blank (their pixels and elements
are counted); a recording made in the two-tier guest (tests/data/, tiering
on) drawn here; bad inputs refused.  Run by run.py."""

import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET

import run
from run import check

SLOW = 8.0 if os.environ.get("MTP_EMULATED") else 1.0
REPORT = os.path.join(run.ROOT, "tools", "report", "mtp-report")
GUEST_RECORDING = os.path.join(run.ROOT, "tests", "data", "guest-tiered.jsonl")


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
    png, svg = os.path.join(out_dir, name + ".png"), os.path.join(out_dir, name + ".svg")
    for out in (png, svg):
        r = subprocess.run([REPORT, recording, "-o", out, "--size", "1000x1200"] + list(extra),
                           capture_output=True, text=True, timeout=300)
        check(r.returncode == 0 and os.path.getsize(out) > 10000,
              "mtp-report -o %s: exit %d: %s" % (out, r.returncode, r.stderr[-1000:]))
    h, w, inked, colours = png_pixels(png)
    check((h, w) == (1200, 1000), "%s is %dx%d, asked 1000x1200" % (png, w, h))
    # Axes, text and lines alone ink ~5%; a drawn heatmap many more, in many colours.
    check(inked > 0.12 and colours > 50, "%s looks blank: %.1f%% inked, %d colours"
          % (png, 100 * inked, colours))
    root = ET.parse(svg).getroot()
    paths = sum(1 for e in root.iter() if e.tag.endswith("}path") or e.tag.endswith("}image"))
    check(root.get("width", "").startswith("720") and paths > 50,
          "%s: width %s, %d paths/images" % (svg, root.get("width"), paths))
    return inked, colours


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
    inked, colours = check_drawing(os.path.join(away, "run.jsonl"), away, "host")
    print("     host recording: %d intervals, up to %d blocks; PNG %.0f%% inked, %d colours"
          % (len(lines), max(blocks), 100 * inked, colours))
    # A recording made in the two-tier guest (tiering on) by the full-node
    # proof's workload: its memory-by-tier and migration panels have lines.
    inked, colours = check_drawing(GUEST_RECORDING, away, "guest")
    print("     guest recording: PNG %.0f%% inked, %d colours" % (100 * inked, colours))

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
            ([recording, "-o", "/nonexistent/x.png"], 1, "cannot write")):
        r = subprocess.run([REPORT] + args, capture_output=True, text=True, timeout=120)
        check(r.returncode == status and needle in r.stderr,
              "mtp-report %s: exit %d (want %d), stderr %r" % (" ".join(args), r.returncode,
                                                               status, r.stderr[-300:]))
