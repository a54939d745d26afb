// SPDX-License-Identifier: MIT
#include "report.h"

#include "heatmap.h"
#include "pytypes.h"
#include "strbuf.h"
#include "units.h"
#include "zoneinfo.h"

#include <json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void add_u64(struct json_object *o, const char *key, uint64_t v)
{
    json_object_object_add(o, key, json_object_new_uint64(v));
}

static struct json_object *tiering_json(const struct mtp_tiering_report *t)
{
    struct json_object *o = json_object_new_object();
    struct json_object *failed = json_object_new_object();
    struct json_object *totals = json_object_new_object();
    const struct mtp_policy_stats *p = &t->plan;
    const struct mtp_commit_result *m = &t->moved;

    json_object_object_add(o, "dry_run", json_object_new_boolean(t->dry_run));
    json_object_object_add(o, "fast_node", json_object_new_int(t->fast_node));
    json_object_object_add(o, "slow_node", json_object_new_int(t->slow_node));
    add_u64(o, "hot", p->hot);
    add_u64(o, "cold", p->cold);
    add_u64(o, "on_fast", p->on_fast);
    add_u64(o, "on_slow", p->on_slow);
    add_u64(o, "elsewhere", p->elsewhere);
    add_u64(o, "untracked_on_fast", p->untracked);
    add_u64(o, "planned_promote_bytes", p->promote_bytes);
    add_u64(o, "planned_demote_bytes", p->demote_bytes);
    add_u64(o, "planned_idle_demote_bytes", (uint64_t)p->idle * MTP_PAGE_SIZE);
    add_u64(o, "planned_headroom_demote_bytes", (uint64_t)p->headroom * MTP_PAGE_SIZE);
    add_u64(o, "deferred", p->deferred);
    add_u64(o, "promoted_bytes", (uint64_t)m->promoted * MTP_PAGE_SIZE);
    add_u64(o, "demoted_bytes", (uint64_t)m->demoted * MTP_PAGE_SIZE);
    add_u64(o, "moved_despite_error", m->moved_despite_error);
    add_u64(failed, "busy", m->busy);
    add_u64(failed, "nomem", m->nomem);
    add_u64(failed, "refused", m->refused);
    add_u64(failed, "gone", m->gone);
    add_u64(failed, "access", m->access);
    add_u64(failed, "other", m->other);
    json_object_object_add(o, "failed", failed);
    add_u64(o, "pingpongs", p->pingpongs);
    json_object_object_add(o, "pingpong_rate", json_object_new_double(t->pingpong_rate));
    add_u64(o, "lazy_n", p->lazy_n);
    add_u64(o, "budget_bytes", p->budget_bytes);
    add_u64(o, "watermark_bytes", t->watermark_bytes);
    add_u64(o, "headroom_bytes", p->headroom_bytes);
    if (p->refused_bytes != MTP_REFUSED_UNKNOWN)
        add_u64(o, "fast_refused_bytes", p->refused_bytes);
    add_u64(o, "budget_used_bytes", p->budget_used_bytes);
    if (t->fast_lists_bytes != MTP_FREE_LISTS_UNKNOWN)
        add_u64(o, "fast_free_lists_bytes", t->fast_lists_bytes);
    add_u64(o, "fast_bytes_planned", p->fast_bytes_planned);
    json_object_object_add(o, "pressure", json_object_new_boolean(p->pressure));
    add_u64(o, "promote_held", p->promote_held);
    add_u64(o, "demote_held", p->demote_held);
    add_u64(o, "hinted_hot", t->hinted_hot);
    add_u64(o, "hinted_cold", t->hinted_cold);
    add_u64(o, "huge_pages", t->huge_pages);
    add_u64(totals, "promoted_pages", t->totals.promoted);
    add_u64(totals, "demoted_pages", t->totals.demoted);
    add_u64(totals, "failed_pages", t->totals.failed);
    add_u64(totals, "pingpongs", t->totals.pingpongs);
    add_u64(totals, "backoffs", t->totals.backoffs);
    json_object_object_add(o, "totals", totals);
    return o;
}

const char *mtp_wp_state_name(const struct mtp_report *r)
{
    if (r->totals.wp_state > 0)
        return "on";
    if (r->totals.wp_state == 0)
        return "off";
    return r->totals.wp_state == MTP_WP_STATE_BACKOFF ? "backoff" : "unsupported";
}

double mtp_report_scan_cost_pct(const struct mtp_report *r)
{
    double span = r->elapsed_s - r->prev_elapsed_s;

    if (span <= 0 || r->totals.wp_cost_ns < r->prev.wp_cost_ns)
        return 0.0;
    return 100.0 * (double)(r->totals.wp_cost_ns - r->prev.wp_cost_ns) / (span * 1e9);
}

