// SPDX-License-Identifier: MIT
/* The live view's pure half: numbers that fit their columns, bars, the
 * table's orders, keys, and whole screens at 80x24 and after a resize. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "topview.h"

#include "units.h"

#define PAGE MTP_PAGE_SIZE

static void bytes_and_counts_fit_six_columns(void **state)
{
    char b[8];

    (void)state;
    assert_string_equal(mtp_format_bytes(0, b), "0");
    assert_string_equal(mtp_format_bytes(512, b), "512B");
    assert_string_equal(mtp_format_bytes(1023, b), "1023B");
    assert_string_equal(mtp_format_bytes(10137, b), "9.9K");
    assert_string_equal(mtp_format_bytes(999424, b), "976K");
    assert_string_equal(mtp_format_bytes(12ull << 20, b), "12M");
    assert_string_equal(mtp_format_bytes(1536ull << 20, b), "1.5G");
    assert_string_equal(mtp_top_count(950, b), "950");
    assert_string_equal(mtp_top_count(67073, b), "67.1k");
    assert_string_equal(mtp_top_count(123456789, b), "123M");
    /* Every magnitude, up to the largest, in six characters or fewer. */
    for (uint64_t v = 1; v < UINT64_MAX / 4; v = v * 3 + 1) {
        assert_in_range(strlen(mtp_format_bytes(v, b)), 1, 6);
        assert_in_range(strlen(mtp_top_count(v, b)), 1, 6);
    }
    assert_in_range(strlen(mtp_format_bytes(UINT64_MAX, b)), 1, 6);
    assert_in_range(strlen(mtp_top_count(UINT64_MAX, b)), 1, 6);
}

static void bars_show_shares_and_the_mark(void **state)
{
    char bar[32];

    (void)state;
    mtp_top_bar(bar, 10, 50, 20, 100, 0);
    assert_string_equal(bar, "##---     ");
    mtp_top_bar(bar, 10, 50, 50, 100, 80);
    assert_string_equal(bar, "#####  |  ");
    /* A sliver is drawn, not rounded away; nothing is nothing. */
    mtp_top_bar(bar, 10, 1, 0, 1000000, 0);
    assert_string_equal(bar, "-         ");
    mtp_top_bar(bar, 10, 0, 0, 0, 0);
    assert_string_equal(bar, "          ");
    /* Over the scale (a budget below what is there): full, the mark inside. */
    mtp_top_bar(bar, 10, 200, 0, 100, 100);
    assert_string_equal(bar, "---------|");
}

/* name, live bytes on fast and slow and hot ones (all on fast), in pages
 * for short; heat, observed */
static struct mtp_type_row row(uint16_t id, const char *name, uint64_t fast, uint64_t slow,
                               uint64_t hot, uint64_t heat, uint64_t observed)
{
    struct mtp_type_row t = {.id = id, .observed_bytes = observed};

    snprintf(t.name, sizeof(t.name), "%s", name);
    t.tiers.bytes[MTP_AT_FAST] = fast * PAGE;
    t.tiers.bytes[MTP_AT_SLOW] = slow * PAGE;
    t.tiers.hot_bytes[MTP_AT_FAST] = hot * PAGE;
    t.tiers.pages = fast + slow;
    t.tiers.heat = heat;
    t.tiers.promoted = id;
    t.seen.bytes = observed * 4;
    return t;
}

static struct mtp_type_row rows[] = {
    {0}, {0}, {0}, {0}, {0},
};

static void make_rows(void)
{
    /* As the report lists them: hottest first. */
    rows[0] = row(1, "builtins.list", 400, 0, 380, 90000, 1 << 20);
    rows[1] = row(2, "__main__.HotThing", 240, 0, 240, 80000, 900 << 10);
    rows[2] = row(3, "builtins.int", 1000, 700, 150, 30000, 3 << 20);
    rows[3] = row(4, "__main__.ColdThing", 100, 2400, 0, 0, 5 << 20);
    rows[4] = row(5, "builtins.str", 0, 350, 0, 0, 4 << 20);
}

