/* SPDX-License-Identifier: MIT */
/*
 * The options and the config file: an INI text through the file checks and
 * the loader, then option values as the command line gives them (name,
 * value pairs), then the cross-option checks.  Every outcome is a result or
 * an error message, never a crash; an error message is NUL-terminated.
 */
#include <assert.h>
#include <string.h>

#include "config.h"
#include "fuzz_input.h"
#include "options.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_input in = {data, size, 0, {0}, 0};
    struct mtp_options o;
    char err[512];
    const char *ini = fuzz_next(&in);

    mtp_options_default(&o);
    memset(err, 'x', sizeof(err));
    if (mtp_config_check_text(ini, strlen(ini) + 1, "fuzz.ini", err, sizeof(err)) < 0)
        assert(memchr(err, '\0', sizeof(err)));
    else if (mtp_options_load_ini(&o, ini, "fuzz.ini", err, sizeof(err)) < 0)
        assert(memchr(err, '\0', sizeof(err)));
    for (int i = 0; i < 8 && in.pos < in.len; i++) {
        const char *name = fuzz_next(&in), *value = fuzz_next(&in);

        if (mtp_options_set(&o, MTP_FROM_CLI, name, value, err, sizeof(err)) < 0)
            assert(memchr(err, '\0', sizeof(err)));
    }
    (void)mtp_options_finish(&o, err, sizeof(err));
    fuzz_input_free(&in);
    return 0;
}
