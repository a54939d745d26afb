// SPDX-License-Identifier: MIT
/* The extension's side table: the snapshot sort and the merge that decide every
 * refcount delta, and the pruning that bounds the table. */
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

static void gallop_finds_the_first_not_below(void **state)
{
    enum { N = 1000 };
    mtp_seen v[N];

    (void)state;
    for (size_t i = 0; i < N; i++)
        v[i] = seen(16 * (i + 1), 0, 0);
    for (size_t from = 0; from < N; from += 97) {
        for (uint64_t addr = 0; addr < 16 * (N + 3); addr += 8) {
            size_t want = from;
            while (want < N && v[want].addr < addr)
                want++;
            assert_int_equal(mtp_seen_gallop(v, N, from, addr), want);
        }
    }
    assert_int_equal(mtp_seen_gallop(v, 0, 0, 5), 0);
}

/* A step that sees part of the table: deltas against each object's own last
 * reading, new objects at 0, reused addresses at 0, the rest untouched. */
static void merge_updates_seen_and_keeps_unseen(void **state)
{
    mtp_seen old[] = {seen(0x100, 5, 1), seen(0x200, 7, 1), seen(0x300, 2, 1), seen(0x400, 9, 2)};
    mtp_seen cur[] = {seen(0x080, 3, 1), seen(0x200, 10, 1), seen(0x400, 1, 3), seen(0x500, 4, 1)};
    mtp_seen out[8];
    int32_t delta[4];
    size_t n;

    (void)state;
    old[1].history = 0x01;
    old[1].cycle = 6;
    old[2].cycle = 6;
    n = mtp_seen_merge(old, 4, cur, 4, 7, delta, out);
    assert_int_equal(n, 6);
    for (size_t i = 1; i < n; i++)
        assert_true(out[i - 1].addr < out[i].addr);
    assert_int_equal(delta[0], 0); /* new */
    assert_int_equal(delta[1], 3); /* 7 -> 10 */
    assert_int_equal(delta[2], 0); /* another type at 0x400 now */
    assert_int_equal(delta[3], 0); /* new */
    assert_int_equal(out[2].addr, 0x200);
    assert_int_equal(out[2].refcnt, 10);
    assert_int_equal(out[2].history, 0x03); /* moved now and last time */
    assert_int_equal(out[2].cycle, 7);
    assert_int_equal(out[3].addr, 0x300); /* not seen: kept as it was */
    assert_int_equal(out[3].refcnt, 2);
    assert_int_equal(out[3].cycle, 6);
    assert_int_equal(out[4].type_tag, 3);
    assert_int_equal(out[4].history, 0);
    assert_int_equal(cur[1].history, 0x03); /* handed back for the records */
}

static void merge_handles_empty_sides(void **state)
{
    mtp_seen old[] = {seen(0x100, 5, 1)}, cur[] = {seen(0x100, 4, 1)}, out[2];
    int32_t delta[1];

    (void)state;
    assert_int_equal(mtp_seen_merge(NULL, 0, cur, 1, 0, delta, out), 1);
    assert_int_equal(delta[0], 0);
    assert_int_equal(mtp_seen_merge(old, 1, NULL, 0, 0, delta, out), 1);
    assert_int_equal(out[0].refcnt, 5);
    assert_int_equal(mtp_seen_merge(old, 1, cur, 1, 0, delta, out), 1);
    assert_int_equal(delta[0], -1);
}

/* Round-robin: slices merged one after another equal one merge of the
 * whole, and every object's delta is against its own last reading. */
static void merging_slices_matches_whole_merge(void **state)
{
    enum { N = 20000, SLICES = 7 };
    mtp_seen *table = NULL, *all = malloc(N * sizeof(*all)), *tmp = malloc(N * sizeof(*tmp));
    size_t len = 0;

    (void)state;
    assert_non_null(all);
    assert_non_null(tmp);
    for (size_t i = 0; i < N; i++)
        /* distinct, scattered: an odd multiplier permutes [0, 2^26) */
        all[i] = seen(0x7f0000000000ull + ((i * 2654435761u) % (1u << 26)) * 16, (uint32_t)i, 1);
    for (int round = 0; round < 2; round++) {
        for (int s = 0; s < SLICES; s++) {
            mtp_seen *slice = malloc(N * sizeof(*slice)), *sorted, *out;
            int32_t *delta = malloc(N * sizeof(*delta));
            size_t n = 0;

            assert_non_null(slice);
            assert_non_null(delta);
            for (size_t i = s; i < N; i += SLICES) {
                slice[n] = all[i];
                slice[n++].refcnt += (uint32_t)(round * (i % 5));
            }
            sorted = mtp_sort_seen(slice, tmp, n);
            n = mtp_seen_unique(sorted, n);
            out = malloc((len + n) * sizeof(*out));
            assert_non_null(out);
            len = mtp_seen_merge(table, len, sorted, n, (uint8_t)round, delta, out);
            for (size_t i = 0; i < n; i++) {
                /* round 0: everything new; round 1: each moved by its i % 5 */
                if (round == 0)
                    assert_int_equal(delta[i], 0);
                else
                    assert_true(delta[i] >= 0 && delta[i] <= 4);
            }
            free(table);
            table = out;
            free(delta);
            free(slice);
        }
    }
    for (size_t i = 1; i < len; i++)
        assert_true(table[i - 1].addr < table[i].addr);
    assert_int_equal(len, N);
    free(table);
    free(all);
    free(tmp);
}

