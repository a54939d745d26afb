// SPDX-License-Identifier: MIT
#include "cli.h"

#include <argp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
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

/* argp's input: the settings the command line gives, kept in its order
 * until the end, when the config file has been applied under them. */
struct cli_parse {
    struct mtp_cli *cli;
    struct {
        const char *name, *value;
    } * given;
    size_t len, cap;
    bool config_given;
    int status; /* the exit status of an error found at the end */
};

/* --config's file, once: the file's settings first, so the command line
 * wins.  0, or -1 after saying why (exit status 2). */
static int load_config_file(struct mtp_cli *cli)
{
    const char *path = cli->config_path;
    char err[512], *text = NULL, owner_name[64] = "";
    struct mtp_config_stat cst;
    struct stat st;
    ssize_t n;
    int rc;

    n = mtp_read_file_stat(path, &text, &st);
    if (n < 0) {
        mtp_error("cannot read config file %s: %s", path, strerror((int)-n));
        return -1;
    }
    cst = (struct mtp_config_stat){.uid = st.st_uid, .gid = st.st_gid, .mode = st.st_mode};
    if (mtp_user_name(st.st_uid, owner_name, sizeof(owner_name)) == 0)
        cst.owner = owner_name;
    rc = mtp_config_check_owner(path, &cst, (unsigned)geteuid(), err, sizeof(err));
    if (rc == 0)
        rc = mtp_config_check_text(text, (size_t)n, path, err, sizeof(err));
    if (rc == 0)
        rc = mtp_options_load_ini(&cli->opts, text, path, err, sizeof(err));
    free(text);
    if (rc < 0) {
        mtp_error("%s", err);
        return -1;
    }
    return 0;
}

/* Keeps a setting of the command line for the end.  0, or ENOMEM. */
static int keep_given(struct cli_parse *ps, const char *name, const char *value)
{
    if (ps->len == ps->cap) {
        size_t cap = ps->cap ? ps->cap * 2 : 16;
        void *v = realloc(ps->given, cap * sizeof(*ps->given));

        if (!v)
            return ENOMEM;
        ps->given = v;
        ps->cap = cap;
    }
    ps->given[ps->len].name = name;
    ps->given[ps->len++].value = value;
    return 0;
}

/* --config FILE, or any prefix argp takes for it (--conf): never ignored,
 * never one file silently in place of another. */
static void take_config(struct cli_parse *ps, const char *arg, struct argp_state *state)
{
    struct mtp_cli *cli = ps->cli;

    if (ps->config_given) {
        mtp_say("--config given twice (%s, then %s): give one file", cli->config_path, arg);
        argp_usage(state);
    }
    if (!*arg || strlen(arg) >= sizeof(cli->config_path)) {
        mtp_say("invalid config '%s': give the path of an INI file", arg);
        argp_usage(state);
    }
    ps->config_given = true;
    snprintf(cli->config_path, sizeof(cli->config_path), "%s", arg);
}

/* The end of the command line: the config file, then the command line's
 * settings in their order, then the checks of the whole. */
static error_t parse_end(struct cli_parse *ps, struct argp_state *state)
{
    struct mtp_options *o = &ps->cli->opts;
    char err[256];

    if (ps->config_given && load_config_file(ps->cli) < 0) {
        ps->status = 2;
        return EINVAL;
    }
    for (size_t i = 0; i < ps->len; i++) {
        if (mtp_options_set(o, MTP_FROM_CLI, ps->given[i].name, ps->given[i].value, err,
                            sizeof(err)) < 0) {
            mtp_say("%s", err);
            argp_usage(state);
        }
    }
    if (mtp_options_finish(o, err, sizeof(err)) < 0) {
        mtp_say("%s", err);
        argp_usage(state);
    }
    return 0;
}

/* Whether the command line gave the flag name so far. */
static bool given_flag(const struct cli_parse *ps, const char *name)
{
    for (size_t i = 0; i < ps->len; i++)
        if (!strcmp(ps->given[i].name, name))
            return true;
    return false;
}

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
    struct cli_parse *ps = state->input;
    const struct mtp_option *opt;

    switch (key) {
    case ARGP_KEY_ARG:
        /* --top took a count before it was the live view: say where the
         * count went rather than leave "10" a mystery. */
        if (given_flag(ps, "top") && arg[0] && strspn(arg, "0123456789") == strlen(arg))
            mtp_say("unexpected argument '%s': --top takes no count now (it is the live view); "
                    "the hottest pages to list are --top-pages %s",
                    arg, arg);
        else
            mtp_say("unexpected argument '%s'", arg);
        argp_usage(state);
        break;
    case ARGP_KEY_END:
        return parse_end(ps, state);
    default:
        opt = option_of_key(key);
        if (!opt)
            return ARGP_ERR_UNKNOWN;
        if (!opt->parse) /* not a setting: --config */
            take_config(ps, arg, state);
        else if (keep_given(ps, opt->name, arg))
            return ENOMEM;
        break;
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
    struct cli_parse ps = {.cli = cli};
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
    options = argp_options_new();
    if (!options) {
        mtp_error("out of memory");
        return 1;
    }
    argp.options = options;
    err = argp_parse(&argp, argc, argv, 0, NULL, &ps);
    free(options);
    free(ps.given);
    if (err == ENOMEM)
        mtp_error("out of memory");
    return err ? (ps.status ? ps.status : 1) : check_target(cli);
}
