/* SPDX-License-Identifier: MIT */
/*
 * Written-page scan: which of the heap's pages the program wrote since the
 * last scan, from inside the process, without soft-dirty or idle-page
 * tracking.  In CPython reading an object writes its reference count, so a
 * written page is a touched page -- the signal refcount snapshots miss for
 * objects that are only read.
 *
 * A userfaultfd in asynchronous write-protect mode marks the registered
 * ranges read-only; the first write to a page takes a fault the kernel
 * resolves itself (no thread of ours wakes up) and clears the mark.
 * PAGEMAP_SCAN then reports the written pages and protects them again in the
 * same call.  Needs Linux 6.7+; elsewhere mtp_wpscan_open() fails and the
 * rest of mtp works without it.  No Python here: pure system calls.
 */
#ifndef MTP_WPSCAN_H
#define MTP_WPSCAN_H

#include <stddef.h>
#include <stdint.h>

#define MTP_WPSCAN_MAX_RANGES 1024

struct mtp_wpscan {
    int uffd;
    int pagemap;
    /* Sampling: only 2 MiB chunks whose index % stride == phase are
     * protected, so only their first writes fault.  stride 1 = everything. */
    unsigned stride;
    unsigned phase;
    /* Protection was dropped (mtp_wpscan_release): the next collect finds
     * pages written that took no fault. */
    int released;
    /* What the scan cost since its owner last read and zeroed these: pages
     * found written after a write-protect fault (a first touch of an empty
     * page counts too: it cannot be told apart, so the cost is never
     * under-stated), and the time spent in the scan's own system calls. */
    uint64_t faults;
    uint64_t sys_ns;
    uint64_t reset_ns; /* one-off calls, kept apart: changes of stride, new mappings */
    size_t n_ranges;
    uint64_t start[MTP_WPSCAN_MAX_RANGES];
    uint64_t end[MTP_WPSCAN_MAX_RANGES];
};

/*
 * mtp's own mappings (its side tables), which the scan must never watch:
 * their writes are mtp's, not the program's, and would fault.  They are
 * mapped with MAP_NORESERVE so that the kernel never merges them with the
 * program's anonymous memory, and any watchable mapping that overlaps one
 * is skipped.  Process-wide; the GIL owns it, like everything that maps.
 * Returns 0, or -ENOSPC when the registry is full (the range is watched
 * then: a cost, not an error).
 */
#define MTP_WPSCAN_OWN_MAX 64
int mtp_wpscan_own_add(uint64_t start, uint64_t end);
void mtp_wpscan_own_remove(uint64_t start);

/* 0, or -errno: -ENOSYS/-EINVAL/-ENOTTY on kernels without the features. */
int mtp_wpscan_open(struct mtp_wpscan *s);
void mtp_wpscan_close(struct mtp_wpscan *s);

/*
 * Ends the scan as mtp_wpscan_close() does, but hands its userfaultfd back
 * (or -1 when none was open) for the caller to close, which then owns it.
 * The close is what drops every protection: the kernel walks the page
 * tables of every registered range with the process's mmap lock held for
 * writing (7-18 ms on a 1M-object heap here, BENCHMARKS.md 3.4), which a
 * caller holding the GIL would add to its pause.  Until it is closed the
 * protection stays, and costs nothing but the faults of asynchronous
 * write-protect mode, which the kernel resolves itself: no thread waits
 * for the descriptor's owner.
 */
int mtp_wpscan_detach(struct mtp_wpscan *s);

/*
 * Starts watching the mapping that contains addr (whole mappings, so no VMA
 * is split), if it holds the program's data by the rule the loader's sweep
 * shares (mtp_mapping_is_data() in user/lib/mapping.h: private, writable,
 * anonymous, unnamed, [heap] or [anon:NAME], up to 64 GiB).  Idempotent.
 * 0, -EINVAL for a mapping the rule refuses, -ENOENT for none, or -errno.
 */
int mtp_wpscan_watch(struct mtp_wpscan *s, const char *maps_text, uint64_t addr);

/*
 * Watches every mapping mtp_wpscan_watch() accepts, except mtp's own
 * (mtp_wpscan_own_add).  Returns how many are watched.
 */
int mtp_wpscan_watch_all(struct mtp_wpscan *s, const char *maps_text);

/*
 * Writes the base address of every page written since the last call into
 * pages[] (at most cap) and re-protects them.  Returns the count, or -errno.
 * Ranges that vanished (unmapped arenas) are dropped.  With pages == NULL
 * it only re-protects, discarding what was written: how writes that are
 * not the program's own (mtp's observation, a full collection) are erased.
 */
long mtp_wpscan_collect(struct mtp_wpscan *s, uint64_t *pages, size_t cap);

/*
 * Protects only the chunks of the next sample (phase advances by one) and
 * unprotects the previous sample's.  Call after mtp_wpscan_collect(s, NULL,
 * 0).  stride is clamped to [1, MTP_WPSCAN_MAX_STRIDE].  Costs system calls
 * in proportion to the sample, not the heap, unless the stride changed.
 */
void mtp_wpscan_sample(struct mtp_wpscan *s, unsigned stride);

/*
 * Re-protects the page holding addr, if it is watched and in the sample,
 * forgetting that it was written: for the few writes mtp itself makes
 * between scans (a reference it takes and drops).
 */
