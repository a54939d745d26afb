/* SPDX-License-Identifier: MIT */
/*
 * mtp, the in-process half
 * ========================
 *
 * Observes the program's objects and hands what it sees to an attached
 * tracer (mtp-trace) through USDT probes: each object's reference-count
 * change since it was last seen, the pages the program wrote, its hints and
 * settings.  With no tracer attached every probe semaphore is zero and the
 * extension does nothing but check them.
 *
 * Where to start reading: mtp_gc_callback (mtp_schedule.c), then
 * mtp_run_step and mtp_observe (mtp_step.c).  mtp_state.h holds the state
 * every room shares, and says who owns each field.
 *
 * The rooms:
 *
 *   mtpmodule.c      this file: the module, its methods, stats(), the
 *                    budget's setters, registration with gc, os and atexit
 *   mtp_schedule.c   when a step runs and how large: credits, step sizing,
 *                    the GC callback, the timer step's decision
 *   mtp_ticker.c     the ticker thread, which runs timer steps and closes
 *                    what takes too long for a step, and the fork hooks
 *                    that keep it out of a fork
 *   mtp_step.c       one step: an observation, or the written-page scan's own
 *   mtp_walk.c       which objects: the collector's lists from a bookmark,
 *                    or gc.get_objects() where they cannot be walked
 *   mtp_footprint.h  what memory an object occupies, and its records
 *   mtp_transport.c  the probes: records in batches, hints, settings, gc_done
 *   mtp_written.c    the written-page scan's driver (mtp_wpscan.c: its
 *                    system calls)
 *   mtp_hints.c      mtp.hint(), and the hints' repetition at each step
 *   mtp_stack.c      the running code: the code on a step's stack, its
 *                    tables, globals and builtins, recorded as in use
 *   mtp_settings.c   mtp.configure() and mtp.settings()
 *   mtp_sidetable.c  the side table, and storage by owner
 *   mtp_ownmem.c     mtp's own memory, kept out of the program's allocator
 *   mtp_budget.c     MTP_BUDGET's parser
 *   mtp_types.c      the Python types, numbered for the records, and their
 *                    names (include/mtp_abi.h, "Types")
 *
 * A step, in order.  A collection's "stop" callback, or the ticker holding
 * the GIL, finds a step due and sizes it from its credit; mtp_run_step runs
 * either one of the scan's steps (take the written pages, watch the maps and
 * resample; move the sample; credit and fire) or an observation: walk a
 * slice of the collector's lists from the bookmark, each object with the
 * untracked objects it refers to; sort the slice and fold it into the side
 * table for each object's change; fire the records; then repeat the hints,
 * record the running code, read the buffers, credit the storage of written
 * containers and fire the settings; and last let go of the step's own
 * references.
 *
 * Why reading objects is safe: every step holds the GIL, and from the walk's
 * start until its records and the hints found by address are fired, no
 * Python code runs and no Python object is allocated or freed, so every
 * object of the slice is alive while it is read.  What is read after that
 * (a buffer's data, a weakly referenced hint's object) is held by a
 * reference of the step's own.  On the fallback path (MTP_NO_GC_WALK=1, or a
 * layout the import-time check rejects), gc.get_objects()'s list holds every
 * object of the slice instead.
 */
#include "mtp_state.h"

#include <stdlib.h>
#include <string.h>

#include "mtp_budget.h"

mtp_state mtp;

mtp_gc_state mtp_gc;

PyDoc_STRVAR(mtp_observe_now_doc, "observe()\n--\n\n"
                                  "Observe now, if a tracer is attached: one step with no budget,\n"
                                  "covering every tracked object and its referents.  Returns the\n"
                                  "number of objects observed (0 when not traced).");

static PyObject *mtp_observe_now(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    uint64_t observed = 0, spent;

    if (!MTP_ATTACHED(objects) || mtp.observing)
        return PyLong_FromLong(0);
    /* Counted like every other step, so mtp:gc_done reports its time too. */
    if (mtp_run_step(MTP_STEP_MAX_ENTRIES, 1, &observed, &spent) < 0)
        return NULL;
    return PyLong_FromUnsignedLongLong(observed);
}

