/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "mtp_settings.h"
#include "options.h"
#include "setting_decode.h"

#define MiB (1024ULL * 1024ULL)
#define GiB (1024ULL * MiB)

static const char *const ALL_KNOBS[] = {
    "pid",         "interval",  "duration",        "json",          "keep-pins",
    "verbose",     "dry-run",   "no-migrate",      "show-tiers",    "eager",
    "top-pages",   "max-pages", "pin-root",        "fast-nodes",    "slow-nodes",
    "fast-budget", "watermark", "max-rate",        "hot-threshold", "lazy",
    "lazy-min",    "lazy-max",  "no-written-scan", "no-sweep",      "headroom",
};
#define N_KNOBS (sizeof(ALL_KNOBS) / sizeof(ALL_KNOBS[0]))

/* Where, what and who: the operator's command line only. */
static const char *const CLI_ONLY[] = {"pid",     "json",       "keep-pins", "pin-root",
                                       "verbose", "show-tiers", "top-pages", "duration",
                                       "top",     "types"};
/* The operator's, from the command line or the config file. */
static const char *const OPERATOR[] = {"max-pages", "fast-nodes",      "slow-nodes", "no-migrate",
                                       "dry-run",   "interval",        "watermark",  "lazy-min",
                                       "lazy-max",  "no-written-scan", "no-sweep",   "headroom"};
/* What the program's mtp.configure() knows: include/mtp_settings.h, which the
 * extension's list is made from too. */
#define APP_OPTION(option, keyword) option,
static const char *const APP_KNOBS[] = {MTP_APP_SETTINGS(APP_OPTION)};
#undef APP_OPTION
#define APP_KEYWORD(option, keyword) keyword,
static const char *const APP_KEYWORDS[] = {MTP_APP_SETTINGS(APP_KEYWORD)};
#undef APP_KEYWORD

static bool in_list(const char *name, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(name, list[i]))
            return true;
    return false;
}

/* A value each knob accepts, for the tests about sources. */
static const char *good_value(const char *name)
{
    static const struct {
        const char *name, *value;
    } v[] = {
        {"pid", "42"},        {"interval", "2s"},    {"duration", "10"},
        {"top-pages", "5"},   {"max-pages", "2048"}, {"pin-root", "/sys/fs/bpf/x"},
        {"fast-nodes", "0"},  {"slow-nodes", "1"},   {"fast-budget", "1G"},
        {"watermark", "32M"}, {"max-rate", "20"},    {"hot-threshold", "7"},
        {"lazy", "4"},        {"lazy-min", "2"},     {"lazy-max", "9"},
        {"headroom", "4M"},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        if (!strcmp(v[i].name, name))
            return v[i].value;
    return "true"; /* the booleans */
}

static void fresh(struct mtp_options *o)
{
    /* garbage first, so the defaults must set every field they promise */
    memset(o, 0xa5, sizeof(*o));
    mtp_options_default(o);
}

static void set_ok(struct mtp_options *o, enum mtp_option_source from, const char *name,
                   const char *value)
{
    char err[256] = "";
    int rc = mtp_options_set(o, from, name, value, err, sizeof(err));

    if (rc != 0)
        fail_msg("%s=%s: rc %d: %s", name, value ? value : "(null)", rc, err);
}

/* Rejected with -EINVAL, a message containing `needle` (the option's name),
 * and the options left exactly as they were. */
static void set_bad(struct mtp_options *o, enum mtp_option_source from, const char *name,
                    const char *value, const char *needle)
{
    struct mtp_options before;
    char err[1024] = "";
    int rc;

    memcpy(&before, o, sizeof(before));
    rc = mtp_options_set(o, from, name, value, err, sizeof(err));
    if (rc != -EINVAL)
        fail_msg("%s=%s: rc %d, expected -EINVAL (err '%s')", name, value ? value : "(null)", rc,
                 err);
    if (!strstr(err, needle))
        fail_msg("%s=%s: error '%s' does not mention '%s'", name, value ? value : "(null)", err,
                 needle);
    if (memcmp(&before, o, sizeof(before)) != 0)
        fail_msg("%s=%s: rejected, yet the options changed", name, value ? value : "(null)");
}

/* ---- defaults ---- */

static void test_defaults(void **state)
{
    struct mtp_options o;
    struct mtp_policy_config pd;
    char err[256] = "";

    (void)state;
    fresh(&o);
    mtp_policy_config_default(&pd);
    assert_int_equal(o.pids.len, 0);
    assert_string_equal(o.cgroup, "");
    assert_int_equal(o.interval_ns, 1000000000ULL);
    assert_int_equal(o.duration_ns, 0);
    assert_false(o.json);
    assert_false(o.keep_pins);
    assert_false(o.verbose);
    assert_false(o.dry_run);
    assert_false(o.no_migrate);
    assert_false(o.show_tiers);
    assert_int_equal(o.top_pages, 10);
    assert_int_equal(o.max_pages, 0); /* auto: sized from the target */
    assert_true(o.max_rate_mbps == 100.0);
    assert_string_equal(o.pin_root, "/sys/fs/bpf/mtp");
    assert_string_equal(o.fast_nodes, "");
    assert_string_equal(o.slow_nodes, "");
    assert_int_equal(o.policy.fast_budget.kind, pd.fast_budget.kind);
    assert_true(o.policy.fast_budget.percent == pd.fast_budget.percent);
    /* the kernel's watermark once the fast node is known; 64M until then */
    assert_true(o.watermark_auto);
    assert_int_equal(o.policy.watermark_bytes, pd.watermark_bytes);
    assert_int_equal(o.policy.watermark_bytes, 64 * MiB);
    /* the headroom is measured */
    assert_true(o.policy.headroom_auto);
    assert_int_equal(o.policy.headroom_bytes, 0);
    assert_int_equal(o.policy.hot_threshold, pd.hot_threshold);
    assert_int_equal(o.policy.lazy_initial, pd.lazy_initial);
    assert_int_equal(o.policy.lazy_min, pd.lazy_min);
    assert_int_equal(o.policy.lazy_max, pd.lazy_max);
    assert_int_equal(o.policy.pingpong_window, pd.pingpong_window);
    assert_false(o.policy.eager);
    /* the defaults make a valid whole */
    assert_int_equal(mtp_options_finish(&o, err, sizeof(err)), 0);
    assert_string_equal(err, "");
}

/* ---- every knob by name ---- */

static void test_numbers(void **state)
{
    struct mtp_options o;

    (void)state;
    fresh(&o);
    set_ok(&o, MTP_FROM_CLI, "pid", "1234");
    assert_int_equal(o.pids.pid[0], 1234);
    set_ok(&o, MTP_FROM_CLI, "pid", "2147483647");
    assert_int_equal(o.pids.pid[1], 2147483647);
    set_bad(&o, MTP_FROM_CLI, "pid", "0", "invalid pid '0'");
    set_bad(&o, MTP_FROM_CLI, "pid", "-5", "invalid pid");
    set_bad(&o, MTP_FROM_CLI, "pid", "2147483648", "invalid pid");
    set_bad(&o, MTP_FROM_CLI, "pid", "12abc", "invalid pid");
    set_bad(&o, MTP_FROM_CLI, "pid", "0x10", "invalid pid");
    set_bad(&o, MTP_FROM_CLI, "pid", "", "invalid pid");
    set_bad(&o, MTP_FROM_CLI, "pid", NULL, "invalid pid");
    set_bad(&o, MTP_FROM_CLI, "pid", "99999999999999999999999", "invalid pid");

    set_ok(&o, MTP_FROM_CLI, "top-pages", "0");
    assert_int_equal(o.top_pages, 0);
    set_ok(&o, MTP_FROM_CLI, "top-pages", "10000");
    assert_int_equal(o.top_pages, 10000);
    set_bad(&o, MTP_FROM_CLI, "top-pages", "10001",
            "invalid top-pages '10001': give a whole number from 0");
    set_bad(&o, MTP_FROM_CLI, "top-pages", "many", "invalid top-pages");

    set_ok(&o, MTP_FROM_CLI, "max-pages", "1024");
    assert_int_equal(o.max_pages, 1024);
    set_ok(&o, MTP_FROM_CLI, "max-pages", "268435456");
    assert_int_equal(o.max_pages, 1u << 28);
    set_bad(&o, MTP_FROM_CLI, "max-pages", "1023", "invalid max-pages");
    set_bad(&o, MTP_FROM_CLI, "max-pages", "268435457", "invalid max-pages");
    set_ok(&o, MTP_FROM_CLI, "max-pages", "auto");
    assert_int_equal(o.max_pages, 0);
    set_bad(&o, MTP_FROM_CLI, "max-pages", "lots", "or 'auto'");
    set_bad(&o, MTP_FROM_CLI, "max-pages", "1.5", "invalid max-pages");

    set_ok(&o, MTP_FROM_CLI, "hot-threshold", "1");
    assert_int_equal(o.policy.hot_threshold, 1);
    set_ok(&o, MTP_FROM_CLI, "hot-threshold", "9223372036854775807");
    assert_int_equal(o.policy.hot_threshold, UINT64_MAX >> 1);
    set_bad(&o, MTP_FROM_CLI, "hot-threshold", "0", "invalid hot-threshold");
    set_bad(&o, MTP_FROM_CLI, "hot-threshold", "9223372036854775808", "invalid hot-threshold");
    set_bad(&o, MTP_FROM_CLI, "hot-threshold", "-1", "invalid hot-threshold");

    set_ok(&o, MTP_FROM_CLI, "lazy", "1");
    assert_int_equal(o.policy.lazy_initial, 1);
    set_ok(&o, MTP_FROM_CLI, "lazy", "1024");
    assert_int_equal(o.policy.lazy_initial, 1024);
    set_bad(&o, MTP_FROM_CLI, "lazy", "0", "invalid lazy '0'");
    set_bad(&o, MTP_FROM_CLI, "lazy", "1025", "invalid lazy");
    set_ok(&o, MTP_FROM_CLI, "lazy-min", "3");
    assert_int_equal(o.policy.lazy_min, 3);
    set_bad(&o, MTP_FROM_CLI, "lazy-min", "0", "invalid lazy-min");
    set_bad(&o, MTP_FROM_CLI, "lazy-min", "1025", "invalid lazy-min");
    set_ok(&o, MTP_FROM_CLI, "lazy-max", "1024");
    assert_int_equal(o.policy.lazy_max, 1024);
    set_bad(&o, MTP_FROM_CLI, "lazy-max", "0", "invalid lazy-max");
    set_bad(&o, MTP_FROM_CLI, "lazy-max", "lots", "invalid lazy-max");
}

/* A count is digits and nothing else: strtoull's blanks and signs, and
 * "-0", are refused, not read as the number they surround. */
static void test_numbers_are_digits_only(void **state)
{
    static const char *const bad[] = {" 5", "+5", "5 ", "\t5", "-0", " -1", "+0", "5\n", "0x5"};
    struct mtp_options o;
    char needle[64];

    (void)state;
    fresh(&o);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(needle, sizeof(needle), "invalid top-pages '%s'", bad[i]);
        set_bad(&o, MTP_FROM_CLI, "top-pages", bad[i], needle);
        set_bad(&o, MTP_FROM_CLI, "lazy", bad[i], "invalid lazy");
        set_bad(&o, MTP_FROM_CLI, "max-pages", bad[i], "invalid max-pages");
        set_bad(&o, MTP_FROM_FILE, "hot-threshold", bad[i], "invalid hot-threshold");
        set_bad(&o, MTP_FROM_APP, "hot-threshold", bad[i], "invalid hot-threshold");
    }
    set_ok(&o, MTP_FROM_CLI, "top-pages", "007");
    assert_int_equal(o.top_pages, 7);
}

