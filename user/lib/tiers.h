/* SPDX-License-Identifier: MIT */
/*
 * Which NUMA nodes are the fast tier and which the slow one.
 *
 * The kernel's own answer (memory tiers) is preferred because it already
 * folds in HMAT latency/bandwidth and the dax/kmem (CXL, PMEM) drivers'
 * placement.  Many machines show every node in one tier, though, so a
 * fallback classifies from CPUs and distances, and the user can override
 * both with --fast-nodes / --slow-nodes.
 *
 * Discovery reads sysfs only through a caller-supplied seam, so this file
 * stays free of I/O and tests can feed it recorded /sys trees.
 */
#ifndef MTP_TIERS_H
#define MTP_TIERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nodemask.h"

/* Nodes one machine may have online; bounded so the distance table can be
 * stored inline. */
#define MTP_TIERS_MAX_NODES 64

#define MTP_SYSFS_NODE_DIR  "/sys/devices/system/node"
#define MTP_SYSFS_TIERS_DIR "/sys/devices/virtual/memory_tiering"

/*
 * The system seam.  read_file reads up to len bytes of an absolute sysfs path
 * and returns the count or -errno.  list_dir calls fn once per entry name of
 * an absolute directory path (fn returns nonzero to stop early) and returns 0
 * or -errno.
 */
typedef int (*mtp_dir_entry_fn)(void *arg, const char *name);
struct mtp_sysfs {
    int (*read_file)(void *ctx, const char *path, char *buf, size_t len);
    int (*list_dir)(void *ctx, const char *path, mtp_dir_entry_fn fn, void *arg);
    void *ctx;
};

enum mtp_tier_class {
    MTP_TIER_NONE, /* no memory, or left out by an override: never a target */
    MTP_TIER_FAST,
    MTP_TIER_SLOW,
};

/* Where the classification came from, shown by --show-tiers because "why is
 * node 1 slow?" is the first question a user asks. */
enum mtp_tiers_source {
    MTP_TIERS_KERNEL,   /* two or more kernel memory tiers */
    MTP_TIERS_DISTANCE, /* one tier or none: CPUs and distances */
    MTP_TIERS_OVERRIDE, /* --fast-nodes / --slow-nodes */
};

struct mtp_node {
    int id;
    bool has_cpus;
    bool has_memory;
    int memtier; /* kernel memory tier id, -1 when the node is in none */
    enum mtp_tier_class cls;
};

struct mtp_tiers {
    size_t n_nodes;
    struct mtp_node nodes[MTP_TIERS_MAX_NODES]; /* ascending id */
    bool have_distance;
    /* distance[i][j]: SLIT distance from nodes[i] to nodes[j]; the kernel
     * prints row i in online-node order, which is nodes[] order */
    uint8_t distance[MTP_TIERS_MAX_NODES][MTP_TIERS_MAX_NODES];
    unsigned n_kernel_tiers; /* distinct kernel tiers holding our nodes */
    enum mtp_tiers_source source;
};

/* Fill *out from sysfs.  0, or -errno with a sentence in err. */
int mtp_tiers_discover(struct mtp_tiers *out, const struct mtp_sysfs *sys, char *err,
                       size_t errlen);

/*
 * Apply --fast-nodes / --slow-nodes (NULL = option not given).  With only one
 * given, every other node with memory forms the other set; with both, nodes
 * in neither are left alone.  Rejects an unknown or memoryless node, a node
 * in both lists, an explicitly empty list and an empty fast set.  On error
 * *tiers is unchanged.
 */
int mtp_tiers_override(struct mtp_tiers *tiers, const char *fast_list, const char *slow_list,
                       char *err, size_t errlen);

/* The node's entry, or NULL when the id is not a known node. */
const struct mtp_node *mtp_tiers_node(const struct mtp_tiers *tiers, int id);
/* MTP_TIER_NONE for unknown ids and negative (errno) "nodes". */
enum mtp_tier_class mtp_tiers_class(const struct mtp_tiers *tiers, int id);

/*
 * Migration targets: the lowest-id fast node, preferring one with CPUs; the
 * slow node in the fastest slow kernel tier, then nearest to that fast node.
 * 0, or -ENODEV when either set is empty.
 */
int mtp_tiers_pick(const struct mtp_tiers *tiers, int *fast_node, int *slow_node);

/* The --show-tiers table.  Returns the length snprintf would (the output is
 * truncated to len - 1 characters), so callers can size a buffer. */
int mtp_tiers_format(const struct mtp_tiers *tiers, char *buf, size_t len);

#endif /* MTP_TIERS_H */
