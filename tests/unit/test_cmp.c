// SPDX-License-Identifier: MIT
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>

#include "cmp.h"

static void u64_orders_without_overflow(void **state)
{
    uint64_t v[] = {UINT64_MAX, 0, 1ull << 63, 7, UINT64_MAX - 1, 7};
    uint64_t want[] = {0, 7, 7, 1ull << 63, UINT64_MAX - 1, UINT64_MAX};
    uint64_t key = 1ull << 63, absent = 8;

    (void)state;
    qsort(v, 6, sizeof(v[0]), mtp_cmp_u64);
    assert_memory_equal(v, want, sizeof(want));
    assert_ptr_equal(bsearch(&key, v, 6, sizeof(v[0]), mtp_cmp_u64), &v[3]);
    assert_null(bsearch(&absent, v, 6, sizeof(v[0]), mtp_cmp_u64));
}

/* A struct keyed by its first member sorts by that key alone. */
static void u64_keys_a_struct_by_its_first_member(void **state)
{
    struct keyed {
        uint64_t key;
        size_t payload;
    } v[] = {{1ull << 40, 0}, {3, 1}, {UINT64_MAX, 2}, {0, 3}};

    (void)state;
    qsort(v, 4, sizeof(v[0]), mtp_cmp_u64);
    assert_true(v[0].key == 0 && v[0].payload == 3);
    assert_true(v[1].key == 3 && v[1].payload == 1);
    assert_true(v[2].key == 1ull << 40 && v[2].payload == 0);
    assert_true(v[3].key == UINT64_MAX && v[3].payload == 2);
}

static void uint_and_the_macro(void **state)
{
    unsigned v[] = {4000000000u, 2, 0, 2};

    (void)state;
    qsort(v, 4, sizeof(v[0]), mtp_cmp_uint);
    assert_true(v[0] == 0 && v[1] == 2 && v[2] == 2 && v[3] == 4000000000u);
    assert_int_equal(MTP_CMP(1, 2), -1);
    assert_int_equal(MTP_CMP(2, 2), 0);
    assert_int_equal(MTP_CMP(UINT64_MAX, 1ull), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(u64_orders_without_overflow),
        cmocka_unit_test(u64_keys_a_struct_by_its_first_member),
        cmocka_unit_test(uint_and_the_macro),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
