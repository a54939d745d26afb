/* SPDX-License-Identifier: MIT */
/*
 * The written-page scan's driver: when the scan (mtp_wpscan.c, pure system
 * calls) takes the pages the program wrote, what the scan may cost and what
 * it did cost, the sample it watches and how that sample moves, and firing
 * the pages through mtp:written.  A step calls in here (mtp_step.c: the
 * scan's own steps, mtp_scan_step, and a whole-heap mtp.observe()).  The GIL
 * owns all of it.
 *
 * Only the program's own writes are to be reported, not those made on its
 * behalf.  The scan's own steps walk no objects, so they write none; an
 * object step's walk writes nothing either, and what the step itself writes
 * (the bookmark's and the kept buffers' reference counts, or every count
 * through gc.get_objects()'s list) is re-protected at its end.  A full
 * collection writes every object's GC header: the GC callback drops the
 * protection before it (mtp_written_release), and the window it cut short
 * is watched again once.
 */
#include "mtp_state.h"

#define MTP_WRITTEN_MAX (1u << 16) /* pages reported per scan: 256 MiB */

/* Ends the scan.  Closing its userfaultfd drops every protection: the
 * kernel walks the page tables of every watched range holding the mmap
 * lock for writing, 7-18 ms on a 1M-object heap here.  Where the ticker
 * runs it closes it, off the GIL, so no step waits; writes meanwhile fault
 * as before (asynchronous mode: the kernel resolves them, no thread of
 * ours waits), though the program's page faults and mappings that need
 * the mmap lock may wait for the close. */
static void mtp_wp_close(void)
{
    mtp.wp_sample_next = 0;
    mtp_ticker_close(mtp_wpscan_detach(&mtp.wp));
}

void mtp_wp_stop(void)
{
    if (mtp.wp_state == MTP_WP_ON)
        mtp_wp_close();
    mtp.wp_sample_next = 0;
    mtp.wp_state = MTP_WP_OFF;
}

/* The scan's cost budget (mtp.scan_share, MTP_BUDGET_SCAN_SHARE by
 * default): its write-protect faults, at their price, plus its own system
 * calls, as a share of the program's time. */
#define MTP_WP_START_STRIDE   MTP_WPSCAN_MAX_STRIDE /* registered narrowly, then sized */
#define MTP_WP_FIRST_SAMPLE   (16ull << 20)         /* ... at most 16 MiB, less at a high price */
#define MTP_WP_MEASURE_EVERY  (30 * 1000000000ull)
#define MTP_WP_BACKOFF_MIN_NS (5 * 1000000000ull)
#define MTP_WP_BACKOFF_MAX_NS (320 * 1000000000ull)

/* Whether a take may run: the scan opened (once a tracer wants written
 * pages, and no back-off forbids it) and the pending list mapped. */
static int mtp_written_ready(void)
{
    if (!MTP_ATTACHED(written) || mtp.wp_state < 0)
        return 0;
    if (mtp.wp_state == MTP_WP_BACKING_OFF && mtp_now_ns() < mtp.wp_resume_ns)
        return 0;
    if (mtp.wp_state == MTP_WP_ON && mtp_now_ns() < mtp.wp_hold_until)
        return 0;
    if (mtp.wp_state != MTP_WP_ON) {
        int err = mtp_wpscan_open(&mtp.wp);
        if (err < 0) {
            mtp.wp_state = err; /* reported through gc_done; not retried */
            return 0;
        }
        /* Registered at the widest sample (the heap's first protection is
         * the sample's only); the first resample sizes it by the budget. */
        mtp.wp.stride = MTP_WP_START_STRIDE;
        mtp.wp_state = MTP_WP_ON;
        mtp.written_since = 0;
        mtp.wp_share_avg = -1.0;
        mtp.wp_quiet = 0;
        mtp.wp_credit_ns = 0;
        mtp.wp_hold_until = 0;
        if (mtp.wp_fault_factor == 0) /* once: the kernel and CPU do not change */
            mtp.wp_fault_factor =
                1.0 + (mtp_wpscan_entry_flushes_tlb() ? MTP_WPSCAN_TLB_REFILL_FACTOR : 0.0);
    }
    if (mtp.written == NULL) {
        mtp.written = mtp_own_map(MTP_WRITTEN_MAX * sizeof(*mtp.written));
        if (mtp.written == NULL)
            return 0;
    }
    return 1;
}

/* Appends the pages written since the last take or re-arm to the pending
 * list, which mtp_written_fire() reports. */
