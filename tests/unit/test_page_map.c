// SPDX-License-Identifier: MIT
/* The page map's automatic capacity (user/lib/page_map.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "page_map.h"

#define MIB (1ULL << 20)
#define GIB (1ULL << 30)

static void test_twice_the_resident_pages_rounded_up(void **state)
{
    (void)state;
    /* 1 GiB = 262144 pages: twice is 524288, already a power of two */
    assert_int_equal(mtp_page_map_capacity(GIB), 1u << 19);
    /* a little more rounds up to the next power of two */
    assert_int_equal(mtp_page_map_capacity(GIB + 4096), 1u << 20);
    assert_int_equal(mtp_page_map_capacity(600 * MIB), 1u << 19);
}

static void test_bounds(void **state)
{
    (void)state;
    assert_int_equal(mtp_page_map_capacity(4096), MTP_PAGE_MAP_MIN);
    assert_int_equal(mtp_page_map_capacity(60 * MIB), MTP_PAGE_MAP_MIN);
    assert_int_equal(mtp_page_map_capacity(8 * GIB), MTP_PAGE_MAP_MAX);
    assert_int_equal(mtp_page_map_capacity(UINT64_MAX), MTP_PAGE_MAP_MAX);
    /* unknown: the most, as before the capacity followed the program */
    assert_int_equal(mtp_page_map_capacity(0), MTP_PAGE_MAP_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_twice_the_resident_pages_rounded_up),
        cmocka_unit_test(test_bounds),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
