/* SPDX-License-Identifier: MIT */
/*
 * Parsers for the loader's quantity options (--fast-budget, --watermark,
 * --max-rate, --interval).  They live apart from the CLI so every accepted
 * and rejected spelling is unit-tested, and so users get one vocabulary of
 * units everywhere: sizes are binary (K = 1024), rates are MiB/s like the
 * kernel's numa_balancing_promote_rate_limit_MBps, durations default to
 * seconds.
 *
 * Every parser returns 0 on success or -EINVAL / -ERANGE and then writes a
 * sentence for the user into err (if err is not NULL); outputs are only
 * written on success.
 */
#ifndef MTP_UNITS_H
#define MTP_UNITS_H

#include <stddef.h>
#include <stdint.h>

/* A fast-tier budget is either absolute or relative to the process's
 * resident set, which changes while it runs. */
enum mtp_size_kind {
    MTP_SIZE_BYTES,
    MTP_SIZE_PERCENT,
};

struct mtp_size {
    enum mtp_size_kind kind;
    uint64_t bytes; /* MTP_SIZE_BYTES */
    double percent; /* MTP_SIZE_PERCENT: 0 < percent <= 100 */
};

/*
 * "4096", "64K", "1.5g", "2GiB", "512MB", "3t": bytes with an optional binary
 * suffix (case-insensitive, optionally followed by "B" or "iB").  Fractions
 * need a suffix and are rounded down to a whole byte.  Zero is accepted: a
 * zero watermark is meaningful.
 */
int mtp_parse_bytes(const char *s, uint64_t *bytes, char *err, size_t errlen);

/* --fast-budget: a size as above (must be > 0) or a percentage "30%". */
int mtp_parse_budget(const char *s, struct mtp_size *out, char *err, size_t errlen);

/* The budget in bytes for a process whose resident set is rss_bytes. */
uint64_t mtp_size_resolve(const struct mtp_size *size, uint64_t rss_bytes);

/* --max-rate in MiB/s: a positive number, optionally followed by "MB/s". */
int mtp_parse_rate_mbps(const char *s, double *mbps, char *err, size_t errlen);

/* Bytes a rate allows per interval, rounded down; saturates at UINT64_MAX. */
uint64_t mtp_rate_bytes_per_interval(double mbps, uint64_t interval_ns);

/* "1", "0.5", "250ms", "2s", "1m", "100us", "1h" into nanoseconds; must be > 0. */
int mtp_parse_duration_ns(const char *s, uint64_t *ns, char *err, size_t errlen);

/* bytes in at most 7 characters, binary units: "0", "512B", "9.9K", "941K", "3.2M";
 * for tables a human reads (the final type table, the live view). */
const char *mtp_format_bytes(uint64_t bytes, char out[8]);

#endif /* MTP_UNITS_H */
