// SPDX-License-Identifier: MIT
/* The pid list: --pid's comma lists and cgroup.procs' lines, one parser. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "options.h"
#include "pidlist.h"

static void comma_lists_accumulate_without_duplicates(void **state)
{
    struct mtp_pidlist l = {0};
    char err[128];

    (void)state;
    assert_int_equal(mtp_pidlist_add(&l, "12,13", err, sizeof(err)), 2);
    assert_int_equal(mtp_pidlist_add(&l, "14,12", err, sizeof(err)), 2);
    assert_int_equal(l.len, 3);
    assert_int_equal(l.pid[0], 12);
    assert_int_equal(l.pid[1], 13);
    assert_int_equal(l.pid[2], 14);
    assert_true(mtp_pidlist_has(&l, 13));
    assert_false(mtp_pidlist_has(&l, 15));
}

static void cgroup_procs_lines_parse(void **state)
{
    struct mtp_pidlist l = {0};

    (void)state;
    assert_int_equal(mtp_pidlist_add(&l, "101\n102\n\n103\n", NULL, 0), 3);
    assert_int_equal(l.len, 3);
    assert_int_equal(mtp_pidlist_add(&l, "", NULL, 0), 0); /* an empty group */
    assert_int_equal(l.len, 3);
    mtp_pidlist_remove(&l, 102);
    assert_int_equal(l.len, 2);
    assert_int_equal(l.pid[1], 103);
    mtp_pidlist_remove(&l, 999); /* absent: nothing changes */
    assert_int_equal(l.len, 2);
}

static void bad_words_leave_the_list_alone(void **state)
{
    const char *bad[] = {"x", "12,x", "0", "-3", "1.5", "2147483648", "99999999999", "12;13"};
    struct mtp_pidlist l = {0};
    char err[128];

    (void)state;
    assert_int_equal(mtp_pidlist_add(&l, "7", err, sizeof(err)), 1);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(mtp_pidlist_add(&l, bad[i], err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "invalid pid"));
        assert_int_equal(l.len, 1);
        assert_int_equal(l.pid[0], 7);
    }
    assert_int_equal(mtp_pidlist_add(&l, "2147483647", err, sizeof(err)), 1);
}

static void a_full_list_refuses_more(void **state)
{
    struct mtp_pidlist l = {0};
    char text[16], err[128];

    (void)state;
    for (int i = 1; i <= MTP_PIDS_MAX; i++) {
        snprintf(text, sizeof(text), "%d", i);
        assert_int_equal(mtp_pidlist_add(&l, text, err, sizeof(err)), 1);
    }
    assert_int_equal(mtp_pidlist_add(&l, "1", err, sizeof(err)), 1); /* known: fits */
    assert_int_equal(mtp_pidlist_add(&l, "100000", err, sizeof(err)), -E2BIG);
    assert_non_null(strstr(err, "too many pids"));
    assert_int_equal(mtp_pidlist_add_one(&l, 100000), -E2BIG);
    assert_int_equal(l.len, MTP_PIDS_MAX);
}

static void pid_option_takes_lists_and_repeats(void **state)
{
    struct mtp_options o;
    char err[256];

    (void)state;
    mtp_options_default(&o);
    assert_int_equal(o.pids.len, 0);
    assert_int_equal(mtp_options_set(&o, MTP_FROM_CLI, "pid", "5,6", err, sizeof(err)), 0);
    assert_int_equal(mtp_options_set(&o, MTP_FROM_CLI, "pid", "7", err, sizeof(err)), 0);
    assert_int_equal(o.pids.len, 3);
    assert_int_equal(mtp_options_set(&o, MTP_FROM_CLI, "pid", ",", err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "at least one"));
    assert_int_equal(mtp_options_set(&o, MTP_FROM_CLI, "pid", "5,x", err, sizeof(err)), -EINVAL);
    assert_int_equal(o.pids.len, 3);
    /* which processes to trace is the operator's alone */
    assert_true(mtp_options_set(&o, MTP_FROM_FILE, "pid", "8", err, sizeof(err)) < 0);
    assert_true(mtp_options_set(&o, MTP_FROM_APP, "cgroup", "x", err, sizeof(err)) < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(comma_lists_accumulate_without_duplicates),
        cmocka_unit_test(cgroup_procs_lines_parse),
        cmocka_unit_test(bad_words_leave_the_list_alone),
        cmocka_unit_test(a_full_list_refuses_more),
        cmocka_unit_test(pid_option_takes_lists_and_repeats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
