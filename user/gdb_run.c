// SPDX-License-Identifier: MIT
#include "gdb_run.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "diag.h"
#include "sysutil.h"

int mtp_gdb__find(char *out, size_t len)
{
    const char *path = getenv("PATH");
    char dirs[4096], *save = NULL;

    snprintf(dirs, sizeof(dirs), "%s", path && *path ? path : "/usr/bin:/bin");
    for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        if (snprintf(out, len, "%s/gdb", d) < (int)len && !access(out, X_OK))
            return 0;
    }
    return -1;
}

/* In the child: the script on fd 3, output to the memfd, no stdin, and
 * none of mtp-trace's blocked signals (SIGINT must reach gdb). */
static void exec_gdb(const char *gdb, pid_t pid, int script_fd, int out_fd)
{
    char pidarg[32];
    sigset_t none;
    int null = open("/dev/null", O_RDONLY);

    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (null < 0 || dup2(null, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0 ||
        dup2(script_fd, 3) < 0 || fcntl(3, F_SETFD, 0) < 0)
        _exit(127);
    /* No debuginfod downloads: they would stall the target while gdb
     * holds it. */
    unsetenv("DEBUGINFOD_URLS");
    /* A runtime preloaded for the programs (a sanitizer's, an allocator)
     * is not gdb's: ASan's makes gdb hang at its exit, holding the
     * target stopped until the timeout. */
    unsetenv("LD_PRELOAD");
    /* gdb stopped by a signal mid-attach can hit an internal error and dump
     * core into the operator's working directory (79 MB, seen in the
     * cut-short test); mtp-trace says what happened, the core helps nobody. */
    (void)setrlimit(RLIMIT_CORE, &(struct rlimit){0, 0});
    snprintf(pidarg, sizeof(pidarg), "%d", (int)pid);
    execl(gdb, gdb, "-p", pidarg, "-batch", "-nx", "-iex", "set debuginfod enabled off", "-x",
          "/proc/self/fd/3", (char *)NULL);
    _exit(127);
}

/* Waits for child up to seconds; true once it has exited (reaped). */
static bool wait_exit(int pidfd, pid_t child, double seconds, int *status)
{
    double end = mtp_now_s() + seconds;

    while (!mtp_fd_readable(pidfd) && mtp_now_s() < end)
        usleep(10 * 1000);
    return waitpid(child, status, WNOHANG) == child;
}

/* Interrupt, then terminate, then kill: gdb, never its target. */
static void stop_gdb(int pidfd, pid_t child, int *status)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGKILL};
    static const double grace[] = {3.0, 2.0, 10.0};

    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        kill(child, sigs[i]);
        if (wait_exit(pidfd, child, grace[i], status))
            return;
    }
    waitpid(child, status, 0);
}

static void read_output(int fd, struct mtp_gdb_result *r)
{
    off_t size = lseek(fd, 0, SEEK_END);
    off_t from = size > (off_t)sizeof(r->output) - 1 ? size - (off_t)sizeof(r->output) + 1 : 0;
    ssize_t n = pread(fd, r->output, sizeof(r->output) - 1, from);

    r->output[n > 0 ? n : 0] = '\0';
}

int mtp_gdb__run(const char *gdb, pid_t pid, const char *script, double timeout_s,
                 struct mtp_gdb_result *r)
{
    int script_fd = memfd_create("mtp-inject.gdb", MFD_CLOEXEC);
    int out_fd = memfd_create("mtp-inject.out", MFD_CLOEXEC);
    int pidfd = -1, rc = -1;
    pid_t child;

    memset(r, 0, sizeof(*r));
    if (script_fd < 0 || out_fd < 0 ||
        write(script_fd, script, strlen(script)) != (ssize_t)strlen(script)) {
        mtp_error("cannot prepare gdb's script: %s", strerror(errno));
        goto out;
    }
    fflush(NULL);
    child = fork();
    if (child < 0) {
        mtp_error("cannot start gdb: %s", strerror(errno));
        goto out;
    }
    if (child == 0)
        exec_gdb(gdb, pid, script_fd, out_fd);
    pidfd = mtp_pidfd_open(child);
    if (pidfd < 0 || !wait_exit(pidfd, child, timeout_s, &r->status)) {
        r->timed_out = true;
        stop_gdb(pidfd, child, &r->status);
    }
    read_output(out_fd, r);
    rc = 0;
out:
    if (pidfd >= 0)
        close(pidfd);
    if (script_fd >= 0)
        close(script_fd);
    if (out_fd >= 0)
        close(out_fd);
    return rc;
}
