/* SPDX-License-Identifier: MIT */
/*
 * The GC walk: which objects a step observes.
 *
 * A step reads the reference counts of a slice of the GC-tracked objects and
 * of the untracked objects they refer to (str, bytes, int, float, buffers,
 * untracked tuples and dicts); the step (mtp_step.c) folds them into the side
 * table to get each object's change since it was last seen, and fires the
 * records.  Slices are taken round-robin along the collector's own lists,
 * from a bookmark, so a large heap is covered over several steps and every
 * object is seen once per cycle (mtp_gc_cycle_done).
 *
 * The lists are read directly, the way gcmodule.c walks them, which needs
 * their layout: PyGC_Head in front of each object, and the interpreter's
 * generation heads (the same in 3.9 to 3.13).  The layout is checked against
 * values the public API reports before it is trusted; if the check fails the
 * step falls back to gc.get_objects() (mtp_snapshot_all), which sees
 * everything but costs a pass over the whole heap.  A walk runs no Python code
 * and neither allocates nor frees Python objects, so the lists cannot change
 * under it.  The walk's place (mtp_gc) and the walk are the GIL's.
 */
#include "mtp_state.h"

#include "mtp_footprint.h"

static int mtp_gc_head_index(const mtp_gc_link *node)
{
    for (int i = 0; i < MTP_GC_LISTS; i++)
        if (node == mtp_gc.heads[i])
            return i;
    return -1;
}

/*
 * Finds the generation heads: a just-created list is appended at the tail of
 * generation 0, so its next link is that generation's head.  The heads sit
 * in struct _gc_runtime_state as generations[3] followed by the generation0
 * pointer and the permanent generation; each head is followed by its
 * threshold, which gc.get_threshold() reports.  Any mismatch leaves the
 * walker off.
 */
void mtp_gc_find_lists(void)
{
#if defined(Py_GIL_DISABLED) || PY_VERSION_HEX >= 0x030E0000
    return; /* other collectors: gc.get_objects() only */
#else
    PyObject *probe = NULL, *gc = NULL, *thresholds = NULL;
    mtp_gc_link *link, *gen0;
    char *base;

    gc = PyImport_ImportModule("gc");
    thresholds = gc ? PyObject_CallMethod(gc, "get_threshold", NULL) : NULL;
    if (thresholds == NULL || !PyTuple_Check(thresholds) || PyTuple_GET_SIZE(thresholds) != 3)
        goto out;
    /* Nothing may be allocated between the probe and reading its link. */
    probe = PyList_New(0);
    if (probe == NULL || !PyObject_GC_IsTracked(probe))
        goto out;
    link = (mtp_gc_link *)probe - 1;
    gen0 = (mtp_gc_link *)link->next;
    base = (char *)gen0;
    if (gen0 == NULL || (mtp_gc_link *)(gen0->prev & MTP_GC_PREV_MASK) != link)
        goto out;
    for (int g = 0; g < 3; g++) {
        int threshold = *(int *)(base + g * MTP_GC_GENERATION_SIZE + sizeof(mtp_gc_link));
        long want = PyLong_AsLong(PyTuple_GET_ITEM(thresholds, g));
        if (want == -1 && PyErr_Occurred())
            goto out;
        if (threshold != want)
            goto out;
        mtp_gc.heads[g] = (mtp_gc_link *)(base + g * MTP_GC_GENERATION_SIZE);
    }
    if (*(mtp_gc_link **)(base + 3 * MTP_GC_GENERATION_SIZE) != gen0)
        goto out;
    mtp_gc.heads[3] = (mtp_gc_link *)(base + 3 * MTP_GC_GENERATION_SIZE + sizeof(void *));
    for (int g = 0; g < MTP_GC_LISTS; g++) {
        mtp_gc_link *h = mtp_gc.heads[g];
        /* Every list is circular through its head. */
        if (h->next == 0 || ((mtp_gc_link *)h->next)->prev == 0 ||
            (mtp_gc_link *)(((mtp_gc_link *)h->next)->prev & MTP_GC_PREV_MASK) != h)
            goto out;
    }
    __atomic_store_n(&mtp_gc.usable, 1, __ATOMIC_RELAXED);
out:
    PyErr_Clear();
    Py_XDECREF(thresholds);
    Py_XDECREF(gc);
    Py_XDECREF(probe);
#endif
}

