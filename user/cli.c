// SPDX-License-Identifier: MIT
#include "cli.h"

#include <argp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "sysutil.h"

/* argp's interface: it prints this for --version.  Never written. */
const char *argp_program_version = "mtp-trace 0.2";

static const char argp_doc[] =
    "mtp-trace: page temperature and memory tiering for a running Python program.\n"
    "\n"
    "The programs must have imported the mtp extension ('import mtp'), be\n"
    "started by mtp-trace (launch mode, below), or be given it (--inject).\n"
    "mtp-trace attaches to their USDT probes, folds object records into a BPF\n"
    "page temperature map per process pinned at PIN_ROOT/PID/pages, and prints\n"
    "one line per process and interval until Ctrl-C, --duration, or the\n"
    "programs' exit.\n"
    "When the machine has a fast and a slow memory tier, it also keeps each\n"
    "process's hottest pages on the fast tier within its --fast-budget and demotes\n"
    "cold pages lazily to the slow one.\n"
    "\n"
    "Sizes take K/M/G/T suffixes (binary) or a % of the process's resident memory;\n"
    "durations take ms/s/m suffixes (default seconds); rates are MiB/s.\n"
    "\n"
    "With a program after '--' (launch mode), mtp-trace starts it with mtp\n"
    "imported from its first line, traces it and its descendants, passes\n"
    "signals on, and exits with its exit status.\n"
    "\n"
    "With --inject, mtp-trace loads mtp into --pid/--cgroup Python processes\n"
    "that did not import it (through gdb, at the interpreter's next safe point).\n"
    "\n"
    "EXAMPLES:\n"
    "    sudo mtp-trace --pid $(pgrep -d, -f gunicorn)    # master skipped: no mtp\n"
    "    sudo mtp-trace --cgroup system.slice/myservice.service\n"
    "    sudo mtp-trace --inject --pid 1234        # a program without 'import mtp'\n"
    "    sudo mtp-trace --json -- python3 app.py --port 8000\n"
    "    sudo mtp-trace -p 1234 --fast-budget 2G --max-rate 50 --json\n"
    "    sudo mtp-trace -p 1234 --dry-run            # decide, print, move nothing\n"
    "    sudo mtp-trace --show-tiers\n"
    "    sudo bpftool map dump pinned /sys/fs/bpf/mtp/1234/pages   # while it runs\n";

/* A long-only option's argp key is this plus its row in the table, so keys
 * are unique by construction; short options are their own keys. */
#define LONG_KEY_BASE 0x100

static int argp_key(size_t row)
{
    return mtp_option_table[row].key ? mtp_option_table[row].key : LONG_KEY_BASE + (int)row;
}

static const struct mtp_option *option_of_key(int key)
{
    for (size_t i = 0; i < mtp_option_count; i++)
        if (argp_key(i) == key)
            return &mtp_option_table[i];
    return NULL;
}

/* The table as argp wants it: each group's heading, then its options (argp
 * sorts them by name), then a zeroed terminator.  The caller frees it. */
static struct argp_option *argp_options_new(void)
{
    struct argp_option *v = calloc(mtp_option_count + MTP_GROUP_LAST + 1, sizeof(*v));
    size_t k = 0;

    if (!v)
        return NULL;
    for (int g = MTP_GROUP_TRACING; g <= MTP_GROUP_LAST; g++) {
        v[k++] = (struct argp_option){.doc = mtp_option_group_title(g), .group = g};
        for (size_t i = 0; i < mtp_option_count; i++) {
            const struct mtp_option *r = &mtp_option_table[i];

            if ((int)r->group == g)
                v[k++] = (struct argp_option){
                    .name = r->name, .key = argp_key(i), .arg = r->arg, .doc = r->doc, .group = g};
        }
    }
    return v;
}

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
    struct mtp_options *o = state->input;
    const struct mtp_option *opt;
    char err[256];

    switch (key) {
    case ARGP_KEY_ARG:
        mtp_say("unexpected argument '%s'", arg);
        argp_usage(state);
        break;
    case ARGP_KEY_END:
        if (mtp_options_finish(o, err, sizeof(err)) < 0) {
            mtp_say("%s", err);
            argp_usage(state);
        }
        break;
    default:
        opt = option_of_key(key);
        if (!opt)
            return ARGP_ERR_UNKNOWN;
        if (!opt->parse)
            break; /* not a setting: --config was read before argp ran */
        if (mtp_options_set(o, MTP_FROM_CLI, opt->name, arg, err, sizeof(err)) < 0) {
            mtp_say("%s", err);
            argp_usage(state);
        }
        break;
    }
    return 0;
}

/* --config must apply before the command line so the command line wins; find
 * it without argp, which would apply everything in order. */
static int load_config_file(struct mtp_cli *cli, int argc, char **argv)
{
    char err[512], *text = NULL;
    const char *path = NULL;
    ssize_t n;
    int rc;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--config") && i + 1 < argc)
            path = argv[i + 1];
        else if (!strncmp(argv[i], "--config=", 9))
            path = argv[i] + 9;
    }
    if (!path)
        return 0;
    snprintf(cli->config_path, sizeof(cli->config_path), "%s", path);
    n = mtp_read_file(path, &text);
    if (n < 0) {
        mtp_error("cannot read config file %s: %s", path, strerror((int)-n));
        return -1;
    }
    rc = mtp_options_load_ini(&cli->opts, text, path, err, sizeof(err));
    free(text);
    if (rc < 0) {
        mtp_error("%s", err);
        return -1;
    }
    return 0;
}

/* What to trace: one of --pid, --cgroup, a program after "--". */
static int check_target(const struct mtp_cli *cli)
{
    const struct mtp_options *o = &cli->opts;
    const char *fix = NULL;

    if (o->show_tiers)
        return 0;
    if (cli->launch && !cli->launch[0])
        fix = "nothing to launch after '--': give the program, e.g. -- python3 app.py";
    else if (cli->launch && (o->pids.len || o->cgroup[0]))
        fix = "launch mode traces the program it starts: drop --pid and --cgroup, or the "
              "program after '--'";
    else if (cli->launch && o->inject)
        fix = "launch mode imports mtp itself: drop --inject, or use it with --pid or --cgroup";
    else if (!cli->launch && o->pids.len == 0 && !o->cgroup[0])
        fix = "--pid, --cgroup or a program after '--' is required, e.g. --pid $(pgrep -d, -f "
              "myservice) or -- python3 app.py";
    if (!fix)
        return 0;
    mtp_say("%s", fix);
    fprintf(stderr, "Try `mtp-trace --help' for more information.\n");
    return 64;
}

int mtp_cli__parse(struct mtp_cli *cli, int argc, char **argv)
{
    struct argp argp = {.parser = parse_arg, .doc = argp_doc, .args_doc = "[-- PROGRAM [ARG...]]"};
    struct argp_option *options;
    int err;

    memset(cli, 0, sizeof(*cli));
    /* Everything after "--" is the program's own command line, untouched
     * by argp. */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--")) {
            cli->launch = &argv[i + 1];
            argv[i] = NULL;
            argc = i;
            break;
        }
    }
    mtp_options_default(&cli->opts);
    if (load_config_file(cli, argc, argv) < 0)
        return 2;
    options = argp_options_new();
    if (!options) {
        mtp_error("out of memory");
        return 1;
    }
    argp.options = options;
    err = argp_parse(&argp, argc, argv, 0, NULL, &cli->opts);
    free(options);
    return err ? 2 : check_target(cli);
}
