/* SPDX-License-Identifier: MIT */
/*
 * The /proc parsers, on any text: the target's maps (and what is read from
 * them: is it Python, the sweep over its anonymous memory), /proc/zoneinfo,
 * a node's numastat,
 * /proc/PID/status and /proc/PID/stat, Yama's scope.  A target can shape
 * its maps (file names, up to 4096 bytes of path) but must never crash or
 * mislead the root process reading them.
 */
#include <assert.h>
#include <stdint.h>

#include "fuzz_input.h"
#include "procmaps.h"
#include "ptrace_checks.h"
#include "numastat.h"
#include "zoneinfo.h"

static void maps(const char *text)
{
    struct mtp_maps m = {0};
    char err[160];
    uint64_t cursor = 0, out[64];

    if (mtp_maps_parse(&m, text, err, sizeof(err)) == 0) {
        for (size_t i = 0; i < m.len; i++)
            assert(m.v[i].start < m.v[i].end);
        (void)mtp_maps_is_python(&m, "/usr/bin/python3.11");
        (void)mtp_maps_find_extension(&m);
        for (int round = 0; round < 4; round++) {
            size_t n = mtp_maps_sweep(&m, &cursor, 64, out);

            assert(n <= 64);
            /* The sweep proposes only pages inside the target's mappings. */
            for (size_t i = 0; i < n; i++) {
                bool inside = false;

                for (size_t j = 0; j < m.len && !inside; j++)
                    inside = out[i] >= m.v[j].start && out[i] < m.v[j].end;
                assert(inside);
            }
        }
    }
    mtp_maps_free(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_input in = {data, size, 0, {0}, 0};
    char err[160], state;
    uint64_t bytes, caps;
    int tgid, tracer;

    maps(fuzz_next(&in));
    (void)mtp_zoneinfo_watermark_bytes(fuzz_next(&in), 0, MTP_ZONE_LOW, 4096, &bytes, err,
                                       sizeof(err));
    (void)mtp_zoneinfo_watermark_bytes(in.owned[in.n_owned - 1], 1, MTP_ZONE_HIGH, 4096, &bytes,
                                       err, sizeof(err));
    (void)mtp_zoneinfo_user_floor_bytes(in.owned[in.n_owned - 1], 0, 4096, &bytes, err,
                                        sizeof(err));
    {
        struct mtp_free_lists lists;

        (void)mtp_zoneinfo_free_lists(in.owned[in.n_owned - 1], 0, 4096, &lists, err, sizeof(err));
    }
    (void)mtp_numastat_value(in.owned[in.n_owned - 1], "numa_foreign", &bytes);
    {
        const char *status = fuzz_next(&in);

        (void)mtp_status_capeff(status, &caps);
        (void)mtp_status_tgid(status, &tgid);
        (void)mtp_status_tracer(status, &tracer);
    }
    (void)mtp_stat_state(fuzz_next(&in), &state);
    (void)mtp_yama_scope_parse(fuzz_next(&in));
    fuzz_input_free(&in);
    return 0;
}
