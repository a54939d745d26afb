// SPDX-License-Identifier: MIT
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "headroom.h"

#define MIB (1ULL << 20)
#define WM  (8 * MIB)
#define CAP (64 * MIB)

static struct mtp_headroom_reading counted(uint64_t free_bytes, uint64_t refused)
{
    return (struct mtp_headroom_reading){true, free_bytes, WM, true, refused, false, CAP};
}

static struct mtp_headroom_reading blind(uint64_t free_bytes)
{
    return (struct mtp_headroom_reading){true, free_bytes, WM, false, 0, false, CAP};
}

/* An interval's demand is the room the node had plus what it refused; the
 * headroom is a quarter more than that. */
static void demand_is_room_plus_refused(void **state)
{
    struct mtp_headroom h = {0};
    struct mtp_headroom_reading r = counted(WM + 4 * MIB, 0);

    (void)state;
    assert_int_equal(mtp_headroom_observe(&h, &r), 0); /* nothing refused: nothing kept */
    /* the program took the 4 MiB of room and 4 MiB more went elsewhere */
    r = counted(WM, 4 * MIB);
    assert_int_equal(mtp_headroom_observe(&h, &r), 10 * MIB);
    assert_true(h.starved);
    assert_int_equal(h.peak, 8 * MIB);
}

/* Our own promotions fill the node and are not the program's demand: with
 * nothing refused the estimate decays by a sixteenth an interval. */
static void our_moves_are_not_demand(void **state)
{
    struct mtp_headroom h = {.peak = 16 * MIB};
    struct mtp_headroom_reading r = counted(WM + 32 * MIB, 0);

    (void)state;
    mtp_headroom_observe(&h, &r);
    assert_int_equal(h.peak, 15 * MIB);
    mtp_headroom_moved(&h, 32 * MIB, 0);
    r = counted(WM, 0);
    mtp_headroom_observe(&h, &r);
    assert_false(h.starved);
    assert_int_equal(h.peak, 15 * MIB - 15 * MIB / 16);
}

/* A program still taking at least half the estimate in an interval holds
 * it, though nothing was refused. */
static void steady_taking_holds(void **state)
{
    struct mtp_headroom h = {.peak = 8 * MIB};
    struct mtp_headroom_reading r = counted(WM + 10 * MIB, 0);

    (void)state;
    mtp_headroom_observe(&h, &r);
    r = counted(WM + 5 * MIB, 0);
    mtp_headroom_observe(&h, &r);
    assert_int_equal(h.peak, 8 * MIB - 8 * MIB / 16); /* the first look decayed */
    r = counted(WM + 1 * MIB, 0);
    mtp_headroom_observe(&h, &r); /* took 4 of 7.5: held */
    assert_int_equal(h.peak, 8 * MIB - 8 * MIB / 16);
}

/* Without the kernel's count, only the node found at its watermark says
 * there was no room: the estimate doubles from 1 MiB, and decays by an
 * eighth once there is room. */
static void blind_doubles_at_the_watermark(void **state)
{
    struct mtp_headroom h = {0};
    struct mtp_headroom_reading r = blind(WM);

    (void)state;
    mtp_headroom_observe(&h, &r);
    assert_int_equal(h.peak, MTP_HEADROOM_MIN_BYTES);
    mtp_headroom_observe(&h, &r);
    assert_int_equal(h.peak, 2 * MTP_HEADROOM_MIN_BYTES);
    r = blind(WM + 100 * 1024); /* within the slack: still starved */
    mtp_headroom_observe(&h, &r);
    assert_int_equal(h.peak, 4 * MTP_HEADROOM_MIN_BYTES);
    r = blind(WM + 16 * MIB);
    mtp_headroom_observe(&h, &r);
    assert_int_equal(h.peak, 4 * MTP_HEADROOM_MIN_BYTES - MTP_HEADROOM_MIN_BYTES / 2);
}

/* One large drop in free memory (another process, the node shrunk) is not
 * a rate: without a refusal it does not grow the estimate at all. */
static void one_drop_is_not_a_rate(void **state)
{
    struct mtp_headroom h = {0};
    struct mtp_headroom_reading r = counted(WM + 512 * MIB, 0);

    (void)state;
    mtp_headroom_observe(&h, &r);
    r = counted(WM + 1 * MIB, 0);
    assert_int_equal(mtp_headroom_observe(&h, &r), 0);
}

/* Over its budget the process had no room even on a roomy node: doubling;
 * and nothing ever exceeds the cap. */
static void over_budget_doubles_within_the_cap(void **state)
{
    struct mtp_headroom h = {0};
    struct mtp_headroom_reading r = counted(WM + 512 * MIB, 0);

    (void)state;
    r.over_budget = true;
    for (int i = 0; i < 12; i++)
        assert_true(mtp_headroom_observe(&h, &r) <= CAP);
    assert_int_equal(h.bytes, CAP);
    assert_int_equal(h.peak, CAP);
    r = counted(WM, 1ULL << 40); /* a huge refusal is capped too */
    assert_int_equal(mtp_headroom_observe(&h, &r), CAP);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(demand_is_room_plus_refused),
        cmocka_unit_test(our_moves_are_not_demand),
        cmocka_unit_test(steady_taking_holds),
        cmocka_unit_test(blind_doubles_at_the_watermark),
        cmocka_unit_test(one_drop_is_not_a_rate),
        cmocka_unit_test(over_budget_doubles_within_the_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
