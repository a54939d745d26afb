/* SPDX-License-Identifier: MIT */
/*
 * The interval loop: sleeps until the next interval, a signal, a target's
 * exit or a setting from a program, and runs one interval when one is due
 * (user/lib/interval.c decides when).  Reads main's signal descriptor:
 * signals are the process's, not a session's.
 */
#ifndef MTP_LOOP_H
#define MTP_LOOP_H

#include "fleet.h"

/*
 * Traces the fleet's sessions until a signal on sigfd (main's, from
 * mtp_signals_block), --duration, or (unless it follows a cgroup) the exit
 * of the last one; each session ends with its final report.  In launch mode
 * (launched non-NULL) signals other processes send mtp-trace are passed on
 * to the program instead, and tracing ends when it exits, reaped.  0, or -1
 * after reporting an error; *stop_signal is the signal that stopped it, or
 * 0.
 */
int mtp_loop__run(struct mtp_fleet *f, int sigfd, struct mtp_launch *launched, int *stop_signal);

#endif
