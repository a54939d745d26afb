// SPDX-License-Identifier: MIT
#include "sweep.h"

#include <errno.h>
#include <stdlib.h>

#include "cmp.h"
#include "numa_io.h"

/* The window's scratch, allocated on first use: 1 GiB's worth of pages. */
static int sweep_alloc(struct mtp_sweep *sw)
{
    if (!sw->addrs)
        sw->addrs = malloc(MTP_SWEEP_PAGES * sizeof(*sw->addrs));
    if (!sw->nodes)
        sw->nodes = malloc(MTP_SWEEP_PAGES * sizeof(*sw->nodes));
    if (!sw->is_thp)
        sw->is_thp = malloc(MTP_SWEEP_PAGES * sizeof(*sw->is_thp));
    return sw->addrs && sw->nodes && sw->is_thp ? 0 : -ENOMEM;
}

/* The tracked pages' addresses, sorted for bsearch. */
static int sort_tracked(struct mtp_sweep *sw, const struct mtp_policy_page *tracked, size_t n)
{
    if (n > sw->tracked_cap) {
        uint64_t *grown = realloc(sw->tracked, n * 2 * sizeof(*grown));

        if (!grown)
            return -ENOMEM;
        sw->tracked = grown;
        sw->tracked_cap = n * 2;
    }
    for (size_t i = 0; i < n; i++)
        sw->tracked[i] = tracked[i].addr;
    if (n)
        qsort(sw->tracked, n, sizeof(*sw->tracked), mtp_cmp_u64);
    return 0;
}

long mtp_sweep__window(struct mtp_sweep *sw, pid_t pid, const struct mtp_maps *maps,
                       const struct mtp_tiers *tiers, const struct mtp_policy_page *tracked,
                       size_t n)
{
    size_t got, found = 0, kept = 0;
    int err;

    if (sweep_alloc(sw) < 0)
        return -ENOMEM;
    got = mtp_maps_sweep(maps, &sw->cursor, MTP_SWEEP_PAGES, sw->addrs);
    if (got == 0)
        return 0;
    err = mtp_pages_query(pid, got, sw->addrs, sw->nodes);
    if (err < 0)
        return err;
    if (sort_tracked(sw, tracked, n) < 0)
        return -ENOMEM;
    for (size_t i = 0; i < got; i++) {
        if (sw->nodes[i] < 0 || mtp_tiers_class(tiers, sw->nodes[i]) != MTP_TIER_FAST)
            continue;
        if (n && bsearch(&sw->addrs[i], sw->tracked, n, sizeof(uint64_t), mtp_cmp_u64))
            continue;
        sw->addrs[found] = sw->addrs[i];
        sw->nodes[found] = sw->nodes[i];
        found++;
    }
    /* When huge pages cannot be told apart, keep them all, as the tracked
     * pages do. */
    if (found == 0 || mtp_pages_thp(pid, found, sw->addrs, sw->is_thp) < 0)
        return (long)found;
    for (size_t i = 0; i < found; i++) {
        if (sw->is_thp[i])
            continue;
        sw->addrs[kept] = sw->addrs[i];
        sw->nodes[kept] = sw->nodes[i];
        kept++;
    }
    return (long)kept;
}

void mtp_sweep__free(struct mtp_sweep *sw)
{
    free(sw->addrs);
    free(sw->nodes);
    free(sw->is_thp);
    free(sw->tracked);
}
