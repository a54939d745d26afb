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
    int pidfd; /* readable once the target exits; -1 until watched */
};

/*
 * Learns who pid is and checks, in the order a user would fix them, that it
 * can be traced: it exists, its memory can be read, it is Python, it loaded
 * the mtp extension and that file can be opened.  0, or -1 after saying why
 * not and how to fix it.
 */
int mtp_target__inspect(struct mtp_target *t, pid_t pid);

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

/* Opens the handle that tells when the target exits.  0, or -1 after saying
 * that it already has. */
int mtp_target__watch(struct mtp_target *t);

/* True once the target has exited (it may still be a zombie). */
bool mtp_target__exited(const struct mtp_target *t);

/* Rereads the memory map, which changes as the heap grows; keeps the last
 * good copy when the target has gone. */
void mtp_target__refresh_maps(struct mtp_target *t);

void mtp_target__free(struct mtp_target *t);

#endif
