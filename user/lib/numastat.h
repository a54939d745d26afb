/* SPDX-License-Identifier: MIT */
/*
 * A node's allocation counters, /sys/devices/system/node/nodeN/numastat:
 * "numa_foreign N" counts the pages meant for the node (it was the
 * allocating task's preferred node) that the kernel placed on another, the
 * headroom's measure of the demand a full node refused (headroom.h).  Pure.
 */
#ifndef MTP_NUMASTAT_H
#define MTP_NUMASTAT_H

#include <stdint.h>

/* The counter named key (e.g. "numa_foreign") in text, in pages.  0, or
 * -ENOENT when text has no such line, -EINVAL when its value is no number. */
int mtp_numastat_value(const char *text, const char *key, uint64_t *pages);

#endif