/* One type's row; the tiers and moves only when pages move between tiers. */
static struct json_object *type_json(const struct mtp_type_row *t, bool tiering)
{
    struct json_object *o = json_object_new_object();
    const struct mtp_type_tiers *x = &t->tiers;

    if (!o)
        return NULL;
    json_object_object_add(o, "type", json_object_new_string(t->name));
    add_u64(o, "id", t->id);
    add_u64(o, "observed_bytes", t->observed_bytes);
    add_u64(o, "observed_bytes_total", t->seen.bytes);
    add_u64(o, "bytes", mtp_type_bytes(x));
    add_u64(o, "hot_bytes", mtp_type_hot_bytes(x));
    add_u64(o, "pages", x->pages);
    add_u64(o, "heat", x->heat);
    if (tiering) {
        add_u64(o, "fast_bytes", x->bytes[MTP_AT_FAST]);
        add_u64(o, "slow_bytes", x->bytes[MTP_AT_SLOW]);
        add_u64(o, "fast_hot_bytes", x->hot_bytes[MTP_AT_FAST]);
        add_u64(o, "slow_hot_bytes", x->hot_bytes[MTP_AT_SLOW]);
        add_u64(o, "unlocated_bytes", x->bytes[MTP_AT_UNLOCATED]);
        add_u64(o, "promoted_bytes", x->promoted * MTP_PAGE_SIZE);
        add_u64(o, "demoted_bytes", x->demoted * MTP_PAGE_SIZE);
    }
    return o;
}

static struct json_object *report_object(const struct mtp_report *r)
{
    struct json_object *o = json_object_new_object();

    if (!o)
        return NULL;
    json_object_object_add(o, "pid", json_object_new_int(r->pid));
    add_u64(o, "interval", r->interval);
    json_object_object_add(o, "elapsed_s", json_object_new_double(r->elapsed_s));
    add_u64(o, "events", r->totals.events);
    add_u64(o, "records", r->totals.records);
    add_u64(o, "dropped", r->totals.dropped);
    add_u64(o, "bad_reads", r->totals.bad_reads);
    add_u64(o, "bad_abi", r->totals.bad_abi);
    add_u64(o, "gcs", r->totals.gc_dones);
    json_object_object_add(o, "gc_ms", json_object_new_double(r->totals.gc_ns / 1e6));
    json_object_object_add(o, "observe_ms", json_object_new_double(r->totals.observe_ns / 1e6));
    add_u64(o, "pages_tracked", r->pages_tracked);
    add_u64(o, "hot_pages", r->hot_pages);
    add_u64(o, "map_capacity", r->map_capacity);
    add_u64(o, "epoch", r->epoch);
    json_object_object_add(o, "cycle_s", json_object_new_double(r->totals.cycle_ns / 1e9));
    json_object_object_add(o, "cycles", json_object_new_uint64(r->totals.cycles));
    add_u64(o, "written_pages", r->totals.written_pages);
    json_object_object_add(o, "written_scan", json_object_new_string(mtp_wp_state_name(r)));
    add_u64(o, "written_stride", r->totals.wp_state > 0 ? (uint64_t)r->totals.wp_state : 0);
    json_object_object_add(o, "written_scan_cost_pct",
                           json_object_new_double(mtp_report_scan_cost_pct(r)));
    json_object_object_add(o, "step_max_ms", json_object_new_double(r->totals.step_max_ns / 1e6));
    if (r->tiering)
        json_object_object_add(o, "tiering", tiering_json(r->tiering));
    if (r->types) {
        struct json_object *types = json_object_new_array();

        for (size_t i = 0; types && i < r->types_len; i++)
            json_object_array_add(types, type_json(&r->types[i], r->tiering != NULL));
        json_object_object_add(o, "types", types);
        add_u64(o, "types_total", r->types_total);
    }
    json_object_object_add(o, "final", json_object_new_boolean(r->final));
    if (r->final) {
        struct json_object *top = json_object_new_array();

        json_object_object_add(o, "stop_reason",
                               json_object_new_string(r->stop_reason ? r->stop_reason : "unknown"));
        for (size_t i = 0; top && i < r->top_len; i++) {
            struct json_object *p = json_object_new_object();
            char addr[32];

            snprintf(addr, sizeof(addr), "0x%llx", (unsigned long long)r->top[i].addr);
            json_object_object_add(p, "addr", json_object_new_string(addr));
            add_u64(p, "heat", r->top[i].heat);
            add_u64(p, "samples", r->top[i].samples);
            add_u64(p, "active", r->top[i].active);
            json_object_object_add(
                p, "mapping", json_object_new_string(r->top[i].mapping ? r->top[i].mapping : ""));
            json_object_array_add(top, p);
        }
        json_object_object_add(o, "top_pages", top);
    }
    return o;
}

