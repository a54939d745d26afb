/* SPDX-License-Identifier: MIT */
/*
 * The tiering decision, one call per loader interval: which of a process's
 * pages go up to the fast tier, which go down, and how that worked out.
 *
 * Pure so it can be tested interval by interval: the caller reads heat from
 * the BPF page table, asks move_pages(2) where pages are, hands both in, gets
 * moves back, performs them, and reports the outcome with
 * mtp_policy_commit().  Sizes are bytes; every page counts MTP_PAGE_SIZE.
 *
 * Rules (the "why" is next to the code in policy.c):
 *  - Selection.  Pages with heat >= hot_threshold are ranked hottest first
 *    and selected for the fast tier until the budget is full.  The budget is
 *    min(fast_budget, the fast bytes the watermark allows: our fast bytes plus
 *    the fast node's free bytes above the watermark).
 *  - Laziness.  A page on the fast tier that is not selected (it is cold, or
 *    hot but beyond the budget) has a streak of such intervals; it is demoted
 *    (reason DEMOTE) once the streak reaches N.  Selection resets the streak.
 *    A demotion that makes room (for a promotion, or to get within the
 *    budget) needs only the room's laziness: half of N, but never below
 *    lazy_initial (nor above N).  It is still a DEMOTE, judged as one.
 *  - Over budget.  When our fast bytes exceed the budget, unselected fast
 *    pages are demoted coldest first until back within it.  A mild excess
 *    (at most budget/8) keeps laziness: only pages whose streak reached the
 *    room's laziness go, and promotions wait.  A severe excess (more than
 *    budget/8, or the fast node below its free watermark, where the kernel
 *    starts reclaiming) ignores laziness (reason OVER_BUDGET).
 *  - Untracked pages.  The process's fast-tier pages the heat map holds
 *    nothing for (never seen touched, or forgotten) count toward its fast
 *    bytes and are demoted to make room -- to get within the budget or for a
 *    promotion -- but never proactively: that mtp has not seen a page
 *    touched is weaker evidence than a tracked page going cold.
 *  - Headroom (headroom.h).  Selection and promotion stop short of the
 *    budget by the headroom: room kept free for the program's next
 *    allocations, which the kernel would otherwise place on the slow node
 *    once mtp has filled the fast one.  Measured (headroom_auto: from the
 *    allocations the node refused, headroom.h) or fixed (headroom_bytes;
 *    0: none), and at most a quarter of the budget.
 *    Selection and promotions heed it, and "over budget" still means over
 *    the budget itself.  The pages it displaces leave by laziness, except
 *    while the fast node refuses the program's allocations (headroom.h):
 *    then unselected fast pages are demoted coldest first, past laziness
 *    (reason HEADROOM), until our fast bytes are down to the budget less
 *    the headroom.  Laziness would open it at its own pace (one page per N
 *    intervals of being unselected), the program fills it at its own.
 *  - Promotion.  Selected pages on slow nodes move up hottest first, only
 *    while our fast bytes stay within the budget less the headroom; pages
 *    past the room's laziness are demoted first to make room.
 *  - Rate cap ordering.  Budget repair first (it protects the fast node),
 *    then promotions with the demotions that make room for them, then the
 *    remaining lazy demotions ("idle" ones: no room was needed for them): a
 *    cold page left on the fast tier costs only capacity that nobody is
 *    waiting for.  Held-back moves are re-planned next interval.
 *  - Idle floor (idle_floor_pct).  Idle demotions stop once the fast
 *    bytes are down to that share of the budget; 100 demotes only to make
 *    room.  Reads that write nothing leave mtp no signal, so a page the
 *    program still reads can look cold: with room to spare, keeping it is
 *    free, demoting it is not -- but some room kept free takes the
 *    program's new allocations without going over the budget.
 *  - Adaptation.  Only DEMOTE moves are judged (N governs only them).  A
 *    demoted page selected for the fast tier again within pingpong_window
 *    intervals is a ping-pong (merely hot is not enough: a page beyond the
 *    budget was rightly demoted); one that is not is a good demotion.  In an
 *    interval with a ping-pong, if the pages demoted in one of the last
 *    window + 1 intervals (a cohort) have bounced at least 1/8 of them, N
 *    doubles (capped at lazy_max).  In an interval with no ping-pong, some good
 *    demotions, a low rate and the fast tier under pressure (over budget or
 *    below the watermark), N drops by one (down to lazy_min): a bounced page
 *    costs two migrations and a slow spell, a cold page kept a little longer
 *    only costs room.  Eager mode fixes N = 1 (ping-pongs are still counted).
 *  - Forgetting.  State for a page no longer reported is dropped, except
 *    while a demotion of it is still being judged.
 *  - Promoted only (demote_promoted_only, set without the written-page
 *    scan).  Demotions of every kind -- lazy, idle, for room, for the
 *    budget -- take only pages mtp itself promoted.  Without the scan, a
 *    page the program reads shows mtp nothing, so no page is ever seen to
 *    be cold; the only demotion mtp can justify is undoing its own move.
 *    The fast node then holds first touch's pages plus mtp's promotions,
 *    and the budget holds only as far as those promotions reach.  A
 *    promoted page whose state is forgotten stays where it is.
 */
