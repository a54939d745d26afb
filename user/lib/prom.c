// SPDX-License-Identifier: MIT
/* Reports as Prometheus text: see prom.h.  One table row per family. */
#include "prom.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "strbuf.h"

typedef double (*value_fn)(const struct mtp_report *r);
typedef void (*samples_fn)(struct mtp_strbuf *b, const char *name, const struct mtp_report *r);

/* Which processes a family has samples for. */
enum { ALL = 0, TIERED = 1, TYPED = 2 };

struct family {
    const char *name;
    const char *type; /* "counter" or "gauge" */
    const char *help;
    int needs;         /* TIERED: only processes mtp-trace tiers; TYPED: with type rows */
    value_fn value;    /* one sample, labelled with the pid alone; or */
    samples_fn labels; /* samples with labels of their own */
};

static bool has(const struct family *fam, const struct mtp_report *r)
{
    return (!(fam->needs & TIERED) || r->tiering) && (!(fam->needs & TYPED) || r->types_len);
}

#define NS 1e-9

static double up(const struct mtp_report *r)
{
    return !r->final;
}
static double events(const struct mtp_report *r)
{
    return (double)r->totals.events;
}
static double records(const struct mtp_report *r)
{
    return (double)r->totals.records;
}
static double dropped(const struct mtp_report *r)
{
    return (double)r->totals.dropped;
}
static double pages_tracked(const struct mtp_report *r)
{
    return (double)r->pages_tracked;
}
static double hot_pages(const struct mtp_report *r)
{
    return (double)r->hot_pages;
}
static double map_capacity(const struct mtp_report *r)
{
    return (double)r->map_capacity;
}
static double gc_seconds(const struct mtp_report *r)
{
    return (double)r->totals.gc_ns * NS;
}
static double observe_seconds(const struct mtp_report *r)
{
    return (double)r->totals.observe_ns * NS;
}
static double scan_cost_seconds(const struct mtp_report *r)
{
    return (double)r->totals.wp_cost_ns * NS;
}
static double cycles(const struct mtp_report *r)
{
    return (double)r->totals.cycles;
}
static double cycle_seconds(const struct mtp_report *r)
{
    return (double)r->totals.cycle_ns * NS;
}
static double step_max_seconds(const struct mtp_report *r)
{
    return (double)r->totals.step_max_ns * NS;
}
static double budget_bytes(const struct mtp_report *r)
{
    return (double)r->tiering->plan.budget_bytes;
}
static double headroom_bytes(const struct mtp_report *r)
{
    return (double)r->tiering->plan.headroom_bytes;
}
static double budget_used_bytes(const struct mtp_report *r)
{
    return (double)r->tiering->plan.budget_used_bytes;
}
static double promoted(const struct mtp_report *r)
{
    return (double)r->tiering->totals.promoted;
}
static double demoted(const struct mtp_report *r)
{
    return (double)r->tiering->totals.demoted;
}
static double failed(const struct mtp_report *r)
{
    return (double)r->tiering->totals.failed;
}
static double pingpongs(const struct mtp_report *r)
{
    return (double)r->tiering->totals.pingpongs;
}
static double backoffs(const struct mtp_report *r)
{
    return (double)r->tiering->totals.backoffs;
}
static double lazy_n(const struct mtp_report *r)
{
    return r->tiering->plan.lazy_n;
}
static double pressure(const struct mtp_report *r)
{
    return r->tiering->plan.pressure;
}

/* Closes the labels and writes the value and the line's end. */
static void end_sample(struct mtp_strbuf *b, double v)
{
    /* counts exactly; seconds to the nanosecond within a day's worth, and
     * no locale enters (mtp-trace never calls setlocale) */
    if (v == (double)(int64_t)v && v < 9007199254740992.0)
        mtp_strbuf_printf(b, "} %.0f\n", v);
    else
        mtp_strbuf_printf(b, "} %.14g\n", v);
}

static void sample(struct mtp_strbuf *b, const char *name, const struct mtp_report *r,
                   const char *label, const char *label_value, double v)
{
    mtp_strbuf_printf(b, "%s{pid=\"%d\"", name, r->pid);
    if (label)
        mtp_strbuf_printf(b, ",%s=\"%s\"", label, label_value);
    end_sample(b, v);
}

