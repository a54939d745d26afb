// SPDX-License-Identifier: MIT
#include "fleet.h"

#include <dirent.h>
#include <errno.h>
#include <mntent.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"
#include "page_map.h"
#include "sysutil.h"
#include "top.h"

/* Opens, configures, loads and attaches a session for pid, and says so.
 * 0, or -1 after the session has said why not. */
static int fleet__add(struct mtp_fleet *f, pid_t pid, double now_s)
{
    struct mtp_session *s = calloc(1, sizeof(*s));
    int rc;

    if (!s) {
        mtp_error("out of memory");
        return -1;
    }
    rc = mtp_session__open(s, f->opts, pid, !f->header_printed);
    /* a launched program or a cgroup's is attached as it starts, when its
     * resident set says nothing of the size it grows to */
    if (!rc)
        rc = mtp_session__configure(s, f->launched || f->cgroup_procs[0]);
    if (!rc)
        rc = mtp_session__load(s);
    if (!rc)
        rc = mtp_session__attach(s);
    if (rc) {
        mtp_session__destroy(s);
        free(s);
        return -1;
    }
    s->started_s = now_s;
    mtp_say("tracing pid %d (%s) through %s", (int)pid, s->target.comm, s->target.extension);
    mtp_say("page map of %llu pages (%llu MiB of kernel memory on the node mtp-trace runs on, "
            "--max-pages) pinned at %s (bpftool map dump pinned %s); Ctrl-C to stop",
            (unsigned long long)s->report.map_capacity,
            (unsigned long long)(s->report.map_capacity * MTP_PAGE_MAP_BUCKET_BYTES >> 20),
            s->pins.pages, s->pins.pages);
    if (!f->header_printed) {
        if (!f->top)
            mtp_output__header(&s->report, f->opts->json);
        f->header_printed = true;
    }
    f->s[f->len++] = s;
    return 0;
}

/* --inject: loads mtp into pid when it runs Python without it, once per
 * pid, so a failure is not retried every interval.  0 when there was
 * nothing to do or mtp is loaded now; -1 after saying why not. */
static int fleet__inject(struct mtp_fleet *f, pid_t pid)
{
    char comm[64];
    enum mtp_peek peek;

    if (!f->opts->inject || mtp_pidlist_has(&f->injected, pid))
        return 0;
    peek = mtp_target__peek(pid, comm, sizeof(comm));
    /* Without CAP_SYS_PTRACE a process's maps may be unreadable (it looks
     * gone): say what --inject lacks, not what the peek could not read. */
    if (peek == MTP_PEEK_GONE && kill(pid, 0) == 0) {
        mtp_pidlist_add_one(&f->injected, pid);
        return mtp_inject__check_privileges();
    }
    if (peek != MTP_PEEK_NO_MTP)
        return 0;
    mtp_pidlist_add_one(&f->injected, pid);
    return mtp_inject__run(&f->inject, pid, (double)f->opts->inject_timeout_ns / 1e9);
}

/* fleet__add, then the injected copy's removal: the session has read it. */
static int fleet__add_injected(struct mtp_fleet *f, pid_t pid, double now_s)
{
    int rc = fleet__add(f, pid, now_s);

    mtp_inject__cleanup(&f->inject);
    return rc;
}

/* Whether pid, one of several named or found, is worth a session; says why
 * not unless quiet. */
static bool fleet__worth_tracing(pid_t pid, const char *where, bool quiet)
{
    char comm[64] = "?";
    enum mtp_peek peek = mtp_target__peek(pid, comm, sizeof(comm));

    /* A member that left between two looks needs no word. */
    if (peek == MTP_PEEK_READY || quiet || (peek == MTP_PEEK_GONE && where[0]))
        return peek == MTP_PEEK_READY;
    if (peek == MTP_PEEK_NO_MTP)
        mtp_say("pid %d (%s)%s skipped: it has not imported mtp", (int)pid, comm, where);
    else if (peek == MTP_PEEK_NOT_PYTHON)
        mtp_say("pid %d (%s)%s skipped: not a Python process", (int)pid, comm, where);
    else
        mtp_say("pid %d%s skipped: no such process (it exited?)", (int)pid, where);
    return false;
}

/* Where the cgroup v2 hierarchy is mounted: /sys/fs/cgroup on a unified
 * system, /sys/fs/cgroup/unified on a hybrid one. */
static void cgroup2_mount(char *out, size_t len)
{
    FILE *mounts = setmntent("/proc/self/mounts", "r");
    struct mntent *m;

    snprintf(out, len, "/sys/fs/cgroup");
    while (mounts && (m = getmntent(mounts))) {
        if (!strcmp(m->mnt_type, "cgroup2")) {
            snprintf(out, len, "%s", m->mnt_dir);
            break;
        }
    }
    if (mounts)
        endmntent(mounts);
}