static char *to_line(struct json_object *o)
{
    char *out;

    if (!o)
        return NULL;
    out = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
    return out;
}

char *mtp_report_json(const struct mtp_report *r)
{
    return to_line(report_object(r));
}

char *mtp_report_json_record(const struct mtp_report *r, const struct mtp_heat_block *blocks,
                             size_t n)
{
    struct json_object *o = report_object(r), *map, *rows;

    if (!o)
        return NULL;
    map = json_object_new_object();
    rows = json_object_new_array_ext((int)n);
    json_object_object_add(map, "block_shift", json_object_new_int(MTP_HEATMAP_SHIFT));
    for (size_t i = 0; rows && i < n; i++) {
        struct json_object *row = json_object_new_array_ext(4);

        json_object_array_add(row, json_object_new_uint64(blocks[i].block));
        json_object_array_add(row, json_object_new_uint64(blocks[i].pages));
        json_object_array_add(row, json_object_new_uint64(blocks[i].hot));
        json_object_array_add(row, json_object_new_uint64(blocks[i].heat));
        json_object_array_add(rows, row);
    }
    json_object_object_add(map, "blocks", rows);
    json_object_object_add(o, "heatmap", map);
    return to_line(o);
}

int mtp_report_text_header(const struct mtp_report *r, char *buf, size_t len)
{
    if (r->tiering)
        return snprintf(buf, len, "%7s %8s %10s %9s %8s %8s %8s %10s %10s %7s %6s %3s %17s", "PID",
                        "TIME(s)", "+RECORDS", "PAGES", "HOT", "FAST", "SLOW", "+PROMO(MiB)",
                        "+DEMO(MiB)", "FAILED", "PINGP%", "N", "BUDGET(MiB)");
    return snprintf(buf, len, "%7s %8s %8s %10s %8s %6s %10s %8s %10s %6s", "PID", "TIME(s)",
                    "+EVENTS", "+RECORDS", "+DROPPED", "+GCS", "PAGES", "HOT", "OBSERVE(ms)",
                    "SCAN%");
}

static int text_row_tiering(const struct mtp_report *r, char *buf, size_t len)
{
    const struct mtp_tiering_report *t = r->tiering;
    const struct mtp_commit_result *m = &t->moved;
    const double mib = 1024.0 * 1024.0;
    size_t failed = m->busy + m->nomem + m->refused + m->gone + m->access + m->other;
    char budget[40];

    snprintf(budget, sizeof(budget), "%.0f/%.0f", t->plan.budget_used_bytes / mib,
             t->plan.budget_bytes / mib);
    return snprintf(
        buf, len, "%7d %8.1f %10llu %9llu %8zu %8zu %8zu %10.1f%s %10.1f%s %7zu %6.1f %3u %17s",
        r->pid, r->elapsed_s, (unsigned long long)(r->totals.records - r->prev.records),
        (unsigned long long)r->pages_tracked, t->plan.hot, t->plan.on_fast, t->plan.on_slow,
        (t->dry_run ? t->plan.promote_bytes : m->promoted * MTP_PAGE_SIZE) / mib,
        t->dry_run ? "?" : " ",
        (t->dry_run ? t->plan.demote_bytes : m->demoted * MTP_PAGE_SIZE) / mib,
        t->dry_run ? "?" : " ", failed, 100.0 * t->pingpong_rate, t->plan.lazy_n, budget);
}

int mtp_report_text_row(const struct mtp_report *r, char *buf, size_t len)
{
    const struct mtp_stats *t = &r->totals, *p = &r->prev;

    if (r->tiering)
        return text_row_tiering(r, buf, len);
    char scan[16];

    /* The written-page scan's measured cost this interval, or its state. */
    if (t->wp_state > 0)
        snprintf(scan, sizeof(scan), "%.2f", mtp_report_scan_cost_pct(r));
    else
        snprintf(scan, sizeof(scan), "%s", t->wp_state == MTP_WP_STATE_BACKOFF ? "backoff" : "-");
    return snprintf(buf, len, "%7d %8.1f %8llu %10llu %8llu %6llu %10llu %8llu %10.2f %6s", r->pid,
                    r->elapsed_s, (unsigned long long)(t->events - p->events),
                    (unsigned long long)(t->records - p->records),
                    (unsigned long long)(t->dropped - p->dropped),
                    (unsigned long long)(t->gc_dones - p->gc_dones),
                    (unsigned long long)r->pages_tracked, (unsigned long long)r->hot_pages,
                    (t->observe_ns - p->observe_ns) / 1e6, scan);
}

