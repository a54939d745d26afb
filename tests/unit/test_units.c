/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "units.h"

static uint64_t bytes_of(const char *s)
{
    uint64_t v = 12345;
    char err[128] = "";

    assert_int_equal(mtp_parse_bytes(s, &v, err, sizeof(err)), 0);
    assert_string_equal(err, "");
    return v;
}

/* Returns the error code and checks the message mentions `needle`, so a
 * user reading it learns what was wrong. */
static int bytes_error(const char *s, const char *needle)
{
    uint64_t v = 777;
    char err[128] = "";
    int rc = mtp_parse_bytes(s, &v, err, sizeof(err));

    assert_true(rc < 0);
    assert_int_equal(v, 777); /* untouched on error */
    assert_non_null(strstr(err, needle));
    return rc;
}

static void test_bytes_units(void **state)
{
    (void)state;
    assert_int_equal(bytes_of("4096"), 4096);
    assert_int_equal(bytes_of("0"), 0);
    assert_int_equal(bytes_of("10B"), 10);
    assert_int_equal(bytes_of("64K"), 64 << 10);
    assert_int_equal(bytes_of("64k"), 64 << 10);
    assert_int_equal(bytes_of("1kib"), 1024);
    assert_int_equal(bytes_of("512MB"), 512ULL << 20);
    assert_int_equal(bytes_of("2GiB"), 2ULL << 30);
    assert_int_equal(bytes_of("1.5g"), 3ULL << 29);
    assert_int_equal(bytes_of("3t"), 3ULL << 40);
    assert_int_equal(bytes_of("0.001K"), 1); /* 1.024 rounds down */
    assert_int_equal(bytes_of("18446744073709551615"), UINT64_MAX);
    assert_int_equal(bytes_of("16777215T"), 16777215ULL << 40);
    assert_int_equal(bytes_of("16777215.99999T"), (16777215ULL << 40) + 1099500632659ULL);
}

static void test_bytes_errors(void **state)
{
    (void)state;
    assert_int_equal(bytes_error("", "empty"), -EINVAL);
    assert_int_equal(bytes_error(NULL, "empty"), -EINVAL);
    assert_int_equal(bytes_error("-1", "negative"), -EINVAL);
    assert_int_equal(bytes_error("-1G", "negative"), -EINVAL);
    assert_int_equal(bytes_error("12X", "unknown unit \"X\""), -EINVAL);
    assert_int_equal(bytes_error("1KBB", "unknown unit"), -EINVAL);
    assert_int_equal(bytes_error("1 G", "unknown unit"), -EINVAL);
    assert_int_equal(bytes_error("1.5", "fraction"), -EINVAL);
    assert_int_equal(bytes_error("1.", "decimal point"), -EINVAL);
    assert_int_equal(bytes_error("K", "number"), -EINVAL);
    assert_int_equal(bytes_error(" 1", "number"), -EINVAL);
    assert_int_equal(bytes_error("+1", "number"), -EINVAL);
    assert_int_equal(bytes_error("18446744073709551616", "too large"), -ERANGE);
    assert_int_equal(bytes_error("16777216T", "too large"), -ERANGE);
}

static void test_budget(void **state)
{
    struct mtp_size sz;
    char err[128];

    (void)state;
    assert_int_equal(mtp_parse_budget("30%", &sz, err, sizeof(err)), 0);
    assert_int_equal(sz.kind, MTP_SIZE_PERCENT);
    assert_true(sz.percent == 30.0);
    assert_int_equal(mtp_size_resolve(&sz, 1000), 300);

    assert_int_equal(mtp_parse_budget("0.5%", &sz, err, sizeof(err)), 0);
    assert_true(sz.percent == 0.5);
    assert_int_equal(mtp_parse_budget("100%", &sz, err, sizeof(err)), 0);
    assert_int_equal(mtp_size_resolve(&sz, UINT64_MAX), UINT64_MAX);
    assert_int_equal(mtp_size_resolve(&sz, 4096), 4096);

    assert_int_equal(mtp_parse_budget("2G", &sz, err, sizeof(err)), 0);
    assert_int_equal(sz.kind, MTP_SIZE_BYTES);
    assert_int_equal(sz.bytes, 2ULL << 30);
    assert_int_equal(mtp_size_resolve(&sz, 1), 2ULL << 30);
}

static void test_budget_errors(void **state)
{
    static const struct {
        const char *in;
        int rc;
        const char *needle;
    } bad[] = {
        {"0%", -EINVAL, "above 0%"},     {"0.0%", -EINVAL, "above 0%"},
        {"101%", -ERANGE, "above 100%"}, {"100.5%", -ERANGE, "above 100%"},
        {"-5%", -EINVAL, "negative"},    {"%", -EINVAL, "number"},
        {"abc%", -EINVAL, "number"},     {"30 %", -EINVAL, "junk"},
        {"30%%", -EINVAL, "junk"},       {"0", -EINVAL, "above zero"},
        {"0G", -EINVAL, "above zero"},   {"", -EINVAL, "empty"},
        {"5Q", -EINVAL, "unknown unit"},
    };
    struct mtp_size sz = {MTP_SIZE_BYTES, 99, 0};

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[128] = "";

        assert_int_equal(mtp_parse_budget(bad[i].in, &sz, err, sizeof(err)), bad[i].rc);
        if (!strstr(err, bad[i].needle))
            fail_msg("\"%s\": message \"%s\" lacks \"%s\"", bad[i].in, err, bad[i].needle);
        assert_int_equal(sz.bytes, 99);
    }
    /* a NULL err is allowed */
    assert_int_equal(mtp_parse_budget("0%", &sz, NULL, 0), -EINVAL);
}