PyDoc_STRVAR(mtp_tracing_doc,
             "tracing()\n--\n\nTrue when an mtp tracer is attached to this process.");

static PyObject *mtp_tracing(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    return PyBool_FromLong(MTP_TRACING() != 0);
}

PyDoc_STRVAR(mtp_stats_doc, "stats()\n--\n\nCounters of the in-process observer, as a dict.");

static int mtp_put_u64(PyObject *dict, const char *key, uint64_t value)
{
    PyObject *v = PyLong_FromUnsignedLongLong(value);
    int rc = v ? PyDict_SetItemString(dict, key, v) : -1;

    Py_XDECREF(v);
    return rc;
}

static int mtp_put_str(PyObject *dict, const char *key, const char *value)
{
    PyObject *v = PyUnicode_FromString(value);
    int rc = v ? PyDict_SetItemString(dict, key, v) : -1;

    Py_XDECREF(v);
    return rc;
}

static int mtp_put_f64(PyObject *dict, const char *key, double value)
{
    PyObject *v = PyFloat_FromDouble(value);
    int rc = v ? PyDict_SetItemString(dict, key, v) : -1;

    Py_XDECREF(v);
    return rc;
}

static const char *mtp_wp_state_name(void)
{
    switch (mtp.wp_state) {
    case MTP_WP_ON:
        return "on";
    case MTP_WP_OFF:
        return "off";
    case MTP_WP_BACKING_OFF:
        return "backoff";
    default:
        return "unsupported";
    }
}