static int mtp_has_buffer(PyTypeObject *tp)
{
    return tp->tp_as_buffer != NULL && tp->tp_as_buffer->bf_getbuffer != NULL &&
           tp != &PyBytes_Type && tp != &PyByteArray_Type && tp != &PyMemoryView_Type;
}

static void mtp_walk_add(mtp_walk *w, PyObject *op)
{
    /* The bookmark's count includes the reference mtp holds. */
    Py_ssize_t refcnt = Py_REFCNT(op) - (op == mtp_gc.bookmark);

    if (w->len == w->limit)
        return;
    w->v[w->len++] = (mtp_seen){(uint64_t)(uintptr_t)op, (uint32_t)refcnt, mtp_type_tag(op), 0, 0};
    /* A buffer's data is out-of-line storage, which first-page mode leaves
     * out, so it need not be exported at all. */
    if (!mtp.first_page_only && mtp_has_buffer(Py_TYPE(op)) && w->n_buffers < MTP_BUFFERS_MAX) {
        Py_INCREF(op); /* kept alive until its buffer is read, after the walk */
        w->buffers[w->n_buffers++] = op;
    }
}

/* tp_traverse callback: records the untracked objects a container refers
 * to, which the lists do not hold.  Returns 1 to stop at the budget. */
static int mtp_visit_referent(PyObject *op, void *arg)
{
    mtp_walk *w = arg;
    PyTypeObject *tp;

    if (op == NULL)
        return 0;
    if (!w->nested && w->visited++ < w->skip)
        return 0;
    tp = Py_TYPE(op);
    if (PyType_IS_GC(tp)) {
        /* Tracked ones are on the lists.  Tuples and dicts of atoms are
         * untracked by the collector: take them and their atoms. */
        if (PyObject_GC_IsTracked(op) || w->nested ||
            !(PyTuple_CheckExact(op) || PyDict_CheckExact(op)))
            return 0;
        mtp_walk_add(w, op);
        w->nested = 1;
        tp->tp_traverse(op, mtp_visit_referent, w);
        w->nested = 0;
    } else {
#if PY_VERSION_HEX >= 0x030C0000
        if (_Py_IsImmortal(op))
            return 0; /* never changes, lives in static memory */
#endif
        if (PyUnicode_Check(op) || PyBytes_Check(op) || PyLong_Check(op) || PyFloat_Check(op) ||
            PyByteArray_Check(op) || PyComplex_Check(op) || mtp_has_buffer(tp))
            mtp_walk_add(w, op);
    }
    return !w->nested && w->len >= w->limit;
}

void mtp_gc_cycle_done(uint64_t now)
{
    mtp_gc.cycle++;
    mtp_gc.cycles++;
    mtp.pending_cycles++;
    if (mtp_gc.cycle_started_ns)
        mtp_gc.last_cycle_ns = now - mtp_gc.cycle_started_ns;
    mtp_gc.cycle_started_ns = now;
}

/* Sets where the next step starts; the old bookmark is returned to be
 * released once nothing is walking any more. */
static PyObject *mtp_gc_set_bookmark(PyObject *op, Py_ssize_t visited, int list)
{
    PyObject *old = mtp_gc.bookmark;

    Py_XINCREF(op);
    mtp_gc.bookmark = op;
    mtp_gc.bookmark_visited = visited;
    mtp_gc.resume_list = list;
    return old;
}

/* Whether the walk is out of time: asked between objects, the clock read
 * every 16 of them (~1 us of walking at the usual speed, ~30 ns a read; in
 * the slowest walks seen, 25 us an object, 0.4 ms). */
static int mtp_walk_overdue(mtp_walk *w)
{
    return w->until_ns != 0 && (++w->objects & 15) == 0 && mtp_now_ns() >= w->until_ns;
}

