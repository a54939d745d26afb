// SPDX-License-Identifier: MIT
#include "pybuild.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int mtp_pybuild__dir(char *out, size_t len)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    char *slash;

    if (n <= 0)
        return -1;
    exe[n] = '\0';
    slash = strrchr(exe, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    snprintf(out, len, "%s", exe);
    return 0;
}

int mtp_pybuild__extension(const char *build, const char *tag, char *out, size_t len)
{
    char own[PATH_MAX], dir[PATH_MAX];
    struct dirent *d;
    DIR *builds;
    int rc = -ENOENT;

    if (!build) {
        if (mtp_pybuild__dir(own, sizeof(own)) < 0)
            return -ENOENT;
        build = own;
    }
    if (snprintf(dir, sizeof(dir), "%s/py%s", build, tag) >= (int)sizeof(dir))
        return -ENOENT;
    builds = opendir(dir);
    if (!builds)
        return -ENOENT;
    /* One extension per build directory: its name carries the EXT_SUFFIX. */
    while ((d = readdir(builds))) {
        size_t n = strlen(d->d_name);

        if (strncmp(d->d_name, "mtp", 3) || n < 6 || strcmp(d->d_name + n - 3, ".so") ||
            (d->d_name[3] != '.'))
            continue;
        if (snprintf(out, len, "%s/%s", dir, d->d_name) < (int)len && !access(out, R_OK))
            rc = 0;
        break;
    }
    closedir(builds);
    return rc;
}
