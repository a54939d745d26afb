/* SPDX-License-Identifier: MIT */
/*
 * The --config file: whether root may trust it, whether it is text, and its
 * INI lines applied to the options.  Pure: the caller reads the file and its
 * status.
 */
#ifndef MTP_CONFIG_H
#define MTP_CONFIG_H

#include <stddef.h>

#include "options.h"

/*
 * Applies an INI text: keys are long-option names, in no section or in
 * [mtp].  Errors name the file and line: "FILE:LINE: ...".  A comment line
 * of any length is skipped; any other line longer than inih reads whole
 * (198 characters with Debian's libinih) is refused by its own number, never
 * cut: the longest setting, a 127-character node list with its key, is 140.
 */
int mtp_options_load_ini(struct mtp_options *o, const char *text, const char *filename, char *err,
                         size_t errlen);

/* Whether the len bytes read from filename are text: 0, or -EINVAL with
 * "FILE:LINE: ..." naming the line of the first NUL, which would end the
 * text there and leave the rest unread. */
int mtp_config_check_text(const char *text, size_t len, const char *filename, char *err,
                          size_t errlen);

/* A config file's status, as the file opened reports it (fstat). */
struct mtp_config_stat {
    unsigned uid, gid, mode; /* mode: the permission bits */
    const char *owner;       /* the owner's name, or NULL when unknown */
};

/*
 * Whether a process running as euid may take its settings from this file:
 * owned by root or by euid, writable neither by other users nor by a group
 * other than root's, since whoever can write it decides what root runs.
 * 0, or -EPERM with the path, owner, mode and the chown/chmod that fixes it.
 */
int mtp_config_check_owner(const char *path, const struct mtp_config_stat *st, unsigned euid,
                           char *err, size_t errlen);

#endif
