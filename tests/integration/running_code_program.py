"""A program whose hot data is its running code, for code_tests: many
compiled functions, of which a block in the middle is called all the time and
the rest never.  Their code objects, bytecode, constants, names and line and
exception tables are read by the interpreter and never tracked by the
collector.

Usage: running_code_program.py LAYOUT READY STOP [SECONDS].  Writes LAYOUT
(JSON: "hot" and "cold" [address, size] ranges of those objects), then
READY, runs until STOP exists (at most SECONDS), and prints the rounds it
ran, their checksum and mtp's count of code objects recorded.
running_code_program.py --replay ROUNDS prints the same checksum without
mtp, to check that tracing changed nothing."""

import json
import os
import sys
import time

COLD_BEFORE, HOT, COLD_AFTER, LINES = 300, 12, 300, 100


def source(k):
    # Constants and global names of its own in every function: the compiler
    # shares equal constant tuples, which would put one object in both sets.
    # A loop, as hot code has: a timer step runs where the interpreter
    # checks for pending calls, a loop's backward jump among them.
    body = "\n".join("            x = (x * 31 + %d) %% 1000003" % (k * LINES + i)
                     for i in range(LINES))
    return ("def f%d(x):\n    global g%d\n    try:\n        for _ in range(2):\n%s\n"
            "    except ZeroDivisionError:\n        return -1\n    g%d = x\n    return x\n"
            % (k, k, body, k))


def compile_block(first, count, env):
    # One compilation per block, in order: the hot block's objects are
    # allocated together, apart from the cold ones.
    exec(compile("\n".join(source(k) for k in range(first, first + count)),
                 "<block %d>" % first, "exec"), env)
    return [env["f%d" % k] for k in range(first, first + count)]


def ranges(fn):
    code = fn.__code__
    objs = [code, code.co_consts, code.co_names]
    if sys.version_info >= (3, 11):
        objs += [code.co_linetable, code.co_exceptiontable]
    else:
        # co_code is the bytecode itself before 3.11 (from 3.11 it is a copy).
        objs += [code.co_code, code.co_linetable if sys.version_info >= (3, 10) else code.co_lnotab]
    return [[id(o), sys.getsizeof(o)] for o in objs]


def replay(rounds):
    hot = compile_block(COLD_BEFORE, HOT, {})
    total = 0
    for r in range(rounds):
        for fn in hot:
            total = (total + fn(r)) % 1000003
    print(json.dumps({"rounds": rounds, "total": total}))


def main():
    if sys.argv[1] == "--replay":
        replay(int(sys.argv[2]))
        return
    layout, ready, stop = sys.argv[1:4]
    seconds = float(sys.argv[4]) if len(sys.argv) > 4 else 300.0
    import mtp  # what is tested is what its steps record
    env = {}
    cold = compile_block(0, COLD_BEFORE, env)
    hot = compile_block(COLD_BEFORE, HOT, env)
    cold += compile_block(COLD_BEFORE + HOT, COLD_AFTER, env)
    with open(layout, "w") as f:
        json.dump({"hot": [r for fn in hot for r in ranges(fn)],
                   "cold": [r for fn in cold for r in ranges(fn)]}, f)
    open(ready, "w").close()
    total, rounds, end = 0, 0, time.monotonic() + seconds
    # The stop file is looked for every 2048 rounds (~0.2 s here).  A stat()
    # lets go of the GIL, and before 3.12 the ticker's pending call runs only
    # once the main thread takes the GIL back, so the step runs just after
    # the stat, in main, with no hot function on the stack.  At one stat per
    # 256 rounds (~23 ms) the steps (~60 ms apart under ASan) locked onto
    # the stats in one run of three, in CI and here: no hot page recorded
    # in 60 s.  At 2048 the steps mostly take the GIL inside the hot code.
    while rounds % 2048 or not os.path.exists(stop) and time.monotonic() < end:
        for fn in hot:
            total = (total + fn(rounds)) % 1000003
        rounds += 1
    # The checksum of the rounds run, recomputed untraced by the test.
    print(json.dumps({"rounds": rounds, "total": total,
                      "recorded": mtp.stats().get("running_code_recorded")}))


if __name__ == "__main__":
    main()
