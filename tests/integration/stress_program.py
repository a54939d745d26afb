"""A program that is hard on mtp's extension, for fault_tests: threads
mutating shared containers while steps walk them, objects freed mid-step,
deep nesting, fork, under whatever -X options it is run with.  Its own
memory is steady by construction (a fixed pool, replaced round-robin), so
growth across a tracer's attach/detach cycles is mtp's.

Prints one JSON line per sample: seconds, RSS bytes, mtp's own mapped bytes,
side-table bytes and entries, whether traced.  Runs until the file `stop`
exists (the test says when its cycles are done; a fixed run length was
outlasted by nine attach cycles under ASan on a loaded machine, and the
last attach found the program gone), or at most `seconds`; exits 0."""

import gc
import json
import os
import sys
import threading
import time

import mtp

POOL = 20000


def deep(n):
    head = []
    node = head
    for _ in range(n):
        nxt = []
        node.append(nxt)
        node = nxt
    return head


def mutator(pool, stop, seed):
    i = seed
    while not stop.is_set():
        k = i % POOL
        # Replaced while a step may be walking the old one.
        pool[k] = {"k": k, "v": [k, str(k)], "t": (k, k + 1)}
        if i % 97 == 0:
            pool[k]["d"] = deep(50)
        i += 7
        if i % 5000 == 0:
            time.sleep(0.001)


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main():
    seconds, ready, stop_file = float(sys.argv[1]), sys.argv[2], sys.argv[3]
    pool = [None] * POOL
    stop = threading.Event()
    threads = [threading.Thread(target=mutator, args=(pool, stop, s)) for s in range(4)]
    for t in threads:
        t.start()
    keep_deep = deep(5000)  # a long chain the walk must not recurse into
    open(ready, "w").close()
    end = time.monotonic() + seconds
    next_fork = time.monotonic() + 1.0
    while time.monotonic() < end and not os.path.exists(stop_file):
        time.sleep(0.25)
        if time.monotonic() >= next_fork:
            pid = os.fork()
            if pid == 0:
                gc.collect()
                os._exit(0)
            os.waitpid(pid, 0)
            next_fork += 1.0
        st = mtp.stats()
        print(json.dumps({"t": seconds - (end - time.monotonic()), "rss": rss(),
                          "own": st["own_mapped_bytes"], "side": st["side_table_bytes"],
                          "entries": st["side_table_entries"],
                          "traced": st["tracing"]}), flush=True)
    stop.set()
    for t in threads:
        t.join()
    del keep_deep
    print(json.dumps({"done": True}), flush=True)


main()
