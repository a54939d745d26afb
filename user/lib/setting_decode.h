/* SPDX-License-Identifier: MIT */
/*
 * One setting from the traced program (its mtp.configure(), a struct
 * mtp_setting's "name=value"), decoded: untrusted text from the target,
 * bound for root's terminal and root's policy.  Pure; user/settings.c
 * applies the result, and tests/fuzz/fuzz_settings.c throws anything at it.
 */
#ifndef MTP_SETTING_DECODE_H
#define MTP_SETTING_DECODE_H

#include <stddef.h>

#include "mtp_abi.h" /* MTP_SETTING_MAX */
#include "options.h"

enum mtp_setting_outcome {
    MTP_SETTING_OK,          /* *wanted and *effective hold the result */
    MTP_SETTING_UNPRINTABLE, /* msg: the text, escaped for a terminal */
    MTP_SETTING_MALFORMED,   /* no '=': msg holds the text */
    MTP_SETTING_NO_RESET,    /* "name=" for a name the program cannot set */
    MTP_SETTING_REFUSED,     /* msg: why the parser refused it */
};

/*
 * Decodes text (NUL-terminated) on top of the program's earlier requests,
 * base: *wanted gets them with this one, unclamped ("name=" hands the knob
 * back to limits), and *effective those clamped to the operator's limits,
 * so that *effective never exceeds limits.  name and value point into
 * text_copy, which the caller provides (MTP_SETTING_MAX bytes) for them.
 */
enum mtp_setting_outcome mtp_setting_decode(const char *text, const struct mtp_options *limits,
                                            const struct mtp_options *base, char *text_copy,
                                            const char **name, const char **value,
                                            struct mtp_options *wanted,
                                            struct mtp_options *effective, char *msg,
                                            size_t msglen);

#endif
