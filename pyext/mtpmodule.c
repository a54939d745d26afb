/* SPDX-License-Identifier: MIT */
/*
 * mtp: the in-process half of mtp.  At garbage-collection time it observes
 * GC-tracked objects, computes each one's reference-count change since it was
 * last observed, and hands batches of records to any attached tracer through
 * USDT probes.  With no tracer attached every probe semaphore is zero and the
 * GC callback returns before doing any work.
 *
 * Objects are only read while the GIL is held and while gc.get_objects()'s
 * list holds a strong reference to each of them, so none can be freed under
 * us.  The previous observation is kept as an array sorted by address:
 * 16 bytes per observed object, merge-joined with the next observation.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define _SDT_HAS_SEMAPHORES 1
/* Registers or constants only: libbpf cannot decode indexed memory operands
 * such as 8@(%r11,%rdx,8), which the default "nor" lets the compiler pick. */
#define STAP_SDT_ARG_CONSTRAINT nr
#include <sys/sdt.h>

#include "mtp_abi.h"
#include "mtp_snapshot.h"
#include "mtp_wpscan.h"

/* Semaphores live in .probes; the kernel bumps them when a uprobe with a
 * ref_ctr_offset attaches, which is how we know a tracer is listening. */
#define MTP_SEMAPHORE(name)                                                                        \
    __extension__ unsigned short mtp_##name##_semaphore __attribute__((unused))                    \
    __attribute__((section(".probes"))) __attribute__((visibility("hidden")))
MTP_SEMAPHORE(gc_start);
MTP_SEMAPHORE(gc_done);
MTP_SEMAPHORE(objects);
MTP_SEMAPHORE(hint);
MTP_SEMAPHORE(configure);
MTP_SEMAPHORE(written);

#define MTP_TRACING() (mtp_gc_start_semaphore | mtp_gc_done_semaphore | mtp_objects_semaphore)

/* A live hint.  Objects that support weak references are followed through
 * one; other GC-tracked objects (list, dict, tuple) are found again by address
 * and type in each snapshot, so a new object of the same type at a freed
 * hinted one's address inherits its hint.  Neither keeps the object alive. */
typedef struct {
    uint64_t addr;
    uint32_t type_tag;
    uint32_t kind;     /* enum mtp_hint */
    PyObject *weakref; /* NULL for GC-tracked objects */
} mtp_hint_entry;

#define MTP_HINTS_MAX 65536

typedef struct {
    mtp_seen *prev;
    size_t prev_len;

    struct mtp_record batch[MTP_BATCH_MAX];
    uint32_t batch_len;

    PyObject *get_objects;    /* gc.get_objects */
    PyObject *generation_key; /* "generation", interned: looked up at every collection */
    PyObject *settings;       /* dict name -> "name=value" bytes, from configure() */
    mtp_hint_entry *hints;
    size_t hints_len;
    int observing; /* guards against re-entry through an allocation */
    uint64_t gc_start_ns;
    /* Totals not yet reported through mtp:gc_done. */
    uint64_t pending_collections;
    uint64_t pending_gc_ns;
    uint64_t pending_observe_ns;
    uint64_t pending_observed;
    uint64_t last_gc_done_ns;
    uint64_t last_observe_ns;
    uint64_t min_interval_ns;

    /* The written-page scan: 1 on, 0 off, -errno when the kernel refused. */
    struct mtp_wpscan wp;
    int wp_state;
    uint64_t *written; /* pages written, pending until the next observation */
    size_t written_len;
    uint64_t written_since; /* when the current sample was protected */
    uint64_t written_fired;

    /* Counters exposed through mtp.stats(). */
    uint64_t observations;
    uint64_t objects_seen;
    uint64_t records_fired;
    uint64_t batches_fired;
    uint64_t observe_ns_total;
    uint64_t observe_ns_last;
} mtp_state;

static mtp_state mtp;

static uint64_t mtp_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void mtp_flush(void)
{
    if (mtp.batch_len == 0)
        return;
    if (mtp_objects_semaphore) {
        struct mtp_record *recs = mtp.batch;
        uint32_t count = mtp.batch_len;
        uint32_t abi = MTP_ABI_VERSION;

        DTRACE_PROBE3(mtp, objects, recs, count, abi);
        mtp.records_fired += count;
        mtp.batches_fired++;
    }
    mtp.batch_len = 0;
}

/* Queue [addr, addr + size) with the object's delta, split so that no record
 * spans more than MTP_RECORD_MAX_BYTES. */
