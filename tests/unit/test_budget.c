// SPDX-License-Identifier: MIT
/* MTP_BUDGET's parser and the budget's limits (pyext/mtp_budget.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mtp_budget.h"

static const struct mtp_budget defaults = {MTP_BUDGET_SHARE, MTP_BUDGET_TIMER_SHARE,
                                           MTP_BUDGET_SCAN_SHARE};

static void names_set_their_share_and_leave_the_others(void **state)
{
    struct mtp_budget b = defaults;
    char err[160];

    (void)state;
    assert_int_equal(mtp_budget_parse("timer_share=0.01", &b, err, sizeof(err)), 0);
    assert_true(b.timer_share == 0.01);
    assert_true(b.share == MTP_BUDGET_SHARE && b.scan_share == MTP_BUDGET_SCAN_SHARE);
    assert_int_equal(
        mtp_budget_parse("scan_share=0.5%,share=0.1,timer_share=0", &b, err, sizeof(err)), 0);
    assert_true(b.scan_share == 0.005 && b.share == 0.1 && b.timer_share == 0.0);
}

static void a_bad_text_names_the_fault_and_changes_nothing(void **state)
{
    static const struct {
        const char *text, *needle;
    } cases[] = {
        {"", "empty"},
        {"timer_share", "name=value"},
        {"timer=0.01", "unknown name 'timer'"},
        {"timer_share=", "no usable value"},
        {"timer_share=abc", "not a number"},
        {"timer_share=1x", "not a number"},
        {"timer_share=0.01,", "name=value"},
        {"scan_share=0", "out of range"},
        {"timer_share=2", "out of range"},
        {"share=-1", "out of range"},
        {"share=nan", "out of range"},
        {"timer_share=0.01,scan_share=7", "out of range"},
    };
    char err[160];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct mtp_budget b = defaults;

        err[0] = '\0';
        assert_int_equal(mtp_budget_parse(cases[i].text, &b, err, sizeof(err)), -1);
        if (strstr(err, cases[i].needle) == NULL)
            fail_msg("'%s': '%s' lacks '%s'", cases[i].text, err, cases[i].needle);
        assert_memory_equal(&b, &defaults, sizeof(b));
    }
}

static void the_defaults_are_valid(void **state)
{
    (void)state;
    assert_true(mtp_budget_valid(&defaults));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(names_set_their_share_and_leave_the_others),
        cmocka_unit_test(a_bad_text_names_the_fault_and_changes_nothing),
        cmocka_unit_test(the_defaults_are_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