static const char *sorted_names(enum mtp_top_sort by, char *out, size_t len)
{
    const struct mtp_type_row *order[5];
    size_t used = 0;

    mtp_topview_sort(rows, 5, by, order);
    out[0] = '\0';
    for (int i = 0; i < 5; i++)
        used += (size_t)snprintf(out + used, len - used, "%s%u", i ? " " : "", order[i]->id);
    return out;
}

static void types_sort_by_each_key(void **state)
{
    char got[64];

    (void)state;
    make_rows();
    assert_string_equal(sorted_names(MTP_TOP_BY_HEAT, got, sizeof(got)), "1 2 3 4 5");
    assert_string_equal(sorted_names(MTP_TOP_BY_BYTES, got, sizeof(got)), "4 3 1 5 2");
    assert_string_equal(sorted_names(MTP_TOP_BY_FAST, got, sizeof(got)), "3 1 2 4 5");
    assert_string_equal(sorted_names(MTP_TOP_BY_SLOW, got, sizeof(got)), "4 3 5 1 2");
    assert_string_equal(sorted_names(MTP_TOP_BY_OBSERVED, got, sizeof(got)), "4 5 3 1 2");
    /* Least heat per byte, the largest first: ColdThing's 2500 pages and
     * str's 350 without heat, then int's (17.6 a page), list's, HotThing's. */
    assert_string_equal(sorted_names(MTP_TOP_BY_COLDEST, got, sizeof(got)), "4 5 3 1 2");
    /* Types holding nothing are not cold but absent: last, by type id. */
    rows[4] = row(9, "a", 0, 0, 0, 0, 0);
    rows[3] = row(8, "b", 0, 0, 0, 0, 0);
    assert_string_equal(sorted_names(MTP_TOP_BY_COLDEST, got, sizeof(got)), "3 1 2 8 9");
}

static void keys_sort_switch_and_quit(void **state)
{
    struct mtp_topview v = {0};

    (void)state;
    assert_int_equal(mtp_topview_key(&v, 'b', true), MTP_TOP_REDRAW);
    assert_int_equal(v.sort, MTP_TOP_BY_BYTES);
    assert_int_equal(mtp_topview_key(&v, 'c', false), MTP_TOP_REDRAW);
    assert_int_equal(v.sort, MTP_TOP_BY_COLDEST);
    /* Without tiers f and s would sort by nothing measured. */
    assert_int_equal(mtp_topview_key(&v, 'f', false), MTP_TOP_IGNORED);
    assert_int_equal(mtp_topview_key(&v, 's', false), MTP_TOP_IGNORED);
    assert_int_equal(v.sort, MTP_TOP_BY_COLDEST);
    assert_int_equal(mtp_topview_key(&v, 's', true), MTP_TOP_REDRAW);
    assert_int_equal(v.sort, MTP_TOP_BY_SLOW);
    assert_int_equal(mtp_topview_key(&v, 'o', true), MTP_TOP_REDRAW);
    assert_int_equal(mtp_topview_key(&v, 'h', true), MTP_TOP_REDRAW);
    assert_int_equal(v.sort, MTP_TOP_BY_HEAT);
    assert_int_equal(mtp_topview_key(&v, 'x', true), MTP_TOP_IGNORED);
    assert_int_equal(mtp_topview_key(&v, 'q', true), MTP_TOP_QUIT);
    assert_int_equal(mtp_topview_key(&v, MTP_TOP_KEY_NEXT, true), MTP_TOP_NEXT);
    assert_int_equal(mtp_topview_key(&v, MTP_TOP_KEY_PREV, true), MTP_TOP_PREV);
}

static void pick_wraps_and_follows_exits(void **state)
{
    int pids[] = {10, 20, 30};

    (void)state;
    assert_int_equal(mtp_topview_pick(pids, 3, 0, 0), 10);
    assert_int_equal(mtp_topview_pick(pids, 3, 20, 0), 20);
    assert_int_equal(mtp_topview_pick(pids, 3, 20, 1), 30);
    assert_int_equal(mtp_topview_pick(pids, 3, 30, 1), 10);
    assert_int_equal(mtp_topview_pick(pids, 3, 10, -1), 30);
    /* The shown process exited: the first of those left. */
    assert_int_equal(mtp_topview_pick(pids, 3, 25, 1), 10);
    assert_int_equal(mtp_topview_pick(pids, 0, 25, 1), 0);
}