static void mtp_emit(uint64_t addr, uint64_t size, int32_t delta)
{
    /* No Python object is this large; a size like this means a layout we
     * misread, and emitting it would flood the page table. */
    if (size > (1ull << 32))
        return;
    while (size > 0) {
        uint64_t chunk = size < MTP_RECORD_MAX_BYTES ? size : MTP_RECORD_MAX_BYTES;
        struct mtp_record *rec;

        if (mtp.batch_len == MTP_BATCH_MAX)
            mtp_flush();
        rec = &mtp.batch[mtp.batch_len++];
        rec->addr = addr;
        rec->size = (uint32_t)chunk;
        rec->refcnt_delta = delta;
        addr += chunk;
        size -= chunk;
    }
}

/* Bytes allocated in front of the PyObject header: the GC link and, on
 * 3.11+, the managed dict/weakref pointers. */
static size_t mtp_preheader_size(PyTypeObject *tp)
{
    size_t size = PyType_IS_GC(tp) ? 2 * sizeof(void *) : 0;

#if PY_VERSION_HEX >= 0x030C0000
    if (PyType_HasFeature(tp, Py_TPFLAGS_MANAGED_DICT | Py_TPFLAGS_MANAGED_WEAKREF))
        size += 2 * sizeof(void *);
#elif PY_VERSION_HEX >= 0x030B0000
    if (PyType_HasFeature(tp, Py_TPFLAGS_MANAGED_DICT))
        size += 2 * sizeof(void *);
#endif
    return size;
}

static uint64_t mtp_inline_size(PyObject *op)
{
    uint64_t size = (uint64_t)Py_TYPE(op)->tp_basicsize;

    /* tp_itemsize alone does not mean ob_size is an item count: 3.11's
     * generators keep a pointer there.  Trust it only for tuples, the one
     * common GC-tracked var-sized type whose layout is public. */
    if (PyTuple_Check(op))
        size += (uint64_t)PyTuple_GET_SIZE(op) * sizeof(PyObject *);
    return size;
}

static uint32_t mtp_type_tag(PyObject *op)
{
    uintptr_t tp = (uintptr_t)Py_TYPE(op);

    return (uint32_t)(tp ^ (tp >> 32));
}

/* The memory an object occupies, as up to two address ranges: its inline
 * block, plus a list's out-of-line item array.  Returns the number of
 * ranges. */
static int mtp_object_ranges(PyObject *op, uint64_t addr[2], uint64_t size[2])
{
    PyTypeObject *tp = Py_TYPE(op);
    size_t pre = mtp_preheader_size(tp);
    int n = 0;

    addr[n] = (uint64_t)(uintptr_t)op - pre;
    size[n++] = pre + mtp_inline_size(op);
    if (PyList_CheckExact(op)) {
        PyListObject *list = (PyListObject *)op;
        if (list->ob_item != NULL && list->allocated > 0) {
            addr[n] = (uint64_t)(uintptr_t)list->ob_item;
            size[n++] = (uint64_t)list->allocated * sizeof(PyObject *);
        }
    }
    return n;
}

static void mtp_emit_object(PyObject *op, int32_t delta)
{
    uint64_t addr[2], size[2];
    int n = mtp_object_ranges(op, addr, size);

    for (int i = 0; i < n; i++)
        mtp_emit(addr[i], size[i], delta);
}

/* Fires mtp:hint for every range of op, and for a buffer's data, which is
 * where a large object's bytes live (bytes, array.array, numpy). */
static void mtp_fire_hint(PyObject *op, uint32_t kind)
{
    uint64_t addr[2], size[2];
    int n;

    if (!mtp_hint_semaphore)
        return;
    n = mtp_object_ranges(op, addr, size);
    for (int i = 0; i < n; i++) {
        uint64_t a = addr[i], sz = size[i];
        DTRACE_PROBE3(mtp, hint, a, sz, kind);
    }
    if (PyObject_CheckBuffer(op)) {
        Py_buffer view;
        if (PyObject_GetBuffer(op, &view, PyBUF_SIMPLE) == 0) {
            uint64_t a = (uint64_t)(uintptr_t)view.buf, sz = (uint64_t)view.len;
            if (sz > 0)
                DTRACE_PROBE3(mtp, hint, a, sz, kind);
            PyBuffer_Release(&view);
        } else {
            PyErr_Clear(); /* a non-contiguous buffer: its object ranges suffice */
        }
    }
}

