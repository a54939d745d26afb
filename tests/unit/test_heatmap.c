// SPDX-License-Identifier: MIT
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json.h>

#include "heatmap.h"

#define MB2(n) ((uint64_t)(n) << MTP_HEATMAP_SHIFT)

/* Pages come in the map's (hash) order; blocks leave sorted, summed. */
static void pages_fold_into_sorted_blocks(void **state)
{
    struct mtp_hot_page pages[] = {
        {.addr = MB2(9) + 0x3000, .heat = 5}, {.addr = MB2(2), .heat = 0},
        {.addr = MB2(9), .heat = 7},          {.addr = MB2(2) + 0x1ff000, .heat = 1},
        {.addr = MB2(5) + 0x1000, .heat = 0},
    };
    struct mtp_heat_block out[5];

    (void)state;
    assert_int_equal(mtp_heatmap_fold(pages, 5, out), 3);
    assert_int_equal(out[0].block, 2);
    assert_int_equal(out[0].pages, 2);
    assert_int_equal(out[0].hot, 1);
    assert_int_equal(out[0].heat, 1);
    assert_int_equal(out[1].block, 5);
    assert_int_equal(out[1].hot, 0);
    assert_int_equal(out[2].block, 9);
    assert_int_equal(out[2].pages, 2);
    assert_int_equal(out[2].heat, 12);
    assert_int_equal(mtp_heatmap_fold(NULL, 0, NULL), 0);
}

static void heat_saturates(void **state)
{
    struct mtp_hot_page pages[] = {{.addr = 0x1000, .heat = UINT64_MAX - 1},
                                   {.addr = 0x2000, .heat = 5}};
    struct mtp_heat_block out[2];

    (void)state;
    assert_int_equal(mtp_heatmap_fold(pages, 2, out), 1);
    assert_true(out[0].heat == UINT64_MAX);
}

/* A --record line is the interval's JSON object plus its heatmap column. */
static void a_record_line_carries_the_heatmap(void **state)
{
    struct mtp_report r = {0};
    struct mtp_heat_block blocks[] = {{2, 10, 3, 700}, {9, 1, 0, 0}};
    struct json_object *o, *map, *rows, *v;
    char *line;

    (void)state;
    r.pid = 77;
    r.interval = 4;
    line = mtp_report_json_record(&r, blocks, 2);
    assert_non_null(line);
    assert_null(strchr(line, '\n'));
    o = json_tokener_parse(line);
    assert_non_null(o);
    assert_true(json_object_object_get_ex(o, "pid", &v) && json_object_get_int(v) == 77);
    assert_true(json_object_object_get_ex(o, "interval", &v) && json_object_get_int(v) == 4);
    assert_true(json_object_object_get_ex(o, "heatmap", &map));
    assert_true(json_object_object_get_ex(map, "block_shift", &v) &&
                json_object_get_int(v) == MTP_HEATMAP_SHIFT);
    assert_true(json_object_object_get_ex(map, "blocks", &rows));
    assert_int_equal(json_object_array_length(rows), 2);
    v = json_object_array_get_idx(rows, 0);
    assert_int_equal(json_object_get_uint64(json_object_array_get_idx(v, 0)), 2);
    assert_int_equal(json_object_get_uint64(json_object_array_get_idx(v, 1)), 10);
    assert_int_equal(json_object_get_uint64(json_object_array_get_idx(v, 2)), 3);
    assert_int_equal(json_object_get_uint64(json_object_array_get_idx(v, 3)), 700);
    json_object_put(o);
    free(line);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pages_fold_into_sorted_blocks),
        cmocka_unit_test(heat_saturates),
        cmocka_unit_test(a_record_line_carries_the_heatmap),
    };
    return cmocka_run_group_tests_name("heatmap", tests, NULL, NULL);
}
