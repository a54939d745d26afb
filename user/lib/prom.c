// SPDX-License-Identifier: MIT
/* Reports as Prometheus text: see prom.h.  One table row per family. */
#include "prom.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "strbuf.h"

typedef double (*value_fn)(const struct mtp_report *r);
typedef void (*samples_fn)(struct mtp_strbuf *b, const char *name, const struct mtp_report *r);

struct family {
    const char *name;
    const char *type; /* "counter" or "gauge" */
    const char *help;
    bool tiering;      /* only for processes mtp-trace tiers */
    value_fn value;    /* one sample, labelled with the pid alone; or */
    samples_fn labels; /* samples with labels of their own */
};

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

static void sample(struct mtp_strbuf *b, const char *name, const struct mtp_report *r,
                   const char *label, const char *label_value, double v)
{
    mtp_strbuf_printf(b, "%s{pid=\"%d\"", name, r->pid);
    if (label)
        mtp_strbuf_printf(b, ",%s=\"%s\"", label, label_value);
    /* counts exactly; seconds to the nanosecond within a day's worth, and
     * no locale enters (mtp-trace never calls setlocale) */
    if (v == (double)(int64_t)v && v < 9007199254740992.0)
        mtp_strbuf_printf(b, "} %.0f\n", v);
    else
        mtp_strbuf_printf(b, "} %.14g\n", v);
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

static const struct family families[] = {
    {"mtp_up", "gauge", "1 while mtp-trace traces the process; 0 in its last report", false, up,
     NULL},
    {"mtp_events_total", "counter", "mtp:objects probe firings seen by BPF", false, events, NULL},
    {"mtp_records_total", "counter", "object records folded into the page map", false, records,
     NULL},
    {"mtp_dropped_records_total", "counter", "page slices lost because the page map was full",
     false, dropped, NULL},
    {"mtp_pages_tracked", "gauge", "pages in the page map", false, pages_tracked, NULL},
    {"mtp_hot_pages", "gauge", "tracked pages whose decayed heat is above zero", false, hot_pages,
     NULL},
    {"mtp_page_map_capacity_pages", "gauge", "the page map's capacity (--max-pages)", false,
     map_capacity, NULL},
    {"mtp_gc_seconds_total", "counter", "the program's garbage collections, as gc_done reports",
     false, gc_seconds, NULL},
    {"mtp_observe_seconds_total", "counter", "the extension's own observation time", false,
     observe_seconds, NULL},
    {"mtp_written_scan_cost_seconds_total", "counter",
     "the written-page scan's measured cost to the program (faults and system calls)", false,
     scan_cost_seconds, NULL},
    {"mtp_written_scan_state", "gauge", "1 for the written-page scan's state, 0 for the others",
     false, NULL, scan_state},
    {"mtp_heap_cycles_total", "counter", "whole-heap observation cycles completed", false, cycles,
     NULL},
    {"mtp_heap_cycle_seconds", "gauge", "how long the last whole-heap cycle took", false,
     cycle_seconds, NULL},
    {"mtp_step_max_seconds", "gauge", "the longest observation step since the previous gc_done",
     false, step_max_seconds, NULL},
    {"mtp_tier_pages", "gauge", "tracked pages on the fast and the slow tier", true, NULL,
     tier_pages},
    {"mtp_fast_budget_bytes", "gauge", "the fast-tier budget in force", true, budget_bytes, NULL},
    {"mtp_fast_budget_used_bytes", "gauge", "tracked bytes on the fast tier before the moves", true,
     budget_used_bytes, NULL},
    {"mtp_promoted_pages_total", "counter", "pages moved to the fast tier", true, promoted, NULL},
    {"mtp_demoted_pages_total", "counter", "pages moved to the slow tier", true, demoted, NULL},
    {"mtp_failed_moves_total", "counter", "planned moves that did not happen", true, failed, NULL},
    {"mtp_pingpongs_total", "counter", "demoted pages selected again within the window", true,
     pingpongs, NULL},
    {"mtp_move_backoffs_total", "counter", "holds begun or lengthened after a node refused moves",
     true, backoffs, NULL},
    {"mtp_moves_held_intervals", "gauge", "intervals moves in that direction are still held back",
     true, NULL, held},
    {"mtp_lazy_n", "gauge", "cold intervals before a fast page is demoted (lazy N)", true, lazy_n,
     NULL},
    {"mtp_fast_pressure", "gauge", "1 when over budget or the fast node is below its watermark",
     true, pressure, NULL},
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
            any |= !fam->tiering || reports[i]->tiering;
        if (!any)
            continue;
        mtp_strbuf_printf(&b, "# HELP %s %s\n# TYPE %s %s\n", fam->name, fam->help, fam->name,
                          fam->type);
        for (size_t i = 0; i < n; i++) {
            const struct mtp_report *r = reports[i];

            if (fam->tiering && !r->tiering)
                continue;
            if (fam->value)
                sample(&b, fam->name, r, NULL, NULL, fam->value(r));
            else
                fam->labels(&b, fam->name, r);
        }
    }
    return mtp_strbuf_result(&b);
}
