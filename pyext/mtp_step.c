/* SPDX-License-Identifier: MIT */
/*
 * The step: one observation, or one of the written-page scan's own steps
 * (mtp_scan_step); mtp_run_step chooses, times and counts it.  An
 * observation (mtp_observe) runs in this order:
 *
 *   1. a whole-heap mtp.observe() only: take the written pages (other
 *      observations leave the scan to its own steps);
 *   2. walk a slice of the collector's lists into a snapshot (mtp_walk.c);
 *   3. sort it and fold it into the side table, which hands back each
 *      object's refcount change (mtp_sidetable.c);
 *   4. queue and fire every object's records (mtp_footprint.h, transport);
 *   5. repeat the live hints, record the running code (mtp_stack.c), read
 *      the buffers the walk kept, watch the mappings (mtp.observe() only),
 *      credit the storage of containers whose page was written, fire the
 *      settings, note a finished cycle;
 *   6. let go of the step's own references, re-protect what the step wrote
 *      (mtp.observe(): resample and move the sample too), and fire the
 *      written pages.
 *
 * From the walk's start until the records and the hints found by address
 * are fired, no Python code runs, so every object of the snapshot is alive
 * while it is read; from the hints followed through weak references on,
 * code may run.  The GIL owns the step and its scratch.
 */
#include "mtp_state.h"

#include <string.h>

#include "mtp_footprint.h"
#include "mtp_ownmem.h"

/*
 * The activity a record carries: the net refcount change since the object's
 * last observation or, when that is zero, a short history.  A net change
 * misses an object whose count went up and down again between two
 * observations; one that moved at either of its two previous observations
 * probably is still in use.  Only without the written-page scan: with it,
 * every step reports the pages written since the last one, which says the
 * same thing sooner, and stale history would only slow phase changes.
 * Measured (make eval, reference counts only, store variants): recall 0.66 ->
 * 0.73 (uniform) and 0.24 -> 0.37 (Zipf), precision 1.00 either way.
 */
#define MTP_HISTORY_RECENT 2

static int32_t mtp_activity(int32_t delta, uint8_t history)
{
    if (delta != 0 || mtp.wp_state == MTP_WP_ON)
        return delta;
    return mtp_history_count((uint8_t)(history >> 1), MTP_HISTORY_RECENT) > 0 ? 1 : 0;
}

/* Reads the buffers the walk kept, now that code may run, and fires their
 * data with their owner's delta. */
static void mtp_emit_buffers(mtp_walk *w, const mtp_seen *cur, const int32_t *delta, size_t n)
{
    for (size_t i = 0; i < w->n_buffers; i++) {
        PyObject *op = w->buffers[i];
        Py_ssize_t at = mtp_seen_find(cur, n, (uint64_t)(uintptr_t)op);
        Py_buffer view;

        if (PyObject_GetBuffer(op, &view, PyBUF_SIMPLE) == 0) {
            if (view.len > 0) {
                mtp_emit((uint64_t)(uintptr_t)view.buf, (uint64_t)view.len, at >= 0 ? delta[at] : 0,
                         mtp_type_id(Py_TYPE(op)));
            }
            PyBuffer_Release(&view);
        } else {
            PyErr_Clear(); /* not contiguous: its object's own range suffices */
        }
    }
    mtp_flush();
}

static void mtp_release_buffers(mtp_walk *w)
{
    for (size_t i = 0; i < w->n_buffers; i++)
        Py_DECREF(w->buffers[i]);
    w->n_buffers = 0;
}

/* Folds the step's extents into the table by owner.  They come one per
 * object of the sorted, unique slice, so sorted by owner (the table would
 * cope with any order, more slowly).  Runs even when there are none: the
 * table's upkeep goes on. */
static void mtp_extents_note_step(void)
{
    /* Out of memory loses only some storage's heat. */
    (void)mtp_extab_upsert(&mtp.extents, mtp.step_extents, mtp.step_extents_len, mtp_gc.cycle);
    mtp.step_extents_len = 0;
}

static void mtp_extent_credit(void *Py_UNUSED(ctx), uint64_t addr, uint32_t size)
{
    /* The owner is not at hand: storage credited this way is not
     * attributed to a type (it is when its owner is observed). */
    mtp_emit(addr, size, 1, 0);
}

/* Credits the storage of every container whose own page is among the
 * written pages taken: one lookup per written page. */
static void mtp_extents_credit(void)
{
    if (mtp.written_len == 0)
        return;
    mtp.extents_credited +=
        mtp_extab_touched(&mtp.extents, mtp.written, mtp.written_len, mtp_extent_credit, NULL);
    mtp_flush();
}

/* The same in an observation, while the scan is on. */
static void mtp_extents_step(void)
{
    if (mtp.wp_state == MTP_WP_ON)
        mtp_extents_credit();
}