static void test_quantities(void **state)
{
    struct mtp_options o;
    char err[256] = "";

    (void)state;
    fresh(&o);
    set_ok(&o, MTP_FROM_CLI, "interval", "0.5");
    assert_int_equal(o.interval_ns, 500000000ULL);
    set_ok(&o, MTP_FROM_CLI, "interval", "250ms");
    assert_int_equal(o.interval_ns, 250000000ULL);
    set_ok(&o, MTP_FROM_CLI, "interval", "10ms"); /* the least allowed */
    assert_int_equal(o.interval_ns, 10000000ULL);
    set_bad(&o, MTP_FROM_CLI, "interval", "0", "invalid interval");
    set_bad(&o, MTP_FROM_CLI, "interval", "-1", "invalid interval");
    set_bad(&o, MTP_FROM_CLI, "interval", "soon", "invalid interval");
    set_bad(&o, MTP_FROM_CLI, "interval", NULL, "invalid interval");
    /* below 10ms: rejected with the reason (the field is not restored, which
     * only matters to callers that keep going after an error) */
    assert_int_equal(mtp_options_set(&o, MTP_FROM_CLI, "interval", "9ms", err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "invalid interval '9ms': must be at least 10ms"));

    set_ok(&o, MTP_FROM_CLI, "duration", "1m");
    assert_int_equal(o.duration_ns, 60000000000ULL);
    set_ok(&o, MTP_FROM_CLI, "duration", "100us");
    assert_int_equal(o.duration_ns, 100000ULL);
    set_bad(&o, MTP_FROM_CLI, "duration", "x", "invalid duration");
    set_bad(&o, MTP_FROM_CLI, "duration", "0", "invalid duration");
    set_bad(&o, MTP_FROM_CLI, "duration", "5 parsecs", "invalid duration");

    set_ok(&o, MTP_FROM_CLI, "fast-budget", "2G");
    assert_int_equal(o.policy.fast_budget.kind, MTP_SIZE_BYTES);
    assert_int_equal(o.policy.fast_budget.bytes, 2 * GiB);
    set_ok(&o, MTP_FROM_CLI, "fast-budget", "30%");
    assert_int_equal(o.policy.fast_budget.kind, MTP_SIZE_PERCENT);
    assert_true(o.policy.fast_budget.percent == 30.0);
    set_bad(&o, MTP_FROM_CLI, "fast-budget", "lots", "invalid fast-budget");
    set_bad(&o, MTP_FROM_CLI, "fast-budget", "0%", "invalid fast-budget");
    set_bad(&o, MTP_FROM_CLI, "fast-budget", "101%", "invalid fast-budget");
    set_bad(&o, MTP_FROM_CLI, "fast-budget", "0", "invalid fast-budget");
    set_bad(&o, MTP_FROM_CLI, "fast-budget", "10X", "invalid fast-budget");
    set_bad(&o, MTP_FROM_CLI, "fast-budget", NULL, "invalid fast-budget");

    set_ok(&o, MTP_FROM_CLI, "headroom", "16M");
    assert_false(o.policy.headroom_auto);
    assert_int_equal(o.policy.headroom_bytes, 16 * MiB);
    set_ok(&o, MTP_FROM_CLI, "headroom", "0"); /* none */
    assert_false(o.policy.headroom_auto);
    assert_int_equal(o.policy.headroom_bytes, 0);
    set_ok(&o, MTP_FROM_CLI, "headroom", "auto");
    assert_true(o.policy.headroom_auto);
    set_ok(&o, MTP_FROM_CLI, "watermark", "0"); /* a zero watermark is meaningful */
    assert_int_equal(o.policy.watermark_bytes, 0);
    assert_false(o.watermark_auto);
    set_ok(&o, MTP_FROM_CLI, "watermark", "auto");
    assert_true(o.watermark_auto);
    assert_int_equal(o.policy.watermark_bytes, 64 * MiB); /* the fallback, not the 0 before */
    set_ok(&o, MTP_FROM_CLI, "watermark", "64M");
    assert_int_equal(o.policy.watermark_bytes, 64 * MiB);
    assert_false(o.watermark_auto);
    set_bad(&o, MTP_FROM_CLI, "watermark", "-1", "invalid watermark");
    set_bad(&o, MTP_FROM_CLI, "watermark", "5%", "invalid watermark");
    set_bad(&o, MTP_FROM_CLI, "watermark", "Auto", "invalid watermark");
    set_bad(&o, MTP_FROM_CLI, "watermark", "lots", "or 'auto'");
    set_bad(&o, MTP_FROM_CLI, "watermark", NULL, "invalid watermark");
    assert_false(o.watermark_auto); /* a rejected value changes nothing */

    set_ok(&o, MTP_FROM_CLI, "max-rate", "50");
    assert_true(o.max_rate_mbps == 50.0);
    set_ok(&o, MTP_FROM_CLI, "max-rate", "12.5MB/s");
    assert_true(o.max_rate_mbps == 12.5);
    set_bad(&o, MTP_FROM_CLI, "max-rate", "0", "invalid max-rate");
    set_bad(&o, MTP_FROM_CLI, "max-rate", "-5", "invalid max-rate");
    set_bad(&o, MTP_FROM_CLI, "max-rate", "5GB/s", "invalid max-rate");
    set_bad(&o, MTP_FROM_CLI, "max-rate", "", "invalid max-rate");
}

