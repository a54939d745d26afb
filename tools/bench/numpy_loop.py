"""A numpy loop: a Python loop over many small array operations, as analysis code
often is, with a list of medium arrays kept and replaced as it goes.

numpy arrays are not GC-tracked but their data are buffers mtp follows from
the containers that hold them.  The loop allocates arrays and Python floats
and tuples; collections come from the dicts and lists of per-step results.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


def main():
    args = harness.parser(__doc__).parse_args()
    mtp = harness.import_mtp(args)
    rng = np.random.default_rng(1)
    base = [rng.random(4096) for _ in range(256)]          # 8 MiB of long-lived arrays
    steps = max(1, int(180000 * args.scale))

    def work():
        acc = 0.0
        window = []
        for i in range(steps):
            a = base[i % len(base)]
            b = a[i % 1024:(i % 1024) + 2048] * 1.5 + 0.5
            s = float(b.sum())
            acc += s
            window.append({"i": i, "s": s, "m": (float(b.min()), float(b.max()))})
            if len(window) > 5000:
                window = []
            if i % 500 == 0:
                base[(i // 500) % len(base)] = rng.random(4096)
        return {"steps": steps, "acc": acc}

    harness.run("numpy", work, args, mtp)


if __name__ == "__main__":
    main()