static PyObject *mtp_stats(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    int wp_on = mtp.wp_state == MTP_WP_ON;
    PyObject *d = PyDict_New();
    double share = mtp.wp_share_avg > 0 ? mtp.wp_share_avg : 0.0;
    PyObject *share_obj = PyFloat_FromDouble(share);

    if (d == NULL || mtp_put_u64(d, "observations", mtp.observations) < 0 ||
        mtp_put_u64(d, "objects_seen", mtp.objects_seen) < 0 ||
        mtp_put_u64(d, "records_fired", mtp.records_fired) < 0 ||
        mtp_put_u64(d, "types", (uint64_t)mtp_types_count()) < 0 ||
        mtp_put_u64(d, "batches_fired", mtp.batches_fired) < 0 ||
        mtp_put_u64(d, "observe_ns_total", mtp.observe_ns_total) < 0 ||
        mtp_put_u64(d, "observe_ns_last", mtp.observe_ns_last) < 0 ||
        mtp_put_u64(d, "observe_ns_max", mtp.observe_ns_max) < 0 ||
        mtp_put_u64(d, "timer_steps", mtp.timer_steps) < 0 ||
        mtp_put_u64(d, "timer_calls", __atomic_load_n(&mtp.timer_calls_posted, __ATOMIC_RELAXED)) <
            0 ||
        mtp_put_u64(d, "timer_gil_takes", mtp.timer_gil_takes) < 0 ||
        mtp_put_u64(d, "timer_calls_elsewhere", mtp.timer_calls_elsewhere) < 0 ||
        mtp_put_u64(d, "gc_ns_total", mtp.gc_ns_total) < 0 ||
        mtp_put_u64(d, "gc_step_ns_total", mtp.gc_step_ns_total) < 0 ||
        mtp_put_u64(d, "timer_step_ns_total", mtp.timer_step_ns_total) < 0 ||
        mtp_put_u64(d, "cycles", mtp_gc.cycles) < 0 ||
        mtp_put_u64(d, "walk_restarts", mtp_gc.restarts) < 0 ||
        mtp_put_u64(d, "cycle_ns", mtp_gc.last_cycle_ns) < 0 ||
        PyDict_SetItemString(d, "walks_gc_lists", mtp_gc.usable ? Py_True : Py_False) < 0 ||
        mtp_put_str(d, "footprint", mtp.first_page_only ? "first-page" : "full") < 0 ||
        mtp_put_f64(d, "budget_share", mtp.budget) < 0 ||
        mtp_put_f64(d, "budget_timer_share", mtp_load_f64(&mtp.timer_share)) < 0 ||
        mtp_put_f64(d, "budget_scan_share", mtp.scan_share) < 0 ||
        mtp_put_u64(d, "last_step_gen0", mtp_gc.last_by_list[0]) < 0 ||
        mtp_put_u64(d, "last_step_gen1", mtp_gc.last_by_list[1]) < 0 ||
        mtp_put_u64(d, "last_step_gen2", mtp_gc.last_by_list[2]) < 0 ||
        mtp_put_u64(d, "last_step_frozen", mtp_gc.last_by_list[3]) < 0 ||
        mtp_put_u64(d, "side_table_bytes", mtp_seentab_bytes(&mtp.seen)) < 0 ||
        mtp_put_u64(d, "side_table_entries", mtp_seentab_len(&mtp.seen)) < 0 ||
        mtp_put_u64(d, "extent_table_bytes", mtp_extab_bytes(&mtp.extents)) < 0 ||
        mtp_put_u64(d, "own_mapped_bytes", mtp_own_mapped_bytes()) < 0 ||
        mtp_put_u64(d, "extent_table_entries", mtp_extab_len(&mtp.extents)) < 0 ||
        mtp_put_u64(d, "extents_credited", mtp.extents_credited) < 0 ||
        mtp_put_u64(d, "running_code_recorded", mtp.stack_code_recorded) < 0 ||
        PyDict_SetItemString(d, "tracing", MTP_TRACING() ? Py_True : Py_False) < 0 ||
        /* 1 on, 0 off, or the negative errno the kernel refused it with */
        PyDict_SetItemString(d, "written_scan", wp_on ? Py_True : Py_False) < 0 ||
        mtp_put_u64(d, "written_scan_errno", mtp.wp_state < 0 ? (uint64_t)-mtp.wp_state : 0) < 0 ||
        mtp_put_u64(d, "written_pages_fired", mtp.written_fired) < 0 ||
        mtp_put_u64(d, "written_ranges", wp_on ? mtp.wp.n_ranges : 0) < 0 ||
        mtp_put_u64(d, "written_stride", wp_on ? mtp.wp.stride : 0) < 0 ||
        mtp_put_str(d, "written_scan_state", mtp_wp_state_name()) < 0 ||
        mtp_put_u64(d, "written_scan_faults", mtp.wp_faults_total) < 0 ||
        mtp_put_u64(d, "written_scan_fault_ns", mtp.wp_fault_ns) < 0 ||
        mtp_put_u64(d, "written_scan_fault_price_ns", (uint64_t)mtp_wp_fault_price()) < 0 ||
        mtp_put_u64(d, "written_scan_sys_ns", mtp.wp_sys_ns_total) < 0 ||
        mtp_put_u64(d, "written_scan_cost_ns", mtp.wp_cost_ns_total) < 0 || share_obj == NULL ||
        PyDict_SetItemString(d, "written_scan_cost_share", share_obj) < 0 ||
        mtp_put_u64(d, "written_scan_backoffs", mtp.wp_backoffs) < 0 ||
        mtp_put_u64(d, "written_scan_holds", mtp.wp_holds) < 0 ||
        mtp_put_u64(d, "written_scan_held_ns", mtp.wp_held_ns_total) < 0 ||
        mtp_put_u64(d, "step_ns_p50", mtp_step_quantile(0.50)) < 0 ||
        mtp_put_u64(d, "step_ns_p99", mtp_step_quantile(0.99)) < 0 ||
        mtp_put_u64(d, "forced_steps", mtp.forced_steps) < 0 ||
        mtp_put_u64(d, "step_ns_per_entry", (uint64_t)mtp.ns_per_entry) < 0 ||
        mtp_put_u64(d, "step_fixed_ns", (uint64_t)mtp.step_fixed_ns) < 0 ||
        mtp_put_u64(d, "timer_credit_ns",
                    (uint64_t)(mtp.timer_credit_ns > 0 ? mtp.timer_credit_ns : 0)) < 0 ||
        mtp_put_u64(d, "gc_credit_ns", (uint64_t)(mtp.credit_ns > 0 ? mtp.credit_ns : 0)) < 0) {
        Py_XDECREF(share_obj);
        Py_XDECREF(d);
        return NULL;
    }
    Py_DECREF(share_obj);
    return d;
}