static struct mtp_report report(const struct mtp_tiering_report *t)
{
    struct mtp_report r = {.pid = 4242, .interval = 12, .elapsed_s = 12.3, .prev_elapsed_s = 11.3};

    make_rows();
    r.types = rows;
    r.types_total = r.types_len = 5;
    r.tiering = t;
    r.totals.wp_state = 4;
    r.totals.wp_cost_ns = 2000000;
    r.totals.records = 62455;
    return r;
}

/* The first line of s holding needle, or -1. */
static int line_of(const struct mtp_top_screen *s, const char *needle)
{
    for (int y = 0; y < s->height; y++)
        if (strstr(mtp_top_line_text(s, y), needle))
            return y;
    return -1;
}

static void every_line_fills_the_width(const struct mtp_top_screen *s)
{
    for (int y = 0; y < s->height; y++)
        assert_int_equal(strlen(mtp_top_line_text(s, y)), s->width);
}

static void one_tier_says_so_at_80x24(void **state)
{
    struct mtp_topview v = {0};
    struct mtp_top_frame fr = {.index = 1, .count = 1, .comm = "python3", .keys = true};
    struct mtp_report r = report(NULL);
    struct mtp_top_screen s;

    (void)state;
    assert_int_equal(mtp_top_screen_init(&s, 80, 24), 0);
    assert_int_equal(mtp_topview_render(&v, &fr, &r, &s), 0);
    every_line_fills_the_width(&s);
    assert_int_equal(line_of(&s, "pid 4242 (python3)"), 0);
    assert_non_null(strstr(mtp_top_line_text(&s, 0), "12.3 s, interval 12"));
    /* No fast/slow bars pretending to measure: one bar, and why. */
    assert_int_equal(line_of(&s, "fast ["), -1);
    assert_int_equal(line_of(&s, "mem  ["), 1);
    assert_int_equal(s.kind[1], MTP_TOP_LINE_BAR);
    assert_int_equal(line_of(&s, "everything on one node"), 2);
    assert_int_equal(line_of(&s, "scan on (stride 4), 0.20% of wall"), 4);
    assert_int_equal(line_of(&s, "coldest __main__.ColdThing 9.8M (0 hot), builtins.str 1.4M"), 5);
    /* the third does not fit whole in 80 columns: left out, not cut */
    assert_null(strstr(mtp_top_line_text(&s, 5), "builtins.i"));
    assert_int_equal(line_of(&s, "TYPE (5 of 5, by heat)"), 6);
    assert_int_equal(s.kind[6], MTP_TOP_LINE_HEADER);
    assert_int_equal(line_of(&s, "builtins.list"), 7);
    assert_int_equal(line_of(&s, "__main__.HotThing"), 8);
    assert_int_equal(line_of(&s, "q quit  sort: h heat b bytes o obs/s c coldest"), 23);
    assert_int_equal(line_of(&s, "f fast"), -1);
    assert_int_equal(line_of(&s, "Tab"), -1);
    mtp_top_screen_free(&s);
}

