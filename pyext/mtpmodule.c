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
 * us.  The previous observation is kept in a hash table by address (the
 * side table, mtp_sidetable.h): 16 bytes per observed object, looked up for
 * each object of the next step's slice.
 */
#include "mtp_state.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "mtp_budget.h"
#include "mtp_footprint.h"

mtp_state mtp;

mtp_gc_state mtp_gc;

static int mtp_is_full_collection(PyObject *info)
{
    PyObject *gen;

    if (mtp.wp_state != MTP_WP_ON)
        return 0;
    gen = PyDict_GetItem(info, mtp.generation_key);
    return gen != NULL && PyLong_Check(gen) && PyLong_AsLong(gen) >= 2;
}

/*
 * Step budgets.  There are two kinds of step, each with its own credit:
 *
 * - A collection step runs inside a collection (its "stop" callback), so it
 *   lengthens that collection's pause.  Each collection earns `budget` (20%)
 *   of its own duration; a collection step spends what the collections since
 *   the previous one earned, so the pause mtp adds to the collector totals
 *   at most that share of the collector's own time.
 * - A timer step runs outside any collection, from the ticker thread holding
 *   the GIL, as another Python thread would.  Most programs spend little
 *   time in the collector, so without it a large heap would take minutes to
 *   cover, and a program with the collector off would never be observed.
 *
 * Both kinds draw on one wall-time credit too, earned at `timer_share` (2%)
 * of wall time, so that all steps together cost the program at most that: a
 * program that spends 40% of its time collecting would otherwise give 8% of
 * it to mtp.  (timer_share 0 turns timer steps off and leaves collection
 * steps to `budget` alone.)  And whatever the credit, a step is sized to
 * pause the program for at most MTP_STEP_MAX_NS: a service's tail latency
 * must not grow by a long step; the credit is spent in many short ones.
 *
 * The cost of a step is predicted from the previous ones: per entry observed
 * (walk, sort, the tables' lookups and bounded upkeep, records), plus a
 * fixed part (storage credited, hints; the written-page scan apart).
 */
#define MTP_MIN_INTERVAL_NS (50 * 1000 * 1000ull)
/* What an idle stretch (or the wait for a tracer) can save up: 10 ms.  It is
 * spent in the next second or so, on top of the steady share: 50 ms was 5%
 * of a 1-s program.  The gc.get_objects() path keeps 50 ms: each of its
 * steps first pays for a list of the whole heap, and a smaller credit would
 * leave less for the slice after it. */
#define MTP_CREDIT_MAX_NS         10000000ull
#define MTP_CREDIT_MAX_GET_OBJ_NS 50000000ull
#define MTP_STEP_MAX_NS           2000000ull /* 2 ms: the longest pause a step is sized for */
#define MTP_STEP_MIN              512        /* entries: smaller steps wait for credit */
/* However small the budgets, a minimal step at least this often while a
 * tracer is attached: observation slows down but never stops. */
#define MTP_STEP_FLOOR_NS (2 * 1000000000ull)

/* Steps are sized to 80% of the credit: the cost per entry is a running
 * estimate, and an overrun is a pause beyond the budget. */
#define MTP_STEP_MARGIN 0.8

static int64_t mtp_credit_max(void)
{
    return (int64_t)(__atomic_load_n(&mtp_gc.usable, __ATOMIC_RELAXED) ? MTP_CREDIT_MAX_NS
                                                                       : MTP_CREDIT_MAX_GET_OBJ_NS);
}

static uint64_t mtp_step_limit(int64_t credit)
{
    double per = mtp_load_f64(&mtp.ns_per_entry), fixed = mtp_load_f64(&mtp.step_fixed_ns);
    double spare = MTP_STEP_MARGIN * (double)credit - fixed;
    double pause = (MTP_STEP_MARGIN * (double)MTP_STEP_MAX_NS - fixed) / per;
    uint64_t limit;

    if (spare <= 0)
        return 0;
    limit = (uint64_t)(spare / per);
    /* The pause cap, but never below a useful step: a fixed part that alone
     * exceeds it would otherwise leave nothing to observe.  Not on the
     * gc.get_objects() path, whose every step pays for a list of the whole
     * heap: there, fewer and larger steps cost the program less. */
    if (!__atomic_load_n(&mtp_gc.usable, __ATOMIC_RELAXED))
        return credit >= mtp_credit_max() ? limit : 0; /* a full credit at once */
    if (pause < MTP_STEP_MIN)
        pause = MTP_STEP_MIN;
    return limit < pause ? limit : (uint64_t)pause;
}

