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

static struct mtp_type_row traced_types[4], tiered_types[2];

static void type_row(struct mtp_type_row *row, uint16_t id, const char *name)
{
    memset(row, 0, sizeof(*row));
    row->id = id;
    snprintf(row->name, sizeof(row->name), "%s", name);
}

/* A process only traced, and one tiered; each with Python types. */
static void two_reports(struct mtp_report *traced, struct mtp_report *tiered,
                        struct mtp_tiering_report *t)
{
    memset(traced, 0, sizeof(*traced));
    memset(tiered, 0, sizeof(*tiered));
    memset(t, 0, sizeof(*t));
    type_row(&traced_types[0], 3, "__main__.Hot");
    traced_types[0].tiers.bytes[MTP_AT_FAST] = 5 * 4096; /* all pages count as fast untiered */
    traced_types[0].tiers.hot_bytes[MTP_AT_FAST] = 4 * 4096;
    traced_types[0].tiers.heat = 900;
    traced_types[0].seen.bytes = 123456;
    type_row(&traced_types[1], 0, "(unattributed)");
    traced_types[1].tiers.bytes[MTP_AT_FAST] = 1 * 4096;
    type_row(&traced_types[2], 7, "__main__.Hot"); /* a second class of that name */
    type_row(&traced_types[3], 9, "never.Shown");  /* past types_len */
    traced->types = traced_types;
    traced->types_len = 3;
    traced->types_total = 4;
    type_row(&tiered_types[0], 1, "builtins.dict");
    tiered_types[0].tiers.bytes[MTP_AT_FAST] = 2 * 4096;
    tiered_types[0].tiers.bytes[MTP_AT_SLOW] = 3 * 4096;
    tiered_types[0].tiers.hot_bytes[MTP_AT_FAST] = 2 * 4096;
    tiered_types[0].tiers.promoted = 6;
    tiered_types[0].tiers.demoted = 1;
    type_row(&tiered_types[1], 2, "m.Cold");
    tiered_types[1].tiers.bytes[MTP_AT_SLOW] = 8 * 4096;
    tiered_types[1].tiers.demoted = 8;
    tiered->types = tiered_types;
    tiered->types_len = tiered->types_total = 2;
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

/* Every line is a comment or name{pid="N"[,label="v"]...} value, every
 * family's HELP and TYPE come once, before its samples, which are
 * contiguous, and no series comes twice. */
static void the_text_is_well_formed(void **state)
{
    struct mtp_report a, b;
    struct mtp_tiering_report t;
    const struct mtp_report *reports[] = {&a, &b};
    regex_t line;
    char *save = NULL, *text, seen[64][64], *series[256];
    size_t n_seen = 0, n_series = 0;
    int need;

    (void)state;
    two_reports(&a, &b, &t);
    need = mtp_prom_format(out, sizeof(out), reports, 2);
    assert_int_equal(need, (int)strlen(out));
    assert_int_equal(regcomp(&line,
                             "^(# (HELP|TYPE) mtp_[a-z_]+ .+|mtp_[a-z_]+\\{pid=\"[0-9]+\"(,[a-z_]+="
                             "\"([^\"\\\n]|\\\\[\"\\\\n])*\")*\\} -?[0-9.e+]+)$",
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
            /* its series (name and labels) once in the file */
            assert_true(n_series < 256);
            series[n_series] = l;
            *strrchr(l, ' ') = '\0';
            for (size_t i = 0; i < n_series; i++)
                assert_string_not_equal(series[i], l);
            n_series++;
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

/* A traced process's types in one tier, "all"; a tiered one's on fast and
 * slow, with its moves; a name two classes share told apart by type_id;
 * only the first types_len rows. */
static void types_have_their_tier_name_and_id(void **state)
{
    struct mtp_report a, b;
    struct mtp_tiering_report t;
    const struct mtp_report *reports[] = {&a, &b};

    (void)state;
    two_reports(&a, &b, &t);
    mtp_prom_format(out, sizeof(out), reports, 2);
    assert_non_null(strstr(out, "\nmtp_types{pid=\"101\"} 4\n"));
    assert_non_null(strstr(out, "\nmtp_type_bytes{pid=\"101\",tier=\"all\",type=\"__main__.Hot\","
                                "type_id=\"3\"} 20480\n"));
    assert_non_null(strstr(out, "\nmtp_type_hot_bytes{pid=\"101\",tier=\"all\",type=\"__main__."
                                "Hot\",type_id=\"3\"} 16384\n"));
    assert_non_null(strstr(out, "\nmtp_type_bytes{pid=\"101\",tier=\"all\",type=\"__main__.Hot\","
                                "type_id=\"7\"} 0\n"));
    assert_non_null(strstr(out, "\nmtp_type_bytes{pid=\"101\",tier=\"all\",type=\"(unattributed)"
                                "\",type_id=\"0\"} 4096\n"));
    assert_non_null(strstr(out, "\nmtp_type_heat{pid=\"101\",type=\"__main__.Hot\",type_id=\"3\"} "
                                "900\n"));
    assert_non_null(strstr(out, "\nmtp_type_observed_bytes_total{pid=\"101\",type=\"__main__.Hot\""
                                ",type_id=\"3\"} 123456\n"));
    assert_null(strstr(out, "never.Shown"));
    assert_int_equal(count(out, "mtp_type_bytes{pid=\"101\""), 3);
    assert_int_equal(count(out, "tier=\"fast\",type="), 2 * 2); /* bytes and hot bytes */
    assert_non_null(strstr(out, "\nmtp_type_bytes{pid=\"202\",tier=\"fast\",type=\"builtins.dict\""
                                ",type_id=\"1\"} 8192\n"));
    assert_non_null(strstr(out, "\nmtp_type_bytes{pid=\"202\",tier=\"slow\",type=\"builtins.dict\""
                                ",type_id=\"1\"} 12288\n"));
    assert_non_null(strstr(out, "\nmtp_type_hot_bytes{pid=\"202\",tier=\"slow\",type=\"m.Cold\","
                                "type_id=\"2\"} 0\n"));
    assert_non_null(strstr(out, "\nmtp_type_promoted_bytes_total{pid=\"202\",type=\"builtins.dict"
                                "\",type_id=\"1\"} 24576\n"));
    assert_non_null(strstr(out, "\nmtp_type_demoted_bytes_total{pid=\"202\",type=\"m.Cold\","
                                "type_id=\"2\"} 32768\n"));
    assert_int_equal(count(out, "tier=\"all\""), 2 * 3);
    assert_int_equal(count(out, "_total{pid=\"101\",type="), 3); /* observed, not moves */
    /* each family's HELP and TYPE once though both processes have samples */
    assert_int_equal(count(out, "# TYPE mtp_type_bytes gauge\n"), 1);
    assert_int_equal(count(out, "# TYPE mtp_type_observed_bytes_total counter\n"), 1);
}

/* Without types to show (--types 0, or none met), no type family but the
 * count; tracing only, none of the moves. */
static void type_families_only_with_types(void **state)
{
    struct mtp_report a, b;
    struct mtp_tiering_report t;
    const struct mtp_report *reports[] = {&a};

    (void)state;
    two_reports(&a, &b, &t);
    mtp_prom_format(out, sizeof(out), reports, 1);
    assert_null(strstr(out, "mtp_type_promoted_bytes_total"));
    assert_non_null(strstr(out, "# TYPE mtp_type_bytes gauge\n"));
    a.types_len = 0;
    mtp_prom_format(out, sizeof(out), reports, 1);
    assert_null(strstr(out, "# TYPE mtp_type_"));
    assert_null(strstr(out, "\nmtp_type_"));
    assert_non_null(strstr(out, "\nmtp_types{pid=\"101\"} 4\n"));
}

/* A type's name is the traced program's: the format's three escapes, and
 * U+FFFD for what is not UTF-8 or is a control character; valid UTF-8 as
 * it is. */
static void names_are_escaped_and_made_utf8(void **state)
{
    static const struct {
        const char *name, *label;
    } cases[] = {
        {"m.A\"B", "m.A\\\"B"},
        {"m.A\\B", "m.A\\\\B"},
        {"m.A\nB", "m.A\\nB"},
        {"m.Caf\xc3\xa9", "m.Caf\xc3\xa9"},                                   /* é */
        {"m.\xe2\x82\xac\xf0\x9f\x90\x8d", "m.\xe2\x82\xac\xf0\x9f\x90\x8d"}, /* euro, snake */
        {"m.Caf\xc3", "m.Caf\xef\xbf\xbd"},                           /* cut mid-character */
        {"m.\xe2\x82", "m.\xef\xbf\xbd\xef\xbf\xbd"},                 /* cut, two bytes left */
        {"m.\x80x", "m.\xef\xbf\xbdx"},                               /* stray continuation */
        {"m.\xc0\xaf", "m.\xef\xbf\xbd\xef\xbf\xbd"},                 /* overlong '/' */
        {"m.\xed\xa0\x80", "m.\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* a surrogate */
        {"m.\xf4\x90\x80\x80", "m.\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
        {"m.\x1b[2J\t\x7f", "m.\xef\xbf\xbd[2J\xef\xbf\xbd\xef\xbf\xbd"}, /* ESC, tab, DEL */
        {"m.\xc2\x9b", "m.\xef\xbf\xbd"},                                 /* C1 CSI */
    };
    struct mtp_report r;
    struct mtp_type_row row;
    const struct mtp_report *reports[] = {&r};
    char want[256];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(&r, 0, sizeof(r));
        type_row(&row, 5, cases[i].name);
        r.pid = 1;
        r.types = &row;
        r.types_len = r.types_total = 1;
        mtp_prom_format(out, sizeof(out), reports, 1);
        snprintf(want, sizeof(want), "\nmtp_type_heat{pid=\"1\",type=\"%s\",type_id=\"5\"} 0\n",
                 cases[i].label);
        if (!strstr(out, want))
            fail_msg("case %zu: no %s in\n%s", i, want, out);
    }
    /* a name filling its array, with no NUL in it, stops at the array's end */
    memset(&r, 0, sizeof(r));
    memset(&row, 0, sizeof(row));
    memset(row.name, 'x', sizeof(row.name));
    r.pid = 1;
    r.types = &row;
    r.types_len = r.types_total = 1;
    mtp_prom_format(out, sizeof(out), reports, 1);
    snprintf(want, sizeof(want), "type=\"%.*s\",", (int)sizeof(row.name), row.name);
    assert_non_null(strstr(out, want));
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
        cmocka_unit_test(types_have_their_tier_name_and_id),
        cmocka_unit_test(type_families_only_with_types),
        cmocka_unit_test(names_are_escaped_and_made_utf8),
        cmocka_unit_test(a_small_buffer_is_cut_and_sized),
    };
    return cmocka_run_group_tests_name("prom", tests, NULL, NULL);
}
