// SPDX-License-Identifier: MIT
#include "diag.h"

#include <stdarg.h>
#include <stdio.h>

#include <bpf/libbpf.h>

static void say(const char *kind, const char *fmt, va_list ap)
{
    fprintf(stderr, "mtp-trace: %s", kind);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void mtp_error(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    say("error: ", fmt, ap);
    va_end(ap);
}

void mtp_warn(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    say("warning: ", fmt, ap);
    va_end(ap);
}

void mtp_say(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    say("", fmt, ap);
    va_end(ap);
}

static int libbpf_print_all(enum libbpf_print_level level, const char *fmt, va_list args)
{
    (void)level;
    return vfprintf(stderr, fmt, args);
}

static int libbpf_print_quiet(enum libbpf_print_level level, const char *fmt, va_list args)
{
    if (level == LIBBPF_DEBUG)
        return 0;
    return vfprintf(stderr, fmt, args);
}

/* Two printers rather than one reading a flag: libbpf's callback has no
 * context, and the flag would be a writable global. */
void mtp_diag_libbpf(bool verbose)
{
    libbpf_set_print(verbose ? libbpf_print_all : libbpf_print_quiet);
}
