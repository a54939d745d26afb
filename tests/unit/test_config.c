/* SPDX-License-Identifier: MIT */
/* The --config file: long lines, NULs, and who may have written it. */
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
#include "options.h"

/* A line of n characters: prefix, then fill. */
static char *line_of(const char *prefix, char fill, size_t n)
{
    char *s = malloc(n + 1);

    assert_non_null(s);
    memset(s, fill, n);
    memcpy(s, prefix, strlen(prefix));
    s[n] = '\0';
    return s;
}

static int load(struct mtp_options *o, const char *text, char *err, size_t errlen)
{
    mtp_options_default(o);
    err[0] = '\0';
    return mtp_options_load_ini(o, text, "f.ini", err, errlen);
}

/* A comment of any length is read whole and skipped: the lines after it
 * keep their numbers, and a value is never taken from its tail. */
static void test_long_comments_are_skipped(void **state)
{
    const char *prefixes[] = {"# ", "; ", "   # ", "\t;"};
    const size_t lengths[] = {198, 199, 200, 201, 250, 400, 1000, 5000};
    struct mtp_options o;
    char text[8192], err[512];

    (void)state;
    for (size_t p = 0; p < sizeof(prefixes) / sizeof(prefixes[0]); p++) {
        for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
            /* the tail of a cut comment once read as "lazy = 9" */
            char *comment = line_of(prefixes[p], 'x', lengths[i]);

            memcpy(comment + lengths[i] - 8, "lazy = 9", 8);
            snprintf(text, sizeof(text), "[mtp]\n%s\nlazy = 4\n", comment);
            if (load(&o, text, err, sizeof(err)) != 0)
                fail_msg("a %zu-character comment: %s", lengths[i], err);
            assert_int_equal(o.policy.lazy_initial, 4);
            /* the next line's error names the next line */
            snprintf(text, sizeof(text), "[mtp]\n%s\nfast-budget = lots\n", comment);
            assert_int_equal(load(&o, text, err, sizeof(err)), -EINVAL);
            if (!strstr(err, "f.ini:3: invalid fast-budget"))
                fail_msg("a %zu-character comment, then a bad line: '%s'", lengths[i], err);
            free(comment);
        }
    }
    /* and a long blank line */
    {
        char *blank = line_of("", ' ', 300);

        snprintf(text, sizeof(text), "%s\nlazy = 0\n", blank);
        assert_int_equal(load(&o, text, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "f.ini:2: invalid lazy"));
        free(blank);
    }
}

/* A setting line inih cannot hold whole is refused by its own number,
 * never cut to what fits. */
static void test_long_settings_are_refused(void **state)
{
    struct mtp_options o;
    char text[8192], err[512];
    char *padded = line_of("fast-nodes = 0", ' ', 260);
    char *longest = line_of("max-rate = 5", ' ', 198);

    (void)state;
    snprintf(text, sizeof(text), "# settings\n[mtp]\n%s\nlazy = 4\n", padded);
    assert_int_equal(load(&o, text, err, sizeof(err)), -EINVAL);
    if (!strstr(err, "f.ini:3: line of 260 characters: settings lines are read up to 198"))
        fail_msg("'%s'", err);
    assert_int_equal(o.policy.lazy_initial, 2); /* nothing after it was applied */
    /* the same as the last line, without its newline */
    snprintf(text, sizeof(text), "lazy = 4\n%s", padded);
    assert_int_equal(load(&o, text, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "f.ini:2: line of 260 characters"));
    /* a setting with an inline comment that makes it too long */
    free(padded);
    padded = line_of("lazy = 4 ; ", 'c', 220);
    snprintf(text, sizeof(text), "%s\n", padded);
    assert_int_equal(load(&o, text, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "f.ini:1: line of 220 characters"));
    /* an earlier error stands */
    snprintf(text, sizeof(text), "lazy = 0\n%s\n", padded);
    assert_int_equal(load(&o, text, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "f.ini:1: invalid lazy"));
    snprintf(text, sizeof(text), "lazy 4\n%s\n", padded);
    assert_int_equal(load(&o, text, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "f.ini:1: not a 'key = value' line"));
    /* the longest line read whole is read whole */
    snprintf(text, sizeof(text), "%s\nlazy = 4\n", longest);
    if (load(&o, text, err, sizeof(err)) != 0)
        fail_msg("a 198-character setting: %s", err);
    assert_true(o.max_rate_mbps == 5.0);
    assert_int_equal(o.policy.lazy_initial, 4);
    free(padded);
    free(longest);
}

