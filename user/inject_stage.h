/* SPDX-License-Identifier: MIT */
/*
 * --inject's copy of the extension inside the target's root, so that a
 * target in another mount namespace (a container, PrivateTmp=) can open it:
 * /tmp/mtp-inject-XXXXXXXX/mtp<EXT_SUFFIX> as the target sees it, reached
 * through /proc/PID/root.  Every step is an openat2() with RESOLVE_IN_ROOT
 * from that root, so a symlink the target planted (/tmp -> /etc, or an
 * absolute one) resolves inside the target's file system, never mtp-trace's.
 * Readable by everyone: the target may run as any user.
 */
#ifndef MTP_INJECT_STAGE_H
#define MTP_INJECT_STAGE_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

struct mtp_stage {
    bool active;             /* copy was called: remove has work */
    int tmpfd;               /* the target's /tmp; -1 when nothing is staged */
    int dirfd;               /* our directory in it; -1 */
    char name[32];           /* its name in /tmp */
    char file[NAME_MAX + 1]; /* the extension's name in it */
    char path[PATH_MAX];     /* the copy's path as the target sees it */
};

/* Copies ext into pid's /tmp.  0, or -1 after saying why (nothing is left
 * behind then). */
int mtp_stage__copy(struct mtp_stage *s, pid_t pid, const char *ext);

/* Removes the copy and its directory; a process that mapped it keeps it. */
void mtp_stage__remove(struct mtp_stage *s);

#endif
