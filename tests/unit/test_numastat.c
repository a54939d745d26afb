// SPDX-License-Identifier: MIT
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>

#include "numastat.h"

/* This machine's node 0, as the kernel writes it. */
static const char HOST[] = "numa_hit 47801615\nnuma_miss 0\nnuma_foreign 1234\n"
                           "interleave_hit 1061\nlocal_node 47801615\nother_node 0\n";

static void reads_a_counter(void **state)
{
    uint64_t v = 0;

    (void)state;
    assert_int_equal(mtp_numastat_value(HOST, "numa_foreign", &v), 0);
    assert_int_equal(v, 1234);
    assert_int_equal(mtp_numastat_value(HOST, "numa_hit", &v), 0);
    assert_int_equal(v, 47801615);
    assert_int_equal(mtp_numastat_value(HOST, "other_node", &v), 0);
    assert_int_equal(v, 0);
}

/* A key is a whole name: "numa_miss" is not "numa_m", and a prefix of a
 * longer line does not match. */
static void whole_names_only(void **state)
{
    uint64_t v = 7;

    (void)state;
    assert_int_equal(mtp_numastat_value(HOST, "numa_m", &v), -ENOENT);
    assert_int_equal(mtp_numastat_value(HOST, "local", &v), -ENOENT);
    assert_int_equal(mtp_numastat_value("", "numa_foreign", &v), -ENOENT);
    assert_int_equal(v, 7);
}

static void malformed_values(void **state)
{
    uint64_t v = 7;

    (void)state;
    assert_int_equal(mtp_numastat_value("numa_foreign x\n", "numa_foreign", &v), -EINVAL);
    assert_int_equal(mtp_numastat_value("numa_foreign 12x\n", "numa_foreign", &v), -EINVAL);
    assert_int_equal(mtp_numastat_value("numa_foreign -1\n", "numa_foreign", &v), -EINVAL);
    assert_int_equal(
        mtp_numastat_value("numa_foreign 99999999999999999999999\n", "numa_foreign", &v), -EINVAL);
    assert_int_equal(v, 7);
    /* no trailing newline is fine */
    assert_int_equal(mtp_numastat_value("numa_foreign 5", "numa_foreign", &v), 0);
    assert_int_equal(v, 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reads_a_counter),
        cmocka_unit_test(whole_names_only),
        cmocka_unit_test(malformed_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
