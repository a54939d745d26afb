// SPDX-License-Identifier: MIT
#include "options.h"

#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "units.h"

#define MTP_DEFAULT_MAX_PAGES (4u << 20) /* 16 GiB of 4 KiB pages */

void mtp_options_default(struct mtp_options *o)
{
    memset(o, 0, sizeof(*o));
    o->interval_ns = 1000000000ull;
    o->top = 10;
    o->max_pages = MTP_DEFAULT_MAX_PAGES;
    /* Like memtierd's mover: enough to follow a working set, too little to
     * saturate a memory link or stall the program on page locks. */
    o->max_rate_mbps = 100;
    snprintf(o->pin_root, sizeof(o->pin_root), "%s", "/sys/fs/bpf/mtp");
    mtp_policy_config_default(&o->policy);
    o->watermark_auto = true;
}

static int parse_bool(const char *name, const char *value, bool *out, char *err, size_t errlen)
{
    if (!value || !strcasecmp(value, "true") || !strcasecmp(value, "yes") || !strcmp(value, "1") ||
        !strcasecmp(value, "on")) {
        *out = true;
        return 0;
    }
    if (!strcasecmp(value, "false") || !strcasecmp(value, "no") || !strcmp(value, "0") ||
        !strcasecmp(value, "off")) {
        *out = false;
        return 0;
    }
    snprintf(err, errlen, "invalid %s '%s': use true or false", name, value);
    return -EINVAL;
}

static int parse_uint(const char *name, const char *value, unsigned long long min,
                      unsigned long long max, unsigned long long *out, char *err, size_t errlen)
{
    char *end;
    unsigned long long v;

    if (!value || !*value)
        goto bad;
    errno = 0;
    v = strtoull(value, &end, 10);
    if (errno || *end != '\0' || value[0] == '-' || v < min || v > max)
        goto bad;
    *out = v;
    return 0;
bad:
    snprintf(err, errlen, "invalid %s '%s': give a whole number from %llu to %llu", name,
             value ? value : "", min, max);
    return -EINVAL;
}

static int copy_str(const char *name, const char *value, char *dst, size_t len, char *err,
                    size_t errlen)
{
    if (!value || !*value || strlen(value) >= len) {
        snprintf(err, errlen, "invalid %s '%s': give a non-empty value under %zu characters", name,
                 value ? value : "", len);
        return -EINVAL;
    }
    memcpy(dst, value, strlen(value) + 1);
    return 0;
}

/* Prefixes a unit parser's message with the option's name. */
static int named(int rc, const char *name, char *err, size_t errlen)
{
    if (rc < 0 && err && errlen) {
        char inner[192];
        snprintf(inner, sizeof(inner), "%s", err);
        snprintf(err, errlen, "invalid %s: %s", name, inner);
    }
    return rc < 0 ? -EINVAL : 0;
}

