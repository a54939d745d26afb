/* SPDX-License-Identifier: MIT */
/*
 * Scheduling: when a step runs and how large it may be.
 *
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
#include "mtp_state.h"

/* What an idle stretch (or the wait for a tracer) can save up: 10 ms.  It is
 * spent in the next second or so, on top of the steady share: 50 ms was 5%
 * of a 1-s program.  The gc.get_objects() path keeps 50 ms: each of its
 * steps first pays for a list of the whole heap, and a smaller credit would
 * leave less for the slice after it. */
#define MTP_CREDIT_MAX_NS         10000000ull
#define MTP_CREDIT_MAX_GET_OBJ_NS 50000000ull
#define MTP_STEP_MIN              512 /* entries: smaller steps wait for credit */
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
uint64_t mtp_step_quantile(double share)
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
    /* Atomic: `credit` may be the timer credit, which the ticker reads. */
    __atomic_store_n(credit, *credit - (int64_t)spent, __ATOMIC_RELAXED);
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

static int mtp_is_full_collection(PyObject *info)
{
    PyObject *gen;

    if (mtp.wp_state != MTP_WP_ON)
        return 0;
    gen = PyDict_GetItem(info, mtp.generation_key);
    return gen != NULL && PyLong_Check(gen) && PyLong_AsLong(gen) >= 2;
}

PyObject *mtp_gc_callback(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    uint64_t observed = 0, now;
    int starting;

    if (nargs != 2 || !PyUnicode_Check(args[0]) || !PyDict_Check(args[1]))
        Py_RETURN_NONE;
    starting = PyUnicode_CompareWithASCIIString(args[0], "start") == 0;
    /* Idle steps must not walk the lists while a collection reshapes them
     * (finalizers run inside a collection and may run pending calls). */
    mtp.in_collection = starting;
    mtp_ticker_ensure(); /* after a fork, 3.13+: see mtp_ticker_fork_settled */
    if (!MTP_TRACING()) {
        if (mtp.wp_state == MTP_WP_ON)
            mtp_wp_stop(); /* the tracer left: no write faults without one */
        Py_RETURN_NONE;
    }

    if (starting) {
        mtp.gc_start_ns = mtp_now_ns();
        if (mtp_is_full_collection(args[1]))
            mtp_written_release(); /* the collector will write every header */
        if (MTP_ATTACHED(gc_start)) {
            /* For ad-hoc tools (bpftrace); mtp-trace does not attach it. */
            PyObject *gen = PyDict_GetItemString(args[1], "generation");
            mtp_fire_gc_start(gen != NULL && PyLong_Check(gen) ? (int)PyLong_AsLong(gen) : -1);
        }
        Py_RETURN_NONE;
    }

    now = mtp_now_ns();
    mtp.pending_collections++;
    if (mtp.gc_start_ns && now > mtp.gc_start_ns) {
        mtp.pending_gc_ns += now - mtp.gc_start_ns;
        mtp.gc_ns_total += now - mtp.gc_start_ns;
        mtp_earn(&mtp.credit_ns, now - mtp.gc_start_ns, mtp.budget);
    }
    mtp_wall_earn(now);
    if (!mtp.observing && MTP_ATTACHED(objects) && now - mtp.last_observe_ns >= mtp.min_interval_ns)
        observed = mtp_step(&mtp.credit_ns, mtp.timer_share > 0 ? &mtp.timer_credit_ns : NULL,
                            &mtp.gc_step_ns_total);
    if (observed || now - mtp.last_gc_done_ns >= MTP_GC_DONE_PERIOD_NS)
        mtp_fire_gc_done(now);
    Py_RETURN_NONE;
}

/* Whether a timer step is due: the credit it would have earned by now.
 * The ticker asks without the GIL (every field it reads is stored
 * atomically), and it is asked again with the GIL before stepping. */
int mtp_timer_due(uint64_t now)
{
    double share = mtp_load_f64(&mtp.timer_share);
    uint64_t earned = __atomic_load_n(&mtp.timer_earned_ns, __ATOMIC_RELAXED);
    int64_t credit = __atomic_load_n(&mtp.timer_credit_ns, __ATOMIC_RELAXED);

    if (earned != 0 && now > earned)
        mtp_earn(&credit, now - earned, share);
    return share > 0 && MTP_ATTACHED(objects) &&
           now - __atomic_load_n(&mtp.last_observe_ns, __ATOMIC_RELAXED) >=
               __atomic_load_n(&mtp.min_interval_ns, __ATOMIC_RELAXED) &&
           (mtp_step_entries(credit) > 0 || mtp_step_floor_due(now));
}

void mtp_timer_step(void)
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
