// SPDX-License-Identifier: MIT
#include "options.h"

#include "mtp_abi.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "errmsg.h"
#include "nodemask.h"
#include "units.h"

/* The option's field in o. */
static void *field(struct mtp_options *o, const struct mtp_option *opt)
{
    return (char *)o + opt->offset;
}

static const void *field_c(const struct mtp_options *o, const struct mtp_option *opt)
{
    return (const char *)o + opt->offset;
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
    mtp_set_err(err, errlen, "invalid %s '%s': use true or false", name, value);
    return -EINVAL;
}

/* Digits only: strtoull alone would also take leading blanks, a sign (and
 * wrap "-1" around), none of which anyone means by a count. */
static int parse_uint(const char *name, const char *value, unsigned long long min,
                      unsigned long long max, unsigned long long *out, char *err, size_t errlen)
{
    char *end;
    unsigned long long v;

    if (!value || !*value || strspn(value, "0123456789") != strlen(value))
        goto bad;
    errno = 0;
    v = strtoull(value, &end, 10);
    if (errno || *end != '\0' || v < min || v > max)
        goto bad;
    *out = v;
    return 0;
bad:
    mtp_set_err(err, errlen, "invalid %s '%s': give a whole number from %llu to %llu", name,
                value ? value : "", min, max);
    return -EINVAL;
}

