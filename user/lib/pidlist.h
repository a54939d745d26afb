/* SPDX-License-Identifier: MIT */
/*
 * A set of process ids, as the operator names them (`--pid 12,13 --pid 14`,
 * `pgrep -d,`'s output) and as a cgroup lists them (cgroup.procs: one per
 * line).  One parser for both.  Pure: no I/O.
 */
#ifndef MTP_PIDLIST_H
#define MTP_PIDLIST_H

#include <stdbool.h>
#include <stddef.h>

/* Enough for every worker of a large service on one host. */
#define MTP_PIDS_MAX 256

struct mtp_pidlist {
    int pid[MTP_PIDS_MAX]; /* in the order first named, no duplicates */
    unsigned len;
};

/*
 * Adds the pids in text, separated by commas, spaces or newlines, to l,
 * skipping those it already holds (text may name none).  A pid is a whole
 * number from 1 to INT_MAX.  On a bad word or a full list, leaves l as it was, writes a
 * sentence in err and returns -EINVAL (-E2BIG when full); otherwise how
 * many pids text named, duplicates included.
 */
int mtp_pidlist_add(struct mtp_pidlist *l, const char *text, char *err, size_t errlen);

/* Adds one pid if absent; -E2BIG when full, else 0. */
int mtp_pidlist_add_one(struct mtp_pidlist *l, int pid);

bool mtp_pidlist_has(const struct mtp_pidlist *l, int pid);

/* Removes pid if present; the others keep their order. */
void mtp_pidlist_remove(struct mtp_pidlist *l, int pid);

#endif