static void test_strings(void **state)
{
    struct mtp_options o;
    char long_value[300], err[256] = "";

    (void)state;
    fresh(&o);
    set_ok(&o, MTP_FROM_CLI, "pin-root", "/tmp/bpf");
    assert_string_equal(o.pin_root, "/tmp/bpf");
    set_bad(&o, MTP_FROM_CLI, "pin-root", "", "invalid pin-root");
    set_bad(&o, MTP_FROM_CLI, "pin-root", NULL, "invalid pin-root");
    memset(long_value, 'a', sizeof(long_value) - 1);
    long_value[0] = '/';
    long_value[sizeof(long_value) - 1] = '\0';
    set_bad(&o, MTP_FROM_CLI, "pin-root", long_value, "under 256 characters");
    long_value[255] = '\0'; /* 255 characters fit with their NUL */
    set_ok(&o, MTP_FROM_CLI, "pin-root", long_value);
    assert_int_equal(strlen(o.pin_root), 255);
    /* a relative path is refused with the fix */
    assert_int_equal(mtp_options_set(&o, MTP_FROM_CLI, "pin-root", "bpf", err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "invalid pin-root 'bpf': give an absolute path"));

    set_ok(&o, MTP_FROM_CLI, "fast-nodes", "0-1");
    assert_string_equal(o.fast_nodes, "0-1");
    set_ok(&o, MTP_FROM_CLI, "slow-nodes", "2,3");
    assert_string_equal(o.slow_nodes, "2,3");
    set_bad(&o, MTP_FROM_CLI, "fast-nodes", "", "invalid fast-nodes");
    set_bad(&o, MTP_FROM_CLI, "slow-nodes", NULL, "invalid slow-nodes");
    /* a list's syntax is checked when given, whatever --no-migrate says */
    set_ok(&o, MTP_FROM_CLI, "no-migrate", NULL);
    set_bad(&o, MTP_FROM_CLI, "fast-nodes", "garbage", "invalid fast-nodes 'garbage'");
    set_bad(&o, MTP_FROM_FILE, "slow-nodes", "1-", "invalid slow-nodes '1-'");
    set_bad(&o, MTP_FROM_CLI, "slow-nodes", "4096", "invalid slow-nodes");
    assert_string_equal(o.fast_nodes, "0-1");
    assert_string_equal(o.slow_nodes, "2,3");
    long_value[MTP_NODELIST_MAX] = '\0';
    set_bad(&o, MTP_FROM_CLI, "slow-nodes", long_value, "invalid slow-nodes");
}

static bool *bool_field(struct mtp_options *o, const char *name)
{
    if (!strcmp(name, "json"))
        return &o->json;
    if (!strcmp(name, "keep-pins"))
        return &o->keep_pins;
    if (!strcmp(name, "verbose"))
        return &o->verbose;
    if (!strcmp(name, "dry-run"))
        return &o->dry_run;
    if (!strcmp(name, "no-migrate"))
        return &o->no_migrate;
    if (!strcmp(name, "show-tiers"))
        return &o->show_tiers;
    if (!strcmp(name, "eager"))
        return &o->policy.eager;
    if (!strcmp(name, "no-written-scan"))
        return &o->no_written_scan;
    if (!strcmp(name, "no-sweep"))
        return &o->no_sweep;
    fail_msg("no boolean %s", name);
    return NULL;
}

static void test_booleans(void **state)
{
    static const char *const names[] = {"json",    "keep-pins",  "verbose",
                                        "dry-run", "no-migrate", "show-tiers",
                                        "eager",   "no-sweep",   "no-written-scan"};
    static const char *const yes[] = {"true", "TRUE", "yes", "Yes", "1", "on"};
    static const char *const no[] = {"false", "False", "no", "NO", "0", "off"};
    static const char *const junk[] = {"maybe", "", "2", "truee", "y", "-1", " true"};
    struct mtp_options o;
    char needle[64];

    (void)state;
    fresh(&o);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        bool *f = bool_field(&o, names[i]);

        /* a bare flag on the command line */
        assert_false(*f);
        set_ok(&o, MTP_FROM_CLI, names[i], NULL);
        assert_true(*f);
        for (size_t j = 0; j < sizeof(yes) / sizeof(yes[0]); j++) {
            *f = false;
            set_ok(&o, MTP_FROM_CLI, names[i], yes[j]);
            assert_true(*f);
        }
        for (size_t j = 0; j < sizeof(no) / sizeof(no[0]); j++) {
            *f = true;
            set_ok(&o, MTP_FROM_CLI, names[i], no[j]);
            assert_false(*f);
        }
        for (size_t j = 0; j < sizeof(junk) / sizeof(junk[0]); j++) {
            snprintf(needle, sizeof(needle), "invalid %s '%s': use true or false", names[i],
                     junk[j]);
            *f = true;
            set_bad(&o, MTP_FROM_CLI, names[i], junk[j], needle);
            *f = false;
            set_bad(&o, MTP_FROM_CLI, names[i], junk[j], needle);
        }
        *f = false;
    }
}