int mtp_options_set(struct mtp_options *o, enum mtp_option_source from, const char *name,
                    const char *value, char *err, size_t errlen)
{
    struct mtp_policy_config *p = &o->policy;
    unsigned long long v;
    int rc;

    /* Knobs an operator owns: where to attach, what to print, where to pin. */
    static const char *const operator_only[] = {"pid",     "json",       "keep-pins", "pin-root",
                                                "verbose", "show-tiers", "top",       "duration"};
    for (size_t i = 0; from != MTP_FROM_CLI && i < sizeof(operator_only) / sizeof(*operator_only);
         i++) {
        if (!strcmp(name, operator_only[i])) {
            snprintf(err, errlen, "'%s' can only be given on the command line", name);
            return -EINVAL;
        }
    }
    if (from == MTP_FROM_APP &&
        (!strcmp(name, "max-pages") || !strcmp(name, "fast-nodes") || !strcmp(name, "slow-nodes") ||
         !strcmp(name, "no-migrate") || !strcmp(name, "dry-run") || !strcmp(name, "interval") ||
         !strcmp(name, "watermark") || !strcmp(name, "lazy-min") || !strcmp(name, "lazy-max"))) {
        snprintf(err, errlen, "'%s' is the operator's to set, not the program's", name);
        return -EINVAL;
    }

    if (!strcmp(name, "pid")) {
        rc = parse_uint("pid", value, 1, INT_MAX, &v, err, errlen);
        if (!rc)
            o->pid = (int)v;
    } else if (!strcmp(name, "interval")) {
        uint64_t ns = 0;

        rc = named(mtp_parse_duration_ns(value ? value : "", &ns, err, errlen), "interval", err,
                   errlen);
        if (!rc && ns < 10000000ull) {
            snprintf(err, errlen, "invalid interval '%s': must be at least 10ms", value);
            rc = -EINVAL;
        }
        if (!rc)
            o->interval_ns = ns;
    } else if (!strcmp(name, "duration")) {
        rc = named(mtp_parse_duration_ns(value ? value : "", &o->duration_ns, err, errlen),
                   "duration", err, errlen);
    } else if (!strcmp(name, "json")) {
        rc = parse_bool(name, value, &o->json, err, errlen);
    } else if (!strcmp(name, "keep-pins")) {
        rc = parse_bool(name, value, &o->keep_pins, err, errlen);
    } else if (!strcmp(name, "verbose")) {
        rc = parse_bool(name, value, &o->verbose, err, errlen);
    } else if (!strcmp(name, "dry-run")) {
        rc = parse_bool(name, value, &o->dry_run, err, errlen);
    } else if (!strcmp(name, "no-migrate")) {
        rc = parse_bool(name, value, &o->no_migrate, err, errlen);
    } else if (!strcmp(name, "no-written-scan")) {
        rc = parse_bool(name, value, &o->no_written_scan, err, errlen);
    } else if (!strcmp(name, "no-sweep")) {
        rc = parse_bool(name, value, &o->no_sweep, err, errlen);
    } else if (!strcmp(name, "show-tiers")) {
        rc = parse_bool(name, value, &o->show_tiers, err, errlen);
    } else if (!strcmp(name, "eager")) {
        rc = parse_bool(name, value, &p->eager, err, errlen);
    } else if (!strcmp(name, "top")) {
        rc = parse_uint(name, value, 0, 10000, &v, err, errlen);
        if (!rc)
            o->top = (unsigned)v;
    } else if (!strcmp(name, "max-pages")) {
        rc = parse_uint(name, value, 1024, 1u << 28, &v, err, errlen);
        if (!rc)
            o->max_pages = (uint32_t)v;
    } else if (!strcmp(name, "pin-root")) {
        rc = copy_str(name, value, o->pin_root, sizeof(o->pin_root), err, errlen);
        if (!rc && o->pin_root[0] != '/') {
            snprintf(err, errlen, "invalid pin-root '%s': give an absolute path on a bpffs", value);
            rc = -EINVAL;
        }
    } else if (!strcmp(name, "fast-nodes")) {
        rc = copy_str(name, value, o->fast_nodes, sizeof(o->fast_nodes), err, errlen);
    } else if (!strcmp(name, "slow-nodes")) {
        rc = copy_str(name, value, o->slow_nodes, sizeof(o->slow_nodes), err, errlen);
    } else if (!strcmp(name, "fast-budget")) {
        rc = named(mtp_parse_budget(value ? value : "", &p->fast_budget, err, errlen),
                   "fast-budget", err, errlen);
    } else if (!strcmp(name, "watermark")) {
        if (value && !strcmp(value, "auto")) {
            o->watermark_auto = true;
            p->watermark_bytes = MTP_DEFAULT_WATERMARK_BYTES;
            rc = 0;
        } else {
            uint64_t bytes = 0;

            rc = named(mtp_parse_bytes(value ? value : "", &bytes, err, errlen), "watermark", err,
                       errlen);
            if (!rc) {
                o->watermark_auto = false;
                p->watermark_bytes = bytes;
            } else if (err && errlen > strlen(err)) {
                size_t used = strlen(err);

                snprintf(err + used, errlen - used, " (or 'auto': the kernel's own)");
            }
        }
    } else if (!strcmp(name, "max-rate")) {
        rc = named(mtp_parse_rate_mbps(value ? value : "", &o->max_rate_mbps, err, errlen),
                   "max-rate", err, errlen);
    } else if (!strcmp(name, "hot-threshold")) {
        rc = parse_uint(name, value, 1, UINT64_MAX >> 1, &v, err, errlen);
        if (!rc)
            p->hot_threshold = v;
    } else if (!strcmp(name, "lazy")) {
        rc = parse_uint(name, value, 1, 1024, &v, err, errlen);
        if (!rc)
            p->lazy_initial = (unsigned)v;
    } else if (!strcmp(name, "lazy-min")) {
        rc = parse_uint(name, value, 1, 1024, &v, err, errlen);
        if (!rc)
            p->lazy_min = (unsigned)v;
    } else if (!strcmp(name, "lazy-max")) {
        rc = parse_uint(name, value, 1, 1024, &v, err, errlen);
        if (!rc)
            p->lazy_max = (unsigned)v;
    } else {
        snprintf(err, errlen, "unknown setting '%s' (see mtp-trace --help)", name);
        return -ENOENT;
    }
    return rc;
}

struct ini_ctx {
    struct mtp_options *o;
    char *err;
    size_t errlen;
    int failed;
    int failed_line; /* line of the first handler error */
    /* the reader's cursor: inih asks for one line at a time */
    const char *next;
    int lineno;
};

/* Feeds inih from a string one line per call, counting lines, so a value's
 * error can name its own line even when inih reports an earlier one. */
static char *read_ini_line(char *buf, int size, void *stream)
{
    struct ini_ctx *ctx = stream;
    const char *nl;
    size_t len;

    if (!ctx->next || !*ctx->next || size < 2)
        return NULL;
    nl = strchr(ctx->next, '\n');
    len = nl ? (size_t)(nl - ctx->next) + 1 : strlen(ctx->next);
    if (len > (size_t)size - 1)
        len = (size_t)size - 1;
    memcpy(buf, ctx->next, len);
    buf[len] = '\0';
    ctx->next += len;
    ctx->lineno++;
    return buf;
}

