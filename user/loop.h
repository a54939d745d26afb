/* SPDX-License-Identifier: MIT */
/*
 * The interval loop: sleeps until the next interval, a signal, the target's
 * exit or a setting from the program, and runs one interval when one is due
 * (user/lib/interval.c decides when).  Owns the signal descriptor, which is
 * the process's, not a session's.
 */
#ifndef MTP_LOOP_H
#define MTP_LOOP_H

#include "session.h"

/*
 * Traces an attached session until a signal, the target's exit or
 * --duration, ending with the final report.  config_path (or "") is named in
 * the startup line.  0, or -1 after reporting an error.
 */
int mtp_loop__run(struct mtp_session *s, const char *config_path);

#endif
