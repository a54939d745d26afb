/* SPDX-License-Identifier: MIT */
/*
 * --inject: loads the mtp extension into a running Python that never
 * imported it, so that it can be traced as if it had.
 *
 * In order, each refusal leaving the target untouched: gdb is installed;
 * this process may ptrace (CAP_SYS_PTRACE, Yama scope below 3); the target
 * is neither stopped nor traced; it runs CPython 3.9-3.13 (told from its
 * libpython, its Py_Version or its executable's name, never from PATH) that
 * exports Py_AddPendingCall and PyRun_SimpleString; an extension was built
 * for that interpreter (build/py<TAG>/, user/pybuild.h).  Then the
 * extension is copied into the target's /tmp (user/inject_stage.h), gdb
 * queues its import as a pending call (user/lib/inject_script.h) and
 * detaches, and mtp-trace waits for the extension to appear in the
 * target's maps.
 *
 * The pending call runs on the main thread at its next eval-breaker check.
 * A main thread blocked in a system call or in C code runs it only when it
 * returns: if that is later than the timeout, mtp-trace says so and removes
 * its copy, and the import, when it runs, finds nothing and does nothing.
 * The target is never killed or left stopped.
 */
#ifndef MTP_INJECT_H
#define MTP_INJECT_H

#include <sys/types.h>

#include "inject_stage.h"

struct mtp_inject {
    struct mtp_stage stage; /* kept until the session has attached */
};

/* Loads the extension into pid within timeout_s.  0 once it is in pid's
 * maps, or -1 after saying why not and what to do. */
int mtp_inject__run(struct mtp_inject *in, pid_t pid, double timeout_s);

/* Whether this mtp-trace may ptrace at all (CAP_SYS_PTRACE, Yama); -1 after
 * saying what to do. */
int mtp_inject__check_privileges(void);

/* Removes the staged copy: once the session has attached (libbpf reads the
 * probes' notes from the file), or after a failure. */
void mtp_inject__cleanup(struct mtp_inject *in);

#endif
