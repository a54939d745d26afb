/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tiers.h"

/* ---- a seam over a recorded /sys tree under tests/data ---- */

static char data_dir[512];

/* The tests run from the repository root (make) or from anywhere when
 * MTP_TEST_DATA says where the trees are. */
static void find_data_dir(void)
{
    const char *env = getenv("MTP_TEST_DATA");
    const char *slash;

    if (env) {
        snprintf(data_dir, sizeof(data_dir), "%s", env);
        return;
    }
    /* __FILE__ is tests/unit/test_tiers.c; the trees are in tests/data */
    slash = strstr(__FILE__, "unit/test_tiers.c");
    snprintf(data_dir, sizeof(data_dir), "%.*sdata", slash ? (int)(slash - __FILE__) : 0, __FILE__);
}

struct tree {
    char root[600];
    int reads; /* proves the seam, not the real /sys, was used */
};

static int tree_path(const struct tree *t, const char *path, char *out, size_t len)
{
    if (strncmp(path, "/sys/", 5))
        return -EINVAL;
    snprintf(out, len, "%s/%s", t->root, path + 5);
    return 0;
}

static int tree_read(void *ctx, const char *path, char *buf, size_t len)
{
    struct tree *t = ctx;
    char full[1200];
    ssize_t n;
    int fd;

    if (tree_path(t, path, full, sizeof(full)))
        return -EINVAL;
    fd = open(full, O_RDONLY);
    if (fd < 0)
        return -errno;
    n = read(fd, buf, len);
    close(fd);
    t->reads++;
    return n < 0 ? -errno : (int)n;
}

static int tree_list(void *ctx, const char *path, mtp_dir_entry_fn fn, void *arg)
{
    struct tree *t = ctx;
    char full[1200];
    struct dirent *de;
    DIR *d;

    if (tree_path(t, path, full, sizeof(full)))
        return -EINVAL;
    d = opendir(full);
    if (!d)
        return -errno;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (fn(arg, de->d_name))
            break;
    }
    closedir(d);
    return 0;
}

static void load_tree(const char *name, struct mtp_tiers *t)
{
    struct tree tr = {.reads = 0};
    struct mtp_sysfs sys = {tree_read, tree_list, &tr};
    char err[256] = "";
    int rc;

    snprintf(tr.root, sizeof(tr.root), "%s/%s", data_dir, name);
    rc = mtp_tiers_discover(t, &sys, err, sizeof(err));
    if (rc)
        fail_msg("%s: discover failed (%d): %s", tr.root, rc, err);
    assert_true(tr.reads > 0);
}

/* ---- an in-memory seam for cases no machine here can record ---- */

struct fake_file {
    const char *path;
    const char *text; /* NULL: reading fails with err */
    int err;
};

struct fake {
    const struct fake_file *files;
    size_t n;
    const char *unlistable; /* a directory whose listing fails */
};

static int fake_read(void *ctx, const char *path, char *buf, size_t len)
{
    const struct fake *f = ctx;

    for (size_t i = 0; i < f->n; i++) {
        size_t n;

        if (strcmp(f->files[i].path, path))
            continue;
        if (!f->files[i].text)
            return -f->files[i].err;
        n = strlen(f->files[i].text);
        if (n > len)
            n = len;
        memcpy(buf, f->files[i].text, n);
        return (int)n;
    }
    return -ENOENT;
}

/* Directories are implied by file paths; each child is reported once. */
static int fake_list(void *ctx, const char *path, mtp_dir_entry_fn fn, void *arg)
{
    const struct fake *f = ctx;
    size_t plen = strlen(path);
    char seen[64][64];
    size_t n_seen = 0;

    if (f->unlistable && !strcmp(path, f->unlistable))
        return -EACCES;
    for (size_t i = 0; i < f->n; i++) {
        const char *p = f->files[i].path, *end;
        char name[64];
        bool dup = false;

        if (strncmp(p, path, plen) || p[plen] != '/')
            continue;
        p += plen + 1;
        end = strchr(p, '/');
        snprintf(name, sizeof(name), "%.*s", end ? (int)(end - p) : (int)strlen(p), p);
        for (size_t j = 0; j < n_seen; j++)
            dup |= !strcmp(seen[j], name);
        if (dup)
            continue;
        assert_true(n_seen < 64);
        strcpy(seen[n_seen++], name);
        if (fn(arg, name))
            break;
    }
    return n_seen ? 0 : -ENOENT;
}

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define NODE         "/sys/devices/system/node/"
#define TIERS        "/sys/devices/virtual/memory_tiering/"

