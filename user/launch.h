/* SPDX-License-Identifier: MIT */
/*
 * Launch mode: `mtp-trace [options] -- python3 app.py args...` starts the
 * program with mtp imported from its first line, traces it and its
 * descendants, passes signals on and ends with its exit status.
 *
 * How the extension gets in: a sitecustomize.py that mtp-trace writes into a
 * directory of its own, put first on the program's PYTHONPATH.  It imports
 * the extension built for the interpreter that runs it (build/pyX.Y-TAG/
 * beside this mtp-trace, the Makefile's tag), takes its own directories off
 * sys.path again, then runs the sitecustomize it shadowed, if any.  An
 * interpreter with no build is left alone, with one line on its stderr.
 * Owned by main; nothing in it is shared.
 */
#ifndef MTP_LAUNCH_H
#define MTP_LAUNCH_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

struct mtp_launch {
    pid_t pid;          /* the program; 0 before it starts */
    int pidfd;          /* readable once it exits; -1 without one */
    char dir[PATH_MAX]; /* the sitecustomize's directory, removed at the end */
    int status;         /* its wait status, once reaped */
    bool reaped;
};

/*
 * Starts argv[0] (found on PATH) with argv, its PYTHONPATH led by the
 * sitecustomize's directory.  0, or -1 after saying why.
 */
int mtp_launch__start(struct mtp_launch *l, char *const argv[]);

/* Passes signal sig on to the program (a kill(1), systemd's stop); a
 * terminal's Ctrl-C already reached it: its process group is ours. */
void mtp_launch__forward(const struct mtp_launch *l, int sig);

/* Reaps the program if it has exited; true once it has. */
bool mtp_launch__reap(struct mtp_launch *l);

/* What mtp-trace exits with: the program's status, or 128 + its signal. */
int mtp_launch__exit_code(const struct mtp_launch *l);

/* Waits for the program when it still runs (mtp-trace was stopped by
 * --duration), and removes the directory. */
void mtp_launch__destroy(struct mtp_launch *l);

#endif
