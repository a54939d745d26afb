// SPDX-License-Identifier: MIT
#include "inject.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "diag.h"
#include "gdb_run.h"
#include "inject_script.h"
#include "ptrace_checks.h"
#include "pybuild.h"
#include "pyprocess.h"
#include "sysutil.h"
#include "target.h"

/* CAP_SYS_PTRACE and Yama: may this process attach a debugger at all? */
int mtp_inject__check_privileges(void)
{
    char *yama = NULL, *status = NULL, err[400];
    uint64_t caps = 0;
    ssize_t n = mtp_read_file("/proc/sys/kernel/yama/ptrace_scope", &yama);
    int scope = mtp_yama_scope_parse(n == -ENOENT ? NULL : n < 0 ? "" : yama);
    int rc;

    if (mtp_read_file("/proc/self/status", &status) < 0 || mtp_status_capeff(status, &caps) < 0)
        caps = 0;
    rc = mtp_ptrace_allowed(scope, caps, err, sizeof(err));
    if (rc < 0)
        mtp_error("%s", err);
    free(yama);
    free(status);
    return rc;
}

/* The target's state and tracer, as /proc says now. */
static int read_state(pid_t pid, char *state, int *tracer)
{
    char path[64], *stat = NULL, *status = NULL;
    int rc = -1;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if (mtp_read_file(path, &stat) < 0 || mtp_stat_state(stat, state) < 0)
        goto out;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    if (mtp_read_file(path, &status) < 0 || mtp_status_tracer(status, tracer) < 0)
        goto out;
    rc = 0;
out:
    free(stat);
    free(status);
    return rc;
}

static int check_target(pid_t pid)
{
    char state, err[400];
    int tracer;

    if (read_state(pid, &state, &tracer) < 0) {
        mtp_error("cannot read /proc/%d/stat and status (has pid %d exited?)", (int)pid, (int)pid);
        return -1;
    }
    if (mtp_target_state_allowed((int)pid, state, tracer, err, sizeof(err)) < 0) {
        mtp_error("%s", err);
        return -1;
    }
    return 0;
}

/* The extension built for the target's interpreter.  MTP_INJECT_BUILD, a
 * test seam, names another build directory to look in. */
static int find_build(const struct mtp_pyprocess *py, pid_t pid, char *ext, size_t len)
{
    const char *build = getenv("MTP_INJECT_BUILD");
    char dir[PATH_MAX] = "build";

    if (mtp_pybuild__extension(build && *build ? build : NULL, py->tag, ext, len) == 0)
        return 0;
    if (build && *build)
        snprintf(dir, sizeof(dir), "%s", build);
    else
        mtp_pybuild__dir(dir, sizeof(dir));
    mtp_error("no mtp extension is built for pid %d's Python %d.%d (%s; tag %s, looked in "
              "%s/py%s): build it in the mtp tree of this mtp-trace with 'make pyext PYTHON=%s' "
              "(the interpreter's own path, as the target runs it)",
              (int)pid, py->version.major, py->version.minor, py->interp, py->tag, dir, py->tag,
              py->exe);
    return -1;
}

/* After gdb ended on the time limit: a debugger killed at the wrong moment
 * can leave its tracee in a group stop.  It was not stopped before (checked),
 * so resuming it restores what it was. */
static void resume_if_left_stopped(pid_t pid)
{
    char state = 0;
    int tracer = 0;

    if (read_state(pid, &state, &tracer) == 0 && (state == 'T' || state == 't') && !tracer) {
        mtp_warn("pid %d was left stopped by the interrupted gdb: resuming it (SIGCONT)", (int)pid);
        kill(pid, SIGCONT);
    }
}

/* Whether gdb's calls leave a process as they found it on this machine
 * (inject_script.h): one call into a sleep(1) of mtp-trace's own, stopped
 * in nanosleep.  0 when they do; -1 after saying why not, or why the probe
 * could not run. */
static int probe_gdb_calls(const char *gdb, double timeout_s)
{
    struct mtp_gdb_result r;
    const char *why;
    bool slept_on;
    int status = 0;
    pid_t child = fork();

    if (child < 0) {
        mtp_error("cannot start the probe of gdb's calls: fork: %s", strerror(errno));
        return -1;
    }
    if (child == 0) {
        int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

        if (null >= 0) { /* a lost restart makes it complain */
            dup2(null, STDOUT_FILENO);
            dup2(null, STDERR_FILENO);
        }
        execlp("sleep", "sleep", "1", (char *)NULL);
        _exit(127);
    }
    usleep(100 * 1000); /* into its nanosleep */
    if (mtp_gdb__run(gdb, child, MTP_INJECT_PROBE_SCRIPT, timeout_s, &r) < 0) {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        return -1;
    }
    usleep(100 * 1000); /* a lost restart ends it at once */
    slept_on =
        waitpid(child, &status, WNOHANG) == 0 || (WIFEXITED(status) && WEXITSTATUS(status) == 0);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    if (!r.timed_out && mtp_inject_probe_ok(r.output, slept_on, &why))
        return 0;
    if (r.timed_out)
        mtp_error("gdb did not finish its probe call within %.1f s: raise --inject-timeout on a "
                  "slow or busy machine",
                  timeout_s);
    else
        mtp_error("--inject is refused here: %s. The target was not touched; start it with "
                  "'import mtp' (or launch it with 'mtp-trace -- python3 ...') instead",
                  why);
    return -1;
}