/* --cgroup's cgroup.procs: an absolute directory (v2, or a v1 hierarchy's),
 * or a path in the v2 hierarchy (as /proc/PID/cgroup's "0::" line shows it). */
static int fleet__resolve_cgroup(struct mtp_fleet *f, const char *cgroup)
{
    char dir[PATH_MAX];

    if (cgroup[0] == '/' && !access(cgroup, F_OK)) {
        snprintf(dir, sizeof(dir), "%s", cgroup);
    } else {
        char mount[PATH_MAX / 2];

        cgroup2_mount(mount, sizeof(mount));
        snprintf(dir, sizeof(dir), "%s/%s", mount, cgroup + (cgroup[0] == '/'));
    }
    if (snprintf(f->cgroup_procs, sizeof(f->cgroup_procs), "%.*s/cgroup.procs",
                 (int)(sizeof(dir) - 16), dir) >= (int)sizeof(f->cgroup_procs) ||
        access(f->cgroup_procs, R_OK) < 0) {
        mtp_error("cannot read %s: %s (--cgroup takes a cgroup directory, e.g. "
                  "system.slice/NAME.service, the path after '0::' in /proc/PID/cgroup)",
                  f->cgroup_procs, strerror(errno));
        return -1;
    }
    return 0;
}

int mtp_fleet__open(struct mtp_fleet *f, const struct mtp_options *opts, double now_s)
{
    const struct mtp_pidlist *pids = &opts->pids;
    bool several = pids->len > 1 || opts->cgroup[0];

    memset(f, 0, sizeof(*f));
    f->opts = opts;
    f->top = mtp_top__wanted(opts);
    if (opts->cgroup[0] && fleet__resolve_cgroup(f, opts->cgroup) < 0)
        return -1;
    for (unsigned i = 0; i < pids->len; i++) {
        pid_t pid = pids->pid[i];

        if (pid == getpid())
            continue; /* a pgrep pattern that matched this command line */
        if (fleet__inject(f, pid) < 0) {
            if (!several)
                return -1;
            mtp_say("pid %d skipped (above); tracing the others", (int)pid);
            continue;
        }
        if (several && !fleet__worth_tracing(pid, "", false))
            continue;
        if (fleet__add_injected(f, pid, now_s) == 0)
            continue;
        if (!several)
            return -1;
        mtp_say("pid %d skipped (above); tracing the others", (int)pid);
    }
    mtp_fleet__discover(f, now_s);
    if (f->len == 0 && !opts->cgroup[0]) {
        if (opts->inject)
            mtp_error("none of the %u processes named could be traced, with or without "
                      "injecting mtp (see the notes above)",
                      pids->len);
        else
            mtp_error("none of the %u processes named runs Python with mtp loaded: add 'import "
                      "mtp' at the start of the program, or use --inject (see the notes above)",
                      pids->len);
        return -1;
    }
    if (f->len == 0)
        mtp_say("no Python process with mtp in %s yet: waiting for one", f->cgroup_procs);
    return 0;
}

/* Adds pid's descendants to l: the children each of its threads made
 * (/proc/PID/task/TID/children), and theirs. */
