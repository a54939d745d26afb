/* SPDX-License-Identifier: MIT */
/*
 * A page-temperature heatmap's column: one interval's tracked pages folded
 * into 2 MiB blocks of address space (--record; drawn by mtp-report as
 * address x time, as damo's heatmap is).  A block keeps its pages' count,
 * how many are hot and their summed heat, so a 10 GiB heap is 5,120 rows at
 * most, whatever its page count.  Pure.
 */
#ifndef MTP_HEATMAP_H
#define MTP_HEATMAP_H

#include <stddef.h>
#include <stdint.h>

#include "report.h"

#define MTP_HEATMAP_SHIFT 21 /* 2 MiB: a huge page, and a pymalloc arena's multiple */

struct mtp_heat_block {
    uint64_t block; /* address >> MTP_HEATMAP_SHIFT */
    uint32_t pages; /* tracked pages in it */
    uint32_t hot;   /* of those, with heat above zero */
    uint64_t heat;  /* their heat, summed (saturating) */
};

/* Folds n pages into out (room for n blocks suffices), sorted by address.
 * Returns the number of blocks. */
size_t mtp_heatmap_fold(const struct mtp_hot_page *pages, size_t n, struct mtp_heat_block *out);

#endif
