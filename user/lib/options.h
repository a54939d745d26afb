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

#include "policy.h"

#define MTP_NODELIST_MAX 128

struct mtp_options {
    int pid;
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
    /* --watermark auto (the default): the caller replaces policy.watermark_bytes
     * with the fast node's kernel high watermark once the node is known;
     * until then, and should that fail, it holds MTP_DEFAULT_WATERMARK_BYTES. */
    bool watermark_auto;
    unsigned top;
    uint32_t max_pages;
    double max_rate_mbps;
    struct mtp_policy_config policy; /* max_bytes_per_interval is derived */
    char pin_root[256];
    char fast_nodes[MTP_NODELIST_MAX];
    char slow_nodes[MTP_NODELIST_MAX];
};

/* Where each setting may come from; some make no sense in a file or from
 * inside the traced program. */
enum mtp_option_source {
    MTP_FROM_CLI,
    MTP_FROM_FILE,
    MTP_FROM_APP,
};

void mtp_options_default(struct mtp_options *o);

/*
 * Sets one knob by its long-option name ("fast-budget", "max-rate", ...).
 * Boolean knobs take NULL (from the command line) or true/false/yes/no/1/0.
 * Returns 0, or -EINVAL / -ENOENT (unknown name) with a sentence in err.
 */
int mtp_options_set(struct mtp_options *o, enum mtp_option_source from, const char *name,
                    const char *value, char *err, size_t errlen);

/*
 * Applies an INI text: keys are long-option names, in no section or in
 * [mtp].  Errors name the file and line: "FILE:LINE: ...".
 */
int mtp_options_load_ini(struct mtp_options *o, const char *text, const char *filename, char *err,
                         size_t errlen);

/*
 * Checks the whole set once everything is applied (cross-field rules) and
 * derives the policy's per-interval byte cap from --max-rate.
 */
int mtp_options_finish(struct mtp_options *o, char *err, size_t errlen);

/*
 * Clamps settings the traced program asked for to the loader's own: an
 * application may lower its budget and rate, and choose laziness within
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
