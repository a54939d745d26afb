// SPDX-License-Identifier: MIT
#include "stopsig.h"

void mtp_stop_signals(sigset_t *set)
{
    static const int fatal[] = {SIGHUP,  SIGINT,    SIGQUIT, SIGPIPE,   SIGALRM,
                                SIGTERM, SIGUSR1,   SIGUSR2, SIGSTKFLT, SIGXCPU,
                                SIGXFSZ, SIGVTALRM, SIGPROF, SIGIO,     SIGPWR};

    sigemptyset(set);
    for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
        sigaddset(set, fatal[i]);
    for (int sig = SIGRTMIN; sig <= SIGRTMAX; sig++)
        sigaddset(set, sig);
}

enum mtp_signal_action mtp_signal_action(bool launched, bool from_other)
{
    if (!launched)
        return MTP_SIGNAL_STOP;
    /* The program ends tracing by exiting.  A terminal's Ctrl-C reached it
     * already, in our process group; a pipe that closed on us is ours,
     * and the program, which shares it, learns it on its next write. */
    return from_other ? MTP_SIGNAL_FORWARD : MTP_SIGNAL_IGNORE;
}

int mtp_signal_exit_code(int signo)
{
    if (signo == 0 || signo == SIGINT || signo == SIGTERM)
        return 0;
    return 128 + signo;
}
