/* SPDX-License-Identifier: MIT */
/*
 * What mtp-trace prints: each interval's report on stdout, as a text table
 * or one JSON object a line (formatted by user/lib/report.c), and the notes
 * on stderr that explain a report (the written-page scan's state, an idle
 * target).
 */
#ifndef MTP_OUTPUT_H
#define MTP_OUTPUT_H

#include <stdbool.h>
#include <stdint.h>

#include "report.h"

/* What the user has been told so far.  Owned by the session. */
struct mtp_notices {
    int64_t wp_state; /* the scan's state as last told (mtp_wp_notice) */
    bool idle;        /* the idle-target note was given */
    bool full;        /* the full-map note was given */
};

/* The text table's header; nothing in JSON mode. */
void mtp_output__header(const struct mtp_report *r, bool json);

/* One interval's report, and the final one with the hottest pages.  0, or
 * -errno when stdout failed (a full disk, /dev/full); a closed pipe is left
 * to SIGPIPE's stop (exit 141). */
int mtp_output__report(const struct mtp_report *r, bool json);

/* Rewrites path with the reports as Prometheus text (user/lib/prom.c):
 * written to path.tmp beside it, then renamed over it, so that a reader
 * (node_exporter) sees the old file or the new one, never half of one.
 * 0, or -errno. */
int mtp_output__prom(const char *path, const struct mtp_report *const *reports, size_t n);

/* The notes the report calls for, each once: the written-page scan started,
 * backed off or was refused; nothing observed yet in the target; the page
 * map full. */
void mtp_output__notices(struct mtp_notices *n, const struct mtp_report *r);

#endif
