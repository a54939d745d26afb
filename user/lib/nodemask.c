// SPDX-License-Identifier: MIT
#include "nodemask.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#include "errmsg.h"
#include "strbuf.h"

bool mtp_nodemask_test(const struct mtp_nodemask *m, unsigned id)
{
    return id < MTP_NODE_ID_LIMIT && (m->bits[id / 64] >> (id % 64)) & 1;
}

void mtp_nodemask_set(struct mtp_nodemask *m, unsigned id)
{
    if (id < MTP_NODE_ID_LIMIT)
        m->bits[id / 64] |= 1ULL << (id % 64);
}

unsigned mtp_nodemask_count(const struct mtp_nodemask *m)
{
    unsigned n = 0;

    for (size_t i = 0; i < sizeof(m->bits) / sizeof(m->bits[0]); i++)
        n += (unsigned)__builtin_popcountll(m->bits[i]);
    return n;
}

/* Length of s without the one trailing newline sysfs appends, so messages
 * quote the value the way the user would type it. */
static int shown_len(const char *s)
{
    size_t n = strlen(s);

    if (n && s[n - 1] == '\n')
        n--;
    return n > INT_MAX ? INT_MAX : (int)n;
}

static int parse_id(const char **pp, unsigned limit, unsigned *id)
{
    const char *p = *pp;
    unsigned long v = 0;

    if (*p < '0' || *p > '9')
        return -EINVAL;
    for (; *p >= '0' && *p <= '9'; p++) {
        v = v * 10 + (unsigned long)(*p - '0');
        if (v >= limit)
            return -ERANGE;
    }
    *pp = p;
    *id = (unsigned)v;
    return 0;
}

int mtp_nodelist_parse(const char *s, unsigned limit, struct mtp_nodemask *out, char *err,
                       size_t errlen)
{
    struct mtp_nodemask m;
    const char *p = s;

    memset(&m, 0, sizeof(m));
    if (limit > MTP_NODE_ID_LIMIT)
        limit = MTP_NODE_ID_LIMIT;
    if (!*p || (p[0] == '\n' && !p[1])) {
        *out = m;
        return 0;
    }
    for (;;) {
        unsigned lo, hi;
        int rc = parse_id(&p, limit, &lo);

        if (!rc) {
            hi = lo;
            if (*p == '-') {
                p++;
                rc = parse_id(&p, limit, &hi);
            }
        }
        if (rc == -ERANGE) {
            mtp_set_err(err, errlen, "list \"%.*s\" names an id of %u or more", shown_len(s), s,
                        limit);
            return rc;
        }
        if (rc) {
            mtp_set_err(err, errlen, "list \"%.*s\" has no number at \"%.*s\"", shown_len(s), s,
                        shown_len(p), p);
            return rc;
        }
        if (hi < lo) {
            mtp_set_err(err, errlen, "list \"%.*s\" has a backwards range %u-%u", shown_len(s), s,
                        lo, hi);
            return -EINVAL;
        }
        for (unsigned id = lo; id <= hi; id++)
            mtp_nodemask_set(&m, id);
        if (*p == ',') {
            p++;
            continue;
        }
        if (!*p || (p[0] == '\n' && !p[1]))
            break;
        mtp_set_err(err, errlen, "list \"%.*s\" has junk at \"%.*s\"", shown_len(s), s,
                    shown_len(p), p);
        return -EINVAL;
    }
    *out = m;
    return 0;
}

static void emit_mask(struct mtp_strbuf *k, const struct mtp_nodemask *m)
{
    const char *sep = "";

    for (unsigned id = 0; id < MTP_NODE_ID_LIMIT; id++) {
        unsigned end = id;

        if (!mtp_nodemask_test(m, id))
            continue;
        while (end + 1 < MTP_NODE_ID_LIMIT && mtp_nodemask_test(m, end + 1))
            end++;
        if (end == id)
            mtp_strbuf_printf(k, "%s%u", sep, id);
        else
            mtp_strbuf_printf(k, "%s%u-%u", sep, id, end);
        sep = ",";
        id = end;
    }
}

int mtp_nodemask_format(const struct mtp_nodemask *m, char *buf, size_t len)
{
    struct mtp_strbuf k = {buf, len, 0};

    if (buf && len)
        buf[0] = '\0';
    emit_mask(&k, m);
    return mtp_strbuf_result(&k);
}
