/* SPDX-License-Identifier: MIT */
/*
 * Whether --inject may ptrace a process, judged from the texts of /proc
 * files: Yama's ptrace_scope, this process's effective capabilities, and the
 * target's state and tracer.  Pure: the caller reads the files.
 */
#ifndef MTP_PTRACE_CHECKS_H
#define MTP_PTRACE_CHECKS_H

#include <stddef.h>
#include <stdint.h>

#define MTP_CAP_SYS_PTRACE 19
/* No Yama on this kernel: its file is absent. */
#define MTP_YAMA_ABSENT (-1)

/* /proc/sys/kernel/yama/ptrace_scope's text (NULL when the file is absent):
 * 0-3, MTP_YAMA_ABSENT, or -2 for a text that is not a scope. */
int mtp_yama_scope_parse(const char *text);

/* The "CapEff:" line of a /proc/PID/status text.  0, or -1 without one. */
int mtp_status_capeff(const char *status, uint64_t *caps);

/* The "Tgid:" line of a /proc/PID/status text: the process a thread id
 * belongs to.  0, or -1 without one. */
int mtp_status_tgid(const char *status, int *tgid);

/* The "TracerPid:" line of a /proc/PID/status text.  0, or -1 without one. */
int mtp_status_tracer(const char *status, int *tracer);

/* The state letter of a /proc/PID/stat text (after the command's last ')',
 * which may itself hold spaces and parentheses).  0, or -1 on bad text. */
int mtp_stat_state(const char *stat, char *state);

/*
 * Whether this process may attach a debugger to another one: CAP_SYS_PTRACE
 * in its effective set, and a Yama scope below 3.  0, or -1 with the reason
 * and the fix in err.
 */
int mtp_ptrace_allowed(int yama_scope, uint64_t capeff, char *err, size_t errlen);

/*
 * Whether pid is in a state --inject may touch: not stopped (a job-control
 * or ptrace stop, 'T' or 't': a debugger or the operator holds it) and not
 * traced already.  0, or -1 with the reason and the fix in err.
 */
int mtp_target_state_allowed(int pid, char state, int tracer, char *err, size_t errlen);

#endif