static void mtp_fire_settings(void)
{
    PyObject *value;
    Py_ssize_t pos = 0;

    if (!mtp_configure_semaphore || mtp.settings == NULL)
        return;
    while (PyDict_Next(mtp.settings, &pos, NULL, &value)) {
        const char *text = PyBytes_AS_STRING(value);
        DTRACE_PROBE1(mtp, configure, text);
    }
}

static Py_ssize_t mtp_seen_find(const mtp_seen *v, size_t len, uint64_t addr)
{
    size_t lo = 0, hi = len;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid].addr < addr)
            lo = mid + 1;
        else if (v[mid].addr > addr)
            hi = mid;
        else
            return (Py_ssize_t)mid;
    }
    return -1;
}

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
 * mtp.hint() learns them, and forgets the rest.  `snap` is the current
 * snapshot, sorted, whose objects are all alive. */
static void mtp_refresh_hints(const mtp_seen *snap, size_t snap_len)
{
    for (size_t i = 0; i < mtp.hints_len;) {
        mtp_hint_entry *h = &mtp.hints[i];
        PyObject *op = NULL;

        if (h->weakref != NULL) {
            PyObject *target = mtp_weakref_target(h->weakref);
            if (target != NULL) {
                mtp_fire_hint(target, h->kind);
                Py_DECREF(target);
                i++;
                continue;
            }
        } else {
            Py_ssize_t at = mtp_seen_find(snap, snap_len, h->addr);
            if (at >= 0 && snap[at].type_tag == h->type_tag)
                op = (PyObject *)(uintptr_t)h->addr;
        }
        if (op == NULL) {
            mtp_hint_drop(i);
            continue;
        }
        mtp_fire_hint(op, h->kind);
        i++;
    }
}

#define MTP_WRITTEN_MAX (1u << 16) /* pages reported per scan: 256 MiB */

static void mtp_wp_stop(void)
{
    if (mtp.wp_state == 1)
        mtp_wpscan_close(&mtp.wp);
    mtp.wp_state = 0;
}

/*
 * The written-page scan runs around everything that writes to objects on
 * the program's behalf without being the program: mtp's own observation
 * (gc.get_objects() raises every reference count) and full collections (the
 * collector writes every object's GC header).  Writes are taken just before
 * such a pass and the pages re-protected just after it, so only the
 * program's own writes are reported.
 */
static int mtp_written_ready(void)
{
    if (!mtp_written_semaphore || mtp.wp_state < 0)
        return 0;
    if (mtp.wp_state == 0) {
        int err = mtp_wpscan_open(&mtp.wp);
        if (err < 0) {
            mtp.wp_state = err; /* reported through gc_done; not retried */
            return 0;
        }
        mtp.wp_state = 1;
    }
    if (mtp.written == NULL) {
        mtp.written = PyMem_RawMalloc(MTP_WRITTEN_MAX * sizeof(*mtp.written));
        if (mtp.written == NULL)
            return 0;
    }
    return 1;
}

/* Appends the pages written since the last take or re-arm to the pending
 * list, which the next observation reports. */
static void mtp_written_take(void)
{
    long got;

    if (!mtp_written_ready())
        return;
    got = mtp_wpscan_collect(&mtp.wp, mtp.written + mtp.written_len,
                             MTP_WRITTEN_MAX - mtp.written_len);
    if (got > 0)
        mtp.written_len += (size_t)got;
}

/* Write faults may cost the program at most this share of its time: the
 * scan protects a smaller sample of the heap when they would cost more. */
#define MTP_WRITE_BUDGET   0.02
#define MTP_WRITE_FAULT_NS 2000 /* measured ~1.7 us per first write here */

static void mtp_written_rearm(void)
{
    if (mtp.wp_state == 1)
        mtp_wpscan_collect(&mtp.wp, NULL, 0);
}

/* After an observation: size the next sample from what this one saw. */
static void mtp_written_resample(uint64_t now)
{
    uint64_t elapsed = mtp.written_since ? now - mtp.written_since : 0;

    if (mtp.wp_state != 1)
        return;
    mtp_wpscan_sample(&mtp.wp, mtp_wpscan_next_stride(mtp.wp.stride, mtp.written_len, elapsed,
                                                      MTP_WRITE_BUDGET, MTP_WRITE_FAULT_NS));
    mtp.written_since = now;
}

static void mtp_written_fire(void)
{
    for (size_t done = 0; done < mtp.written_len; done += MTP_BATCH_MAX) {
        const uint64_t *pages = mtp.written + done;
        uint32_t count = (uint32_t)(mtp.written_len - done < MTP_BATCH_MAX ? mtp.written_len - done
                                                                           : MTP_BATCH_MAX);
        DTRACE_PROBE2(mtp, written, pages, count);
        mtp.written_fired += count;
    }
    mtp.written_len = 0;
}

