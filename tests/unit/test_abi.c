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
    assert_int_equal(sizeof(struct mtp_page), 48);
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
    assert_true(mtp_heat_decay(1024, 5, 5) == 1024);
    assert_true(mtp_heat_decay(1024, 5, 6) == 512);
    assert_true(mtp_heat_decay(1024, 5, 15) == 1);
    assert_true(mtp_heat_decay(1024, 5, 16) == 0);
    assert_true(mtp_heat_decay(UINT64_MAX, 0, 64) == 0);
    assert_true(mtp_heat_decay(UINT64_MAX, 0, 1000) == 0);
    /* A page written in a later epoch than the reader's is not cooled. */
    assert_true(mtp_heat_decay(1024, 7, 6) == 1024);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(layout_is_stable),
        cmocka_unit_test(object_inside_one_page),
        cmocka_unit_test(object_straddling_pages_splits_by_bytes),
        cmocka_unit_test(large_record_covers_whole_pages),
        cmocka_unit_test(empty_or_unchanged_records),
        cmocka_unit_test(delta_is_capped),
        cmocka_unit_test(heat_halves_per_epoch),
    };
    return cmocka_run_group_tests_name("abi", tests, NULL, NULL);
}
