/* SPDX-License-Identifier: MIT */
/*
 * The fuzz input, cut into NUL-terminated fields: each harness reads the
 * texts it feeds a parser from one input, in order (the first the options'
 * INI text, say, the next a setting from the program).  A field is a copy,
 * so a parser that reads past its end is caught by ASan.
 */
#ifndef MTP_FUZZ_INPUT_H
#define MTP_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct fuzz_input {
    const uint8_t *data;
    size_t len, pos;
    char *owned[64]; /* freed by fuzz_input_free */
    size_t n_owned;
};

/* The next field, up to the next NUL or the end, as a fresh NUL-terminated
 * heap copy; "" once the input is used up (or too many fields were taken). */
static inline const char *fuzz_next(struct fuzz_input *in)
{
    const uint8_t *start = in->data + in->pos;
    size_t n = 0;
    char *copy;

    while (in->pos + n < in->len && start[n] != '\0')
        n++;
    if (in->n_owned == sizeof(in->owned) / sizeof(in->owned[0]))
        return "";
    copy = malloc(n + 1);
    if (!copy)
        abort();
    memcpy(copy, start, n);
    copy[n] = '\0';
    in->owned[in->n_owned++] = copy;
    in->pos += n + (in->pos + n < in->len);
    return copy;
}

static inline void fuzz_input_free(struct fuzz_input *in)
{
    for (size_t i = 0; i < in->n_owned; i++)
        free(in->owned[i]);
    in->n_owned = 0;
}

#endif