/*
 * Walks the lists from the bookmark, each from its tail towards its head,
 * until the step's budget (entries, time) is spent or every list was walked
 * once.  Returns the previous bookmark (to release), or sets *broken when a
 * link does not check out.
 *
 * Backwards, because the collector appends: a new object goes to generation
 * 0's tail, and a collection's survivors to the older generation's tail.
 * Walking towards the head, a cycle covers what a list held when the walk
 * reached it, and ends; walking forwards, it could chase a tail that a
 * program building a large structure extends faster than the steps' budget
 * walks.  Objects appended meanwhile wait for the next cycle.  (Not what
 * makes make eval's cycles as long as its runs: that is the steps using
 * 0.4-0.5% of wall time instead of their 2%, BENCHMARKS.md section 5.)
 */
PyObject *mtp_gc_walk(mtp_walk *w, int *cycle_done, int *broken)
{
    mtp_gc_link *node, *from = NULL; /* from: walked just before node, its successor */
    int heads_passed = 0;

    *cycle_done = 0;
    *broken = 0;
    w->list = MTP_GC_LISTS;
    if (mtp_gc.bookmark != NULL && ((mtp_gc_link *)mtp_gc.bookmark - 1)->next != 0)
        node = (mtp_gc_link *)mtp_gc.bookmark - 1;
    else { /* untracked since: start its list again */
        mtp_gc.restarts += mtp_gc.bookmark != NULL;
        node = mtp_gc.heads[mtp_gc.bookmark != NULL ? 0 : mtp_gc.resume_list];
    }
    for (;;) {
        int head = mtp_gc_head_index(node);
        PyObject *op;

        if (head >= 0) {
            /* Done with list `head`: on to the next one, from its tail. */
            if (++heads_passed > MTP_GC_LISTS)
                return mtp_gc_set_bookmark(NULL, 0, head);
            if (head == MTP_GC_LISTS - 1)
                *cycle_done = 1;
            w->list = (head + 1) % MTP_GC_LISTS;
            from = mtp_gc.heads[(head + 1) % MTP_GC_LISTS];
            node = (mtp_gc_link *)(from->prev & MTP_GC_PREV_MASK);
            continue;
        }
        if (from != NULL && (mtp_gc_link *)node->next != from) {
            *broken = 1;
            return mtp_gc_set_bookmark(NULL, 0, 0);
        }
        op = (PyObject *)(node + 1);
        w->visited = 0;
        w->skip = op == mtp_gc.bookmark ? mtp_gc.bookmark_visited : 0;
        if (w->skip == 0)
            mtp_walk_add(w, op);
        w->by_list[w->list]++;
        if (Py_TYPE(op)->tp_traverse != NULL &&
            Py_TYPE(op)->tp_traverse(op, mtp_visit_referent, w) != 0)
            return mtp_gc_set_bookmark(op, w->visited, 0); /* resume inside it */
        from = node;
        node = (mtp_gc_link *)(node->prev & MTP_GC_PREV_MASK);
        if (w->len >= w->limit || mtp_walk_overdue(w)) {
            head = mtp_gc_head_index(node);
            if (head >= 0)
                return mtp_gc_set_bookmark(NULL, 0, head);
            return mtp_gc_set_bookmark((PyObject *)(node + 1), 0, 0);
        }
    }
}

/* gc.get_objects(), when the lists cannot be walked: a slice of its list
 * from where the previous step stopped.  Returns the list, which keeps the
 * objects alive, or NULL with an exception. */
PyObject *mtp_snapshot_all(mtp_walk *w, int *cycle_done)
{
    PyObject *objects = PyObject_CallNoArgs(mtp.get_objects);
    size_t n, at, taken = 0;

    if (objects == NULL)
        return NULL;
    n = (size_t)PyList_GET_SIZE(objects);
    at = mtp_gc.fallback_offset < n ? mtp_gc.fallback_offset : 0;
    while (taken < n && w->len < w->limit) {
        PyObject *op = PyList_GET_ITEM(objects, at);
        mtp_walk_add(w, op);
        w->v[w->len - 1].refcnt--; /* the list's own reference */
        w->visited = w->skip = 0;
        if (Py_TYPE(op)->tp_traverse != NULL)
            Py_TYPE(op)->tp_traverse(op, mtp_visit_referent, w);
        taken++;
        if (++at == n) {
            at = 0;
            *cycle_done = 1;
        }
    }
    mtp_gc.fallback_offset = at;
    return objects;
}
