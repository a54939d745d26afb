/* SPDX-License-Identifier: MIT */
/*
 * The tiering half of an interval: where the tracked pages are, what the
 * policy (user/lib/policy.c) decides, moving pages within --max-rate, and
 * what really moved.  Owned by the session, one per traced process.
 */
#ifndef MTP_TIERING_H
#define MTP_TIERING_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "options.h"
#include "page_dump.h"
#include "policy.h"
#include "procmaps.h"
#include "report.h"
#include "sweep.h"
#include "target.h"
#include "tiers.h"

struct mtp_tiering {
    int active; /* 0: tracing only (--no-migrate, no NUMA, or one tier) */
    struct mtp_tiers tiers;
    int fast_node, slow_node;
    /* --watermark as resolved for fast_node: the kernel's low watermarks for
     * auto.  The operator's options keep what was asked for; this is what
     * the policy is configured with, also after the program's settings. */
    uint64_t watermark_bytes;
    /* the fast node's numa_foreign at the last interval (headroom.h);
     * foreign_state: 0 none read yet, 1 read, -1 not to be trusted
     * (vm.numa_stat=0 freezes it) */
    uint64_t foreign_last;
    int foreign_state;
    struct mtp_policy *policy;
    struct mtp_tiering_report report; /* this interval's, for the report */
    struct mtp_sweep sweep;
    int thp_warned;   /* the user was told huge pages cannot be told apart */
    int lists_warned; /* ... that the fast node's free pages wait on its CPUs' lists */
    /* Per-interval scratch, grown to the page count. */
    size_t cap;
    uint64_t *addrs;
    int *nodes;
    struct mtp_policy_page *pages;
    struct mtp_move *moves;
    uint64_t *move_addrs;
    int *targets, *status, *after;
    size_t located_len; /* this interval's pages whose nodes[] were read (0: none) */
    size_t moved_len;   /* this interval's moves carried out: moves[] and after[] hold them */
    uint8_t *is_thp;
};

/*
 * Decides whether this run tiers at all (t->active), and says why not when
 * it does not; when it does, finds the tiers, resolves the watermark and
 * creates the policy.  0, or -1 after reporting an error.
 */
int mtp_tiering__setup(struct mtp_tiering *t, const struct mtp_options *o, bool say);

/*
 * One interval for the target, whose BPF page map is pages_fd and whose
 * pages are in d: locate, plan, move, count.  0, or -errno (-ENOMEM is
 * fatal; -ESRCH: the target exited and nothing moved; other errors cost only
 * this interval).
 */
int mtp_tiering__step(struct mtp_tiering *t, const struct mtp_options *o,
                      const struct mtp_target *target, int pages_fd, const struct mtp_page_dump *d);

void mtp_tiering__free(struct mtp_tiering *t);

/* --show-tiers: prints the tiers and the migration targets.  The exit
 * status. */
int mtp_tiering__show(const struct mtp_options *o);

#endif
