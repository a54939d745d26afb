/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "zoneinfo.h"

/* Shaped like a real /proc/zoneinfo (Linux 6.12, two-socket host with a
 * CPU-less CXL node 2), cut short: per-node stats and per-CPU pagesets, whose
 * "high:" lines are another limit, stay in so the parser must skip them. */
static const char ZONEINFO[] = "Node 0, zone      DMA\n"
                               "  per-node stats\n"
                               "      nr_inactive_anon 198928\n"
                               "      nr_active_anon 394\n"
                               "  pages free     3840\n"
                               "        boost    0\n"
                               "        min      10\n"
                               "        low      13\n"
                               "        high     16\n"
                               "        promo    19\n"
                               "        spanned  4095\n"
                               "        present  3998\n"
                               "        managed  3840\n"
                               "        cma      0\n"
                               "        protection: (0, 3019, 24090, 24090, 24090)\n"
                               "      nr_free_pages 3840\n"
                               "  pagesets\n"
                               "    cpu: 0\n"
                               "              count:    0\n"
                               "              high:     0\n"
                               "              batch:    1\n"
                               "              high_min: 6\n"
                               "              high_max: 240\n"
                               "  vm stats threshold: 4\n"
                               "  node_unreclaimable:  1\n"
                               "  start_pfn:           1\n"
                               "Node 0, zone    DMA32\n"
                               "  pages free     772838\n"
                               "        boost    0\n"
                               "        min      2116\n"
                               "        low      2888\n"
                               "        high     3660\n"
                               "        managed  772838\n"
                               "  pagesets\n"
                               "    cpu: 0\n"
                               "              count:    12\n"
                               "              high:     1444\n"
                               "              batch:    63\n"
                               "  start_pfn:           4096\n"
                               "Node 0, zone   Normal\n"
                               "  pages free     5012345\n"
                               "        min      14769\n"
                               "        low      20163\n"
                               "        high     25557\n"
                               "        managed  7864320\n"
                               "  pagesets\n"
                               "    cpu: 0\n"
                               "              high:     21279\n"
                               "Node 0, zone  Movable\n"
                               "  pages free     0\n"
                               "        min      32\n"
                               "        low      32\n"
                               "        high     32\n"
                               "        managed  0\n"
                               "Node 0, zone   Device\n"
                               "  pages free     0\n"
                               "        min      0\n"
                               "        low      0\n"
                               "        high     0\n"
                               "Node 1, zone   Normal\n"
                               "  per-node stats\n"
                               "      nr_inactive_anon 1000\n"
                               "  pages free     8000000\n"
                               "        min      16000\n"
                               "        low      22000\n"
                               "        high     28000\n"
                               "  pagesets\n"
                               "    cpu: 8\n"
                               "              high:     99999\n"
                               "Node 1, zone  Movable\n"
                               "  pages free     0\n"
                               "        high     0\n"
                               "Node 2, zone  Movable\n"
                               "  pages free     4194304\n"
                               "        min      900\n"
                               "        low      1200\n"
                               "        high     1500\n";

static int high(const char *text, int node, uint64_t *bytes, char *err, size_t errlen)
{
    return mtp_zoneinfo_watermark_bytes(text, node, MTP_ZONE_HIGH, 4096, bytes, err, errlen);
}

static void test_sums_every_zone_of_the_node(void **state)
{
    uint64_t bytes = 0;
    char err[256] = "";

    (void)state;
    assert_int_equal(high(ZONEINFO, 0, &bytes, err, sizeof(err)), 0);
    assert_int_equal(bytes, (16ULL + 3660 + 25557 + 32 + 0) * 4096);
    assert_int_equal(high(ZONEINFO, 1, &bytes, err, sizeof(err)), 0);
    assert_int_equal(bytes, 28000ULL * 4096);
    assert_int_equal(high(ZONEINFO, 2, &bytes, err, sizeof(err)), 0);
    assert_int_equal(bytes, 1500ULL * 4096);
    /* the page size is the caller's */
    assert_int_equal(
        mtp_zoneinfo_watermark_bytes(ZONEINFO, 2, MTP_ZONE_HIGH, 65536, &bytes, err, sizeof(err)),
        0);
    assert_int_equal(bytes, 1500ULL * 65536);
}

