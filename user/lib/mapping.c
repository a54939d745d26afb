// SPDX-License-Identifier: MIT
#include "mapping.h"

#include <string.h>

/* The kernel prints "start-end perms offset major:minor inode", one blank
 * between fields, then pads with blanks to a column before the path.
 * Parsed by hand, not with sscanf: the line is not NUL-terminated inside
 * the text, and a blank directive after the inode would skip an anonymous
 * mapping's newline and read the next line as its path. */

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* A number in base 16 or 10 at *p, below end; -1 when there is none or it
 * does not fit 64 bits. */
static int parse_number(const char **p, const char *end, unsigned base, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;

    for (; s < end; s++) {
        int d = hex_digit(*s);

        if (d < 0 || (unsigned)d >= base)
            break;
        if (v > (UINT64_MAX - (unsigned)d) / base)
            return -1;
        v = v * base + (unsigned)d;
    }
    if (s == *p)
        return -1;
    *p = s;
    *out = v;
    return 0;
}

static int expect(const char **p, const char *end, char c)
{
    if (*p == end || **p != c)
        return -1;
    (*p)++;
    return 0;
}

/* At least one blank. */
static int skip_blanks(const char **p, const char *end)
{
    const char *s = *p;

    while (s < end && is_blank(*s))
        s++;
    if (s == *p)
        return -1;
    *p = s;
    return 0;
}

int mtp_mapping_parse(struct mtp_mapping *m, const char *line, size_t len)
{
    const char *p = line, *end = line + len;
    uint64_t dev;
    size_t n;

    if (parse_number(&p, end, 16, &m->start) < 0 || expect(&p, end, '-') < 0 ||
        parse_number(&p, end, 16, &m->end) < 0 || skip_blanks(&p, end) < 0)
        return -1;
    for (n = 0; n < 4; n++, p++) {
        if (p == end || is_blank(*p))
            return -1;
        m->perms[n] = *p;
    }
    m->perms[4] = '\0';
    if (skip_blanks(&p, end) < 0 || parse_number(&p, end, 16, &m->offset) < 0 ||
        skip_blanks(&p, end) < 0 || parse_number(&p, end, 16, &dev) < 0 ||
        expect(&p, end, ':') < 0 || parse_number(&p, end, 16, &dev) < 0 ||
        skip_blanks(&p, end) < 0 || parse_number(&p, end, 10, &m->inode) < 0)
        return -1;
    /* After the inode: the end of the line, or blanks and then the path
     * (none at all for unnamed anonymous memory, whatever the padding). */
    if (p < end && !is_blank(*p))
        return -1;
    while (p < end && is_blank(*p))
        p++;
    n = (size_t)(end - p);
    m->path_cut = n >= sizeof(m->path);
    if (m->path_cut) {
        /* The end, from the first '/' that leaves it room: the file's name
         * is what finds the extension and libpython. */
        const char *from = end - (sizeof(m->path) - 1);

        while (from < end && *from != '/')
            from++;
        p = from;
        n = (size_t)(end - p);
    }
    memcpy(m->path, p, n);
    m->path[n] = '\0';
    /* The kernel's mappings are whole pages: an unaligned bound would make
     * the sweep round a page down below the mapping (found by
     * tests/fuzz/fuzz_proc.c), so it is refused as malformed. */
    return m->end > m->start && !(m->start % MTP_MAPPING_PAGE) && !(m->end % MTP_MAPPING_PAGE) ? 0
                                                                                               : -1;
}

int mtp_mapping_next(const char **text, struct mtp_mapping *m)
{
    const char *line = *text, *nl;
    size_t len;

    if (line == NULL || *line == '\0')
        return 0;
    nl = strchr(line, '\n');
    len = nl ? (size_t)(nl - line) : strlen(line);
    *text = line + len + (nl != NULL);
    return mtp_mapping_parse(m, line, len) == 0 ? 1 : -1;
}

int mtp_mapping_is_data(const struct mtp_mapping *m)
{
    if (m->perms[0] != 'r' || m->perms[1] != 'w' || m->perms[3] != 'p' || m->inode != 0)
        return 0;
    if (m->end - m->start > MTP_MAPPING_DATA_MAX)
        return 0;
    return m->path[0] == '\0' || strcmp(m->path, "[heap]") == 0 ||
           strncmp(m->path, "[anon:", 6) == 0;
}
