/* SPDX-License-Identifier: MIT */
/*
 * Sets of NUMA node ids, in and out of the kernel's list format ("0-1,4",
 * as in sysfs's nodelist and cpulist files and --fast-nodes).  Pure.
 */
#ifndef MTP_NODEMASK_H
#define MTP_NODEMASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Node ids the masks can hold: the kernel's largest MAX_NUMNODES (NODES_SHIFT
 * 10) on the distributions we target. */
#define MTP_NODE_ID_LIMIT 1024

struct mtp_nodemask {
    uint64_t bits[MTP_NODE_ID_LIMIT / 64];
};

/*
 * Parse the kernel's list format ("0-1,4,6-7", as in cpulist and nodelist).
 * A trailing newline is allowed; an empty string is the empty set, which is
 * what sysfs prints for a CPU-less node's cpulist.  ids must be below limit
 * (at most MTP_NODE_ID_LIMIT).  0, or -EINVAL/-ERANGE with a sentence in err.
 */
int mtp_nodelist_parse(const char *s, unsigned limit, struct mtp_nodemask *out, char *err,
                       size_t errlen);
bool mtp_nodemask_test(const struct mtp_nodemask *m, unsigned id);
void mtp_nodemask_set(struct mtp_nodemask *m, unsigned id);
unsigned mtp_nodemask_count(const struct mtp_nodemask *m);
/* Back to the kernel's format, "0-1,4"; returns the length snprintf would. */
int mtp_nodemask_format(const struct mtp_nodemask *m, char *buf, size_t len);

#endif
