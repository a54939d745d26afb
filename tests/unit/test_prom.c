// SPDX-License-Identifier: MIT
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <regex.h>

#include "prom.h"

static char out[16384];

/* A process only traced, and one tiered. */
static void two_reports(struct mtp_report *traced, struct mtp_report *tiered,
                        struct mtp_tiering_report *t)
{
    memset(traced, 0, sizeof(*traced));
    memset(tiered, 0, sizeof(*tiered));
    memset(t, 0, sizeof(*t));
    traced->pid = 101;
    traced->totals.records = 123456789012ULL;
    traced->totals.gc_ns = 1500000000ULL;
    traced->totals.wp_state = 4; /* on, at stride 4 */
    traced->pages_tracked = 77;
    tiered->pid = 202;
    tiered->final = 1;
    tiered->totals.wp_state = MTP_WP_STATE_BACKOFF;
    t->plan.on_fast = 10;
    t->plan.on_slow = 20;
    t->plan.promote_held = 3;
    t->totals.promoted = 5;
    tiered->tiering = t;
}

static int count(const char *text, const char *needle)
{
    int n = 0;

    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* Every line is a comment or name{pid="N"[,label="v"]} value, and every
 * family's HELP and TYPE come once, before its samples, which are
 * contiguous. */
static void the_text_is_well_formed(void **state)
{
    struct mtp_report a, b;
    struct mtp_tiering_report t;
    const struct mtp_report *reports[] = {&a, &b};
    regex_t line;
    char *save = NULL, *text, seen[64][64];
    size_t n_seen = 0;
    int need;

    (void)state;
    two_reports(&a, &b, &t);
    need = mtp_prom_format(out, sizeof(out), reports, 2);
    assert_int_equal(need, (int)strlen(out));
    assert_int_equal(regcomp(&line,
                             "^(# (HELP|TYPE) mtp_[a-z_]+ .+|mtp_[a-z_]+\\{pid=\"[0-9]+\"(,[a-z]+="
                             "\"[a-z]+\")?\\} -?[0-9.e+]+)$",
                             REG_EXTENDED | REG_NOSUB),
                     0);
    text = strdup(out);
    for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char name[64];

        if (regexec(&line, l, 0, NULL, 0) != 0)
            fail_msg("malformed line: %s", l);
        if (strncmp(l, "# TYPE ", 7) == 0) {
            assert_int_equal(sscanf(l + 7, "%63s", name), 1);
            for (size_t i = 0; i < n_seen; i++)
                assert_string_not_equal(seen[i], name); /* a family once */
            assert_true(n_seen < 64);
            strcpy(seen[n_seen++], name);
            assert_true(strstr(l, " counter") || strstr(l, " gauge"));
            assert_int_equal(strstr(name, "_total") != NULL, strstr(l, " counter") != NULL);
        } else if (l[0] != '#') {
            /* a sample belongs to the family last typed */
            assert_true(n_seen > 0);
            assert_int_equal(strncmp(l, seen[n_seen - 1], strlen(seen[n_seen - 1])), 0);
            assert_int_equal(l[strlen(seen[n_seen - 1])], '{');
        }
    }
    free(text);
    regfree(&line);
    assert_true(n_seen >= 20);
}

static void values_and_labels_are_the_reports(void **state)
{
    struct mtp_report a, b;
    struct mtp_tiering_report t;
    const struct mtp_report *reports[] = {&a, &b};

    (void)state;
    two_reports(&a, &b, &t);
    mtp_prom_format(out, sizeof(out), reports, 2);
    assert_non_null(strstr(out, "\nmtp_records_total{pid=\"101\"} 123456789012\n"));
    assert_non_null(strstr(out, "\nmtp_gc_seconds_total{pid=\"101\"} 1.5\n"));
    assert_non_null(strstr(out, "\nmtp_up{pid=\"101\"} 1\n"));
    assert_non_null(strstr(out, "\nmtp_up{pid=\"202\"} 0\n")); /* its last report */
    assert_non_null(strstr(out, "mtp_written_scan_state{pid=\"101\",state=\"on\"} 1\n"));
    assert_non_null(strstr(out, "mtp_written_scan_state{pid=\"101\",state=\"backoff\"} 0\n"));
    assert_non_null(strstr(out, "mtp_written_scan_state{pid=\"202\",state=\"backoff\"} 1\n"));
    assert_non_null(strstr(out, "mtp_tier_pages{pid=\"202\",tier=\"fast\"} 10\n"));
    assert_non_null(strstr(out, "mtp_tier_pages{pid=\"202\",tier=\"slow\"} 20\n"));
    assert_non_null(strstr(out, "mtp_moves_held_intervals{pid=\"202\",direction=\"promote\"} 3\n"));
    assert_non_null(strstr(out, "mtp_promoted_pages_total{pid=\"202\"} 5\n"));
    /* tiering's families only for the tiered process */
    assert_int_equal(count(out, "mtp_promoted_pages_total{pid=\"101\"}"), 0);
}

static void without_tiering_its_families_are_left_out(void **state)
{
    struct mtp_report a, b;
    struct mtp_tiering_report t;
    const struct mtp_report *reports[] = {&a};

    (void)state;
    two_reports(&a, &b, &t);
    mtp_prom_format(out, sizeof(out), reports, 1);
    assert_null(strstr(out, "mtp_tier_pages"));
    assert_null(strstr(out, "mtp_lazy_n"));
    assert_non_null(strstr(out, "# TYPE mtp_records_total counter\n"));
}

/* snprintf-style: the length a whole text needs, and a cut one ends in NUL. */
static void a_small_buffer_is_cut_and_sized(void **state)
{
    struct mtp_report a, b;
    struct mtp_tiering_report t;
    const struct mtp_report *reports[] = {&a, &b};
    char small[40];
    int need;

    (void)state;
    two_reports(&a, &b, &t);
    need = mtp_prom_format(NULL, 0, reports, 2);
    assert_int_equal(need, mtp_prom_format(out, sizeof(out), reports, 2));
    assert_int_equal(mtp_prom_format(small, sizeof(small), reports, 2), need);
    assert_int_equal(strlen(small), sizeof(small) - 1);
    assert_int_equal(mtp_prom_format(out, sizeof(out), reports, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_text_is_well_formed),
        cmocka_unit_test(values_and_labels_are_the_reports),
        cmocka_unit_test(without_tiering_its_families_are_left_out),
        cmocka_unit_test(a_small_buffer_is_cut_and_sized),
    };
    return cmocka_run_group_tests_name("prom", tests, NULL, NULL);
}
