"""A threaded producer/consumer: two producer and two consumer threads passing
work items (small dicts of lists) through a queue.Queue.

Producers build items; consumers aggregate them into per-key totals and keep
every 32nd item in a bounded recent-items list.  All threads share the GIL,
so this measures mtp under thread switches and lock hand-offs; the process's
CPU time covers every thread.
"""
import os
import queue
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

PRODUCERS = CONSUMERS = 2


def main():
    args = harness.parser(__doc__).parse_args()
    mtp = harness.import_mtp(args)
    items = max(1000, int(400000 * args.scale))

    def work():
        q = queue.Queue(maxsize=1000)
        totals = [dict() for _ in range(CONSUMERS)]
        kept = [[] for _ in range(CONSUMERS)]

        def produce(p):
            for i in range(p, items, PRODUCERS):
                q.put({"key": "k%d" % (i % 97), "vals": [i, i * 2, i * 3], "src": p})

        def consume(c):
            tot, keep = totals[c], kept[c]
            while True:
                it = q.get()
                if it is None:
                    return
                tot[it["key"]] = tot.get(it["key"], 0) + sum(it["vals"])
                if it["vals"][0] % 32 == 0:
                    keep.append(it)
                    if len(keep) > 4000:
                        del keep[:2000]

        ps = [threading.Thread(target=produce, args=(p,)) for p in range(PRODUCERS)]
        cs = [threading.Thread(target=consume, args=(c,)) for c in range(CONSUMERS)]
        for t in ps + cs:
            t.start()
        for t in ps:
            t.join()
        for _ in cs:
            q.put(None)
        for t in cs:
            t.join()
        return {"items": items, "keys": len(set().union(*totals))}

    harness.run("threads", work, args, mtp)


if __name__ == "__main__":
    main()