static void fleet__add_descendants(struct mtp_pidlist *l, pid_t pid, int depth)
{
    char path[96], *text = NULL;
    struct mtp_pidlist kids = {0};
    DIR *tasks;
    struct dirent *t;

    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    tasks = opendir(path);
    if (!tasks || depth > 64)
        goto out;
    while ((t = readdir(tasks))) {
        if (t->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/proc/%d/task/%.16s/children", (int)pid, t->d_name);
        if (mtp_read_file(path, &text) >= 0)
            mtp_pidlist_add(&kids, text, NULL, 0);
        free(text);
        text = NULL;
    }
    for (unsigned i = 0; i < kids.len; i++) {
        if (mtp_pidlist_add_one(l, kids.pid[i]) == 0)
            fleet__add_descendants(l, kids.pid[i], depth + 1);
    }
out:
    if (tasks)
        closedir(tasks);
}

/* The processes to follow now: the cgroup's, or the launched program's
 * tree.  False when there is nothing to follow. */
static bool fleet__members(const struct mtp_fleet *f, struct mtp_pidlist *members)
{
    char *text = NULL;

    if (f->launched) {
        if (f->launched->reaped)
            return false;
        mtp_pidlist_add_one(members, f->launched->pid);
        fleet__add_descendants(members, f->launched->pid, 0);
        return true;
    }
    if (!f->cgroup_procs[0] || mtp_read_file(f->cgroup_procs, &text) < 0)
        return false; /* a group gone for now is looked at again next interval */
    if (mtp_pidlist_add(members, text, NULL, 0) < 0)
        members->len = 0; /* more than MTP_PIDS_MAX: take none rather than guess */
    free(text);
    return true;
}

/* Whether any process of the launched program's tree has mtp loaded. */
static bool fleet__tree_ready(const struct mtp_fleet *f)
{
    struct mtp_pidlist members = {0};
    char comm[64];

    if (!fleet__members(f, &members))
        return false;
    for (unsigned i = 0; i < members.len; i++)
        if (mtp_target__peek(members.pid[i], comm, sizeof(comm)) == MTP_PEEK_READY)
            return true;
    return false;
}

void mtp_fleet__follow(struct mtp_fleet *f, const struct mtp_options *opts,
                       const struct mtp_launch *launched, double now_s)
{
    double end = mtp_now_s() + 10;

    memset(f, 0, sizeof(*f));
    f->opts = opts;
    f->top = mtp_top__wanted(opts);
    f->launched = launched;
    /* Its sitecustomize imports mtp before the program's first line: wait
     * for it rather than note the program as without mtp. */
    while (mtp_now_s() < end && !fleet__tree_ready(f) && !mtp_fd_readable(launched->pidfd))
        usleep(20 * 1000);
    mtp_fleet__discover(f, now_s);
}

void mtp_fleet__discover(struct mtp_fleet *f, double now_s)
{
    struct mtp_pidlist members = {0};
    const char *where = f->launched ? " (launched)" : " in the cgroup";

    if (!fleet__members(f, &members))
        return;
    for (unsigned i = 0; i < members.len; i++) {
        pid_t pid = members.pid[i];
        bool traced = false;

        for (unsigned k = 0; k < f->len && !traced; k++)
            traced = f->s[k]->target.pid == pid;
        if (traced || pid == getpid() || mtp_pidlist_has(&f->failed, pid))
            continue;
        if (f->len == MTP_PIDS_MAX)
            break;
        if (fleet__inject(f, pid) < 0) {
            mtp_say("pid %d%s skipped (above): mtp-trace will not try it again", (int)pid, where);
            mtp_pidlist_add_one(&f->failed, pid);
            continue;
        }
        /* Looked at again every interval: a worker imports mtp a moment
         * after it forks, and an exec can turn a shell into Python. */
        if (!fleet__worth_tracing(pid, where, mtp_pidlist_has(&f->noted, pid))) {
            mtp_pidlist_add_one(&f->noted, pid);
            continue;
        }
        /* A member may exit while it is being attached to (a launched
         * program's short-lived child): that needs no word, as when it
         * leaves between two looks.  Exiting, it may still be there with its
         * mappings half torn down (the extension's gone, the interpreter's
         * not yet), which a live process never shows, since Python never
         * unloads an extension: only one that still has mtp loaded is worth
         * the failure's word. */
        mtp_diag_hold();
        if (fleet__add_injected(f, pid, now_s) < 0) {
            mtp_diag_release(kill(pid, 0) == 0 &&
                             mtp_target__peek(pid, (char[64]){0}, 64) == MTP_PEEK_READY);
            mtp_pidlist_add_one(&f->failed, pid);
        } else {
            mtp_diag_release(true);
        }
    }
    /* Forget the pids that left, so that a reused pid is looked at anew. */
    for (unsigned i = f->noted.len; i-- > 0;)
        if (!mtp_pidlist_has(&members, f->noted.pid[i]))
            mtp_pidlist_remove(&f->noted, f->noted.pid[i]);
    for (unsigned i = f->failed.len; i-- > 0;)
        if (!mtp_pidlist_has(&members, f->failed.pid[i]))
            mtp_pidlist_remove(&f->failed, f->failed.pid[i]);
    for (unsigned i = f->injected.len; i-- > 0;)
        if (!mtp_pidlist_has(&members, f->injected.pid[i]))
            mtp_pidlist_remove(&f->injected, f->injected.pid[i]);
}

void mtp_fleet__close(struct mtp_fleet *f, unsigned i)
{
    mtp_session__destroy(f->s[i]);
    free(f->s[i]);
    memmove(&f->s[i], &f->s[i + 1], (f->len - i - 1) * sizeof(f->s[0]));
    f->len--;
}

bool mtp_fleet__ends_empty(const struct mtp_fleet *f)
{
    return !f->cgroup_procs[0] && !f->launched;
}

void mtp_fleet__destroy(struct mtp_fleet *f)
{
    while (f->len)
        mtp_fleet__close(f, f->len - 1);
}