static int fake_discover(const struct fake_file *files, size_t n, struct mtp_tiers *t, char *err,
                         size_t errlen)
{
    struct fake f = {files, n, NULL};
    struct mtp_sysfs sys = {fake_read, fake_list, &f};

    return mtp_tiers_discover(t, &sys, err, errlen);
}

static struct mtp_nodemask mask_of(const char *s)
{
    struct mtp_nodemask m;
    char err[128] = "";

    if (mtp_nodelist_parse(s, MTP_NODE_ID_LIMIT, &m, err, sizeof(err)))
        fail_msg("\"%s\": %s", s, err);
    return m;
}

static const char *fmt_mask(const struct mtp_nodemask *m)
{
    static char buf[256];

    mtp_nodemask_format(m, buf, sizeof(buf));
    return buf;
}

/* ---- nodelist ---- */

static void test_nodelist_valid(void **state)
{
    struct mtp_nodemask m;

    (void)state;
    m = mask_of("0-1,4,6-7");
    assert_int_equal(mtp_nodemask_count(&m), 5);
    assert_true(mtp_nodemask_test(&m, 0) && mtp_nodemask_test(&m, 1) && mtp_nodemask_test(&m, 4));
    assert_false(mtp_nodemask_test(&m, 2) || mtp_nodemask_test(&m, 5) || mtp_nodemask_test(&m, 8));
    assert_string_equal(fmt_mask(&m), "0-1,4,6-7");

    m = mask_of("0-1,4,6-7\n");
    assert_string_equal(fmt_mask(&m), "0-1,4,6-7");
    m = mask_of("");
    assert_int_equal(mtp_nodemask_count(&m), 0);
    m = mask_of("\n"); /* a CPU-less node's cpulist */
    assert_int_equal(mtp_nodemask_count(&m), 0);
    assert_string_equal(fmt_mask(&m), "");
    m = mask_of("3-3");
    assert_string_equal(fmt_mask(&m), "3");
    m = mask_of("5,1,3,2");
    assert_string_equal(fmt_mask(&m), "1-3,5");
    m = mask_of("1023");
    assert_true(mtp_nodemask_test(&m, 1023));
    assert_false(mtp_nodemask_test(&m, 1024)); /* out of range reads as clear */
    m = mask_of("0-1023");
    assert_int_equal(mtp_nodemask_count(&m), 1024);
    assert_string_equal(fmt_mask(&m), "0-1023");
}

static void test_nodelist_errors(void **state)
{
    static const struct {
        const char *in;
        int rc;
        const char *needle;
    } bad[] = {
        {"3-1", -EINVAL, "backwards range 3-1"},
        {"1,,2", -EINVAL, "no number at \",2\""},
        {"1-", -EINVAL, "no number"},
        {"-1", -EINVAL, "no number"},
        {"1,2,", -EINVAL, "no number"},
        {"a", -EINVAL, "no number"},
        {"1 2", -EINVAL, "junk at \" 2\""},
        {"0-1\n\n", -EINVAL, "junk"},
        {"1024", -ERANGE, "1024 or more"},
        {"0-1024", -ERANGE, "1024 or more"},
        {"99999999999999999999999", -ERANGE, "or more"},
    };
    struct mtp_nodemask m = mask_of("7"), before = m;
    char err[160];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(mtp_nodelist_parse(bad[i].in, MTP_NODE_ID_LIMIT, &m, err, sizeof(err)),
                         bad[i].rc);
        if (!strstr(err, bad[i].needle))
            fail_msg("\"%s\": message \"%s\" lacks \"%s\"", bad[i].in, err, bad[i].needle);
        assert_memory_equal(&m, &before, sizeof(m));
    }
    /* the caller's limit applies, e.g. to a mask of a few nodes */
    assert_int_equal(mtp_nodelist_parse("4", 4, &m, err, sizeof(err)), -ERANGE);
    assert_int_equal(mtp_nodelist_parse("3", 4, &m, NULL, 0), 0);
}

/* ---- recorded trees ---- */