static void tiers_show_bars_budget_and_moves(void **state)
{
    struct mtp_tiering_report t = {.fast_node = 0, .slow_node = 2, .pingpong_rate = 0.021};
    struct mtp_topview v = {.sort = MTP_TOP_BY_COLDEST};
    struct mtp_top_frame fr = {.index = 2,
                               .count = 3,
                               .comm = "gunicorn",
                               .keys = true,
                               .note = "mtp-trace: pid 4242: written-page scan: on"};
    struct mtp_report r = report(&t);
    struct mtp_top_screen s;
    const char *fast;

    (void)state;
    t.plan.budget_bytes = 2000ull * PAGE;
    t.plan.lazy_n = 3;
    t.moved.promoted = 256;
    t.moved.demoted = 512;
    assert_int_equal(mtp_top_screen_init(&s, 80, 24), 0);
    assert_int_equal(mtp_topview_render(&v, &fr, &r, &s), 0);
    every_line_fills_the_width(&s);
    assert_int_equal(line_of(&s, "pid 4242 (gunicorn), 2 of 3"), 0);
    assert_int_equal(line_of(&s, "fast ["), 1);
    assert_int_equal(line_of(&s, "slow ["), 2);
    fast = mtp_top_line_text(&s, 1);
    /* 1740 fast pages of 5190, 770 hot, the budget's mark at 2000. */
    assert_non_null(strstr(fast, "] 6.8M, 3.0M hot; budget 7.8M"));
    assert_non_null(strchr(fast, '|'));
    assert_true(strchr(fast, '|') > strrchr(fast, '-'));
    assert_non_null(strstr(mtp_top_line_text(&s, 2), "] 13M, 0 hot; nodes 0/2"));
    /* Bytes on pages not located yet are said, not put on a tier. */
    rows[0].tiers.bytes[MTP_AT_UNLOCATED] = 1ull << 20;
    assert_int_equal(mtp_topview_render(&v, &fr, &r, &s), 0);
    assert_non_null(strstr(mtp_top_line_text(&s, 2), "] 13M, 0 hot; 1.0M unlocated; nodes 0/2"));
    assert_int_equal(line_of(&s, "1.0M/s up, 2.0M/s down  ping-pong 2.1%  lazy N 3"), 3);
    /* Sorted by coldness, line 5 names the hottest instead. */
    assert_int_equal(line_of(&s, "hottest builtins.list"), 5);
    assert_int_equal(line_of(&s, "TYPE (5 of 5, by coldest first)"), 6);
    assert_int_equal(line_of(&s, "__main__.ColdThing"), 7);
    assert_non_null(strstr(mtp_top_line_text(&s, 6), "FAST   SLOW   PROM    DEM  OBS/s"));
    assert_int_equal(line_of(&s, "written-page scan: on"), 22);
    assert_int_equal(line_of(&s, "q quit  Tab: process  sort:"), 23);
    assert_int_equal(line_of(&s, "b bytes f fast s slow o obs/s c coldest"), 23);
    mtp_top_screen_free(&s);
}

static void a_resize_fills_the_new_size(void **state)
{
    static struct mtp_type_row many[40];
    struct mtp_topview v = {0};
    struct mtp_top_frame fr = {.index = 1, .count = 1, .keys = false};
    struct mtp_report r = report(NULL);
    struct mtp_top_screen s;

    (void)state;
    for (int i = 0; i < 40; i++) {
        char name[64];

        snprintf(name, sizeof(name), "pkg.module.AQuiteLongClassNameNumber%d", i);
        many[i] = row((uint16_t)(i + 1), name, (uint64_t)i, 0, 0, (uint64_t)(100 - i), 0);
    }
    r.types = many;
    r.types_total = 40;
    assert_int_equal(mtp_top_screen_init(&s, 80, 24), 0);
    assert_int_equal(mtp_topview_render(&v, &fr, &r, &s), 0);
    assert_int_equal(line_of(&s, "TYPE (15 of 40, by heat)"), 6);
    assert_int_equal(line_of(&s, "no keys: stdin is not a terminal"), 23);
    mtp_top_screen_free(&s);
    /* Wider and taller: more rows, whole names, every line the new width. */
    assert_int_equal(mtp_top_screen_init(&s, 120, 40), 0);
    assert_int_equal(mtp_topview_render(&v, &fr, &r, &s), 0);
    every_line_fills_the_width(&s);
    assert_int_equal(line_of(&s, "TYPE (31 of 40, by heat)"), 6);
    assert_int_equal(line_of(&s, "pkg.module.AQuiteLongClassNameNumber30 "), 37);
    assert_int_equal(line_of(&s, "no keys"), 39);
    mtp_top_screen_free(&s);
    /* Too small to be of use: said, not garbled. */
    assert_int_equal(mtp_top_screen_init(&s, 40, 10), 0);
    assert_int_equal(mtp_topview_render(&v, &fr, &r, &s), 0);
    every_line_fills_the_width(&s);
    assert_int_equal(line_of(&s, "mtp-trace --top needs 60x12; this"), 0);
    mtp_top_screen_free(&s);
}