/* --watermark auto's: each zone's "low" line, not "high" nor the pagesets' */
static void test_low_and_min_marks(void **state)
{
    uint64_t bytes = 0;
    char err[256] = "";

    (void)state;
    assert_int_equal(
        mtp_zoneinfo_watermark_bytes(ZONEINFO, 0, MTP_ZONE_LOW, 4096, &bytes, err, sizeof(err)), 0);
    assert_int_equal(bytes, (13ULL + 2888 + 20163 + 32 + 0) * 4096);
    assert_int_equal(
        mtp_zoneinfo_watermark_bytes(ZONEINFO, 2, MTP_ZONE_MIN, 4096, &bytes, err, sizeof(err)), 0);
    assert_int_equal(bytes, 900ULL * 4096);
    /* node 1's Movable zone has a high line only */
    assert_int_equal(
        mtp_zoneinfo_watermark_bytes(ZONEINFO, 1, MTP_ZONE_LOW, 4096, &bytes, err, sizeof(err)),
        -EINVAL);
    assert_non_null(strstr(err, "zone Movable has no low watermark"));
}

static void test_this_hosts_shape(void **state)
{
    /* one node, the last line without a newline */
    static const char one[] = "Node 0, zone   Normal\n"
                              "  pages free     100\n"
                              "        high     7";
    uint64_t bytes = 0;

    (void)state;
    assert_int_equal(high(one, 0, &bytes, NULL, 0), 0);
    assert_int_equal(bytes, 7 * 4096);
}

/* The two-tier guest's node 0 (kernel 6.12, QEMU, 969 MiB): its DMA zone
 * keeps 947 pages above its low watermark from allocations that could use
 * DMA32, so user pages stop 3.7 MiB above the sum of the lows. */
static const char GUEST[] = "Node 0, zone      DMA\n"
                            "  pages free     3776\n"
                            "        low      160\n"
                            "        present  3998\n"
                            "        managed  3840\n"
                            "        protection: (0, 947, 947, 947, 947)\n"
                            "Node 0, zone    DMA32\n"
                            "  pages free     234254\n"
                            "        low      10167\n"
                            "        managed  244359\n"
                            "        protection: (0, 0, 0, 0, 0)\n"
                            "Node 0, zone   Normal\n"
                            "  pages free     0\n"
                            "        low      0\n"
                            "        managed  0\n"
                            "        protection: (0, 0, 0, 0, 0)\n"
                            "Node 0, zone  Movable\n"
                            "  pages free     0\n"
                            "        low      32\n"
                            "        managed  0\n"
                            "        protection: (0, 0, 0, 0, 0)\n"
                            "Node 1, zone    DMA32\n"
                            "        low      10790\n"
                            "        managed  257963\n"
                            "        protection: (0, 0, 0, 0, 0)";

static void test_user_floor_adds_the_lower_zones_reserve(void **state)
{
    uint64_t bytes = 0;
    char err[256] = "";

    (void)state;
    assert_int_equal(mtp_zoneinfo_user_floor_bytes(GUEST, 0, 4096, &bytes, err, sizeof(err)), 0);
    /* DMA: low 160 + 947; DMA32: its low; the empty zones hold nothing back */
    assert_int_equal(bytes, (160ULL + 947 + 10167) * 4096);
    assert_int_equal(mtp_zoneinfo_user_floor_bytes(GUEST, 1, 4096, &bytes, err, sizeof(err)), 0);
    assert_int_equal(bytes, 10790ULL * 4096);
    /* a reserve larger than the zone keeps the whole zone, no more: this
     * host's DMA (3840 pages, reserve 24090) */
    assert_int_equal(mtp_zoneinfo_user_floor_bytes(ZONEINFO, 0, 4096, &bytes, err, sizeof(err)), 0);
    assert_int_equal(bytes, (3840ULL + 2888 + 20163 + 0 + 0) * 4096);
    assert_int_equal(mtp_zoneinfo_user_floor_bytes(ZONEINFO, 3, 4096, &bytes, err, sizeof(err)),
                     -ENOENT);
}

