// SPDX-License-Identifier: MIT
#include "target.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"
#include "ptrace_checks.h"
#include "sysutil.h"

static int read_maps(pid_t pid, struct mtp_maps *maps)
{
    char path[64], err[160];
    char *text;
    ssize_t n;
    int rc;

    snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
    n = mtp_read_file(path, &text);
    if (n < 0)
        return (int)n;
    rc = mtp_maps_parse(maps, text, err, sizeof(err));
    free(text);
    return rc < 0 ? -EINVAL : 0;
}

/* Its name and executable, for the messages; 0, or -1 when there is no such
 * process. */
static int read_identity(struct mtp_target *t)
{
    char path[64], *text = NULL;
    ssize_t n;
    int tgid;

    snprintf(path, sizeof(path), "/proc/%d/comm", (int)t->pid);
    n = mtp_read_file(path, &text);
    if (n < 0) {
        mtp_error("no process with pid %d (is it still running? find it with 'pgrep -f NAME')",
                  (int)t->pid);
        return -1;
    }
    snprintf(t->comm, sizeof(t->comm), "%.*s", (int)strcspn(text, "\n"), text);
    free(text);
    text = NULL;
    /* /proc/TID/ of a thread reads like its process's, but a thread cannot
     * be traced apart (and pidfd_open refuses it): name the process. */
    snprintf(path, sizeof(path), "/proc/%d/status", (int)t->pid);
    if (mtp_read_file(path, &text) >= 0 && mtp_status_tgid(text, &tgid) == 0 &&
        tgid != (int)t->pid) {
        mtp_error("%d is a thread of process %d (%s), not a process: use --pid %d", (int)t->pid,
                  tgid, t->comm, tgid);
        free(text);
        return -1;
    }
    free(text);
    snprintf(path, sizeof(path), "/proc/%d/exe", (int)t->pid);
    n = readlink(path, t->exe, sizeof(t->exe) - 1);
    t->exe[n > 0 ? n : 0] = '\0';
    return 0;
}

/* The extension's file, as this process can open it: its path; the same
 * path in the target's root (a container); or, when it was removed (--inject
 * removes its copy) or that root's symlinks lead elsewhere from here, the
 * mapping itself through /proc/PID/map_files, which opens the file mapped. */
static int find_extension(struct mtp_target *t, const struct mtp_mapping *m)
{
    char rooted[PATH_MAX + 32];

    snprintf(t->extension, sizeof(t->extension), "%s", m->path);
    /* A cut path is only the end of the real one: the mapping itself opens
     * the file (below). */
    if (!m->path_cut && access(t->extension, R_OK) == 0)
        return 0;
    snprintf(rooted, sizeof(rooted), "/proc/%d/root%s", (int)t->pid, m->path);
    if (!m->path_cut && access(rooted, R_OK) == 0) {
        snprintf(t->extension, sizeof(t->extension), "%s", rooted);
        return 0;
    }
    snprintf(t->extension, sizeof(t->extension), "/proc/%d/map_files/%llx-%llx", (int)t->pid,
             (unsigned long long)m->start, (unsigned long long)m->end);
    if (access(t->extension, R_OK) == 0)
        return 0;
    mtp_error("cannot open the extension %s of pid %d: %s (run mtp-trace as root)", m->path,
              (int)t->pid, strerror(errno));
    return -1;
}

/* A test seam, and only that: MTP_TEST_INSPECT_DELAY_MS widens the window
 * between the pidfd and the reads of /proc/PID/, so that a test can hand the
 * pid to another process inside it (tests/integration/fault_tests.py). */
static void test_delay(void)
{
    const char *ms = getenv("MTP_TEST_INSPECT_DELAY_MS");

    if (ms && *ms)
        usleep((useconds_t)(strtoul(ms, NULL, 10) % 60000) * 1000u);
}

/* The handle comes first: every later look at /proc/PID/ is then checked
 * against it (a pid is only reused after its process exits), so a process
 * that takes over the pid is never inspected, attached or moved in its
 * place. */
static int open_handle(struct mtp_target *t)
{
    t->pidfd = mtp_pidfd_open(t->pid);
    if (t->pidfd >= 0)
        return 0;
    /* No process, or a thread (which pidfd_open refuses): read_identity
     * says which, and how to fix it. */
    if (read_identity(t) < 0)
        return -1;
    mtp_error("cannot open a process handle (pidfd) for pid %d: %s", (int)t->pid,
              strerror(-t->pidfd));
    return -1;
}

