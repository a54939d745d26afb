// SPDX-License-Identifier: MIT
/*
 * mtp-trace: attach to a running Python program that imported mtp, fold its
 * object records into a BPF page temperature table, and report it.
 *
 * Shape follows bcc's libbpf-tools: argp, open skeleton, set rodata and map
 * sizes, load, attach, poll, destroy.
 */
#include <argp.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "mtp_abi.h"
#include "mtp_trace.skel.h"
#include "procmaps.h"
#include "report.h"
#include "sysutil.h"

#define MTP_DEFAULT_PIN_ROOT  "/sys/fs/bpf/mtp"
#define MTP_DEFAULT_MAX_PAGES (4u << 20) /* 16 GiB of 4 KiB pages */

static struct mtp_trace_opts {
    pid_t pid;
    double interval_s;
    double duration_s; /* 0 = until Ctrl-C or the target exits */
    int json;
    int keep_pins;
    int verbose;
    unsigned int top;
    uint32_t max_pages;
    const char *pin_root;
} opts = {
    .interval_s = 1.0,
    .top = 10,
    .max_pages = MTP_DEFAULT_MAX_PAGES,
    .pin_root = MTP_DEFAULT_PIN_ROOT,
};

const char *argp_program_version = "mtp-trace 0.1";
static const char argp_doc[] =
    "mtp-trace: page temperature of a running Python program.\n"
    "\n"
    "The program must have imported the mtp extension ('import mtp').  mtp-trace\n"
    "attaches to its USDT probes, folds object records into a BPF page\n"
    "temperature map pinned at PIN_ROOT/PID/pages, and prints one line per\n"
    "interval until Ctrl-C, --duration, or the program's exit.\n"
    "\n"
    "EXAMPLES:\n"
    "    sudo mtp-trace --pid $(pgrep -f gunicorn)\n"
    "    sudo mtp-trace -p 1234 --interval 0.5 --duration 30 --json\n"
    "    sudo bpftool map dump pinned /sys/fs/bpf/mtp/1234/pages   # while it runs\n";

enum {
    OPT_JSON = 0x100,
    OPT_KEEP_PINS,
    OPT_MAX_PAGES,
    OPT_TOP,
    OPT_PIN_ROOT,
};

static const struct argp_option argp_options[] = {
    {"pid", 'p', "PID", 0, "Python process to trace (required)", 0},
    {"interval", 'i', "SECONDS", 0, "Seconds between reports (default 1)", 0},
    {"duration", 'd', "SECONDS", 0, "Stop after this many seconds (default: run until stopped)", 0},
    {"json", OPT_JSON, NULL, 0, "Print one JSON object per interval (fields: see README)", 0},
    {"keep-pins", OPT_KEEP_PINS, NULL, 0, "Leave the pinned maps in place on exit", 0},
    {"max-pages", OPT_MAX_PAGES, "N", 0, "Capacity of the page map (default 4194304)", 0},
    {"top", OPT_TOP, "N", 0, "Hottest pages to list when tracing stops (default 10)", 0},
    {"pin-root", OPT_PIN_ROOT, "DIR", 0, "Where to pin maps (default /sys/fs/bpf/mtp)", 0},
    {"verbose", 'v', NULL, 0, "Print libbpf's debug output", 0},
    {},
};

