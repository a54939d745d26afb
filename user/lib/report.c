// SPDX-License-Identifier: MIT
#include "report.h"

#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void add_u64(struct json_object *o, const char *key, uint64_t v)
{
    json_object_object_add(o, key, json_object_new_uint64(v));
}

char *mtp_report_json(const struct mtp_report *r)
{
    struct json_object *o = json_object_new_object();
    char *out = NULL;

    if (!o)
        return NULL;
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
    out = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
    return out;
}

int mtp_report_text_header(char *buf, size_t len)
{
    return snprintf(buf, len, "%8s %8s %10s %8s %6s %10s %8s %10s", "TIME(s)", "+EVENTS",
                    "+RECORDS", "+DROPPED", "+GCS", "PAGES", "HOT", "OBSERVE(ms)");
}

int mtp_report_text_row(const struct mtp_report *r, char *buf, size_t len)
{
    const struct mtp_stats *t = &r->totals, *p = &r->prev;

    return snprintf(
        buf, len, "%8.1f %8llu %10llu %8llu %6llu %10llu %8llu %10.2f", r->elapsed_s,
        (unsigned long long)(t->events - p->events), (unsigned long long)(t->records - p->records),
        (unsigned long long)(t->dropped - p->dropped),
        (unsigned long long)(t->gc_dones - p->gc_dones), (unsigned long long)r->pages_tracked,
        (unsigned long long)r->hot_pages, (t->observe_ns - p->observe_ns) / 1e6);
}

int mtp_report_text_top(const struct mtp_report *r, char *buf, size_t len)
{
    size_t used = 0;
    int n = snprintf(buf, len,
                     "hottest pages (heat = bytes x refcount change, halved each interval):\n"
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