static void test_rate(void **state)
{
    double r = -1;
    char err[128];

    (void)state;
    assert_int_equal(mtp_parse_rate_mbps("100", &r, err, sizeof(err)), 0);
    assert_true(r == 100.0);
    assert_int_equal(mtp_parse_rate_mbps("2.5", &r, err, sizeof(err)), 0);
    assert_true(r == 2.5);
    assert_int_equal(mtp_parse_rate_mbps("100MB/s", &r, err, sizeof(err)), 0);
    assert_true(r == 100.0);
    assert_int_equal(mtp_parse_rate_mbps("7mib/s", &r, err, sizeof(err)), 0);
    assert_true(r == 7.0);

    r = -1;
    assert_int_equal(mtp_parse_rate_mbps("0", &r, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "above zero"));
    assert_int_equal(mtp_parse_rate_mbps("-3", &r, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "negative"));
    assert_int_equal(mtp_parse_rate_mbps("fast", &r, err, sizeof(err)), -EINVAL);
    assert_int_equal(mtp_parse_rate_mbps("10 MB/s", &r, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "unknown unit"));
    assert_int_equal(mtp_parse_rate_mbps("10GB/s", &r, err, sizeof(err)), -EINVAL);
    assert_int_equal(mtp_parse_rate_mbps("", &r, err, sizeof(err)), -EINVAL);
    assert_true(r == -1);

    assert_int_equal(mtp_rate_bytes_per_interval(100, 1000000000ULL), 100ULL << 20);
    assert_int_equal(mtp_rate_bytes_per_interval(1, 10000000ULL), 10485);
    assert_int_equal(mtp_rate_bytes_per_interval(1e30, 1000000000ULL), UINT64_MAX);
    assert_int_equal(mtp_rate_bytes_per_interval(0, 1000000000ULL), 0);
}

static void test_duration(void **state)
{
    static const struct {
        const char *in;
        uint64_t ns;
    } good[] = {
        {"1", 1000000000ULL},    {"0.5", 500000000ULL},    {"250ms", 250000000ULL},
        {"2s", 2000000000ULL},   {"1m", 60000000000ULL},   {"1min", 60000000000ULL},
        {"100us", 100000ULL},    {"1h", 3600000000000ULL}, {"1.5s", 1500000000ULL},
        {"0.25S", 250000000ULL}, {"0.001ms", 1000ULL},
    };
    static const struct {
        const char *in;
        int rc;
        const char *needle;
    } bad[] = {
        {"0", -EINVAL, "above zero"},
        {"0ms", -EINVAL, "above zero"},
        {"0.0000001us", -EINVAL, "above zero"},
        {"5x", -EINVAL, "unknown unit \"x\""},
        {"5 s", -EINVAL, "unknown unit"},
        {"", -EINVAL, "empty"},
        {"-1s", -EINVAL, "negative"},
        {"ms", -EINVAL, "number"},
        {"99999999999h", -ERANGE, "too long"},
        /* the whole hours fit in 64 bits of ns, the fraction tips it over */
        {"5124095.9h", -ERANGE, "too long"},
    };
    uint64_t ns;
    char err[128];

    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        ns = 0;
        assert_int_equal(mtp_parse_duration_ns(good[i].in, &ns, err, sizeof(err)), 0);
        if (ns != good[i].ns)
            fail_msg("\"%s\" gave %llu ns", good[i].in, (unsigned long long)ns);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ns = 42;
        err[0] = '\0';
        assert_int_equal(mtp_parse_duration_ns(bad[i].in, &ns, err, sizeof(err)), bad[i].rc);
        if (!strstr(err, bad[i].needle))
            fail_msg("\"%s\": message \"%s\" lacks \"%s\"", bad[i].in, err, bad[i].needle);
        assert_int_equal(ns, 42);
    }
}

/* A short error buffer truncates rather than overflows (ASan watches). */
static void test_short_err_buffer(void **state)
{
    char err[8];
    uint64_t v;

    (void)state;
    memset(err, 'x', sizeof(err));
    assert_int_equal(mtp_parse_bytes("123456789012345678901234567890", &v, err, sizeof(err)),
                     -ERANGE);
    assert_int_equal(strlen(err), sizeof(err) - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bytes_units),
        cmocka_unit_test(test_bytes_errors),
        cmocka_unit_test(test_budget),
        cmocka_unit_test(test_budget_errors),
        cmocka_unit_test(test_rate),
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_short_err_buffer),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
