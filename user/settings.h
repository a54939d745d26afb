/* SPDX-License-Identifier: MIT */
/*
 * The program's own settings: what it asks for with mtp.configure(), as it
 * arrives through the settings ring buffer, vetted by the option table's
 * parsers and clamped to the operator's limits, then handed to the tiering
 * policy.  Owned by the session.
 */
#ifndef MTP_SETTINGS_H
#define MTP_SETTINGS_H

#include <stddef.h>

#include "mtp_abi.h"
#include "options.h"
#include "tiering.h"

struct mtp_settings {
    const struct mtp_options *limits; /* the operator's: main's, read-only */
    struct mtp_tiering *tiering;      /* whose policy the settings change */
    struct mtp_options wanted;        /* the program's requests so far, unclamped */
    /* the last setting seen for each knob: the extension repeats them at
     * every observation, and only a change needs work or a log line */
    char seen[16][MTP_SETTING_MAX];
    unsigned n_seen;
};

void mtp_settings__init(struct mtp_settings *s, const struct mtp_options *limits,
                        struct mtp_tiering *tiering);

/* The ring buffer's callback (ctx: the struct mtp_settings) for one
 * struct mtp_setting.  Applies it or says why not; always 0, so that one bad
 * setting does not stop the others. */
int mtp_settings__on_record(void *ctx, void *data, size_t size);

#endif
