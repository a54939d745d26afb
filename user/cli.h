/* SPDX-License-Identifier: MIT */
/*
 * The operator's settings: the --config file, then the command line, which
 * wins.  argp's options are made from the option table (user/lib/options.c);
 * this file only runs argp over them.
 */
#ifndef MTP_CLI_H
#define MTP_CLI_H

#include <limits.h>

#include "options.h"

struct mtp_cli {
    struct mtp_options opts;    /* checked as a whole (mtp_options_finish) */
    char config_path[PATH_MAX]; /* --config's file, or "": the startup line names it */
    char **launch;              /* launch mode: the program after "--" (argv's), or NULL */
};

/*
 * Fills cli from argv; what follows "--" is a program to launch.  Returns
 * 0, or the status to exit with: 2 for a bad config file, 64 for a missing
 * or conflicting target.  argp itself exits, after printing, for --help and --version
 * (0) and for a bad command line (64).
 */
int mtp_cli__parse(struct mtp_cli *cli, int argc, char **argv);

#endif
