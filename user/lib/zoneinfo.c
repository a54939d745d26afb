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