static int apply_ini_line(void *user, const char *section, const char *name, const char *value)
{
    struct ini_ctx *ctx = user;

    if (ctx->failed)
        return 0;
    if (section[0] && strcmp(section, "mtp") != 0) {
        snprintf(ctx->err, ctx->errlen,
                 "unknown section [%s]: settings go in [mtp] or before any "
                 "section",
                 section);
        ctx->failed = 1;
        ctx->failed_line = ctx->lineno;
        return 0;
    }
    if (mtp_options_set(ctx->o, MTP_FROM_FILE, name, value, ctx->err, ctx->errlen) < 0) {
        ctx->failed = 1;
        ctx->failed_line = ctx->lineno;
        return 0;
    }
    return 1;
}

int mtp_options_load_ini(struct mtp_options *o, const char *text, const char *filename, char *err,
                         size_t errlen)
{
    struct ini_ctx ctx = {.o = o, .err = err, .errlen = errlen};
    char inner[256] = "";
    int line;

    ctx.err = inner;
    ctx.errlen = sizeof(inner);
    ctx.next = text;
    line = ini_parse_stream(read_ini_line, &ctx, apply_ini_line, &ctx);
    if (line == 0)
        return 0;
    /* inih reports the first bad line, syntax or handler; a syntax error
     * before the handler's is the one to name. */
    if (line > 0 && (!ctx.failed || line < ctx.failed_line))
        snprintf(err, errlen, "%s:%d: not a 'key = value' line", filename, line);
    else if (line > 0)
        snprintf(err, errlen, "%s:%d: %s", filename, ctx.failed_line, inner);
    else
        snprintf(err, errlen, "%s: cannot parse (%d)", filename, line);
    return -EINVAL;
}

int mtp_options_finish(struct mtp_options *o, char *err, size_t errlen)
{
    struct mtp_policy_config *p = &o->policy;

    if (p->lazy_min > p->lazy_max) {
        snprintf(err, errlen, "lazy-min (%u) is above lazy-max (%u)", p->lazy_min, p->lazy_max);
        return -EINVAL;
    }
    if (p->lazy_initial < p->lazy_min)
        p->lazy_initial = p->lazy_min;
    if (p->lazy_initial > p->lazy_max)
        p->lazy_initial = p->lazy_max;
    p->max_bytes_per_interval = mtp_rate_bytes_per_interval(o->max_rate_mbps, o->interval_ns);
    return mtp_policy_config_check(p, err, errlen);
}

static uint64_t budget_bytes_hint(const struct mtp_size *s)
{
    return s->kind == MTP_SIZE_BYTES ? s->bytes : 0;
}

void mtp_options_clamp_app(const struct mtp_options *limits, const struct mtp_options *wanted,
                           struct mtp_options *out)
{
    const struct mtp_policy_config *lp = &limits->policy, *wp = &wanted->policy;
    struct mtp_policy_config *op;

    *out = *limits;
    op = &out->policy;
    /* A budget may only shrink.  Mixed kinds compare only when both are the
     * same kind; otherwise the operator's stands. */
    if (wp->fast_budget.kind == lp->fast_budget.kind) {
        if (lp->fast_budget.kind == MTP_SIZE_PERCENT
                ? wp->fast_budget.percent < lp->fast_budget.percent
                : budget_bytes_hint(&wp->fast_budget) < budget_bytes_hint(&lp->fast_budget))
            op->fast_budget = wp->fast_budget;
    }
    if (wanted->max_rate_mbps < limits->max_rate_mbps)
        out->max_rate_mbps = wanted->max_rate_mbps;
    op->lazy_initial = wp->lazy_initial < lp->lazy_min   ? lp->lazy_min
                       : wp->lazy_initial > lp->lazy_max ? lp->lazy_max
                                                         : wp->lazy_initial;
    if (wp->hot_threshold > lp->hot_threshold)
        op->hot_threshold = wp->hot_threshold;
    op->eager = wp->eager || lp->eager;
    op->max_bytes_per_interval = mtp_rate_bytes_per_interval(out->max_rate_mbps, out->interval_ns);
}

int mtp_options_reset_app(struct mtp_options *wanted, const struct mtp_options *limits,
                          const char *name)
{
    if (!strcmp(name, "fast-budget"))
        wanted->policy.fast_budget = limits->policy.fast_budget;
    else if (!strcmp(name, "max-rate"))
        wanted->max_rate_mbps = limits->max_rate_mbps;
    else if (!strcmp(name, "lazy"))
        wanted->policy.lazy_initial = limits->policy.lazy_initial;
    else if (!strcmp(name, "hot-threshold"))
        wanted->policy.hot_threshold = limits->policy.hot_threshold;
    else if (!strcmp(name, "eager"))
        wanted->policy.eager = limits->policy.eager;
    else
        return -ENOENT;
    return 0;
}
