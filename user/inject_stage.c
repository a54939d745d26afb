// SPDX-License-Identifier: MIT
#include "inject_stage.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "diag.h"

/* The seam: openat2 confined to the root dirfd stands for. */
static int open_in_root(int dirfd, const char *path, int flags, mode_t mode)
{
    struct open_how how = {
        .flags = (unsigned long long)(flags | O_CLOEXEC),
        .mode = (flags & O_CREAT) ? mode : 0,
        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };

    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

/* A name no one can guess: mtp-inject- and 8 random hex digits. */
static int random_name(char *out, size_t len)
{
    unsigned char r[4];

    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
        return -1;
    snprintf(out, len, "mtp-inject-%02x%02x%02x%02x", r[0], r[1], r[2], r[3]);
    return 0;
}

static int copy_bytes(int from, int to)
{
    char buf[65536];
    ssize_t n;

    while ((n = read(from, buf, sizeof(buf))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        for (ssize_t done = 0; done < n;) {
            ssize_t w = write(to, buf + done, (size_t)(n - done));
            if (w < 0 && errno != EINTR)
                return -1;
            done += w > 0 ? w : 0;
        }
    }
    return 0;
}

/* Our directory in the target's /tmp, made and opened. */
static int make_dir(struct mtp_stage *s, pid_t pid)
{
    char root[64];
    int rootfd;

    snprintf(root, sizeof(root), "/proc/%d/root", (int)pid);
    rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0) {
        mtp_error("cannot open %s: %s (is pid %d still running?)", root, strerror(errno), (int)pid);
        return -1;
    }
    s->tmpfd = open_in_root(rootfd, "/tmp", O_PATH | O_DIRECTORY, 0);
    close(rootfd);
    if (s->tmpfd < 0) {
        mtp_error("cannot open /tmp in pid %d's root: %s (the program needs a /tmp for --inject's "
                  "copy of the extension)",
                  (int)pid, strerror(errno));
        return -1;
    }
    if (random_name(s->name, sizeof(s->name)) < 0 || mkdirat(s->tmpfd, s->name, 0700) < 0) {
        mtp_error("cannot create a directory in pid %d's /tmp: %s", (int)pid, strerror(errno));
        s->name[0] = '\0';
        return -1;
    }
    s->dirfd = open_in_root(s->tmpfd, s->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
    if (s->dirfd < 0 || fchmod(s->dirfd, 0755) < 0) {
        mtp_error("cannot open the directory %s in pid %d's /tmp: %s", s->name, (int)pid,
                  strerror(errno));
        return -1;
    }
    return 0;
}

int mtp_stage__copy(struct mtp_stage *s, pid_t pid, const char *ext)
{
    const char *base = strrchr(ext, '/') ? strrchr(ext, '/') + 1 : ext;
    int from = -1, to = -1, rc = -1;

    memset(s, 0, sizeof(*s));
    s->tmpfd = s->dirfd = -1;
    s->active = true;
    snprintf(s->file, sizeof(s->file), "%s", base);
    if (make_dir(s, pid) < 0)
        goto out;
    from = open(ext, O_RDONLY | O_CLOEXEC);
    if (from < 0) {
        mtp_error("cannot read the extension %s: %s", ext, strerror(errno));
        goto out;
    }
    to = open_in_root(s->dirfd, s->file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0644);
    if (to < 0 || copy_bytes(from, to) < 0 || fchmod(to, 0644) < 0 || fsync(to) < 0) {
        mtp_error("cannot copy the extension into pid %d's /tmp/%s: %s (is its /tmp full or "
                  "read-only?)",
                  (int)pid, s->name, strerror(errno));
        goto out;
    }
    snprintf(s->path, sizeof(s->path), "/tmp/%s/%s", s->name, s->file);
    rc = 0;
out:
    if (from >= 0)
        close(from);
    if (to >= 0)
        close(to);
    if (rc < 0)
        mtp_stage__remove(s);
    return rc;
}

void mtp_stage__remove(struct mtp_stage *s)
{
    if (!s->active)
        return;
    if (s->dirfd >= 0) {
        unlinkat(s->dirfd, s->file, 0);
        close(s->dirfd);
    }
    if (s->tmpfd >= 0 && s->name[0])
        unlinkat(s->tmpfd, s->name, AT_REMOVEDIR);
    if (s->tmpfd >= 0)
        close(s->tmpfd);
    s->tmpfd = s->dirfd = -1;
    s->name[0] = '\0';
    s->active = false;
}
