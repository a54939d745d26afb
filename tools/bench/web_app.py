"""A Flask catalog service for make bench's web-service benchmark, run under
gunicorn (sync workers, no preload: each worker imports this module after the
fork and so builds and holds its own catalog).

Environment (set by tools/bench/run.py):
  MTP_BENCH_MTP=1         import mtp first thing in each worker
  MTP_BENCH_ITEMS=N       catalog entries per worker (default 300000)
  MTP_BENCH_DIR=DIR       each worker writes DIR/ready.PID once its catalog is
                          built, and DIR/stats.PID.json (mtp.stats()) when it exits

Routes: /hot reads 20 entries of a 5,000-entry hot set (rotating per worker),
builds a small JSON answer with their prices and a tag count; /health.
"""
import atexit
import json
import os

if os.environ.get("MTP_BENCH_MTP") == "1":
    import mtp
else:
    mtp = None

from flask import Flask, jsonify  # noqa: E402

ITEMS = int(os.environ.get("MTP_BENCH_ITEMS", "300000"))
HOT = 5000


def build_catalog(n):
    return [{"sku": "SKU-%07d" % i, "title": "Catalog item number %d" % i,
             "price": (i % 997) / 10.0, "tags": ["tag%d" % (i % 31), "group%d" % (i % 7)],
             "stock": {"warehouse": i % 5, "count": i % 113}} for i in range(n)]


catalog = build_catalog(ITEMS)
app = Flask(__name__)
_pos = [0]


@app.route("/hot")
def hot():
    start = _pos[0]
    _pos[0] = (start + 20) % HOT
    picked = [catalog[(start + k) * 53 % ITEMS] for k in range(20)]
    tags = {}
    for e in picked:
        for t in e["tags"]:
            tags[t] = tags.get(t, 0) + 1
    return jsonify(items=[{"sku": e["sku"], "price": e["price"]} for e in picked],
                   total=sum(e["price"] for e in picked), tags=tags)


@app.route("/health")
def health():
    return "ok\n"


_dir = os.environ.get("MTP_BENCH_DIR")


def _write_stats():
    if _dir and mtp is not None:
        with open(os.path.join(_dir, "stats.%d.json" % os.getpid()), "w") as f:
            json.dump(mtp.stats(), f)


if _dir:
    atexit.register(_write_stats)
    with open(os.path.join(_dir, "ready.%d" % os.getpid()), "w") as f:
        f.write("%d\n" % len(catalog))
