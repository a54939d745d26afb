// SPDX-License-Identifier: MIT
/*
 * The per-type table (user/lib/pytypes.c): pages counted for their type by
 * tier, moves by type, the rows a report shows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pytypes.h"

static struct mtp_types *fresh(void)
{
    struct mtp_types *t = calloc(1, sizeof(*t));

    assert_non_null(t);
    snprintf(t->names[1].name, MTP_TYPE_NAME_MAX, "__main__.Hot");
    snprintf(t->names[2].name, MTP_TYPE_NAME_MAX, "__main__.Cold");
    return t;
}

static void done(struct mtp_types *t)
{
    mtp_types__free(t);
    free(t);
}

static struct mtp_hot_page page(uint64_t addr, uint64_t heat, uint16_t type)
{
    return (struct mtp_hot_page){.addr = addr, .heat = heat, .type_id = type};
}

static void bytes_by_tier_come_from_the_last_complete_cycle(void **state)
{
    struct mtp_types *t = fresh();
    const struct mtp_hot_page pages[] = {page(0x1000, 50, 1), page(0x2000, 0, 2),
                                         page(0x3000, 40, 1), page(0x6000, 9, 0)};
    struct mtp_type_stats *hot = &t->seen[1];

    (void)state;
    hot->records = 10;
    /* cycle 4 complete in bank 0, cycle 5 under way in bank 1 */
    hot->bank[0] =
        (struct mtp_type_bank){.cycle = 4, .bytes = {3000, 1000}, .hot_bytes = {2500, 10}};
    hot->bank[1] = (struct mtp_type_bank){.cycle = 5, .bytes = {7, 7}, .hot_bytes = {7, 7}};
    assert_int_equal(mtp_types__count_pages(t, pages, 4, 5), 0);
    assert_int_equal(t->tiers[1].bytes[MTP_AT_FAST], 3000);
    assert_int_equal(t->tiers[1].bytes[MTP_AT_SLOW], 1000);
    assert_int_equal(t->tiers[1].hot_bytes[MTP_AT_FAST], 2500);
    /* Pages and heat go to the type holding most of each page. */
    assert_int_equal(t->tiers[1].pages, 2);
    assert_int_equal(t->tiers[1].heat, 90);
    assert_int_equal(t->tiers[2].pages, 1);
    assert_int_equal(t->tiers[0].pages, 1);
    /* A type not seen in the last complete cycle holds nothing now. */
    assert_int_equal(mtp_types__count_pages(t, pages, 4, 7), 0);
    assert_int_equal(t->tiers[1].bytes[MTP_AT_FAST], 0);
    /* The first cycle, under way, is all there is. */
    hot->bank[0].cycle = 0;
    assert_int_equal(mtp_types__count_pages(t, pages, 4, 0), 0);
    assert_int_equal(t->tiers[1].bytes[MTP_AT_SLOW], 1000);
    done(t);
}

static void moves_that_went_through_count_for_the_pages_type(void **state)
{
    struct mtp_types *t = fresh();
    const struct mtp_hot_page pages[] = {page(0x9000, 50, 1), page(0x2000, 0, 2),
                                         page(0x5000, 0, 2)};
    const struct mtp_move moves[] = {
        {.addr = 0x9000, .from_node = 1, .to_node = 0}, /* up, went */
        {.addr = 0x2000, .from_node = 0, .to_node = 1}, /* down, went */
        {.addr = 0x5000, .from_node = 0, .to_node = 1}, /* down, refused */
        {.addr = 0x7000, .from_node = 0, .to_node = 1}, /* not tracked: type 0 */
    };
    const int after[] = {0, 1, 0, 1};

    (void)state;
    assert_int_equal(mtp_types__count_pages(t, pages, 3, 0), 0);
    mtp_types__count_moves(t, moves, 4, after, 0);
    assert_int_equal(t->tiers[1].promoted, 1);
    assert_int_equal(t->tiers[1].demoted, 0);
    assert_int_equal(t->tiers[2].demoted, 1);
    assert_int_equal(t->tiers[0].demoted, 1);
    /* Moves are kept across intervals; pages are not. */
    assert_int_equal(mtp_types__count_pages(t, pages, 3, 0), 0);
    mtp_types__count_moves(t, moves, 1, after, 0);
    assert_int_equal(t->tiers[1].promoted, 2);
    done(t);
}