static void test_host_tree(void **state)
{
    struct mtp_tiers t;
    int fast = -1, slow = -1;
    char out[1024];

    (void)state;
    load_tree("sysfs-host", &t);
    assert_int_equal(t.n_nodes, 1);
    assert_int_equal(t.nodes[0].id, 0);
    assert_true(t.nodes[0].has_cpus);
    assert_true(t.nodes[0].has_memory);
    assert_int_equal(t.nodes[0].memtier, 4);
    assert_int_equal(t.nodes[0].cls, MTP_TIER_FAST);
    assert_int_equal(t.n_kernel_tiers, 1);
    assert_int_equal(t.source, MTP_TIERS_DISTANCE);
    assert_true(t.have_distance);
    assert_int_equal(t.distance[0][0], 10);
    /* one node: nothing to tier with */
    assert_int_equal(mtp_tiers_pick(&t, &fast, &slow), -ENODEV);
    mtp_tiers_format(&t, out, sizeof(out));
    assert_non_null(strstr(out, "targets: none -- no slow node"));
}

/* Every entry of every listing twice: a node named twice is one node (the
 * parser once made two of it; found by tests/fuzz/fuzz_tiers.c). */
static int tree_list_twice(void *ctx, const char *path, mtp_dir_entry_fn fn, void *arg)
{
    int rc = tree_list(ctx, path, fn, arg);

    return rc < 0 ? rc : tree_list(ctx, path, fn, arg);
}

static void test_listed_twice(void **state)
{
    struct tree tr = {.reads = 0};
    struct mtp_sysfs sys = {tree_read, tree_list_twice, &tr};
    struct mtp_tiers t;
    char err[256] = "";

    (void)state;
    snprintf(tr.root, sizeof(tr.root), "%s/%s", data_dir, "sysfs-guest");
    assert_int_equal(mtp_tiers_discover(&t, &sys, err, sizeof(err)), 0);
    assert_int_equal(t.n_nodes, 2);
    assert_int_equal(t.nodes[0].id, 0);
    assert_int_equal(t.nodes[1].id, 1);
}

static void test_guest_tree(void **state)
{
    struct mtp_tiers t;
    int fast = -1, slow = -1;

    (void)state;
    load_tree("sysfs-guest", &t);
    assert_int_equal(t.n_nodes, 2);
    assert_int_equal(t.source, MTP_TIERS_KERNEL);
    assert_int_equal(t.n_kernel_tiers, 2);
    assert_int_equal(t.nodes[0].id, 0);
    assert_true(t.nodes[0].has_cpus);
    assert_int_equal(t.nodes[0].memtier, 4);
    assert_int_equal(t.nodes[0].cls, MTP_TIER_FAST);
    assert_int_equal(t.nodes[1].id, 1);
    assert_false(t.nodes[1].has_cpus);
    assert_int_equal(t.nodes[1].memtier, 72);
    assert_int_equal(t.nodes[1].cls, MTP_TIER_SLOW);
    assert_int_equal(t.distance[0][1], 20);
    assert_int_equal(t.distance[1][0], 20);
    assert_int_equal(mtp_tiers_pick(&t, &fast, &slow), 0);
    assert_int_equal(fast, 0);
    assert_int_equal(slow, 1);
    assert_int_equal(mtp_tiers_class(&t, 1), MTP_TIER_SLOW);
    assert_int_equal(mtp_tiers_class(&t, 2), MTP_TIER_NONE);
    assert_int_equal(mtp_tiers_class(&t, -ENOENT), MTP_TIER_NONE);
    assert_null(mtp_tiers_node(&t, 5));
}

static void test_single_tier_tree_falls_back(void **state)
{
    struct mtp_tiers t;
    int fast = -1, slow = -1;

    (void)state;
    load_tree("sysfs-single-tier", &t);
    assert_int_equal(t.n_nodes, 2);
    assert_int_equal(t.n_kernel_tiers, 1);
    assert_int_equal(t.source, MTP_TIERS_DISTANCE);
    assert_int_equal(t.nodes[0].memtier, 4);
    assert_int_equal(t.nodes[1].memtier, 4);
    assert_int_equal(t.nodes[0].cls, MTP_TIER_FAST);
    assert_int_equal(t.nodes[1].cls, MTP_TIER_SLOW);
    assert_int_equal(mtp_tiers_pick(&t, &fast, &slow), 0);
    assert_int_equal(fast, 0);
    assert_int_equal(slow, 1);
}

