// SPDX-License-Identifier: MIT
/*
 * The record-decoding helpers in include/mtp_abi.h are the same code the BPF
 * program runs to fold records into pages; here they run on the host.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "mtp_abi.h"

/* Folds one record the way bpf/mtp_trace.bpf.c does, into parallel arrays. */
static int fold(const struct mtp_record *rec, __u64 *pages, __u64 *heat, int cap)
{
    __u64 page = rec->addr & MTP_PAGE_MASK;
    int n = 0;

    for (int i = 0; i < MTP_RECORD_MAX_PAGES && n < cap; i++, page += MTP_PAGE_SIZE) {
        __u32 overlap = mtp_page_overlap(page, rec->addr, rec->size);
        if (overlap == 0)
            break;
        pages[n] = page;
        heat[n] = mtp_heat_contribution(overlap, rec->refcnt_delta);
        n++;
    }
    return n;
}

static void layout_is_stable(void **state)
{
    (void)state;
    /* The extension, BPF and loader must agree byte for byte. */
    assert_int_equal(sizeof(struct mtp_record), 16);
    assert_int_equal(offsetof(struct mtp_record, size), 8);
    assert_int_equal(offsetof(struct mtp_record, refcnt_delta), 12);
    assert_int_equal(offsetof(struct mtp_record, type_id), 14);
    assert_int_equal(sizeof(struct mtp_page), 56);
    assert_int_equal(offsetof(struct mtp_page, type_id), 52);
    assert_int_equal(offsetof(struct mtp_page, type_weight), 54);
    assert_int_equal(offsetof(struct mtp_page, tier), 55);
    assert_int_equal(sizeof(struct mtp_type_name), MTP_TYPE_NAME_MAX);
    /* Ids are 16 bits in records and pages. */
    assert_true(MTP_TYPES_MAX <= 65536);
    assert_true(MTP_TYPE_WEIGHT_MAX <= 255);
    assert_int_equal(offsetof(struct mtp_page, period), 48);
    assert_int_equal(sizeof(struct mtp_setting), MTP_SETTING_MAX);
    assert_int_equal(MTP_BATCH_MAX * sizeof(struct mtp_record), 65536);
}

static void object_inside_one_page(void **state)
{
    struct mtp_record rec = {.addr = 0x10010, .size = 64, .refcnt_delta = 2};
    __u64 pages[4], heat[4];

    (void)state;
    assert_int_equal(fold(&rec, pages, heat, 4), 1);
    assert_true(pages[0] == 0x10000);
    assert_true(heat[0] == 128);
}

static void object_straddling_pages_splits_by_bytes(void **state)
{
    struct mtp_record rec = {.addr = 0x10ff0, .size = 48, .refcnt_delta = -1};
    __u64 pages[4], heat[4];

    (void)state;
    assert_int_equal(fold(&rec, pages, heat, 4), 2);
    assert_true(pages[0] == 0x10000 && heat[0] == 16);
    assert_true(pages[1] == 0x11000 && heat[1] == 32);
}

static void large_record_covers_whole_pages(void **state)
{
    struct mtp_record rec = {.addr = 0x20000, .size = MTP_RECORD_MAX_BYTES, .refcnt_delta = 1};
    __u64 pages[MTP_RECORD_MAX_PAGES + 1], heat[MTP_RECORD_MAX_PAGES + 1];

    (void)state;
    assert_int_equal(fold(&rec, pages, heat, MTP_RECORD_MAX_PAGES + 1), MTP_RECORD_MAX_PAGES);
    for (int i = 0; i < MTP_RECORD_MAX_PAGES; i++)
        assert_true(heat[i] == MTP_PAGE_SIZE);
}

static void empty_or_unchanged_records(void **state)
{
    struct mtp_record empty = {.addr = 0x30000, .size = 0, .refcnt_delta = 5};
    struct mtp_record still = {.addr = 0x30000, .size = 100, .refcnt_delta = 0};
    __u64 pages[2], heat[2];

    (void)state;
    assert_int_equal(fold(&empty, pages, heat, 2), 0);
    assert_int_equal(fold(&still, pages, heat, 2), 1);
    assert_true(heat[0] == 0); /* seen, so the page is tracked, but not warmed */
}

static void delta_is_capped(void **state)
{
    (void)state;
    assert_true(mtp_heat_contribution(10, 1000000) == 10 * MTP_DELTA_CAP);
    assert_true(mtp_heat_contribution(10, -1000000) == 10 * MTP_DELTA_CAP);
    assert_true(mtp_heat_contribution(10, INT32_MIN) == 10 * MTP_DELTA_CAP);
    assert_true(mtp_heat_contribution(10, -3) == 30);
}

static void heat_halves_per_epoch(void **state)
{
    (void)state;
    assert_true(mtp_heat_decay(1024, 5, 5, 1) == 1024);
    assert_true(mtp_heat_decay(1024, 5, 6, 1) == 512);
    assert_true(mtp_heat_decay(1024, 5, 15, 1) == 1);
    assert_true(mtp_heat_decay(1024, 5, 16, 1) == 0);
    assert_true(mtp_heat_decay(UINT64_MAX, 0, 64, 1) == 0);
    assert_true(mtp_heat_decay(UINT64_MAX, 0, 1000, 1) == 0);
    /* A period of 0 (a page from before periods) counts as 1. */
    assert_true(mtp_heat_decay(1024, 5, 6, 0) == 512);
    /* A page warmed in a later epoch than the reader's is not cooled. */
    assert_true(mtp_heat_decay(1024, 7, 6, 1) == 1024);
}

