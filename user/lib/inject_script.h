/* SPDX-License-Identifier: MIT */
/*
 * What --inject has gdb do in the target, as text.  Pure.
 *
 * gdb maps a page in the target (mmap: a system call, no lock a stopped
 * thread could hold, unlike malloc), writes the Python below into it word
 * by word (a string literal in a gdb call would be malloc'd in the target),
 * and queues PyRun_SimpleString(page) with Py_AddPendingCall.  The
 * interpreter runs it on its main thread, with the GIL held, at its next
 * check of the eval breaker; gdb has detached long before.  The page stays
 * mapped (one page per injection): nothing tells when CPython is done with
 * the string.
 */
#ifndef MTP_INJECT_SCRIPT_H
#define MTP_INJECT_SCRIPT_H

#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"

/* The page gdb maps for the code: the code must fit in it, NUL included. */
#define MTP_INJECT_PAGE 4096

/* The line gdb prints with Py_AddPendingCall's result: "MTP_INJECT 0". */
#define MTP_INJECT_MARK "MTP_INJECT "

/*
 * The Python the target runs: loads the extension at ext_path (in the
 * target's own file system) as module mtp, unless a module of that name is
 * loaded.  It binds no name in __main__, leaves sys.path alone and never
 * raises: a pending call that fails would surface in whatever Python code
 * the main thread runs next (a missing file, should it run after mtp-trace
 * gave up and removed it, does nothing; a Ctrl-C that lands in it is handed
 * back to the program).  ext_path may hold only [A-Za-z0-9/._+-].  The
 * length, or -1.
 */
int mtp_inject_code(const char *ext_path, char *out, size_t len);

/* The gdb script that queues code (at most MTP_INJECT_PAGE - 1 bytes), then
 * detaches. */
void mtp_inject_gdb_script(const char *code, struct mtp_strbuf *out);

/*
 * Before it calls into a target, --inject has gdb make one call into a
 * sleeper of its own (sleep(1), stopped inside nanosleep, as a Python
 * program often is inside a system call).  Around a call gdb saves the
 * thread's registers and writes them back; where it cannot write them all
 * back (on some CPUs and kernels, "Couldn't write extended state status:
 * Bad address"), the interrupted system call's restart is lost and the
 * call fails with ERESTART* errno values: Python raises OSError 514 from
 * time.sleep.  The probe's script:
 */
#define MTP_INJECT_PROBE_SCRIPT                                                                    \
    "set confirm off\nset pagination off\ncall (int)getpid()\ndetach\nquit\n"

/* Whether gdb's calls leave a process as they found it, from the probe:
 * what gdb printed, and whether the sleeper was still sleeping afterwards
 * (a lost restart ends it at once, with an error).  On false, why (a
 * sentence for the refusal) in *why. */
bool mtp_inject_probe_ok(const char *gdb_output, bool sleeper_slept_on, const char **why);

#endif