void mtp_written_take(void)
{
    long got;

    if (!mtp_written_ready())
        return;
    if (mtp.wp.released) {
        /* A full collection wrote every header since: nothing to report
         * but what mtp_written_release() took. */
        mtp_wpscan_collect(&mtp.wp, NULL, 0);
        mtp.wp_window_lost = 1;
        return;
    }
    got = mtp_wpscan_collect(&mtp.wp, mtp.written + mtp.written_len,
                             MTP_WRITTEN_MAX - mtp.written_len);
    if (got > 0)
        mtp.written_len += (size_t)got;
}

/*
 * Before a full collection: takes the program's writes, then drops the
 * protection until the next scan.  The collector writes every object's
 * header; protected, each page of the heap would fault once inside the
 * collection (the fault costs ~7-14 us here, the unprotection a fraction of
 * that).  Writes between the collection and the next scan are lost to the
 * signal; the next scan protects again.
 */
void mtp_written_release(void)
{
    long got;

    if (mtp.wp_state != MTP_WP_ON || mtp.written == NULL)
        return;
    got = mtp_wpscan_release(&mtp.wp, mtp.written + mtp.written_len,
                             MTP_WRITTEN_MAX - mtp.written_len);
    if (got > 0)
        mtp.written_len += (size_t)got;
}

/* Written pages are taken at most once per this period, whatever the steps
 * between: each take re-protects what the program wrote, and it pays for
 * that protection with a fault per page at its next write. */
#define MTP_WP_PERIOD_NS (500 * 1000 * 1000ull)

int mtp_written_due(uint64_t now)
{
    if (!MTP_ATTACHED(written) || mtp.wp_state < 0)
        return 0;
    if (mtp.wp_state == MTP_WP_BACKING_OFF)
        return now >= mtp.wp_resume_ns;
    if (mtp.wp_state == MTP_WP_ON && mtp.wp_hold_until != 0)
        return now >= mtp.wp_hold_until;
    return mtp.wp_state != MTP_WP_ON || mtp.written_since == 0 ||
           now - mtp.written_since >= MTP_WP_PERIOD_NS;
}

void mtp_written_rearm(void)
{
    /* Not while holding: the protection stays dropped until the hold ends
     * (the take after it protects again). */
    if (mtp.wp_state == MTP_WP_ON && mtp.wp_hold_until == 0)
        mtp_wpscan_collect(&mtp.wp, NULL, 0);
}

/* Turns the scan off for a while: its cost exceeded the budget even at the
 * widest sample.  Closing the userfaultfd drops every protection at once,
 * off the step (mtp_wp_close). */
static void mtp_written_back_off(uint64_t now)
{
    mtp_wp_close();
    mtp.wp_state = MTP_WP_BACKING_OFF;
    mtp.wp_backoff_ns = mtp.wp_backoff_ns ? 2 * mtp.wp_backoff_ns : MTP_WP_BACKOFF_MIN_NS;
    if (mtp.wp_backoff_ns > MTP_WP_BACKOFF_MAX_NS)
        mtp.wp_backoff_ns = MTP_WP_BACKOFF_MAX_NS;
    mtp.wp_resume_ns = now + mtp.wp_backoff_ns;
    mtp.wp_backoffs++;
}

/* What one of the scan's faults costs the program: its measured price,
 * and where every kernel entry flushes the TLB, the refill after it. */
double mtp_wp_fault_price(void)
{
    return (double)mtp.wp_fault_ns * (mtp.wp_fault_factor > 0 ? mtp.wp_fault_factor : 1.0);
}

/* What the scan cost since the last resample (faults at their price, and
 * its system calls), added to the totals; the price of a fault is measured
 * again every 30 s. */
static uint64_t mtp_written_cost(uint64_t now, uint64_t *charged)
{
    uint64_t cost;

    if (mtp.wp_fault_ns == 0 || now - mtp.wp_fault_measured >= MTP_WP_MEASURE_EVERY) {
        uint64_t t0 = mtp_cpu_ns();
        long ns = mtp_wpscan_measure_fault(&mtp.wp);
        if (ns > 0)
            mtp.wp_fault_ns = mtp.wp_fault_ns ? (mtp.wp_fault_ns + (uint64_t)ns) / 2 : (uint64_t)ns;
        mtp.wp.sys_ns += mtp_cpu_ns() - t0;
        mtp.wp_fault_measured = now;
    }
    /* A change of stride re-protects the whole heap once: a real cost,
     * counted, but not one the sample will go on costing. */
    cost = (uint64_t)((double)mtp.wp.faults * mtp_wp_fault_price()) + mtp.wp.sys_ns;
    mtp.wp_faults_total += mtp.wp.faults;
    mtp.wp_sys_ns_total += mtp.wp.sys_ns + mtp.wp.reset_ns;
    mtp.wp_cost_ns_total += cost + mtp.wp.reset_ns;
    mtp.pending_wp_cost_ns += cost + mtp.wp.reset_ns;
    *charged = cost + mtp.wp.reset_ns;
    mtp.wp.faults = mtp.wp.sys_ns = mtp.wp.reset_ns = 0;
    return cost;
}

