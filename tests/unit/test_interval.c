// SPDX-License-Identifier: MIT
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "interval.h"

/* ---- when ---- */

static void the_first_interval_is_one_period_after_the_start(void **state)
{
    struct mtp_clock c;
    bool due;

    (void)state;
    mtp_clock_start(&c, 100.0, 500000000ull, 0);
    assert_true(c.start == 100.0 && c.next == 100.5 && c.deadline == 0);
    assert_int_equal(mtp_clock_timeout_ms(&c, 100.0), 500);
    assert_int_equal(mtp_clock_wake(&c, 100.2, false, false, &due), MTP_STOP_NONE);
    assert_false(due);
    assert_int_equal(mtp_clock_wake(&c, 100.5, false, false, &due), MTP_STOP_NONE);
    assert_true(due);
}

/* poll's timeout is rounded to a millisecond, so a wake-up that early is on
 * time: otherwise it would sleep 0 ms and spin. */
static void a_millisecond_early_is_on_time(void **state)
{
    struct mtp_clock c;
    bool due;

    (void)state;
    mtp_clock_start(&c, 0.0, 1000000000ull, 3000000000ull);
    assert_int_equal(mtp_clock_wake(&c, 0.9995, false, false, &due), MTP_STOP_NONE);
    assert_true(due);
    assert_int_equal(mtp_clock_wake(&c, 0.998, false, false, &due), MTP_STOP_NONE);
    assert_false(due);
    assert_int_equal(mtp_clock_timeout_ms(&c, 0.9996), 0);
    assert_int_equal(mtp_clock_timeout_ms(&c, 0.9994), 1);
    assert_int_equal(mtp_clock_timeout_ms(&c, 1.5), 0); /* past: no sleep */
}

static void the_deadline_cuts_the_sleep_and_stops(void **state)
{
    struct mtp_clock c;
    bool due;

    (void)state;
    mtp_clock_start(&c, 10.0, 1000000000ull, 2500000000ull);
    assert_true(c.deadline == 12.5);
    c.next = 13.0;
    assert_int_equal(mtp_clock_timeout_ms(&c, 12.0), 500);
    assert_int_equal(mtp_clock_wake(&c, 12.4995, false, false, &due), MTP_STOP_DURATION);
    assert_true(due);
    assert_int_equal(mtp_clock_wake(&c, 12.49, false, false, &due), MTP_STOP_NONE);
    assert_false(due);
}

/* A signal wins over the target's exit, which wins over the deadline; any
 * stop reports a final interval, due or not. */
static void stops_in_order(void **state)
{
    struct mtp_clock c;
    bool due;

    (void)state;
    mtp_clock_start(&c, 0.0, 1000000000ull, 1000000000ull);
    assert_int_equal(mtp_clock_wake(&c, 5.0, true, true, &due), MTP_STOP_SIGNAL);
    assert_int_equal(mtp_clock_wake(&c, 5.0, false, true, &due), MTP_STOP_EXITED);
    assert_int_equal(mtp_clock_wake(&c, 0.1, false, true, &due), MTP_STOP_EXITED);
    assert_true(due);
    assert_int_equal(mtp_clock_wake(&c, 0.1, true, false, &due), MTP_STOP_SIGNAL);
    assert_true(due);
    assert_string_equal(mtp_stop_reason(MTP_STOP_SIGNAL), "signal");
    assert_string_equal(mtp_stop_reason(MTP_STOP_EXITED), "target exited");
    assert_string_equal(mtp_stop_reason(MTP_STOP_DURATION), "duration");
    assert_null(mtp_stop_reason(MTP_STOP_NONE));
}

static void a_long_interval_skips_what_it_overran(void **state)
{
    struct mtp_clock c;

    (void)state;
    mtp_clock_start(&c, 0.0, 1000000000ull, 0);
    mtp_clock_advance(&c, 1.0);
    assert_true(c.next == 2.0);
    mtp_clock_advance(&c, 4.7); /* three intervals' work in one */
    assert_true(c.next == 5.0);
    mtp_clock_advance(&c, 4.9); /* not yet due: unchanged */
    assert_true(c.next == 5.0);
}

/* ---- which pages are hot ---- */

static void hot_until_a_period_past(void **state)
{
    (void)state;
    assert_true(mtp_heat_now(1024, 10, 10, 8) == 1024);
    assert_true(mtp_heat_now(1024, 10, 18 + MTP_HOT_SLACK, 8) > 0);
    assert_true(mtp_heat_now(1024, 10, 19 + MTP_HOT_SLACK, 8) == 0);
    assert_true(mtp_heat_now(1024, 10, 11 + MTP_HOT_SLACK, 1) > 0);
    assert_true(mtp_heat_now(1024, 10, 12 + MTP_HOT_SLACK, 1) == 0);
    /* inside the window it is mtp_heat_decay's; a period of 0 counts as 1 */
    assert_true(mtp_heat_now(1024, 10, 14, 8) == mtp_heat_decay(1024, 10, 14, 8));
    assert_true(mtp_heat_now(1024, 10, 12 + MTP_HOT_SLACK, 0) == 0);
    /* a warming stamped later than the epoch asked about counts as now */
    assert_true(mtp_heat_now(1024, 10, 9, 1) == 1024);
}