/* A step's slice, its sorted copy and the deltas: mtp's own memory
 * (mtp_ownmem.h), reused from step to step.  The GIL owns them. */
static mtp_scratch mtp_step_slice, mtp_step_sort, mtp_step_delta;
/* Larger ones (a whole-heap mtp.observe()) are not kept after their step. */
#define MTP_SCRATCH_KEEP_BYTES ((size_t)16 << 20)

static void mtp_step_scratch_trim(void)
{
    mtp_scratch *all[] = {&mtp_step_slice, &mtp_step_sort, &mtp_step_delta};

    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (all[i]->bytes > MTP_SCRATCH_KEEP_BYTES)
            mtp_scratch_free(all[i]);
}

/* The step's slice: from the collector's lists, or from gc.get_objects()
 * when they cannot be walked.  *objects is then that list, which keeps the
 * objects alive; *old_bookmark is the bookmark the walk replaced, released
 * once nothing walks.  Returns 0, or -1 with an exception set and the
 * walk's references released. */
static int mtp_step_walk(mtp_walk *w, int *cycle_done, PyObject **objects, PyObject **old_bookmark)
{
    int broken = 0;

    if (mtp_gc.usable) {
        *old_bookmark = mtp_gc_walk(w, cycle_done, &broken);
        if (broken) {
            /* Never guess: from now on, the public API only. */
            __atomic_store_n(&mtp_gc.usable, 0, __ATOMIC_RELAXED);
            w->len = 0;
        }
    }
    if (!mtp_gc.usable) {
        *objects = mtp_snapshot_all(w, cycle_done);
        if (*objects == NULL) {
            mtp_release_buffers(w);
            Py_XDECREF(*old_bookmark);
            return -1;
        }
    }
    return 0;
}

/* Sorts the slice, drops repeats and folds it into the side table, which
 * hands back each object's change since its own last observation
 * (*delta_out); the table's upkeep (dropping the dead, resizing) is bounded
 * by the slice too.  Returns the sorted slice, *n long, or NULL when out of
 * memory. */
static mtp_seen *mtp_step_fold(mtp_walk *w, size_t *n, int32_t **delta_out)
{
    size_t len = w->len;
    mtp_seen *tmp = mtp_scratch_get(&mtp_step_sort, (len ? len : 1) * sizeof(*tmp)), *sorted;
    int32_t *delta = mtp_scratch_get(&mtp_step_delta, (len ? len : 1) * sizeof(*delta));

    sorted = tmp == NULL || delta == NULL ? NULL : mtp_sort_seen(w->v, tmp, len);
    if (sorted != NULL)
        len = mtp_seen_unique(sorted, len);
    if (sorted == NULL || mtp_seentab_step(&mtp.seen, sorted, len, mtp_gc.cycle, delta) < 0)
        return NULL;
    *n = len;
    *delta_out = delta;
    return sorted;
}

/* After the records, when code may run again: the hints repeated, the
 * buffers' data, the mappings to watch (at the scan's turn), the storage of
 * written containers, the settings.  Returns the time the scan's part took. */
static uint64_t mtp_step_after_records(mtp_walk *w, const mtp_seen *sorted, const int32_t *delta,
                                       size_t n, int scan)
{
    uint64_t scan_ns = 0;

    mtp_refresh_hints(sorted, n);
    mtp_record_running_code();
    if (w->n_buffers > 0)
        mtp_emit_buffers(w, sorted, delta, n);
    if (scan) {
        uint64_t t0 = mtp_now_ns();
        mtp_written_watch();
        scan_ns = mtp_now_ns() - t0;
    }
    mtp_extents_step();
    mtp_fire_settings();
    return scan_ns;
}

/* The walk's per-list counts, and the cycle's end if the walk reached it. */
static void mtp_step_note_cycle(const mtp_walk *w, int cycle_done, uint64_t now)
{
    if (mtp_gc.cycle_started_ns == 0)
        mtp_gc.cycle_started_ns = now; /* the first cycle runs from the first step */
    memcpy(mtp_gc.last_by_list, w->by_list, sizeof(mtp_gc.last_by_list));
    /* Entries no step of the last two cycles saw belong to dead or
     * untracked objects: the tables treat them as gone and drop them as
     * their sweeps pass. */
    if (cycle_done)
        mtp_gc_cycle_done(now);
}

/*
 * The last of the step's own writes to the objects (references taken by
 * gc.get_objects(), the buffers and the bookmark), which may free and run
 * code; then the pages they wrote are re-protected, to keep those writes
 * out of the next report, and at the scan's turn the sample is resized and
 * moved.  Returns the time the scan's part took.
 */
