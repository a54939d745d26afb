/* SPDX-License-Identifier: MIT */
/*
 * The kernel's free-memory watermarks of a node, from /proc/zoneinfo.  The
 * page allocator places a new page in a zone only while the zone stays above
 * its "low" watermark; below it, allocations fall back to the next node and
 * kswapd is woken to reclaim up to "high".  With the lower zones' reserves
 * (mtp_zoneinfo_user_floor_bytes) that is where the kernel itself treats
 * the node as full: the default for --watermark (tiering.c).  Pure.
 */
#ifndef MTP_ZONEINFO_H
#define MTP_ZONEINFO_H

#include <stddef.h>
#include <stdint.h>

enum mtp_zone_watermark { MTP_ZONE_MIN, MTP_ZONE_LOW, MTP_ZONE_HIGH };

/*
 * Sums the `mark` watermark (in pages) of every zone of `node` in `text`, a
 * /proc/zoneinfo, and returns it times page_size in *bytes.  Returns 0,
 * -ENOENT when the node has no zone in the text, or -EINVAL when a zone of
 * the node is malformed (no such line, or not a number); err says which.
 */
int mtp_zoneinfo_watermark_bytes(const char *text, int node, enum mtp_zone_watermark mark,
                                 uint64_t page_size, uint64_t *bytes, char *err, size_t errlen);

/*
 * Where the node is full for the program's pages: the free memory below
 * which the kernel places none of them there.  A user page may come from
 * any zone, but a lower zone keeps, on top of its low watermark, a reserve
 * against allocations that could have used a higher one (its "protection:
 * (...)" line, lowmem_reserve; the largest entry is the one a movable user
 * page meets), and can keep no more than it manages.  So per zone the
 * smaller of its managed pages and low + that reserve, summed over the
 * node's zones (a zone without protection or managed lines: its low).  In
 * the two-tier guest node 0's DMA zone keeps 947 pages (3.7 MiB) above its
 * low watermark: the sum of the lows alone counted them free, and mtp
 * filled the node past where new pages still found room.  Returns as
 * mtp_zoneinfo_watermark_bytes() does.
 */
int mtp_zoneinfo_user_floor_bytes(const char *text, int node, uint64_t page_size, uint64_t *bytes,
                                  char *err, size_t errlen);

/*
 * A node's free pages on its CPUs' free-page lists (the per-CPU pagesets).
 * A page freed on a CPU, by the program or by a migration off the node,
 * waits on that CPU's list; MemFree, and the watermark check that decides
 * whether a new page may go to the node, leave the lists out.
 */
struct mtp_free_lists {
    uint64_t held_bytes;    /* on the lists now: the pagesets' "count:" */
    uint64_t limit_bytes;   /* the most they may hold: each CPU's "high_max:" (Linux 6.7+),
                               else its "high:" */
    uint64_t managed_bytes; /* the node's managed memory, which the lists' sysctl divides */
};

/* "no reading this interval", for reports */
#define MTP_FREE_LISTS_UNKNOWN UINT64_MAX

/*
 * Sums node `node`'s pagesets over its zones and CPUs, and its zones'
 * managed pages, into *out.  Returns as mtp_zoneinfo_watermark_bytes() does
 * (a malformed count, high, high_max or managed line is -EINVAL).
 */
int mtp_zoneinfo_free_lists(const char *text, int node, uint64_t page_size,
                            struct mtp_free_lists *out, char *err, size_t errlen);

#endif