static void test_format_guest(void **state)
{
    struct mtp_tiers t;
    char out[1024], tiny[16];
    int need;

    (void)state;
    load_tree("sysfs-guest", &t);
    need = mtp_tiers_format(&t, out, sizeof(out));
    assert_int_equal(need, (int)strlen(out));
    assert_non_null(strstr(out, "node  cpus  memory  tier  class  distances\n"));
    assert_non_null(strstr(out, "   0  yes   yes        4  fast   10 20\n"));
    assert_non_null(strstr(out, "   1  no    yes       72  slow   20 10\n"));
    assert_non_null(strstr(out, "kernel memory tiers (2 tiers"));
    assert_non_null(strstr(out, "targets: promote to node 0, demote to node 1\n"));

    /* sizing call and truncation behave like snprintf */
    assert_int_equal(mtp_tiers_format(&t, NULL, 0), need);
    memset(tiny, 'x', sizeof(tiny));
    assert_int_equal(mtp_tiers_format(&t, tiny, sizeof(tiny)), need);
    assert_int_equal(strlen(tiny), sizeof(tiny) - 1);
    assert_memory_equal(tiny, out, sizeof(tiny) - 1);
}

/* ---- synthetic machines ---- */

static void test_three_kernel_tiers(void **state)
{
    static const struct fake_file files[] = {
        {NODE "node0/cpulist", "0-3\n", 0},
        {NODE "node0/distance", "10 21 14 24\n", 0},
        {NODE "node1/cpulist", "4-7\n", 0},
        {NODE "node1/distance", "21 10 24 14\n", 0},
        {NODE "node2/cpulist", "\n", 0},
        {NODE "node2/distance", "14 24 10 26\n", 0},
        {NODE "node3/cpulist", "\n", 0},
        {NODE "node3/distance", "24 14 26 10\n", 0},
        {NODE "has_memory", "0-3\n", 0},
        {NODE "possible", "0-3\n", 0},
        {TIERS "memory_tier4/nodelist", "0-1\n", 0},
        {TIERS "memory_tier72/nodelist", "3\n", 0},
        {TIERS "memory_tier22/nodelist", "2\n", 0},
        {TIERS "uevent", "", 0},
    };
    struct mtp_tiers t;
    int fast, slow;
    char err[128];

    (void)state;
    assert_int_equal(fake_discover(files, ARRAY_LEN(files), &t, err, sizeof(err)), 0);
    assert_int_equal(t.source, MTP_TIERS_KERNEL);
    assert_int_equal(t.n_kernel_tiers, 3);
    assert_int_equal(t.nodes[0].cls, MTP_TIER_FAST);
    assert_int_equal(t.nodes[1].cls, MTP_TIER_FAST);
    assert_int_equal(t.nodes[2].cls, MTP_TIER_SLOW);
    assert_int_equal(t.nodes[3].cls, MTP_TIER_SLOW);
    assert_int_equal(t.nodes[2].memtier, 22);
    assert_int_equal(mtp_tiers_pick(&t, &fast, &slow), 0);
    assert_int_equal(fast, 0);
    assert_int_equal(slow, 2); /* the faster of the slow tiers */
}

static void test_fallback_distance_rules(void **state)
{
    /* no memory_tiering directory at all (pre-6.1 kernel); node2 is
     * CPU-less but as near as local memory, node3 has no memory, node4 is
     * CPU-less and far */
    static const struct fake_file files[] = {
        {NODE "node0/cpulist", "0-1\n", 0}, {NODE "node0/distance", "10 20 10 20 30\n", 0},
        {NODE "node1/cpulist", "2-3\n", 0}, {NODE "node1/distance", "20 10 20 10 20\n", 0},
        {NODE "node2/cpulist", "\n", 0},    {NODE "node2/distance", "10 20 10 20 30\n", 0},
        {NODE "node3/cpulist", "\n", 0},    {NODE "node3/distance", "20 10 20 10 20\n", 0},
        {NODE "node4/cpulist", "\n", 0},    {NODE "node4/distance", "30 20 30 20 10\n", 0},
        {NODE "has_memory", "0-2,4\n", 0},
    };
    struct mtp_tiers t;
    int fast, slow;
    char err[128];

    (void)state;
    assert_int_equal(fake_discover(files, ARRAY_LEN(files), &t, err, sizeof(err)), 0);
    assert_int_equal(t.n_kernel_tiers, 0);
    assert_int_equal(t.source, MTP_TIERS_DISTANCE);
    assert_int_equal(t.nodes[0].cls, MTP_TIER_FAST);
    assert_int_equal(t.nodes[1].cls, MTP_TIER_FAST);
    assert_int_equal(t.nodes[2].cls, MTP_TIER_FAST);
    assert_false(t.nodes[3].has_memory);
    assert_int_equal(t.nodes[3].cls, MTP_TIER_NONE);
    assert_int_equal(t.nodes[4].cls, MTP_TIER_SLOW);
    assert_int_equal(t.nodes[4].memtier, -1);
    assert_int_equal(mtp_tiers_pick(&t, &fast, &slow), 0);
    assert_int_equal(fast, 0);
    assert_int_equal(slow, 4);
}