/*
 * The entries a step may take on `credit`, or 0 to wait for more.  A credit
 * at its ceiling cannot grow: if even then the predicted fixed cost leaves
 * no room, waiting would stop observation for good (the prediction is only
 * revised by steps that run).  So a full credit always buys a minimal step;
 * its real cost is charged, and corrects the prediction.
 */
static uint64_t mtp_step_entries(int64_t credit)
{
    uint64_t limit = mtp_step_limit(credit);

    if (limit >= MTP_STEP_MIN)
        return limit;
    return credit >= mtp_credit_max() ? MTP_STEP_MIN : 0;
}

/* Whether the floor is due: no step for MTP_STEP_FLOOR_NS. */
static int mtp_step_floor_due(uint64_t now)
{
    return now - __atomic_load_n(&mtp.last_observe_ns, __ATOMIC_RELAXED) >= MTP_STEP_FLOOR_NS;
}

/* The entries a step may take on two credits at once, the smaller. */
static uint64_t mtp_step_entries2(int64_t a, int64_t b)
{
    uint64_t x = mtp_step_entries(a), y = mtp_step_entries(b);

    return x < y ? x : y;
}

/* The histogram bucket of a pause: 4 per power of two. */
unsigned mtp_step_bucket(uint64_t ns)
{
    unsigned log2, quarter;

    if (ns < 4)
        return (unsigned)ns;
    log2 = 63u - (unsigned)__builtin_clzll(ns);
    quarter = (unsigned)(ns >> (log2 - 2)) & 3u;
    return log2 * 4 + quarter < MTP_STEP_HIST ? log2 * 4 + quarter : MTP_STEP_HIST - 1;
}

/* The upper bound of the pause below which `share` of the steps fell. */
static uint64_t mtp_step_quantile(double share)
{
    uint64_t total = 0, seen = 0;

    for (unsigned b = 0; b < MTP_STEP_HIST; b++)
        total += mtp.step_hist[b];
    for (unsigned b = 0; b < MTP_STEP_HIST && total > 0; b++) {
        seen += mtp.step_hist[b];
        if ((double)seen >= share * (double)total) {
            unsigned log2 = b / 4, quarter = b % 4;
            uint64_t bound = b < 4 ? b : ((4ull + quarter + 1) << log2) >> 2;
            return bound < mtp.observe_ns_max ? bound : mtp.observe_ns_max;
        }
    }
    return 0;
}

/* Runs one step if `credit` (and `wall`, when not NULL) affords a useful
 * one, and charges it to both; returns the objects observed. */
static uint64_t mtp_step(int64_t *credit, int64_t *wall, uint64_t *spent_total)
{
    uint64_t limit, observed = 0, spent;

    limit = wall ? mtp_step_entries2(*credit, *wall) : mtp_step_entries(*credit);
    if (limit == 0 && mtp_step_floor_due(mtp_now_ns()))
        limit = MTP_STEP_MIN;
    if (limit == 0)
        return 0;
    mtp.forced_steps += limit == MTP_STEP_MIN && mtp_step_limit(*credit) < MTP_STEP_MIN;
    if (mtp_run_step((size_t)limit, 0, &observed, &spent) < 0)
        PyErr_Clear(); /* never let tracing break the program */
    /* The scan's time is charged to the scan's own budget. */
    spent = spent > mtp.step_scan_ns ? spent - mtp.step_scan_ns : 0;
    *credit -= (int64_t)spent;
    if (wall)
        __atomic_store_n(wall, *wall - (int64_t)spent, __ATOMIC_RELAXED);
    *spent_total += spent;
    return observed;
}

static void mtp_earn(int64_t *credit, uint64_t ns, double share)
{
    int64_t cap = mtp_credit_max();

    *credit += (int64_t)((double)ns * share);
    if (*credit > cap)
        *credit = cap;
}

/* Earns wall-time credit up to now.  GIL held; the ticker only reads. */
static void mtp_wall_earn(uint64_t now)
{
    if (mtp.timer_earned_ns != 0 && now > mtp.timer_earned_ns) {
        int64_t credit = mtp.timer_credit_ns;
        mtp_earn(&credit, now - mtp.timer_earned_ns, mtp.timer_share);
        __atomic_store_n(&mtp.timer_credit_ns, credit, __ATOMIC_RELAXED);
    }
    __atomic_store_n(&mtp.timer_earned_ns, now, __ATOMIC_RELAXED);
}

static void mtp_ticker_ensure(void);