/* A string option's value must be non-empty and fit its field. */
static int check_text(const struct mtp_option *opt, const char *value, char *err, size_t errlen)
{
    if (!value || !*value || strlen(value) >= opt->size) {
        mtp_set_err(err, errlen, "invalid %s '%s': give a non-empty value under %zu characters",
                    opt->name, value ? value : "", opt->size);
        return -EINVAL;
    }
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

/* ---- the parsers the table names ---- */

static int parse_flag(struct mtp_options *o, const struct mtp_option *opt, const char *value,
                      char *err, size_t errlen)
{
    return parse_bool(opt->name, value, field(o, opt), err, errlen);
}

/* A whole number in [min, max], into an int, unsigned or uint64_t field. */
static int parse_count(struct mtp_options *o, const struct mtp_option *opt, const char *value,
                       char *err, size_t errlen)
{
    unsigned long long v;
    int rc = parse_uint(opt->name, value, opt->min, opt->max, &v, err, errlen);

    if (rc < 0)
        return rc;
    if (opt->size == sizeof(uint64_t)) {
        uint64_t u = v;
        memcpy(field(o, opt), &u, sizeof(u));
    } else {
        uint32_t u = (uint32_t)v; /* max keeps an int field's value within INT_MAX */
        memcpy(field(o, opt), &u, sizeof(u));
    }
    return 0;
}

/* --pid: adds a comma list to the pids named so far. */
static int parse_pids(struct mtp_options *o, const struct mtp_option *opt, const char *value,
                      char *err, size_t errlen)
{
    int named = mtp_pidlist_add(&o->pids, value, err, errlen);

    (void)opt;
    if (named == 0) {
        mtp_set_err(err, errlen,
                    "invalid pid '%s': give at least one process id (a pgrep that found "
                    "nothing?)",
                    value ? value : "");
        return -EINVAL;
    }
    return named < 0 ? -EINVAL : 0;
}

/* A duration in nanoseconds, at least min when min is set. */
static int parse_duration(struct mtp_options *o, const struct mtp_option *opt, const char *value,
                          char *err, size_t errlen)
{
    uint64_t ns = 0;
    int rc =
        named(mtp_parse_duration_ns(value ? value : "", &ns, err, errlen), opt->name, err, errlen);

    if (rc < 0)
        return rc;
    if (ns < opt->min) {
        mtp_set_err(err, errlen, "invalid %s '%s': must be at least %llums", opt->name, value,
                    opt->min / 1000000ull);
        return -EINVAL;
    }
    memcpy(field(o, opt), &ns, sizeof(ns));
    return 0;
}

static int parse_text(struct mtp_options *o, const struct mtp_option *opt, const char *value,
                      char *err, size_t errlen)
{
    int rc = check_text(opt, value, err, errlen);

    if (rc == 0)
        memcpy(field(o, opt), value, strlen(value) + 1);
    return rc;
}

/* A node list, checked for its syntax now, whether or not tiering will use
 * it (--no-migrate): a typo should not wait for the run that migrates.
 * Whether its nodes exist is the machine's to say (user/lib/tiers.c). */
static int parse_nodes(struct mtp_options *o, const struct mtp_option *opt, const char *value,
                       char *err, size_t errlen)
{
    struct mtp_nodemask nodes;
    char why[160];
    int rc = check_text(opt, value, err, errlen);

    if (rc == 0 && mtp_nodelist_parse(value, MTP_NODE_ID_LIMIT, &nodes, why, sizeof(why)) < 0) {
        mtp_set_err(err, errlen, "invalid %s '%s': %s", opt->name, value, why);
        rc = -EINVAL;
    }
    if (rc == 0)
        memcpy(field(o, opt), value, strlen(value) + 1);
    return rc;
}

/* A file path, as given: checked by writing it once before tracing. */
static int parse_file(struct mtp_options *o, const struct mtp_option *opt, const char *value,
                      char *err, size_t errlen)
{
    int rc = check_text(opt, value, err, errlen);

    if (rc == 0)
        memcpy(field(o, opt), value, strlen(value) + 1);
    return rc;
}

/* An absolute path: the pins live where the operator says, not where we run. */
static int parse_path(struct mtp_options *o, const struct mtp_option *opt, const char *value,
                      char *err, size_t errlen)
{
    int rc = check_text(opt, value, err, errlen);

    if (rc == 0 && value[0] != '/') {
        mtp_set_err(err, errlen, "invalid %s '%s': give an absolute path on a bpffs", opt->name,
                    value);
        rc = -EINVAL;
    }
    if (rc == 0)
        memcpy(field(o, opt), value, strlen(value) + 1);
    return rc;
}

static int parse_budget(struct mtp_options *o, const struct mtp_option *opt, const char *value,
                        char *err, size_t errlen)
{
    return named(mtp_parse_budget(value ? value : "", field(o, opt), err, errlen), opt->name, err,
                 errlen);
}

static int parse_rate(struct mtp_options *o, const struct mtp_option *opt, const char *value,
                      char *err, size_t errlen)
{
    return named(mtp_parse_rate_mbps(value ? value : "", field(o, opt), err, errlen), opt->name,
                 err, errlen);
}

/* A capacity in [min, max], or "auto" (0): from the target's size at
 * attach (page_map.h). */
static int parse_max_pages(struct mtp_options *o, const struct mtp_option *opt, const char *value,
                           char *err, size_t errlen)
{
    int rc;

    if (value && !strcmp(value, "auto")) {
        o->max_pages = 0;
        return 0;
    }
    rc = parse_count(o, opt, value, err, errlen);
    if (rc < 0 && err && errlen > strlen(err)) {
        size_t used = strlen(err);

        snprintf(err + used, errlen - used, " (or 'auto': twice the target's resident pages)");
    }
    return rc;
}

/* A size, or "auto": measured (see policy.headroom_auto). */
static int parse_headroom(struct mtp_options *o, const struct mtp_option *opt, const char *value,
                          char *err, size_t errlen)
{
    uint64_t bytes = 0;
    int rc;

    if (value && !strcmp(value, "auto")) {
        o->policy.headroom_auto = true;
        o->policy.headroom_bytes = 0;
        return 0;
    }
    rc = named(mtp_parse_bytes(value ? value : "", &bytes, err, errlen), opt->name, err, errlen);
    if (rc == 0) {
        o->policy.headroom_auto = false;
        o->policy.headroom_bytes = bytes;
    } else if (err && errlen > strlen(err)) {
        size_t used = strlen(err);

        snprintf(err + used, errlen - used, " (or 'auto': measured)");
    }
    return rc;
}

/* A size, or "auto": the kernel's own (see watermark_auto). */
static int parse_watermark(struct mtp_options *o, const struct mtp_option *opt, const char *value,
                           char *err, size_t errlen)
{
    uint64_t bytes = 0;
    int rc;

    if (value && !strcmp(value, "auto")) {
        o->watermark_auto = true;
        o->policy.watermark_bytes = MTP_DEFAULT_WATERMARK_BYTES;
        return 0;
    }
    rc = named(mtp_parse_bytes(value ? value : "", &bytes, err, errlen), opt->name, err, errlen);
    if (rc == 0) {
        o->watermark_auto = false;
        o->policy.watermark_bytes = bytes;
    } else if (err && errlen > strlen(err)) {
        size_t used = strlen(err);

        snprintf(err + used, errlen - used, " (or 'auto': the kernel's own)");
    }
    return rc;
}

/* ---- the clamps the table names: what a program may ask for ---- */

static uint64_t budget_bytes_hint(const struct mtp_size *s)
{
    return s->kind == MTP_SIZE_BYTES ? s->bytes : 0;
}

/* A budget may only shrink.  Mixed kinds compare only when both are the
 * same kind; otherwise the operator's stands. */
static void clamp_budget(const struct mtp_option *opt, const struct mtp_options *limits,
                         const struct mtp_options *wanted, struct mtp_options *out)
{
    const struct mtp_size *l = field_c(limits, opt), *w = field_c(wanted, opt);

    if (w->kind != l->kind)
        return;
    if (l->kind == MTP_SIZE_PERCENT ? w->percent < l->percent
                                    : budget_bytes_hint(w) < budget_bytes_hint(l))
        memcpy(field(out, opt), w, sizeof(*w));
}

/* A rate may only go down. */
static void clamp_lower(const struct mtp_option *opt, const struct mtp_options *limits,
                        const struct mtp_options *wanted, struct mtp_options *out)
{
    double l, w;

    memcpy(&l, field_c(limits, opt), sizeof(l));
    memcpy(&w, field_c(wanted, opt), sizeof(w));
    if (w < l)
        memcpy(field(out, opt), &w, sizeof(w));
}

/* A threshold may only go up. */
static void clamp_higher(const struct mtp_option *opt, const struct mtp_options *limits,
                         const struct mtp_options *wanted, struct mtp_options *out)
{
    uint64_t l, w;

    memcpy(&l, field_c(limits, opt), sizeof(l));
    memcpy(&w, field_c(wanted, opt), sizeof(w));
    if (w > l)
        memcpy(field(out, opt), &w, sizeof(w));
}

/* Laziness anywhere within the operator's [lazy-min, lazy-max]. */
static void clamp_lazy(const struct mtp_option *opt, const struct mtp_options *limits,
                       const struct mtp_options *wanted, struct mtp_options *out)
{
    const struct mtp_policy_config *lp = &limits->policy;
    unsigned w;

    memcpy(&w, field_c(wanted, opt), sizeof(w));
    w = w < lp->lazy_min ? lp->lazy_min : w > lp->lazy_max ? lp->lazy_max : w;
    memcpy(field(out, opt), &w, sizeof(w));
}

/* A flag the program may turn on, never off. */
static void clamp_on(const struct mtp_option *opt, const struct mtp_options *limits,
                     const struct mtp_options *wanted, struct mtp_options *out)
{
    bool l, w;

    memcpy(&l, field_c(limits, opt), sizeof(l));
    memcpy(&w, field_c(wanted, opt), sizeof(w));
    w = w || l;
    memcpy(field(out, opt), &w, sizeof(w));
}

/* ---- the table ---- */

/* Where a field is, for the table. */
#define FIELD(member)                                                                              \
    offsetof(struct mtp_options, member), sizeof(((struct mtp_options *)0)->member)
#define TRACING  MTP_GROUP_TRACING
#define TIERING  MTP_GROUP_TIERING
#define OPERATOR MTP_OPT_FILE                 /* the command line or the config file */
#define PROGRAM  (MTP_OPT_FILE | MTP_OPT_APP) /* the operator's limit, the program within it */
#define MS       1000000ull

/*
 * Columns: name, short key, argument, --help group, who besides the command
 * line may set it (0: no one), default, parser, field, least and most (whole
 * numbers; a duration's least), the program's clamp, --help text.
 */
const struct mtp_option mtp_option_table[] = {
    {"pid", 'p', "PID[,PID...]", TRACING, 0, NULL, parse_pids, FIELD(pids), 0, 0, NULL,
     "Python processes to trace (repeatable; e.g. $(pgrep -d, -f gunicorn)); processes that "
     "did not import mtp are skipped with a note"},
    {"cgroup", 0, "PATH", TRACING, 0, NULL, parse_text, FIELD(cgroup), 0, 0, NULL,
     "Trace every Python process with mtp in this cgroup (a path in the v2 hierarchy, as after "
     "'0::' in /proc/PID/cgroup, or an absolute cgroup directory), following processes as they "
     "come and go"},
    {"inject", 0, NULL, TRACING, 0, NULL, parse_flag, FIELD(inject), 0, 0, NULL,
     "Load mtp into the --pid/--cgroup Python processes (CPython 3.9-3.13) that did not import "
     "it, with gdb; needs root, or CAP_SYS_ADMIN and CAP_SYS_PTRACE (see README, 'Three ways to "
     "attach')"},
    {"inject-timeout", 0, "DURATION", TRACING, 0, "10s", parse_duration, FIELD(inject_timeout_ns),
     100 * MS, 0, NULL, "How long --inject waits for a process to load mtp (default 10s)"},
    {"interval", 'i', "DURATION", TRACING, OPERATOR, "1s", parse_duration, FIELD(interval_ns),
     10 * MS, 0, NULL, "Time between reports, heat epochs and decisions (default 1s)"},
    {"duration", 'd', "DURATION", TRACING, 0, NULL, parse_duration, FIELD(duration_ns), 0, 0, NULL,
     "Stop after this long (default: until stopped)"},
    {"json", 0, NULL, TRACING, 0, NULL, parse_flag, FIELD(json), 0, 0, NULL,
     "Print one JSON object per interval (fields: see README)"},
    {"keep-pins", 0, NULL, TRACING, 0, NULL, parse_flag, FIELD(keep_pins), 0, 0, NULL,
     "Leave the pinned maps in place on exit"},
    {"max-pages", 0, "N|auto", TRACING, OPERATOR, "auto", parse_max_pages, FIELD(max_pages), 1024,
     1u << 28, NULL,
     "Capacity of the page map; its buckets take 16 bytes an entry of the node mtp-trace runs on "
     "(default auto: twice the target's resident pages, 65536..4194304)"},
    {"top-pages", 0, "N", TRACING, 0, "10", parse_count, FIELD(top_pages), 0, 10000, NULL,
     "Hottest pages to list when tracing stops (default 10)"},
    {"types", 0, "N", TRACING, 0, "10", parse_count, FIELD(types), 0, MTP_TYPES_MAX, NULL,
     "Python types to list in each report and the Prometheus file: the hottest half, then "
     "the largest of the rest (default 10)"},
    {"top", 0, NULL, TRACING, 0, NULL, parse_flag, FIELD(top), 0, 0, NULL,
     "A live view, like top(1): tiers, moves, the scan's cost and the hottest and coldest "
     "Python types; plain lines when stdout is not a terminal (default: off)"},
    {"pin-root", 0, "DIR", TRACING, 0, "/sys/fs/bpf/mtp", parse_path, FIELD(pin_root), 0, 0, NULL,
     "Where to pin maps (default /sys/fs/bpf/mtp)"},
    {"prom-file", 0, "PATH", TRACING, OPERATOR, NULL, parse_file, FIELD(prom_file), 0, 0, NULL,
     "Rewrite this Prometheus text file (node_exporter's textfile collector; name it *.prom) "
     "each interval, atomically (default: none)"},
    {"record", 0, "FILE", TRACING, OPERATOR, NULL, parse_file, FIELD(record), 0, 0, NULL,
     "Write every interval's report, with its page-temperature heatmap, to FILE as JSON lines, "
     "for mtp-report (default: none)"},
    /* Not a setting (no parser, no field): the loader reads the file before the
     * command line, so that the command line wins. */
    {"config", 0, "FILE", TRACING, 0, NULL, NULL, 0, 0, 0, 0, NULL,
     "Read settings from an INI file; the command line wins"},
    {"no-written-scan", 0, NULL, TRACING, OPERATOR, NULL, parse_flag, FIELD(no_written_scan), 0, 0,
     NULL,
     "Do not ask the program for written pages: heat from refcount changes only, and only "
     "pages mtp promoted are demoted (no page is then seen cold)"},
    {"verbose", 'v', NULL, TRACING, 0, NULL, parse_flag, FIELD(verbose), 0, 0, NULL,
     "Print libbpf's debug output"},
    {"fast-budget", 0, "SIZE|N%", TIERING, PROGRAM, "100%", parse_budget, FIELD(policy.fast_budget),
     0, 0, clamp_budget, "Most of this process's memory to keep on the fast tier (default 100%)"},
    {"headroom", 0, "SIZE|auto", TIERING, OPERATOR, "auto", parse_headroom,
     FIELD(policy.headroom_bytes), 0, 0, NULL,
     "Keep this much of the budget free for the program's new pages (default auto: measured "
     "from the allocations the fast node refused, its numa_foreign count; 0: none; at most a "
     "quarter of the budget)"},
    {"watermark", 0, "SIZE|auto", TIERING, OPERATOR, "auto", parse_watermark,
     FIELD(policy.watermark_bytes), 0, 0, NULL,
     "Keep this much free on the fast node (default auto: the kernel's low watermarks and lower "
     "zones' reserves of the node, below which it places no new page there, from "
     "/proc/zoneinfo; 64M if unreadable)"},
    /* Like memtierd's mover: enough to follow a working set, too little to
     * saturate a memory link or stall the program on page locks. */
    {"max-rate", 0, "MIB/S", TIERING, PROGRAM, "100", parse_rate, FIELD(max_rate_mbps), 0, 0,
     clamp_lower, "Migration rate cap (default 100)"},
    {"hot-threshold", 0, "HEAT", TIERING, PROGRAM, "1", parse_count, FIELD(policy.hot_threshold), 1,
     UINT64_MAX >> 1, clamp_higher, "Heat a page needs to count as hot (default 1)"},
    {"lazy", 0, "N", TIERING, PROGRAM, "2", parse_count, FIELD(policy.lazy_initial), 1, 1024,
     clamp_lazy, "Cold intervals before demotion, to start with (default 2)"},
    {"lazy-min", 0, "N", TIERING, OPERATOR, "1", parse_count, FIELD(policy.lazy_min), 1, 1024, NULL,
     "Least N adaptation may reach (default 1)"},
    {"lazy-max", 0, "N", TIERING, OPERATOR, "16", parse_count, FIELD(policy.lazy_max), 1, 1024,
     NULL, "Most N adaptation may reach (default 16)"},
    {"eager", 0, NULL, TIERING, PROGRAM, NULL, parse_flag, FIELD(policy.eager), 0, 0, clamp_on,
     "Demote after one cold interval, never adapt (a baseline)"},
    {"idle-floor", 0, "PCT", TIERING, OPERATOR, "0", parse_count, FIELD(policy.idle_floor_pct), 0,
     100, NULL,
     "Stop idle demotions (pages cold for N intervals that no room needs) once this process's "
     "fast bytes are down to PCT percent of the budget; 100 demotes only to make room (default 0)"},
    {"dry-run", 0, NULL, TIERING, OPERATOR, NULL, parse_flag, FIELD(dry_run), 0, 0, NULL,
     "Decide and report, but move nothing"},
    {"no-migrate", 0, NULL, TIERING, OPERATOR, NULL, parse_flag, FIELD(no_migrate), 0, 0, NULL,
     "Only trace: no decisions, no moves"},
    {"show-tiers", 0, NULL, TIERING, 0, NULL, parse_flag, FIELD(show_tiers), 0, 0, NULL,
     "Print the memory tiers found and exit"},
    {"fast-nodes", 0, "LIST", TIERING, OPERATOR, NULL, parse_nodes, FIELD(fast_nodes), 0, 0, NULL,
     "Override the fast tier, e.g. 0 or 0-1 (default: the kernel's memory tiers)"},
    {"slow-nodes", 0, "LIST", TIERING, OPERATOR, NULL, parse_nodes, FIELD(slow_nodes), 0, 0, NULL,
     "Override the slow tier, e.g. 2 (default: the kernel's memory tiers)"},
    {"no-sweep", 0, NULL, TIERING, OPERATOR, NULL, parse_flag, FIELD(no_sweep), 0, 0, NULL,
     "Leave the process's fast-tier pages that mtp has not seen touched alone (default: demote "
     "them when the fast tier needs room)"},
};
const size_t mtp_option_count = sizeof(mtp_option_table) / sizeof(mtp_option_table[0]);
_Static_assert(sizeof(mtp_option_table) / sizeof(mtp_option_table[0]) <= 64,
               "given_cli and given_file hold one bit per row");

#undef FIELD
#undef TRACING
#undef TIERING
#undef OPERATOR
#undef PROGRAM
#undef MS

const struct mtp_option *mtp_option_find(const char *name)
{
    for (size_t i = 0; i < mtp_option_count; i++)
        if (!strcmp(mtp_option_table[i].name, name))
            return &mtp_option_table[i];
    return NULL;
}

const char *mtp_option_group_title(enum mtp_option_group group)
{
    return group == MTP_GROUP_TRACING ? "Tracing:" : group == MTP_GROUP_TIERING ? "Tiering:" : "";
}

void mtp_options_default(struct mtp_options *o)
{
    memset(o, 0, sizeof(*o));
    mtp_policy_config_default(&o->policy);
    /* Every default parses (tests/unit/test_options.c checks it). */
    for (size_t i = 0; i < mtp_option_count; i++)
        if (mtp_option_table[i].def)
            mtp_option_table[i].parse(o, &mtp_option_table[i], mtp_option_table[i].def, NULL, 0);
}

uint64_t mtp_option_bit(const struct mtp_option *opt)
{
    return 1ull << (opt - mtp_option_table);
}

int mtp_options_set(struct mtp_options *o, enum mtp_option_source from, const char *name,
                    const char *value, char *err, size_t errlen)
{
    const struct mtp_option *opt = mtp_option_find(name);
    int rc;

    if (!opt || !opt->parse) {
        mtp_set_err(err, errlen, "unknown setting '%s' (see mtp-trace --help)", name);
        return -ENOENT;
    }
    if (from != MTP_FROM_CLI && !(opt->from & MTP_OPT_FILE)) {
        mtp_set_err(err, errlen, "'%s' can only be given on the command line", name);
        return -EINVAL;
    }
    if (from == MTP_FROM_APP && !(opt->from & MTP_OPT_APP)) {
        mtp_set_err(err, errlen, "'%s' is the operator's to set, not the program's", name);
        return -EINVAL;
    }
    rc = opt->parse(o, opt, value, err, errlen);
    if (rc == 0 && from == MTP_FROM_CLI)
        o->given_cli |= mtp_option_bit(opt);
    else if (rc == 0 && from == MTP_FROM_FILE)
        o->given_file |= mtp_option_bit(opt);
    return rc;
}

void mtp_options_clamp_app(const struct mtp_options *limits, const struct mtp_options *wanted,
                           struct mtp_options *out)
{
    *out = *limits;
    for (size_t i = 0; i < mtp_option_count; i++)
        if (mtp_option_table[i].from & MTP_OPT_APP)
            mtp_option_table[i].clamp(&mtp_option_table[i], limits, wanted, out);
    out->policy.max_bytes_per_interval =
        mtp_rate_bytes_per_interval(out->max_rate_mbps, out->interval_ns);
}

int mtp_options_reset_app(struct mtp_options *wanted, const struct mtp_options *limits,
                          const char *name)
{
    const struct mtp_option *opt = mtp_option_find(name);

    if (!opt || !(opt->from & MTP_OPT_APP))
        return -ENOENT;
    memcpy(field(wanted, opt), field_c(limits, opt), opt->size);
    return 0;
}