static void rows_are_hottest_first_and_named(void **state)
{
    struct mtp_types *t = fresh();
    const struct mtp_hot_page pages[] = {page(0x1000, 0, 2), page(0x2000, 0, 2),
                                         page(0x3000, 70, 1), page(0x4000, 3, 7)};
    struct mtp_type_row rows[8];
    size_t n;

    (void)state;
    t->seen[1] =
        (struct mtp_type_stats){.records = 10,
                                .bytes = 1000,
                                .bank = {{.cycle = 0, .bytes = {900, 0}, .hot_bytes = {900, 0}}}};
    t->seen[2] = (struct mtp_type_stats){
        .records = 10, .bytes = 5000, .bank = {{.cycle = 0, .bytes = {0, 5000}}}};
    t->seen[7] = (struct mtp_type_stats){
        .records = 1, .bytes = 64, .bank = {{.cycle = 0, .bytes = {64, 0}, .hot_bytes = {64, 0}}}};
    t->seen[9].records = 1; /* observed, nothing left */
    t->seen[9].bytes = 64;
    assert_int_equal(mtp_types__count_pages(t, pages, 4, 1), 0);
    n = mtp_types__rows(t, rows, 8);
    assert_int_equal(n, 4);
    assert_string_equal(rows[0].name, "__main__.Hot");
    assert_int_equal(rows[0].observed_bytes, 1000);
    /* A type whose name the fold could not read is shown by its id. */
    assert_string_equal(rows[1].name, "type#7");
    /* Nothing hot: by bytes. */
    assert_string_equal(rows[2].name, "__main__.Cold");
    assert_string_equal(rows[3].name, "type#9");
    /* Observed bytes are per report. */
    t->seen[1].bytes = 1500;
    n = mtp_types__rows(t, rows, 8);
    assert_int_equal(rows[0].observed_bytes, 500);
    /* A short room keeps what fits, sorted; the count is of all. */
    n = mtp_types__rows(t, rows, 2);
    assert_int_equal(n, 4);
    done(t);
}

/* A report shows the hottest half, then the largest of the rest. */
static void the_shown_rows_are_the_hottest_half_then_the_largest(void **state)
{
    struct mtp_type_row rows[5];
    static const uint64_t hot[] = {500, 400, 300, 0, 0}, bytes[] = {600, 500, 700, 100, 9000};

    (void)state;
    for (size_t i = 0; i < 5; i++)
        rows[i] = (struct mtp_type_row){
            .id = (uint16_t)(i + 1), .tiers = {.bytes = {bytes[i], 0}, .hot_bytes = {hot[i], 0}}};
    mtp_types__pick(rows, 5, 4);
    /* two hottest: ids 1, 2; then by bytes: 5 (9000), 3 (700) */
    assert_int_equal(rows[0].id, 1);
    assert_int_equal(rows[1].id, 2);
    assert_int_equal(rows[2].id, 5);
    assert_int_equal(rows[3].id, 3);
    assert_int_equal(rows[4].id, 4);
}

static void unattributed_has_a_name(void **state)
{
    struct mtp_types *t = fresh();
    char name[MTP_TYPE_NAME_MAX];

    (void)state;
    mtp_types__name(t, 0, name, sizeof(name));
    assert_string_equal(name, "(unattributed)");
    mtp_types__name(t, MTP_TYPES_MAX - 1, name, sizeof(name));
    assert_string_equal(name, "type#4095");
    done(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bytes_by_tier_come_from_the_last_complete_cycle),
        cmocka_unit_test(moves_that_went_through_count_for_the_pages_type),
        cmocka_unit_test(rows_are_hottest_first_and_named),
        cmocka_unit_test(the_shown_rows_are_the_hottest_half_then_the_largest),
        cmocka_unit_test(unattributed_has_a_name),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
