/* SPDX-License-Identifier: MIT */
/* Thin, named seams over the system calls mtp-trace makes. */
#ifndef MTP_SYSUTIL_H
#define MTP_SYSUTIL_H

#include <stddef.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Reads a whole (proc/sys) file into a malloc'd NUL-terminated buffer.
 * Returns the length, or -errno. */
ssize_t mtp_read_file(const char *path, char **out);

/* mtp_read_file, with the status of the file it opened (fstat): what is
 * checked is what was read, even if the path changes meanwhile. */
ssize_t mtp_read_file_stat(const char *path, char **out, struct stat *st);

/* Mounts bpffs at /sys/fs/bpf when it is not mounted yet, as bpftool does.
 * Returns 0 or -errno. */
int mtp_ensure_bpffs(const char *dir);

/* Whether path, or the nearest of its ancestors that exists, is on a bpffs:
 * 1 or 0, with the filesystem's magic in *magic; -errno when that cannot be
 * told (-EACCES: a directory on the way is closed to this user). */
int mtp_on_bpffs(const char *path, long *magic);

/* mkdir -p with mode 0700.  Returns 0 or -errno. */
int mtp_mkdir_p(const char *path);

/* True when the caller can load BPF tracing programs: CAP_SYS_ADMIN, or
 * CAP_BPF with CAP_PERFMON (uprobes may still want CAP_SYS_ADMIN). */
int mtp_have_bpf_caps(void);

/* True when capability cap (CAP_*) is in this process's effective set. */
int mtp_have_cap(int cap);

/* A pollable handle that becomes readable when pid exits, or -errno. */
int mtp_pidfd_open(pid_t pid);

/* True when fd is readable now (a pidfd: its process has exited). */
int mtp_fd_readable(int fd);

/* Blocks every signal that would end mtp-trace and can be caught
 * (mtp_stop_signals) and returns a signalfd that reads them, so that a stop
 * is one more descriptor to poll and never skips the unpinning; or -errno.
 * Children reset their mask before exec. */
int mtp_signals_block(void);

/* The name of the user with this uid (getpwuid_r) into out.  0, or -1 when
 * there is none. */
int mtp_user_name(uid_t uid, char *out, size_t len);

/* Seconds on the monotonic clock. */
double mtp_now_s(void);

#endif
