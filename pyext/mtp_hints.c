/* SPDX-License-Identifier: MIT */
/*
 * Hints: mtp.hint(obj, 'hot'|'cold'|'none'), and the hints' life.  A hint is
 * fired through mtp:hint when given, and repeated by every step that finds
 * the object still alive (mtp_refresh_hints), so that a tracer attached later
 * learns it too; it is forgotten when the object dies.  The hints are the
 * GIL's.
 */
#include "mtp_state.h"

#include <string.h>

#include "mtp_footprint.h"
#include "mtp_ownmem.h"

#define MTP_HINTS_MAX 65536

/* A new reference to a weak reference's object, or NULL once it is gone. */
static PyObject *mtp_weakref_target(PyObject *wr)
{
    PyObject *obj;

#if PY_VERSION_HEX >= 0x030D0000
    if (PyWeakref_GetRef(wr, &obj) <= 0) {
        PyErr_Clear();
        return NULL;
    }
#else
    obj = PyWeakref_GetObject(wr);
    if (obj == NULL || obj == Py_None) {
        PyErr_Clear();
        return NULL;
    }
    Py_INCREF(obj);
#endif
    return obj;
}

static void mtp_hint_drop(size_t i)
{
    Py_XDECREF(mtp.hints[i].weakref);
    mtp.hints[i] = mtp.hints[--mtp.hints_len];
}

/* Repeats the hints of objects still alive, so a tracer that attached after
 * mtp.hint() learns them, and forgets the rest.  `slice` holds the objects
 * this step observed, all alive.  An object hinted by address is repeated
 * when a step sees it, and forgotten once its address holds another type or
 * two whole cycles passed without a step finding it (it died). */
void mtp_refresh_hints(const mtp_seen *slice, size_t slice_len)
{
    /* Objects hinted by address first: they are safe to read only until
     * code runs, and reading a weakly referenced object's buffer may run
     * code. */
    for (size_t i = 0; i < mtp.hints_len;) {
        mtp_hint_entry *h = &mtp.hints[i];
        Py_ssize_t at;

        if (h->weakref != NULL) {
            i++;
            continue;
        }
        at = mtp_seen_find(slice, slice_len, h->addr);
        if (at >= 0 && slice[at].type_tag == h->type_tag) {
            mtp_fire_hint((PyObject *)(uintptr_t)h->addr, h->kind, 0);
            h->seen_cycle = mtp_gc.cycles;
            i++;
        } else if (at < 0 && mtp_gc.cycles - h->seen_cycle < 2) {
            i++;
        } else {
            mtp_hint_drop(i);
        }
    }
    for (size_t i = 0; i < mtp.hints_len;) {
        PyObject *target;

        if (mtp.hints[i].weakref == NULL) {
            i++;
            continue;
        }
        target = mtp_weakref_target(mtp.hints[i].weakref);
        if (target == NULL) {
            mtp_hint_drop(i);
            continue;
        }
        mtp_fire_hint(target, mtp.hints[i].kind, 1);
        Py_DECREF(target);
        i++;
    }
}

/* Remembers op's hint, followed through a weak reference where its type
 * allows, by address and type otherwise.  0, or -1 with an exception set. */
static int mtp_hint_remember(PyObject *op, uint64_t addr, uint32_t kind)
{
    PyObject *wr = NULL;

    /* A weak reference sees the object's death exactly, even when a new
     * object takes its address, so use one wherever the type allows. */
    if (PyType_SUPPORTS_WEAKREFS(Py_TYPE(op))) {
        wr = PyWeakref_NewRef(op, NULL);
        if (wr == NULL)
            return -1;
    } else if (PyObject_IS_GC(op)) {
        /* Found again by address and type in each snapshot.  Containers
         * holding only atomic values (a dict of ints) are left untracked
         * by CPython, so no snapshot would find them: track them, as
         * CPython itself does once they hold a container. */
        if (!PyObject_GC_IsTracked(op))
            PyObject_GC_Track(op);
    } else {
        PyErr_Format(PyExc_TypeError,
                     "cannot hint a %.100s: it is neither GC-tracked nor "
                     "weak-referenceable (hint its container instead)",
                     Py_TYPE(op)->tp_name);
        return -1;
    }
    if (mtp.hints_len == MTP_HINTS_MAX) {
        Py_XDECREF(wr);
        PyErr_SetString(PyExc_RuntimeError, "too many live mtp hints (65536)");
        return -1;
    }
    if (mtp.hints == NULL) {
        mtp.hints = mtp_own_map(MTP_HINTS_MAX * sizeof(*mtp.hints)); /* zeroed */
        if (mtp.hints == NULL) {
            Py_XDECREF(wr);
            PyErr_NoMemory();
            return -1;
        }
    }
    mtp.hints[mtp.hints_len++] = (mtp_hint_entry){.addr = addr,
                                                  .type_tag = mtp_type_tag(op),
                                                  .kind = kind,
                                                  .weakref = wr,
                                                  .seen_cycle = mtp_gc.cycles};
    return 0;
}

const char mtp_hint_doc[] =
    PyDoc_STR("hint(obj, kind)\n--\n\n"
              "Tell the tracer that obj will be 'hot' (keep it on the fast tier) or\n"
              "'cold' (it may go to the slow tier); 'none' withdraws the hint.  The\n"
              "hint covers the object's memory, its item storage and its buffer, and\n"
              "lasts while the object lives.  obj must be GC-tracked or support weak\n"
              "references.");

PyObject *mtp_hint(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *kind_name;
    uint32_t kind;
    PyObject *op;
    uint64_t addr;

    if (nargs != 2 || !PyUnicode_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "hint(obj, kind) takes an object and 'hot', 'cold' "
                                         "or 'none'");
        return NULL;
    }
    op = args[0];
    /* Compared as code points, not through UTF-8: a kind with no UTF-8 form
     * (a lone surrogate) or with a NUL ("hot\0") is simply not a kind. */
    kind_name = args[1];
    if (PyUnicode_CompareWithASCIIString(kind_name, "hot") == 0)
        kind = MTP_HINT_HOT;
    else if (PyUnicode_CompareWithASCIIString(kind_name, "cold") == 0)
        kind = MTP_HINT_COLD;
    else if (PyUnicode_CompareWithASCIIString(kind_name, "none") == 0)
        kind = MTP_HINT_NONE;
    else {
        PyErr_Format(PyExc_ValueError, "hint kind must be 'hot', 'cold' or 'none', not %R",
                     kind_name);
        return NULL;
    }
    addr = (uint64_t)(uintptr_t)op;
    for (size_t i = 0; i < mtp.hints_len; i++) {
        if (mtp.hints[i].addr == addr) {
            mtp_hint_drop(i);
            break;
        }
    }
    if (kind != MTP_HINT_NONE && mtp_hint_remember(op, addr, kind) < 0)
        return NULL;
    mtp_fire_hint(op, kind, 1);
    Py_RETURN_NONE;
}
