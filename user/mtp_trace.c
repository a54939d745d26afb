// SPDX-License-Identifier: MIT
/*
 * mtp-trace: attach to a running Python program that imported mtp, fold its
 * object records into a BPF page temperature table, report it, and keep its
 * hottest pages on the fast memory tier.
 *
 * Shaped like bcc's libbpf-tools: parse the options, then open, configure,
 * load, attach, loop, destroy.  docs/ARCHITECTURE.md says where each part
 * lives.
 */
#include "cli.h"
#include "diag.h"
#include "loop.h"
#include "session.h"
#include "sysutil.h"
#include "tiering.h"

int main(int argc, char **argv)
{
    struct mtp_session session;
    struct mtp_cli cli;
    int rc;

    rc = mtp_cli__parse(&cli, argc, argv);
    if (rc)
        return rc;
    mtp_diag_libbpf(cli.opts.verbose);
    if (cli.opts.show_tiers)
        return mtp_tiering__show(&cli.opts);
    if (!mtp_have_bpf_caps()) {
        mtp_error("mtp-trace needs root, or CAP_BPF + CAP_PERFMON (+ CAP_SYS_PTRACE for other "
                  "users' processes): run it with sudo");
        return 1;
    }

    rc = mtp_session__open(&session, &cli.opts);
    if (!rc)
        rc = mtp_session__configure(&session);
    if (!rc)
        rc = mtp_session__load(&session);
    if (!rc)
        rc = mtp_session__attach(&session);
    if (!rc)
        rc = mtp_loop__run(&session, cli.config_path);
    mtp_session__destroy(&session);
    return rc ? 1 : 0;
}
