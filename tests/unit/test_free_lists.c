// SPDX-License-Identifier: MIT
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "free_lists.h"

#define MIB (1ULL << 20)
#define WM  (44 * MIB)

static struct mtp_free_lists held(uint64_t bytes)
{
    return (struct mtp_free_lists){.held_bytes = bytes, .limit_bytes = 64 * MIB};
}

/* The guest's bad runs (BENCHMARKS.md §6, part 22): node 0 0.3-1.1 MiB
 * above its floor, 25-36 MiB on the lists, a 27-MiB room. */
static void starves_at_the_floor_with_long_lists(void **state)
{
    struct mtp_free_lists l = held(28 * MIB);

    (void)state;
    assert_true(mtp_free_lists_starve(&l, WM + MIB / 2, WM, 27 * MIB));
    assert_true(mtp_free_lists_starve(&l, WM + MIB, WM, 27 * MIB));
    assert_true(mtp_free_lists_starve(&l, WM - MIB, WM, 27 * MIB)); /* under it */
}

static void room_left_is_no_starvation(void **state)
{
    struct mtp_free_lists l = held(28 * MIB);

    (void)state;
    assert_false(mtp_free_lists_starve(&l, WM + MIB + 4096, WM, 27 * MIB));
    assert_false(mtp_free_lists_starve(&l, WM + 20 * MIB, WM, 27 * MIB));
}

/* Short lists are not worth a word: the lists shrunk (1 MiB in the guest),
 * or long only next to a large budget. */
static void short_lists_are_no_starvation(void **state)
{
    struct mtp_free_lists one = held(MIB), six = held(6 * MIB);

    (void)state;
    assert_false(mtp_free_lists_starve(&one, WM, WM, 4 * MIB));
    assert_true(mtp_free_lists_starve(&six, WM, WM, 48 * MIB));
    assert_false(mtp_free_lists_starve(&six, WM, WM, 49 * MIB));
    assert_false(mtp_free_lists_starve(&six, WM, WM, UINT64_MAX));
}

/* managed over 1/32 of the floor, rounded up, at least 8, at most INT_MAX */
static void fraction_bounds_the_lists_to_a_32nd_of_the_floor(void **state)
{
    (void)state;
    /* the guest's node 0: 969 MiB managed, a 44-MiB floor */
    unsigned long f = mtp_free_lists_fraction(969 * MIB, WM);

    assert_true(969 * MIB / f <= WM / 32);
    assert_true(969 * MIB / (f - 1) > WM / 32);
    assert_int_equal(f, 705);
    assert_int_equal(mtp_free_lists_fraction(64 * MIB, 64 * MIB), 32);
    assert_int_equal(mtp_free_lists_fraction(MIB, 64 * MIB), 8);
    assert_int_equal(mtp_free_lists_fraction(969 * MIB, 0), 8);
    assert_int_equal(mtp_free_lists_fraction(UINT64_MAX, 32), 0x7fffffffUL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(starves_at_the_floor_with_long_lists),
        cmocka_unit_test(room_left_is_no_starvation),
        cmocka_unit_test(short_lists_are_no_starvation),
        cmocka_unit_test(fraction_bounds_the_lists_to_a_32nd_of_the_floor),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
