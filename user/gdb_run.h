/* SPDX-License-Identifier: MIT */
/*
 * Runs gdb in batch mode against a process, with a script, under a time
 * limit.  On the limit gdb is interrupted (SIGINT: its script sets
 * unwindonsignal, so a call it was making in the target is unwound), then
 * terminated, then killed: gdb, never the target.  A debugger that exits,
 * however it exits, detaches, and the kernel resumes the target.
 */
#ifndef MTP_GDB_RUN_H
#define MTP_GDB_RUN_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct mtp_gdb_result {
    bool timed_out;
    int status;        /* gdb's wait status */
    char output[4096]; /* the last of what it printed, stdout and stderr */
};

/* gdb's path, from PATH, into out.  0, or -1 when there is none. */
int mtp_gdb__find(char *out, size_t len);

/* Runs `gdb -p pid -batch -nx` with script, for at most timeout_s.  0 once
 * gdb has been reaped (see r), or -1 after saying why it could not run. */
int mtp_gdb__run(const char *gdb, pid_t pid, const char *script, double timeout_s,
                 struct mtp_gdb_result *r);

#endif
