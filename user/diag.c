// SPDX-License-Identifier: MIT
#include "diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <bpf/libbpf.h>

/* Where diagnostics go while held (mtp_diag_hold), else NULL: stderr.  The
 * loader's one thread owns it. */
static FILE *held;
static char *held_text;
static size_t held_len;

static FILE *out(void)
{
    return held ? held : stderr;
}

void mtp_diag_hold(void)
{
    if (!held)
        held = open_memstream(&held_text, &held_len);
}

void mtp_diag_release(bool show)
{
    if (!held)
        return;
    fclose(held);
    held = NULL;
    if (show && held_len)
        fwrite(held_text, 1, held_len, stderr);
    free(held_text);
    held_text = NULL;
    held_len = 0;
}

static void say(const char *kind, const char *fmt, va_list ap)
{
    FILE *f = out();

    fprintf(f, "mtp-trace: %s", kind);
    vfprintf(f, fmt, ap);
    fputc('\n', f);
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
    return vfprintf(out(), fmt, args);
}

static int libbpf_print_quiet(enum libbpf_print_level level, const char *fmt, va_list args)
{
    if (level == LIBBPF_DEBUG)
        return 0;
    return vfprintf(out(), fmt, args);
}

/* Two printers rather than one reading a flag: libbpf's callback has no
 * context, and the flag would be a writable global. */
void mtp_diag_libbpf(bool verbose)
{
    libbpf_set_print(verbose ? libbpf_print_all : libbpf_print_quiet);
}
