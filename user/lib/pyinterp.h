/* SPDX-License-Identifier: MIT */
/*
 * Which CPython a process runs, from what can be seen of it from outside:
 * its libpython's file name, its Py_Version (3.11+), its executable's name;
 * and the tag of the extension build that matches it.  The tag is the
 * Makefile's PY_TAG, "MAJOR.MINOR-CRC32(sys.prefix)" (launch mode's
 * sitecustomize computes the same in Python).  Pure.
 */
#ifndef MTP_PYINTERP_H
#define MTP_PYINTERP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mtp_pyversion {
    int major, minor;
    bool freethreaded; /* a 't' ABI (3.13t): another extension ABI */
};

/* "libpython3.11.so.1.0", "libpython3.13t.so" -> 3.11, 3.13t.  0 or -1. */
int mtp_pyversion_from_libname(const char *base, struct mtp_pyversion *v);

/* "python3.11" -> 3.11 ("python3" alone says too little).  0 or -1. */
int mtp_pyversion_from_exename(const char *base, struct mtp_pyversion *v);

/* Py_Version's value, PY_VERSION_HEX (0x030b04f0 -> 3.11). */
void mtp_pyversion_from_hex(uint32_t hex, struct mtp_pyversion *v);

/* Whether --inject supports it: CPython 3.9-3.13 with the GIL.  0, or -1
 * with the reason in err. */
int mtp_pyversion_supported(const struct mtp_pyversion *v, char *err, size_t errlen);

/* zlib's crc32 (the Makefile's zlib.crc32). */
uint32_t mtp_crc32(const void *buf, size_t len);

/*
 * sys.prefix as CPython derives it from where its files are: an
 * executable's directory's parent (/usr/bin/python3.11 -> /usr), or a
 * libpython's lib directory's parent, multiarch dir skipped
 * (/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0 -> /usr).  A venv's
 * executable resolves to its base interpreter's, whose build this is.
 * 0, or -1 for a path with too few directories or that does not fit.
 */
int mtp_pyprefix_of(const char *path, bool is_exe, char *out, size_t len);

/*
 * A path the kernel printed for another process (/proc/PID/exe, maps) as
 * that process sees it: the kernel prints it from the reader's root, so a
 * chroot'ed target's /usr/bin/python3 reads /srv/jail/usr/bin/python3 when
 * its root (/proc/PID/root) is /srv/jail.  Paths outside that root, and
 * every path when the root is "/", are left as they are.  0, or -1 when it
 * does not fit.
 */
int mtp_path_in_root(const char *root, const char *path, char *out, size_t len);

/* The build tag "3.11-3136f0ea" into out.  0, or -1 when it does not fit. */
int mtp_pytag_format(const struct mtp_pyversion *v, const char *prefix, char *out, size_t len);

#endif
