// SPDX-License-Identifier: MIT
#include "strbuf.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>

void mtp_strbuf_printf(struct mtp_strbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    char *dst = NULL;
    size_t room = 0;

    if (b->used < b->len) {
        dst = b->buf + b->used;
        room = b->len - b->used;
    }
    va_start(ap, fmt);
    n = vsnprintf(dst, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        b->used += (size_t)n;
}

void mtp_strbuf_untrusted(struct mtp_strbuf *b, const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p < 0x20 || *p > 0x7e || *p == '\\')
            mtp_strbuf_printf(b, "\\x%02x", *p);
        else
            mtp_strbuf_printf(b, "%c", *p);
    }
}

int mtp_printable_ascii(const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        if (*p < 0x20 || *p > 0x7e)
            return 0;
    return 1;
}

int mtp_strbuf_result(const struct mtp_strbuf *b)
{
    return b->used > INT_MAX ? INT_MAX : (int)b->used;
}