static void scan_state(struct mtp_strbuf *b, const char *name, const struct mtp_report *r)
{
    static const char *const states[] = {"on", "off", "backoff", "unsupported"};
    const char *now = mtp_wp_state_name(r);

    for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
        sample(b, name, r, "state", states[i], !strcmp(now, states[i]));
}

static void tier_pages(struct mtp_strbuf *b, const char *name, const struct mtp_report *r)
{
    sample(b, name, r, "tier", "fast", (double)r->tiering->plan.on_fast);
    sample(b, name, r, "tier", "slow", (double)r->tiering->plan.on_slow);
}

static void held(struct mtp_strbuf *b, const char *name, const struct mtp_report *r)
{
    sample(b, name, r, "direction", "promote", r->tiering->plan.promote_held);
    sample(b, name, r, "direction", "demote", r->tiering->plan.demote_held);
}

/*
 * The length (1-4) of the UTF-8 character at p, its code point in *cp; 0
 * when the bytes there are not one: a stray continuation byte, an overlong
 * form, a surrogate, past U+10FFFF, or a character cut short -- a type's
 * name is cut to MTP_TYPE_NAME_MAX - 1 bytes wherever that falls.
 */
static size_t utf8_char(const unsigned char *p, size_t left, uint32_t *cp)
{
    static const uint32_t least[5] = {0, 0, 0x80, 0x800, 0x10000};
    size_t n;
    uint32_t c;

    if (p[0] < 0x80) {
        *cp = p[0];
        return 1;
    }
    if ((p[0] & 0xe0) == 0xc0) {
        n = 2;
        c = p[0] & 0x1f;
    } else if ((p[0] & 0xf0) == 0xe0) {
        n = 3;
        c = p[0] & 0x0f;
    } else if ((p[0] & 0xf8) == 0xf0) {
        n = 4;
        c = p[0] & 0x07;
    } else {
        return 0;
    }
    if (n > left)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        c = c << 6 | (p[i] & 0x3f);
    }
    if (c < least[n] || (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
        return 0;
    *cp = c;
    return n;
}

/*
 * A label value the traced program wrote (a type's name, at most max bytes):
 * backslash, double quote and newline escaped as the format says; U+FFFD in
 * place of each byte that is not valid UTF-8, which the format requires, and
 * of the other control characters (C0, DEL, C1), which the format allows
 * but which would drive a terminal that shows the file.
 */
static void label_value(struct mtp_strbuf *b, const char *s, size_t max)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t len = strnlen(s, max);

    for (size_t i = 0; i < len;) {
        uint32_t c = 0;
        size_t n = utf8_char(p + i, len - i, &c);

        if (c == '\\' || c == '"')
            mtp_strbuf_printf(b, "\\%c", (char)c);
        else if (c == '\n')
            mtp_strbuf_printf(b, "\\n");
        else if (n == 0 || c < 0x20 || (c >= 0x7f && c < 0xa0))
            mtp_strbuf_printf(b, "\xef\xbf\xbd");
        else
            mtp_strbuf_printf(b, "%.*s", (int)n, s + i);
        i += n ? n : 1;
    }
}

/*
 * One sample of a type's family.  Two types can share a name (a class
 * defined in a function called twice, a name cut short), and a file with
 * the same series twice is refused whole by the textfile collector, so the
 * type's id comes too: it is the process's own, fixed for its life, so it
 * adds no series that the name does not.
 */
static void type_sample(struct mtp_strbuf *b, const char *name, const struct mtp_report *r,
                        const struct mtp_type_row *t, const char *tier, double v)
{
    mtp_strbuf_printf(b, "%s{pid=\"%d\"", name, r->pid);
    if (tier)
        mtp_strbuf_printf(b, ",tier=\"%s\"", tier);
    mtp_strbuf_printf(b, ",type=\"");
    label_value(b, t->name, sizeof(t->name));
    mtp_strbuf_printf(b, "\",type_id=\"%u\"", (unsigned)t->id);
    end_sample(b, v);
}

/* A type's bytes (or hot bytes) by tier: fast and slow when the process is
 * tiered; else one sample, tier "all", as every page counts as fast then
 * (struct mtp_type_tiers) and calling one node "fast" would mislead. */
