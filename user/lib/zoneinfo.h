/* SPDX-License-Identifier: MIT */
/*
 * The kernel's free-memory watermarks of a node, from /proc/zoneinfo.  The
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

#endif
