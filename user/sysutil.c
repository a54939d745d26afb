// SPDX-License-Identifier: MIT
#include "sysutil.h"

#include "stopsig.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <limits.h>
#include <linux/magic.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

/* Reads fd to its end into a malloc'd NUL-terminated buffer and closes it. */
static ssize_t read_all(int fd, char **out)
{
    size_t cap = 16384, len = 0;
    char *buf = malloc(cap);

    *out = NULL;
    if (!buf) {
        close(fd);
        return -ENOMEM;
    }
    for (;;) {
        ssize_t n;

        if (len + 1 >= cap) {
            char *bigger = realloc(buf, cap * 2);
            if (!bigger) {
                free(buf);
                close(fd);
                return -ENOMEM;
            }
            buf = bigger;
            cap *= 2;
        }
        n = read(fd, buf + len, cap - len - 1);
        if (n < 0) {
            int err = -errno;
            if (errno == EINTR)
                continue;
            free(buf);
            close(fd);
            return err;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    *out = buf;
    return (ssize_t)len;
}

ssize_t mtp_read_file(const char *path, char **out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    *out = NULL;
    return fd < 0 ? -errno : read_all(fd, out);
}

ssize_t mtp_read_file_stat(const char *path, char **out, struct stat *st)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    *out = NULL;
    if (fd < 0)
        return -errno;
    if (fstat(fd, st) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    return read_all(fd, out);
}

int mtp_ensure_bpffs(const char *dir)
{
    struct statfs st;

    if (statfs(dir, &st) == 0 && st.f_type == BPF_FS_MAGIC)
        return 0;
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return -errno;
    if (mount("bpf", dir, "bpf", 0, "mode=0700") < 0)
        return -errno;
    return 0;
}

int mtp_on_bpffs(const char *path, long *magic)
{
    char at[PATH_MAX];
    struct statfs st;

    snprintf(at, sizeof(at), "%s", path);
    *magic = 0;
    for (;;) {
        char *slash;

        if (statfs(at, &st) == 0) {
            *magic = (long)st.f_type;
            return st.f_type == BPF_FS_MAGIC;
        }
        slash = strrchr(at, '/');
        if (errno != ENOENT || !slash)
            return -errno;
        if (slash == at) {
            at[1] = '\0'; /* the root itself */
            if (statfs(at, &st) < 0)
                return -errno;
            *magic = (long)st.f_type;
            return st.f_type == BPF_FS_MAGIC;
        }
        *slash = '\0';
    }
}

int mtp_mkdir_p(const char *path)
{
    char buf[4096];
    size_t len = strlen(path);

    if (len == 0 || len >= sizeof(buf))
        return -ENAMETOOLONG;
    memcpy(buf, path, len + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0700) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(buf, 0700) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

static int has_cap(const struct __user_cap_data_struct *data, int cap)
{
    return (data[cap / 32].effective >> (cap % 32)) & 1;
}

int mtp_have_cap(int cap)
{
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

    memset(data, 0, sizeof(data));
    if (syscall(SYS_capget, &hdr, data) < 0)
        return geteuid() == 0;
    return has_cap(data, cap);
}

int mtp_have_bpf_caps(void)
{
    return mtp_have_cap(CAP_SYS_ADMIN) || (mtp_have_cap(CAP_BPF) && mtp_have_cap(CAP_PERFMON));
}

int mtp_pidfd_open(pid_t pid)
{
    long fd = syscall(SYS_pidfd_open, pid, 0);

    return fd < 0 ? -errno : (int)fd;
}

int mtp_fd_readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};

    return poll(&p, 1, 0) > 0 && (p.revents & POLLIN);
}

int mtp_signals_block(void)
{
    sigset_t set;
    int fd;

    mtp_stop_signals(&set);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        return -errno;
    fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    return fd < 0 ? -errno : fd;
}

int mtp_user_name(uid_t uid, char *out, size_t len)
{
    struct passwd pw, *found = NULL;
    char buf[1024];

    if (getpwuid_r(uid, &pw, buf, sizeof(buf), &found) != 0 || !found)
        return -1;
    snprintf(out, len, "%s", pw.pw_name);
    return 0;
}

double mtp_now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}
