// SPDX-License-Identifier: MIT
/*
 * mtp-trace: attach to running Python programs that imported mtp, fold their
 * object records into a BPF page temperature table per process, report
 * them, and keep each one's hottest pages on the fast memory tier.
 *
 * Shaped like bcc's libbpf-tools: parse the options, then open, configure,
 * load, attach, loop, destroy.  docs/ARCHITECTURE.md says where each part
 * lives.
 */
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "diag.h"
#include "fleet.h"
#include "launch.h"
#include "loop.h"
#include "stopsig.h"
#include "sysutil.h"
#include "tiering.h"

int main(int argc, char **argv)
{
    struct mtp_launch launched = {.pidfd = -1};
    struct mtp_fleet fleet;
    struct mtp_cli cli;
    int rc, sigfd, stop_signal = 0;

    rc = mtp_cli__parse(&cli, argc, argv);
    if (rc)
        return rc;
    mtp_diag_libbpf(cli.opts.verbose);
    if (cli.opts.show_tiers)
        return mtp_tiering__show(&cli.opts);
    if (!mtp_have_bpf_caps()) {
        mtp_error("mtp-trace needs root, or CAP_SYS_ADMIN and CAP_SYS_PTRACE (CAP_BPF + "
                  "CAP_PERFMON load its BPF programs, but the uprobes it attaches need "
                  "CAP_SYS_ADMIN on kernels up to at least 6.18; CAP_SYS_PTRACE reads and moves "
                  "the memory of root's programs): run it with sudo, or see 'Privileges' in the "
                  "README");
        return 1;
    }

    if (cli.config_path[0])
        mtp_say("settings from %s", cli.config_path);
    /* Signals wait on a descriptor from here on, so that a Ctrl-C between
     * launching the program and tracing it cannot stop mtp-trace alone. */
    sigfd = mtp_signals_block();
    if (sigfd < 0) {
        mtp_error("cannot set up signal handling: %s", strerror(-sigfd));
        return 1;
    }
    /* Each session opens, configures, loads and attaches as its process is
     * found (user/fleet.c); the loop runs them all; destroy ends them. */
    if (cli.launch) {
        rc = mtp_launch__start(&launched, cli.launch);
        if (!rc)
            mtp_fleet__follow(&fleet, &cli.opts, &launched, mtp_now_s());
    } else {
        rc = mtp_fleet__open(&fleet, &cli.opts, mtp_now_s());
    }
    if (!rc)
        rc = mtp_loop__run(&fleet, sigfd, cli.launch ? &launched : NULL, &stop_signal);
    mtp_fleet__destroy(&fleet);
    close(sigfd);
    if (cli.launch) {
        mtp_launch__destroy(&launched);
        return launched.pid ? mtp_launch__exit_code(&launched) : 127;
    }
    return rc ? 1 : mtp_signal_exit_code(stop_signal);
}
