// SPDX-License-Identifier: MIT
#include "ptrace_checks.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "errmsg.h"

int mtp_yama_scope_parse(const char *text)
{
    char *end;
    long v;

    if (!text)
        return MTP_YAMA_ABSENT;
    errno = 0;
    v = strtol(text, &end, 10);
    if (errno || end == text || (*end && *end != '\n') || v < 0 || v > 3)
        return -2;
    return (int)v;
}

/* The value after "Name:" at the start of a line of a status text. */
static const char *status_field(const char *status, const char *name)
{
    size_t n = strlen(name);

    for (const char *line = status; *line;) {
        const char *nl;

        if (!strncmp(line, name, n) && line[n] == ':')
            return line + n + 1;
        /* No arithmetic on strchr's NULL (UB, found by fuzz_proc). */
        nl = strchr(line, '\n');
        if (!nl)
            break;
        line = nl + 1;
    }
    return NULL;
}

int mtp_status_capeff(const char *status, uint64_t *caps)
{
    const char *v = status_field(status, "CapEff");
    char *end;

    if (!v)
        return -1;
    errno = 0;
    *caps = strtoull(v, &end, 16);
    return errno || end == v ? -1 : 0;
}

/* A "Name:\tN" field of a status text as a non-negative int. */
static int status_int(const char *status, const char *name, int *out)
{
    const char *v = status_field(status, name);
    char *end;
    long t;

    if (!v)
        return -1;
    errno = 0;
    t = strtol(v, &end, 10);
    if (errno || end == v || t < 0 || t > INT_MAX)
        return -1;
    *out = (int)t;
    return 0;
}

int mtp_status_tracer(const char *status, int *tracer)
{
    return status_int(status, "TracerPid", tracer);
}

int mtp_status_tgid(const char *status, int *tgid)
{
    return status_int(status, "Tgid", tgid);
}

int mtp_stat_state(const char *stat, char *state)
{
    const char *paren = strrchr(stat, ')');

    if (!paren || paren[1] != ' ' || !paren[2] || paren[2] == ' ')
        return -1;
    *state = paren[2];
    return 0;
}

int mtp_ptrace_allowed(int yama_scope, uint64_t capeff, char *err, size_t errlen)
{
    if (yama_scope == 3) {
        mtp_set_err(err, errlen,
                    "--inject needs ptrace, which kernel.yama.ptrace_scope=3 forbids to "
                    "everyone until the next reboot: set it lower at boot (sysctl.d), or "
                    "add 'import mtp' to the program or start it with 'mtp-trace -- PROGRAM'");
        return -1;
    }
    if (yama_scope == -2) {
        mtp_set_err(err, errlen,
                    "cannot read kernel.yama.ptrace_scope (/proc/sys/kernel/yama/ptrace_scope "
                    "holds no scope 0-3): check 'sysctl kernel.yama.ptrace_scope'");
        return -1;
    }
    if (!(capeff & (1ull << MTP_CAP_SYS_PTRACE))) {
        mtp_set_err(err, errlen,
                    "--inject needs CAP_SYS_PTRACE, which this mtp-trace lacks: run it as "
                    "root (sudo), or grant the capability (e.g. 'capsh --caps=... --' or "
                    "AmbientCapabilities=CAP_SYS_PTRACE in its systemd unit)");
        return -1;
    }
    return 0;
}

int mtp_target_state_allowed(int pid, char state, int tracer, char *err, size_t errlen)
{
    /* The tracer first: a traced process sits in tracing stop ('t') at each
     * syscall its tracer watches, and "stopped, kill -CONT" would send the
     * user after the wrong fix. */
    if (tracer != 0) {
        mtp_set_err(err, errlen,
                    "pid %d is already traced by pid %d (a debugger or strace): a process has "
                    "one tracer at a time; detach it (see 'ps -p %d'), then try again",
                    pid, tracer, tracer);
        return -1;
    }
    if (state == 'T' || state == 't') {
        mtp_set_err(err, errlen,
                    "pid %d is stopped (state %c): --inject leaves a stopped process alone; "
                    "resume it with 'kill -CONT %d' (or let its debugger go), then try again",
                    pid, state, pid);
        return -1;
    }
    if (state == 'Z' || state == 'X') {
        mtp_set_err(err, errlen, "pid %d has exited (state %c): nothing to inject into", pid,
                    state);
        return -1;
    }
    return 0;
}