static uint64_t mtp_step_let_go(mtp_walk *w, PyObject *objects, PyObject *old_bookmark, int scan,
                                uint64_t now)
{
    uint64_t ours[MTP_BUFFERS_MAX + 2]; /* objects whose headers the step wrote */
    size_t n_ours = 0;
    uint64_t t0, scan_ns = 0;
    int wrote =
        objects != NULL || w->n_buffers > 0 || old_bookmark != NULL || mtp_gc.bookmark != NULL;

    ours[n_ours++] = (uint64_t)(uintptr_t)old_bookmark;
    ours[n_ours++] = (uint64_t)(uintptr_t)mtp_gc.bookmark;
    for (size_t i = 0; i < w->n_buffers && n_ours < MTP_BUFFERS_MAX + 2; i++)
        ours[n_ours++] = (uint64_t)(uintptr_t)w->buffers[i];
    mtp_release_buffers(w);
    Py_XDECREF(objects);
    Py_XDECREF(old_bookmark);
    if (scan) {
        t0 = mtp_now_ns();
        if (wrote)
            mtp_written_rearm();
        mtp_written_resample(now);
        mtp_written_move(mtp_now_ns());
        scan_ns += mtp_now_ns() - t0;
    } else if (wrote && mtp.wp_state == MTP_WP_ON) {
        /* Between scans, re-protect only the pages this step wrote (the
         * bookmarks' and buffers' headers): a whole re-protection would
         * also take the program's writes away, which it would pay for with
         * faults a second time.  gc.get_objects()'s list wrote every
         * object's header: nothing to tell apart, the scan must start over. */
        t0 = mtp_now_ns();
        if (objects != NULL)
            mtp_written_rearm();
        else
            for (size_t i = 0; i < n_ours; i++)
                if (ours[i] != 0)
                    mtp_wpscan_forget(&mtp.wp, ours[i]);
        scan_ns += mtp_now_ns() - t0;
    }
    return scan_ns;
}

/*
 * A budgeted step's walk stops after this long, whatever its limit.  The
 * walk is a tenth to a quarter of a step as a rule (50-250 ns an entry at
 * 1M objects here), but now and then the memory it reads is slow: 1-4.5 us
 * an entry, on the CPU, no faults, walks of 1-7 ms that made most of the
 * steps over 2 ms once the tables' moves were cheap (BENCHMARKS.md 3.4).
 * What follows the walk grows with what it walked, so half of the pause a
 * step is sized for (MTP_STEP_MAX_NS, at its 80% margin) leaves the rest
 * its usual room.
 */
#define MTP_WALK_MAX_NS (MTP_STEP_MAX_NS * 2 / 5)

/*
 * One observation step of at most `limit` entries, in the order the file's
 * header gives; with `scan` (a whole-heap mtp.observe()) the walk is not
 * timed.  Returns 0, or -1 with a Python exception set.
 */
