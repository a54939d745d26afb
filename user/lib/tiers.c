/* SPDX-License-Identifier: MIT */
#include "tiers.h"

#include "cmp.h"
#include "errmsg.h"
#include "strbuf.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* sysfs hands out at most a page per attribute read */
#define SYSFS_BUF 4096
/* more kernel tiers than this would mean a bogus tree, not a real machine */
#define MAX_KERNEL_TIERS 64

/* Reads a sysfs attribute as a NUL-terminated string. */
static int read_text(const struct mtp_sysfs *sys, const char *path, char *buf, size_t len)
{
    int n = sys->read_file(sys->ctx, path, buf, len - 1);

    if (n < 0)
        return n;
    if ((size_t)n > len - 1)
        n = (int)(len - 1);
    buf[n] = '\0';
    return n;
}

/* Collects the numeric suffixes of directory entries named prefix<N>; other
 * entries (uevent, power, has_cpu, ...) are skipped. */
struct numbered {
    const char *prefix;
    unsigned *ids;
    size_t n;
    size_t cap;
    bool overflow;
};

static int collect_numbered(void *arg, const char *name)
{
    struct numbered *c = arg;
    size_t plen = strlen(c->prefix);
    unsigned long v = 0;
    const char *p;

    if (strncmp(name, c->prefix, plen) || !name[plen])
        return 0;
    for (p = name + plen; *p; p++) {
        if (*p < '0' || *p > '9')
            return 0;
        v = v * 10 + (unsigned long)(*p - '0');
        if (v > INT_MAX)
            return 0;
    }
    /* Each id once: a listing that names one twice (found by fuzz_tiers;
     * sysfs does not) must not make two nodes of one. */
    for (size_t i = 0; i < c->n; i++)
        if (c->ids[i] == (unsigned)v)
            return 0;
    if (c->n == c->cap) {
        c->overflow = true;
        return 1;
    }
    c->ids[c->n++] = (unsigned)v;
    return 0;
}

static int node_index(const struct mtp_tiers *t, int id)
{
    for (size_t i = 0; i < t->n_nodes; i++)
        if (t->nodes[i].id == id)
            return (int)i;
    return -1;
}

/* One row of the SLIT as sysfs prints it: "10 20\n".  A row whose length
 * does not match the node listing (a node went on- or offline between the
 * reads) cannot be indexed, so it is rejected. */
static bool parse_distance_row(const char *s, size_t n_nodes, uint8_t *row)
{
    const char *p = s;
    size_t n = 0;

    for (;;) {
        unsigned long v = 0;

        while (*p == ' ')
            p++;
        if (!*p || *p == '\n')
            break;
        if (*p < '0' || *p > '9')
            return false;
        for (; *p >= '0' && *p <= '9'; p++) {
            v = v * 10 + (unsigned long)(*p - '0');
            if (v > UINT8_MAX)
                return false;
        }
        if (n == n_nodes)
            return false;
        row[n++] = (uint8_t)v;
    }
    return n == n_nodes;
}

