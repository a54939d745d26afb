/* SPDX-License-Identifier: MIT */
/*
 * The records a traced program sends root: its mtp.configure() settings
 * (struct mtp_setting, "name=value"), decoded as mtp-trace decodes them
 * (user/settings.c: printable ASCII or shown escaped; the option parser,
 * from the program; clamped to the operator's limits).  The operator's
 * limits come from a fuzzed INI text too.  Whatever the program sends, what
 * takes effect never exceeds those limits, and what is shown is printable.
 */
#include <assert.h>
#include <math.h>
#include <string.h>

#include "config.h"
#include "fuzz_input.h"
#include "mtp_abi.h"
#include "options.h"
#include "setting_decode.h"

static bool fits_budget(const struct mtp_size *got, const struct mtp_size *limit)
{
    if (got->kind != limit->kind)
        return memcmp(got, limit, sizeof(*got)) == 0;
    return got->kind == MTP_SIZE_PERCENT ? got->percent <= limit->percent
                                         : got->bytes <= limit->bytes;
}

/* What the program may move is the operator's; the rest is as given. */
static void check_within(const struct mtp_options *limits, const struct mtp_options *out)
{
    const char *lo = (const char *)limits, *o = (const char *)out;

    for (size_t i = 0; i < mtp_option_count; i++) {
        const struct mtp_option *opt = &mtp_option_table[i];

        if (opt->parse && opt->size && !(opt->from & MTP_OPT_APP))
            assert(memcmp(lo + opt->offset, o + opt->offset, opt->size) == 0);
    }
    assert(!(out->max_rate_mbps > limits->max_rate_mbps));
    assert(out->policy.hot_threshold >= limits->policy.hot_threshold);
    assert(out->policy.lazy_initial >= limits->policy.lazy_min &&
           out->policy.lazy_initial <= limits->policy.lazy_max);
    assert(out->policy.eager || !limits->policy.eager);
    assert(fits_budget(&out->policy.fast_budget, &limits->policy.fast_budget));
}

static void decode(const struct mtp_options *limits, struct mtp_options *wanted, const char *record)
{
    struct mtp_setting setting;
    char text[MTP_SETTING_MAX], copy[MTP_SETTING_MAX], msg[4 * MTP_SETTING_MAX + 1];
    struct mtp_options trial, out;
    const char *name, *value;

    /* As it arrives from the ring buffer: a fixed-size, maybe unterminated
     * array, terminated as user/settings.c does. */
    memset(&setting, 0, sizeof(setting));
    memcpy(setting.text, record, strnlen(record, sizeof(setting.text)));
    memcpy(text, setting.text, sizeof(text));
    text[sizeof(text) - 1] = '\0';
    memset(msg, 'x', sizeof(msg));
    switch (mtp_setting_decode(text, limits, wanted, copy, &name, &value, &trial, &out, msg,
                               sizeof(msg))) {
    case MTP_SETTING_UNPRINTABLE:
        /* What root's terminal is shown is printable, and whole. */
        assert(memchr(msg, '\0', sizeof(msg)));
        for (const char *p = msg; *p; p++)
            assert(*p >= 0x20 && *p <= 0x7e);
        return;
    case MTP_SETTING_OK:
        check_within(limits, &out);
        *wanted = trial;
        return;
    default:
        assert(memchr(msg, '\0', sizeof(msg)) || msg[0] == 'x');
        return;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_input in = {data, size, 0, {0}, 0};
    struct mtp_options limits, wanted;
    char err[256];
    const char *ini = fuzz_next(&in);

    mtp_options_default(&limits);
    if (mtp_config_check_text(ini, strlen(ini) + 1, "limits.ini", err, sizeof(err)) < 0 ||
        mtp_options_load_ini(&limits, ini, "limits.ini", err, sizeof(err)) < 0 ||
        mtp_options_finish(&limits, err, sizeof(err)) < 0)
        mtp_options_default(&limits);
    if (mtp_options_finish(&limits, err, sizeof(err)) < 0) {
        fuzz_input_free(&in);
        return 0;
    }
    wanted = limits;
    for (int i = 0; i < 16 && in.pos < in.len; i++)
        decode(&limits, &wanted, fuzz_next(&in));
    fuzz_input_free(&in);
    return 0;
}