static void prune_drops_entries_older_than_keep_cycles(void **state)
{
    mtp_seen v[] = {seen(16, 0, 0), seen(32, 0, 0), seen(48, 0, 0), seen(64, 0, 0)};

    (void)state;
    v[0].cycle = 255; /* wraps: two cycles before 1 */
    v[1].cycle = 0;
    v[2].cycle = 1;
    v[3].cycle = 200;
    assert_int_equal(mtp_seen_prune(v, 4, 1, 2), 2);
    assert_int_equal(v[0].addr, 32);
    assert_int_equal(v[1].addr, 48);
}

static void history_counts_recent_bits(void **state)
{
    (void)state;
    assert_int_equal(mtp_history_count(0xff, 3), 3);
    assert_int_equal(mtp_history_count(0xf0, 4), 0);
    assert_int_equal(mtp_history_count(0x05, 8), 2);
    assert_int_equal(mtp_history_count(0xff, 9), 8);
}

static mtp_extent extent(uint64_t owner, uint64_t addr, uint8_t cycle)
{
    return (mtp_extent){.owner = owner, .addr = addr, .size = 64, .cycle = cycle};
}

static void extents_merge_replace_and_keep(void **state)
{
    mtp_extent old[] = {extent(0x1000, 0xa, 1), extent(0x2000, 0xb, 1), extent(0x3000, 0xc, 1)};
    mtp_extent cur[] = {extent(0x0800, 0xd, 2), extent(0x2000, 0xe, 2), extent(0x4000, 0xf, 2)};
    mtp_extent out[6];
    size_t n = mtp_extent_merge(old, 3, cur, 3, out);

    (void)state;
    assert_int_equal(n, 5);
    assert_int_equal(out[0].owner, 0x0800);
    assert_int_equal(out[2].addr, 0xe); /* the step's reading wins */
    assert_int_equal(out[3].addr, 0xc); /* unseen: kept */
    assert_int_equal(out[4].owner, 0x4000);
    assert_int_equal(mtp_extent_prune(out, n, 3, 2), 3); /* cycle 1 entries go */
}

static void extents_touched_by_written_owner_pages(void **state)
{
    mtp_extent v[] = {extent(0x1010, 0, 0), extent(0x1ff0, 0, 0), extent(0x2010, 0, 0),
                      extent(0x5000, 0, 0), extent(0x7008, 0, 0)};
    uint64_t pages[] = {0x1000, 0x5000, 0x6000, 0x7000};
    size_t hits[5];
    size_t n = mtp_extent_touched(v, 5, pages, 4, ~(uint64_t)0xfff, hits);

    (void)state;
    assert_int_equal(n, 4);
    assert_int_equal(hits[0], 0);
    assert_int_equal(hits[1], 1);
    assert_int_equal(hits[2], 3);
    assert_int_equal(hits[3], 4);
    assert_int_equal(mtp_extent_touched(v, 5, pages, 0, ~(uint64_t)0xfff, hits), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sorts_heap_like_addresses),
        cmocka_unit_test(sorts_full_width_and_duplicates),
        cmocka_unit_test(handles_tiny_inputs),
        cmocka_unit_test(unique_keeps_the_first_of_each_address),
        cmocka_unit_test(gallop_finds_the_first_not_below),
        cmocka_unit_test(merge_updates_seen_and_keeps_unseen),
        cmocka_unit_test(merge_handles_empty_sides),
        cmocka_unit_test(merging_slices_matches_whole_merge),
        cmocka_unit_test(prune_drops_entries_older_than_keep_cycles),
        cmocka_unit_test(history_counts_recent_bits),
        cmocka_unit_test(extents_merge_replace_and_keep),
        cmocka_unit_test(extents_touched_by_written_owner_pages),
    };
    return cmocka_run_group_tests_name("snapshot", tests, NULL, NULL);
}