static void heat_halves_per_period(void **state)
{
    (void)state;
    /* Whole periods halve; in between, heat falls linearly towards the next
     * halving, never below it. */
    assert_true(mtp_heat_decay(1024, 0, 8, 8) == 512);
    assert_true(mtp_heat_decay(1024, 0, 16, 8) == 256);
    assert_true(mtp_heat_decay(1024, 0, 4, 8) == 768);
    for (uint32_t age = 0; age < 40; age++) {
        uint64_t now = mtp_heat_decay(1 << 20, 0, age, 8);
        uint64_t later = mtp_heat_decay(1 << 20, 0, age + 1, 8);
        assert_true(later < now);
        assert_true(later * 2 >= now);
    }
    assert_true(mtp_heat_decay(UINT64_MAX, 0, 64 * 8, 8) == 0);
}

static void warmed_each_look_settles(void **state)
{
    /* A page warmed by c at every look, whether looks come a little early
     * (every 6 epochs against a period of 8) or late (10), stays bounded
     * near 2c, as BPF's fold accumulates it. */
    static const uint32_t every[] = {6, 8, 10};
    (void)state;
    for (size_t i = 0; i < sizeof(every) / sizeof(every[0]); i++) {
        uint64_t heat = 0;
        for (uint32_t look = 1; look < 200; look++)
            heat = mtp_heat_decay(heat, (look - 1) * every[i], look * every[i], 8) + 1000;
        assert_true(heat > 1500 && heat < 3500);
    }
}

static void periods_from_nanoseconds(void **state)
{
    (void)state;
    assert_int_equal(mtp_period_epochs(0, 500000000), 1);
    assert_int_equal(mtp_period_epochs(500000000, 500000000), 1);
    assert_int_equal(mtp_period_epochs(500000001, 500000000), 2);
    assert_int_equal(mtp_period_epochs(8500000000ull, 500000000), 17);
    assert_int_equal(mtp_period_epochs(UINT64_MAX, 500000000), MTP_PERIOD_MAX);
    assert_int_equal(mtp_period_epochs(1000, 0), 1); /* no interval set yet */
}

/* Pages vote for the type holding most of their bytes. */
static void a_majority_type_keeps_the_page(void **state)
{
    __u16 id = 0;
    __u8 w = 0;

    (void)state;
    mtp_type_vote(&id, &w, 7, 640);
    assert_int_equal(id, 7);
    assert_int_equal(w, 10); /* in 64-byte units */
    /* A smaller type's slices wear the lead down but do not take it. */
    mtp_type_vote(&id, &w, 9, 200);
    mtp_type_vote(&id, &w, 9, 200);
    assert_int_equal(id, 7);
    assert_int_equal(w, 2);
    mtp_type_vote(&id, &w, 7, 640);
    assert_int_equal(w, 12);
    /* Type 0 (not attributed) never votes. */
    mtp_type_vote(&id, &w, 0, 4096);
    assert_int_equal(id, 7);
    assert_int_equal(w, 12);
}

static void a_page_given_to_another_type_changes_hands(void **state)
{
    __u16 id = 0;
    __u8 w = 0;
    int i;

    (void)state;
    /* Years of one type: the lead is capped ... */
    for (i = 0; i < 1000; i++)
        mtp_type_vote(&id, &w, 3, 4096);
    assert_int_equal(id, 3);
    assert_int_equal(w, MTP_TYPE_WEIGHT_MAX);
    /* ... so the allocator's next owner takes the page within a few
     * observations of it whole. */
    for (i = 0; i < 5 && id == 3; i++)
        mtp_type_vote(&id, &w, 5, 4096);
    assert_int_equal(id, 5);
    assert_true(i <= 5);
}

/* Over one pass, in any order, a type with more than half of the page's
 * bytes ends up holding it. */
static void the_vote_finds_a_majority_in_any_order(void **state)
{
    static const struct {
        __u16 type;
        __u32 bytes;
    } slices[] = {{2, 100}, {4, 300}, {4, 300}, {6, 250}, {4, 400}, {2, 150}, {6, 100}};
    const int n = sizeof(slices) / sizeof(slices[0]);

    (void)state;
    /* type 4 holds 1000 of 1600 bytes */
    for (int rot = 0; rot < n; rot++) {
        __u16 id = 0;
        __u8 w = 0;

        for (int i = 0; i < n; i++)
            mtp_type_vote(&id, &w, slices[(i + rot) % n].type, slices[(i + rot) % n].bytes);
        assert_int_equal(id, 4);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(layout_is_stable),
        cmocka_unit_test(a_majority_type_keeps_the_page),
        cmocka_unit_test(a_page_given_to_another_type_changes_hands),
        cmocka_unit_test(the_vote_finds_a_majority_in_any_order),
        cmocka_unit_test(object_inside_one_page),
        cmocka_unit_test(object_straddling_pages_splits_by_bytes),
        cmocka_unit_test(large_record_covers_whole_pages),
        cmocka_unit_test(empty_or_unchanged_records),
        cmocka_unit_test(delta_is_capped),
        cmocka_unit_test(heat_halves_per_epoch),
        cmocka_unit_test(heat_halves_per_period),
        cmocka_unit_test(warmed_each_look_settles),
        cmocka_unit_test(periods_from_nanoseconds),
    };
    return cmocka_run_group_tests_name("abi", tests, NULL, NULL);
}
