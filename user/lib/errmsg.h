/* SPDX-License-Identifier: MIT */
/* The pure modules' one way to write a sentence for the user into err. */
#ifndef MTP_ERRMSG_H
#define MTP_ERRMSG_H

#include <stddef.h>

/* Formats into err (truncating); does nothing when err is NULL or empty. */
void mtp_set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