int mtp_report_text_top(const struct mtp_report *r, char *buf, size_t len)
{
    size_t used = 0;
    int n = snprintf(buf, len,
                     "hottest pages (heat: bytes x refcount change, plus written-page reports; "
                     "halved each epoch):\n"
                     "%18s %14s %8s %8s  %s\n",
                     "PAGE", "HEAT", "SAMPLES", "ACTIVE", "MAPPING");

    if (n < 0 || (size_t)n >= len)
        return n;
    used = (size_t)n;
    for (size_t i = 0; i < r->top_len; i++) {
        const struct mtp_hot_page *p = &r->top[i];

        n = snprintf(buf + used, len - used, "%#18llx %14llu %8llu %8llu  %s\n",
                     (unsigned long long)p->addr, (unsigned long long)p->heat,
                     (unsigned long long)p->samples, (unsigned long long)p->active,
                     p->mapping ? p->mapping : "");
        if (n < 0 || (size_t)n >= len - used)
            return (int)(used + (n < 0 ? 0 : (size_t)n));
        used += (size_t)n;
    }
    if (r->top_len == 0)
        used += (size_t)snprintf(buf + used, len - used, "  (no page has any heat yet)\n");
    return (int)used;
}

int mtp_report_text_types(const struct mtp_report *r, char *buf, size_t len)
{
    bool tiering = r->tiering != NULL;
    size_t used;
    int n = snprintf(buf, len,
                     "Python types, the hottest half then the largest (live bytes as the last heap "
                     "cycle observed "
                     "them; moves counted for the type holding most of each page; %zu of %zu "
                     "types):\n%-36s %8s %8s %8s%s\n",
                     r->types_len, r->types_total, "TYPE", "OBSERVED", "BYTES", "HOT",
                     tiering ? "     FAST     SLOW PROMOTED  DEMOTED" : "");

    if (n < 0 || (size_t)n >= len)
        return n;
    used = (size_t)n;
    for (size_t i = 0; i < r->types_len; i++) {
        const struct mtp_type_row *t = &r->types[i];
        const struct mtp_type_tiers *x = &t->tiers;
        char a[16], b[16], c[16], d[16], e[16], f[16], g[16];

        char safe[4 * MTP_TYPE_NAME_MAX + 1];
        struct mtp_strbuf sb = {safe, sizeof(safe), 0};

        /* The program names its classes: nothing of theirs drives the
         * terminal. */
        mtp_strbuf_untrusted(&sb, t->name);
        n = snprintf(buf + used, len - used, "%-36.36s %8s %8s %8s", safe,
                     mtp_format_bytes(t->seen.bytes, a),
                     mtp_format_bytes(x->bytes[0] + x->bytes[1], b),
                     mtp_format_bytes(x->hot_bytes[0] + x->hot_bytes[1], c));
        if (n >= 0 && (size_t)n < len - used && tiering) {
            used += (size_t)n;
            n = snprintf(buf + used, len - used, " %8s %8s %8s %8s",
                         mtp_format_bytes(x->bytes[MTP_AT_FAST], d),
                         mtp_format_bytes(x->bytes[MTP_AT_SLOW], e),
                         mtp_format_bytes(x->promoted * MTP_PAGE_SIZE, f),
                         mtp_format_bytes(x->demoted * MTP_PAGE_SIZE, g));
        }
        if (n < 0 || (size_t)n >= len - used)
            return (int)used;
        used += (size_t)n;
        if (used + 1 < len) {
            buf[used++] = '\n';
            buf[used] = '\0';
        }
    }
    if (r->types_len == 0)
        used += (size_t)snprintf(buf + used, len - used, "  (no type observed yet)\n");
    return (int)used;
}

size_t mtp_select_hottest(const struct mtp_hot_page *pages, size_t n, struct mtp_hot_page *out,
                          size_t want)
{
    size_t len = 0;

    if (want == 0)
        return 0;
    /* A bounded insertion keeps this O(n * want) with want small (a top-N
     * for humans), and needs no copy of the whole table. */
    for (size_t i = 0; i < n; i++) {
        size_t at;

        if (pages[i].heat == 0)
            continue;
        if (len == want && pages[i].heat <= out[len - 1].heat)
            continue;
        at = len < want ? len++ : want - 1;
        while (at > 0 && out[at - 1].heat < pages[i].heat) {
            out[at] = out[at - 1];
            at--;
        }
        out[at] = pages[i];
    }
    return len;
}