static int discover_nodes(struct mtp_tiers *t, const struct mtp_sysfs *sys, char *buf, char *err,
                          size_t errlen)
{
    unsigned ids[MTP_TIERS_MAX_NODES];
    struct numbered c = {"node", ids, 0, MTP_TIERS_MAX_NODES, false};
    struct mtp_nodemask has_memory;
    bool memory_known;
    char path[256];
    int rc;

    rc = sys->list_dir(sys->ctx, MTP_SYSFS_NODE_DIR, collect_numbered, &c);
    if (rc < 0) {
        mtp_set_err(err, errlen, "cannot list %s: %s", MTP_SYSFS_NODE_DIR, strerror(-rc));
        return rc;
    }
    if (c.overflow) {
        mtp_set_err(err, errlen, "more than %d NUMA nodes; mtp supports up to %d",
                    MTP_TIERS_MAX_NODES, MTP_TIERS_MAX_NODES);
        return -E2BIG;
    }
    if (!c.n) {
        mtp_set_err(err, errlen, "no NUMA nodes under %s", MTP_SYSFS_NODE_DIR);
        return -ENOENT;
    }
    qsort(ids, c.n, sizeof(ids[0]), mtp_cmp_uint);

    /* has_memory is missing on kernels without CONFIG_NUMA's node states;
     * then every listed node is assumed to have memory */
    memory_known = read_text(sys, MTP_SYSFS_NODE_DIR "/has_memory", buf, SYSFS_BUF) >= 0 &&
                   !mtp_nodelist_parse(buf, MTP_NODE_ID_LIMIT, &has_memory, NULL, 0);

    t->n_nodes = c.n;
    t->have_distance = true;
    for (size_t i = 0; i < c.n; i++) {
        struct mtp_node *n = &t->nodes[i];
        struct mtp_nodemask cpus;
        char why[160];

        n->id = (int)ids[i];
        n->memtier = -1;
        n->cls = MTP_TIER_NONE;
        n->has_memory = !memory_known || mtp_nodemask_test(&has_memory, ids[i]);

        snprintf(path, sizeof(path), MTP_SYSFS_NODE_DIR "/node%u/cpulist", ids[i]);
        rc = read_text(sys, path, buf, SYSFS_BUF);
        if (rc < 0) {
            mtp_set_err(err, errlen, "cannot read %s: %s", path, strerror(-rc));
            return rc;
        }
        /* cpu ids go far beyond node ids; only emptiness matters here */
        rc = mtp_nodelist_parse(buf, MTP_NODE_ID_LIMIT, &cpus, why, sizeof(why));
        if (rc && rc != -ERANGE) {
            mtp_set_err(err, errlen, "%s: %s", path, why);
            return rc;
        }
        /* only emptiness matters, and a cpu id past the mask's range still
         * proves the node has cpus */
        n->has_cpus = rc == -ERANGE || mtp_nodemask_count(&cpus) > 0;

        snprintf(path, sizeof(path), MTP_SYSFS_NODE_DIR "/node%u/distance", ids[i]);
        if (read_text(sys, path, buf, SYSFS_BUF) < 0 ||
            !parse_distance_row(buf, c.n, t->distance[i]))
            t->have_distance = false;
    }
    return 0;
}

/* Tier ids come from directory names; a missing memory_tiering directory
 * (kernels before 6.1, or !CONFIG_NUMA) just means no kernel tiers. */
static int discover_kernel_tiers(struct mtp_tiers *t, const struct mtp_sysfs *sys, char *buf,
                                 char *err, size_t errlen)
{
    unsigned ids[MAX_KERNEL_TIERS];
    struct numbered c = {"memory_tier", ids, 0, MAX_KERNEL_TIERS, false};
    char path[256];

    t->n_kernel_tiers = 0;
    if (sys->list_dir(sys->ctx, MTP_SYSFS_TIERS_DIR, collect_numbered, &c) < 0)
        return 0;
    qsort(ids, c.n, sizeof(ids[0]), mtp_cmp_uint);
    for (size_t i = 0; i < c.n; i++) {
        struct mtp_nodemask m;
        char why[160];
        bool used = false;

        snprintf(path, sizeof(path), MTP_SYSFS_TIERS_DIR "/memory_tier%u/nodelist", ids[i]);
        if (read_text(sys, path, buf, SYSFS_BUF) < 0)
            continue;
        if (mtp_nodelist_parse(buf, MTP_NODE_ID_LIMIT, &m, why, sizeof(why))) {
            mtp_set_err(err, errlen, "%s: %s", path, why);
            return -EINVAL;
        }
        for (size_t j = 0; j < t->n_nodes; j++) {
            struct mtp_node *n = &t->nodes[j];

            /* ids ascend, so the first tier to claim a node is its fastest */
            if (n->memtier < 0 && mtp_nodemask_test(&m, (unsigned)n->id)) {
                n->memtier = (int)ids[i];
                used = true;
            }
        }
        t->n_kernel_tiers += used;
    }
    return 0;
}

