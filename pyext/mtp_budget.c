// SPDX-License-Identifier: MIT
#include "mtp_budget.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int mtp_budget_valid(const struct mtp_budget *b)
{
    return b->share > 0.0 && b->share <= 10.0 && b->timer_share >= 0.0 && b->timer_share <= 1.0 &&
           b->scan_share > 0.0 && b->scan_share <= 1.0;
}

/* The share named by name[0..len), or NULL. */
static double *budget_field(struct mtp_budget *b, const char *name, size_t len)
{
    static const struct {
        const char *name;
        size_t offset;
    } fields[] = {
        {"share", offsetof(struct mtp_budget, share)},
        {"timer_share", offsetof(struct mtp_budget, timer_share)},
        {"scan_share", offsetof(struct mtp_budget, scan_share)},
    };

    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        if (strlen(fields[i].name) == len && memcmp(fields[i].name, name, len) == 0)
            return (double *)((char *)b + fields[i].offset);
    return NULL;
}

/* One "name=value" of length len at item into *out. */
static int budget_item(const char *item, size_t len, struct mtp_budget *out, char *err,
                       size_t err_len)
{
    const char *eq = memchr(item, '=', len);
    char value[64], *end;
    double *field, v;
    size_t vlen;

    if (eq == NULL) {
        snprintf(err, err_len, "'%.*s' is not name=value", (int)len, item);
        return -1;
    }
    field = budget_field(out, item, (size_t)(eq - item));
    if (field == NULL) {
        snprintf(err, err_len, "unknown name '%.*s' (known: share, timer_share, scan_share)",
                 (int)(eq - item), item);
        return -1;
    }
    vlen = len - (size_t)(eq + 1 - item);
    if (vlen == 0 || vlen >= sizeof(value)) {
        snprintf(err, err_len, "'%.*s' has no usable value", (int)len, item);
        return -1;
    }
    memcpy(value, eq + 1, vlen);
    value[vlen] = '\0';
    errno = 0;
    v = strtod(value, &end);
    if (end == value || errno != 0) {
        snprintf(err, err_len, "'%s' is not a number", value);
        return -1;
    }
    if (*end == '%') {
        v /= 100.0;
        end++;
    }
    if (*end != '\0') {
        snprintf(err, err_len, "'%s' is not a number", value);
        return -1;
    }
    *field = v;
    return 0;
}

int mtp_budget_parse(const char *text, struct mtp_budget *b, char *err, size_t err_len)
{
    struct mtp_budget out = *b;
    const char *p = text;

    if (text == NULL || *text == '\0') {
        snprintf(err, err_len, "empty");
        return -1;
    }
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);

        if (budget_item(p, len, &out, err, err_len) < 0)
            return -1;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    if (!mtp_budget_valid(&out)) {
        snprintf(err, err_len, "out of range: %s", MTP_BUDGET_LIMITS);
        return -1;
    }
    *b = out;
    return 0;
}