static PyObject *mtp_gc_callback(PyObject *Py_UNUSED(module), PyObject *const *args,
                                 Py_ssize_t nargs)
{
    uint64_t observed = 0, now;
    int starting;

    if (nargs != 2 || !PyUnicode_Check(args[0]) || !PyDict_Check(args[1]))
        Py_RETURN_NONE;
    starting = PyUnicode_CompareWithASCIIString(args[0], "start") == 0;
    /* Idle steps must not walk the lists while a collection reshapes them
     * (finalizers run inside a collection and may run pending calls). */
    mtp.in_collection = starting;
    if (!MTP_TRACING()) {
        if (mtp.wp_state == MTP_WP_ON)
            mtp_wp_stop(); /* the tracer left: no write faults without one */
        Py_RETURN_NONE;
    }

    if (starting) {
        mtp.gc_start_ns = mtp_now_ns();
        if (mtp_is_full_collection(args[1]))
            mtp_written_release(); /* the collector will write every header */
        if (mtp_gc_start_semaphore) {
            /* For ad-hoc tools (bpftrace); mtp-trace does not attach it. */
            PyObject *gen = PyDict_GetItemString(args[1], "generation");
            long generation = gen != NULL && PyLong_Check(gen) ? PyLong_AsLong(gen) : -1;
            MTP_FIRE(gc_start, generation);
        }
        Py_RETURN_NONE;
    }

    mtp_ticker_ensure();
    now = mtp_now_ns();
    mtp.pending_collections++;
    if (mtp.gc_start_ns && now > mtp.gc_start_ns) {
        mtp.pending_gc_ns += now - mtp.gc_start_ns;
        mtp.gc_ns_total += now - mtp.gc_start_ns;
        mtp_earn(&mtp.credit_ns, now - mtp.gc_start_ns, mtp.budget);
    }
    mtp_wall_earn(now);
    if (!mtp.observing && mtp_objects_semaphore && now - mtp.last_observe_ns >= mtp.min_interval_ns)
        observed = mtp_step(&mtp.credit_ns, mtp.timer_share > 0 ? &mtp.timer_credit_ns : NULL,
                            &mtp.gc_step_ns_total);
    if (observed || now - mtp.last_gc_done_ns >= MTP_GC_DONE_PERIOD_NS)
        mtp_fire_gc_done(now);
    Py_RETURN_NONE;
}

/*
 * Timer steps.  A thread wakes four times a second while a tracer is
 * attached; when the wall-time credit affords a step and no step ran for
 * min_interval, it takes the GIL (PyGILState_Ensure) and steps itself.  This
 * is also how a program with the collector off (gc.disable()) is observed.
 * (A pending call would be the obvious tool, but before 3.12 one added from
 * a thread that is not Python's does not wake the main thread's eval loop.)
 * Holding the GIL, the step runs while every other thread is at a safe
 * point, as any thread calling gc.get_objects() would; it never runs inside
 * a collection, whose finalizers may let go of the GIL.
 */
static pthread_mutex_t mtp_ticker_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t mtp_ticker_cv = PTHREAD_COND_INITIALIZER;
static pthread_t mtp_ticker_thread;
/* Guarded by mtp_ticker_mu. */
enum { MTP_TICKER_NONE, MTP_TICKER_RUNNING, MTP_TICKER_STOPPING, MTP_TICKER_EXITED };
static int mtp_ticker_state;
static int mtp_ticker_final;   /* at exit: never start again */
static int mtp_ticker_forking; /* between os.fork()'s before and after hooks */
static uint64_t mtp_ticker_not_before_ns;

/* Whether a timer step is due: the credit it would have earned by now.
 * The ticker asks without the GIL (every field it reads is stored
 * atomically), and it is asked again with the GIL before stepping. */
static int mtp_timer_due(uint64_t now)
{
    double share = mtp_load_f64(&mtp.timer_share);
    uint64_t earned = __atomic_load_n(&mtp.timer_earned_ns, __ATOMIC_RELAXED);
    int64_t credit = __atomic_load_n(&mtp.timer_credit_ns, __ATOMIC_RELAXED);

    if (earned != 0 && now > earned)
        mtp_earn(&credit, now - earned, share);
    return share > 0 && mtp_objects_semaphore &&
           now - __atomic_load_n(&mtp.last_observe_ns, __ATOMIC_RELAXED) >=
               __atomic_load_n(&mtp.min_interval_ns, __ATOMIC_RELAXED) &&
           (mtp_step_entries(credit) > 0 || mtp_step_floor_due(now));
}