/* ---- who may set what ---- */

/* The program-settable rows of the option table are exactly
 * include/mtp_settings.h's, and each keyword is its option with '_' for '-'
 * (the extension turns one into the other). */
static void test_app_settings_declared_once(void **state)
{
    size_t app_rows = 0, n = sizeof(APP_KNOBS) / sizeof(APP_KNOBS[0]);

    (void)state;
    for (size_t i = 0; i < mtp_option_count; i++) {
        if (!(mtp_option_table[i].from & MTP_OPT_APP))
            continue;
        app_rows++;
        if (!in_list(mtp_option_table[i].name, APP_KNOBS, n))
            fail_msg("option '%s' is program-settable but not in MTP_APP_SETTINGS",
                     mtp_option_table[i].name);
    }
    assert_int_equal(app_rows, n);
    for (size_t i = 0; i < n; i++) {
        char dashed[32];

        snprintf(dashed, sizeof(dashed), "%s", APP_KEYWORDS[i]);
        for (char *c = dashed; *c; c++)
            if (*c == '_')
                *c = '-';
        assert_string_equal(dashed, APP_KNOBS[i]);
    }
}

static void test_sources(void **state)
{
    struct mtp_options o;
    char needle[96];

    (void)state;
    for (size_t i = 0; i < N_KNOBS; i++) {
        const char *name = ALL_KNOBS[i], *value = good_value(name);
        bool cli_only = in_list(name, CLI_ONLY, sizeof(CLI_ONLY) / sizeof(CLI_ONLY[0]));
        bool operator= in_list(name, OPERATOR, sizeof(OPERATOR) / sizeof(OPERATOR[0]));
        bool app = in_list(name, APP_KNOBS, sizeof(APP_KNOBS) / sizeof(APP_KNOBS[0]));

        /* every knob is in exactly one class */
        assert_int_equal(cli_only + operator+ app, 1);

        fresh(&o);
        set_ok(&o, MTP_FROM_CLI, name, value);

        fresh(&o);
        if (cli_only) {
            snprintf(needle, sizeof(needle), "'%s' can only be given on the command line", name);
            set_bad(&o, MTP_FROM_FILE, name, value, needle);
        } else {
            set_ok(&o, MTP_FROM_FILE, name, value);
        }

        fresh(&o);
        if (cli_only) {
            snprintf(needle, sizeof(needle), "'%s' can only be given on the command line", name);
            set_bad(&o, MTP_FROM_APP, name, value, needle);
        } else if (operator) {
            snprintf(needle, sizeof(needle), "'%s' is the operator's to set, not the program's",
                     name);
            set_bad(&o, MTP_FROM_APP, name, value, needle);
            /* refused for who asks, whatever the value */
            set_bad(&o, MTP_FROM_APP, name, "junk", needle);
        } else {
            set_ok(&o, MTP_FROM_APP, name, value);
        }
    }

    /* an app's values take effect like anyone's; the loader clamps them */
    fresh(&o);
    set_ok(&o, MTP_FROM_APP, "max-rate", "5");
    set_ok(&o, MTP_FROM_APP, "lazy", "3");
    set_ok(&o, MTP_FROM_APP, "eager", "true");
    set_ok(&o, MTP_FROM_APP, "fast-budget", "512M");
    set_ok(&o, MTP_FROM_APP, "hot-threshold", "100");
    assert_true(o.max_rate_mbps == 5.0);
    assert_int_equal(o.policy.lazy_initial, 3);
    assert_true(o.policy.eager);
    assert_int_equal(o.policy.fast_budget.bytes, 512 * MiB);
    assert_int_equal(o.policy.hot_threshold, 100);
    set_bad(&o, MTP_FROM_APP, "max-rate", "fast", "invalid max-rate");
    set_bad(&o, MTP_FROM_APP, "lazy", "0", "invalid lazy");
}

static void test_unknown_names(void **state)
{
    static const char *const names[] = {"bogus", "",        "max_rate", "config",
                                        "help",  "maxrate", "lazy-",    "pingpong-window"};
    static const enum mtp_option_source from[] = {MTP_FROM_CLI, MTP_FROM_FILE, MTP_FROM_APP};
    struct mtp_options o, before;
    char err[256], needle[64];

    (void)state;
    fresh(&o);
    memcpy(&before, &o, sizeof(o));
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        for (size_t j = 0; j < 3; j++) {
            err[0] = '\0';
            assert_int_equal(mtp_options_set(&o, from[j], names[i], "1", err, sizeof(err)),
                             -ENOENT);
            snprintf(needle, sizeof(needle), "unknown setting '%s'", names[i]);
            assert_non_null(strstr(err, needle));
        }
    }
    assert_memory_equal(&before, &o, sizeof(o));
}

/* ---- the config file ---- */

static int load(struct mtp_options *o, const char *text, char *err, size_t errlen)
{
    err[0] = '\0';
    return mtp_options_load_ini(o, text, "/etc/mtp.ini", err, errlen);
}

static void load_ok(struct mtp_options *o, const char *text)
{
    char err[512];

    if (load(o, text, err, sizeof(err)) != 0)
        fail_msg("loading '%s': %s", text, err);
}

/* Fails with an error that starts "FILE:LINE: " and then says `needle`. */
static void load_bad(const char *text, int line, const char *needle)
{
    struct mtp_options o;
    char err[512], prefix[64];

    fresh(&o);
    assert_int_equal(load(&o, text, err, sizeof(err)), -EINVAL);
    snprintf(prefix, sizeof(prefix), "/etc/mtp.ini:%d: ", line);
    if (strncmp(err, prefix, strlen(prefix)) != 0)
        fail_msg("'%s': error '%s' does not start with '%s'", text, err, prefix);
    if (!strstr(err + strlen(prefix), needle))
        fail_msg("'%s': error '%s' does not say '%s'", text, err, needle);
}

