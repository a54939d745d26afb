"""Compares a page map dump (bpftool -j) with a workload's layout file.

Prints how hot the hot set's pages and the cold set's pages are, and how many
of the hottest pages belong to the hot set.  Exits 1 if the hot set is not
clearly hotter, so scripts can rely on it.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import heat as mtp_heat  # noqa: E402

PAGE = 4096


def pages_of(ranges):
    pages = set()
    for addr, size in ranges:
        pages.update(range(addr // PAGE * PAGE, addr + size, PAGE))
    return pages


def main(layout_path, dump_path, top=10):
    with open(layout_path) as f:
        layout = json.load(f)
    with open(dump_path) as f:
        dump = [e["formatted"] for e in json.load(f)]
    heat = mtp_heat.of_dump(dump)
    hot, cold = pages_of(layout["hot"]), pages_of(layout["cold"])
    hot, cold = hot - cold, cold - hot
    mean = lambda pages: sum(heat.get(p, 0) for p in pages) / max(1, len(pages))
    warm = lambda pages: sum(1 for p in pages if heat.get(p, 0) > 0)
    hottest = sorted(heat, key=heat.get, reverse=True)[:top]
    print("  pages in the map:          %d" % len(heat))
    print("  hot-set pages:  %6d, %6d warm, mean heat %.0f" % (len(hot), warm(hot), mean(hot)))
    print("  cold-set pages: %6d, %6d warm, mean heat %.0f" % (len(cold), warm(cold), mean(cold)))
    print("  of the %d hottest pages, %d hold hot-set objects, %d cold-set objects"
          % (len(hottest), sum(p in hot for p in hottest), sum(p in cold for p in hottest)))
    return 0 if mean(hot) > 10 * max(mean(cold), 1) else 1


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: ground_truth.py LAYOUT.json DUMP.json")
    sys.exit(main(sys.argv[1], sys.argv[2]))