#ifndef MTP_POLICY_H
#define MTP_POLICY_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tiers.h"
#include "units.h"

/* fast_free_bytes when the caller could not read the node's free memory;
 * the watermark then does not limit the budget */
#define MTP_FREE_UNKNOWN UINT64_MAX

/* fast_refused_bytes when the caller has no count */
#define MTP_REFUSED_UNKNOWN UINT64_MAX

/* The watermark when the kernel's cannot be read (see --watermark auto). */
#define MTP_DEFAULT_WATERMARK_BYTES (64ULL << 20)

struct mtp_policy_config {
    struct mtp_size fast_budget; /* a % is of the process's resident bytes */
    uint64_t watermark_bytes;    /* keep this much free on the fast node */
    uint64_t hot_threshold;      /* decayed heat a page needs to be hot, >= 1 */
    unsigned lazy_initial;       /* N: unselected intervals before demotion */
    unsigned lazy_min;
    unsigned lazy_max;
    bool eager;                      /* baseline: N = 1, no adaptation */
    unsigned idle_floor_pct;         /* no idle demotions below this % of the budget */
    uint64_t max_bytes_per_interval; /* rate cap x interval; 0 = no cap */
    unsigned pingpong_window;        /* intervals a demotion is judged for, 1..4096 */
    bool demote_promoted_only;       /* no evidence of cold: undo only our promotions */
    bool headroom_auto;              /* measure the headroom (headroom.h) ... */
    uint64_t headroom_bytes;         /* ... or keep this much (0: none) */
};

/* Starting values the loader's options override. */
void mtp_policy_config_default(struct mtp_policy_config *cfg);
/* 0, or -EINVAL with a sentence in err. */
int mtp_policy_config_check(const struct mtp_policy_config *cfg, char *err, size_t errlen);

struct mtp_policy_page {
    uint64_t addr;  /* page base address in the target process */
    uint64_t heat;  /* already decayed to the current interval */
    int node;       /* from move_pages(nodes = NULL): a node, or -errno */
    bool untracked; /* the heat map never reported it (the loader's sweep
                       found it on the fast tier): heat must be 0 */
};

struct mtp_policy_input {
    const struct mtp_policy_page *pages;
    size_t n_pages;
    const struct mtp_tiers *tiers; /* which nodes are fast and slow */
    int fast_node;                 /* promotion target, a fast node */
    int slow_node;                 /* demotion target, a slow node */
    uint64_t rss_bytes;            /* for a % budget */
    uint64_t fast_free_bytes;      /* of fast_node, or MTP_FREE_UNKNOWN */
    /* allocations that preferred fast_node and were placed on another since
     * the last interval (its numastat numa_foreign), or MTP_REFUSED_UNKNOWN */
    uint64_t fast_refused_bytes;
};

enum mtp_move_reason {
    MTP_MOVE_PROMOTE,
    MTP_MOVE_DEMOTE,      /* lazily: unselected for N intervals */
    MTP_MOVE_OVER_BUDGET, /* laziness overridden by a severe excess */
    MTP_MOVE_HEADROOM,    /* laziness overridden: the fast node refuses new pages */
};

struct mtp_move {
    uint64_t addr;
    int from_node;
    int to_node;
    enum mtp_move_reason reason;
};