/* The first sample's stride, nothing measured yet: a sample the budget
 * affords even if the program writes every page of it in the first period
 * (on a large heap, stride 4 cost many times the budget before the first
 * measurement could widen it); measured samples narrow it from there. */
static unsigned mtp_written_first_stride(void)
{
    uint64_t watched = 0, affordable;
    unsigned stride = 1;
    double price = mtp_wp_fault_price();

    affordable = price > 0 ? (uint64_t)(mtp.scan_share * (double)MTP_WP_PERIOD_NS / price) * 4096
                           : MTP_WP_FIRST_SAMPLE;
    if (affordable > MTP_WP_FIRST_SAMPLE)
        affordable = MTP_WP_FIRST_SAMPLE;
    for (size_t i = 0; i < mtp.wp.n_ranges; i++)
        watched += mtp.wp.end[i] - mtp.wp.start[i];
    while (stride < MTP_WPSCAN_MAX_STRIDE && watched / stride > affordable)
        stride <<= 1;
    return stride;
}

/* The next sample would leave the scan in debt (mtp_wpscan_projected,
 * `projected` < 0): the sample's protection is dropped, so that no write
 * faults, until the budget has earned what the sample is expected to cost;
 * the pages written since the take are reported first.  The take after the
 * hold protects the sample again (as after a full collection's release)
 * and the sample moves on to `next`. */
static void mtp_written_hold(uint64_t now, unsigned next, double projected)
{
    uint64_t hold = mtp_wpscan_hold_ns(projected, mtp.scan_share);

    mtp_written_release();
    mtp.wp_hold_until = now + hold;
    /* What the hold earns is credited now, in advance, and the budget is
     * earned again from its end: the sample after it is paid for. */
    mtp.written_since = mtp.wp_hold_until;
    mtp.wp_credit_ns -= projected;
    mtp.wp_next_after_hold = next;
    mtp.wp_holds++;
    mtp.wp_held_ns_total += hold;
    mtp.wp_sample_next = 0;
}

/* The hold is over and its take protected the sample again: the budget
 * is earned from now, and the sample moves on. */
static void mtp_written_resume(uint64_t now)
{
    mtp.written_since = now;
    mtp.wp_hold_until = 0;
    mtp.wp_window_lost = mtp.wp_retried = 0;
    mtp.wp_sample_next = mtp.wp_next_after_hold;
}

/*
 * After a take: what the scan cost the program since the last sample was
 * protected, measured, and the next sample sized to keep that within
 * mtp.scan_share.  The cost is the write-protect faults the scan found (each
 * written page of a protected chunk took one) at the price a fault was
 * measured to cost here, re-measured every 30 s (doubled where each fault
 * also flushes the TLB: mtp_wp_fault_price), plus the time of the scan's own
 * system calls (PAGEMAP_SCAN, write-protect, /proc/self/maps).  A first
 * touch of an empty page counts as a fault of the scan's too, though the
 * program would have taken it anyway, so the cost is never under-stated.
 * When not even the widest sample fits, the scan backs off.
 */
