"""Holds the guest's fast node at a given free memory above its floor, for
the proofs that need node 0 nearly full (full_node_proof, headroom_proof).

Hugetlb pages take most of it (vm_eval.FastLimit); after a long run node 0's
free memory is fragmented and 2 MiB pages cannot take the last tens of MiB
(CI, twice: 50 MiB short in the full-node proof, 53 in the headroom proof),
so anonymous memory bound to the node takes what they left.
"""
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import vm_eval  # noqa: E402

MIB = 1 << 20
FAST = vm_eval.FAST


# Anonymous memory bound to the fast node, touched a MiB at a time until
# the node's free memory above its low watermark is down to `leave` bytes,
# then held until killed.  It stops by what the node has, not by a size
# computed before it started: memory taken meanwhile (once, after the
# integration suite) made a fixed-size filler overshoot, and the kernel's
# OOM killer, whose candidates under --membind include every task of the
# default policy, killed the workload.  oom_score_adj 1000 makes the filler
# the one killed should it still overshoot.
FILL = r"""
import mmap, os, sys, time
sys.path.insert(0, sys.argv[4])
import vm_eval
open("/proc/self/oom_score_adj", "w").write("1000")
most, leave, node = int(sys.argv[1]), int(sys.argv[3]), 0
m = mmap.mmap(-1, most)
done = 0
while done < most:
    free = vm_eval.node_meminfo(node)["MemFree"] - vm_eval.zoneinfo()[node]["floor"]
    if free <= leave:
        break
    end = min(most, done + min(free - leave, 1 << 20))
    for i in range(done, end, 4096):
        m[i] = 1
    done = end
with open(sys.argv[2] + ".tmp", "w") as f:
    f.write(str(done))
os.rename(sys.argv[2] + ".tmp", sys.argv[2])  # whole when it appears
time.sleep(1e6)
"""


def fill(most, leave, tmp):
    """(process, bytes): anonymous memory bound to the fast node, touched up
    to `most` bytes or until `leave` bytes are left above the node's floor,
    held until killed; (None, 0) when there is nothing to take."""
    if most < MIB:
        return None, 0
    ready = os.path.join(tmp, "filled")
    if os.path.exists(ready):
        os.unlink(ready)
    proc = subprocess.Popen(["numactl", "--membind=%d" % FAST, sys.executable, "-c", FILL,
                             str(most), ready, str(leave), HERE])
    deadline = time.monotonic() + 120
    while not os.path.exists(ready):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit("the filler of node %d did not start (exit %s)"
                             % (FAST, proc.poll()))
        time.sleep(0.2)
    with open(ready) as f:
        return proc, int(f.read())


def usable():
    """The fast node's free memory above its floor, bytes."""
    return max(0, vm_eval.node_meminfo(FAST)["MemFree"] - vm_eval.zoneinfo()[FAST]["floor"])


class Hold:
    """Node 0 held so that `leave` bytes stay usable above its floor."""

    def __init__(self):
        self.limit = vm_eval.FastLimit()
        self.fillers = []

    def set(self, leave, tmp, hugetlb_leaves=None, pids=None):
        """FastLimit's result, its "usable" and "reached" after the fillers,
        "anon": the bytes they hold, and "holders": node 0's memory by kind
        (vm_eval.node_holders, with the resident bytes of pids {name: pid}).
        hugetlb_leaves: what the hugetlb pages leave to the fillers (as
        fragmentation does; to test them)."""
        tolerance = max(4 * MIB, 0.15 * leave)
        # The node's free memory moves under the hold: the kernel's reclaim,
        # woken by the hugetlb pages, frees more after they are placed, and a
        # running workload takes some.  CI's guest once held 18-21 MiB more
        # than asked with the same number of hugetlb pages as a good run: so
        # the hold is measured again a second later and set again if off.
        for _ in range(4):
            held = self.limit.set(leave if hugetlb_leaves is None else hugetlb_leaves)
            # At most what is free beyond `leave` plus 64 MiB the kernel's
            # reclaim may free meanwhile; a filler stops when the node has
            # only `leave` left.  The reclaim can also free memory after a
            # filler stopped (18 MiB once, in CI's guest): another one takes
            # that, up to three in all.
            for _ in range(3):
                if usable() <= leave + 3 * MIB:
                    break
                self.fillers.append(fill(usable() - leave + 64 * MIB, leave, tmp))
            time.sleep(1)
            if abs(usable() - leave) <= tolerance:
                break
        held["usable"] = usable()
        held["anon"] = sum(f[1] for f in self.fillers)
        held["reached"] = abs(held["usable"] - leave) <= tolerance
        held["holders"] = vm_eval.node_holders(FAST, pids or {})
        return held

    def clear(self):
        self.limit.clear()
        for proc, _ in self.fillers:
            if proc:
                proc.kill()
                proc.wait()
        self.fillers = []