static void test_ini_keys(void **state)
{
    struct mtp_options o;

    (void)state;
    /* no section */
    fresh(&o);
    load_ok(&o, "max-rate = 50\nlazy = 4\n");
    assert_true(o.max_rate_mbps == 50.0);
    assert_int_equal(o.policy.lazy_initial, 4);

    /* [mtp] */
    fresh(&o);
    load_ok(&o, "[mtp]\nfast-budget = 2G\nlazy-max=12\n");
    assert_int_equal(o.policy.fast_budget.kind, MTP_SIZE_BYTES);
    assert_int_equal(o.policy.fast_budget.bytes, 2 * GiB);
    assert_int_equal(o.policy.lazy_max, 12);

    /* both, with comments, blank lines, padding and booleans */
    fresh(&o);
    load_ok(&o, "# mtp-trace settings\n"
                "; another comment\n"
                "\n"
                "watermark = 128M\n"
                "[mtp]\n"
                "  # indented comment\n"
                "max-rate   =   7 ; inline comment\n"
                "dry-run = yes\n"
                "eager = off\n"
                "interval = 250ms\n"
                "max-pages = 4096\n");
    assert_int_equal(o.policy.watermark_bytes, 128 * MiB);
    assert_false(o.watermark_auto);
    assert_true(o.max_rate_mbps == 7.0);
    assert_true(o.dry_run);
    assert_false(o.policy.eager);
    assert_int_equal(o.interval_ns, 250000000ULL);
    assert_int_equal(o.max_pages, 4096);

    /* an empty file changes nothing */
    fresh(&o);
    load_ok(&o, "");
    load_ok(&o, "\n# only a comment\n");
    {
        struct mtp_options d;

        fresh(&d);
        assert_memory_equal(&d, &o, sizeof(o));
    }
}

static void test_ini_errors(void **state)
{
    struct mtp_options o;
    char err[512];

    (void)state;
    /* a bad value, on the right line, naming the option */
    load_bad("[mtp]\nmax-rate = 50\nfast-budget = lots\n", 3, "invalid fast-budget");
    load_bad("# header\n\n[mtp]\n\nlazy = 4\n\n\nlazy-min = 0\n", 8, "invalid lazy-min");
    load_bad("eager = maybe\n", 1, "invalid eager 'maybe'");
    /* the first error is the one reported */
    load_bad("lazy = 0\nmax-rate = x\n", 1, "invalid lazy");
    /* keys the file may not set, and keys nobody knows */
    load_bad("max-rate = 5\npid = 1234\n", 2, "'pid' can only be given on the command line");
    load_bad("[mtp]\njson = true\n", 2, "'json' can only be given on the command line");
    load_bad("[mtp]\nmax-rate = 5\nbogus = 1\n", 3, "unknown setting 'bogus'");
    /* another section */
    load_bad("[mtp]\nlazy = 3\n[other]\nlazy = 4\n", 4, "unknown section [other]");
    load_bad("[MTP-trace]\nlazy = 4\n", 2, "unknown section [MTP-trace]");
    /* not "key = value" */
    load_bad("[mtp]\nmax-rate 50\n", 2, "not a 'key = value' line");
    load_bad("eager\n", 1, "not a 'key = value' line");
    load_bad("[mtp\nlazy = 4\n", 1, "not a 'key = value' line");

    /* nothing after a failing line is applied */
    fresh(&o);
    assert_int_equal(load(&o, "[mtp]\nfast-budget = lots\nlazy = 4\n", err, sizeof(err)), -EINVAL);
    assert_int_equal(o.policy.lazy_initial, 2);
    /* a section that is refused applies none of its keys */
    fresh(&o);
    assert_int_equal(load(&o, "[other]\nlazy = 4\n", err, sizeof(err)), -EINVAL);
    assert_int_equal(o.policy.lazy_initial, 2);

    /* the file name is the caller's, and a tiny buffer is not overrun */
    fresh(&o);
    assert_int_equal(mtp_options_load_ini(&o, "lazy = 0\n", "my.conf", err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "my.conf:1: invalid lazy"));
    memset(err, 'x', sizeof(err));
    assert_int_equal(mtp_options_load_ini(&o, "lazy = 0\n", "my.conf", err, 8), -EINVAL);
    assert_string_equal(err, "my.conf");
    assert_int_equal(err[8], 'x');
}

/* The first error stands even when a later line fails differently: the line
 * number and the message must describe the same line. */
static void test_ini_error_line_matches_message(void **state)
{
    (void)state;
    load_bad("[mtp]\nthis is not a setting\nmax-rate = fast\n", 2, "not a 'key = value' line");
    load_bad("[mtp]\nmax-rate 5\n[other]\nlazy = 4\n", 2, "not a 'key = value' line");
}

/* The loader applies --config before the command line; a later set wins. */
static void test_later_set_overrides_ini(void **state)
{
    struct mtp_options o;

    (void)state;
    fresh(&o);
    load_ok(&o, "[mtp]\nmax-rate = 50\nlazy = 4\nfast-budget = 40%\n");
    set_ok(&o, MTP_FROM_CLI, "max-rate", "20");
    set_ok(&o, MTP_FROM_CLI, "fast-budget", "1G");
    assert_true(o.max_rate_mbps == 20.0);
    assert_int_equal(o.policy.fast_budget.kind, MTP_SIZE_BYTES);
    assert_int_equal(o.policy.fast_budget.bytes, GiB);
    assert_int_equal(o.policy.lazy_initial, 4); /* not given again: the file's stands */

    /* auto in the file, a size on the command line, and the reverse */
    fresh(&o);
    load_ok(&o, "watermark = 32M\n");
    assert_false(o.watermark_auto);
    load_ok(&o, "[mtp]\nwatermark = auto\n");
    assert_true(o.watermark_auto);
    assert_int_equal(o.policy.watermark_bytes, 64 * MiB);
    set_ok(&o, MTP_FROM_CLI, "watermark", "16M");
    assert_false(o.watermark_auto);
    assert_int_equal(o.policy.watermark_bytes, 16 * MiB);
    load_ok(&o, "watermark = 8M\n");
    set_ok(&o, MTP_FROM_CLI, "watermark", "auto");
    assert_true(o.watermark_auto);
}

/* ---- finish ---- */

