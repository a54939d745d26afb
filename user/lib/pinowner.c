// SPDX-License-Identifier: MIT
#include "pinowner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int mtp_pin_owner_format(const struct mtp_pin_owner *o, char *buf, size_t len)
{
    return snprintf(buf, len, "mtp-trace pid=%d start=%llu%s", o->pid, o->start,
                    o->kept ? " kept" : "");
}

int mtp_pin_owner_parse(const char *text, struct mtp_pin_owner *o)
{
    struct mtp_pin_owner r = {0};
    int used = 0;

    if (sscanf(text, "mtp-trace pid=%d start=%llu%n", &r.pid, &r.start, &used) != 2 || r.pid <= 0 ||
        r.start == 0)
        return -1;
    if (!strcmp(text + used, " kept"))
        r.kept = true;
    else if (text[used])
        return -1;
    *o = r;
    return 0;
}

int mtp_stat_starttime(const char *stat, unsigned long long *start)
{
    const char *p = strrchr(stat, ')');
    char *end;

    if (!p)
        return -1;
    p++;
    /* After the command: state is field 3, start time field 22. */
    for (int field = 2; field < 22; field++) {
        p = strchr(p, ' ');
        if (!p)
            return -1;
        p++;
    }
    if (*p < '0' || *p > '9')
        return -1;
    *start = strtoull(p, &end, 10);
    return *end == ' ' || *end == '\n' || *end == '\0' ? 0 : -1;
}

enum mtp_pins_verdict mtp_pins_judge(bool exists, const struct mtp_pin_owner *owner,
                                     unsigned long long start_now)
{
    if (!exists)
        return MTP_PINS_FREE;
    if (!owner)
        return MTP_PINS_UNOWNED;
    if (owner->kept)
        return MTP_PINS_KEPT;
    /* The same pid started at another time is another process. */
    return start_now == owner->start ? MTP_PINS_LIVE : MTP_PINS_STALE;
}
