// SPDX-License-Identifier: MIT
/*
 * The options as a whole, once the config file and the command line are
 * applied: what contradicts what, and what follows from the rest.
 */
#include "options.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "errmsg.h"
#include "units.h"

/* Whether someone gave the option (a flag: and turned it on). */
static bool in_force(const struct mtp_options *o, const char *name)
{
    const struct mtp_option *opt = mtp_option_find(name);
    bool on = true;

    if (!((o->given_cli | o->given_file) & mtp_option_bit(opt)))
        return false;
    if (!opt->arg) /* a flag */
        memcpy(&on, (const char *)o + opt->offset, sizeof(on));
    return on;
}

/* How the option was given, for a message: "--lazy", "'lazy' in the config
 * file", or its default. */
static const char *spelled(const struct mtp_options *o, const char *name, char *buf, size_t len)
{
    uint64_t bit = mtp_option_bit(mtp_option_find(name));

    if (o->given_cli & bit)
        snprintf(buf, len, "--%s", name);
    else if (o->given_file & bit)
        snprintf(buf, len, "'%s' in the config file", name);
    else
        snprintf(buf, len, "the default %s", name);
    return buf;
}

/* Settings that contradict each other when both are given. */
static const struct {
    const char *a, *b, *why;
} conflicts[] = {
    {"eager", "lazy", "--eager demotes after one cold interval and never adapts"},
    {"eager", "lazy-min", "--eager demotes after one cold interval and never adapts"},
    {"eager", "lazy-max", "--eager demotes after one cold interval and never adapts"},
    {"dry-run", "no-migrate", "--no-migrate only traces, so --dry-run has no decisions to report"},
    {"top", "json",
     "--top draws a live view on the terminal, --json writes one object a line (for JSON, drop "
     "--top; for the view, drop --json)"},
};

/* The first conflict among what was given: 0, or -EINVAL with both named. */
static int check_conflicts(const struct mtp_options *o, char *err, size_t errlen)
{
    const struct mtp_policy_config *p = &o->policy;
    char a[64], b[64];

    for (size_t i = 0; i < sizeof(conflicts) / sizeof(conflicts[0]); i++) {
        if (in_force(o, conflicts[i].a) && in_force(o, conflicts[i].b)) {
            mtp_set_err(err, errlen, "%s and %s conflict: %s; give one of them",
                        spelled(o, conflicts[i].a, a, sizeof(a)),
                        spelled(o, conflicts[i].b, b, sizeof(b)), conflicts[i].why);
            return -EINVAL;
        }
    }
    if (p->lazy_min > p->lazy_max) {
        mtp_set_err(err, errlen, "lazy-min (%u) is above lazy-max (%u): %s and %s", p->lazy_min,
                    p->lazy_max, spelled(o, "lazy-min", a, sizeof(a)),
                    spelled(o, "lazy-max", b, sizeof(b)));
        return -EINVAL;
    }
    /* A lazy someone chose is not moved behind their back. */
    if (in_force(o, "lazy") && (p->lazy_initial < p->lazy_min || p->lazy_initial > p->lazy_max)) {
        bool above = p->lazy_initial > p->lazy_max;

        mtp_set_err(err, errlen,
                    "%s %u is %s %s %u: give a lazy from %u to %u, or widen that range with "
                    "--lazy-min and --lazy-max",
                    spelled(o, "lazy", a, sizeof(a)), p->lazy_initial, above ? "above" : "below",
                    spelled(o, above ? "lazy-max" : "lazy-min", b, sizeof(b)),
                    above ? p->lazy_max : p->lazy_min, p->lazy_min, p->lazy_max);
        return -EINVAL;
    }
    return 0;
}

int mtp_options_finish(struct mtp_options *o, char *err, size_t errlen)
{
    struct mtp_policy_config *p = &o->policy;

    if (check_conflicts(o, err, errlen) < 0)
        return -EINVAL;
    /* The default lazy follows a range that excludes it. */
    if (p->lazy_initial < p->lazy_min)
        p->lazy_initial = p->lazy_min;
    if (p->lazy_initial > p->lazy_max)
        p->lazy_initial = p->lazy_max;
    p->max_bytes_per_interval = mtp_rate_bytes_per_interval(o->max_rate_mbps, o->interval_ns);
    /* Without the scan mtp has no evidence that a page is cold (policy.h,
     * "Promoted only"); BENCHMARKS.md §6 part 16 measured what demoting on
     * the absence of evidence did. */
    p->demote_promoted_only = o->no_written_scan;
    return mtp_policy_config_check(p, err, errlen);
}
