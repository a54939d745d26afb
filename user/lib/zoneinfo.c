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

static const char *const mark_names[] = {
    [MTP_ZONE_MIN] = "min",
    [MTP_ZONE_LOW] = "low",
    [MTP_ZONE_HIGH] = "high",
};

/*
 * The zone's watermark line: "        low      NNN".  The per-CPU pagesets
 * further down have "high:  NNN" lines of their own (a different limit),
 * which the colon tells apart.  1 and *pages, 0 when not that line, -1 when
 * it is but the number is bad.
 */
static int parse_mark(const char *line, size_t len, const char *name, unsigned long long *pages)
{
    const char *p = line, *end = line + len;
    size_t n = strlen(name);
    char *after;

    while (p < end && *p == ' ')
        p++;
    if ((size_t)(end - p) < n + 1 || strncmp(p, name, n) != 0 || (p[n] != ' ' && p[n] != '\t'))
        return 0;
    p += n;
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

int mtp_zoneinfo_watermark_bytes(const char *text, int node, enum mtp_zone_watermark mark,
                                 uint64_t page_size, uint64_t *bytes, char *err, size_t errlen)
{
    const char *p = text, *name = mark_names[mark];
    char zone[32] = "", next_zone[32];
    int in_node = 0, zone_has_mark = 0, zones = 0;
    unsigned long long total = 0;
    int lineno = 0;

    while (*p) {
        size_t len;
        const char *line = p;
        unsigned long long pages;
        long n;
        int rc;

        p = next_line(p, &len);
        lineno++;
        rc = parse_header(line, len, &n, next_zone, sizeof(next_zone));
        if (rc < 0) {
            mtp_set_err(err, errlen, "zoneinfo line %d: not a 'Node N, zone NAME' line", lineno);
            return -EINVAL;
        }
        if (rc > 0) {
            if (in_node && !zone_has_mark)
                goto no_mark;
            memcpy(zone, next_zone, sizeof(zone));
            in_node = n == node;
            zone_has_mark = 0;
            zones += in_node;
            continue;
        }
        if (!in_node)
            continue;
        rc = parse_mark(line, len, name, &pages);
        if (rc < 0) {
            mtp_set_err(err, errlen,
                        "zoneinfo line %d: the %s watermark of node %d's zone %s "
                        "is not a number",
                        lineno, name, node, zone);
            return -EINVAL;
        }
        if (rc > 0 && !zone_has_mark) {
            zone_has_mark = 1;
            total += pages;
        }
    }
    if (in_node && !zone_has_mark)
        goto no_mark;
    if (zones == 0) {
        mtp_set_err(err, errlen, "zoneinfo has no zone of node %d", node);
        return -ENOENT;
    }
    *bytes = (uint64_t)total * page_size;
    return 0;
no_mark:
    mtp_set_err(err, errlen, "zoneinfo: node %d's zone %s has no %s watermark", node, zone, name);
    return -EINVAL;
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
    const char *p = text;
    char zone[32] = "", next_zone[32];
    struct zone_floor z = {0};
    int in_node = 0, zones = 0, lineno = 0;
    unsigned long long total = 0;

    for (;;) {
        size_t len = 0;
        const char *line = p;
        unsigned long long v;
        long n;
        int rc = 0, at_end = !*p;

        if (!at_end) {
            p = next_line(p, &len);
            lineno++;
            rc = parse_header(line, len, &n, next_zone, sizeof(next_zone));
            if (rc < 0) {
                mtp_set_err(err, errlen, "zoneinfo line %d: not a 'Node N, zone NAME' line",
                            lineno);
                return -EINVAL;
            }
        }
        if (at_end || rc > 0) {
            if (in_node && !z.has_low) {
                mtp_set_err(err, errlen, "zoneinfo: node %d's zone %s has no low watermark", node,
                            zone);
                return -EINVAL;
            }
            if (in_node)
                total += zone_floor_pages(&z);
            if (at_end)
                break;
            memcpy(zone, next_zone, sizeof(zone));
            in_node = n == node;
            zones += in_node;
            memset(&z, 0, sizeof(z));
            continue;
        }
        if (!in_node)
            continue;
        if ((rc = parse_mark(line, len, "low", &v)) != 0 && !z.has_low) {
            z.low = v;
            z.has_low = rc > 0;
        } else if (rc == 0 && (rc = parse_mark(line, len, "managed", &v)) > 0) {
            z.managed = v;
            z.has_managed = 1;
        } else if (rc == 0) {
            rc = parse_protection(line, len, &v);
            if (rc > 0)
                z.reserve = v;
        }
        if (rc < 0) {
            mtp_set_err(err, errlen, "zoneinfo line %d: node %d's zone %s: a malformed line",
                        lineno, node, zone);
            return -EINVAL;
        }
    }
    if (zones == 0) {
        mtp_set_err(err, errlen, "zoneinfo has no zone of node %d", node);
        return -ENOENT;
    }
    *bytes = (uint64_t)total * page_size;
    return 0;
}

/* A pageset line: "              count:    12"; 1 and *v, 0 when not that
 * line, -1 when it is but the number is bad.  The colon keeps "high:" apart
 * from the zone's "high" watermark. */
static int parse_colon(const char *line, size_t len, const char *key, unsigned long long *v)
{
    const char *p = line, *end = line + len;
    size_t n = strlen(key);
    char *after;

    while (p < end && *p == ' ')
        p++;
    if ((size_t)(end - p) < n + 1 || strncmp(p, key, n) != 0 || p[n] != ':')
        return 0;
    p += n + 1;
    while (p < end && *p == ' ')
        p++;
    if (p == end || *p < '0' || *p > '9')
        return -1;
    errno = 0;
    *v = strtoull(p, &after, 10);
    return errno || after != end ? -1 : 1;
}

int mtp_zoneinfo_free_lists(const char *text, int node, uint64_t page_size,
                            struct mtp_free_lists *out, char *err, size_t errlen)
{
    const char *p = text;
    char zone[32] = "";
    /* a CPU's "high_max:" follows its "high:" and replaces it in the sum */
    unsigned long long count = 0, limit = 0, last_high = 0, managed = 0, v;
    int in_node = 0, zones = 0, lineno = 0;

    while (*p) {
        size_t len;
        const char *line = p;
        long n;
        int rc;

        p = next_line(p, &len);
        lineno++;
        rc = parse_header(line, len, &n, zone, sizeof(zone));
        if (rc < 0) {
            mtp_set_err(err, errlen, "zoneinfo line %d: not a 'Node N, zone NAME' line", lineno);
            return -EINVAL;
        }
        if (rc > 0) {
            in_node = n == node;
            zones += in_node;
            continue;
        }
        if (!in_node)
            continue;
        if ((rc = parse_colon(line, len, "count", &v)) > 0)
            count += v;
        else if (rc == 0 && (rc = parse_colon(line, len, "high", &v)) > 0) {
            limit += v;
            last_high = v;
        } else if (rc == 0 && (rc = parse_colon(line, len, "high_max", &v)) > 0) {
            limit = limit - last_high + v;
            last_high = 0;
        } else if (rc == 0 && (rc = parse_mark(line, len, "managed", &v)) > 0)
            managed += v;
        if (rc < 0) {
            mtp_set_err(err, errlen, "zoneinfo line %d: node %d's zone %s: a malformed line",
                        lineno, node, zone);
            return -EINVAL;
        }
    }
    if (zones == 0) {
        mtp_set_err(err, errlen, "zoneinfo has no zone of node %d", node);
        return -ENOENT;
    }
    out->held_bytes = (uint64_t)count * page_size;
    out->limit_bytes = (uint64_t)limit * page_size;
    out->managed_bytes = (uint64_t)managed * page_size;
    return 0;
}