static int mtp_observe(size_t limit, int scan, uint64_t *observed_out)
{
    mtp_walk w = {0};
    PyObject *objects = NULL, *old_bookmark = NULL;
    mtp_seen *sorted;
    int32_t *delta = NULL;
    int cycle_done = 0;
    size_t n = 0;
    uint64_t now, walk_start, scan_ns = 0;

    *observed_out = 0;
    mtp.step_visited = 0;
    if (limit == 0)
        return 0;
    walk_start = mtp_now_ns();
    if (limit > MTP_STEP_MAX_ENTRIES)
        limit = MTP_STEP_MAX_ENTRIES;
    w.limit = limit;
    w.v = mtp_scratch_get(&mtp_step_slice, limit * sizeof(*w.v));
    if (w.v == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    /* The program's writes since the last scan; the walk itself writes
     * nothing. */
    if (scan)
        mtp_written_take();
    scan_ns = mtp_now_ns() - walk_start;
    w.until_ns = scan ? 0 : walk_start + MTP_WALK_MAX_NS;
    if (mtp_step_walk(&w, &cycle_done, &objects, &old_bookmark) < 0)
        return -1;
    /* The walk's limit counts entries visited, duplicates included (a
     * shared small int is visited once per referrer); the cost model must
     * count the same thing, or steps are sized several times too small. */
    mtp.step_visited = w.len;
    sorted = mtp_step_fold(&w, &n, &delta);
    if (sorted == NULL) {
        mtp_release_buffers(&w);
        Py_XDECREF(objects);
        Py_XDECREF(old_bookmark);
        PyErr_NoMemory();
        return -1;
    }

    /* Every object in `sorted` is still alive: nothing ran since the walk. */
    for (size_t i = 0; i < n; i++)
        mtp_emit_object((PyObject *)(uintptr_t)sorted[i].addr,
                        mtp_activity(delta[i], sorted[i].history));
    mtp_flush();
    mtp_extents_note_step();
    /* What grows with the slice: walk, sort, both tables' lookups and
     * upkeep, records.  What follows grows with the written pages; the
     * scan is budgeted apart. */
    mtp.step_walked_ns = mtp_now_ns() - walk_start - scan_ns;
    scan_ns += mtp_step_after_records(&w, sorted, delta, n, scan);

    now = mtp_now_ns();
    mtp_step_note_cycle(&w, cycle_done, now);
    mtp_step_scratch_trim();
    scan_ns += mtp_step_let_go(&w, objects, old_bookmark, scan, now);
    mtp.step_scan_ns = scan_ns;
    mtp_written_fire();
    *observed_out = (uint64_t)n;
    return 0;
}

/*
 * The written-page scan's own steps, apart from the objects': budgeted by
 * scan_share, not by the objects' credit, and each a pause of its own, so
 * that no pause holds both (at 1M objects a step that did both took 3-8 ms
 * here, against ~2 ms for either).  The scan's work is itself split in
 * three, one per step: the take, the maps and the next sample's size
 * (0.5-2.5 ms); the sample's move (0.7-2.9 ms), next so that the writes of
 * the old chunks missed since the take are a step's worth; then the report:
 * the storage of the containers on the written pages credited, and the
 * pages fired (1-2 ms, which made the take's step 2-3 ms).  The take needs
 * no walk around it: a step that walks nothing writes no header of the
 * program's.
 */
static void mtp_scan_step(uint64_t now)
{
    if (mtp.wp_sample_next != 0) {
        mtp_written_move(now);
        return;
    }
    if (mtp.written_len > 0) {
        /* The containers' item arrays and key tables lie elsewhere, and
         * are written only when the container grows: credited through
         * their owner's page.  Even if the take backed the scan off. */
        mtp_extents_credit();
        mtp_written_fire();
        return;
    }
    mtp_written_take();
    mtp_written_watch();
    mtp_written_resample(now);
}

/* At most three of the scan's steps in a row (its three parts): whatever
 * state the scan is in, the objects' steps are never starved. */
#define MTP_SCAN_STEPS_IN_ROW 3

/* One step, timed and counted whatever asked for it: one of the scan's
 * when it is due (never with force_scan, never four in a row), else an
 * observation of at most `limit` entries.  Returns mtp_observe()'s status
 * (-1 with an exception set). */
int mtp_run_step(size_t limit, int force_scan, uint64_t *observed, uint64_t *spent)
{
    static unsigned scan_steps_in_row; /* the GIL owns it */
    uint64_t start = mtp_now_ns(), end;
    int rc = 0, scan_only;

    scan_only = !force_scan && scan_steps_in_row < MTP_SCAN_STEPS_IN_ROW &&
                (mtp.wp_sample_next != 0 || mtp.written_len > 0 || mtp_written_due(start));
    scan_steps_in_row = scan_only ? scan_steps_in_row + 1 : 0;
    mtp.observing = 1;
    if (scan_only) {
        *observed = 0;
        mtp.step_visited = 0;
        mtp_scan_step(start);
    } else {
        rc = mtp_observe(limit, force_scan, observed);
    }
    mtp.observing = 0;
    end = mtp_now_ns();
    *spent = end - start;
    if (scan_only)
        mtp.step_scan_ns = *spent; /* charged to the scan's budget alone */
    if (mtp.step_visited > 0 && mtp.step_walked_ns + mtp.step_scan_ns <= *spent) {
        double per = (double)mtp.step_walked_ns / (double)mtp.step_visited;
        if (per < 20)
            per = 20;
        /* Atomic stores: the ticker reads these without the GIL. */
        mtp_store_f64(&mtp.ns_per_entry, 0.7 * mtp.ns_per_entry + 0.3 * per);
        /* The scan's share is budgeted by the scan itself. */
        mtp_store_f64(&mtp.step_fixed_ns,
                      0.7 * mtp.step_fixed_ns +
                          0.3 * (double)(*spent - mtp.step_walked_ns - mtp.step_scan_ns));
    }
    __atomic_store_n(&mtp.last_observe_ns, end, __ATOMIC_RELAXED);
    mtp.observations++;
    mtp.objects_seen += *observed;
    mtp.observe_ns_total += *spent;
    mtp.observe_ns_last = *spent;
    if (*spent > mtp.observe_ns_max)
        mtp.observe_ns_max = *spent;
    if (*spent > mtp.pending_step_max_ns)
        mtp.pending_step_max_ns = *spent;
    mtp.step_hist[mtp_step_bucket(*spent)]++;
    mtp.pending_observe_ns += *spent;
    mtp.pending_observed += *observed;
    return rc;
}
