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
#include "output.h"
#include "stopsig.h"
#include "sysutil.h"
#include "tiering.h"

/* --prom-file and --record, found writable now rather than after the
 * attach.  0, or -1 after saying why not. */
static int open_outputs(const struct mtp_options *o, FILE **record)
{
    int rc;

    *record = NULL;
    /* an empty file is a valid one */
    if (o->prom_file[0] && (rc = mtp_output__prom(o->prom_file, NULL, 0)) < 0) {
        mtp_error("cannot write --prom-file %s: %s (its directory must exist and be writable "
                  "by mtp-trace; node_exporter's textfile directory is given by its "
                  "--collector.textfile.directory)",
                  o->prom_file, strerror(-rc));
        return -1;
    }
    if (o->prom_file[0])
        mtp_say("Prometheus metrics in %s, rewritten each interval", o->prom_file);
    if (!o->record[0])
        return 0;
    *record = fopen(o->record, "we");
    if (!*record) {
        mtp_error("cannot write --record %s: %s (its directory must exist and be writable by "
                  "mtp-trace)",
                  o->record, strerror(errno));
        return -1;
    }
    mtp_say("recording every interval to %s (draw it with: mtp-report %s -o mtp.png)", o->record,
            o->record);
    return 0;
}

int main(int argc, char **argv)
{
    struct mtp_launch launched = {.pidfd = -1};
    struct mtp_fleet fleet;
    struct mtp_cli cli;
    FILE *record;
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

    if (open_outputs(&cli.opts, &record) < 0)
        return 1;
    if (cli.config_path[0])
        mtp_say("settings from %s", cli.config_path);
    /* Signals wait on a descriptor from here on, so that a Ctrl-C between
     * launching the program and tracing it cannot stop mtp-trace alone. */
    sigfd = mtp_signals_block();
    if (sigfd < 0) {
        mtp_error("cannot set up signal handling: %s", strerror(-sigfd));
        if (record)
            fclose(record);
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
    fleet.record = record;
    if (!rc)
        rc = mtp_loop__run(&fleet, sigfd, cli.launch ? &launched : NULL, &stop_signal);
    mtp_fleet__destroy(&fleet);
    if (record && fclose(record) != 0 && !rc) {
        mtp_error("cannot write --record %s: %s", cli.opts.record, strerror(errno));
        rc = -1;
    }
    close(sigfd);
    if (cli.launch) {
        mtp_launch__destroy(&launched);
        return launched.pid ? mtp_launch__exit_code(&launched) : 127;
    }
    return rc ? 1 : mtp_signal_exit_code(stop_signal);
}
