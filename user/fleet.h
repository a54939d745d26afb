/* SPDX-License-Identifier: MIT */
/*
 * The processes one mtp-trace traces: a session each (user/session.h),
 * opened for every --pid and for every Python process that joins the
 * --cgroup, closed when its process exits.  Each session keeps its own page
 * map, pins and fast-tier budget.  main owns the fleet; mtp-trace is one
 * thread, so nothing in it is shared.
 */
#ifndef MTP_FLEET_H
#define MTP_FLEET_H

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>

#include "inject.h"
#include "launch.h"
#include "pidlist.h"
#include "session.h"

struct mtp_fleet {
    const struct mtp_options *opts;      /* the operator's: main's, read-only */
    struct mtp_session *s[MTP_PIDS_MAX]; /* the live sessions, in the order opened */
    unsigned len;
    char cgroup_procs[PATH_MAX];       /* the --cgroup's cgroup.procs, or "" */
    const struct mtp_launch *launched; /* main's, in launch mode: its tree is followed */
    struct mtp_pidlist noted;          /* members said to be skipped: said once */
    struct mtp_pidlist failed;         /* members whose session failed: not retried */
    struct mtp_pidlist injected;       /* --inject: tried once each, never again */
    struct mtp_inject inject;          /* the copy staged for the session being opened */
    bool header_printed;               /* the text table's, once for all sessions */
    bool top;                          /* the live view draws instead (mtp_top__wanted) */
    bool prom_failing;                 /* --prom-file could not be written: said once */
    FILE *record;                      /* --record's stream, main's; or NULL */
};

/*
 * Opens a session for every --pid that runs Python with mtp loaded, and
 * checks --cgroup's directory.  A process in a list of several that is not
 * such a program is skipped with a note (a service's master, a shell); a
 * single --pid must be one.  0, or -1 after saying why nothing can be
 * traced.
 */
int mtp_fleet__open(struct mtp_fleet *f, const struct mtp_options *opts, double now_s);

/* Launch mode: follows the launched program and its descendants instead of
 * --pid and --cgroup, from the moment the program has imported mtp (up to
 * 10 s; later, at an interval). */
void mtp_fleet__follow(struct mtp_fleet *f, const struct mtp_options *opts,
                       const struct mtp_launch *launched, double now_s);

/* Opens sessions for the Python processes that joined the cgroup, or the
 * launched program's tree, since the last look (none otherwise).  Never fails: a process that
 * cannot be traced is noted once and passed over. */
void mtp_fleet__discover(struct mtp_fleet *f, double now_s);

/* Destroys session i, after its final report; the others keep their order. */
void mtp_fleet__close(struct mtp_fleet *f, unsigned i);

/* Whether the fleet ends when its last session does: true unless it follows
 * a cgroup, which may gain processes again, or a launched program, which
 * ends it by its own exit. */
bool mtp_fleet__ends_empty(const struct mtp_fleet *f);

void mtp_fleet__destroy(struct mtp_fleet *f);

#endif