static void test_fallback_without_distances(void **state)
{
    /* node1's distance row is short (a node came online between reads) */
    static const struct fake_file files[] = {
        {NODE "node0/cpulist", "0\n", 0}, {NODE "node0/distance", "10 20\n", 0},
        {NODE "node1/cpulist", "\n", 0},  {NODE "node1/distance", "20\n", 0},
        {NODE "node2/cpulist", "1\n", 0}, {NODE "node2/distance", NULL, EACCES},
    };
    struct mtp_tiers t;
    int fast, slow;
    char err[128], out[512];

    (void)state;
    assert_int_equal(fake_discover(files, ARRAY_LEN(files), &t, err, sizeof(err)), 0);
    assert_false(t.have_distance);
    assert_true(t.nodes[1].has_memory); /* no has_memory file: assume memory */
    assert_int_equal(t.nodes[0].cls, MTP_TIER_FAST);
    assert_int_equal(t.nodes[1].cls, MTP_TIER_SLOW);
    assert_int_equal(t.nodes[2].cls, MTP_TIER_FAST);
    assert_int_equal(mtp_tiers_pick(&t, &fast, &slow), 0);
    assert_int_equal(slow, 1);
    mtp_tiers_format(&t, out, sizeof(out));
    assert_non_null(strstr(out, "slow   ?\n"));
}

static void test_discover_errors(void **state)
{
    static const struct fake_file bad_tier[] = {
        {NODE "node0/cpulist", "0\n", 0},
        {TIERS "memory_tier4/nodelist", "0-x\n", 0},
    };
    static const struct fake_file bad_cpulist[] = {
        {NODE "node0/cpulist", "zero\n", 0},
    };
    static const struct fake_file no_cpulist[] = {
        {NODE "node0/cpulist", NULL, EIO},
    };
    static const struct fake_file no_nodes[] = {
        {NODE "has_memory", "\n", 0},
    };
    struct fake unlistable = {bad_tier, ARRAY_LEN(bad_tier), "/sys/devices/system/node"};
    struct mtp_sysfs sys = {fake_read, fake_list, &unlistable};
    struct mtp_tiers t, before;
    char err[256];

    (void)state;
    memset(&t, 0xab, sizeof(t));
    before = t;
    assert_int_equal(mtp_tiers_discover(&t, &sys, err, sizeof(err)), -EACCES);
    assert_non_null(strstr(err, "cannot list /sys/devices/system/node"));
    assert_memory_equal(&t, &before, sizeof(t));

    assert_int_equal(fake_discover(bad_tier, ARRAY_LEN(bad_tier), &t, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "memory_tier4/nodelist"));
    assert_memory_equal(&t, &before, sizeof(t));

    assert_int_equal(fake_discover(bad_cpulist, ARRAY_LEN(bad_cpulist), &t, err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "node0/cpulist"));
    assert_int_equal(fake_discover(no_cpulist, ARRAY_LEN(no_cpulist), &t, err, sizeof(err)), -EIO);
    assert_non_null(strstr(err, "cannot read"));
    assert_int_equal(fake_discover(no_nodes, ARRAY_LEN(no_nodes), &t, err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, "no NUMA nodes"));
}

/* ---- overrides ---- */

static void expect_override_error(const char *tree, const char *fast, const char *slow, int rc,
                                  const char *needle)
{
    struct mtp_tiers t, before;
    char err[256] = "";

    load_tree(tree, &t);
    before = t;
    assert_int_equal(mtp_tiers_override(&t, fast, slow, err, sizeof(err)), rc);
    if (!strstr(err, needle))
        fail_msg("fast=%s slow=%s: message \"%s\" lacks \"%s\"", fast ? fast : "(none)",
                 slow ? slow : "(none)", err, needle);
    assert_memory_equal(&t, &before, sizeof(t));
}