static void classify_by_kernel_tiers(struct mtp_tiers *t)
{
    int top = INT_MAX;

    for (size_t i = 0; i < t->n_nodes; i++)
        if (t->nodes[i].memtier >= 0 && t->nodes[i].memtier < top)
            top = t->nodes[i].memtier;
    for (size_t i = 0; i < t->n_nodes; i++) {
        struct mtp_node *n = &t->nodes[i];

        if (!n->has_memory)
            n->cls = MTP_TIER_NONE;
        else if (n->memtier < 0) /* racing a hotplug; judge it like the fallback */
            n->cls = n->has_cpus ? MTP_TIER_FAST : MTP_TIER_SLOW;
        else
            n->cls = n->memtier == top ? MTP_TIER_FAST : MTP_TIER_SLOW;
    }
    t->source = MTP_TIERS_KERNEL;
}

/*
 * Memory without CPUs that sits further from every CPU than the CPUs' own
 * memory is the signature of CXL or emulated far memory.  Without distances
 * a CPU-less node is still more likely far memory than not, so it is slow.
 */
static void classify_by_distance(struct mtp_tiers *t)
{
    bool any_cpu = false;

    for (size_t i = 0; i < t->n_nodes; i++)
        any_cpu |= t->nodes[i].has_cpus;
    for (size_t i = 0; i < t->n_nodes; i++) {
        struct mtp_node *n = &t->nodes[i];
        unsigned nearest = UINT_MAX, local = 0;

        if (!n->has_memory) {
            n->cls = MTP_TIER_NONE;
            continue;
        }
        if (n->has_cpus || !any_cpu) {
            n->cls = MTP_TIER_FAST;
            continue;
        }
        if (!t->have_distance) {
            n->cls = MTP_TIER_SLOW;
            continue;
        }
        for (size_t c = 0; c < t->n_nodes; c++) {
            if (t->nodes[c].has_cpus && t->distance[c][i] < nearest) {
                nearest = t->distance[c][i];
                local = t->distance[c][c];
            }
        }
        n->cls = nearest > local ? MTP_TIER_SLOW : MTP_TIER_FAST;
    }
    t->source = MTP_TIERS_DISTANCE;
}

int mtp_tiers_discover(struct mtp_tiers *out, const struct mtp_sysfs *sys, char *err, size_t errlen)
{
    struct mtp_tiers *t;
    char *buf;
    int rc;

    /* the tables are large for a stack frame, and out must stay untouched
     * on error */
    t = calloc(1, sizeof(*t));
    buf = malloc(SYSFS_BUF);
    if (!t || !buf) {
        free(t);
        free(buf);
        mtp_set_err(err, errlen, "out of memory");
        return -ENOMEM;
    }
    rc = discover_nodes(t, sys, buf, err, errlen);
    if (!rc)
        rc = discover_kernel_tiers(t, sys, buf, err, errlen);
    if (!rc) {
        if (t->n_kernel_tiers >= 2)
            classify_by_kernel_tiers(t);
        else
            classify_by_distance(t);
        *out = *t;
    }
    free(buf);
    free(t);
    return rc;
}

const struct mtp_node *mtp_tiers_node(const struct mtp_tiers *tiers, int id)
{
    int i = node_index(tiers, id);

    return i < 0 ? NULL : &tiers->nodes[i];
}

enum mtp_tier_class mtp_tiers_class(const struct mtp_tiers *tiers, int id)
{
    const struct mtp_node *n = id < 0 ? NULL : mtp_tiers_node(tiers, id);

    return n ? n->cls : MTP_TIER_NONE;
}

