/* SPDX-License-Identifier: MIT */
/*
 * The rules of the loader's interval, apart from its I/O so that they can be
 * tested: when an interval falls due and when tracing stops; which pages are
 * hot (the hot window) and what a program's hint does to that; when heat's
 * epoch passes; and when the user hears about the written-page scan or an
 * idle target.  Pure.  Times are seconds on a monotonic clock.
 */
#ifndef MTP_INTERVAL_H
#define MTP_INTERVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mtp_abi.h"
#include "report.h"

/* ---- when ---- */

struct mtp_clock {
    double start;    /* when tracing started */
    double next;     /* when the next interval is due */
    double deadline; /* when --duration runs out; 0: never */
    double period;   /* --interval */
};

enum mtp_stop {
    MTP_STOP_NONE,
    MTP_STOP_SIGNAL,   /* Ctrl-C, SIGTERM, SIGHUP */
    MTP_STOP_EXITED,   /* the target exited */
    MTP_STOP_DURATION, /* --duration ran out */
};

void mtp_clock_start(struct mtp_clock *c, double now, uint64_t interval_ns, uint64_t duration_ns);

/* How long poll(2) may sleep: until the next interval or the deadline,
 * whichever is first, rounded to the nearest millisecond; 0 once past. */
int mtp_clock_timeout_ms(const struct mtp_clock *c, double now);

/*
 * After a wake-up: why tracing stops, if it does (a signal before the
 * target's exit before the deadline), and in *due whether an interval is to
 * be reported now: always on a stop (the final report), otherwise once the
 * next interval is due.  Within a millisecond of a time counts as reaching
 * it, because the timeout was rounded to one.
 */
enum mtp_stop mtp_clock_wake(const struct mtp_clock *c, double now, bool signalled, bool exited,
                             bool *due);

/* Moves next past now by whole periods: an interval that ran long skips the
 * ones it overran rather than reporting them back to back. */
void mtp_clock_advance(struct mtp_clock *c, double now);

/* The report's stop_reason: "signal", "target exited", "duration"; NULL for
 * MTP_STOP_NONE. */
const char *mtp_stop_reason(enum mtp_stop stop);

/* ---- which pages are hot ---- */

/*
 * The hot window.  A page counts as hot only while its last warming is at
 * most one period plus MTP_HOT_SLACK epochs old: until the signal that warmed
 * it has had a look again (and a little longer, for a look that comes late).
 * Older heat still ranks pages but no longer makes them hot, so a phase
 * change is followed within a period or two rather than the ~15 halvings it
 * takes to forget a busy page.  tools/heat.py mirrors this.
 */
#define MTP_HOT_SLACK 1

/* Heat stored as of last_epoch, as seen at epoch: decayed
 * (mtp_heat_decay), and zero outside the hot window. */
uint64_t mtp_heat_now(uint64_t heat, uint32_t last_epoch, uint32_t epoch, uint32_t period);

/* A page of the BPF map as the interval sees it at epoch: heat now, and the
 * program's hint while it is fresh (repeated within MTP_HINT_TTL_EPOCHS).
 * The mapping is the caller's to fill in. */
struct mtp_hot_page mtp_hot_page_at(uint64_t addr, const struct mtp_page *v, uint32_t epoch);

/* The heat tiering ranks a page by: a hot hint outranks any measured heat,
 * and a cold one removes it. */
uint64_t mtp_hinted_heat(const struct mtp_hot_page *p);

/* Pages with any heat now. */
uint64_t mtp_count_hot(const struct mtp_hot_page *pages, size_t n);

/* ---- when heat's epoch passes ---- */

/*
 * Whether the epoch advances after an interval whose counters went from prev
 * to now: only when the interval brought new observations (object records or
 * written pages), so a program that rarely collects does not cool off.
 */
bool mtp_epoch_advances(const struct mtp_stats *now, const struct mtp_stats *prev);

/* ---- what to tell the user ---- */

/* The written-page scan's state as the user is told it: 1 on (whatever its
 * stride), 0 not started, or the negative state (MTP_WP_STATE_BACKOFF, or
 * -errno: refused).  A notice is due when this changes. */
int64_t mtp_wp_notice(int64_t wp_state);

/* The extension observes within half a second of the attach (its ticker)
 * or at the next collection; this long with neither, the user is told why
 * nothing shows (once). */
#define MTP_IDLE_NOTE_S 5.0
bool mtp_idle_note_due(double elapsed_s, const struct mtp_stats *totals);

#endif