static void mtp_timer_step(void)
{
    uint64_t observed, now = mtp_now_ns();

    mtp_wall_earn(now);
    if (mtp.in_collection || mtp.observing || !mtp_timer_due(now))
        return;
    observed = mtp_step(&mtp.timer_credit_ns, NULL, &mtp.timer_step_ns_total);
    mtp.timer_steps += observed > 0;
    if (observed)
        mtp_fire_gc_done(mtp_now_ns());
}

/* What the ticker faults in of mtp's own fresh arrays per wake, off the
 * GIL (mtp_prefault_serve): ~25 ms of faults here, then it sleeps 5 ms. */
#define MTP_PREFAULT_PER_WAKE ((size_t)4 << 20)

static void *mtp_ticker_main(void *Py_UNUSED(arg))
{
    int prefaulting = 0;

    mtp_prefault_serving(1);
    pthread_mutex_lock(&mtp_ticker_mu);
    while (mtp_ticker_state == MTP_TICKER_RUNNING) {
        struct timespec until;

        clock_gettime(CLOCK_REALTIME, &until);
        /* Often enough to spend the credit in short steps; sooner while
         * an array is being faulted in. */
        until.tv_nsec += (prefaulting ? 5 : 50) * 1000 * 1000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&mtp_ticker_cv, &mtp_ticker_mu, &until);
        if (mtp_ticker_state != MTP_TICKER_RUNNING || !MTP_TRACING())
            break; /* stopped, or the tracer left: leave no thread behind */
        pthread_mutex_unlock(&mtp_ticker_mu);
        prefaulting = mtp_prefault_serve(MTP_PREFAULT_PER_WAKE);
        pthread_mutex_lock(&mtp_ticker_mu);
        if (mtp_ticker_state != MTP_TICKER_RUNNING)
            break;
        if (!mtp_timer_due(mtp_now_ns()))
            continue;
        pthread_mutex_unlock(&mtp_ticker_mu);
        {
            PyGILState_STATE gil = PyGILState_Ensure();
            mtp_timer_step();
            PyGILState_Release(gil);
        }
        pthread_mutex_lock(&mtp_ticker_mu);
    }
    mtp_prefault_serving(0); /* steps fault their arrays in themselves again */
    if (mtp_ticker_state == MTP_TICKER_RUNNING)
        mtp_ticker_state = MTP_TICKER_EXITED; /* joined by the next start or stop */
    pthread_mutex_unlock(&mtp_ticker_mu);
    return NULL;
}

/* Starts the ticker if a tracer is attached and none runs.  GIL held.  The
 * thread exists only while traced: CPython 3.12+ warns at fork() when a
 * process has threads. */