struct mtp_policy_stats {
    uint32_t interval;
    size_t pages_in;      /* distinct pages reported this interval */
    size_t pages_tracked; /* state entries kept after forgetting */
    size_t hot;
    size_t cold;
    size_t on_fast;
    size_t on_slow;
    size_t elsewhere; /* not present, unknown, or on a node in no tier */
    size_t untracked; /* of on_fast: pages the heat map holds nothing for */
    size_t promote;   /* planned moves by reason */
    size_t demote;
    size_t over_budget;
    size_t headroom; /* demotions that open the headroom past laziness */
    size_t idle;     /* of demote: lazy demotions no room needed */
    uint64_t promote_bytes;
    uint64_t demote_bytes; /* DEMOTE, OVER_BUDGET and HEADROOM */
    size_t deferred;       /* wanted moves held back by the cap or the array */
    size_t pingpongs;      /* lazy demotions that bounced this interval */
    size_t judged;         /* lazy demotions judged this interval, either way */
    unsigned lazy_n;       /* N used for this interval */
    uint64_t budget_bytes;
    uint64_t headroom_bytes;     /* of the budget, kept free for new pages */
    uint64_t refused_bytes;      /* the input's fast_refused_bytes */
    uint64_t budget_used_bytes;  /* our bytes on fast nodes before the moves */
    uint64_t fast_bytes_planned; /* and after them, if all succeed */
    uint32_t promote_held;       /* intervals promotions are still held: the fast */
    uint32_t demote_held;        /* or slow node refused them (move_backoff.h) */
    bool pressure;               /* over budget or below the watermark */
    bool severe;
};

/* The status of a page that move_pages(2) left where it was without a
 * reason of its own: the call returned how many pages it did not migrate
 * (the target node full, pages pinned or locked) and wrote no status for
 * them. */
#define MTP_MOVE_NOT_MIGRATED (-EAGAIN)

/* Outcome of one batch of moves; the re-query decides what moved. */
struct mtp_commit_result {
    size_t moved;
    size_t promoted;
    size_t demoted;
    uint64_t moved_bytes;
    size_t moved_despite_error; /* status said error, re-query says moved (THP) */
    size_t busy;                /* -EBUSY and still in place */
    size_t nomem;               /* -ENOMEM: target node full */
    size_t refused;             /* MTP_MOVE_NOT_MIGRATED: not moved, no reason given */
    size_t gone;                /* -EFAULT / -ENOENT: unmapped or never faulted */
    size_t access;              /* -EACCES: shared with another process */
    size_t other;               /* anything else, including a reported success
                                   the re-query contradicts */
};

struct mtp_policy_totals {
    uint64_t intervals;
    uint64_t moved;
    uint64_t promoted;
    uint64_t demoted;
    uint64_t failed;
    uint64_t pingpongs;
    uint64_t judged;
    uint64_t backoffs; /* holds begun or lengthened after a node refused moves */
};

struct mtp_policy;

/* NULL when the config fails mtp_policy_config_check() or memory is short. */
struct mtp_policy *mtp_policy_create(const struct mtp_policy_config *cfg);
void mtp_policy_destroy(struct mtp_policy *policy);

/*
 * Plan one interval.  Writes at most cap moves to moves[] (n_pages suffices)
 * and their count to *n_moves.  Returns 0, -EINVAL for a bad input (targets
 * not a fast and a slow node), or -ENOMEM with the state unchanged.
 */
int mtp_policy_plan(struct mtp_policy *policy, const struct mtp_policy_input *in,
                    struct mtp_move *moves, size_t cap, size_t *n_moves,
                    struct mtp_policy_stats *stats);

/*
 * Account the moves of the last plan after move_pages(2).  status[i] is the
 * move's status entry for moves[i]; node_after[i] is a follow-up query
 * (nodes = NULL) of the same page and is the truth, because a THP-backed page
 * can report -EBUSY yet have moved.  node_after may be NULL, and then only a
 * status equal to the target counts as moved.  Only pages that moved update
 * the per-page state.  res may be NULL.
 */
void mtp_policy_commit(struct mtp_policy *policy, const struct mtp_move *moves, size_t n,
                       const int *status, const int *node_after, struct mtp_commit_result *res);

/*
 * Change the settings of a running policy (the program's mtp.configure()
 * within the operator's limits) without losing per-page state.  A new
 * lazy_initial or eager flag restarts N; N is kept within [lazy_min,
 * lazy_max].  0, or -EINVAL with the policy unchanged.
 */
int mtp_policy_reconfigure(struct mtp_policy *policy, const struct mtp_policy_config *cfg,
                           char *err, size_t errlen);

unsigned mtp_policy_lazy_n(const struct mtp_policy *policy);
/* Bounced / judged demotions since creation; 0 before any was judged. */
double mtp_policy_pingpong_rate(const struct mtp_policy *policy);
void mtp_policy_totals(const struct mtp_policy *policy, struct mtp_policy_totals *out);

#endif /* MTP_POLICY_H */
