/* SPDX-License-Identifier: MIT */
/*
 * Which CPython a running process is, from the process itself: its
 * libpython mapping (through /proc/PID/map_files, so a container's or a
 * deleted file is the one read) or its executable (/proc/PID/exe), never
 * the operator's PATH.  For --inject: the version, whether the interpreter
 * exports what injection calls, and the tag of the matching build.
 */
#ifndef MTP_PYPROCESS_H
#define MTP_PYPROCESS_H

#include <limits.h>
#include <sys/types.h>

#include "pyinterp.h"

struct mtp_pyprocess {
    struct mtp_pyversion version;
    char exe[PATH_MAX];    /* its executable, as the target sees it */
    char interp[PATH_MAX]; /* the file with the interpreter: libpython or exe */
    char tag[64];          /* the Makefile's PY_TAG for it */
};

/* 0, or -1 after saying why pid cannot be injected into. */
int mtp_pyprocess__inspect(struct mtp_pyprocess *p, pid_t pid);

#endif
