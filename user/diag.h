/* SPDX-License-Identifier: MIT */
/*
 * What mtp-trace tells its user on stderr, one line at a time, each starting
 * "mtp-trace: ".  It knows nothing of the options or the session, so every
 * file may report without including the rest: functions return errors up,
 * and the one that knows the fix says it here.
 */
#ifndef MTP_DIAG_H
#define MTP_DIAG_H

#include <stdbool.h>

/* "mtp-trace: error: ...": why the run ends, and the fix. */
void mtp_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "mtp-trace: warning: ...": the run goes on, worse. */
void mtp_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "mtp-trace: ...": what the run is doing. */
void mtp_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Holds everything said from here on (libbpf's messages too) until
 * mtp_diag_release, which prints it when show, and drops it otherwise: for
 * an attempt whose failure may need no word (a process that exited while
 * it was being attached to). */
void mtp_diag_hold(void);
void mtp_diag_release(bool show);

/* Routes libbpf's messages to stderr, its debug ones only when verbose.
 * libbpf's printer is process-wide. */
void mtp_diag_libbpf(bool verbose);

#endif
