/* SPDX-License-Identifier: MIT */
/*
 * Appending formatted text to a caller's buffer, snprintf-style: output is
 * cut to fit, but the length counts on, so the caller learns what a complete
 * output needs and can size a buffer.  Pure.
 */
#ifndef MTP_STRBUF_H
#define MTP_STRBUF_H

#include <stddef.h>

struct mtp_strbuf {
    char *buf;   /* may be NULL when len is 0 */
    size_t len;  /* its size, NUL included */
    size_t used; /* what the output so far needs, NUL excluded */
};

void mtp_strbuf_printf(struct mtp_strbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Appends text that came from outside (the traced program) so that it
 * cannot drive a terminal: every byte but printable ASCII (0x20-0x7e), and
 * the backslash, is written as \xHH. */
void mtp_strbuf_untrusted(struct mtp_strbuf *b, const char *text);

/* Whether every byte of text is printable ASCII (0x20-0x7e). */
int mtp_printable_ascii(const char *text);

/* The length snprintf would have returned for the whole output. */
int mtp_strbuf_result(const struct mtp_strbuf *b);

#endif