/* gdb queues the import.  0 when Py_AddPendingCall took it. */
static int queue_import(const char *gdb, pid_t pid, const char *path, double timeout_s)
{
    char code[MTP_INJECT_PAGE], script[16384];
    struct mtp_strbuf b = {script, sizeof(script), 0};
    struct mtp_gdb_result r;
    const char *mark;

    if (mtp_inject_code(path, code, sizeof(code)) < 0) {
        mtp_error("cannot write the import of %s for pid %d (an unexpected path)", path, (int)pid);
        return -1;
    }
    mtp_inject_gdb_script(code, &b);
    if (mtp_strbuf_result(&b) >= (int)sizeof(script) ||
        mtp_gdb__run(gdb, pid, script, timeout_s, &r) < 0)
        return -1;
    if (r.timed_out)
        resume_if_left_stopped(pid);
    mark = strstr(r.output, MTP_INJECT_MARK);
    if (mark && atoi(mark + strlen(MTP_INJECT_MARK)) == 0)
        return 0;
    if (r.timed_out)
        mtp_error("gdb did not finish with pid %d within %.1f s and was stopped (the target "
                  "runs on, untouched): raise --inject-timeout on a slow or busy machine",
                  (int)pid, timeout_s);
    else if (mark)
        mtp_error("pid %d's interpreter refused the pending call (its queue is full): try again",
                  (int)pid);
    else
        mtp_error("gdb could not queue the import in pid %d (it runs on, untouched); gdb "
                  "said:\n%s",
                  (int)pid, r.output);
    return -1;
}

/* Until the extension shows in pid's maps, pid exits, or the deadline. */
static int wait_loaded(pid_t pid, double deadline, double timeout_s)
{
    char comm[64] = "?";
    enum mtp_peek peek;

    while ((peek = mtp_target__peek(pid, comm, sizeof(comm))) == MTP_PEEK_NO_MTP &&
           mtp_now_s() < deadline)
        usleep(20 * 1000);
    if (peek == MTP_PEEK_READY)
        return 0;
    if (peek == MTP_PEEK_GONE)
        mtp_error("pid %d exited before it loaded mtp", (int)pid);
    else
        mtp_error("pid %d (%s) did not load mtp within --inject-timeout (%.1f s): the import "
                  "runs when its main thread next runs Python code, and it has not (blocked in "
                  "a system call, in C code, or on a lock?).  It stays queued; when it runs it "
                  "finds no extension (removed now) and does nothing.  Try again when the "
                  "program is busy, or with a longer --inject-timeout",
                  (int)pid, comm, timeout_s);
    return -1;
}

int mtp_inject__run(struct mtp_inject *in, pid_t pid, double timeout_s)
{
    double deadline = mtp_now_s() + timeout_s;
    struct mtp_pyprocess py;
    char ext[PATH_MAX], gdb[4096];

    memset(in, 0, sizeof(*in));
    if (mtp_gdb__find(gdb, sizeof(gdb)) < 0) {
        mtp_error("--inject needs gdb, which is not on PATH: install it with 'apt-get install "
                  "gdb'");
        return -1;
    }
    if (mtp_inject__check_privileges() < 0 || check_target(pid) < 0 ||
        mtp_pyprocess__inspect(&py, pid) < 0 || find_build(&py, pid, ext, sizeof(ext)) < 0 ||
        probe_gdb_calls(gdb, deadline - mtp_now_s()) < 0)
        return -1;
    mtp_say("injecting mtp into pid %d (Python %d.%d, %s) with gdb", (int)pid, py.version.major,
            py.version.minor, py.interp);
    if (mtp_stage__copy(&in->stage, pid, ext) < 0)
        return -1;
    if (queue_import(gdb, pid, in->stage.path, deadline - mtp_now_s()) < 0 ||
        wait_loaded(pid, deadline, timeout_s) < 0) {
        mtp_inject__cleanup(in);
        return -1;
    }
    return 0;
}

void mtp_inject__cleanup(struct mtp_inject *in)
{
    mtp_stage__remove(&in->stage);
}