static void test_finish(void **state)
{
    struct mtp_options o;
    char err[256];

    (void)state;
    fresh(&o);
    assert_int_equal(mtp_options_finish(&o, err, sizeof(err)), 0);
    assert_int_equal(o.policy.max_bytes_per_interval, 104857600ULL); /* 100 MiB/s x 1 s */

    set_ok(&o, MTP_FROM_CLI, "interval", "0.5");
    assert_int_equal(mtp_options_finish(&o, err, sizeof(err)), 0);
    assert_int_equal(o.policy.max_bytes_per_interval, 52428800ULL);

    fresh(&o);
    set_ok(&o, MTP_FROM_CLI, "max-rate", "12.5");
    set_ok(&o, MTP_FROM_CLI, "interval", "2s");
    assert_int_equal(mtp_options_finish(&o, err, sizeof(err)), 0);
    assert_int_equal(o.policy.max_bytes_per_interval, 26214400ULL);

    /* without the scan, mtp demotes only what it promoted */
    assert_false(o.policy.demote_promoted_only);
    set_ok(&o, MTP_FROM_CLI, "no-written-scan", NULL);
    assert_int_equal(mtp_options_finish(&o, err, sizeof(err)), 0);
    assert_true(o.policy.demote_promoted_only);
    {
        /* and a setting from the program, applied within these, keeps it */
        struct mtp_options wanted = o, out;

        set_ok(&wanted, MTP_FROM_APP, "lazy", "3");
        mtp_options_clamp_app(&o, &wanted, &out);
        assert_true(out.policy.demote_promoted_only);
    }

    /* lazy-min above lazy-max */
    fresh(&o);
    set_ok(&o, MTP_FROM_CLI, "lazy-min", "8");
    set_ok(&o, MTP_FROM_CLI, "lazy-max", "4");
    assert_int_equal(mtp_options_finish(&o, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "lazy-min (8) is above lazy-max (4)"));

    /* a lazy someone gave outside [lazy-min, lazy-max] is refused, not moved */
    fresh(&o);
    set_ok(&o, MTP_FROM_CLI, "lazy", "1");
    set_ok(&o, MTP_FROM_CLI, "lazy-min", "3");
    set_ok(&o, MTP_FROM_CLI, "lazy-max", "6");
    assert_int_equal(mtp_options_finish(&o, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "--lazy 1 is below --lazy-min 3: give a lazy from 3 to 6"));
    set_ok(&o, MTP_FROM_CLI, "lazy", "20");
    assert_int_equal(mtp_options_finish(&o, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "--lazy 20 is above --lazy-max 6"));
    set_ok(&o, MTP_FROM_CLI, "lazy", "5");
    assert_int_equal(mtp_options_finish(&o, err, sizeof(err)), 0);
    assert_int_equal(o.policy.lazy_initial, 5);
    /* against a default bound, which the message calls one */
    fresh(&o);
    set_ok(&o, MTP_FROM_CLI, "lazy", "100");
    assert_int_equal(mtp_options_finish(&o, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "--lazy 100 is above the default lazy-max 16"));
    /* the default lazy (2) follows a raised lazy-min, or a lowered lazy-max */
    fresh(&o);
    set_ok(&o, MTP_FROM_CLI, "lazy-min", "4");
    assert_int_equal(mtp_options_finish(&o, err, sizeof(err)), 0);
    assert_int_equal(o.policy.lazy_initial, 4);
    fresh(&o);
    set_ok(&o, MTP_FROM_FILE, "lazy-max", "1");
    assert_int_equal(mtp_options_finish(&o, err, sizeof(err)), 0);
    assert_int_equal(o.policy.lazy_initial, 1);
    /* the finished set is one the policy accepts */
    assert_int_equal(mtp_policy_config_check(&o.policy, err, sizeof(err)), 0);

    /* a rate too small for one page per interval is refused, not rounded */
    fresh(&o);
    set_ok(&o, MTP_FROM_CLI, "max-rate", "0.001");
    assert_int_equal(mtp_options_finish(&o, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "less than one"));
}

/* Settings that contradict each other are refused with both named, and
 * where each came from; a flag given as false, or a default, conflicts
 * with nothing. */
static void finish_refuses(const char *a, const char *av, enum mtp_option_source af, const char *b,
                           const char *bv, enum mtp_option_source bf, const char *needle)
{
    struct mtp_options o;
    char err[256] = "";

    fresh(&o);
    set_ok(&o, af, a, av);
    set_ok(&o, bf, b, bv);
    assert_int_equal(mtp_options_finish(&o, err, sizeof(err)), -EINVAL);
    if (!strstr(err, needle))
        fail_msg("%s=%s with %s=%s: error '%s' does not say '%s'", a, av ? av : "", b, bv ? bv : "",
                 err, needle);
}

static void test_conflicts(void **state)
{
    struct mtp_options o;
    char err[256];

    (void)state;
    finish_refuses("eager", NULL, MTP_FROM_CLI, "lazy", "3", MTP_FROM_CLI,
                   "--eager and --lazy conflict: --eager demotes after one cold interval");
    finish_refuses("lazy", "3", MTP_FROM_CLI, "eager", NULL, MTP_FROM_CLI,
                   "--eager and --lazy conflict");
    finish_refuses("eager", NULL, MTP_FROM_CLI, "lazy-min", "2", MTP_FROM_CLI,
                   "--eager and --lazy-min conflict");
    finish_refuses("eager", "yes", MTP_FROM_FILE, "lazy-max", "8", MTP_FROM_CLI,
                   "'eager' in the config file and --lazy-max conflict");
    finish_refuses("dry-run", NULL, MTP_FROM_CLI, "no-migrate", NULL, MTP_FROM_CLI,
                   "--dry-run and --no-migrate conflict: --no-migrate only traces");
    finish_refuses("dry-run", NULL, MTP_FROM_CLI, "no-migrate", "true", MTP_FROM_FILE,
                   "--dry-run and 'no-migrate' in the config file conflict");
    /* the live view and JSON lines both want stdout: the error says which to drop */
    finish_refuses("top", NULL, MTP_FROM_CLI, "json", NULL, MTP_FROM_CLI,
                   "--top and --json conflict: --top draws a live view on the terminal, --json "
                   "writes one object a line (for JSON, drop --top; for the view, drop --json)");

    /* a flag turned off, or left at its default, is no conflict */
    fresh(&o);
    set_ok(&o, MTP_FROM_FILE, "eager", "false");
    set_ok(&o, MTP_FROM_CLI, "lazy", "3");
    set_ok(&o, MTP_FROM_CLI, "no-migrate", NULL);
    set_ok(&o, MTP_FROM_FILE, "dry-run", "no");
    assert_int_equal(mtp_options_finish(&o, err, sizeof(err)), 0);
    fresh(&o);
    set_ok(&o, MTP_FROM_CLI, "eager", NULL);
    assert_int_equal(mtp_options_finish(&o, err, sizeof(err)), 0);
    assert_true(o.policy.eager);
}

/* Who gave a setting is remembered for those checks: the command line or
 * the file, on success only, never the program. */
static void test_given(void **state)
{
    struct mtp_options o;
    char err[256];

    (void)state;
    fresh(&o);
    assert_int_equal(o.given_cli | o.given_file, 0);
    set_ok(&o, MTP_FROM_CLI, "lazy", "3");
    set_ok(&o, MTP_FROM_FILE, "max-rate", "5");
    set_ok(&o, MTP_FROM_APP, "eager", "true");
    assert_int_equal(o.given_cli, mtp_option_bit(mtp_option_find("lazy")));
    assert_int_equal(o.given_file, mtp_option_bit(mtp_option_find("max-rate")));
    set_bad(&o, MTP_FROM_CLI, "top-pages", "x", "invalid top-pages");
    assert_int_equal(mtp_options_set(&o, MTP_FROM_FILE, "lazy-min", "0", err, sizeof(err)),
                     -EINVAL);
    assert_int_equal(o.given_file, mtp_option_bit(mtp_option_find("max-rate")));
    for (size_t i = 0; i < mtp_option_count; i++)
        assert_int_equal(mtp_option_bit(&mtp_option_table[i]), 1ull << i);
}

/* ---- the program's wishes within the operator's limits ---- */

static void limits_with(struct mtp_options *l, const char *budget, const char *rate,
                        const char *threshold)
{
    char err[256];

    fresh(l);
    set_ok(l, MTP_FROM_CLI, "fast-budget", budget);
    set_ok(l, MTP_FROM_CLI, "max-rate", rate);
    set_ok(l, MTP_FROM_CLI, "hot-threshold", threshold);
    set_ok(l, MTP_FROM_CLI, "lazy-min", "2");
    set_ok(l, MTP_FROM_CLI, "lazy-max", "8");
    set_ok(l, MTP_FROM_CLI, "lazy", "4");
    set_ok(l, MTP_FROM_CLI, "interval", "0.5");
    assert_int_equal(mtp_options_finish(l, err, sizeof(err)), 0);
}