void mtp_written_resample(uint64_t now)
{
    uint64_t elapsed, cost, charged;
    double projected;
    unsigned next;

    if (mtp.wp_state != MTP_WP_ON || now < mtp.wp_hold_until)
        return;
    elapsed = mtp.written_since && now > mtp.written_since ? now - mtp.written_since : 0;
    cost = mtp_written_cost(now, &charged);
    mtp.wp_credit_ns = mtp_wpscan_credit(mtp.wp_credit_ns, charged, elapsed, mtp.scan_share);
    if (mtp.wp_hold_until != 0) {
        mtp_written_resume(now);
        return;
    }
    if (elapsed == 0) { /* the first sample: nothing measured yet */
        mtp.wp_sample_next = mtp_written_first_stride();
        return;
    }
    mtp.wp_period_ns = mtp.wp_period_ns ? (3 * mtp.wp_period_ns + elapsed) / 4 : elapsed;
    /* The stride follows the average, not the sample: a sample's cost is
     * set by which chunks it holds, and one 2-MiB chunk the program
     * rewrites whole (an allocator's churn) costs 512 faults, 12 ms here,
     * whatever the stride; judged alone, it widened the stride to the
     * widest and then backed the scan off, for a cost the rotation spreads
     * over `stride` samples. */
    mtp.wp_share_avg =
        mtp_wpscan_average_share(mtp.wp_share_avg, (double)cost / (double)elapsed, mtp.scan_share);
    /* Narrow only after 1 s under a quarter of the budget. */
    mtp.wp_quiet = mtp.wp_share_avg < mtp.scan_share / 4 ? mtp.wp_quiet + 1 : 0;
    next = mtp_wpscan_next_stride(mtp.wp.stride, (uint64_t)(mtp.wp_share_avg * (double)elapsed),
                                  elapsed, mtp.scan_share, mtp.wp_quiet >= 2);
    if (next == 0) {
        mtp_written_back_off(now);
        return;
    }
    if (next != mtp.wp.stride) {
        /* What the new sample is expected to cost: the part of the cost
         * that grows with the sample (most of it) scaled. */
        mtp.wp_share_avg *= (double)mtp.wp.stride / (double)next;
        mtp.wp_quiet = 0;
    }
    if (next <= MTP_WPSCAN_MAX_STRIDE / 2)
        mtp.wp_backoff_ns = 0; /* affordable again: the next back-off starts short */
    projected =
        mtp_wpscan_projected(mtp.wp_credit_ns, mtp.wp_share_avg, mtp.wp_period_ns, mtp.scan_share);
    if (projected < 0) {
        mtp_written_hold(now, next, projected);
        mtp.wp_window_lost = 0;
        return;
    }
    /* A window a full collection cut short is watched again (the take
     * re-protected it), once: the sample returns to a chunk only every
     * `stride` takes, and a chunk cut at every visit would go unseen for
     * good (the likely cause, not proven, of one chunk of a read hot set
     * going unreported for two rotations now and then in the integration
     * tests).  Not twice in a row: collections at every scan would stall
     * the rotation. */
    if (mtp.wp_window_lost && !mtp.wp_retried && next == mtp.wp.stride) {
        mtp.wp_retried = 1;
        mtp.written_since = now; /* the take re-protected the window */
    } else {
        mtp.wp_retried = 0;
        mtp.wp_sample_next = next; /* mtp_written_move() */
    }
    mtp.wp_window_lost = 0;
}

/* Moves the sample where mtp_written_resample() decided: the old chunks'
 * protection dropped, the new ones' set (two write-protect calls per
 * mapping; at a new stride, the whole heap's once).  Writes the old chunks
 * took since the take are not reported: a step's worth of time. */
void mtp_written_move(uint64_t now)
{
    unsigned next = mtp.wp_sample_next;

    mtp.wp_sample_next = 0;
    if (next == 0 || mtp.wp_state != MTP_WP_ON)
        return;
    mtp_wpscan_sample(&mtp.wp, next);
    mtp.written_since = now;
}

void mtp_written_fire(void)
{
    /* The sample comes back to these pages after `stride` more takes (1 in
     * stride of the heap's chunks is watched at a time), and its report one
     * take after that: until then, BPF keeps them warm (struct mtp_page's
     * period). */
    uint64_t take_ns = mtp.wp_period_ns ? mtp.wp_period_ns : MTP_WP_PERIOD_NS;
    uint64_t period_ns = mtp.wp_state == MTP_WP_ON ? (mtp.wp.stride + 1) * take_ns : take_ns;

    for (size_t done = 0; done < mtp.written_len; done += MTP_BATCH_MAX) {
        const uint64_t *pages = mtp.written + done;
        uint32_t count = (uint32_t)(mtp.written_len - done < MTP_BATCH_MAX ? mtp.written_len - done
                                                                           : MTP_BATCH_MAX);
        mtp_fire_written(pages, count, period_ns);
        mtp.written_fired += count;
    }
    mtp.written_len = 0;
}

/* Registers every mapping the scan accepts (mtp_wpscan_watch_all: the heap
 * and the private, writable, anonymous mappings up to 64 GiB each, mtp's own
 * left out), not only those holding a step's objects: a step walks a slice,
 * but the scan reports the whole heap's writes, and large storage (buffer
 * data, item arrays) has mappings of its own.  /proc/self/maps is read whole
 * at every call, into mtp's own memory, and the read counts as the scan's
 * cost. */
void mtp_written_watch(void)
{
    static mtp_scratch maps_text; /* the GIL owns it */
    uint64_t t0 = mtp_cpu_ns();
    const char *maps;

    if (mtp.wp_state != MTP_WP_ON)
        return;
    maps = mtp_scratch_read_file(&maps_text, "/proc/self/maps");
    if (maps == NULL || maps[0] == '\0')
        return;
    mtp.wp.sys_ns += mtp_cpu_ns() - t0; /* reading the maps is the scan's cost too */
    mtp_wpscan_watch_all(&mtp.wp, maps);
}
