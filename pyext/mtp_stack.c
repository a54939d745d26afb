/* SPDX-License-Identifier: MIT */
/*
 * The running code: every observation records, as in use, the code of the
 * frames on the stepping thread's stack, the tables the interpreter reads
 * while it runs that code (constants, names, line and exception tables; the
 * bytecode, inline from 3.11), and the frames' globals and builtins.
 *
 * Why: the collector does not track code objects, bytes, str or constant
 * tuples, so the walk never visits them, and the interpreter reads them
 * without a reference count moving, so nothing else says they are in use.
 * Their pages were seen only if written and sampled by the scan, and the
 * sweep demoted them as never touched: one page of such tables was 0.11-0.14
 * of bfs's accesses in the two-tier guest (BENCHMARKS.md section 6).  A
 * step's stack is a sample of what runs (a timer step runs between two
 * bytecodes, a collection's step where the program allocates), so code that
 * runs often is recorded often, and code that stopped running is not.
 *
 * Where a stack is sampled: a collection's step runs where the program
 * allocates, on the thread that allocates; a timer step runs on the main
 * thread where the interpreter checks for pending calls (a loop's backward
 * jump, a function's entry), or on the ticker's thread, whose own stack is
 * empty, and which therefore reads the main thread's, where it let go of
 * the GIL.  Before 3.12 the ticker's pending call runs only after the main
 * thread takes the GIL back, so where a program lets go of it at a steady
 * period, timer steps gather just after those points (README, Limits).  A
 * function with neither a loop nor an allocation is seen through its
 * callers only.  The GIL owns all of this.
 */
#include "mtp_state.h"

#if PY_VERSION_HEX < 0x030B0000
#include <frameobject.h>
#endif

#include "mtp_footprint.h"

/* Frames visited by one step, innermost first; deeper stacks are
 * recursion as a rule, whose frames share their code. */
#define MTP_STACK_FRAMES_MAX 64
/* Distinct code objects and dicts one step records: each frame's code, and
 * its globals and builtins, which most frames share. */
#define MTP_STACK_OBJECTS_MAX (MTP_STACK_FRAMES_MAX * 3)

typedef struct {
    PyObject *done[MTP_STACK_OBJECTS_MAX];
    size_t n;
} mtp_stack_seen;

/* Records op's inline block (and a dict's table) as in use; no extent is
 * noted: these are recorded at every step anyway. */
static void mtp_stack_emit(PyObject *op)
{
    uint64_t addr[MTP_RANGES_MAX], size[MTP_RANGES_MAX];

    if (op != NULL)
        (void)mtp_emit_ranges(op, 1, addr, size);
}

/* mtp_stack_emit(op), once per step; returns whether it was the first. */
static int mtp_stack_record(mtp_stack_seen *seen, PyObject *op)
{
    if (op == NULL)
        return 0;
    for (size_t i = 0; i < seen->n; i++)
        if (seen->done[i] == op)
            return 0;
    if (seen->n == MTP_STACK_OBJECTS_MAX)
        return 0;
    seen->done[seen->n++] = op;
    mtp_stack_emit(op);
    return 1;
}

/* The code object and, the first time a step meets it, the tables the
 * eval loop reads from it as it runs. */
static void mtp_stack_record_code(mtp_stack_seen *seen, PyCodeObject *code)
{
    if (!mtp_stack_record(seen, (PyObject *)code))
        return;
    mtp.stack_code_recorded++;
    mtp_stack_emit(code->co_consts);
    mtp_stack_emit(code->co_names);
#if PY_VERSION_HEX >= 0x030B0000
    mtp_stack_emit(code->co_linetable);
    mtp_stack_emit(code->co_exceptiontable);
#elif PY_VERSION_HEX >= 0x030A0000
    mtp_stack_emit(code->co_code);
    mtp_stack_emit(code->co_linetable);
#else
    mtp_stack_emit(code->co_code);
    mtp_stack_emit(code->co_lnotab);
#endif
}

#if PY_VERSION_HEX >= 0x030B0000
/* 3.11+: frames are reached only as frame objects, which the interpreter
 * builds on demand (as sys._getframe() and sys._current_frames() do); each
 * is built once in its frame's life.  Returns the frames visited. */
static int mtp_stack_walk(mtp_stack_seen *seen, PyThreadState *tstate, int frames_max)
{
    PyFrameObject *frame = PyThreadState_GetFrame(tstate);
    int depth = 0;

    for (; frame != NULL && depth < frames_max; depth++) {
        PyCodeObject *code = PyFrame_GetCode(frame);
        PyObject *globals = PyFrame_GetGlobals(frame), *builtins = PyFrame_GetBuiltins(frame);
        PyFrameObject *back = PyFrame_GetBack(frame);

        mtp_stack_record_code(seen, code);
        mtp_stack_record(seen, globals);
        mtp_stack_record(seen, builtins);
        Py_DECREF(code);
        Py_DECREF(globals);
        Py_DECREF(builtins);
        Py_DECREF(frame);
        frame = back;
    }
    Py_XDECREF(frame);
    return depth;
}
#else
/* 3.9 and 3.10: the frames are objects already, read where they are. */
static int mtp_stack_walk(mtp_stack_seen *seen, PyThreadState *tstate, int frames_max)
{
    PyFrameObject *frame = tstate->frame;
    int depth = 0;

    for (; frame != NULL && depth < frames_max; depth++) {
        mtp_stack_record_code(seen, frame->f_code);
        mtp_stack_record(seen, frame->f_globals);
        mtp_stack_record(seen, frame->f_builtins);
        frame = frame->f_back;
    }
    return depth;
}
#endif

/* The main thread's state, noted where only the main thread runs (a
 * pending call, the child's after-fork hook); NULL until then.  It lives
 * as long as the interpreter, or until a fork, whose child notes its own.
 * The GIL's. */
static PyThreadState *mtp_stack_main;

/* Only the main interpreter's state that the thread was given at start (its
 * PyGILState one) lives that long.  The main thread also runs other states
 * for a while: a subinterpreter's (_testcapi.run_in_subinterp, mod_wsgi),
 * or one a C extension made and swapped in.  Each is freed when that ends,
 * and a ticker's step that read the frames of one noted here crashed a
 * target (CPython's test_capi, 3.11). */
void mtp_stack_note_main(PyThreadState *tstate)
{
    if (PyThreadState_GetInterpreter(tstate) == PyInterpreterState_Main() &&
        tstate == PyGILState_GetThisThreadState())
        mtp_stack_main = tstate;
}

/* A forked child: the parent's other threads' states are gone. */
void mtp_stack_forget_main(void)
{
    mtp_stack_main = NULL;
}

void mtp_record_running_code(void)
{
    PyThreadState *self = PyThreadState_Get();
    mtp_stack_seen seen;

    /* Building a frame object can fail (out of memory), which leaves an
     * exception set: that one is ours to clear, never one already set. */
    if (PyErr_Occurred())
        return;
    seen.n = 0;
    /* The ticker's own steps have no Python frame: they read the main
     * thread's, where it let go of the GIL.  Never the interpreter's list
     * of threads: a thread taking the GIL for the first time adds itself
     * to it without the GIL, and one read half made crashed a target. */
    if (mtp_stack_walk(&seen, self, MTP_STACK_FRAMES_MAX) == 0 && mtp_stack_main != NULL &&
        mtp_stack_main != self)
        mtp_stack_walk(&seen, mtp_stack_main, MTP_STACK_FRAMES_MAX);
    if (PyErr_Occurred())
        PyErr_Clear(); /* only some frames' code is lost */
    mtp_flush();
}