/* What the app gets when it asks for name=value, starting from the limits
 * (as the loader does). */
static void ask(const struct mtp_options *limits, const char *name, const char *value,
                struct mtp_options *out)
{
    struct mtp_options wanted = *limits;

    set_ok(&wanted, MTP_FROM_APP, name, value);
    mtp_options_clamp_app(limits, &wanted, out);
}

static void test_clamp_budget_and_rate(void **state)
{
    struct mtp_options l, out;
    char err[256];

    (void)state;
    limits_with(&l, "4G", "100", "10");
    /* nothing asked: the operator's settings */
    mtp_options_clamp_app(&l, &l, &out);
    assert_memory_equal(&out.policy, &l.policy, sizeof(l.policy));
    assert_true(out.max_rate_mbps == 100.0);

    ask(&l, "fast-budget", "2G", &out);
    assert_int_equal(out.policy.fast_budget.kind, MTP_SIZE_BYTES);
    assert_int_equal(out.policy.fast_budget.bytes, 2 * GiB);
    ask(&l, "fast-budget", "8G", &out);
    assert_int_equal(out.policy.fast_budget.bytes, 4 * GiB);
    ask(&l, "fast-budget", "10%", &out); /* mixed kinds: the operator's stands */
    assert_int_equal(out.policy.fast_budget.kind, MTP_SIZE_BYTES);
    assert_int_equal(out.policy.fast_budget.bytes, 4 * GiB);

    limits_with(&l, "50%", "100", "10");
    ask(&l, "fast-budget", "30%", &out);
    assert_int_equal(out.policy.fast_budget.kind, MTP_SIZE_PERCENT);
    assert_true(out.policy.fast_budget.percent == 30.0);
    ask(&l, "fast-budget", "80%", &out);
    assert_true(out.policy.fast_budget.percent == 50.0);
    ask(&l, "fast-budget", "1G", &out);
    assert_int_equal(out.policy.fast_budget.kind, MTP_SIZE_PERCENT);
    assert_true(out.policy.fast_budget.percent == 50.0);
    assert_int_equal(out.policy.fast_budget.bytes, 0);

    /* the rate only goes down, and the byte cap follows it */
    ask(&l, "max-rate", "5", &out);
    assert_true(out.max_rate_mbps == 5.0);
    assert_int_equal(out.policy.max_bytes_per_interval, 5 * MiB / 2); /* 0.5 s intervals */
    assert_int_equal(mtp_policy_config_check(&out.policy, err, sizeof(err)), 0);
    ask(&l, "max-rate", "500", &out);
    assert_true(out.max_rate_mbps == 100.0);
    assert_int_equal(out.policy.max_bytes_per_interval, 50 * MiB);
}

static void test_clamp_lazy_threshold_eager(void **state)
{
    struct mtp_options l, out, wanted;

    (void)state;
    limits_with(&l, "4G", "100", "10");
    ask(&l, "lazy", "1", &out);
    assert_int_equal(out.policy.lazy_initial, 2);
    ask(&l, "lazy", "20", &out);
    assert_int_equal(out.policy.lazy_initial, 8);
    ask(&l, "lazy", "5", &out);
    assert_int_equal(out.policy.lazy_initial, 5);
    assert_int_equal(out.policy.lazy_min, 2);
    assert_int_equal(out.policy.lazy_max, 8);

    ask(&l, "hot-threshold", "5", &out);
    assert_int_equal(out.policy.hot_threshold, 10);
    ask(&l, "hot-threshold", "50", &out);
    assert_int_equal(out.policy.hot_threshold, 50);

    ask(&l, "eager", "true", &out);
    assert_true(out.policy.eager);
    ask(&l, "eager", "false", &out);
    assert_false(out.policy.eager);
    set_ok(&l, MTP_FROM_CLI, "eager", NULL);
    ask(&l, "eager", "false", &out); /* the operator's eager stays on */
    assert_true(out.policy.eager);

    /* what the program cannot set stays the operator's, whatever `wanted`
     * holds */
    limits_with(&l, "4G", "100", "10");
    wanted = l;
    wanted.pids.pid[0] = 99;
    wanted.pids.len = 1;
    wanted.interval_ns = 5000000000ULL;
    wanted.max_pages = 1024;
    wanted.dry_run = true;
    wanted.policy.watermark_bytes = 0;
    wanted.policy.lazy_min = 1;
    wanted.policy.lazy_max = 1024;
    wanted.policy.pingpong_window = 100;
    snprintf(wanted.pin_root, sizeof(wanted.pin_root), "/elsewhere");
    mtp_options_clamp_app(&l, &wanted, &out);
    assert_int_equal(out.pids.len, l.pids.len);
    assert_int_equal(out.interval_ns, 500000000ULL);
    assert_int_equal(out.max_pages, l.max_pages);
    assert_false(out.dry_run);
    assert_int_equal(out.policy.watermark_bytes, l.policy.watermark_bytes);
    assert_int_equal(out.policy.lazy_min, 2);
    assert_int_equal(out.policy.lazy_max, 8);
    assert_int_equal(out.policy.pingpong_window, l.policy.pingpong_window);
    assert_string_equal(out.pin_root, l.pin_root);

    /* several wishes at once, each clamped on its own */
    wanted = l;
    set_ok(&wanted, MTP_FROM_APP, "fast-budget", "1G");
    set_ok(&wanted, MTP_FROM_APP, "max-rate", "500");
    set_ok(&wanted, MTP_FROM_APP, "lazy", "99");
    set_ok(&wanted, MTP_FROM_APP, "hot-threshold", "3");
    mtp_options_clamp_app(&l, &wanted, &out);
    assert_int_equal(out.policy.fast_budget.bytes, GiB);
    assert_true(out.max_rate_mbps == 100.0);
    assert_int_equal(out.policy.lazy_initial, 8);
    assert_int_equal(out.policy.hot_threshold, 10);
}

/* ---- the table itself ---- */

/* The rules every row must keep; a new option that breaks one fails here,
 * not in --help or at a user's config file. */
static void test_table_rows(void **state)
{
    struct mtp_options o;
    char err[256], needle[64];

    (void)state;
    assert_true(mtp_option_count >= N_KNOBS + 1); /* the knobs and --config */
    for (size_t i = 0; i < mtp_option_count; i++) {
        const struct mtp_option *r = &mtp_option_table[i];

        assert_ptr_equal(mtp_option_find(r->name), r); /* names are unique */
        for (size_t j = 0; j < i; j++)
            if (r->key && r->key == mtp_option_table[j].key)
                fail_msg("%s and %s share -%c", r->name, mtp_option_table[j].name, r->key);
        assert_true(r->group >= MTP_GROUP_TRACING && r->group <= MTP_GROUP_LAST);
        assert_true(mtp_option_group_title(r->group)[0] != '\0');
        assert_non_null(r->doc);
        if (!r->parse) { /* not a setting: the loader's own (--config) */
            assert_string_equal(r->name, "config");
            assert_int_equal(r->from, 0);
            continue;
        }
        assert_true(r->offset + r->size <= sizeof(struct mtp_options));
        /* the program may set only what a file may, and only with a clamp */
        if (r->from & MTP_OPT_APP)
            assert_true((r->from & MTP_OPT_FILE) && r->clamp);
        else
            assert_null(r->clamp);
        /* a flag takes no argument, so NULL must mean "on"; an option with
         * an argument refuses none */
        fresh(&o);
        err[0] = '\0';
        if (!r->arg) {
            assert_int_equal(mtp_options_set(&o, MTP_FROM_CLI, r->name, NULL, err, sizeof(err)), 0);
        } else {
            snprintf(needle, sizeof(needle), "invalid %s", r->name);
            set_bad(&o, MTP_FROM_CLI, r->name, NULL, needle);
        }
        /* --help states the default the table applies */
        if (r->def) {
            snprintf(needle, sizeof(needle), "(default %s", r->def);
            if (!strstr(r->doc, needle))
                fail_msg("--%s: the help does not say '%s'", r->name, needle);
        } else if (strstr(r->doc, "(default ") && !strstr(r->doc, "(default:")) {
            fail_msg("--%s: the help names a default the table does not have", r->name);
        }
    }
}

