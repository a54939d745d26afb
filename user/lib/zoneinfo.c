// SPDX-License-Identifier: MIT
#include "zoneinfo.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "errmsg.h"

/* One line of text, without its newline, and where the next one starts. */
static const char *next_line(const char *p, size_t *len)
{
    const char *nl = strchr(p, '\n');

    *len = nl ? (size_t)(nl - p) : strlen(p);
    return nl ? nl + 1 : p + *len;
}

/* "Node N, zone NAME": the node and the zone's name; 0 when not a header. */
static int parse_header(const char *line, size_t len, long *node, char *zone, size_t zone_len)
{
    const char *p = line + 5, *end = line + len;
    char *after;
    size_t n;

    if (len < 5 || strncmp(line, "Node ", 5) != 0)
        return 0;
    *node = strtol(p, &after, 10);
    if (after == p || after >= end || strncmp(after, ", zone", 6) != 0)
        return -1;
    p = after + 6;
    while (p < end && *p == ' ')
        p++;
    n = (size_t)(end - p);
    if (n == 0 || n >= zone_len)
        return -1;
    memcpy(zone, p, n);
    zone[n] = '\0';
    return 1;
}

/*
 * The lines of one node's zones, in order: each line of a zone of the node
 * (WALK_LINE: w->line, w->len), the end of each such zone (WALK_ZONE_END,
 * its name still in w->zone), then WALK_DONE; -EINVAL with err set on a
 * malformed zone header, whoever's.  Every zone of every node is one
 * header and its lines.
 */
enum { WALK_DONE, WALK_LINE, WALK_ZONE_END };

struct zone_walk {
    const char *p, *line;
    size_t len;
    int node, lineno;
    int zones;            /* of the node, so far */
    int in_node, pending; /* pending: a header read at a zone's end, entered next */
    long next_node;
    char zone[32], next_zone[32];
};

static void walk_begin(struct zone_walk *w, const char *text, int node)
{
    memset(w, 0, sizeof(*w));
    w->p = text;
    w->node = node;
}

static void walk_enter(struct zone_walk *w)
{
    memcpy(w->zone, w->next_zone, sizeof(w->zone));
    w->in_node = w->next_node == w->node;
    w->zones += w->in_node;
    w->pending = 0;
}

static int walk_next(struct zone_walk *w, char *err, size_t errlen)
{
    if (w->pending)
        walk_enter(w);
    while (*w->p) {
        int rc;

        w->line = w->p;
        w->p = next_line(w->p, &w->len);
        w->lineno++;
        rc = parse_header(w->line, w->len, &w->next_node, w->next_zone, sizeof(w->next_zone));
        if (rc < 0) {
            mtp_set_err(err, errlen, "zoneinfo line %d: not a 'Node N, zone NAME' line", w->lineno);
            return -EINVAL;
        }
        if (rc > 0 && w->in_node) {
            w->in_node = 0;
            w->pending = 1;
            return WALK_ZONE_END;
        }
        if (rc > 0)
            walk_enter(w);
        else if (w->in_node)
            return WALK_LINE;
    }
    if (w->in_node) {
        w->in_node = 0;
        return WALK_ZONE_END;
    }
    return WALK_DONE;
}

/* -EINVAL, saying which line of which zone. */
static int walk_malformed(const struct zone_walk *w, char *err, size_t errlen)
{
    mtp_set_err(err, errlen, "zoneinfo line %d: node %d's zone %s: a malformed line", w->lineno,
                w->node, w->zone);
    return -EINVAL;
}

/* After WALK_DONE: 0, or -ENOENT when the node had no zone. */
static int walk_found(const struct zone_walk *w, char *err, size_t errlen)
{
    if (w->zones)
        return 0;
    mtp_set_err(err, errlen, "zoneinfo has no zone of node %d", w->node);
    return -ENOENT;
}

static const char *const mark_names[] = {
    [MTP_ZONE_MIN] = "min",
    [MTP_ZONE_LOW] = "low",
    [MTP_ZONE_HIGH] = "high",
};

/*
 * A line "name NNN" of the zone (colon 0), as its watermark line
 * "        low      NNN", or "name: NNN" of a per-CPU pageset (colon ':').
 * The pagesets' "high:  NNN" is a different limit from the zone's "high"
 * watermark, which the colon tells apart.  1 and *pages, 0 when not that
 * line, -1 when it is but the number is bad.
 */
static int parse_field(const char *line, size_t len, const char *name, char colon,
                       unsigned long long *pages)
{
    const char *p = line, *end = line + len;
    size_t n = strlen(name);
    char *after;

    while (p < end && *p == ' ')
        p++;
    if ((size_t)(end - p) < n + 1 || strncmp(p, name, n) != 0 ||
        (colon ? p[n] != colon : p[n] != ' ' && p[n] != '\t'))
        return 0;
    p += n + (colon != 0);
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    if (p == end || *p < '0' || *p > '9')
        return -1;
    errno = 0;
    *pages = strtoull(p, &after, 10);
    if (errno || after != end)
        return -1;
    return 1;
}

/* A line of the zone: "        low      NNN". */
static int parse_mark(const char *line, size_t len, const char *name, unsigned long long *pages)
{
    return parse_field(line, len, name, 0, pages);
}