PyDoc_STRVAR(mtp_set_interval_doc,
             "set_min_interval(seconds)\n--\n\n"
             "Observe at most once per this many seconds, in collections or from the\n"
             "timer (default 0.05).  A step pauses the program for at most 2 ms, so this\n"
             "also caps the steps' share of wall time (about 4% at the default),\n"
             "whatever set_budget's timer_share.");

static PyObject *mtp_set_min_interval(PyObject *Py_UNUSED(module), PyObject *arg)
{
    double seconds = PyFloat_AsDouble(arg);

    if (seconds == -1.0 && PyErr_Occurred())
        return NULL;
    if (!(seconds >= 0.0 && seconds <= 3600.0)) {
        PyErr_SetString(PyExc_ValueError, "min interval must be between 0 and 3600 seconds");
        return NULL;
    }
    __atomic_store_n(&mtp.min_interval_ns, (uint64_t)(seconds * 1e9), __ATOMIC_RELAXED);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(mtp_set_budget_doc,
             "set_budget(share, timer_share=0.02, scan_share=0.02)\n--\n\n"
             "Steps inside collections may add at most `share` of the collector's\n"
             "own time to its pauses (default 0.2).  All steps together, inside\n"
             "collections and from mtp's timer, may take `timer_share` of wall time\n"
             "(default 0.02; 0 turns timer steps off and leaves steps inside\n"
             "collections to `share` alone).  Larger shares cover a large heap in\n"
             "fewer seconds; no step is sized to pause the program over 2 ms.\n"
             "The written-page scan may cost `scan_share` of the program's time\n"
             "(default 0.02): larger finds read-mostly hot pages sooner.");

static PyObject *mtp_set_budget(PyObject *Py_UNUSED(module), PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"share", "timer_share", "scan_share", NULL};
    double share, timer = mtp.timer_share, scan = mtp.scan_share;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "d|dd:set_budget", keywords, &share, &timer,
                                     &scan))
        return NULL;
    if (!mtp_budget_valid(&(struct mtp_budget){share, timer, scan})) {
        PyErr_SetString(PyExc_ValueError, "budget: " MTP_BUDGET_LIMITS);
        return NULL;
    }
    mtp.budget = share;
    mtp.scan_share = scan;
    mtp_store_f64(&mtp.timer_share, timer);
    Py_RETURN_NONE;
}

static PyMethodDef mtp_methods[] = {
    {"_gc_callback", (PyCFunction)(void (*)(void))mtp_gc_callback, METH_FASTCALL,
     "Registered in gc.callbacks; not for direct use."},
    {"_after_fork_child", mtp_after_fork_child, METH_NOARGS,
     "Registered with os.register_at_fork; not for direct use."},
    {"observe", mtp_observe_now, METH_NOARGS, mtp_observe_now_doc},
    {"tracing", mtp_tracing, METH_NOARGS, mtp_tracing_doc},
    {"stats", mtp_stats, METH_NOARGS, mtp_stats_doc},
    {"set_min_interval", mtp_set_min_interval, METH_O, mtp_set_interval_doc},
    {"set_budget", (PyCFunction)(void (*)(void))mtp_set_budget, METH_VARARGS | METH_KEYWORDS,
     mtp_set_budget_doc},
    {"_ticker_stop", mtp_ticker_stop, METH_NOARGS, "Registered with atexit; not for direct use."},
    {"_before_fork", mtp_before_fork, METH_NOARGS,
     "Registered with os.register_at_fork; not for direct use."},
    {"_after_fork_parent", mtp_after_fork_parent, METH_NOARGS,
     "Registered with os.register_at_fork; not for direct use."},
    {"configure", (PyCFunction)(void (*)(void))mtp_configure, METH_VARARGS | METH_KEYWORDS,
     mtp_configure_doc},
    {"settings", mtp_settings, METH_NOARGS, mtp_settings_doc},
    {"hint", (PyCFunction)(void (*)(void))mtp_hint, METH_FASTCALL, mtp_hint_doc},
    {NULL, NULL, 0, NULL},
};

