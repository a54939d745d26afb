/* SPDX-License-Identifier: MIT */
#include "units.h"

#include "errmsg.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Fractions keep six digits: enough for "1.5G" or "0.25s", and small enough
 * that fraction * unit cannot overflow 64 bits for any unit we accept. */
#define FRAC_DIGITS 6
#define FRAC_SCALE  1000000ULL

struct decimal {
    uint64_t whole;
    uint64_t frac; /* in 1 / FRAC_SCALE units */
    bool has_frac;
    const char *unit; /* whatever follows the number */
};

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/*
 * Hand-rolled rather than strtod: strtod follows the locale's decimal point
 * and also takes "inf", "nan", hex and leading blanks, none of which a user
 * means in a size or a duration.
 */
static int parse_decimal(const char *s, const char *what, struct decimal *d, char *err,
                         size_t errlen)
{
    const char *p = s;
    uint64_t whole = 0, frac = 0, scale = FRAC_SCALE;

    if (!s || !*s) {
        mtp_set_err(err, errlen, "empty %s", what);
        return -EINVAL;
    }
    if (*p == '-') {
        mtp_set_err(err, errlen, "%s \"%s\" is negative", what, s);
        return -EINVAL;
    }
    if (!is_digit(*p)) {
        mtp_set_err(err, errlen, "%s \"%s\" does not start with a number", what, s);
        return -EINVAL;
    }
    for (; is_digit(*p); p++) {
        unsigned digit = (unsigned)(*p - '0');

        if (whole > (UINT64_MAX - digit) / 10) {
            mtp_set_err(err, errlen, "%s \"%s\" is too large", what, s);
            return -ERANGE;
        }
        whole = whole * 10 + digit;
    }
    d->has_frac = false;
    if (*p == '.') {
        p++;
        if (!is_digit(*p)) {
            mtp_set_err(err, errlen, "%s \"%s\" has no digits after the decimal point", what, s);
            return -EINVAL;
        }
        d->has_frac = true;
        for (int n = 0; is_digit(*p); p++, n++) {
            if (n < FRAC_DIGITS) {
                scale /= 10;
                frac += (uint64_t)(*p - '0') * scale;
            }
        }
    }
    d->whole = whole;
    d->frac = frac;
    d->unit = p;
    return 0;
}

/* whole * mult + frac * mult / FRAC_SCALE, or -ERANGE when it does not fit. */
static int scale_decimal(const struct decimal *d, uint64_t mult, uint64_t *out)
{
    uint64_t hi, lo;

    if (d->whole && mult > UINT64_MAX / d->whole)
        return -ERANGE;
    hi = d->whole * mult;
    /* frac < 10^6 and mult <= 2^42, so the product stays below 2^62 */
    lo = d->frac * mult / FRAC_SCALE;
    if (hi > UINT64_MAX - lo)
        return -ERANGE;
    *out = hi + lo;
    return 0;
}

static double decimal_value(const struct decimal *d)
{
    return (double)d->whole + (double)d->frac / (double)FRAC_SCALE;
}

/* The multiplier of a binary size unit, or 0 when the unit is not one. */
static uint64_t size_unit(const char *u)
{
    static const char letters[] = "kmgt";
    uint64_t mult = 1;
    const char *rest = u;

    if (!*u || !strcasecmp(u, "b"))
        return 1;
    for (int i = 0; letters[i]; i++) {
        mult <<= 10;
        if ((*u | 0x20) == letters[i]) {
            rest = u + 1;
            break;
        }
    }
    if (rest == u)
        return 0;
    if (!*rest || !strcasecmp(rest, "b") || !strcasecmp(rest, "ib"))
        return mult;
    return 0;
}

int mtp_parse_bytes(const char *s, uint64_t *bytes, char *err, size_t errlen)
{
    struct decimal d;
    uint64_t mult, v;
    int rc = parse_decimal(s, "size", &d, err, errlen);

    if (rc)
        return rc;
    mult = size_unit(d.unit);
    if (!mult) {
        mtp_set_err(err, errlen, "size \"%s\" has an unknown unit \"%s\" (use K, M, G or T)", s,
                    d.unit);
        return -EINVAL;
    }
    if (mult == 1 && d.has_frac) {
        mtp_set_err(err, errlen, "size \"%s\" is a fraction of a byte; add a unit such as M", s);
        return -EINVAL;
    }
    if (scale_decimal(&d, mult, &v)) {
        mtp_set_err(err, errlen, "size \"%s\" is too large", s);
        return -ERANGE;
    }
    *bytes = v;
    return 0;
}

