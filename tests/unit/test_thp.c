// SPDX-License-Identifier: MIT
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "thp.h"

#define HUGE(n) ((uint64_t)(n) << MTP_THP_SHIFT)

static void pages_of_one_thp_share_the_hottest_heat(void **state)
{
    /* Unsorted, as the BPF hash map returns them. */
    struct mtp_policy_page pages[] = {
        {.addr = HUGE(7) + 0x3000, .heat = 0},     {.addr = HUGE(9) + 0x1000, .heat = 5},
        {.addr = HUGE(7) + 0x1ff000, .heat = 900}, {.addr = HUGE(7), .heat = 2},
        {.addr = HUGE(9) + 0x2000, .heat = 0},     {.addr = HUGE(8) + 0x5000, .heat = 0},
    };
    uint8_t thp[] = {1, 1, 1, 1, 1, 0};

    (void)state;
    assert_int_equal(mtp_thp_unify_heat(pages, 6, thp), 2);
    assert_true(pages[0].heat == 900);
    assert_true(pages[2].heat == 900);
    assert_true(pages[3].heat == 900);
    assert_true(pages[1].heat == 5);
    assert_true(pages[4].heat == 5);
    assert_true(pages[5].heat == 0); /* a 4 KiB page keeps its own heat */
}

static void small_pages_are_left_alone(void **state)
{
    struct mtp_policy_page pages[] = {{.addr = HUGE(1), .heat = 3}, {.addr = HUGE(1) + 4096}};
    uint8_t thp[] = {0, 0};

    (void)state;
    assert_int_equal(mtp_thp_unify_heat(pages, 2, thp), 0);
    assert_true(pages[0].heat == 3 && pages[1].heat == 0);
    assert_int_equal(mtp_thp_unify_heat(NULL, 0, NULL), 0);
}

static void a_cold_huge_page_stays_cold(void **state)
{
    struct mtp_policy_page pages[] = {{.addr = HUGE(4)}, {.addr = HUGE(4) + 8192}};
    uint8_t thp[] = {1, 1};

    (void)state;
    assert_int_equal(mtp_thp_unify_heat(pages, 2, thp), 1);
    assert_true(pages[0].heat == 0 && pages[1].heat == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pages_of_one_thp_share_the_hottest_heat),
        cmocka_unit_test(small_pages_are_left_alone),
        cmocka_unit_test(a_cold_huge_page_stays_cold),
    };
    return cmocka_run_group_tests_name("thp", tests, NULL, NULL);
}
