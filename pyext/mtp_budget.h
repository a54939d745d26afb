/* SPDX-License-Identifier: MIT */
/*
 * What observation may cost the program: the three shares of
 * mtp.set_budget(), their defaults and limits, and the MTP_BUDGET
 * environment variable that sets them without a code change.  Pure: no
 * Python, no I/O, unit-tested (tests/unit/test_budget.c).
 */
#ifndef MTP_BUDGET_H
#define MTP_BUDGET_H

#include <stddef.h>

struct mtp_budget {
    double share;       /* steps inside collections: of the collector's own time */
    double timer_share; /* all steps together: of wall time (0: no timer steps) */
    double scan_share;  /* the written-page scan: of the program's time */
};

/* The defaults: 20% of the collector's time, 2% of wall time, 2% for the scan. */
#define MTP_BUDGET_SHARE       0.20
#define MTP_BUDGET_TIMER_SHARE 0.02
#define MTP_BUDGET_SCAN_SHARE  0.02

/* The message for an out-of-range budget, as set_budget and MTP_BUDGET say it. */
#define MTP_BUDGET_LIMITS                                                                          \
    "share in (0, 10] (of the collector's time), timer_share in [0, 1] (of wall time), "           \
    "scan_share in (0, 1] (of the program's time)"

/* Whether every share lies within MTP_BUDGET_LIMITS. */
int mtp_budget_valid(const struct mtp_budget *b);

/*
 * Parses "name=value[,name=value...]" (names: share, timer_share, scan_share;
 * values decimal, or percentages such as "1%") over *b.  On a bad text *b is
 * left unchanged, a reason is written to err, and -1 returned; 0 otherwise.
 */
int mtp_budget_parse(const char *text, struct mtp_budget *b, char *err, size_t err_len);

#endif /* MTP_BUDGET_H */
