/* SPDX-License-Identifier: MIT */
/*
 * The kernel's free-memory watermarks of a node, and the free pages its CPUs
 * hold, from /proc/zoneinfo.  The
 * page allocator places a new page in a zone only while the zone stays above
 * its "low" watermark; below it, allocations fall back to the next node and
 * kswapd is woken to reclaim up to "high".  So the sum of the lows is where
 * the kernel itself treats the node as full: the default for --watermark
 * (tiering.c).  Pure.
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
 * The free pages held on the CPUs' lists (the "count:" of each zone's
 * pagesets) of `node`, times page_size, in *bytes.  The node's MemFree leaves
 * them out, yet they are free: a CPU that frees many pages in a row (as
 * move_pages(2) does for every page it demotes) keeps them there, and since
 * Linux 6.7 a list may grow to about the zone's low watermark over the CPUs.
 * Not yet counted by mtp-trace: counted as free room, it planned promotions
 * the kernel refused on a full node (its allocator checks MemFree alone), so
 * they must count against demotions only (BENCHMARKS.md §6, "The fast node's
 * free pages on its CPUs' lists").  Returns 0, -ENOENT (no zone of the node),
 * or -EINVAL (a count is not a number).
 */
int mtp_zoneinfo_pcp_bytes(const char *text, int node, uint64_t page_size, uint64_t *bytes,
                           char *err, size_t errlen);

#endif
