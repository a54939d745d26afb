/* SPDX-License-Identifier: MIT */
/* The signals that would end mtp-trace: which it takes, what each asks. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <string.h>

#include "stopsig.h"

/* Every signal that would end mtp-trace and can be caught is taken; those
 * it cannot or must not block are not. */
static void test_stop_signals(void **state)
{
    static const int taken[] = {SIGHUP,  SIGINT,    SIGQUIT, SIGPIPE,   SIGALRM,
                                SIGTERM, SIGUSR1,   SIGUSR2, SIGSTKFLT, SIGXCPU,
                                SIGXFSZ, SIGVTALRM, SIGPROF, SIGIO,     SIGPWR};
    static const int left[] = {SIGKILL, SIGSTOP, SIGSEGV, SIGBUS,  SIGFPE,  SIGILL,
                               SIGTRAP, SIGABRT, SIGSYS,  SIGCHLD, SIGCONT, SIGWINCH,
                               SIGURG,  SIGTSTP, SIGTTIN, SIGTTOU};
    sigset_t set;

    (void)state;
    mtp_stop_signals(&set);
    for (size_t i = 0; i < sizeof(taken) / sizeof(taken[0]); i++)
        if (sigismember(&set, taken[i]) != 1)
            fail_msg("signal %d (%s) is not taken", taken[i], strsignal(taken[i]));
    for (size_t i = 0; i < sizeof(left) / sizeof(left[0]); i++)
        if (sigismember(&set, left[i]) != 0)
            fail_msg("signal %d (%s) is taken", left[i], strsignal(left[i]));
    for (int sig = SIGRTMIN; sig <= SIGRTMAX; sig++)
        assert_int_equal(sigismember(&set, sig), 1);
}

static void test_signal_actions_and_exit_codes(void **state)
{
    (void)state;
    /* tracing a --pid or --cgroup: any signal stops it */
    assert_int_equal(mtp_signal_action(false, true), MTP_SIGNAL_STOP);
    assert_int_equal(mtp_signal_action(false, false), MTP_SIGNAL_STOP);
    /* launch mode: another process's go to the program; our own pipe's,
     * and the terminal's (the program had them), are not acted on */
    assert_int_equal(mtp_signal_action(true, true), MTP_SIGNAL_FORWARD);
    assert_int_equal(mtp_signal_action(true, false), MTP_SIGNAL_IGNORE);

    assert_int_equal(mtp_signal_exit_code(0), 0);
    assert_int_equal(mtp_signal_exit_code(SIGINT), 0);
    assert_int_equal(mtp_signal_exit_code(SIGTERM), 0);
    assert_int_equal(mtp_signal_exit_code(SIGHUP), 129);
    assert_int_equal(mtp_signal_exit_code(SIGQUIT), 131);
    assert_int_equal(mtp_signal_exit_code(SIGUSR1), 138);
    assert_int_equal(mtp_signal_exit_code(SIGPIPE), 141);
    assert_int_equal(mtp_signal_exit_code(SIGALRM), 142);
    assert_int_equal(mtp_signal_exit_code(SIGRTMIN), 128 + SIGRTMIN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stop_signals),
        cmocka_unit_test(test_signal_actions_and_exit_codes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