static void test_nul_is_refused_by_line(void **state)
{
    static const char text[] = "[mtp]\nlazy = 4\nmax-rate = 5\0\nlazy = 9\n";
    char err[256] = "";

    (void)state;
    assert_int_equal(mtp_config_check_text(text, sizeof(text) - 1, "f.ini", err, sizeof(err)),
                     -EINVAL);
    assert_string_equal(err, "f.ini:3: holds a NUL byte: not a text file");
    assert_int_equal(mtp_config_check_text("\0", 1, "f.ini", err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "f.ini:1:"));
    assert_int_equal(mtp_config_check_text(text, 12, "f.ini", err, sizeof(err)), 0);
    assert_int_equal(mtp_config_check_text("", 0, "f.ini", err, sizeof(err)), 0);
}

static int owner_check(unsigned uid, unsigned gid, unsigned mode, unsigned euid, char *err)
{
    struct mtp_config_stat st = {.uid = uid, .gid = gid, .mode = 0100000 | mode};

    st.owner = uid == 0 ? "root" : uid == 65534 ? "nobody" : NULL;
    err[0] = '\0';
    return mtp_config_check_owner("/etc/mtp.ini", &st, euid, err, 512);
}

/* Whoever can write the file decides what root runs: only root (or the
 * user running mtp-trace) may. */
static void test_owner_and_mode(void **state)
{
    char err[512];

    (void)state;
    /* fine: root's, not writable by others; root's group may write */
    assert_int_equal(owner_check(0, 0, 0644, 0, err), 0);
    assert_int_equal(owner_check(0, 0, 0600, 0, err), 0);
    assert_int_equal(owner_check(0, 0, 0664, 0, err), 0);
    assert_int_equal(owner_check(0, 0, 0444, 1000, err), 0);
    /* the user running it, without root */
    assert_int_equal(owner_check(1000, 1000, 0644, 1000, err), 0);

    assert_int_equal(owner_check(0, 0, 0666, 0, err), -EPERM);
    assert_string_equal(err, "config file /etc/mtp.ini is writable by every user (owner root "
                             "(uid 0), mode 0666): fix it with 'chmod o-w /etc/mtp.ini'");
    assert_int_equal(owner_check(0, 0, 0602, 0, err), -EPERM);
    assert_int_equal(owner_check(0, 100, 0664, 0, err), -EPERM);
    assert_string_equal(err, "config file /etc/mtp.ini is writable by group 100 (owner root "
                             "(uid 0), mode 0664): fix it with 'chmod g-w /etc/mtp.ini'");
    assert_int_equal(owner_check(65534, 0, 0644, 0, err), -EPERM);
    assert_non_null(strstr(err, "config file /etc/mtp.ini is owned by nobody (uid 65534), mode "
                                "0644"));
    assert_non_null(strstr(err, "'chown root /etc/mtp.ini'"));
    assert_int_equal(owner_check(1000, 1000, 0600, 0, err), -EPERM);
    assert_non_null(strstr(err, "owned by uid 1000"));
    assert_int_equal(owner_check(1000, 1000, 0600, 1001, err), -EPERM);
    /* the owner is named before the mode is judged */
    assert_int_equal(owner_check(65534, 0, 0666, 0, err), -EPERM);
    assert_non_null(strstr(err, "owned by nobody"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_long_comments_are_skipped),
        cmocka_unit_test(test_long_settings_are_refused),
        cmocka_unit_test(test_nul_is_refused_by_line),
        cmocka_unit_test(test_owner_and_mode),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