static void type_tier_bytes(struct mtp_strbuf *b, const char *name, const struct mtp_report *r,
                            bool hot)
{
    for (size_t i = 0; i < r->types_len; i++) {
        const struct mtp_type_row *t = &r->types[i];
        const __u64 *bytes = hot ? t->tiers.hot_bytes : t->tiers.bytes;

        if (r->tiering) {
            type_sample(b, name, r, t, "fast", (double)bytes[MTP_AT_FAST]);
            type_sample(b, name, r, t, "slow", (double)bytes[MTP_AT_SLOW]);
            type_sample(b, name, r, t, "unlocated", (double)bytes[MTP_AT_UNLOCATED]);
        } else {
            type_sample(
                b, name, r, t, "all",
                (double)(bytes[MTP_AT_FAST] + bytes[MTP_AT_SLOW] + bytes[MTP_AT_UNLOCATED]));
        }
    }
}

static void type_bytes(struct mtp_strbuf *b, const char *name, const struct mtp_report *r)
{
    type_tier_bytes(b, name, r, false);
}
static void type_hot_bytes(struct mtp_strbuf *b, const char *name, const struct mtp_report *r)
{
    type_tier_bytes(b, name, r, true);
}

/* One sample per type shown, of the value picked by `what`. */
enum type_value { HEAT, OBSERVED, PROMOTED, DEMOTED };

static void type_each(struct mtp_strbuf *b, const char *name, const struct mtp_report *r,
                      enum type_value what)
{
    for (size_t i = 0; i < r->types_len; i++) {
        const struct mtp_type_row *t = &r->types[i];
        uint64_t v = what == HEAT       ? t->tiers.heat
                     : what == OBSERVED ? t->seen.bytes
                     : what == PROMOTED ? t->tiers.promoted * MTP_PAGE_SIZE
                                        : t->tiers.demoted * MTP_PAGE_SIZE;

        type_sample(b, name, r, t, NULL, (double)v);
    }
}

static void type_heat(struct mtp_strbuf *b, const char *name, const struct mtp_report *r)
{
    type_each(b, name, r, HEAT);
}
static void type_observed(struct mtp_strbuf *b, const char *name, const struct mtp_report *r)
{
    type_each(b, name, r, OBSERVED);
}
static void type_promoted(struct mtp_strbuf *b, const char *name, const struct mtp_report *r)
{
    type_each(b, name, r, PROMOTED);
}
static void type_demoted(struct mtp_strbuf *b, const char *name, const struct mtp_report *r)
{
    type_each(b, name, r, DEMOTED);
}

static double types_known(const struct mtp_report *r)
{
    return (double)r->types_total;
}

