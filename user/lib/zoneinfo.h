/* SPDX-License-Identifier: MIT */
/*
 * The kernel's own free-memory floor for a node, from /proc/zoneinfo.
 * kswapd reclaims a node until each of its zones has more free pages than the
 * zone's "high" watermark, so the sum of those is the free memory the kernel
 * itself keeps on the node: the natural default for --watermark.  Pure.
 */
#ifndef MTP_ZONEINFO_H
#define MTP_ZONEINFO_H

#include <stddef.h>
#include <stdint.h>

/*
 * Sums the "high" watermark (in pages) of every zone of `node` in `text`, a
 * /proc/zoneinfo, and returns it times page_size in *bytes.  Returns 0,
 * -ENOENT when the node has no zone in the text, or -EINVAL when a zone of
 * the node is malformed (no "high" line, or not a number); err says which.
 */
int mtp_zoneinfo_high_bytes(const char *text, int node, uint64_t page_size, uint64_t *bytes,
                            char *err, size_t errlen);

#endif