static void mtp_ticker_ensure(void)
{
    sigset_t all, old;

    if (!mtp_objects_semaphore ||
        __atomic_load_n(&mtp_ticker_state, __ATOMIC_RELAXED) == MTP_TICKER_RUNNING)
        return;
    pthread_mutex_lock(&mtp_ticker_mu);
    if (mtp_ticker_state == MTP_TICKER_EXITED) {
        pthread_join(mtp_ticker_thread, NULL); /* it has returned already */
        mtp_ticker_state = MTP_TICKER_NONE;
    }
    if (mtp_ticker_state == MTP_TICKER_NONE && !mtp_ticker_final && !mtp_ticker_forking &&
        mtp_now_ns() >= mtp_ticker_not_before_ns) {
        /* Signals are the program's: the ticker must never receive one. */
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        if (pthread_create(&mtp_ticker_thread, NULL, mtp_ticker_main, NULL) == 0)
            mtp_ticker_state = MTP_TICKER_RUNNING;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    pthread_mutex_unlock(&mtp_ticker_mu);
}

/* Stops and joins the ticker.  GIL held: it is let go while joining, since
 * the ticker may be waiting for it.  Returns whether one was running. */
static int mtp_ticker_halt(void)
{
    int state, was_running;

    pthread_mutex_lock(&mtp_ticker_mu);
    state = mtp_ticker_state;
    was_running = state == MTP_TICKER_RUNNING;
    if (was_running) {
        mtp_ticker_state = MTP_TICKER_STOPPING;
        pthread_cond_signal(&mtp_ticker_cv);
    }
    pthread_mutex_unlock(&mtp_ticker_mu);
    if (state != MTP_TICKER_NONE) {
        Py_BEGIN_ALLOW_THREADS pthread_join(mtp_ticker_thread, NULL);
        Py_END_ALLOW_THREADS pthread_mutex_lock(&mtp_ticker_mu);
        mtp_ticker_state = MTP_TICKER_NONE;
        pthread_mutex_unlock(&mtp_ticker_mu);
    }
    return was_running;
}

/* Registered with atexit: runs while the interpreter is still whole. */
static PyObject *mtp_ticker_stop(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    mtp_ticker_final = 1;
    mtp_ticker_halt();
    Py_RETURN_NONE;
}

/* os.register_at_fork(before=...): no thread at fork, so the child is not
 * forked mid-step and 3.12+ has nothing to warn about. */
static PyObject *mtp_before_fork(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    /* Later before-fork hooks may collect; no collection may restart it. */
    mtp_ticker_forking = 1;
    mtp_ticker_halt();
    Py_RETURN_NONE;
}

/* The next traced collection restarts the ticker, a little later: 3.13
 * counts threads after the after-fork hooks. */
static PyObject *mtp_after_fork_parent(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    mtp_ticker_forking = 0;
    mtp_ticker_not_before_ns = mtp_now_ns() + 100 * 1000 * 1000;
    Py_RETURN_NONE;
}

PyDoc_STRVAR(mtp_observe_now_doc, "observe()\n--\n\n"
                                  "Observe now, if a tracer is attached: one step with no budget,\n"
                                  "covering every tracked object and its referents.  Returns the\n"
                                  "number of objects observed (0 when not traced).");

static PyObject *mtp_observe_now(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    uint64_t observed = 0, spent;

    if (!mtp_objects_semaphore || mtp.observing)
        return PyLong_FromLong(0);
    mtp_ticker_ensure();
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
        mtp_put_u64(d, "batches_fired", mtp.batches_fired) < 0 ||
        mtp_put_u64(d, "observe_ns_total", mtp.observe_ns_total) < 0 ||
        mtp_put_u64(d, "observe_ns_last", mtp.observe_ns_last) < 0 ||
        mtp_put_u64(d, "observe_ns_max", mtp.observe_ns_max) < 0 ||
        mtp_put_u64(d, "timer_steps", mtp.timer_steps) < 0 ||
        mtp_put_u64(d, "gc_ns_total", mtp.gc_ns_total) < 0 ||
        mtp_put_u64(d, "gc_step_ns_total", mtp.gc_step_ns_total) < 0 ||
        mtp_put_u64(d, "timer_step_ns_total", mtp.timer_step_ns_total) < 0 ||
        mtp_put_u64(d, "cycles", mtp_gc.cycles) < 0 ||
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
             "Observe at most once per this many seconds of collections (default 0.05).");

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

/* A forked child has its own future; it must not inherit deltas computed
 * against the parent's history. */
static PyObject *mtp_after_fork_child(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    mtp_seentab_clear(&mtp.seen);
    mtp_extab_clear(&mtp.extents);
    mtp.step_extents_len = 0;
    mtp.batch_len = 0;
    mtp_wp_stop(); /* the descriptor is the parent's: the child starts clean */
    mtp.wp_backoff_ns = mtp.wp_resume_ns = 0;
    mtp.pending_wp_cost_ns = mtp.pending_step_max_ns = mtp.pending_cycles = 0;
    mtp.written_len = 0;
    mtp.observing = 0;
    mtp.in_collection = 0;
    mtp.last_observe_ns = 0;
    mtp.credit_ns = mtp.timer_credit_ns = 0;
    mtp.timer_earned_ns = 0;
    Py_CLEAR(mtp_gc.bookmark);
    mtp_gc.resume_list = 0;
    mtp_gc.fallback_offset = 0;
    mtp_gc.cycle_started_ns = mtp_gc.last_cycle_ns = 0;
    /* No ticker ran at fork (mtp_before_fork); the child starts its own once
     * a collection sees a tracer. */
    pthread_mutex_init(&mtp_ticker_mu, NULL);
    pthread_cond_init(&mtp_ticker_cv, NULL);
    mtp_ticker_state = MTP_TICKER_NONE;
    mtp_ticker_forking = 0;
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

static struct PyModuleDef mtp_module = {
    PyModuleDef_HEAD_INIT, "mtp", mtp_doc, -1, mtp_methods, NULL, NULL, NULL, NULL,
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
    mtp.min_interval_ns = MTP_MIN_INTERVAL_NS;
    mtp.budget = MTP_BUDGET_SHARE;
    mtp.timer_share = MTP_BUDGET_TIMER_SHARE;
    mtp.scan_share = MTP_BUDGET_SCAN_SHARE;
    mtp.ns_per_entry = 300;
    mtp.step_fixed_ns = 2e5;
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