static const struct family families[] = {
    {"mtp_up", "gauge", "1 while mtp-trace traces the process; 0 in its last report", ALL, up,
     NULL},
    {"mtp_events_total", "counter", "mtp:objects probe firings seen by BPF", ALL, events, NULL},
    {"mtp_records_total", "counter", "object records folded into the page map", ALL, records, NULL},
    {"mtp_dropped_records_total", "counter", "page slices lost because the page map was full", ALL,
     dropped, NULL},
    {"mtp_pages_tracked", "gauge", "pages in the page map", ALL, pages_tracked, NULL},
    {"mtp_hot_pages", "gauge", "tracked pages whose decayed heat is above zero", ALL, hot_pages,
     NULL},
    {"mtp_page_map_capacity_pages", "gauge", "the page map's capacity (--max-pages)", ALL,
     map_capacity, NULL},
    {"mtp_gc_seconds_total", "counter", "the program's garbage collections, as gc_done reports",
     ALL, gc_seconds, NULL},
    {"mtp_observe_seconds_total", "counter", "the extension's own observation time", ALL,
     observe_seconds, NULL},
    {"mtp_written_scan_cost_seconds_total", "counter",
     "the written-page scan's measured cost to the program (faults and system calls)", ALL,
     scan_cost_seconds, NULL},
    {"mtp_written_scan_state", "gauge", "1 for the written-page scan's state, 0 for the others",
     ALL, NULL, scan_state},
    {"mtp_heap_cycles_total", "counter", "whole-heap observation cycles completed", ALL, cycles,
     NULL},
    {"mtp_heap_cycle_seconds", "gauge", "how long the last whole-heap cycle took", ALL,
     cycle_seconds, NULL},
    {"mtp_step_max_seconds", "gauge", "the longest observation step since the previous gc_done",
     ALL, step_max_seconds, NULL},
    {"mtp_tier_pages", "gauge", "tracked pages on the fast and the slow tier", TIERED, NULL,
     tier_pages},
    {"mtp_fast_budget_bytes", "gauge", "the fast-tier budget in force", TIERED, budget_bytes, NULL},
    {"mtp_fast_budget_used_bytes", "gauge", "tracked bytes on the fast tier before the moves",
     TIERED, budget_used_bytes, NULL},
    {"mtp_fast_headroom_bytes", "gauge",
     "of the budget, kept free for the program's new pages (--headroom)", TIERED, headroom_bytes,
     NULL},
    {"mtp_promoted_pages_total", "counter", "pages moved to the fast tier", TIERED, promoted, NULL},
    {"mtp_demoted_pages_total", "counter", "pages moved to the slow tier", TIERED, demoted, NULL},
    {"mtp_failed_moves_total", "counter", "planned moves that did not happen", TIERED, failed,
     NULL},
    {"mtp_pingpongs_total", "counter", "demoted pages selected again within the window", TIERED,
     pingpongs, NULL},
    {"mtp_move_backoffs_total", "counter", "holds begun or lengthened after a node refused moves",
     TIERED, backoffs, NULL},
    {"mtp_moves_held_intervals", "gauge", "intervals moves in that direction are still held back",
     TIERED, NULL, held},
    {"mtp_lazy_n", "gauge", "cold intervals before a fast page is demoted (lazy N)", TIERED, lazy_n,
     NULL},
    {"mtp_fast_pressure", "gauge", "1 when over budget or the fast node is below its watermark",
     TIERED, pressure, NULL},
    /* Per Python type: the first --types rows, hottest first.  Bytes are
     * whole pages, each counted for the type holding most of it. */
    {"mtp_types", "gauge",
     "Python types met in the process; the mtp_type_ families show the "
     "hottest --types of them",
     ALL, types_known, NULL},
    {"mtp_type_bytes", "gauge",
     "live bytes of the type's objects by the tier of their pages, as the last heap cycle "
     "observed them (all: one tier)",
     TYPED, NULL, type_bytes},
    {"mtp_type_hot_bytes", "gauge", "of those, bytes on pages hot when observed", TYPED, NULL,
     type_hot_bytes},
    {"mtp_type_heat", "gauge", "decayed heat of the pages the type holds most of", TYPED, NULL,
     type_heat},
    {"mtp_type_observed_bytes_total", "counter",
     "bytes of the type's objects observed (a heap cycle observes each live object once)", TYPED,
     NULL, type_observed},
    {"mtp_type_promoted_bytes_total", "counter", "bytes of the type's pages moved to the fast tier",
     TIERED | TYPED, NULL, type_promoted},
    {"mtp_type_demoted_bytes_total", "counter", "bytes of the type's pages moved to the slow tier",
     TIERED | TYPED, NULL, type_demoted},
};

int mtp_prom_format(char *buf, size_t len, const struct mtp_report *const *reports, size_t n)
{
    struct mtp_strbuf b = {buf, len, 0};

    if (len)
        buf[0] = '\0';
    for (size_t f = 0; f < sizeof(families) / sizeof(families[0]); f++) {
        const struct family *fam = &families[f];
        bool any = false;

        for (size_t i = 0; i < n; i++)
            any |= has(fam, reports[i]);
        if (!any)
            continue;
        mtp_strbuf_printf(&b, "# HELP %s %s\n# TYPE %s %s\n", fam->name, fam->help, fam->name,
                          fam->type);
        for (size_t i = 0; i < n; i++) {
            const struct mtp_report *r = reports[i];

            if (!has(fam, r))
                continue;
            if (fam->value)
                sample(&b, fam->name, r, NULL, NULL, fam->value(r));
            else
                fam->labels(&b, fam->name, r);
        }
    }
    return mtp_strbuf_result(&b);
}