void mtp_wpscan_forget(struct mtp_wpscan *s, uint64_t addr);

/*
 * Writes the pages written since the last collect into pages[] (at most
 * cap), as mtp_wpscan_collect() does, but then drops the protection of every
 * watched page instead of renewing it: writes stop faulting until the next
 * collect, which protects again, counts nothing it finds as a fault, and
 * whose pages are not the program's own (the caller discards them).  Used
 * before full collections: the collector writes every object's header, and
 * would otherwise fault once on every page of the heap.  Returns the count.
 */
long mtp_wpscan_release(struct mtp_wpscan *s, uint64_t *pages, size_t cap);

/*
 * Measures what a write-protect fault costs on this machine: a scratch
 * mapping of a few pages is protected and written, and the writes timed.
 * Returns ns per fault, or -errno.
 */
long mtp_wpscan_measure_fault(struct mtp_wpscan *s);

/*
 * Whether every entry into this kernel flushes the process's TLB: page-table
 * isolation (the meltdown mitigation) on a CPU without PCID.  There a fault
 * costs the program more than the fault itself: afterwards it refills the
 * TLB, a few ns for every page it touches, up to the TLB's reach (1-18 us
 * here, up to 2x the fault; BENCHMARKS.md 3.2.1), and a scratch mapping's timed
 * writes cannot see that.  Reads /proc/cpuinfo and sysfs once; 0 when
 * unreadable.
 */
int mtp_wpscan_entry_flushes_tlb(void);

/* What a fault's aftermath adds to its measured price, as a multiple of it,
 * where mtp_wpscan_entry_flushes_tlb(): the refill measured at up to twice
 * the fault on large heaps, once on small ones (BENCHMARKS.md 3.2.1). */
#define MTP_WPSCAN_TLB_REFILL_FACTOR 1.0

/* The widest sample: 1 chunk in 1024, 2 MiB of every 2 GiB.  Wide enough
 * that a heap of some GiB starts with a sample its budget affords: at 64, a
 * 500 MiB heap's widest sample (8 MiB) cost 3x the budget in its first
 * period alone, before the scan could back off (BENCHMARKS.md 1, heap_5m).
 * The cost of width is coverage: a chunk is seen every stride takes. */
#define MTP_WPSCAN_MAX_STRIDE 1024

/*
 * The stride for the next sample, from the measured cost of the last one:
 * `cost_ns` (faults at their measured price plus system-call time) over
 * `elapsed_ns` at stride `stride`, against `budget` (a share of elapsed
 * time).  A power of two: widened in proportion to an overrun, narrowed
 * toward half the budget (by 2x to 4x) when the cost falls under a quarter
 * of it and `may_narrow` (it did for long enough), else kept.  Returns 0 when
 * the widest stride itself cost more than the budget: the scan must back
 * off (an overrun at a narrower one tries the widest first).  Pure arithmetic, unit-tested.
 */
unsigned mtp_wpscan_next_stride(unsigned stride, uint64_t cost_ns, uint64_t elapsed_ns,
                                double budget, int may_narrow);

/*
 * The scan's cost share, averaged over about the last 8 samples (`avg` < 0:
 * none yet), with `share` the newest sample's.  Averaged because a sample's
 * cost depends on which 2-MiB chunks it holds, and a hot one costs the same
 * at every stride.  A sample that cost more than 4x `budget` is taken at
 * once: one that costly is not left to the average.  Pure arithmetic,
 * unit-tested.
 */
double mtp_wpscan_average_share(double avg, double share, double budget);

/*
 * The scan's budget as a bucket, so that it holds over every window between
 * two takes, not only on average: `credit_ns` earns `budget` x `elapsed_ns`
 * and pays `cost_ns`, what the scan just cost.  What a window leaves unspent
 * is not carried over: a quiet spell banks nothing, since a one-second bank
 * let alloc_heavy --dry-run spend 2.7% of a 2.8-s run (2% earned plus the
 * 20 ms banked).  Only credit a hold earned in advance (mtp_wpscan_projected)
 * is kept, until the sample after the hold spends it.  Returns the new
 * credit; mtp_wpscan_hold_ns() of a negative one is the time the budget
 * takes to earn it back.  The stride follows the average
 * (mtp_wpscan_next_stride); this cuts the peaks the average lets through (a
 * growing heap's new arenas, a burst of writes).  Pure arithmetic,
 * unit-tested.
 */
double mtp_wpscan_credit(double credit_ns, uint64_t cost_ns, uint64_t elapsed_ns, double budget);
uint64_t mtp_wpscan_hold_ns(double credit_ns, double budget);

/*
 * The credit the next sample is expected to leave: what it has now, plus
 * what the sample's window earns, less what it is expected to cost (the
 * average share, `share_avg`, over `period_ns`, the time between takes).
 * Negative: the scan holds before the sample, not after it, so that one
 * sample's cost cannot overrun the budget in a short run (alloc_heavy
 * --dry-run: 2.15% of a 2.3-s run against 2% when the bucket acted only
 * after a take).  A `share_avg` < 0 (nothing measured yet) counts as 0.
 * Pure arithmetic, unit-tested.
 */
double mtp_wpscan_projected(double credit_ns, double share_avg, uint64_t period_ns, double budget);

#endif
