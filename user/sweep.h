/* SPDX-License-Identifier: MIT */
/*
 * The sweep: each interval, one window of the process's data (the mappings
 * mtp_mapping_is_data() accepts, as the extension's written-page scan does)
 * is asked where its pages are, for pages on a fast node that the heat
 * map has nothing for.  Without them the process's fast bytes would count
 * only pages mtp has seen, and memory it never saw touched (first-touch
 * allocations that went cold) would hold the fast tier with nothing able to
 * move it.  Owned by the tiering state.
 */
#ifndef MTP_SWEEP_H
#define MTP_SWEEP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "policy.h"
#include "procmaps.h"
#include "tiers.h"

/* Pages looked at per interval: 1 GiB, one move_pages query of ~10 ms. */
#define MTP_SWEEP_PAGES (1u << 18)

struct mtp_sweep {
    uint64_t cursor; /* where the next window starts */
    /* the window: its pages and their nodes, then (compacted) the ones found */
    uint64_t *addrs;
    int *nodes;
    uint8_t *is_thp;
    uint64_t *tracked; /* the heat map's pages, sorted, to tell them apart */
    size_t tracked_cap;
};

/*
 * Sweeps the next window of pid's memory.  Leaves in sw->addrs[0..k) and
 * sw->nodes[0..k) the pages on a fast node of tiers that are not among
 * tracked[0..n) and not in a transparent huge page (moving one 4 KiB page of
 * a THP moves all 512, and the tracked pages' huge-page handling cannot see
 * these), and returns k, or -errno.
 */
long mtp_sweep__window(struct mtp_sweep *sw, pid_t pid, const struct mtp_maps *maps,
                       const struct mtp_tiers *tiers, const struct mtp_policy_page *tracked,
                       size_t n);

void mtp_sweep__free(struct mtp_sweep *sw);

#endif
