/* SPDX-License-Identifier: MIT */
/* Pin directories' owner records: written, read back, judged. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "pinowner.h"

static void test_owner_record_round_trip(void **state)
{
    struct mtp_pin_owner o = {.pid = 4242, .start = 1720437}, back;
    char text[128];

    (void)state;
    mtp_pin_owner_format(&o, text, sizeof(text));
    assert_string_equal(text, "mtp-trace pid=4242 start=1720437");
    assert_int_equal(mtp_pin_owner_parse(text, &back), 0);
    assert_int_equal(back.pid, 4242);
    assert_true(back.start == 1720437);
    assert_false(back.kept);
    o.kept = true;
    mtp_pin_owner_format(&o, text, sizeof(text));
    assert_string_equal(text, "mtp-trace pid=4242 start=1720437 kept");
    assert_int_equal(mtp_pin_owner_parse(text, &back), 0);
    assert_true(back.kept);
}

/* A record this mtp-trace did not write is no record. */
static void test_owner_record_refuses_other_text(void **state)
{
    static const char *const bad[] = {
        "",
        "mtp-trace",
        "mtp-trace pid=0 start=5",
        "mtp-trace pid=-3 start=5",
        "mtp-trace pid=12 start=0",
        "mtp-trace pid=12",
        "mtp-trace pid=12 start=5 kept!",
        "mtp-trace pid=12 start=5 junk",
        "/sys/fs/bpf/elsewhere",
        "other pid=12 start=5",
    };
    struct mtp_pin_owner o = {.pid = 7, .start = 9};

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (mtp_pin_owner_parse(bad[i], &o) != -1)
            fail_msg("'%s' parsed as an owner record", bad[i]);
        assert_int_equal(o.pid, 7); /* left as it was */
    }
}

static void test_stat_starttime(void **state)
{
    /* a command with spaces and parentheses, as /proc/PID/stat shows it */
    static const char stat[] =
        "123 (a) b (c)) S 1 123 123 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 98765 1000 10 "
        "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
    unsigned long long start = 0;

    (void)state;
    assert_int_equal(mtp_stat_starttime(stat, &start), 0);
    assert_true(start == 98765);
    assert_int_equal(mtp_stat_starttime("123 (a) S 1 2 3", &start), -1);
    assert_int_equal(mtp_stat_starttime("no parenthesis", &start), -1);
    assert_int_equal(
        mtp_stat_starttime("1 (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 x7 1\n", &start), -1);
}

static void test_judge(void **state)
{
    struct mtp_pin_owner o = {.pid = 4242, .start = 1000};

    (void)state;
    assert_int_equal(mtp_pins_judge(false, NULL, 0), MTP_PINS_FREE);
    assert_int_equal(mtp_pins_judge(true, NULL, 0), MTP_PINS_UNOWNED);
    assert_int_equal(mtp_pins_judge(true, &o, 1000), MTP_PINS_LIVE);
    /* gone, or its pid reused by a process started later */
    assert_int_equal(mtp_pins_judge(true, &o, 0), MTP_PINS_STALE);
    assert_int_equal(mtp_pins_judge(true, &o, 5000), MTP_PINS_STALE);
    o.kept = true;
    assert_int_equal(mtp_pins_judge(true, &o, 0), MTP_PINS_KEPT);
    assert_int_equal(mtp_pins_judge(true, &o, 1000), MTP_PINS_KEPT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_owner_record_round_trip),
        cmocka_unit_test(test_owner_record_refuses_other_text),
        cmocka_unit_test(test_stat_starttime),
        cmocka_unit_test(test_judge),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
