/* SPDX-License-Identifier: MIT */
/*
 * Transport: how records and the rest leave the process.  Each probe of
 * include/mtp_probes.h has a semaphore here, which the kernel raises while a
 * tracer listens; every firing checks its semaphore first, so with no tracer
 * attached nothing is built.  Records are queued by mtp_emit() (inline, in
 * mtp_state.h: it runs for every object) and leave MTP_BATCH_MAX at a time
 * through mtp:objects (mtp_flush).  Also fired from here: mtp:hint for a
 * hinted object's ranges, mtp:configure for the program's settings, and
 * mtp:gc_done with the totals since its last firing, once more at exit.
 * The written pages' mtp:written is fired by the scan's driver
 * (mtp_written.c).  The GIL owns everything here.
 */
#include "mtp_state.h"

#include "mtp_footprint.h"

/* Semaphores live in .probes; the kernel bumps them when a uprobe with a
 * ref_ctr_offset attaches, which is how we know a tracer is listening. */
#define MTP_SEMAPHORE(name)                                                                        \
    __extension__ unsigned short mtp_##name##_semaphore __attribute__((unused))                    \
    __attribute__((section(".probes"))) __attribute__((visibility("hidden")))
#define MTP_SEMAPHORE_OF(name) MTP_SEMAPHORE(name);
MTP_PROBES(MTP_SEMAPHORE_OF)

/* The one site of each probe of MTP_PROBES_ONE_SITE (include/mtp_probes.h):
 * never inlined nor cloned, which would copy the site. */
MTP_ONE_SITE void mtp_fire_gc_start(int generation)
{
    MTP_FIRE(gc_start, generation);
}

MTP_ONE_SITE static void fire_objects(const struct mtp_record *recs, uint32_t count)
{
    uint32_t abi = MTP_ABI_VERSION;
    const struct mtp_type_name *names = mtp_type_names;

    MTP_FIRE(objects, recs, count, abi, names);
}

MTP_ONE_SITE void mtp_fire_written(const uint64_t *pages, uint32_t count, uint64_t period_ns)
{
    MTP_FIRE(written, pages, count, period_ns);
}

void mtp_flush(void)
{
    if (mtp.batch_len == 0)
        return;
    if (MTP_ATTACHED(objects)) {
        fire_objects(mtp.batch, mtp.batch_len);
        mtp.records_fired += mtp.batch_len;
        mtp.batches_fired++;
    }
    mtp.batch_len = 0;
}

/* Fires mtp:hint for every range of op, and for a buffer's data, which is
 * where a large object's bytes live (bytes, array.array, numpy). */
void mtp_fire_hint(PyObject *op, uint32_t kind, int with_buffer)
{
    uint64_t addr[MTP_RANGES_MAX], size[MTP_RANGES_MAX];
    int n;

    if (!MTP_ATTACHED(hint))
        return;
    n = mtp_object_ranges(op, addr, size);
    for (int i = 0; i < n; i++) {
        uint64_t a = addr[i], sz = size[i];
        MTP_FIRE(hint, a, sz, kind);
    }
    if (with_buffer && PyObject_CheckBuffer(op)) {
        Py_buffer view;
        if (PyObject_GetBuffer(op, &view, PyBUF_SIMPLE) == 0) {
            uint64_t a = (uint64_t)(uintptr_t)view.buf, sz = (uint64_t)view.len;
            if (sz > 0)
                MTP_FIRE(hint, a, sz, kind);
            PyBuffer_Release(&view);
        } else {
            PyErr_Clear(); /* a non-contiguous buffer: its object ranges suffice */
        }
    }
}

void mtp_fire_settings(void)
{
    PyObject *value;
    Py_ssize_t pos = 0;

    if (!MTP_ATTACHED(configure) || mtp.settings == NULL)
        return;
    while (PyDict_Next(mtp.settings, &pos, NULL, &value)) {
        const char *text = PyBytes_AS_STRING(value);
        MTP_FIRE(configure, text);
    }
}

/* The time one round-robin cycle takes: the last one's, or the one under
 * way's if it already took longer. */
static uint64_t mtp_cycle_ns(uint64_t now)
{
    uint64_t running = mtp_gc.cycle_started_ns && now > mtp_gc.cycle_started_ns
                           ? now - mtp_gc.cycle_started_ns
                           : 0;

    return running > mtp_gc.last_cycle_ns ? running : mtp_gc.last_cycle_ns;
}

MTP_ONE_SITE void mtp_fire_gc_done(uint64_t now)
{
    uint64_t collections = mtp.pending_collections, gc_ns = mtp.pending_gc_ns;
    uint64_t obs_ns = mtp.pending_observe_ns, objs = mtp.pending_observed;
    /* The stride when the scan is on: the loader widens its hot window by it. */
    int64_t wp_state = mtp.wp_state == MTP_WP_ON            ? (int64_t)mtp.wp.stride
                       : mtp.wp_state == MTP_WP_BACKING_OFF ? MTP_WP_STATE_BACKOFF
                                                            : mtp.wp_state;
    uint64_t wp_cost_ns = mtp.pending_wp_cost_ns, step_max_ns = mtp.pending_step_max_ns;
    /* How long covering the heap takes: the loader widens it by this too. */
    uint64_t cycle_ns = mtp_cycle_ns(now), cycles = mtp.pending_cycles;

    if (!MTP_ATTACHED(gc_done))
        return;
    MTP_FIRE(gc_done, collections, gc_ns, obs_ns, objs, wp_state, cycle_ns, cycles, wp_cost_ns,
             step_max_ns);
    mtp.pending_collections = mtp.pending_gc_ns = mtp.pending_cycles = 0;
    mtp.pending_observe_ns = mtp.pending_observed = 0;
    mtp.pending_wp_cost_ns = mtp.pending_step_max_ns = 0;
    mtp.last_gc_done_ns = now;
}

/* A forked child gets copies of its parent's probe semaphores (they are
 * plain memory) but none of its parent's tracers, which follow a pid.  The
 * kernel lowers a copied semaphore only when the child fires that probe and
 * no tracer wants it; until then the child took itself for traced and ran
 * an observation step, and a scan, for no one.  Firing each raised probe
 * once, empty, before anything else settles it.  A tracer of the child
 * itself (launch mode), should it attach first, keeps its probes and sees
 * an empty batch, no pages and a gc_done of a fresh start.  mtp:hint and
 * mtp:configure decide nothing: they settle the first time they fire. */
void mtp_fire_after_fork(void)
{
    if (MTP_ATTACHED(gc_start))
        mtp_fire_gc_start(-1); /* no collection */
    if (MTP_ATTACHED(objects))
        fire_objects(NULL, 0);
    if (MTP_ATTACHED(written))
        mtp_fire_written(NULL, 0, 0);
    mtp_fire_gc_done(mtp_now_ns());
}

/* The totals since the last mtp:gc_done would otherwise be lost when the
 * program exits; no Python is called, so this is safe after finalization. */
void mtp_gc_done_at_exit(void)
{
    if (mtp.pending_collections || mtp.pending_observed)
        mtp_fire_gc_done(mtp_now_ns());
}