static void test_override_applies(void **state)
{
    struct mtp_tiers t;
    int fast, slow;
    char err[256], out[1024];

    (void)state;
    load_tree("sysfs-guest", &t);
    assert_int_equal(mtp_tiers_override(&t, NULL, NULL, err, sizeof(err)), 0);
    assert_int_equal(t.source, MTP_TIERS_KERNEL);

    /* an experiment with the tiers swapped */
    assert_int_equal(mtp_tiers_override(&t, "1", "0", err, sizeof(err)), 0);
    assert_int_equal(t.source, MTP_TIERS_OVERRIDE);
    assert_int_equal(t.nodes[0].cls, MTP_TIER_SLOW);
    assert_int_equal(t.nodes[1].cls, MTP_TIER_FAST);
    assert_int_equal(mtp_tiers_pick(&t, &fast, &slow), 0);
    assert_int_equal(fast, 1);
    assert_int_equal(slow, 0);
    mtp_tiers_format(&t, out, sizeof(out));
    assert_non_null(strstr(out, "--fast-nodes/--slow-nodes"));

    /* one option alone: every other node forms the other tier */
    load_tree("sysfs-single-tier", &t);
    assert_int_equal(mtp_tiers_override(&t, "0\n", NULL, err, sizeof(err)), 0);
    assert_int_equal(t.nodes[1].cls, MTP_TIER_SLOW);
    load_tree("sysfs-single-tier", &t);
    assert_int_equal(mtp_tiers_override(&t, NULL, "0", err, sizeof(err)), 0);
    assert_int_equal(t.nodes[0].cls, MTP_TIER_SLOW);
    assert_int_equal(t.nodes[1].cls, MTP_TIER_FAST);
}

static void test_override_leaves_unnamed_nodes_out(void **state)
{
    static const struct fake_file files[] = {
        {NODE "node0/cpulist", "0\n", 0}, {NODE "node1/cpulist", "\n", 0},
        {NODE "node2/cpulist", "\n", 0},  {NODE "node3/cpulist", "\n", 0},
        {NODE "has_memory", "0-2\n", 0},
    };
    struct mtp_tiers t;
    char err[256];

    (void)state;
    assert_int_equal(fake_discover(files, ARRAY_LEN(files), &t, err, sizeof(err)), 0);
    assert_int_equal(mtp_tiers_override(&t, "0", "2", err, sizeof(err)), 0);
    assert_int_equal(t.nodes[0].cls, MTP_TIER_FAST);
    assert_int_equal(t.nodes[1].cls, MTP_TIER_NONE);
    assert_int_equal(t.nodes[2].cls, MTP_TIER_SLOW);
    assert_int_equal(t.nodes[3].cls, MTP_TIER_NONE);

    assert_int_equal(mtp_tiers_override(&t, "0", "3", err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "--slow-nodes names node 3, which has no memory"));
}

static void test_override_errors(void **state)
{
    (void)state;
    expect_override_error("sysfs-guest", "0,3", NULL, -ENOENT,
                          "--fast-nodes names node 3, which does not exist (nodes: 0-1)");
    expect_override_error("sysfs-guest", NULL, "9", -ENOENT, "--slow-nodes names node 9");
    expect_override_error("sysfs-guest", "0-1", "1", -EINVAL,
                          "node 1 is in both --fast-nodes and --slow-nodes");
    expect_override_error("sysfs-guest", "", "1", -EINVAL, "--fast-nodes is empty");
    expect_override_error("sysfs-guest", "0", "\n", -EINVAL, "--slow-nodes is empty");
    expect_override_error("sysfs-guest", "0-", NULL, -EINVAL, "--fast-nodes: list \"0-\"");
    expect_override_error("sysfs-guest", NULL, "0-1", -EINVAL, "no fast node left");
    expect_override_error("sysfs-host", NULL, "0", -EINVAL, "no fast node left");
    expect_override_error("sysfs-guest", "5000", NULL, -EINVAL, "1024 or more");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nodelist_valid),
        cmocka_unit_test(test_nodelist_errors),
        cmocka_unit_test(test_host_tree),
        cmocka_unit_test(test_listed_twice),
        cmocka_unit_test(test_guest_tree),
        cmocka_unit_test(test_single_tier_tree_falls_back),
        cmocka_unit_test(test_format_guest),
        cmocka_unit_test(test_three_kernel_tiers),
        cmocka_unit_test(test_fallback_distance_rules),
        cmocka_unit_test(test_fallback_without_distances),
        cmocka_unit_test(test_discover_errors),
        cmocka_unit_test(test_override_applies),
        cmocka_unit_test(test_override_leaves_unnamed_nodes_out),
        cmocka_unit_test(test_override_errors),
    };

    find_data_dir();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
