/* SPDX-License-Identifier: MIT */
/*
 * The traced process: who it is, where its mtp extension is, its memory map
 * and a handle that tells when it exits.  Owned by its session.
 */
#ifndef MTP_TARGET_H
#define MTP_TARGET_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#include "procmaps.h"

struct mtp_target {
    pid_t pid;
    char comm[64];
    char exe[PATH_MAX];
    /* the extension's path as this process can open it: through
     * /proc/PID/root when the target is in another mount namespace */
    char extension[PATH_MAX + 32];
    /* the last good copy: the hottest pages keep their labels even after the
     * target has gone */
    struct mtp_maps maps;
    int pidfd; /* opened first, by inspect; readable once the target exits */
};

/*
 * Opens the handle to pid, learns who it is and checks, in the order a user
 * would fix them, that it can be traced: it exists, its memory can be read,
 * it is Python, it loaded the mtp extension and that file can be opened.
 * 0, or -1 after saying why not and how to fix it.
 */
int mtp_target__inspect(struct mtp_target *t, pid_t pid);

/* 0 while the process the handle was opened on lives, so that what was just
 * read from or done to pid was read from or done to it; -1 after saying it
 * exited (when: "while ..."). */
int mtp_target__check_alive(const struct mtp_target *t, const char *when);

/* What a quick look at a process finds, without a word to the user: for
 * skipping, quietly, the processes of a list or a cgroup that are not
 * Python programs with mtp loaded. */
enum mtp_peek {
    MTP_PEEK_GONE,       /* no such process, a zombie, or not readable */
    MTP_PEEK_NOT_PYTHON, /* includes kernel threads */
    MTP_PEEK_NO_MTP,     /* Python, without the extension */
    MTP_PEEK_READY,      /* the extension is loaded: inspect will say the rest */
};
enum mtp_peek mtp_target__peek(pid_t pid, char *comm, size_t comm_len);

/* True once the target has exited (it may still be a zombie). */
bool mtp_target__exited(const struct mtp_target *t);

/* Rereads the memory map, which changes as the heap grows; keeps the last
 * good copy when the target has gone. */
void mtp_target__refresh_maps(struct mtp_target *t);

void mtp_target__free(struct mtp_target *t);

#endif