/* Parses one override option into a mask of known nodes with memory. */
static int parse_override(const struct mtp_tiers *t, const char *opt, const char *list,
                          struct mtp_nodemask *m, char *err, size_t errlen)
{
    char why[160];

    if (!*list || (list[0] == '\n' && !list[1])) {
        mtp_set_err(err, errlen, "%s is empty; give node ids such as 0 or 0-1", opt);
        return -EINVAL;
    }
    if (mtp_nodelist_parse(list, MTP_NODE_ID_LIMIT, m, why, sizeof(why))) {
        mtp_set_err(err, errlen, "%s: %s", opt, why);
        return -EINVAL;
    }
    for (unsigned id = 0; id < MTP_NODE_ID_LIMIT; id++) {
        const struct mtp_node *n;

        if (!mtp_nodemask_test(m, id))
            continue;
        n = mtp_tiers_node(t, (int)id);
        if (!n) {
            struct mtp_nodemask known;
            char names[128];

            memset(&known, 0, sizeof(known));
            for (size_t i = 0; i < t->n_nodes; i++)
                mtp_nodemask_set(&known, (unsigned)t->nodes[i].id);
            mtp_nodemask_format(&known, names, sizeof(names));
            mtp_set_err(err, errlen, "%s names node %u, which does not exist (nodes: %s)", opt, id,
                        names);
            return -ENOENT;
        }
        if (!n->has_memory) {
            mtp_set_err(err, errlen, "%s names node %u, which has no memory", opt, id);
            return -EINVAL;
        }
    }
    return 0;
}

int mtp_tiers_override(struct mtp_tiers *tiers, const char *fast_list, const char *slow_list,
                       char *err, size_t errlen)
{
    struct mtp_nodemask fast, slow;
    enum mtp_tier_class cls[MTP_TIERS_MAX_NODES];
    size_t n_fast = 0;
    int rc;

    if (!fast_list && !slow_list)
        return 0;
    if (fast_list && (rc = parse_override(tiers, "--fast-nodes", fast_list, &fast, err, errlen)))
        return rc;
    if (slow_list && (rc = parse_override(tiers, "--slow-nodes", slow_list, &slow, err, errlen)))
        return rc;
    for (size_t i = 0; i < tiers->n_nodes; i++) {
        const struct mtp_node *n = &tiers->nodes[i];
        bool in_fast = fast_list && mtp_nodemask_test(&fast, (unsigned)n->id);
        bool in_slow = slow_list && mtp_nodemask_test(&slow, (unsigned)n->id);

        if (in_fast && in_slow) {
            mtp_set_err(err, errlen, "node %d is in both --fast-nodes and --slow-nodes", n->id);
            return -EINVAL;
        }
        if (!n->has_memory)
            cls[i] = MTP_TIER_NONE;
        else if (in_fast)
            cls[i] = MTP_TIER_FAST;
        else if (in_slow)
            cls[i] = MTP_TIER_SLOW;
        else if (fast_list && slow_list)
            cls[i] = MTP_TIER_NONE;
        else
            cls[i] = fast_list ? MTP_TIER_SLOW : MTP_TIER_FAST;
        n_fast += cls[i] == MTP_TIER_FAST;
    }
    if (!n_fast) {
        mtp_set_err(err, errlen, "no fast node left: --slow-nodes %s covers every node with memory",
                    slow_list ? slow_list : "");
        return -EINVAL;
    }
    for (size_t i = 0; i < tiers->n_nodes; i++)
        tiers->nodes[i].cls = cls[i];
    tiers->source = MTP_TIERS_OVERRIDE;
    return 0;
}

