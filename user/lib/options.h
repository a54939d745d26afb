/* SPDX-License-Identifier: MIT */
/*
 * mtp-trace's settings, set by name.  The command line, the --config file and
 * the in-process mtp.configure() all go through mtp_options_set(), so one
 * knob has one spelling, one parser and one error message everywhere.
 */
#ifndef MTP_OPTIONS_H
#define MTP_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pidlist.h"
#include "policy.h"

#define MTP_NODELIST_MAX 128

struct mtp_options {
    struct mtp_pidlist pids; /* --pid, in the order named */
    char cgroup[256];        /* --cgroup: a cgroup v2 directory, or "" */
    uint64_t interval_ns;
    uint64_t duration_ns; /* 0 = until stopped */
    bool json;
    bool keep_pins;
    bool verbose;
    bool dry_run;
    bool no_migrate;
    bool show_tiers;
    bool no_written_scan;
    bool no_sweep; /* leave fast pages the heat map never reported alone */
    bool inject;   /* load mtp into Python processes that did not import it */
    uint64_t inject_timeout_ns;
    /* --watermark auto (the default): the loader reads the fast node's kernel
     * low watermarks once the node is known and keeps it in its own tiering
     * state; policy.watermark_bytes holds MTP_DEFAULT_WATERMARK_BYTES, the
     * fallback should that fail. */
    bool watermark_auto;
    unsigned top_pages; /* hottest pages listed at the end */
    unsigned types;     /* Python types listed in reports, the live view, the Prometheus file */
    bool top;           /* the live view (user/top.c) when stdout is a terminal */
    uint32_t max_pages; /* 0: auto, from the target's size (page_map.h) */
    double max_rate_mbps;
    struct mtp_policy_config policy; /* max_bytes_per_interval is derived */
    char pin_root[256];
    char prom_file[256]; /* --prom-file: node_exporter's textfile, or "" */
    char record[256];    /* --record: every interval as JSON lines, or "" */
    char fast_nodes[MTP_NODELIST_MAX];
    char slow_nodes[MTP_NODELIST_MAX];
    /* The rows of mtp_option_table (bit i: row i) the command line, and the
     * config file, set: mtp_options_finish() refuses a conflict between two
     * settings someone gave, never one with a default. */
    uint64_t given_cli, given_file;
};

/* Where each setting may come from; some make no sense in a file or from
 * inside the traced program. */
enum mtp_option_source {
    MTP_FROM_CLI,
    MTP_FROM_FILE,
    MTP_FROM_APP,
};

/* --help's groups; argp prints them in this order, each option sorted by
 * name within its group. */
enum mtp_option_group {
    MTP_GROUP_TRACING = 1,
    MTP_GROUP_TIERING = 2,
};
#define MTP_GROUP_LAST MTP_GROUP_TIERING

/* Who besides the operator's command line may set an option.  The program
 * may set only what a config file may. */
#define MTP_OPT_FILE 0x1u /* the --config file */
#define MTP_OPT_APP  0x2u /* the traced program, through mtp.configure() */

struct mtp_option;

/* Parses value (NULL for a flag given on the command line) into the option's
 * field of o; on error leaves o as it was and writes a sentence in err. */
typedef int (*mtp_option_parse_fn)(struct mtp_options *o, const struct mtp_option *opt,
                                   const char *value, char *err, size_t errlen);

/* Sets the option's field of out (a copy of limits) to what the program asked
 * for in wanted, as far as the operator's limits allow. */
typedef void (*mtp_option_clamp_fn)(const struct mtp_option *opt, const struct mtp_options *limits,
                                    const struct mtp_options *wanted, struct mtp_options *out);

/*
 * One row per option.  The loader's argp options, the config file's keys,
 * who may set what, the defaults and the limits a program's settings are
 * clamped to all come from these rows.
 */
struct mtp_option {
    const char *name; /* --name, the INI key, mtp.configure()'s keyword with '_' */
    char key;         /* the short option, or 0 */
    const char *arg;  /* the argument's name in --help; NULL for a flag */
    enum mtp_option_group group;
    unsigned from;               /* MTP_OPT_FILE, MTP_OPT_APP: who else may set it */
    const char *def;             /* the default, as parse reads it; NULL leaves zero */
    mtp_option_parse_fn parse;   /* NULL: not a setting; the caller acts on it */
    size_t offset, size;         /* its field in struct mtp_options */
    unsigned long long min, max; /* a whole number's range; a duration's least ns */
    mtp_option_clamp_fn clamp;   /* the program's limit: MTP_OPT_APP options only */
    const char *doc;             /* the --help text; says "(default X)" when def is X */
};

/* Every option; read-only. */
extern const struct mtp_option mtp_option_table[];
extern const size_t mtp_option_count;

/* The row named name, or NULL. */
const struct mtp_option *mtp_option_find(const char *name);

/* The row's bit in given_cli and given_file. */
uint64_t mtp_option_bit(const struct mtp_option *opt);

/* A group's heading in --help ("Tracing:"). */
const char *mtp_option_group_title(enum mtp_option_group group);

/* Every option's default from the table; the policy's own for the rest of
 * its config. */
void mtp_options_default(struct mtp_options *o);

/*
 * Sets one knob by its long-option name ("fast-budget", "max-rate", ...).
 * Boolean knobs take NULL (from the command line) or true/false/yes/no/1/0.
 * Returns 0, or -EINVAL / -ENOENT (unknown name, or an option that is not a
 * setting, such as --config) with a sentence in err.
 */
int mtp_options_set(struct mtp_options *o, enum mtp_option_source from, const char *name,
                    const char *value, char *err, size_t errlen);

/*
 * Checks the whole set once everything is applied and derives the policy's
 * per-interval byte cap from --max-rate.  Refuses, naming both settings and
 * where each was given, the pairs that contradict each other: --eager with
 * --lazy, --lazy-min or --lazy-max; --dry-run with --no-migrate; a --lazy
 * outside [lazy-min, lazy-max]; lazy-min above lazy-max.  A default lazy
 * follows the range instead.
 */
int mtp_options_finish(struct mtp_options *o, char *err, size_t errlen);

/*
 * Clamps settings the traced program asked for to the loader's own, by each
 * MTP_OPT_APP row's clamp: an application may lower its budget and rate,
 * raise its hot threshold, turn on eager and choose laziness within
 * [lazy-min, lazy-max], never exceed what the operator allowed.  `wanted`
 * holds the app's request, `limits` the command line's; the result is
 * written to `out` (which may alias neither).
 */
void mtp_options_clamp_app(const struct mtp_options *limits, const struct mtp_options *wanted,
                           struct mtp_options *out);

/*
 * Hands one knob the program had set back to the operator's value (the
 * program's mtp.configure(name=None)).  0, or -ENOENT for a name the program
 * cannot set.
 */
int mtp_options_reset_app(struct mtp_options *wanted, const struct mtp_options *limits,
                          const char *name);

#endif