/* Watches the mappings that hold this snapshot's objects (sorted, so
 * consecutive objects mostly fall in the mapping just watched). */
static void mtp_written_watch(const mtp_seen *snap, size_t n)
{
    uint64_t last_lo = 1, last_hi = 0;
    char *maps = NULL;
    size_t cap = 0;
    FILE *f;

    if (mtp.wp_state != 1)
        return;
    f = fopen("/proc/self/maps", "re");
    if (f == NULL)
        return;
    /* One read of the whole (small) file per observation. */
    if (getdelim(&maps, &cap, '\0', f) < 0 || maps == NULL || maps[0] == '\0') {
        fclose(f);
        free(maps);
        return;
    }
    fclose(f);
    for (size_t i = 0; i < n; i++) {
        uint64_t addr = snap[i].addr;
        if (addr >= last_lo && addr < last_hi)
            continue;
        last_lo = addr & ~(uint64_t)4095; /* if not watchable, skip its page */
        last_hi = last_lo + 4096;
        if (mtp_wpscan_watch(&mtp.wp, maps, addr) != 0)
            continue;
        for (size_t r = 0; r < mtp.wp.n_ranges; r++) {
            if (addr >= mtp.wp.start[r] && addr < mtp.wp.end[r]) {
                last_lo = mtp.wp.start[r];
                last_hi = mtp.wp.end[r];
            }
        }
    }
    free(maps);
}

/*
 * One observation: snapshot every GC-tracked object's refcount, merge with the
 * previous snapshot to get deltas, and fire the records.  Returns 0, or -1
 * with a Python exception set.
 */
static int mtp_observe(uint64_t *observed_out)
{
    PyObject *objects;
    Py_ssize_t n;
    mtp_seen *cur, *tmp, *sorted;
    size_t i, j;

    *observed_out = 0;
    mtp_written_take(); /* before gc.get_objects() writes every header */
    objects = PyObject_CallNoArgs(mtp.get_objects);
    if (objects == NULL)
        return -1;
    n = PyList_GET_SIZE(objects);
    cur = PyMem_RawMalloc((size_t)(n > 0 ? n : 1) * sizeof(*cur));
    tmp = PyMem_RawMalloc((size_t)(n > 0 ? n : 1) * sizeof(*tmp));
    if (cur == NULL || tmp == NULL) {
        PyMem_RawFree(cur);
        PyMem_RawFree(tmp);
        Py_DECREF(objects);
        PyErr_NoMemory();
        return -1;
    }
    for (i = 0; i < (size_t)n; i++) {
        PyObject *op = PyList_GET_ITEM(objects, i);
        cur[i].addr = (uint64_t)(uintptr_t)op;
        /* -1 for the reference gc.get_objects()'s list holds. */
        cur[i].refcnt = (uint32_t)(Py_REFCNT(op) - 1);
        cur[i].type_tag = mtp_type_tag(op);
    }
    sorted = mtp_sort_seen(cur, tmp, (size_t)n);
    /* Keep the sorted buffer as the snapshot; free the other. */
    PyMem_RawFree(sorted == cur ? tmp : cur);
    cur = sorted;

    /* Sorted merge: objects new since the last observation get delta 0; their
     * pages are still recorded, so cold memory is visible too. */
    for (i = 0, j = 0; i < (size_t)n; i++) {
        int32_t delta = 0;
        PyObject *op = (PyObject *)(uintptr_t)cur[i].addr;

        while (j < mtp.prev_len && mtp.prev[j].addr < cur[i].addr)
            j++;
        if (j < mtp.prev_len && mtp.prev[j].addr == cur[i].addr &&
            mtp.prev[j].type_tag == cur[i].type_tag)
            delta = (int32_t)(cur[i].refcnt - mtp.prev[j].refcnt);
        mtp_emit_object(op, delta);
    }
    mtp_flush();
    mtp_written_watch(cur, (size_t)n);
    mtp_refresh_hints(cur, (size_t)n);
    mtp_fire_settings();

    PyMem_RawFree(mtp.prev);
    mtp.prev = cur;
    mtp.prev_len = (size_t)n;
    Py_DECREF(objects); /* the last of our own writes to the objects */
    mtp_written_rearm();
    mtp_written_resample(mtp_now_ns());
    mtp_written_fire();
    *observed_out = (uint64_t)n;
    return 0;
}

