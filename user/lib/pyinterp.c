// SPDX-License-Identifier: MIT
#include "pyinterp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errmsg.h"

/* "3.11" at s, then what follows it in *rest.  0 or -1. */
static int parse_major_minor(const char *s, struct mtp_pyversion *v, const char **rest)
{
    char *end;
    long major, minor;

    if (s[0] < '0' || s[0] > '9')
        return -1;
    major = strtol(s, &end, 10);
    if (*end != '.' || end[1] < '0' || end[1] > '9')
        return -1;
    minor = strtol(end + 1, &end, 10);
    if (major < 2 || major > 9 || minor < 0 || minor > 99)
        return -1;
    v->major = (int)major;
    v->minor = (int)minor;
    v->freethreaded = false;
    *rest = end;
    return 0;
}

int mtp_pyversion_from_libname(const char *base, struct mtp_pyversion *v)
{
    const char *rest;

    if (strncmp(base, "libpython", 9) || parse_major_minor(base + 9, v, &rest) < 0)
        return -1;
    if (*rest == 't') {
        v->freethreaded = true;
        rest++;
    }
    while (*rest && *rest != '.') /* an old ABI flag: 3.7m */
        rest++;
    return strncmp(rest, ".so", 3) ? -1 : 0;
}

int mtp_pyversion_from_exename(const char *base, struct mtp_pyversion *v)
{
    const char *rest;

    if (strncmp(base, "python", 6) || parse_major_minor(base + 6, v, &rest) < 0)
        return -1;
    if (*rest == 't') {
        v->freethreaded = true;
        rest++;
    }
    return *rest ? -1 : 0;
}

void mtp_pyversion_from_hex(uint32_t hex, struct mtp_pyversion *v)
{
    v->major = (int)(hex >> 24);
    v->minor = (int)((hex >> 16) & 0xff);
    v->freethreaded = false;
}

int mtp_pyversion_supported(const struct mtp_pyversion *v, char *err, size_t errlen)
{
    if (v->major == 3 && v->minor >= 14) {
        /* 3.14's sys.remote_exec() is the interpreter's own way in; until it
         * is used here, guessing at 3.14's internals is worse than saying no. */
        mtp_set_err(err, errlen,
                    "Python %d.%d is not supported by --inject yet (3.14's sys.remote_exec is "
                    "not used yet): add 'import mtp' to the program, or start it with "
                    "'mtp-trace -- PROGRAM'",
                    v->major, v->minor);
        return -1;
    }
    if (v->major != 3 || v->minor < 9) {
        mtp_set_err(err, errlen, "Python %d.%d is not supported: mtp needs CPython 3.9-3.13",
                    v->major, v->minor);
        return -1;
    }
    if (v->freethreaded) {
        mtp_set_err(err, errlen,
                    "Python %d.%dt (free-threaded) is not supported: mtp needs a CPython with "
                    "the GIL",
                    v->major, v->minor);
        return -1;
    }
    return 0;
}

uint32_t mtp_crc32(const void *buf, size_t len)
{
    const unsigned char *p = buf;
    uint32_t crc = 0xffffffffu;

    for (size_t i = 0; i < len; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xedb88320u & -(crc & 1u));
    }
    return ~crc;
}

/* Cuts path at its last '/' (keeping "/" for the root); -1 with none. */
static int cut_last(char *path)
{
    char *slash = strrchr(path, '/');

    if (!slash)
        return -1;
    if (slash == path)
        slash[1] = '\0';
    else
        *slash = '\0';
    return 0;
}

int mtp_pyprefix_of(const char *path, bool is_exe, char *out, size_t len)
{
    char dir[4096];
    const char *last;

    if (path[0] != '/' || snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
        return -1;
    if (cut_last(dir) < 0) /* the file's directory: bin/ or lib/ */
        return -1;
    last = strrchr(dir, '/');
    if (!is_exe && last && strcmp(last, "/lib") && strstr(last, "-linux-")) {
        if (cut_last(dir) < 0) /* lib/x86_64-linux-gnu -> lib */
            return -1;
    }
    if (!strcmp(dir, "/") || cut_last(dir) < 0)
        return -1;
    return snprintf(out, len, "%s", dir) >= (int)len ? -1 : 0;
}

int mtp_path_in_root(const char *root, const char *path, char *out, size_t len)
{
    size_t n = strlen(root);

    while (n > 0 && root[n - 1] == '/')
        n--;
    if (n > 0 && !strncmp(path, root, n) && path[n] == '/')
        path += n;
    return snprintf(out, len, "%s", path) >= (int)len ? -1 : 0;
}

int mtp_pytag_format(const struct mtp_pyversion *v, const char *prefix, char *out, size_t len)
{
    int n = snprintf(out, len, "%d.%d-%08x", v->major, v->minor, mtp_crc32(prefix, strlen(prefix)));

    return n < 0 || (size_t)n >= len ? -1 : 0;
}