PyDoc_STRVAR(mtp_doc, "Memory tiering for Python: exposes object temperature to mtp-trace.\n\n"
                      "Importing this module is all a program needs to do; run\n"
                      "'sudo mtp-trace --pid PID' to trace it.");

static int mtp_exec(PyObject *module);

/* Multi-phase initialisation, so that every import runs mtp_exec, which
 * decides.  A single-phase module (m_size -1) is initialised once and then
 * copied into each subinterpreter that imports it, with no chance to refuse:
 * one imported by the main interpreter first was silently accepted there,
 * with gc.callbacks left empty. */
static PyModuleDef_Slot mtp_slots[] = {
    {Py_mod_exec, (void *)mtp_exec},
    {0, NULL},
};

static struct PyModuleDef mtp_module = {
    PyModuleDef_HEAD_INIT, "mtp", mtp_doc, 0, mtp_methods, mtp_slots, NULL, NULL, NULL,
};

/* MTP_FOOTPRINT picks what a record covers.  A bad value must not fail the
 * import (that would break the traced program), not even under -W error: it
 * warns and keeps the default. */
static void mtp_read_footprint(void)
{
    const char *v = getenv("MTP_FOOTPRINT");

    mtp.first_page_only = 0;
    if (v == NULL || v[0] == '\0' || strcmp(v, "full") == 0)
        return;
    if (strcmp(v, "first-page") == 0) {
        mtp.first_page_only = 1;
        return;
    }
    if (PyErr_WarnFormat(PyExc_RuntimeWarning, 1,
                         "mtp: MTP_FOOTPRINT=%.100s is not 'full' or 'first-page'; using 'full'",
                         v) < 0)
        PyErr_WriteUnraisable(NULL); /* warnings are errors: still say it, still import */
}

/* MTP_BUDGET sets set_budget's shares before the program runs, without a
 * code change ("timer_share=1%,scan_share=0.01").  Like MTP_FOOTPRINT, a
 * bad value warns and keeps the defaults. */
static void mtp_read_budget(void)
{
    const char *v = getenv("MTP_BUDGET");
    struct mtp_budget b = {mtp.budget, mtp.timer_share, mtp.scan_share};
    char err[160];

    if (v == NULL || v[0] == '\0')
        return;
    if (mtp_budget_parse(v, &b, err, sizeof(err)) == 0) {
        mtp.budget = b.share;
        mtp.scan_share = b.scan_share;
        mtp_store_f64(&mtp.timer_share, b.timer_share);
        return;
    }
    if (PyErr_WarnFormat(PyExc_RuntimeWarning, 1,
                         "mtp: MTP_BUDGET=%.100s: %s; keeping the defaults", v, err) < 0)
        PyErr_WriteUnraisable(NULL); /* warnings are errors: still say it, still import */
}