static int inspect(struct mtp_target *t, pid_t pid)
{
    const struct mtp_mapping *ext;
    int rc;

    if (read_identity(t) < 0)
        return -1;
    rc = read_maps(pid, &t->maps);
    if (rc < 0) {
        if (rc == -EACCES || rc == -EPERM)
            mtp_error("cannot read /proc/%d/maps: %s (run mtp-trace as root, or grant "
                      "CAP_SYS_PTRACE)",
                      (int)pid, strerror(-rc));
        else
            mtp_error("cannot read /proc/%d/maps: %s", (int)pid, strerror(-rc));
        return -1;
    }
    if (t->maps.len == 0) {
        mtp_error("pid %d (%s) has no user memory: it is a kernel thread or a zombie", (int)pid,
                  t->comm);
        return -1;
    }
    ext = mtp_maps_find_extension_mapping(&t->maps);
    if (!ext && !mtp_maps_is_python(&t->maps, t->exe)) {
        mtp_error("pid %d (%s) is not a Python process: point --pid at the python interpreter "
                  "running your program",
                  (int)pid, t->comm);
        return -1;
    }
    if (!ext) {
        mtp_error("the mtp extension is not loaded in pid %d (%s): add 'import mtp' at the start "
                  "of the program (build it with 'make PYTHON=%s' and put build/pyX.Y on "
                  "PYTHONPATH, or 'pip install ./pyext'), then restart it",
                  (int)pid, t->comm, t->exe[0] ? t->exe : "python3");
        return -1;
    }
    return find_extension(t, ext);
}

int mtp_target__inspect(struct mtp_target *t, pid_t pid)
{
    memset(t, 0, sizeof(*t));
    t->pid = pid;
    t->pidfd = -1;
    if (open_handle(t) < 0)
        return -1;
    test_delay();
    if (inspect(t, pid) < 0)
        return -1;
    return mtp_target__check_alive(t, "while mtp-trace inspected it");
}

int mtp_target__check_alive(const struct mtp_target *t, const char *when)
{
    if (!mtp_target__exited(t))
        return 0;
    mtp_error("pid %d (%s) exited %s: nothing more is done to that pid, which may already "
              "belong to another process",
              (int)t->pid, t->comm, when);
    return -1;
}

enum mtp_peek mtp_target__peek(pid_t pid, char *comm, size_t comm_len)
{
    struct mtp_target t = {.pid = pid, .pidfd = -1};
    enum mtp_peek peek = MTP_PEEK_GONE;
    char path[64], *text = NULL;

    snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
    if (mtp_read_file(path, &text) < 0)
        return MTP_PEEK_GONE;
    snprintf(comm, comm_len, "%.*s", (int)strcspn(text, "\n"), text);
    free(text);
    snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
    ssize_t n = readlink(path, t.exe, sizeof(t.exe) - 1);
    t.exe[n > 0 ? n : 0] = '\0';
    if (read_maps(pid, &t.maps) < 0 || t.maps.len == 0) {
        mtp_maps_free(&t.maps);
        return MTP_PEEK_GONE; /* a zombie's maps read empty */
    }
    if (mtp_maps_find_extension(&t.maps))
        peek = MTP_PEEK_READY;
    else if (mtp_maps_is_python(&t.maps, t.exe))
        peek = MTP_PEEK_NO_MTP;
    else
        peek = MTP_PEEK_NOT_PYTHON;
    mtp_maps_free(&t.maps);
    return peek;
}

bool mtp_target__exited(const struct mtp_target *t)
{
    return t->pidfd >= 0 && mtp_fd_readable(t->pidfd);
}

void mtp_target__refresh_maps(struct mtp_target *t)
{
    struct mtp_maps fresh = {0};

    /* Read, then checked: a map read after the target exited may be
     * another process's. */
    if (read_maps(t->pid, &fresh) == 0 && fresh.len > 0 && !mtp_target__exited(t)) {
        mtp_maps_free(&t->maps);
        t->maps = fresh;
    } else {
        mtp_maps_free(&fresh); /* an exited process reads as empty */
    }
}

void mtp_target__free(struct mtp_target *t)
{
    if (t->pidfd >= 0)
        close(t->pidfd);
    t->pidfd = -1;
    mtp_maps_free(&t->maps);
}