/* The defaults are the table's: applying each row's default again to the
 * defaults changes nothing. */
static void test_defaults_are_the_tables(void **state)
{
    struct mtp_options o, again;
    char err[256];

    (void)state;
    fresh(&o);
    for (size_t i = 0; i < mtp_option_count; i++) {
        const struct mtp_option *r = &mtp_option_table[i];

        if (!r->def)
            continue;
        again = o;
        if (mtp_options_set(&again, MTP_FROM_CLI, r->name, r->def, err, sizeof(err)) != 0)
            fail_msg("--%s: default '%s' does not parse: %s", r->name, r->def, err);
        assert_int_equal(again.given_cli, mtp_option_bit(r)); /* given, with its default */
        again.given_cli = 0;
        if (memcmp(&again, &o, sizeof(o)) != 0)
            fail_msg("--%s: default '%s' is not what mtp_options_default set", r->name, r->def);
    }
}

/* Every knob the program may set can be handed back, and only those. */
static void test_reset_every_app_knob(void **state)
{
    struct mtp_options limits, wanted;

    (void)state;
    limits_with(&limits, "4G", "100", "10");
    for (size_t i = 0; i < mtp_option_count; i++) {
        const struct mtp_option *r = &mtp_option_table[i];

        wanted = limits;
        if (!(r->from & MTP_OPT_APP)) {
            assert_int_equal(mtp_options_reset_app(&wanted, &limits, r->name), -ENOENT);
            continue;
        }
        set_ok(&wanted, MTP_FROM_APP, r->name, good_value(r->name));
        assert_int_equal(mtp_options_reset_app(&wanted, &limits, r->name), 0);
        assert_memory_equal((char *)&wanted + r->offset, (char *)&limits + r->offset, r->size);
    }
}

/* mtp.configure(name=None) hands the knob back to the operator's value. */
static void test_reset_app(void **state)
{
    struct mtp_options limits, wanted;
    char err[256];

    (void)state;
    mtp_options_default(&limits);
    assert_int_equal(mtp_options_set(&limits, MTP_FROM_CLI, "max-rate", "40", err, sizeof(err)), 0);
    assert_int_equal(mtp_options_set(&limits, MTP_FROM_CLI, "lazy", "3", err, sizeof(err)), 0);
    wanted = limits;
    assert_int_equal(mtp_options_set(&wanted, MTP_FROM_APP, "max-rate", "5", err, sizeof(err)), 0);
    assert_int_equal(mtp_options_set(&wanted, MTP_FROM_APP, "lazy", "9", err, sizeof(err)), 0);
    assert_int_equal(mtp_options_set(&wanted, MTP_FROM_APP, "eager", "true", err, sizeof(err)), 0);
    assert_int_equal(mtp_options_reset_app(&wanted, &limits, "max-rate"), 0);
    assert_true(wanted.max_rate_mbps == 40);
    assert_int_equal(wanted.policy.lazy_initial, 9); /* untouched knobs keep the app's */
    assert_int_equal(mtp_options_reset_app(&wanted, &limits, "lazy"), 0);
    assert_int_equal(wanted.policy.lazy_initial, 3);
    assert_int_equal(mtp_options_reset_app(&wanted, &limits, "eager"), 0);
    assert_false(wanted.policy.eager);
    /* Names a program may not set cannot be reset by it either. */
    assert_int_equal(mtp_options_reset_app(&wanted, &limits, "interval"), -ENOENT);
    assert_int_equal(mtp_options_reset_app(&wanted, &limits, "pid"), -ENOENT);
    assert_int_equal(mtp_options_reset_app(&wanted, &limits, "bogus"), -ENOENT);
}

/* One record from the program, decoded as mtp-trace decodes it. */
static void test_setting_decode(void **state)
{
    struct mtp_options l, wanted, out;
    char copy[MTP_SETTING_MAX], msg[4 * MTP_SETTING_MAX + 1];
    const char *name, *value;

    (void)state;
    limits_with(&l, "4G", "100", "10");
    assert_int_equal(mtp_setting_decode("max-rate=500", &l, &l, copy, &name, &value, &wanted, &out,
                                        msg, sizeof(msg)),
                     MTP_SETTING_OK);
    assert_string_equal(name, "max-rate");
    assert_true(wanted.max_rate_mbps == 500.0); /* what it asked */
    assert_true(out.max_rate_mbps == 100.0);    /* what it gets */
    assert_int_equal(mtp_setting_decode("lazy=1\x1b[2J", &l, &l, copy, &name, &value, &wanted, &out,
                                        msg, sizeof(msg)),
                     MTP_SETTING_UNPRINTABLE);
    assert_null(strchr(msg, '\x1b'));
    assert_int_equal(
        mtp_setting_decode("lazy", &l, &l, copy, &name, &value, &wanted, &out, msg, sizeof(msg)),
        MTP_SETTING_MALFORMED);
    assert_int_equal(mtp_setting_decode("interval=1ms", &l, &l, copy, &name, &value, &wanted, &out,
                                        msg, sizeof(msg)),
                     MTP_SETTING_REFUSED);
    assert_non_null(strstr(msg, "operator"));
    assert_int_equal(mtp_setting_decode("interval=", &l, &l, copy, &name, &value, &wanted, &out,
                                        msg, sizeof(msg)),
                     MTP_SETTING_NO_RESET);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_app_settings_declared_once),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_quantities),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_booleans),
        cmocka_unit_test(test_sources),
        cmocka_unit_test(test_unknown_names),
        cmocka_unit_test(test_ini_keys),
        cmocka_unit_test(test_ini_errors),
        cmocka_unit_test(test_ini_error_line_matches_message),
        cmocka_unit_test(test_later_set_overrides_ini),
        cmocka_unit_test(test_finish),
        cmocka_unit_test(test_conflicts),
        cmocka_unit_test(test_given),
        cmocka_unit_test(test_numbers_are_digits_only),
        cmocka_unit_test(test_clamp_budget_and_rate),
        cmocka_unit_test(test_clamp_lazy_threshold_eager),
        cmocka_unit_test(test_reset_app),
        cmocka_unit_test(test_table_rows),
        cmocka_unit_test(test_defaults_are_the_tables),
        cmocka_unit_test(test_reset_every_app_knob),
        cmocka_unit_test(test_setting_decode),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