static void test_user_floor_malformed(void **state)
{
    uint64_t bytes = 7;
    char err[256] = "";
    static const char *const bad[] = {
        "Node 0, zone DMA\n        low 5\n        protection: (0, x)\n",
        "Node 0, zone DMA\n        low 5\n        protection: (0, 4\n",
        "Node 0, zone DMA\n        low 5\n        protection: (0,4)\n",
        "Node 0, zone DMA\n        low 5\n        managed z\n",
        "Node 0, zone DMA\n        low q\n",
        "Node 0, zone DMA\n        managed 5\n", /* no low */
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(mtp_zoneinfo_user_floor_bytes(bad[i], 0, 4096, &bytes, err, sizeof(err)),
                         -EINVAL);
        assert_int_equal(bytes, 7);
    }
}

static void test_missing_node(void **state)
{
    uint64_t bytes = 12345;
    char err[256] = "";

    (void)state;
    assert_int_equal(high(ZONEINFO, 3, &bytes, err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, "no zone of node 3"));
    assert_int_equal(bytes, 12345); /* untouched on error */
    assert_int_equal(high("", 0, &bytes, err, sizeof(err)), -ENOENT);
    /* node 1 is no prefix match for node 10 */
    assert_int_equal(high("Node 10, zone Normal\n        high 5\n", 1, &bytes, err, sizeof(err)),
                     -ENOENT);
}

static void expect_bad(const char *text, int node, const char *needle)
{
    uint64_t bytes = 12345;
    char err[256] = "";

    if (high(text, node, &bytes, err, sizeof(err)) != -EINVAL)
        fail_msg("accepted: %s", text);
    if (!strstr(err, needle))
        fail_msg("error '%s' does not mention '%s'", err, needle);
    assert_int_equal(bytes, 12345);
}

static void test_malformed(void **state)
{
    (void)state;
    /* a zone of the node without its high line: in the middle and at the end */
    expect_bad("Node 0, zone DMA\n  pages free 1\nNode 0, zone Normal\n        high 5\n", 0,
               "zone DMA has no high watermark");
    expect_bad("Node 0, zone DMA\n        high 5\nNode 0, zone Normal\n  pages free 1\n", 0,
               "zone Normal has no high watermark");
    /* only the pagesets' "high:", which is not the watermark */
    expect_bad("Node 0, zone Normal\n    cpu: 0\n              high:     5\n", 0,
               "has no high watermark");
    expect_bad("Node 0, zone Normal\n        high     lots\n", 0, "line 2");
    expect_bad("Node 0, zone Normal\n        high     -5\n", 0, "not a number");
    expect_bad("Node 0, zone Normal\n        high     5 pages\n", 0, "not a number");
    expect_bad("Node 0, zone Normal\n        high     99999999999999999999999\n", 0,
               "not a number");
    expect_bad("Node x, zone Normal\n        high 5\n", 0, "line 1");
    expect_bad("Node 0 zone Normal\n        high 5\n", 0, "Node N, zone NAME");
    expect_bad("Node 0, zone\n        high 5\n", 0, "line 1");
}

static void test_other_nodes_malformed_zone_is_not_ours(void **state)
{
    /* a broken value in another node's zone does not matter to this one */
    static const char text[] = "Node 0, zone Normal\n        high     9\n"
                               "Node 1, zone Normal\n        high     lots\n";
    uint64_t bytes = 0;

    (void)state;
    assert_int_equal(high(text, 0, &bytes, NULL, 0), 0);
    assert_int_equal(bytes, 9 * 4096);
}

/* The pagesets summed over zones and CPUs: held ("count:") and the most
 * they may hold (each CPU's "high_max:" where it has one, else "high:"). */
static void test_free_lists_of_the_node(void **state)
{
    struct mtp_free_lists l = {0};
    char err[256] = "";

    (void)state;
    assert_int_equal(mtp_zoneinfo_free_lists(ZONEINFO, 0, 4096, &l, err, sizeof(err)), 0);
    assert_int_equal(l.held_bytes, (0ULL + 12) * 4096);
    /* DMA's CPU has high_max 240 (its high 0), DMA32's and Normal's only high */
    assert_int_equal(l.limit_bytes, (240ULL + 1444 + 21279) * 4096);
    assert_int_equal(l.managed_bytes, (3840ULL + 772838 + 7864320 + 0) * 4096);
    assert_int_equal(mtp_zoneinfo_free_lists(ZONEINFO, 1, 4096, &l, err, sizeof(err)), 0);
    assert_int_equal(l.limit_bytes, 99999ULL * 4096);
    assert_int_equal(l.held_bytes, 0);
    /* the guest's fixture has no pagesets: nothing held, nothing allowed */
    assert_int_equal(mtp_zoneinfo_free_lists(GUEST, 0, 4096, &l, err, sizeof(err)), 0);
    assert_int_equal(l.limit_bytes, 0);
    assert_int_equal(l.managed_bytes, (3840ULL + 244359) * 4096);
}

