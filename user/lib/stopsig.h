/* SPDX-License-Identifier: MIT */
/*
 * The signals that would end mtp-trace, which it takes instead (through a
 * signalfd) so that it always unpins its maps first, and what each asks.
 * Pure.
 */
#ifndef MTP_STOPSIG_H
#define MTP_STOPSIG_H

#include <signal.h>
#include <stdbool.h>

/*
 * Fills set with every signal whose default action ends the process and
 * that can be caught without having been caused by a fault: SIGHUP,
 * SIGINT, SIGQUIT, SIGPIPE, SIGALRM, SIGTERM, SIGUSR1, SIGUSR2, SIGSTKFLT,
 * SIGXCPU, SIGXFSZ, SIGVTALRM, SIGPROF, SIGIO, SIGPWR and the real-time
 * signals.  (SIGKILL cannot be caught; a fault's SIGSEGV, SIGBUS, SIGFPE,
 * SIGILL, SIGTRAP, SIGSYS and abort()'s SIGABRT are a bug's: the next run
 * removes what they leave, by the pins' owner record.)
 */
void mtp_stop_signals(sigset_t *set);

enum mtp_signal_action {
    MTP_SIGNAL_STOP,    /* final reports, unpin, exit */
    MTP_SIGNAL_FORWARD, /* launch mode: pass it on to the program */
    MTP_SIGNAL_IGNORE,  /* launch mode: the program got it too, or it is our own */
};

/*
 * What a signal read from the signalfd asks.  launched: a program was
 * launched (launch mode); from_other: another process sent it (kill(2),
 * sigqueue(3)), not the kernel nor mtp-trace itself (a write to a closed
 * pipe raises SIGPIPE as if mtp-trace had sent it).
 */
enum mtp_signal_action mtp_signal_action(bool launched, bool from_other);

/* The exit status after tracing was stopped by signo (0: by none): 0 for
 * SIGINT and SIGTERM, the ways to ask a tracer to stop; 128 + signo for any
 * other, as a shell reports a process that signal killed. */
int mtp_signal_exit_code(int signo);

#endif
