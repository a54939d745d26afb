// SPDX-License-Identifier: MIT
#include "pins.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diag.h"
#include "pinowner.h"
#include "sysutil.h"

void mtp_pins__init(struct mtp_pins *p)
{
    memset(p, 0, sizeof(*p));
    p->dirfd = -1;
}

/* PIN_ROOT, opened and locked: every run decides about a pin directory, and
 * makes or removes one, under this lock, so two runs cannot both take the
 * same dead run's directory.  PIN_ROOT must be a directory of this user's,
 * never a symlink (whoever controls it could point pins elsewhere); its mode
 * is made 0700.  The fd, or -1 after saying why. */
static int lock_root(const char *root)
{
    struct stat st;
    long magic = 0;
    int fd, err, on_bpffs;

    err = mtp_ensure_bpffs("/sys/fs/bpf");
    if (err < 0 && strncmp(root, "/sys/fs/bpf", 11) == 0) {
        mtp_error("cannot mount bpffs at /sys/fs/bpf: %s (mount it with 'mount -t bpf bpf "
                  "/sys/fs/bpf')",
                  strerror(-err));
        return -1;
    }
    /* Checked before anything is made or changed there: pins need a bpffs,
     * and a wrong path must be left as it was. */
    on_bpffs = mtp_on_bpffs(root, &magic);
    if (on_bpffs == -EACCES || on_bpffs == -EPERM) {
        mtp_error("cannot reach --pin-root %s: %s: mtp-trace runs as uid %d and a directory "
                  "on the way is closed to it (/sys/fs/bpf is root's, mode 0700): run "
                  "mtp-trace as root, or give it a --pin-root on a bpffs it owns "
                  "('mount -t bpf bpf DIR')",
                  root, strerror(-on_bpffs), (int)geteuid());
        return -1;
    }
    if (on_bpffs < 0) {
        mtp_error("cannot tell whether --pin-root %s is on a bpffs: %s", root, strerror(-on_bpffs));
        return -1;
    }
    if (!on_bpffs) {
        mtp_error("--pin-root %s is not on a bpffs (filesystem magic %#lx): pins need one; "
                  "use a directory under /sys/fs/bpf, or mount one with 'mount -t bpf bpf DIR'",
                  root, (unsigned long)magic);
        return -1;
    }
    err = mtp_mkdir_p(root);
    if (err < 0) {
        mtp_error("cannot create %s: %s", root, strerror(-err));
        return -1;
    }
    fd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;

        mtp_error("cannot use %s as the pin root: %s (it must be a directory, not a symlink: "
                  "remove it, or give --pin-root)",
                  root,
                  lstat(root, &st) == 0 && S_ISLNK(st.st_mode) ? "it is a symlink" : strerror(e));
        return -1;
    }
    if (fstat(fd, &st) < 0) {
        mtp_error("cannot use %s as the pin root: %s", root, strerror(errno));
        close(fd);
        return -1;
    }
    if (st.st_uid != geteuid()) {
        mtp_error("%s belongs to uid %u, not to mtp-trace's user: remove it, or give --pin-root",
                  root, (unsigned)st.st_uid);
        close(fd);
        return -1;
    }
    if ((st.st_mode & 077) && fchmod(fd, st.st_mode & 07700) == 0)
        mtp_say("%s was open to other users (mode %04o): made it 0700", root,
                (unsigned)st.st_mode & 07777);
    if (flock(fd, LOCK_EX) < 0) {
        mtp_error("cannot lock %s: %s", root, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* Unlocks and closes PIN_ROOT. */
static void unlock_root(int fd)
{
    flock(fd, LOCK_UN);
    close(fd);
}

/* The start time of pid, or 0 when it is not running. */
static unsigned long long start_time(int pid)
{
    char path[64], *text = NULL;
    unsigned long long start = 0;

    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    if (mtp_read_file(path, &text) < 0 || mtp_stat_starttime(text, &start) < 0)
        start = 0;
    free(text);
    return start;
}

/* Reads the owner record of the directory name in rootfd (st: its lstat).
 * 0 with *has set when there is one this mtp-trace wrote, 0 without, -1
 * when name is no directory (after saying so): a symlink there could send
 * the pins, or the removal of stale ones, anywhere. */
static int read_owner(int rootfd, const char *dir, const char *name, const struct stat *st,
                      struct mtp_pin_owner *o, bool *has)
{
    char text[128];
    int fd = S_ISDIR(st->st_mode)
                 ? openat(rootfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                 : -1;
    ssize_t n;

    *has = false;
    if (fd < 0) {
        mtp_error("%s is %s, where mtp-trace pins its maps: remove it", dir,
                  S_ISLNK(st->st_mode) ? "a symlink" : "not a directory");
        return -1;
    }
    n = readlinkat(fd, MTP_PIN_OWNER, text, sizeof(text) - 1);
    close(fd);
    if (n > 0) {
        text[n] = '\0';
        *has = mtp_pin_owner_parse(text, o) == 0;
    }
    return 0;
}

static const char *const pinned_maps[] = {MTP_PINNED_MAPS};

static void unlink_maps(int dirfd)
{
    for (size_t i = 0; i < sizeof(pinned_maps) / sizeof(pinned_maps[0]); i++)
        unlinkat(dirfd, pinned_maps[i], 0);
}

/* Removes a dead run's pins: its maps, its record, the directory.  0,
 * or -1 after saying why (it holds something else). */
static int remove_stale(int rootfd, const struct mtp_pins *p, const char *name,
                        const struct mtp_pin_owner *o)
{
    int fd = openat(rootfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

    if (fd >= 0) {
        unlink_maps(fd);
        unlinkat(fd, MTP_PIN_OWNER, 0);
        close(fd);
    }
    if (unlinkat(rootfd, name, AT_REMOVEDIR) < 0) {
        mtp_error("cannot remove the pins a dead mtp-trace (pid %d) left in %s: %s (remove them "
                  "with 'rm -r %s')",
                  o->pid, p->dir, strerror(errno), p->dir);
        return -1;
    }
    mtp_say("removed stale pins from %s: the mtp-trace that made them (pid %d) is gone", p->dir,
            o->pid);
    return 0;
}

/* Decides about an existing PIN_ROOT/PID and, for a dead run's, removes
 * it.  0 when the name is free now, -1 after saying why not. */
static int clear_way(int rootfd, const struct mtp_pins *p, const char *name)
{
    struct mtp_pin_owner o = {0};
    struct stat st;
    bool has;

    if (fstatat(rootfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return 0; /* nothing there */
    if (read_owner(rootfd, p->dir, name, &st, &o, &has) < 0)
        return -1;
    switch (mtp_pins_judge(true, has ? &o : NULL, has ? start_time(o.pid) : 0)) {
    case MTP_PINS_FREE:
        return 0;
    case MTP_PINS_STALE:
        return remove_stale(rootfd, p, name, &o);
    case MTP_PINS_LIVE:
        mtp_error("pid %d is being traced already, by mtp-trace pid %d (its maps are in %s): stop "
                  "that one first",
                  p->pid, o.pid, p->dir);
        return -1;
    case MTP_PINS_KEPT:
        mtp_error("%s holds the maps an earlier run kept (--keep-pins): remove them with 'rm -r "
                  "%s' to trace pid %d again",
                  p->dir, p->dir, p->pid);
        return -1;
    case MTP_PINS_UNOWNED:
        break;
    }
    mtp_error("%s already holds pinned maps, with no owner record: an older mtp-trace's, running "
              "or dead, or --keep-pins of one; if no mtp-trace traces pid %d (pgrep -a "
              "mtp-trace), remove them with 'rm -r %s'",
              p->dir, p->pid, p->dir);
    return -1;
}

/* Writes this mtp-trace's owner record into the claimed directory. */
static int write_owner(const struct mtp_pins *p, bool kept)
{
    struct mtp_pin_owner o = {
        .pid = (int)getpid(), .start = start_time((int)getpid()), .kept = kept};
    char text[128];

    mtp_pin_owner_format(&o, text, sizeof(text));
    unlinkat(p->dirfd, MTP_PIN_OWNER, 0);
    return symlinkat(text, p->dirfd, MTP_PIN_OWNER) < 0 ? -errno : 0;
}

int mtp_pins__claim(struct mtp_pins *p, const char *root, int pid)
{
    char name[16];
    int rootfd, err = 0;

    mtp_pins__init(p);
    p->pid = pid;
    snprintf(p->root, sizeof(p->root), "%s", root);
    snprintf(p->dir, sizeof(p->dir), "%s/%d", root, pid);
    snprintf(p->pages, sizeof(p->pages), "%s/pages", p->dir);
    snprintf(p->stats, sizeof(p->stats), "%s/stats", p->dir);
    snprintf(name, sizeof(name), "%d", pid);
    rootfd = lock_root(root);
    if (rootfd < 0)
        return -1;
    if (clear_way(rootfd, p, name) < 0) {
        unlock_root(rootfd);
        return -1;
    }
    if (mkdirat(rootfd, name, 0700) < 0)
        err = -errno;
    else if ((p->dirfd = openat(rootfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
        err = -errno;
    else
        err = write_owner(p, false);
    unlock_root(rootfd);
    if (err < 0) {
        mtp_error("cannot create %s with its owner record: %s (is %s on a bpffs?)", p->dir,
                  strerror(-err), root);
        mtp_pins__release(p, false);
        return -1;
    }
    return 0;
}

int mtp_pins__pin(struct mtp_pins *p, struct bpf_object *obj)
{
    char path[64];
    int err = 0;

    for (size_t i = 0; i < sizeof(pinned_maps) / sizeof(pinned_maps[0]) && !err; i++) {
        struct bpf_map *map = bpf_object__find_map_by_name(obj, pinned_maps[i]);

        /* Through the directory's fd, not its path: what is pinned is where
         * the record is. */
        snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", p->dirfd, pinned_maps[i]);
        err = map ? bpf_map__pin(map, path) : -ENOENT;
    }
    if (err) {
        mtp_error("cannot pin maps under %s: %s", p->dir, strerror(-err));
        return -1;
    }
    p->pinned = true;
    return 0;
}

void mtp_pins__release(struct mtp_pins *p, bool keep)
{
    char name[16];
    int rootfd;

    if (p->dirfd < 0)
        return;
    if (keep && p->pinned) {
        if (write_owner(p, true) == 0)
            mtp_say("maps left pinned under %s (--keep-pins)", p->dir);
    } else {
        /* Under the lock, so that no run sees the directory without its
         * record and takes it for an older mtp-trace's. */
        snprintf(name, sizeof(name), "%d", p->pid);
        rootfd = open(p->root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (rootfd >= 0)
            flock(rootfd, LOCK_EX);
        unlink_maps(p->dirfd);
        unlinkat(p->dirfd, MTP_PIN_OWNER, 0);
        if (rootfd >= 0) {
            unlinkat(rootfd, name, AT_REMOVEDIR);
            unlock_root(rootfd);
        }
    }
    close(p->dirfd);
    p->dirfd = -1;
}
