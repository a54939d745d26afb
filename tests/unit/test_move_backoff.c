// SPDX-License-Identifier: MIT
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "move_backoff.h"

/* Each refused batch doubles the hold, up to the cap; a batch that goes
 * through ends it. */
static void refusals_double_the_hold_up_to_the_cap(void **state)
{
    struct mtp_move_backoff b = {0};
    uint32_t interval = 10, expect = 1;

    (void)state;
    assert_int_equal(mtp_move_backoff_left(&b, interval), 0);
    for (int round = 0; round < 8; round++) {
        mtp_move_backoff_note(&b, interval, 100, 1, 0);
        /* the next `expect` intervals are held, then moves may go again */
        for (uint32_t k = 1; k <= expect; k++)
            assert_int_equal(mtp_move_backoff_left(&b, interval + k), expect + 1 - k);
        interval += expect + 1;
        assert_int_equal(mtp_move_backoff_left(&b, interval), 0);
        expect = expect * 2 > MTP_MOVE_BACKOFF_MAX ? MTP_MOVE_BACKOFF_MAX : expect * 2;
    }
    assert_int_equal(b.len, MTP_MOVE_BACKOFF_MAX);
    assert_int_equal(b.holds, 8);

    mtp_move_backoff_note(&b, interval, 100, 0, 0);
    assert_int_equal(b.len, 0);
    assert_int_equal(mtp_move_backoff_left(&b, interval + 1), 0);
    /* and the next refusal starts again at one interval */
    mtp_move_backoff_note(&b, interval + 1, 5, 5, 0);
    assert_int_equal(mtp_move_backoff_left(&b, interval + 2), 1);
    assert_int_equal(mtp_move_backoff_left(&b, interval + 3), 0);
}

/* EBUSY is a page's state (locked, under writeback): a few busy pages are
 * retried next interval; a batch mostly busy backs off.  One ENOMEM is a
 * full node. */
static void busy_backs_off_only_when_most_of_a_batch_is_busy(void **state)
{
    struct mtp_move_backoff b = {0};

    (void)state;
    mtp_move_backoff_note(&b, 1, 10, 0, 5);
    assert_int_equal(mtp_move_backoff_left(&b, 2), 0);
    mtp_move_backoff_note(&b, 2, 10, 0, 6);
    assert_int_equal(mtp_move_backoff_left(&b, 3), 1);
    mtp_move_backoff_note(&b, 4, 1000, 1, 0);
    assert_int_equal(mtp_move_backoff_left(&b, 5), 2);
}

/* No batch says nothing: the hold runs its course. */
static void an_empty_batch_changes_nothing(void **state)
{
    struct mtp_move_backoff b = {0};

    (void)state;
    mtp_move_backoff_note(&b, 1, 3, 3, 0);
    mtp_move_backoff_note(&b, 2, 0, 0, 0);
    assert_int_equal(b.len, 1);
    assert_int_equal(mtp_move_backoff_left(&b, 2), 1);
}

/* The interval counter wraps (skipping 0); a hold across the wrap still
 * ends. */
static void a_hold_across_the_counter_wrap_ends(void **state)
{
    struct mtp_move_backoff b = {0};

    (void)state;
    mtp_move_backoff_note(&b, UINT32_MAX - 1, 1, 1, 0);
    assert_int_equal(mtp_move_backoff_left(&b, UINT32_MAX), 1);
    assert_int_equal(mtp_move_backoff_left(&b, 1), 0);
    assert_int_equal(mtp_move_backoff_left(&b, 1000), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(refusals_double_the_hold_up_to_the_cap),
        cmocka_unit_test(busy_backs_off_only_when_most_of_a_batch_is_busy),
        cmocka_unit_test(an_empty_batch_changes_nothing),
        cmocka_unit_test(a_hold_across_the_counter_wrap_ends),
    };
    return cmocka_run_group_tests_name("move_backoff", tests, NULL, NULL);
}