static int mtp_is_full_collection(PyObject *info)
{
    PyObject *gen;

    if (mtp.wp_state != 1)
        return 0;
    gen = PyDict_GetItem(info, mtp.generation_key);
    return gen != NULL && PyLong_Check(gen) && PyLong_AsLong(gen) >= 2;
}

/* mtp:gc_done carries totals since its last firing: one firing per
 * collection would cost ~1 us each with a tracer attached, more than many
 * young collections take. */
#define MTP_GC_DONE_PERIOD_NS 1000000000ull

static void mtp_fire_gc_done(uint64_t now)
{
    uint64_t collections = mtp.pending_collections, gc_ns = mtp.pending_gc_ns;
    uint64_t obs_ns = mtp.pending_observe_ns, objs = mtp.pending_observed;
    /* The stride when the scan is on: the loader widens its hot window by it. */
    int64_t wp_state = mtp.wp_state == 1 ? (int64_t)mtp.wp.stride : mtp.wp_state;

    if (!mtp_gc_done_semaphore)
        return;
    DTRACE_PROBE5(mtp, gc_done, collections, gc_ns, obs_ns, objs, wp_state);
    mtp.pending_collections = mtp.pending_gc_ns = 0;
    mtp.pending_observe_ns = mtp.pending_observed = 0;
    mtp.last_gc_done_ns = now;
}

/* The totals since the last mtp:gc_done would otherwise be lost when the
 * program exits; no Python is called, so this is safe after finalization. */
static void mtp_gc_done_at_exit(void)
{
    if (mtp.pending_collections || mtp.pending_observed)
        mtp_fire_gc_done(mtp_now_ns());
}