static void before_a_report_it_waits(void **state)
{
    struct mtp_topview v = {0};
    struct mtp_top_frame fr = {.keys = true, .waiting = "waiting for the first interval"};
    struct mtp_top_screen s;

    (void)state;
    assert_int_equal(mtp_top_screen_init(&s, 80, 24), 0);
    assert_int_equal(mtp_topview_render(&v, &fr, NULL, &s), 0);
    every_line_fills_the_width(&s);
    assert_int_equal(line_of(&s, "waiting for the first interval"), 2);
    assert_int_equal(line_of(&s, "q quit"), 23);
    mtp_top_screen_free(&s);
}

/* Without tiering every byte is unlocated: all of it is the one bar's, and a
 * class name the program chose cannot drive the terminal. */
static void unlocated_bytes_and_hostile_names(void **state)
{
    struct mtp_topview v = {0};
    struct mtp_top_frame fr = {.index = 1, .count = 1, .keys = true};
    struct mtp_report r = report(NULL);
    struct mtp_top_screen s;

    (void)state;
    for (int i = 0; i < 5; i++) {
        rows[i].tiers.bytes[MTP_AT_UNLOCATED] = rows[i].tiers.bytes[MTP_AT_FAST];
        rows[i].tiers.hot_bytes[MTP_AT_UNLOCATED] = rows[i].tiers.hot_bytes[MTP_AT_FAST];
        rows[i].tiers.bytes[MTP_AT_FAST] = rows[i].tiers.hot_bytes[MTP_AT_FAST] = 0;
    }
    snprintf(rows[1].name, sizeof(rows[1].name), "evil.\x1b[2J\xc3\xa9t\x7f");
    assert_int_equal(mtp_top_screen_init(&s, 80, 24), 0);
    assert_int_equal(mtp_topview_render(&v, &fr, &r, &s), 0);
    every_line_fills_the_width(&s);
    /* 1740 pages (fast ones moved to unlocated) + 3450 slow, 770 hot */
    assert_int_equal(line_of(&s, "] 20M live, 3.0M hot"), 1);
    assert_int_equal(line_of(&s, "evil.?[2J??t? "), 8);
    for (int y = 0; y < s.height; y++)
        for (const char *c = mtp_top_line_text(&s, y); *c; c++)
            assert_true(*c >= 0x20 && *c < 0x7f);
    mtp_top_screen_free(&s);
}

static void no_types_yet(void **state)
{
    struct mtp_topview v = {0};
    struct mtp_top_frame fr = {.index = 1, .count = 1, .keys = true};
    struct mtp_report r = report(NULL);
    struct mtp_top_screen s;

    (void)state;
    r.types = NULL;
    r.types_total = 0;
    assert_int_equal(mtp_top_screen_init(&s, 80, 24), 0);
    assert_int_equal(mtp_topview_render(&v, &fr, &r, &s), 0);
    assert_int_equal(line_of(&s, "coldest (none yet)"), 5);
    assert_int_equal(line_of(&s, "(no type observed yet)"), 7);
    assert_int_equal(line_of(&s, "] 0 live, 0 hot"), 1);
    mtp_top_screen_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bytes_and_counts_fit_six_columns),
        cmocka_unit_test(bars_show_shares_and_the_mark),
        cmocka_unit_test(types_sort_by_each_key),
        cmocka_unit_test(keys_sort_switch_and_quit),
        cmocka_unit_test(pick_wraps_and_follows_exits),
        cmocka_unit_test(one_tier_says_so_at_80x24),
        cmocka_unit_test(tiers_show_bars_budget_and_moves),
        cmocka_unit_test(a_resize_fills_the_new_size),
        cmocka_unit_test(before_a_report_it_waits),
        cmocka_unit_test(unlocated_bytes_and_hostile_names),
        cmocka_unit_test(no_types_yet),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
