/* SPDX-License-Identifier: MIT */
/* Seams over libnuma and sysfs for tier discovery and page migration. */
#ifndef MTP_NUMA_IO_H
#define MTP_NUMA_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tiers.h"
#include "zoneinfo.h"

/* The real sysfs, for mtp_tiers_discover(). */
extern const struct mtp_sysfs mtp_sysfs_real;

/* Where pages are now: nodes[i] is a node id or -errno (-EFAULT unmapped,
 * -ENOENT not present).  Returns 0 or -errno for the call as a whole. */
int mtp_pages_query(pid_t pid, size_t n, const uint64_t *addrs, int *nodes);

/* Moves pages to targets[i]; status[i] as move_pages(2) reports it. */
int mtp_pages_move(pid_t pid, size_t n, const uint64_t *addrs, const int *targets, int *status);

/*
 * Marks the pages that belong to a transparent huge page (kpageflags' THP
 * bit, through the page's PFN from /proc/PID/pagemap).  One lookup per 2 MiB
 * range.  Returns 0, or -errno when pagemap or kpageflags cannot be read
 * (then is_thp is all zero and the caller carries on with 4 KiB pages).
 */
int mtp_pages_thp(pid_t pid, size_t n, const uint64_t *addrs, uint8_t *is_thp);

/* True when the kernel and libnuma support NUMA calls. */
int mtp_numa_available(void);

/* Free bytes on a node, or UINT64_MAX when unknown. */
uint64_t mtp_node_free_bytes(int node);

/* The node's numa_foreign counter (numastat.h), in pages.  0, or -errno
 * when it cannot be read. */
int mtp_node_foreign_pages(int node, uint64_t *pages);

/* Where the kernel stops placing user pages on a node: its zones' low
 * watermarks and lower zones' reserves, from /proc/zoneinfo
 * (mtp_zoneinfo_user_floor_bytes).  Returns 0, or -errno with a sentence in
 * err. */
int mtp_node_low_watermark(int node, uint64_t *bytes, char *err, size_t errlen);

/* The node's CPUs' free-page lists, from /proc/zoneinfo
 * (mtp_zoneinfo_free_lists).  Returns 0, or -errno. */
int mtp_node_free_lists(int node, struct mtp_free_lists *out);

/* Resident bytes of a process, or 0 when unknown. */
uint64_t mtp_rss_bytes(pid_t pid);

#endif
