// SPDX-License-Identifier: MIT
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json.h>

#include "report.h"
#include "zoneinfo.h"

static struct json_object *parse(const char *text)
{
    struct json_object *o = json_tokener_parse(text);

    assert_non_null(o);
    return o;
}

static uint64_t get_u64(struct json_object *o, const char *key)
{
    struct json_object *v;

    assert_true(json_object_object_get_ex(o, key, &v));
    return json_object_get_uint64(v);
}

static void interval_json_has_documented_fields(void **state)
{
    struct mtp_report r = {0};
    struct json_object *o, *v;
    char *text;

    (void)state;
    r.pid = 4242;
    r.interval = 7;
    r.elapsed_s = 3.5;
    r.totals.events = 12;
    r.totals.records = 40000;
    r.totals.dropped = 3;
    r.totals.gc_dones = 9;
    r.totals.observe_ns = 2500000;
    r.pages_tracked = 1234;
    r.hot_pages = 56;
    r.map_capacity = 4096;
    text = mtp_report_json(&r);
    assert_non_null(text);
    assert_null(strchr(text, '\n')); /* one object per line */
    o = parse(text);
    assert_int_equal(get_u64(o, "pid"), 4242); /* several processes share one stream */
    assert_int_equal(get_u64(o, "interval"), 7);
    assert_int_equal(get_u64(o, "events"), 12);
    assert_int_equal(get_u64(o, "records"), 40000);
    assert_int_equal(get_u64(o, "dropped"), 3);
    assert_int_equal(get_u64(o, "pages_tracked"), 1234);
    assert_int_equal(get_u64(o, "hot_pages"), 56);
    assert_int_equal(get_u64(o, "gcs"), 9);
    assert_true(json_object_object_get_ex(o, "observe_ms", &v));
    assert_true(json_object_get_double(v) > 2.49 && json_object_get_double(v) < 2.51);
    assert_true(json_object_object_get_ex(o, "final", &v));
    assert_false(json_object_get_boolean(v));
    assert_false(json_object_object_get_ex(o, "top_pages", &v));
    json_object_put(o);
    free(text);
}

/* The scan's measured cost per interval, and its state, reach the output. */
static void scan_cost_and_state_are_reported(void **state)
{
    struct mtp_report r = {0};
    struct json_object *o, *v;
    char *text, line[256];

    (void)state;
    r.prev_elapsed_s = 1.0;
    r.elapsed_s = 3.0;
    r.prev.wp_cost_ns = 10000000;
    r.totals.wp_cost_ns = 50000000; /* 40 ms over 2 s: 2% */
    r.totals.wp_state = 8;
    r.totals.step_max_ns = 1500000;
    r.totals.cycles = 3;
    text = mtp_report_json(&r);
    o = parse(text);
    assert_true(json_object_object_get_ex(o, "written_scan", &v));
    assert_string_equal(json_object_get_string(v), "on");
    assert_int_equal(get_u64(o, "written_stride"), 8);
    assert_int_equal(get_u64(o, "cycles"), 3);
    assert_true(json_object_object_get_ex(o, "written_scan_cost_pct", &v));
    assert_true(json_object_get_double(v) > 1.99 && json_object_get_double(v) < 2.01);
    assert_true(json_object_object_get_ex(o, "step_max_ms", &v));
    assert_true(json_object_get_double(v) > 1.49 && json_object_get_double(v) < 1.51);
    json_object_put(o);
    free(text);
    mtp_report_text_row(&r, line, sizeof(line));
    assert_non_null(strstr(line, " 2.00"));

    r.totals.wp_state = MTP_WP_STATE_BACKOFF;
    text = mtp_report_json(&r);
    o = parse(text);
    assert_true(json_object_object_get_ex(o, "written_scan", &v));
    assert_string_equal(json_object_get_string(v), "backoff");
    assert_int_equal(get_u64(o, "written_stride"), 0);
    json_object_put(o);
    free(text);
    mtp_report_text_row(&r, line, sizeof(line));
    assert_non_null(strstr(line, "backoff"));

    r.totals.wp_state = -38; /* -ENOSYS: the kernel has no PAGEMAP_SCAN */
    assert_string_equal(mtp_wp_state_name(&r), "unsupported");
    r.totals.wp_state = 0;
    assert_string_equal(mtp_wp_state_name(&r), "off");
}

static void tiering_json_carries_budget_and_watermark(void **state)
{
    struct mtp_tiering_report t = {0};
    struct mtp_report r = {0};
    struct json_object *o, *tiering;
    char *text;

    (void)state;
    t.fast_node = 0;
    t.slow_node = 1;
    t.plan.budget_bytes = 8u << 20;
    t.watermark_bytes = 4u << 20; /* resolved from the kernel: what was in force */
    t.plan.headroom_bytes = 1u << 20;
    t.plan.on_fast = 300;
    t.plan.untracked = 120; /* found by the sweep, counted in on_fast */
    r.tiering = &t;
    text = mtp_report_json(&r);
    assert_non_null(text);
    o = parse(text);
    assert_true(json_object_object_get_ex(o, "tiering", &tiering));
    assert_int_equal(get_u64(tiering, "slow_node"), 1);
    assert_int_equal(get_u64(tiering, "budget_bytes"), 8u << 20);
    assert_int_equal(get_u64(tiering, "watermark_bytes"), 4u << 20);
    assert_int_equal(get_u64(tiering, "headroom_bytes"), 1u << 20);
    assert_int_equal(get_u64(tiering, "fast_refused_bytes"), 0); /* known, none */
    assert_int_equal(get_u64(tiering, "on_fast"), 300);
    assert_int_equal(get_u64(tiering, "untracked_on_fast"), 120);
    assert_int_equal(get_u64(tiering, "fast_free_lists_bytes"), 0);
    json_object_put(o);
    free(text);
    /* the CPUs' lists: in bytes when read, absent when not */
    t.fast_lists_bytes = 28u << 20;
    text = mtp_report_json(&r);
    o = parse(text);
    assert_true(json_object_object_get_ex(o, "tiering", &tiering));
    assert_int_equal(get_u64(tiering, "fast_free_lists_bytes"), 28u << 20);
    json_object_put(o);
    free(text);
    t.fast_lists_bytes = MTP_FREE_LISTS_UNKNOWN;
    text = mtp_report_json(&r);
    o = parse(text);
    assert_true(json_object_object_get_ex(o, "tiering", &tiering));
    assert_false(json_object_object_get_ex(tiering, "fast_free_lists_bytes", NULL));
    json_object_put(o);
    free(text);
}