static int parse_seconds(const char *arg, const char *what, double *out, int allow_zero)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(arg, &end);
    if (errno || end == arg || *end != '\0' || v != v || v < 0 || (!allow_zero && v == 0) ||
        v > 86400.0 * 365) {
        fprintf(stderr, "mtp-trace: invalid %s '%s': give a positive number of seconds, e.g. 0.5\n",
                what, arg);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_uint(const char *arg, const char *what, unsigned long min, unsigned long max,
                      unsigned long *out)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(arg, &end, 10);
    if (errno || end == arg || *end != '\0' || arg[0] == '-' || v < min || v > max) {
        fprintf(stderr, "mtp-trace: invalid %s '%s': give a whole number from %lu to %lu\n", what,
                arg, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
    unsigned long v;

    switch (key) {
    case 'p':
        if (parse_uint(arg, "pid", 1, INT_MAX, &v) < 0)
            argp_usage(state);
        opts.pid = (pid_t)v;
        break;
    case 'i':
        if (parse_seconds(arg, "interval", &opts.interval_s, 0) < 0)
            argp_usage(state);
        if (opts.interval_s < 0.01) {
            fprintf(stderr, "mtp-trace: --interval must be at least 0.01 s\n");
            argp_usage(state);
        }
        break;
    case 'd':
        if (parse_seconds(arg, "duration", &opts.duration_s, 0) < 0)
            argp_usage(state);
        break;
    case OPT_JSON:
        opts.json = 1;
        break;
    case OPT_KEEP_PINS:
        opts.keep_pins = 1;
        break;
    case OPT_MAX_PAGES:
        if (parse_uint(arg, "--max-pages", 1024, 1u << 28, &v) < 0)
            argp_usage(state);
        opts.max_pages = (uint32_t)v;
        break;
    case OPT_TOP:
        if (parse_uint(arg, "--top", 0, 10000, &v) < 0)
            argp_usage(state);
        opts.top = (unsigned int)v;
        break;
    case OPT_PIN_ROOT:
        if (arg[0] != '/') {
            fprintf(stderr, "mtp-trace: --pin-root must be an absolute path under a bpffs\n");
            argp_usage(state);
        }
        opts.pin_root = arg;
        break;
    case 'v':
        opts.verbose = 1;
        break;
    case ARGP_KEY_ARG:
        fprintf(stderr, "mtp-trace: unexpected argument '%s'\n", arg);
        argp_usage(state);
        break;
    case ARGP_KEY_END:
        if (opts.pid == 0) {
            fprintf(stderr, "mtp-trace: --pid is required, e.g. --pid $(pgrep -f myservice)\n");
            argp_usage(state);
        }
        break;
    default:
        return ARGP_ERR_UNKNOWN;
    }
    return 0;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
    if (level == LIBBPF_DEBUG && !opts.verbose)
        return 0;
    return vfprintf(stderr, fmt, args);
}

static void die_hint(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void die_hint(const char *fmt, ...)
{
    va_list ap;

    fputs("mtp-trace: error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Everything learnt about the target before attaching. */
struct target {
    pid_t pid;
    char comm[64];
    char exe[PATH_MAX];
    char extension[PATH_MAX + 32];
    struct mtp_maps maps;
};

static int read_maps(pid_t pid, struct mtp_maps *maps)
{
    char path[64], err[160];
    char *text;
    ssize_t n;
    int rc;

    snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
    n = mtp_read_file(path, &text);
    if (n < 0)
        return (int)n;
    rc = mtp_maps_parse(maps, text, err, sizeof(err));
    free(text);
    return rc < 0 ? -EINVAL : 0;
}

/* Checks, in the order a user would fix them, that the target can be traced. */
static int inspect_target(pid_t pid, struct target *t)
{
    char path[64], *text = NULL;
    const char *ext;
    ssize_t n;
    int rc;

    memset(t, 0, sizeof(*t));
    t->pid = pid;
    snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
    n = mtp_read_file(path, &text);
    if (n < 0) {
        die_hint("no process with pid %d (is it still running? find it with 'pgrep -f NAME')",
                 (int)pid);
        return -1;
    }
    snprintf(t->comm, sizeof(t->comm), "%.*s", (int)strcspn(text, "\n"), text);
    free(text);
    snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
    n = readlink(path, t->exe, sizeof(t->exe) - 1);
    t->exe[n > 0 ? n : 0] = '\0';

    rc = read_maps(pid, &t->maps);
    if (rc < 0) {
        if (rc == -EACCES || rc == -EPERM)
            die_hint("cannot read /proc/%d/maps: %s (run mtp-trace as root, or grant "
                     "CAP_SYS_PTRACE)",
                     (int)pid, strerror(-rc));
        else
            die_hint("cannot read /proc/%d/maps: %s", (int)pid, strerror(-rc));
        return -1;
    }
    if (t->maps.len == 0) {
        die_hint("pid %d (%s) has no user memory: it is a kernel thread or a zombie", (int)pid,
                 t->comm);
        return -1;
    }
    ext = mtp_maps_find_extension(&t->maps);
    if (!ext && !mtp_maps_is_python(&t->maps, t->exe)) {
        die_hint("pid %d (%s) is not a Python process: point --pid at the python interpreter "
                 "running your program",
                 (int)pid, t->comm);
        return -1;
    }
    if (!ext) {
        die_hint("the mtp extension is not loaded in pid %d (%s): add 'import mtp' at the start "
                 "of the program (build it with 'make PYTHON=%s' and put build/pyX.Y on "
                 "PYTHONPATH, or 'pip install ./pyext'), then restart it",
                 (int)pid, t->comm, t->exe[0] ? t->exe : "python3");
        return -1;
    }
    snprintf(t->extension, sizeof(t->extension), "%s", ext);
    if (access(t->extension, R_OK) < 0) {
        /* The target lives in another mount namespace (a container). */
        char rooted[PATH_MAX + 32];
        snprintf(rooted, sizeof(rooted), "/proc/%d/root%s", (int)pid, ext);
        if (access(rooted, R_OK) < 0) {
            die_hint("cannot open the extension %s of pid %d: %s", ext, (int)pid, strerror(errno));
            return -1;
        }
        snprintf(t->extension, sizeof(t->extension), "%s", rooted);
    }
    return 0;
}

static int check_kernel(void)
{
    if (access("/sys/kernel/btf/vmlinux", R_OK) < 0) {
        die_hint("this kernel has no BTF (/sys/kernel/btf/vmlinux): mtp needs a kernel built "
                 "with CONFIG_DEBUG_INFO_BTF=y");
        return -1;
    }
    if (access("/sys/bus/event_source/devices/uprobe/type", R_OK) < 0) {
        die_hint("this kernel has no uprobe support (/sys/bus/event_source/devices/uprobe): mtp "
                 "needs CONFIG_UPROBE_EVENTS=y");
        return -1;
    }
    return 0;
}

struct pins {
    char dir[PATH_MAX];
    char pages[PATH_MAX + 16];
    char stats[PATH_MAX + 16];
    int made;
};

static int pin_maps(struct mtp_trace_bpf *skel, pid_t pid, struct pins *p)
{
    int err;

    err = mtp_ensure_bpffs("/sys/fs/bpf");
    if (err < 0 && strncmp(opts.pin_root, "/sys/fs/bpf", 11) == 0) {
        die_hint("cannot mount bpffs at /sys/fs/bpf: %s (mount it with 'mount -t bpf bpf "
                 "/sys/fs/bpf')",
                 strerror(-err));
        return -1;
    }
    snprintf(p->dir, sizeof(p->dir), "%s/%d", opts.pin_root, (int)pid);
    snprintf(p->pages, sizeof(p->pages), "%s/pages", p->dir);
    snprintf(p->stats, sizeof(p->stats), "%s/stats", p->dir);
    if (access(p->pages, F_OK) == 0 || access(p->stats, F_OK) == 0) {
        die_hint("%s already holds pinned maps: another mtp-trace is tracing pid %d, or an "
                 "earlier run used --keep-pins (remove them with 'rm -r %s')",
                 p->dir, (int)pid, p->dir);
        return -1;
    }
    err = mtp_mkdir_p(p->dir);
    if (err < 0) {
        die_hint("cannot create %s: %s (is %s on a bpffs?)", p->dir, strerror(-err), opts.pin_root);
        return -1;
    }
    p->made = 1;
    err = bpf_map__pin(skel->maps.pages, p->pages);
    if (!err)
        err = bpf_map__pin(skel->maps.stats, p->stats);
    if (err) {
        die_hint("cannot pin maps under %s: %s", p->dir, strerror(-err));
        return -1;
    }
    return 0;
}

static void unpin_maps(struct mtp_trace_bpf *skel, struct pins *p)
{
    if (!p->made)
        return;
    bpf_map__unpin(skel->maps.pages, p->pages);
    bpf_map__unpin(skel->maps.stats, p->stats);
    rmdir(p->dir);
}

static const char *const probe_names[] = {"objects", "gc_start", "gc_done"};

static int attach_probes(struct mtp_trace_bpf *skel, const struct target *t)
{
    struct bpf_program *progs[] = {skel->progs.handle_objects, skel->progs.handle_gc_start,
                                   skel->progs.handle_gc_done};
    struct bpf_link **links[] = {&skel->links.handle_objects, &skel->links.handle_gc_start,
                                 &skel->links.handle_gc_done};

    for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
        struct bpf_link *link = bpf_program__attach_usdt(progs[i], t->pid, t->extension,
                                                         MTP_USDT_PROVIDER, probe_names[i], NULL);
        if (!link) {
            int err = -errno;
            die_hint("cannot attach to USDT probe mtp:%s in %s: %s%s", probe_names[i], t->extension,
                     strerror(-err),
                     err == -ENOENT ? " (the extension is older than this mtp-trace: rebuild it)"
                                    : "");
            return -1;
        }
        *links[i] = link;
    }
    return 0;
}

static int read_stats(struct mtp_trace_bpf *skel, struct mtp_stats *st)
{
    __u32 zero = 0;

    return bpf_map_lookup_elem(bpf_map__fd(skel->maps.stats), &zero, st);
}

/* Every page of the map, with its heat decayed to `epoch`. */
struct page_dump {
    struct mtp_hot_page *v;
    size_t len, cap;
};

static int dump_pages(int fd, uint32_t epoch, const struct mtp_maps *maps, struct page_dump *d)
{
    enum { CHUNK = 4096 };
    static __u64 keys[CHUNK];
    static struct mtp_page vals[CHUNK];
    __u64 cursor = 0;
    int first = 1;

    d->len = 0;
    for (;;) {
        __u32 count = CHUNK;
        int err =
            bpf_map_lookup_batch(fd, first ? NULL : &cursor, &cursor, keys, vals, &count, NULL);
        int done = err && errno == ENOENT;

        if (err && !done)
            return -errno;
        first = 0;
        if (d->len + count > d->cap) {
            size_t cap = (d->len + count) * 2;
            struct mtp_hot_page *v = realloc(d->v, cap * sizeof(*v));
            if (!v)
                return -ENOMEM;
            d->v = v;
            d->cap = cap;
        }
        for (__u32 i = 0; i < count; i++) {
            struct mtp_hot_page *p = &d->v[d->len++];
            p->addr = keys[i];
            p->heat = mtp_heat_decay(vals[i].heat, vals[i].last_epoch, epoch);
            p->samples = vals[i].samples;
            p->active = vals[i].active;
            p->mapping = mtp_mapping_label(mtp_maps_find(maps, keys[i]));
        }
        if (done)
            return 0;
    }
}

static void emit(const struct mtp_report *r)
{
    char line[512];

    if (opts.json) {
        char *js = mtp_report_json(r);
        if (js) {
            puts(js);
            free(js);
        }
    } else if (!r->final) {
        mtp_report_text_row(r, line, sizeof(line));
        puts(line);
    } else {
        size_t len = 256 + (size_t)r->top_len * 128;
        char *buf = malloc(len);
        if (buf) {
            mtp_report_text_top(r, buf, len);
            printf("\nstopped (%s) after %.1f s: %llu events, %llu records, %llu dropped, %llu "
                   "pages tracked\n%s",
                   r->stop_reason, r->elapsed_s, (unsigned long long)r->totals.events,
                   (unsigned long long)r->totals.records, (unsigned long long)r->totals.dropped,
                   (unsigned long long)r->pages_tracked, buf);
            free(buf);
        }
    }
    fflush(stdout);
}

static int block_signals(void)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        return -errno;
    return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

int main(int argc, char **argv)
{
    static const struct argp argp = {argp_options, parse_arg, NULL, argp_doc, NULL, NULL, NULL};
    struct mtp_trace_bpf *skel = NULL;
    struct target target;
    struct pins pins = {0};
    struct page_dump dump = {0};
    struct mtp_report report = {0};
    struct mtp_hot_page *top = NULL;
    double start, next, deadline;
    const char *stop_reason = NULL;
    int sigfd = -1, pidfd = -1, err, exit_code = 1;

    err = argp_parse(&argp, argc, argv, 0, NULL, NULL);
    if (err)
        return 2;
    libbpf_set_print(libbpf_print);

    if (!mtp_have_bpf_caps()) {
        die_hint("mtp-trace needs root, or CAP_BPF + CAP_PERFMON (+ CAP_SYS_PTRACE for other "
                 "users' processes): run it with sudo");
        return 1;
    }
    if (inspect_target(opts.pid, &target) < 0)
        return 1;
    if (check_kernel() < 0)
        goto out;

    skel = mtp_trace_bpf__open();
    if (!skel) {
        die_hint("cannot open the BPF object: %s", strerror(errno));
        goto out;
    }
    bpf_map__set_max_entries(skel->maps.pages, opts.max_pages);
    err = mtp_trace_bpf__load(skel);
    if (err) {
        die_hint("cannot load the BPF programs: %s (run with -v for the verifier log; mtp needs "
                 "kernel 5.17+ for bpf_loop)",
                 strerror(-err));
        goto out;
    }
    if (attach_probes(skel, &target) < 0)
        goto out;
    if (pin_maps(skel, opts.pid, &pins) < 0)
        goto out;

    sigfd = block_signals();
    if (sigfd < 0) {
        die_hint("cannot set up signal handling: %s", strerror(-sigfd));
        goto out;
    }
    pidfd = mtp_pidfd_open(opts.pid);
    if (pidfd < 0) {
        die_hint("pid %d exited before tracing started", (int)opts.pid);
        goto out;
    }

    fprintf(stderr,
            "mtp-trace: tracing pid %d (%s) through %s\n"
            "mtp-trace: page map pinned at %s (bpftool map dump pinned %s); Ctrl-C to stop\n",
            (int)opts.pid, target.comm, target.extension, pins.pages, pins.pages);
    if (!opts.json) {
        char header[256];
        mtp_report_text_header(header, sizeof(header));
        puts(header);
        fflush(stdout);
    }

    top = calloc(opts.top ? opts.top : 1, sizeof(*top));
    if (!top) {
        die_hint("out of memory");
        goto out;
    }
    start = now_s();
    next = start + opts.interval_s;
    deadline = opts.duration_s > 0 ? start + opts.duration_s : 0;
    report.map_capacity = opts.max_pages;
    while (!stop_reason) {
        struct pollfd fds[2] = {{.fd = sigfd, .events = POLLIN}, {.fd = pidfd, .events = POLLIN}};
        double now = now_s(), wake = next;
        int timeout_ms;
        struct mtp_maps fresh;
        uint32_t epoch;

        if (deadline && deadline < wake)
            wake = deadline;
        timeout_ms = wake > now ? (int)((wake - now) * 1000.0 + 0.5) : 0;
        if (poll(fds, 2, timeout_ms) < 0 && errno != EINTR) {
            die_hint("poll: %s", strerror(errno));
            goto out;
        }
        now = now_s();
        if (fds[0].revents & POLLIN)
            stop_reason = "signal";
        else if (fds[1].revents & POLLIN)
            stop_reason = "target exited";
        else if (deadline && now >= deadline - 1e-3)
            stop_reason = "duration";
        else if (now < next - 1e-3)
            continue;

        /* Maps change as the heap grows; keep the last good copy for labels
         * even after the target has gone. */
        if (read_maps(opts.pid, &fresh) == 0) {
            mtp_maps_free(&target.maps);
            target.maps = fresh;
        }
        epoch = skel->bss->mtp_epoch;
        report.prev = report.totals;
        if (read_stats(skel, &report.totals) < 0) {
            die_hint("cannot read the stats map: %s", strerror(errno));
            goto out;
        }
        err = dump_pages(bpf_map__fd(skel->maps.pages), epoch, &target.maps, &dump);
        if (err < 0) {
            die_hint("cannot read the page map: %s", strerror(-err));
            goto out;
        }
        report.interval++;
        report.elapsed_s = now - start;
        report.pages_tracked = dump.len;
        report.hot_pages = 0;
        for (size_t i = 0; i < dump.len; i++)
            report.hot_pages += dump.v[i].heat > 0;
        if (stop_reason) {
            report.final = 1;
            report.stop_reason = stop_reason;
            report.top_len = mtp_select_hottest(dump.v, dump.len, top, opts.top);
            report.top = top;
        }
        emit(&report);
        skel->bss->mtp_epoch = epoch + 1;
        while (next <= now)
            next += opts.interval_s;
    }
    exit_code = 0;
out:
    if (skel) {
        if (!opts.keep_pins)
            unpin_maps(skel, &pins);
        else if (pins.made)
            fprintf(stderr, "mtp-trace: maps left pinned under %s (--keep-pins)\n", pins.dir);
        mtp_trace_bpf__destroy(skel);
    }
    if (sigfd >= 0)
        close(sigfd);
    if (pidfd >= 0)
        close(pidfd);
    free(top);
    free(dump.v);
    mtp_maps_free(&target.maps);
    return exit_code;
}