static PyObject *mtp_gc_callback(PyObject *Py_UNUSED(module), PyObject *const *args,
                                 Py_ssize_t nargs)
{
    uint64_t observed = 0, now, observe_ns = 0;

    if (!MTP_TRACING()) {
        if (mtp.wp_state == 1)
            mtp_wp_stop(); /* the tracer left: no write faults without one */
        Py_RETURN_NONE;
    }
    if (nargs != 2 || !PyUnicode_Check(args[0]) || !PyDict_Check(args[1]))
        Py_RETURN_NONE;

    if (PyUnicode_CompareWithASCIIString(args[0], "start") == 0) {
        mtp.gc_start_ns = mtp_now_ns();
        if (mtp_is_full_collection(args[1]))
            mtp_written_take(); /* the collector is about to write every header */
        if (mtp_gc_start_semaphore) {
            /* For ad-hoc tools (bpftrace); mtp-trace does not attach it. */
            PyObject *gen = PyDict_GetItemString(args[1], "generation");
            long generation = gen != NULL && PyLong_Check(gen) ? PyLong_AsLong(gen) : -1;
            DTRACE_PROBE1(mtp, gc_start, generation);
        }
        Py_RETURN_NONE;
    }

    if (mtp_is_full_collection(args[1]))
        mtp_written_rearm();
    now = mtp_now_ns();
    mtp.pending_collections++;
    if (mtp.gc_start_ns && now > mtp.gc_start_ns)
        mtp.pending_gc_ns += now - mtp.gc_start_ns;
    if (!mtp.observing && mtp_objects_semaphore &&
        now - mtp.last_observe_ns >= mtp.min_interval_ns) {
        mtp.observing = 1;
        if (mtp_observe(&observed) < 0) {
            /* Never let tracing break the program's collection. */
            PyErr_Clear();
        }
        mtp.observing = 0;
        mtp.last_observe_ns = mtp_now_ns();
        observe_ns = mtp.last_observe_ns - now;
        mtp.observations++;
        mtp.objects_seen += observed;
        mtp.observe_ns_total += observe_ns;
        mtp.observe_ns_last = observe_ns;
        mtp.pending_observe_ns += observe_ns;
        mtp.pending_observed += observed;
    }
    if (observed || now - mtp.last_gc_done_ns >= MTP_GC_DONE_PERIOD_NS)
        mtp_fire_gc_done(now);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(mtp_observe_now_doc, "observe()\n--\n\n"
                                  "Observe all GC-tracked objects now, if a tracer is attached.\n"
                                  "Returns the number of objects observed (0 when not traced).");

static PyObject *mtp_observe_now(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    uint64_t observed = 0, start;

    if (!mtp_objects_semaphore || mtp.observing)
        return PyLong_FromLong(0);
    start = mtp_now_ns();
    mtp.observing = 1;
    if (mtp_observe(&observed) < 0) {
        mtp.observing = 0;
        return NULL;
    }
    mtp.observing = 0;
    mtp.last_observe_ns = mtp_now_ns();
    mtp.observations++;
    mtp.objects_seen += observed;
    mtp.observe_ns_last = mtp.last_observe_ns - start;
    mtp.observe_ns_total += mtp.observe_ns_last;
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

static PyObject *mtp_stats(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    int wp_on = mtp.wp_state == 1;
    PyObject *d = PyDict_New();

    if (d == NULL || mtp_put_u64(d, "observations", mtp.observations) < 0 ||
        mtp_put_u64(d, "objects_seen", mtp.objects_seen) < 0 ||
        mtp_put_u64(d, "records_fired", mtp.records_fired) < 0 ||
        mtp_put_u64(d, "batches_fired", mtp.batches_fired) < 0 ||
        mtp_put_u64(d, "observe_ns_total", mtp.observe_ns_total) < 0 ||
        mtp_put_u64(d, "observe_ns_last", mtp.observe_ns_last) < 0 ||
        mtp_put_u64(d, "side_table_bytes", mtp.prev_len * sizeof(mtp_seen)) < 0 ||
        PyDict_SetItemString(d, "tracing", MTP_TRACING() ? Py_True : Py_False) < 0 ||
        /* 1 on, 0 off, or the negative errno the kernel refused it with */
        PyDict_SetItemString(d, "written_scan", wp_on ? Py_True : Py_False) < 0 ||
        mtp_put_u64(d, "written_scan_errno", mtp.wp_state < 0 ? (uint64_t)-mtp.wp_state : 0) < 0 ||
        mtp_put_u64(d, "written_pages_fired", mtp.written_fired) < 0 ||
        mtp_put_u64(d, "written_ranges", wp_on ? mtp.wp.n_ranges : 0) < 0 ||
        mtp_put_u64(d, "written_stride", wp_on ? mtp.wp.stride : 0) < 0) {
        Py_XDECREF(d);
        return NULL;
    }
    return d;
}

PyDoc_STRVAR(mtp_set_interval_doc,
             "set_min_interval(seconds)\n--\n\n"
             "Observe at most once per this many seconds of collections (default 0.5).");

static PyObject *mtp_set_min_interval(PyObject *Py_UNUSED(module), PyObject *arg)
{
    double seconds = PyFloat_AsDouble(arg);

    if (seconds == -1.0 && PyErr_Occurred())
        return NULL;
    if (!(seconds >= 0.0 && seconds <= 3600.0)) {
        PyErr_SetString(PyExc_ValueError, "min interval must be between 0 and 3600 seconds");
        return NULL;
    }
    mtp.min_interval_ns = (uint64_t)(seconds * 1e9);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(mtp_configure_doc,
             "configure(**settings)\n--\n\n"
             "Ask the tracer for this program's tiering settings, e.g.\n"
             "mtp.configure(fast_budget='2G', max_rate=50, lazy=4).  Known names:\n"
             "fast_budget, max_rate, lazy, hot_threshold, eager.  mtp-trace honours\n"
             "them only within the limits its own command line sets.  A value of\n"
             "None removes a setting.");

static const char *const mtp_setting_names[] = {"fast-budget", "max-rate", "lazy", "hot-threshold",
                                                "eager"};

static PyObject *mtp_configure(PyObject *Py_UNUSED(module), PyObject *args, PyObject *kwargs)
{
    PyObject *key, *value;
    Py_ssize_t pos = 0;

    if (PyTuple_GET_SIZE(args) != 0) {
        PyErr_SetString(PyExc_TypeError, "configure() takes keyword arguments only");
        return NULL;
    }
    if (kwargs == NULL)
        Py_RETURN_NONE;
    /* Validate everything before changing anything. */
    while (PyDict_Next(kwargs, &pos, &key, &value)) {
        const char *name = PyUnicode_AsUTF8(key);
        char dashed[32];
        int known = 0;

        if (name == NULL)
            return NULL;
        snprintf(dashed, sizeof(dashed), "%s", name);
        for (char *c = dashed; *c; c++)
            if (*c == '_')
                *c = '-';
        for (size_t i = 0; i < sizeof(mtp_setting_names) / sizeof(*mtp_setting_names); i++)
            known |= strcmp(dashed, mtp_setting_names[i]) == 0;
        if (!known) {
            PyErr_Format(PyExc_ValueError,
                         "unknown mtp setting '%s' (known: fast_budget, max_rate, lazy, "
                         "hot_threshold, eager)",
                         name);
            return NULL;
        }
        if (value != Py_None && !PyUnicode_Check(value) && !PyLong_Check(value) &&
            !PyFloat_Check(value)) {
            PyErr_Format(PyExc_TypeError, "mtp setting '%s' must be a str, int, float or bool",
                         name);
            return NULL;
        }
    }
    pos = 0;
    while (PyDict_Next(kwargs, &pos, &key, &value)) {
        PyObject *text, *dashed_key;
        const char *name = PyUnicode_AsUTF8(key);
        char dashed[32];

        snprintf(dashed, sizeof(dashed), "%s", name);
        for (char *c = dashed; *c; c++)
            if (*c == '_')
                *c = '-';
        dashed_key = PyUnicode_FromString(dashed);
        if (dashed_key == NULL)
            return NULL;
        if (value == Py_None) {
            if (PyDict_DelItem(mtp.settings, dashed_key) < 0)
                PyErr_Clear();
            Py_DECREF(dashed_key);
            if (mtp_configure_semaphore) {
                /* "name=" hands the knob back to the operator's setting. */
                char reset[40];
                snprintf(reset, sizeof(reset), "%s=", dashed);
                const char *text = reset;
                DTRACE_PROBE1(mtp, configure, text);
            }
            continue;
        }
        if (PyBool_Check(value))
            text = PyBytes_FromFormat("%s=%s", dashed, value == Py_True ? "true" : "false");
        else {
            PyObject *str = PyObject_Str(value);
            text = str ? PyBytes_FromFormat("%s=%s", dashed, PyUnicode_AsUTF8(str)) : NULL;
            Py_XDECREF(str);
        }
        if (text == NULL || PyBytes_GET_SIZE(text) >= MTP_SETTING_MAX) {
            if (text != NULL)
                PyErr_Format(PyExc_ValueError, "mtp setting '%s' is too long", name);
            Py_XDECREF(text);
            Py_DECREF(dashed_key);
            return NULL;
        }
        if (PyDict_SetItem(mtp.settings, dashed_key, text) < 0) {
            Py_DECREF(text);
            Py_DECREF(dashed_key);
            return NULL;
        }
        Py_DECREF(text);
        Py_DECREF(dashed_key);
    }
    mtp_fire_settings();
    Py_RETURN_NONE;
}

PyDoc_STRVAR(mtp_settings_doc, "settings()\n--\n\nThe settings given to configure(), as a dict.");

static PyObject *mtp_settings(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    PyObject *out = PyDict_New(), *key, *text;
    Py_ssize_t pos = 0;

    while (out != NULL && PyDict_Next(mtp.settings, &pos, &key, &text)) {
        const char *eq = strchr(PyBytes_AS_STRING(text), '=');
        PyObject *value = PyUnicode_FromString(eq ? eq + 1 : "");
        if (value == NULL || PyDict_SetItem(out, key, value) < 0)
            Py_CLEAR(out);
        Py_XDECREF(value);
    }
    return out;
}

PyDoc_STRVAR(mtp_hint_doc, "hint(obj, kind)\n--\n\n"
                           "Tell the tracer that obj will be 'hot' (keep it on the fast tier) or\n"
                           "'cold' (it may go to the slow tier); 'none' withdraws the hint.  The\n"
                           "hint covers the object's memory, its item storage and its buffer, and\n"
                           "lasts while the object lives.  obj must be GC-tracked or support weak\n"
                           "references.");

static PyObject *mtp_hint(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    const char *kind_name;
    uint32_t kind;
    PyObject *op;
    uint64_t addr;

    if (nargs != 2 || !PyUnicode_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "hint(obj, kind) takes an object and 'hot', 'cold' "
                                         "or 'none'");
        return NULL;
    }
    op = args[0];
    kind_name = PyUnicode_AsUTF8(args[1]);
    if (kind_name == NULL)
        return NULL;
    if (strcmp(kind_name, "hot") == 0)
        kind = MTP_HINT_HOT;
    else if (strcmp(kind_name, "cold") == 0)
        kind = MTP_HINT_COLD;
    else if (strcmp(kind_name, "none") == 0)
        kind = MTP_HINT_NONE;
    else {
        PyErr_Format(PyExc_ValueError, "hint kind must be 'hot', 'cold' or 'none', not '%s'",
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
    if (kind != MTP_HINT_NONE) {
        PyObject *wr = NULL;

        /* A weak reference sees the object's death exactly, even when a new
         * object takes its address, so use one wherever the type allows. */
        if (PyType_SUPPORTS_WEAKREFS(Py_TYPE(op))) {
            wr = PyWeakref_NewRef(op, NULL);
            if (wr == NULL)
                return NULL;
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
            return NULL;
        }
        if (mtp.hints_len == MTP_HINTS_MAX) {
            Py_XDECREF(wr);
            PyErr_SetString(PyExc_RuntimeError, "too many live mtp hints (65536)");
            return NULL;
        }
        if (mtp.hints == NULL) {
            mtp.hints = PyMem_RawCalloc(MTP_HINTS_MAX, sizeof(*mtp.hints));
            if (mtp.hints == NULL) {
                Py_XDECREF(wr);
                return PyErr_NoMemory();
            }
        }
        mtp.hints[mtp.hints_len++] = (mtp_hint_entry){
            .addr = addr, .type_tag = mtp_type_tag(op), .kind = kind, .weakref = wr};
    }
    mtp_fire_hint(op, kind);
    Py_RETURN_NONE;
}

/* A forked child has its own future; it must not inherit deltas computed
 * against the parent's history. */
static PyObject *mtp_after_fork_child(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    PyMem_RawFree(mtp.prev);
    mtp.prev = NULL;
    mtp.prev_len = 0;
    mtp.batch_len = 0;
    mtp_wp_stop(); /* the descriptor is the parent's: the child starts clean */
    mtp.observing = 0;
    mtp.last_observe_ns = 0;
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
    {"configure", (PyCFunction)(void (*)(void))mtp_configure, METH_VARARGS | METH_KEYWORDS,
     mtp_configure_doc},
    {"settings", mtp_settings, METH_NOARGS, mtp_settings_doc},
    {"hint", (PyCFunction)(void (*)(void))mtp_hint, METH_FASTCALL, mtp_hint_doc},
    {NULL, NULL, 0, NULL},
};

PyDoc_STRVAR(mtp_doc, "Memory tiering for Python: exposes object temperature to mtp-trace.\n\n"
                      "Importing this module is all a program needs to do; run\n"
                      "'sudo mtp-trace --pid PID' to trace it.");

static struct PyModuleDef mtp_module = {
    PyModuleDef_HEAD_INIT, "mtp", mtp_doc, -1, mtp_methods, NULL, NULL, NULL, NULL,
};

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
        PyObject *kwargs = fn ? Py_BuildValue("{s:O}", "after_in_child", cb) : NULL;
        PyObject *noargs = kwargs ? PyTuple_New(0) : NULL;
        res = noargs ? PyObject_Call(fn, noargs, kwargs) : NULL;
        Py_XDECREF(noargs);
        Py_XDECREF(kwargs);
        Py_XDECREF(fn);
        if (res == NULL)
            goto out;
    }
    rc = 0;
out:
    Py_XDECREF(res);
    Py_XDECREF(cb);
    Py_XDECREF(callbacks);
    Py_XDECREF(os);
    Py_XDECREF(gc);
    return rc;
}

PyMODINIT_FUNC PyInit_mtp(void)
{
    PyObject *module;

    /* Our state is process-wide and gc.get_objects() sees only one
     * interpreter, so refuse subinterpreters rather than mix their objects. */
    if (PyInterpreterState_Get() != PyInterpreterState_Main()) {
        PyErr_SetString(PyExc_ImportError,
                        "mtp can only be imported in the main interpreter, not a subinterpreter");
        return NULL;
    }
    if (mtp.get_objects != NULL) {
        PyErr_SetString(PyExc_ImportError, "mtp was already initialised in this process");
        return NULL;
    }
    mtp.min_interval_ns = 500 * 1000 * 1000;
    mtp.settings = PyDict_New();
    if (mtp.settings == NULL)
        return NULL;
    Py_AtExit(mtp_gc_done_at_exit);
    mtp.generation_key = PyUnicode_InternFromString("generation");
    if (mtp.generation_key == NULL) {
        Py_CLEAR(mtp.settings);
        return NULL;
    }
    module = PyModule_Create(&mtp_module);
    if (module == NULL) {
        Py_CLEAR(mtp.settings);
        return NULL;
    }
    if (PyModule_AddIntConstant(module, "ABI_VERSION", MTP_ABI_VERSION) < 0 ||
        PyModule_AddIntConstant(module, "BATCH_MAX", MTP_BATCH_MAX) < 0 ||
        mtp_register(module) < 0) {
        Py_CLEAR(mtp.get_objects);
        Py_CLEAR(mtp.settings);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