static void final_json_lists_top_pages(void **state)
{
    struct mtp_hot_page top[2] = {
        {.addr = 0x7f0000001000ull, .heat = 900, .samples = 4, .active = 2, .mapping = "[heap]"},
        {.addr = 0x7f0000002000ull, .heat = 10, .samples = 1, .active = 1, .mapping = "anon"},
    };
    struct mtp_report r = {0};
    struct json_object *o, *v, *p;
    char *text;

    (void)state;
    r.final = 1;
    r.stop_reason = "target exited";
    r.top = top;
    r.top_len = 2;
    text = mtp_report_json(&r);
    o = parse(text);
    assert_true(json_object_object_get_ex(o, "final", &v));
    assert_true(json_object_get_boolean(v));
    assert_true(json_object_object_get_ex(o, "stop_reason", &v));
    assert_string_equal(json_object_get_string(v), "target exited");
    assert_true(json_object_object_get_ex(o, "top_pages", &v));
    assert_int_equal(json_object_array_length(v), 2);
    p = json_object_array_get_idx(v, 0);
    assert_int_equal(get_u64(p, "heat"), 900);
    assert_true(json_object_object_get_ex(p, "addr", &v));
    /* Addresses are hex strings: JSON numbers lose precision past 2^53. */
    assert_string_equal(json_object_get_string(v), "0x7f0000001000");
    json_object_put(o);
    free(text);
}

static void select_hottest_sorts_and_skips_cold(void **state)
{
    struct mtp_hot_page pages[6] = {
        {.addr = 1, .heat = 5}, {.addr = 2, .heat = 0},  {.addr = 3, .heat = 50},
        {.addr = 4, .heat = 7}, {.addr = 5, .heat = 49}, {.addr = 6, .heat = 0},
    };
    struct mtp_hot_page out[3];

    (void)state;
    assert_int_equal(mtp_select_hottest(pages, 6, out, 3), 3);
    assert_int_equal(out[0].addr, 3);
    assert_int_equal(out[1].addr, 5);
    assert_int_equal(out[2].addr, 4);
    /* Asking for more than are warm returns only the warm ones. */
    struct mtp_hot_page all[6];
    assert_int_equal(mtp_select_hottest(pages, 6, all, 6), 4);
    assert_int_equal(all[3].addr, 1);
    assert_int_equal(mtp_select_hottest(pages, 6, all, 0), 0);
}

static void text_row_prints_interval_deltas(void **state)
{
    struct mtp_report r = {0};
    char line[256];

    (void)state;
    r.pid = 31337;
    r.elapsed_s = 2.0;
    r.prev.events = 10;
    r.totals.events = 25;
    r.prev.records = 100;
    r.totals.records = 4196;
    r.pages_tracked = 77;
    mtp_report_text_row(&r, line, sizeof(line));
    assert_int_equal(strncmp(line, "  31337 ", 8), 0); /* the pid leads every row */
    assert_non_null(strstr(line, " 15 "));
    assert_non_null(strstr(line, " 4096 "));
    assert_non_null(strstr(line, " 77 "));
    mtp_report_text_header(&r, line, sizeof(line));
    assert_non_null(strstr(line, "PAGES"));
    assert_int_equal(strncmp(line, "    PID ", 8), 0);
}

static void text_top_truncates_safely(void **state)
{
    struct mtp_hot_page top[1] = {{.addr = 0x1000, .heat = 1, .mapping = "[heap]"}};
    struct mtp_report r = {.top = top, .top_len = 1};
    char small[16];
    char big[512];

    (void)state;
    assert_true(mtp_report_text_top(&r, small, sizeof(small)) > 0);
    assert_int_equal(strlen(small), sizeof(small) - 1);
    mtp_report_text_top(&r, big, sizeof(big));
    assert_non_null(strstr(big, "[heap]"));
    r.top_len = 0;
    mtp_report_text_top(&r, big, sizeof(big));
    assert_non_null(strstr(big, "no page has any heat"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(interval_json_has_documented_fields),
        cmocka_unit_test(tiering_json_carries_budget_and_watermark),
        cmocka_unit_test(final_json_lists_top_pages),
        cmocka_unit_test(select_hottest_sorts_and_skips_cold),
        cmocka_unit_test(text_row_prints_interval_deltas),
        cmocka_unit_test(scan_cost_and_state_are_reported),
        cmocka_unit_test(text_top_truncates_safely),
    };
    return cmocka_run_group_tests_name("report", tests, NULL, NULL);
}
