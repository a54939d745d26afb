/* SPDX-License-Identifier: MIT */
/*
 * Headroom: fast-node memory kept free, above the watermark, for the
 * program's next allocations.  mtp fills the fast node with promotions down
 * to the watermark; a page the program allocates after that is placed by
 * the kernel on the slow node, and on busy workloads those new pages take a
 * large part of all accesses (BENCHMARKS.md §6, part 18: up to 9%).  So
 * promotions stop short of the budget by the headroom, and lazy demotions
 * open it.
 *
 * How much is measured, not assumed.  The node's free memory cannot show it:
 * a program that frees as much as it allocates leaves it where it was, and
 * once the node is at its watermark new pages go elsewhere and stop showing.
 * The kernel counts what went elsewhere: numa_foreign in the node's numastat,
 * allocations that preferred the node and were placed on another.  So an
 * interval's demand is the room the node had after our moves plus what it
 * refused; the estimate is the peak demand, which decays by a sixteenth an
 * interval without a refusal, and the headroom is a quarter more than the
 * estimate, so that a steady demand is refused only now and then.
 *
 * Promotions heed the headroom; while the node refuses the program's pages
 * (numa_foreign grew; without the counter, free memory at the watermark) the
 * policy also demotes down to it, past laziness, since the pages it displaces
 * would otherwise leave at laziness's pace, not the program's (policy.h).
 *
 * Without the counter (vm.numa_stat=0, or unreadable) the demand is
 * censored, and the estimate grows on evidence alone -- the node found at,
 * or within a little of, the watermark -- by doubling.  In both cases the
 * process found over its budget (its new pages had room on the node but not
 * in the budget) doubles it too.  Growth is never by the size of one drop in
 * free memory: another process's allocation, or an operator shrinking the
 * node, is one step, not a rate to reserve for.
 *
 * Pure; owned by the policy (one thread, the loader's interval).
 */
#ifndef MTP_HEADROOM_H
#define MTP_HEADROOM_H

#include <stdbool.h>
#include <stdint.h>

/* The first step of growth without a measured demand. */
#define MTP_HEADROOM_MIN_BYTES (1ULL << 20)
/* Without the counter the node counts as starved within this much of the
 * watermark, or an eighth of the headroom, whichever is more: the allocator
 * stops placing pages on a node a little above its watermark, not below. */
#define MTP_HEADROOM_SLACK_BYTES (256ULL << 10)

struct mtp_headroom {
    uint64_t peak;      /* the demand estimate */
    uint64_t bytes;     /* the headroom it asks for */
    uint64_t last_free; /* the node's free bytes at the last reading */
    int64_t moved_in;   /* our net bytes moved onto the node since then */
    bool have_last;     /* last_free is a reading */
    bool starved;       /* the last reading found demand without room */
    bool refusing;      /* ... and the node turning allocations away (below) */
};

/* One interval's look at the fast node and the process. */
struct mtp_headroom_reading {
    bool free_known;          /* free_bytes is a reading */
    uint64_t free_bytes;      /* the node's free memory now */
    uint64_t watermark_bytes; /* what the policy keeps free on it */
    bool refused_known;       /* refused_bytes is a reading */
    uint64_t refused_bytes;   /* allocations for the node placed elsewhere since the last */
    bool over_budget;         /* the process's fast bytes exceed its budget */
    uint64_t cap_bytes;       /* the most the headroom may reach */
};

/* Our moves since the last reading: promotions in, demotions out. */
void mtp_headroom_moved(struct mtp_headroom *h, uint64_t promoted_bytes, uint64_t demoted_bytes);

/* Updates the estimate from one interval's reading and returns the
 * headroom, a whole number of pages. */
uint64_t mtp_headroom_observe(struct mtp_headroom *h, const struct mtp_headroom_reading *r);

#endif
