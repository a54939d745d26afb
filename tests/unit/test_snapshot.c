// SPDX-License-Identifier: MIT
/* The extension's snapshot: the sort by address, the removal of repeats and
 * the history count (the tables it is folded into: test_sidetable.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "mtp_snapshot.h"

static uint64_t rng_state = 88172645463325252ull;

static uint64_t next_random(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void check_sorted_permutation(mtp_seen *in, size_t n)
{
    mtp_seen *v = malloc((n ? n : 1) * sizeof(*v)), *tmp = malloc((n ? n : 1) * sizeof(*tmp));
    mtp_seen *out;
    uint64_t sum_in = 0, sum_out = 0;

    assert_non_null(v);
    assert_non_null(tmp);
    if (n)
        memcpy(v, in, n * sizeof(*v));
    out = mtp_sort_seen(v, tmp, n);
    for (size_t i = 0; i < n; i++) {
        sum_in += in[i].addr * 31 + in[i].refcnt;
        sum_out += out[i].addr * 31 + out[i].refcnt;
        if (i)
            assert_true(out[i - 1].addr <= out[i].addr);
    }
    assert_true(sum_in == sum_out); /* same entries, records kept whole */
    free(v);
    free(tmp);
}

static void sorts_heap_like_addresses(void **state)
{
    enum { N = 50000 };
    mtp_seen *in = malloc(N * sizeof(*in));

    (void)state;
    assert_non_null(in);
    for (size_t i = 0; i < N; i++) {
        /* 16-byte aligned, in a few arenas far apart, as pymalloc's are */
        uint64_t arena = 0x7f0000000000ull + (next_random() % 8) * 0x40000000ull;
        in[i] =
            (mtp_seen){.addr = arena + (next_random() % (1u << 24)) * 16, .refcnt = (uint32_t)i};
    }
    check_sorted_permutation(in, N);
    free(in);
}

static void sorts_full_width_and_duplicates(void **state)
{
    mtp_seen in[] = {
        {.addr = UINT64_MAX & ~15ull, .refcnt = 1},
        {.addr = 16, .refcnt = 2},
        {.addr = 0x5555555555555550ull, .refcnt = 3},
        {.addr = 16, .refcnt = 4},
        {.addr = 0, .refcnt = 5},
        {.addr = 0x00ff000000000000ull, .refcnt = 6},
    };

    (void)state;
    check_sorted_permutation(in, sizeof(in) / sizeof(in[0]));
}

static void handles_tiny_inputs(void **state)
{
    mtp_seen one = {.addr = 0x1230, .refcnt = 9, .type_tag = 1}, tmp;

    (void)state;
    check_sorted_permutation(NULL, 0);
    assert_ptr_equal(mtp_sort_seen(&one, &tmp, 1), &one); /* nothing to do: no pass runs */
    assert_true(one.addr == 0x1230 && one.refcnt == 9);
}

static mtp_seen seen(uint64_t addr, uint32_t refcnt, uint16_t tag)
{
    return (mtp_seen){.addr = addr, .refcnt = refcnt, .type_tag = tag};
}

static void unique_keeps_the_first_of_each_address(void **state)
{
    mtp_seen v[] = {seen(16, 1, 0), seen(16, 2, 0), seen(32, 3, 0),
                    seen(48, 4, 0), seen(48, 5, 0), seen(48, 6, 0)};

    (void)state;
    assert_int_equal(mtp_seen_unique(v, 6), 3);
    assert_int_equal(v[0].refcnt, 1);
    assert_int_equal(v[1].addr, 32);
    assert_int_equal(v[2].refcnt, 4);
    assert_int_equal(mtp_seen_unique(v, 0), 0);
}

static void history_counts_recent_bits(void **state)
{
    (void)state;
    assert_int_equal(mtp_history_count(0xff, 3), 3);
    assert_int_equal(mtp_history_count(0xf0, 4), 0);
    assert_int_equal(mtp_history_count(0x05, 8), 2);
    assert_int_equal(mtp_history_count(0xff, 9), 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sorts_heap_like_addresses),
        cmocka_unit_test(sorts_full_width_and_duplicates),
        cmocka_unit_test(handles_tiny_inputs),
        cmocka_unit_test(unique_keeps_the_first_of_each_address),
        cmocka_unit_test(history_counts_recent_bits),
    };
    return cmocka_run_group_tests_name("snapshot", tests, NULL, NULL);
}