int mtp_tiers_pick(const struct mtp_tiers *tiers, int *fast_node, int *slow_node)
{
    int fast = -1, slow = -1, fast_idx = -1;
    long best_tier = LONG_MAX;
    unsigned best_dist = UINT_MAX;

    for (size_t i = 0; i < tiers->n_nodes; i++) {
        const struct mtp_node *n = &tiers->nodes[i];

        if (n->cls != MTP_TIER_FAST)
            continue;
        /* promoted pages belong next to the CPUs that touch them */
        if (fast < 0 || (n->has_cpus && !tiers->nodes[fast_idx].has_cpus)) {
            fast = n->id;
            fast_idx = (int)i;
        }
    }
    if (fast < 0)
        return -ENODEV;
    for (size_t i = 0; i < tiers->n_nodes; i++) {
        const struct mtp_node *n = &tiers->nodes[i];
        long tier = n->memtier < 0 ? LONG_MAX : n->memtier;
        unsigned dist = tiers->have_distance ? tiers->distance[fast_idx][i] : 0;

        if (n->cls != MTP_TIER_SLOW)
            continue;
        /* ascending ids make the lowest id win the remaining ties */
        if (slow < 0 || tier < best_tier || (tier == best_tier && dist < best_dist)) {
            slow = n->id;
            best_tier = tier;
            best_dist = dist;
        }
    }
    if (slow < 0)
        return -ENODEV;
    *fast_node = fast;
    *slow_node = slow;
    return 0;
}

static bool has_class(const struct mtp_tiers *t, enum mtp_tier_class c)
{
    for (size_t i = 0; i < t->n_nodes; i++)
        if (t->nodes[i].cls == c)
            return true;
    return false;
}

static const char *class_name(enum mtp_tier_class c)
{
    switch (c) {
    case MTP_TIER_FAST:
        return "fast";
    case MTP_TIER_SLOW:
        return "slow";
    case MTP_TIER_NONE:
        break;
    }
    return "-";
}

int mtp_tiers_format(const struct mtp_tiers *tiers, char *buf, size_t len)
{
    struct mtp_strbuf k = {buf, len, 0};
    int fast, slow;

    if (buf && len)
        buf[0] = '\0';
    mtp_strbuf_printf(&k, "node  cpus  memory  tier  class  distances\n");
    for (size_t i = 0; i < tiers->n_nodes; i++) {
        const struct mtp_node *n = &tiers->nodes[i];
        char tier[16] = "-";

        if (n->memtier >= 0)
            snprintf(tier, sizeof(tier), "%d", n->memtier);
        mtp_strbuf_printf(&k, "%4d  %-4s  %-6s  %4s  %-5s ", n->id, n->has_cpus ? "yes" : "no",
                          n->has_memory ? "yes" : "no", tier, class_name(n->cls));
        if (tiers->have_distance)
            for (size_t j = 0; j < tiers->n_nodes; j++)
                mtp_strbuf_printf(&k, " %u", tiers->distance[i][j]);
        else
            mtp_strbuf_printf(&k, " ?");
        mtp_strbuf_printf(&k, "\n");
    }
    switch (tiers->source) {
    case MTP_TIERS_KERNEL:
        mtp_strbuf_printf(&k,
                          "classified by: kernel memory tiers (%u tiers; lowest tier is fast)\n",
                          tiers->n_kernel_tiers);
        break;
    case MTP_TIERS_DISTANCE:
        mtp_strbuf_printf(
            &k,
            "classified by: CPUs and distances (%u kernel tier%s; CPU-less far nodes are "
            "slow)\n",
            tiers->n_kernel_tiers, tiers->n_kernel_tiers == 1 ? "" : "s");
        break;
    case MTP_TIERS_OVERRIDE:
        mtp_strbuf_printf(&k, "classified by: --fast-nodes/--slow-nodes\n");
        break;
    }
    if (!mtp_tiers_pick(tiers, &fast, &slow))
        mtp_strbuf_printf(&k, "targets: promote to node %d, demote to node %d\n", fast, slow);
    else
        mtp_strbuf_printf(
            &k, "targets: none -- no %s node; name nodes with --fast-nodes/--slow-nodes\n",
            has_class(tiers, MTP_TIER_FAST) ? "slow" : "fast");
    return mtp_strbuf_result(&k);
}
