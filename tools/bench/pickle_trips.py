"""pickle round trips of nested structures.

Builds (untimed) a list of records: dicts holding lists, tuples, strings,
floats and a nested dict each.  The timed part pickles and unpickles batches
of them (protocol 5) again and again, keeps every 8th unpickled batch alive
for a while, and checks one field, so both the allocator and the collector
work.
"""
import os
import pickle
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


def record(i):
    return {"id": i, "name": "item-%d" % i, "tags": ["t%d" % (i % 13), "t%d" % (i % 7)],
            "pos": (i * 0.5, i * 0.25), "attrs": {"a": i, "b": [i, i + 1, i + 2], "c": str(i)}}


def main():
    args = harness.parser(__doc__).parse_args()
    mtp = harness.import_mtp(args)
    data = [record(i) for i in range(100000)]
    batches = [data[i:i + 5000] for i in range(0, len(data), 5000)]
    trips = max(1, int(40 * args.scale))

    def work():
        kept, check = [], 0
        for t in range(trips):
            b = batches[t % len(batches)]
            blob = pickle.dumps(b, protocol=5)
            back = pickle.loads(blob)
            check += back[-1]["attrs"]["b"][2]
            if t % 8 == 0:
                kept.append(back)
                if len(kept) > 6:
                    kept.pop(0)
        return {"trips": trips, "records_per_trip": len(batches[0]), "check": check}

    harness.run("pickle", work, args, mtp)


if __name__ == "__main__":
    main()