int mtp_zoneinfo_watermark_bytes(const char *text, int node, enum mtp_zone_watermark mark,
                                 uint64_t page_size, uint64_t *bytes, char *err, size_t errlen)
{
    const char *name = mark_names[mark];
    struct zone_walk w;
    unsigned long long total = 0, pages;
    int has_mark = 0, ev, rc;

    walk_begin(&w, text, node);
    while ((ev = walk_next(&w, err, errlen)) > 0) {
        if (ev == WALK_ZONE_END) {
            if (!has_mark) {
                mtp_set_err(err, errlen, "zoneinfo: node %d's zone %s has no %s watermark", node,
                            w.zone, name);
                return -EINVAL;
            }
            has_mark = 0;
            continue;
        }
        rc = parse_mark(w.line, w.len, name, &pages);
        if (rc < 0) {
            mtp_set_err(err, errlen,
                        "zoneinfo line %d: the %s watermark of node %d's zone %s "
                        "is not a number",
                        w.lineno, name, node, w.zone);
            return -EINVAL;
        }
        if (rc > 0 && !has_mark) {
            has_mark = 1;
            total += pages;
        }
    }
    if (ev < 0 || (ev = walk_found(&w, err, errlen)) < 0)
        return ev;
    *bytes = (uint64_t)total * page_size;
    return 0;
}

/* The largest entry of "protection: (a, b, ...)"; 1, 0 when not that line,
 * -1 when it is but malformed. */
static int parse_protection(const char *line, size_t len, unsigned long long *most)
{
    const char *p = line, *end = line + len;
    static const char key[] = "protection: (";

    while (p < end && *p == ' ')
        p++;
    if ((size_t)(end - p) < sizeof(key) - 1 || strncmp(p, key, sizeof(key) - 1) != 0)
        return 0;
    p += sizeof(key) - 1;
    *most = 0;
    for (;;) {
        char *after;
        unsigned long long v;

        if (p == end || *p < '0' || *p > '9')
            return -1;
        errno = 0;
        v = strtoull(p, &after, 10);
        if (errno || after > end)
            return -1;
        *most = v > *most ? v : *most;
        p = after;
        if (p < end && *p == ')')
            return p + 1 == end ? 1 : -1;
        if (end - p < 2 || p[0] != ',' || p[1] != ' ')
            return -1;
        p += 2;
    }
}

/* One zone's floor in pages (see the header). */
struct zone_floor {
    unsigned long long low, reserve, managed;
    int has_low, has_managed;
};

static unsigned long long zone_floor_pages(const struct zone_floor *z)
{
    unsigned long long f = z->low + z->reserve;

    return z->has_managed && z->managed < f ? z->managed : f;
}

int mtp_zoneinfo_user_floor_bytes(const char *text, int node, uint64_t page_size, uint64_t *bytes,
                                  char *err, size_t errlen)
{
    struct zone_walk w;
    struct zone_floor z = {0};
    unsigned long long total = 0, v;
    int ev, rc;

    walk_begin(&w, text, node);
    while ((ev = walk_next(&w, err, errlen)) > 0) {
        if (ev == WALK_ZONE_END) {
            if (!z.has_low) {
                mtp_set_err(err, errlen, "zoneinfo: node %d's zone %s has no low watermark", node,
                            w.zone);
                return -EINVAL;
            }
            total += zone_floor_pages(&z);
            memset(&z, 0, sizeof(z));
            continue;
        }
        if ((rc = parse_mark(w.line, w.len, "low", &v)) != 0 && !z.has_low) {
            z.low = v;
            z.has_low = rc > 0;
        } else if (rc == 0 && (rc = parse_mark(w.line, w.len, "managed", &v)) > 0) {
            z.managed = v;
            z.has_managed = 1;
        } else if (rc == 0) {
            rc = parse_protection(w.line, w.len, &v);
            if (rc > 0)
                z.reserve = v;
        }
        if (rc < 0)
            return walk_malformed(&w, err, errlen);
    }
    if (ev < 0 || (ev = walk_found(&w, err, errlen)) < 0)
        return ev;
    *bytes = (uint64_t)total * page_size;
    return 0;
}

/* A pageset line: "              count:    12"; as parse_field(). */
static int parse_colon(const char *line, size_t len, const char *key, unsigned long long *v)
{
    return parse_field(line, len, key, ':', v);
}

int mtp_zoneinfo_free_lists(const char *text, int node, uint64_t page_size,
                            struct mtp_free_lists *out, char *err, size_t errlen)
{
    struct zone_walk w;
    /* a CPU's "high_max:" follows its "high:" and replaces it in the sum */
    unsigned long long count = 0, limit = 0, last_high = 0, managed = 0, v;
    int ev, rc;

    walk_begin(&w, text, node);
    while ((ev = walk_next(&w, err, errlen)) > 0) {
        if (ev != WALK_LINE)
            continue;
        if ((rc = parse_colon(w.line, w.len, "count", &v)) > 0)
            count += v;
        else if (rc == 0 && (rc = parse_colon(w.line, w.len, "high", &v)) > 0) {
            limit += v;
            last_high = v;
        } else if (rc == 0 && (rc = parse_colon(w.line, w.len, "high_max", &v)) > 0) {
            limit = limit - last_high + v;
            last_high = 0;
        } else if (rc == 0 && (rc = parse_mark(w.line, w.len, "managed", &v)) > 0)
            managed += v;
        if (rc < 0)
            return walk_malformed(&w, err, errlen);
    }
    if (ev < 0 || (ev = walk_found(&w, err, errlen)) < 0)
        return ev;
    out->held_bytes = (uint64_t)count * page_size;
    out->limit_bytes = (uint64_t)limit * page_size;
    out->managed_bytes = (uint64_t)managed * page_size;
    return 0;
}