static int mtp_register(PyObject *module)
{
    PyObject *gc = NULL, *os = NULL, *callbacks = NULL, *cb = NULL, *res = NULL;
    int rc = -1;

    gc = PyImport_ImportModule("gc");
    if (gc == NULL)
        goto out;
    mtp.get_objects = PyObject_GetAttrString(gc, "get_objects");
    if (mtp.get_objects == NULL)
        goto out;
    callbacks = PyObject_GetAttrString(gc, "callbacks");
    if (callbacks == NULL)
        goto out;
    cb = PyObject_GetAttrString(module, "_gc_callback");
    if (cb == NULL || PyList_Append(callbacks, cb) < 0)
        goto out;
    Py_CLEAR(cb);

    os = PyImport_ImportModule("os");
    if (os == NULL)
        goto out;
    cb = PyObject_GetAttrString(module, "_after_fork_child");
    if (cb == NULL)
        goto out;
    {
        PyObject *fn = PyObject_GetAttrString(os, "register_at_fork");
        PyObject *before = PyObject_GetAttrString(module, "_before_fork");
        PyObject *parent = before ? PyObject_GetAttrString(module, "_after_fork_parent") : NULL;
        PyObject *kwargs = fn && parent ? Py_BuildValue("{s:O,s:O,s:O}", "after_in_child", cb,
                                                        "before", before, "after_in_parent", parent)
                                        : NULL;
        Py_XDECREF(before);
        Py_XDECREF(parent);
        PyObject *noargs = kwargs ? PyTuple_New(0) : NULL;
        res = noargs ? PyObject_Call(fn, noargs, kwargs) : NULL;
        Py_XDECREF(noargs);
        Py_XDECREF(kwargs);
        Py_XDECREF(fn);
        if (res == NULL)
            goto out;
    }
    Py_CLEAR(cb);
    Py_CLEAR(res);
    {
        PyObject *atexit = PyImport_ImportModule("atexit");
        cb = atexit ? PyObject_GetAttrString(module, "_ticker_stop") : NULL;
        res = cb ? PyObject_CallMethod(atexit, "register", "O", cb) : NULL;
        Py_XDECREF(atexit);
        if (res == NULL)
            goto out;
    }
    /* MTP_NO_GC_WALK=1 forces the gc.get_objects() path: for tests, and a way
     * out should a CPython build lay out its lists in a way the check misses. */
    if (getenv("MTP_NO_GC_WALK") == NULL || strcmp(getenv("MTP_NO_GC_WALK"), "1") != 0)
        mtp_gc_find_lists();
    mtp_read_footprint();
    mtp_read_budget();
    mtp_ticker_ensure(); /* dormant until a tracer attaches */
    rc = 0;
out:
    Py_XDECREF(res);
    Py_XDECREF(cb);
    Py_XDECREF(callbacks);
    Py_XDECREF(os);
    Py_XDECREF(gc);
    return rc;
}

static int mtp_exec(PyObject *module)
{
    /* Our state is process-wide and the collector's lists (like
     * gc.get_objects()) are one interpreter's, so refuse subinterpreters
     * rather than mix their objects.  (Launch mode's sitecustomize, which
     * runs in every subinterpreter, knows this refusal by the word
     * "subinterpreter" and passes over it in silence: user/launch.c.) */
    if (PyInterpreterState_Get() != PyInterpreterState_Main()) {
        PyErr_SetString(PyExc_ImportError,
                        "mtp can only be imported in the main interpreter, not a subinterpreter");
        return -1;
    }
    if (PyModule_AddIntConstant(module, "ABI_VERSION", MTP_ABI_VERSION) < 0 ||
        PyModule_AddIntConstant(module, "BATCH_MAX", MTP_BATCH_MAX) < 0)
        return -1;
    /* A second module object in the main interpreter (del sys.modules['mtp'],
     * importlib.reload): the process-wide state and its one registration
     * serve it as they serve the first. */
    if (mtp.get_objects != NULL)
        return 0;
    /* Atomic stores for the fields the ticker reads, though none runs yet:
     * one rule for every write. */
    __atomic_store_n(&mtp.min_interval_ns, MTP_MIN_INTERVAL_NS, __ATOMIC_RELAXED);
    mtp.budget = MTP_BUDGET_SHARE;
    mtp_store_f64(&mtp.timer_share, MTP_BUDGET_TIMER_SHARE);
    mtp.scan_share = MTP_BUDGET_SCAN_SHARE;
    mtp_store_f64(&mtp.ns_per_entry, 300);
    mtp_store_f64(&mtp.step_fixed_ns, 2e5);
    mtp.settings = PyDict_New();
    if (mtp.settings == NULL)
        return -1;
    mtp.generation_key = PyUnicode_InternFromString("generation");
    if (mtp.generation_key == NULL || mtp_register(module) < 0) {
        Py_CLEAR(mtp.get_objects);
        Py_CLEAR(mtp.generation_key);
        Py_CLEAR(mtp.settings);
        return -1;
    }
    Py_AtExit(mtp_gc_done_at_exit);
    return 0;
}

/* Where the import starts: the module is made, then mtp_exec runs. */
PyMODINIT_FUNC PyInit_mtp(void)
{
    return PyModuleDef_Init(&mtp_module);
}
