// SPDX-License-Identifier: MIT
#include "pidlist.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#include "errmsg.h"

static bool is_separator(char c)
{
    return c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The pid spelled by text[0, len), or -1. */
static long parse_one(const char *text, size_t len)
{
    long v = 0;

    if (len == 0 || len > 10)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            return -1;
        v = v * 10 + (text[i] - '0');
    }
    return v >= 1 && v <= INT_MAX ? v : -1;
}

int mtp_pidlist_add(struct mtp_pidlist *l, const char *text, char *err, size_t errlen)
{
    struct mtp_pidlist next = *l; /* l stays as it was on error */
    const char *p = text ? text : "";
    int named = 0;

    while (*p) {
        size_t len;
        long pid;

        while (is_separator(*p))
            p++;
        if (!*p)
            break;
        len = strcspn(p, ", \t\r\n");
        pid = parse_one(p, len);
        if (pid < 0) {
            mtp_set_err(err, errlen,
                        "invalid pid '%.*s': give process ids from 1 to %d, separated by commas",
                        (int)(len > 32 ? 32 : len), p, INT_MAX);
            return -EINVAL;
        }
        named++;
        if (!mtp_pidlist_has(&next, (int)pid)) {
            if (next.len == MTP_PIDS_MAX) {
                mtp_set_err(err, errlen, "too many pids: at most %d per mtp-trace", MTP_PIDS_MAX);
                return -E2BIG;
            }
            next.pid[next.len++] = (int)pid;
        }
        p += len;
    }
    *l = next;
    return named;
}

int mtp_pidlist_add_one(struct mtp_pidlist *l, int pid)
{
    if (mtp_pidlist_has(l, pid))
        return 0;
    if (l->len == MTP_PIDS_MAX)
        return -E2BIG;
    l->pid[l->len++] = pid;
    return 0;
}

bool mtp_pidlist_has(const struct mtp_pidlist *l, int pid)
{
    for (unsigned i = 0; i < l->len; i++)
        if (l->pid[i] == pid)
            return true;
    return false;
}

void mtp_pidlist_remove(struct mtp_pidlist *l, int pid)
{
    for (unsigned i = 0; i < l->len; i++) {
        if (l->pid[i] == pid) {
            memmove(&l->pid[i], &l->pid[i + 1], (l->len - i - 1) * sizeof(l->pid[0]));
            l->len--;
            return;
        }
    }
}
