/* SPDX-License-Identifier: MIT */
/*
 * Where the extension builds are: build/py<TAG>/mtp<EXT_SUFFIX> beside this
 * mtp-trace, one per interpreter (the Makefile's PY_TAG, user/lib/pyinterp.h).
 * Launch mode hands the directory to its sitecustomize; --inject picks the
 * build for the target's interpreter.
 */
#ifndef MTP_PYBUILD_H
#define MTP_PYBUILD_H

#include <stddef.h>

/* The directory of this mtp-trace's executable.  0, or -1. */
int mtp_pybuild__dir(char *out, size_t len);

/*
 * The extension built for tag under build (mtp-trace's directory when
 * NULL): build/py<tag>/mtp*.so into out.  0, or -ENOENT when there is no
 * such build.
 */
int mtp_pybuild__extension(const char *build, const char *tag, char *out, size_t len);

#endif