static void a_hint_holds_while_fresh(void **state)
{
    struct mtp_page v = {.heat = 1000,
                         .last_epoch = 20,
                         .samples = 7,
                         .active = 3,
                         .hint = MTP_HINT_COLD,
                         .hint_epoch = 12,
                         .period = 4};
    struct mtp_hot_page p;

    (void)state;
    p = mtp_hot_page_at(0x7000, &v, 20);
    assert_true(p.addr == 0x7000 && p.heat == 1000 && p.samples == 7 && p.active == 3);
    assert_int_equal(p.hint, MTP_HINT_COLD);
    assert_null(p.mapping);
    p = mtp_hot_page_at(0x7000, &v, 12 + MTP_HINT_TTL_EPOCHS);
    assert_int_equal(p.hint, MTP_HINT_COLD);
    p = mtp_hot_page_at(0x7000, &v, 13 + MTP_HINT_TTL_EPOCHS);
    assert_int_equal(p.hint, MTP_HINT_NONE); /* faded */
    p = mtp_hot_page_at(0x7000, &v, 20 + 4 + MTP_HOT_SLACK + 1);
    assert_true(p.heat == 0); /* out of the hot window */
}

static void hints_outrank_heat(void **state)
{
    struct mtp_hot_page p = {.heat = 500};

    (void)state;
    assert_true(mtp_hinted_heat(&p) == 500);
    p.hint = MTP_HINT_HOT;
    assert_true(mtp_hinted_heat(&p) > UINT64_MAX >> 3);
    p.heat = 0; /* even a page with no heat at all */
    assert_true(mtp_hinted_heat(&p) == UINT64_MAX >> 2);
    p.hint = MTP_HINT_COLD;
    p.heat = UINT64_MAX >> 1;
    assert_true(mtp_hinted_heat(&p) == 0);
}

static void hot_pages_are_those_with_heat(void **state)
{
    struct mtp_hot_page v[] = {
        {.heat = 0}, {.heat = 1}, {.heat = 0, .hint = MTP_HINT_HOT}, {.heat = 99}};

    (void)state;
    assert_int_equal(mtp_count_hot(v, 4), 2); /* a hint is not heat */
    assert_int_equal(mtp_count_hot(v, 0), 0);
}

/* ---- when heat's epoch passes ---- */

static void the_epoch_passes_only_on_news(void **state)
{
    struct mtp_stats prev = {.events = 5, .written_pages = 9, .gc_dones = 3}, now = prev;

    (void)state;
    assert_false(mtp_epoch_advances(&now, &prev));
    now.gc_dones = 4; /* a collection that observed nothing */
    now.records = 0;
    assert_false(mtp_epoch_advances(&now, &prev));
    now.events = 6;
    assert_true(mtp_epoch_advances(&now, &prev));
    now = prev;
    now.written_pages = 10;
    assert_true(mtp_epoch_advances(&now, &prev));
}

/* ---- what to tell the user ---- */

static void the_scan_notice_follows_its_state_not_its_stride(void **state)
{
    (void)state;
    assert_int_equal(mtp_wp_notice(0), 0);
    assert_int_equal(mtp_wp_notice(1), 1);
    assert_int_equal(mtp_wp_notice(16), 1);
    assert_int_equal(mtp_wp_notice(MTP_WP_STATE_BACKOFF), MTP_WP_STATE_BACKOFF);
    assert_int_equal(mtp_wp_notice(-22), -22);
}

static void the_idle_note_waits_and_needs_silence(void **state)
{
    struct mtp_stats t = {0};

    (void)state;
    assert_false(mtp_idle_note_due(MTP_IDLE_NOTE_S - 0.1, &t));
    assert_true(mtp_idle_note_due(MTP_IDLE_NOTE_S, &t));
    t.gc_dones = 1;
    assert_false(mtp_idle_note_due(60, &t));
    t.gc_dones = 0;
    t.events = 1;
    assert_false(mtp_idle_note_due(60, &t));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_first_interval_is_one_period_after_the_start),
        cmocka_unit_test(a_millisecond_early_is_on_time),
        cmocka_unit_test(the_deadline_cuts_the_sleep_and_stops),
        cmocka_unit_test(stops_in_order),
        cmocka_unit_test(a_long_interval_skips_what_it_overran),
        cmocka_unit_test(hot_until_a_period_past),
        cmocka_unit_test(a_hint_holds_while_fresh),
        cmocka_unit_test(hints_outrank_heat),
        cmocka_unit_test(hot_pages_are_those_with_heat),
        cmocka_unit_test(the_epoch_passes_only_on_news),
        cmocka_unit_test(the_scan_notice_follows_its_state_not_its_stride),
        cmocka_unit_test(the_idle_note_waits_and_needs_silence),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