int mtp_parse_budget(const char *s, struct mtp_size *out, char *err, size_t errlen)
{
    struct decimal d;
    uint64_t bytes;
    int rc;

    if (s && *s && s[strlen(s) - 1] == '%') {
        rc = parse_decimal(s, "percentage", &d, err, errlen);
        if (rc)
            return rc;
        if (d.unit[0] != '%' || d.unit[1]) {
            mtp_set_err(err, errlen, "percentage \"%s\" has junk before the %%", s);
            return -EINVAL;
        }
        if (d.whole > 100 || (d.whole == 100 && d.frac)) {
            mtp_set_err(err, errlen, "percentage \"%s\" is above 100%%", s);
            return -ERANGE;
        }
        if (!d.whole && !d.frac) {
            mtp_set_err(err, errlen, "percentage \"%s\" must be above 0%%", s);
            return -EINVAL;
        }
        out->kind = MTP_SIZE_PERCENT;
        out->bytes = 0;
        out->percent = decimal_value(&d);
        return 0;
    }
    rc = mtp_parse_bytes(s, &bytes, err, errlen);
    if (rc)
        return rc;
    if (!bytes) {
        mtp_set_err(err, errlen, "budget \"%s\" must be above zero", s);
        return -EINVAL;
    }
    out->kind = MTP_SIZE_BYTES;
    out->bytes = bytes;
    out->percent = 0;
    return 0;
}

uint64_t mtp_size_resolve(const struct mtp_size *size, uint64_t rss_bytes)
{
    double v;

    if (size->kind == MTP_SIZE_BYTES)
        return size->bytes;
    v = (double)rss_bytes * size->percent / 100.0;
    /* rounding can push 100% of a huge RSS past it, and past 2^64 */
    if (!(v < (double)rss_bytes))
        return rss_bytes;
    return v > 0 ? (uint64_t)v : 0;
}

int mtp_parse_rate_mbps(const char *s, double *mbps, char *err, size_t errlen)
{
    struct decimal d;
    int rc = parse_decimal(s, "rate", &d, err, errlen);

    if (rc)
        return rc;
    if (*d.unit && strcasecmp(d.unit, "MB/s") && strcasecmp(d.unit, "MiB/s")) {
        mtp_set_err(err, errlen, "rate \"%s\" has an unknown unit \"%s\" (give MB/s)", s, d.unit);
        return -EINVAL;
    }
    if (!d.whole && !d.frac) {
        mtp_set_err(err, errlen, "rate \"%s\" must be above zero", s);
        return -EINVAL;
    }
    *mbps = decimal_value(&d);
    return 0;
}

uint64_t mtp_rate_bytes_per_interval(double mbps, uint64_t interval_ns)
{
    double v = mbps * 1048576.0 * ((double)interval_ns / 1e9);

    if (!(v > 0))
        return 0;
    if (v >= 18446744073709551616.0)
        return UINT64_MAX;
    return (uint64_t)v;
}

int mtp_parse_duration_ns(const char *s, uint64_t *ns, char *err, size_t errlen)
{
    static const struct {
        const char *name;
        uint64_t ns;
    } units[] = {
        {"", 1000000000ULL},   {"s", 1000000000ULL},    {"ms", 1000000ULL},      {"us", 1000ULL},
        {"m", 60000000000ULL}, {"min", 60000000000ULL}, {"h", 3600000000000ULL},
    };
    struct decimal d;
    uint64_t v;
    int rc = parse_decimal(s, "duration", &d, err, errlen);

    if (rc)
        return rc;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcasecmp(d.unit, units[i].name))
            continue;
        if (scale_decimal(&d, units[i].ns, &v)) {
            mtp_set_err(err, errlen, "duration \"%s\" is too long", s);
            return -ERANGE;
        }
        if (!v) {
            mtp_set_err(err, errlen, "duration \"%s\" must be above zero", s);
            return -EINVAL;
        }
        *ns = v;
        return 0;
    }
    mtp_set_err(err, errlen, "duration \"%s\" has an unknown unit \"%s\" (use ms, s, m or h)", s,
                d.unit);
    return -EINVAL;
}

const char *mtp_format_bytes(uint64_t bytes, char out[8])
{
    static const char unit[] = "BKMGTPE";
    double v = (double)bytes;
    int u = 0;

    while (v >= 1024 && u < 6) {
        v /= 1024;
        u++;
    }
    if (bytes == 0)
        snprintf(out, 8, "0");
    else if (u == 0)
        snprintf(out, 8, "%uB", (unsigned)bytes);
    else
        /* 9.96K prints as "10.0K": one decimal only below 9.95 */
        snprintf(out, 8, v < 9.95 ? "%.1f%c" : "%.0f%c", v, unit[u]);
    return out;
}
