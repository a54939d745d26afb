/* SPDX-License-Identifier: MIT */
/* What mtp-trace prints each interval, as text or JSON.  Pure formatting. */
#ifndef MTP_REPORT_H
#define MTP_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "mtp_abi.h"
#include "policy.h"

struct mtp_hot_page {
    uint64_t addr;
    uint64_t heat;    /* decayed to the report's epoch */
    uint64_t samples; /* record slices seen on the page */
    uint64_t active;  /* of those, with a refcount change */
    uint32_t hint;    /* enum mtp_hint, while fresh; else MTP_HINT_NONE */
    uint16_t type_id; /* the Python type holding most of it (mtp_type_vote); 0: none */
    uint8_t tier;     /* MTP_AT_FAST or MTP_AT_SLOW, as the loader last told BPF */
    const char *mapping;
};

/* One Python type's line: what it holds, how hot, on which tier
 * (user/lib/types.c builds them). */
struct mtp_type_row {
    uint16_t id;
    char name[MTP_TYPE_NAME_MAX]; /* "module.QualName"; "(unattributed)" for id 0 */
    struct mtp_type_stats seen;   /* the BPF fold's sums since tracing began */
    uint64_t observed_bytes;      /* seen.bytes since the previous report */
    struct mtp_type_tiers tiers;  /* its pages by tier, and its moves */
};

/* What the policy decided and what really moved, for one interval. */
struct mtp_tiering_report {
    int dry_run;
    int fast_node;
    int slow_node;
    struct mtp_policy_stats plan;    /* this interval's plan */
    struct mtp_commit_result moved;  /* this interval's outcome (zero in a dry run) */
    struct mtp_policy_totals totals; /* since tracing started */
    double pingpong_rate;            /* bounced / judged demotions, since start */
    uint64_t hinted_hot;             /* pages the program hinted, this interval */
    uint64_t hinted_cold;
    uint64_t huge_pages;      /* THPs among the tracked pages, moved as one */
    uint64_t watermark_bytes; /* kept free on the fast node (resolved when auto) */
    /* free pages on the fast node's CPUs' lists, out of its free memory,
     * when the plan was made (zoneinfo.h); MTP_FREE_LISTS_UNKNOWN unread */
    uint64_t fast_lists_bytes;
};

struct mtp_report {
    int pid;               /* the traced process */
    uint64_t interval;     /* 1-based count of intervals printed */
    double elapsed_s;      /* since tracing started */
    double prev_elapsed_s; /* at the previous report */
    struct mtp_stats totals;
    struct mtp_stats prev; /* totals at the previous report, for deltas */
    uint64_t pages_tracked;
    uint64_t hot_pages; /* pages whose decayed heat is non-zero */
    uint64_t map_capacity;
    uint32_t epoch; /* the heat epoch the report was taken in */
    int final;
    const char *stop_reason; /* final report only: "signal", "duration", "target exited" */
    const struct mtp_hot_page *top;
    size_t top_len;
    const struct mtp_tiering_report *tiering; /* NULL when only tracing */
    /* Every type holding tracked pages or observed: types_total rows; the
     * text, JSON and Prometheus outputs show the first types_len (--types)
     * of them, the hottest half then the largest of the rest
     * (mtp_types__pick). */
    const struct mtp_type_row *types;
    size_t types_len;
    size_t types_total;
};

/* "on", "off", "backoff" (the scan turned itself off: too costly) or
 * "unsupported" (the kernel refused it). */
const char *mtp_wp_state_name(const struct mtp_report *r);

/* The written-page scan's measured cost since the previous report, as a
 * percentage of the time between the two. */
double mtp_report_scan_cost_pct(const struct mtp_report *r);

/* One JSON object, no trailing newline.  Returns a malloc'd string or NULL. */
char *mtp_report_json(const struct mtp_report *r);

struct mtp_heat_block;

/* The same object with a "heatmap" member: {"block_shift": 21, "blocks":
 * [[address >> 21, pages, hot pages, heat], ...]} -- one line of a
 * --record file (user/lib/heatmap.h). */
char *mtp_report_json_record(const struct mtp_report *r, const struct mtp_heat_block *blocks,
                             size_t n);

/* The text table's header and one row, into buf.  The columns depend on
 * whether the report carries tiering. */
int mtp_report_text_header(const struct mtp_report *r, char *buf, size_t len);
int mtp_report_text_row(const struct mtp_report *r, char *buf, size_t len);

/* The final "hottest pages" table. */
int mtp_report_text_top(const struct mtp_report *r, char *buf, size_t len);

/* The final table of Python types (the first types_len rows). */
int mtp_report_text_types(const struct mtp_report *r, char *buf, size_t len);

/*
 * Selects the `want` hottest of `n` pages into `out` (sorted, hottest first)
 * and returns how many were written.  Pages with zero heat are skipped.
 */
size_t mtp_select_hottest(const struct mtp_hot_page *pages, size_t n, struct mtp_hot_page *out,
                          size_t want);

#endif
