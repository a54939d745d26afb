/* SPDX-License-Identifier: MIT */
/*
 * The sysfs tier parser (user/lib/tiers.c) on any sysfs: every file it
 * reads and every directory it lists is the next field of the input, in
 * the order it asks (a listing: names separated by spaces).  Then the
 * overrides, --fast-nodes and --slow-nodes, from two more fields.  Whatever
 * sysfs says, the parser returns tiers or an error; the tiers it returns
 * are consistent.
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "fuzz_input.h"
#include "tiers.h"

static int read_file(void *ctx, const char *path, char *buf, size_t len)
{
    const char *text = fuzz_next(ctx);
    size_t n = strlen(text);

    (void)path;
    if (!*text)
        return -2; /* -ENOENT: an empty field is a missing file */
    if (n > len)
        n = len;
    memcpy(buf, text, n);
    return (int)n;
}

static int list_dir(void *ctx, const char *path, mtp_dir_entry_fn fn, void *arg)
{
    char names[4096], *save = NULL;

    (void)path;
    snprintf(names, sizeof(names), "%s", fuzz_next(ctx));
    for (char *name = strtok_r(names, " ", &save); name; name = strtok_r(NULL, " ", &save))
        if (fn(arg, name) < 0)
            break;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_input in = {data, size, 0, {0}, 0};
    struct mtp_sysfs sys = {read_file, list_dir, &in};
    struct mtp_tiers t;
    char err[256], shown[4096];
    int fast, slow;

    memset(&t, 0, sizeof(t));
    if (mtp_tiers_discover(&t, &sys, err, sizeof(err)) == 0) {
        const char *fast_list = fuzz_next(&in), *slow_list = fuzz_next(&in);

        assert(t.n_nodes >= 1 && t.n_nodes <= MTP_TIERS_MAX_NODES);
        for (size_t i = 1; i < t.n_nodes; i++)
            assert(t.nodes[i - 1].id < t.nodes[i].id);
        (void)mtp_tiers_override(&t, *fast_list ? fast_list : NULL, *slow_list ? slow_list : NULL,
                                 err, sizeof(err));
        if (mtp_tiers_pick(&t, &fast, &slow) == 0)
            assert(mtp_tiers_class(&t, fast) == MTP_TIER_FAST &&
                   mtp_tiers_class(&t, slow) == MTP_TIER_SLOW);
        (void)mtp_tiers_format(&t, shown, sizeof(shown));
    }
    fuzz_input_free(&in);
    return 0;
}