static void test_free_lists_two_cpus_and_malformed(void **state)
{
    static const char two[] = "Node 0, zone Normal\n"
                              "        high     500\n" /* the watermark, not a list */
                              "        managed  1000\n"
                              "  pagesets\n"
                              "    cpu: 0\n"
                              "              count:    7\n"
                              "              high:     50\n"
                              "              batch:    63\n"
                              "              high_min: 20\n"
                              "              high_max: 90\n"
                              "    cpu: 1\n"
                              "              count:    3\n"
                              "              high:     60\n"
                              "              high_max: 40\n";
    struct mtp_free_lists l = {1, 2, 3};
    char err[256] = "";

    (void)state;
    assert_int_equal(mtp_zoneinfo_free_lists(two, 0, 4096, &l, err, sizeof(err)), 0);
    assert_int_equal(l.held_bytes, 10 * 4096);
    assert_int_equal(l.limit_bytes, (90 + 40) * 4096);
    assert_int_equal(l.managed_bytes, 1000 * 4096);
    l = (struct mtp_free_lists){1, 2, 3};
    assert_int_equal(mtp_zoneinfo_free_lists(two, 4, 4096, &l, err, sizeof(err)), -ENOENT);
    assert_int_equal(
        mtp_zoneinfo_free_lists("Node 0, zone DMA\n    count: x\n", 0, 4096, &l, err, sizeof(err)),
        -EINVAL);
    assert_non_null(strstr(err, "zone DMA"));
    assert_int_equal(mtp_zoneinfo_free_lists("Node 0, zone DMA\n    high_max: -1\n", 0, 4096, &l,
                                             err, sizeof(err)),
                     -EINVAL);
    assert_int_equal(mtp_zoneinfo_free_lists("Node x, zone DMA\n", 0, 4096, &l, err, sizeof(err)),
                     -EINVAL);
    /* untouched on error */
    assert_int_equal(l.held_bytes, 1);
    assert_int_equal(l.limit_bytes, 2);
}

/* Real: this kernel's own /proc/zoneinfo parses, its node 0's managed
 * memory is some of MemTotal (every zone counted once; on this VM a third
 * of it: the rest is not in the zones' managed counts), and its CPUs' lists
 * have a limit. */
static void test_free_lists_of_this_kernel(void **state)
{
    static char text[1 << 20];
    unsigned long long mem_kb = 0;
    struct mtp_free_lists l = {0};
    char err[256] = "", line[256];
    size_t n;
    FILE *f;

    (void)state;
    if (!(f = fopen("/proc/zoneinfo", "r")))
        skip();
    n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    if (!(f = fopen("/proc/meminfo", "r")))
        skip();
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "MemTotal: %llu kB", &mem_kb) == 1)
            break;
    fclose(f);
    assert_int_equal(mtp_zoneinfo_free_lists(text, 0, 4096, &l, err, sizeof(err)), 0);
    assert_true(l.managed_bytes <= mem_kb * 1024);
    assert_true(l.managed_bytes > 0);
    assert_true(l.limit_bytes > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sums_every_zone_of_the_node),
        cmocka_unit_test(test_low_and_min_marks),
        cmocka_unit_test(test_this_hosts_shape),
        cmocka_unit_test(test_user_floor_adds_the_lower_zones_reserve),
        cmocka_unit_test(test_user_floor_malformed),
        cmocka_unit_test(test_missing_node),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_other_nodes_malformed_zone_is_not_ours),
        cmocka_unit_test(test_free_lists_of_the_node),
        cmocka_unit_test(test_free_lists_two_cpus_and_malformed),
        cmocka_unit_test(test_free_lists_of_this_kernel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
