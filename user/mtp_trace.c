// SPDX-License-Identifier: MIT
/*
 * mtp-trace: attach to a running Python program that imported mtp, fold its
 * object records into a BPF page temperature table, and report it.
 *
 * Shape follows bcc's libbpf-tools: argp, open skeleton, set rodata and map
 * sizes, load, attach, poll, destroy.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "mtp_abi.h"
#include "cli.h"
#include "cmp.h"
#include "diag.h"
#include "interval.h"
#include "mtp_trace.skel.h"
#include "numa_io.h"
#include "options.h"
#include "procmaps.h"
#include "report.h"
#include "thp.h"
#include "tiers.h"
#include "sysutil.h"

/* Transitional: main copies the parsed options here until the split. */
static struct mtp_options opts;

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
        mtp_error("no process with pid %d (is it still running? find it with 'pgrep -f NAME')",
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
            mtp_error("cannot read /proc/%d/maps: %s (run mtp-trace as root, or grant "
                      "CAP_SYS_PTRACE)",
                      (int)pid, strerror(-rc));
        else
            mtp_error("cannot read /proc/%d/maps: %s", (int)pid, strerror(-rc));
        return -1;
    }
    if (t->maps.len == 0) {
        mtp_error("pid %d (%s) has no user memory: it is a kernel thread or a zombie", (int)pid,
                  t->comm);
        return -1;
    }
    ext = mtp_maps_find_extension(&t->maps);
    if (!ext && !mtp_maps_is_python(&t->maps, t->exe)) {
        mtp_error("pid %d (%s) is not a Python process: point --pid at the python interpreter "
                  "running your program",
                  (int)pid, t->comm);
        return -1;
    }
    if (!ext) {
        mtp_error("the mtp extension is not loaded in pid %d (%s): add 'import mtp' at the start "
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
            mtp_error("cannot open the extension %s of pid %d: %s", ext, (int)pid, strerror(errno));
            return -1;
        }
        snprintf(t->extension, sizeof(t->extension), "%s", rooted);
    }
    return 0;
}

static int check_kernel(void)
{
    if (access("/sys/kernel/btf/vmlinux", R_OK) < 0) {
        mtp_error("this kernel has no BTF (/sys/kernel/btf/vmlinux): mtp needs a kernel built "
                  "with CONFIG_DEBUG_INFO_BTF=y");
        return -1;
    }
    if (access("/sys/bus/event_source/devices/uprobe/type", R_OK) < 0) {
        mtp_error("this kernel has no uprobe support (/sys/bus/event_source/devices/uprobe): mtp "
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
        mtp_error("cannot mount bpffs at /sys/fs/bpf: %s (mount it with 'mount -t bpf bpf "
                  "/sys/fs/bpf')",
                  strerror(-err));
        return -1;
    }
    snprintf(p->dir, sizeof(p->dir), "%s/%d", opts.pin_root, (int)pid);
    snprintf(p->pages, sizeof(p->pages), "%s/pages", p->dir);
    snprintf(p->stats, sizeof(p->stats), "%s/stats", p->dir);
    if (access(p->pages, F_OK) == 0 || access(p->stats, F_OK) == 0) {
        mtp_error("%s already holds pinned maps: another mtp-trace is tracing pid %d, or an "
                  "earlier run used --keep-pins (remove them with 'rm -r %s')",
                  p->dir, (int)pid, p->dir);
        return -1;
    }
    err = mtp_mkdir_p(p->dir);
    if (err < 0) {
        mtp_error("cannot create %s: %s (is %s on a bpffs?)", p->dir, strerror(-err),
                  opts.pin_root);
        return -1;
    }
    p->made = 1;
    err = bpf_map__pin(skel->maps.pages, p->pages);
    if (!err)
        err = bpf_map__pin(skel->maps.stats, p->stats);
    if (err) {
        mtp_error("cannot pin maps under %s: %s", p->dir, strerror(-err));
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

/* mtp:gc_start is left for ad-hoc tools: attaching it would cost every
 * collection a uprobe firing (~1 us) for nothing mtp-trace needs. */
static const char *const probe_names[] = {"objects", "gc_done", "hint", "configure", "written"};

static int attach_probes(struct mtp_trace_bpf *skel, const struct target *t)
{
    struct bpf_program *progs[] = {skel->progs.handle_objects, skel->progs.handle_gc_done,
                                   skel->progs.handle_hint, skel->progs.handle_configure,
                                   skel->progs.handle_written};
    struct bpf_link **links[] = {&skel->links.handle_objects, &skel->links.handle_gc_done,
                                 &skel->links.handle_hint, &skel->links.handle_configure,
                                 &skel->links.handle_written};

    for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
        struct bpf_link *link;

        /* An unattached probe keeps its semaphore at zero, which is what
         * tells the extension not to scan. */
        if (opts.no_written_scan && progs[i] == skel->progs.handle_written)
            continue;
        link = bpf_program__attach_usdt(progs[i], t->pid, t->extension, MTP_USDT_PROVIDER,
                                        probe_names[i], NULL);
        if (!link) {
            int err = -errno;
            mtp_error("cannot attach to USDT probe mtp:%s in %s: %s%s", probe_names[i],
                      t->extension, strerror(-err),
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

            *p = mtp_hot_page_at(keys[i], &vals[i], epoch);
            p->mapping = mtp_mapping_label(mtp_maps_find(maps, keys[i]));
        }
        if (done)
            return 0;
    }
}

/* The program returns memory to the kernel (pymalloc frees empty arenas);
 * pages no longer in any mapping are forgotten, in the map and the dump, so
 * the table holds only memory the program still has. */
static void prune_unmapped(int fd, const struct mtp_maps *maps, struct page_dump *d)
{
    size_t kept = 0;

    for (size_t i = 0; i < d->len; i++) {
        if (mtp_maps_find(maps, d->v[i].addr)) {
            d->v[kept++] = d->v[i];
            continue;
        }
        bpf_map_delete_elem(fd, &d->v[i].addr);
    }
    d->len = kept;
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

static int target_gone(int pidfd)
{
    struct pollfd p = {.fd = pidfd, .events = POLLIN};

    return poll(&p, 1, 0) > 0 && (p.revents & POLLIN);
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

/* Everything the tiering half of the loop keeps between intervals. */
struct tiering {
    int active;
    struct mtp_tiers tiers;
    int fast_node, slow_node;
    struct mtp_policy *policy;
    struct mtp_options app_wanted; /* the program's mtp.configure(), unclamped */
    char seen_settings[16][MTP_SETTING_MAX];
    unsigned n_seen;
    /* Per-interval scratch, grown to the page count. */
    size_t cap;
    uint64_t *addrs;
    int *nodes;
    struct mtp_policy_page *pages;
    struct mtp_move *moves;
    uint64_t *move_addrs;
    int *targets, *status, *after;
    uint8_t *is_thp;
    int thp_warned;
    /* The sweep: a cursor over the process's anonymous memory, and scratch
     * for one window of it. */
    uint64_t sweep_cursor;
    uint64_t *sweep_addrs, *tracked_sorted;
    size_t tracked_cap;
    int *sweep_nodes;
    struct mtp_tiering_report report;
};

/* Pages of the process's memory looked at per interval for fast-tier pages
 * the heat map has nothing for: 1 GiB, one move_pages query of ~10 ms. */
#define SWEEP_PAGES (1u << 18)

static int tiering_reserve(struct tiering *t, size_t n)
{
    if (n <= t->cap)
        return 0;
    n = n * 2;
#define GROW(field)                                                                                \
    do {                                                                                           \
        void *p = realloc(t->field, n * sizeof(*t->field));                                        \
        if (!p)                                                                                    \
            return -ENOMEM;                                                                        \
        t->field = p;                                                                              \
    } while (0)
    GROW(addrs);
    GROW(nodes);
    GROW(pages);
    GROW(moves);
    GROW(move_addrs);
    GROW(targets);
    GROW(status);
    GROW(after);
    GROW(is_thp);
#undef GROW
    t->cap = n;
    return 0;
}

static void tiering_free(struct tiering *t)
{
    mtp_policy_destroy(t->policy);
    free(t->sweep_addrs);
    free(t->sweep_nodes);
    free(t->tracked_sorted);
    free(t->addrs);
    free(t->nodes);
    free(t->pages);
    free(t->moves);
    free(t->move_addrs);
    free(t->targets);
    free(t->status);
    free(t->after);
    free(t->is_thp);
}

static int discover_tiers(struct mtp_tiers *tiers)
{
    char err[256];

    if (mtp_tiers_discover(tiers, &mtp_sysfs_real, err, sizeof(err)) < 0) {
        mtp_error("cannot read the NUMA topology: %s", err);
        return -1;
    }
    if ((opts.fast_nodes[0] || opts.slow_nodes[0]) &&
        mtp_tiers_override(tiers, opts.fast_nodes[0] ? opts.fast_nodes : NULL,
                           opts.slow_nodes[0] ? opts.slow_nodes : NULL, err, sizeof(err)) < 0) {
        mtp_error("%s", err);
        return -1;
    }
    return 0;
}

static int show_tiers(void)
{
    struct mtp_tiers tiers;
    char buf[8192];

    if (discover_tiers(&tiers) < 0)
        return 1;
    mtp_tiers_format(&tiers, buf, sizeof(buf));
    fputs(buf, stdout);
    return 0;
}

/* The kernel can move the same pages on its own; say so once, with the fix,
 * because the symptom (hot pages drifting back to the slow node) is
 * otherwise baffling. */
static void warn_kernel_movers(void)
{
    char *text = NULL;

    if (mtp_read_file("/proc/sys/kernel/numa_balancing", &text) > 0 && text[0] != '0')
        mtp_warn("kernel.numa_balancing=%c also migrates this process's pages "
                 "and will undo mtp's placement; for mtp alone run 'sysctl -w "
                 "kernel.numa_balancing=0'",
                 text[0]);
    free(text);
    text = NULL;
    if (mtp_read_file("/sys/kernel/mm/transparent_hugepage/enabled", &text) > 0 &&
        strstr(text, "[always]"))
        mtp_say("note: THP is 'always': huge pages move as a whole, so mtp "
                "gives each one the temperature of its hottest page");
    free(text);
}

/* --watermark auto: the free memory the kernel itself keeps on the fast
 * node, read once (it changes only with vm.min_free_kbytes and memory
 * hotplug).  Sets watermark_note to what the startup line says about it. */
static char watermark_note[96];

static void resolve_watermark(int fast_node)
{
    char err[256];
    uint64_t bytes = 0;

    if (!opts.watermark_auto) {
        snprintf(watermark_note, sizeof(watermark_note), "watermark %.1f MiB (--watermark)",
                 opts.policy.watermark_bytes / 1048576.0);
        return;
    }
    if (mtp_node_high_watermark(fast_node, &bytes, err, sizeof(err)) < 0) {
        mtp_warn("%s; using a %.0f MiB watermark (set --watermark)", err,
                 MTP_DEFAULT_WATERMARK_BYTES / 1048576.0);
        opts.policy.watermark_bytes = MTP_DEFAULT_WATERMARK_BYTES;
        snprintf(watermark_note, sizeof(watermark_note), "watermark %.1f MiB (fallback)",
                 opts.policy.watermark_bytes / 1048576.0);
        return;
    }
    opts.policy.watermark_bytes = bytes;
    snprintf(watermark_note, sizeof(watermark_note),
             "watermark %.1f MiB (kernel high watermark of node %d)", bytes / 1048576.0, fast_node);
}

/* Decides whether this run tiers at all, and says why not when it does not. */
static int tiering_setup(struct tiering *t)
{
    char err[256];

    memset(t, 0, sizeof(*t));
    t->app_wanted = opts;
    if (opts.no_migrate)
        return 0;
    if (!mtp_numa_available()) {
        mtp_say("no NUMA support in this kernel: tracing only");
        return 0;
    }
    if (discover_tiers(&t->tiers) < 0)
        return -1;
    if (mtp_tiers_pick(&t->tiers, &t->fast_node, &t->slow_node) < 0) {
        mtp_say("one memory tier on this machine: tracing only (see "
                "--show-tiers; --fast-nodes/--slow-nodes override)");
        return 0;
    }
    resolve_watermark(t->fast_node);
    t->app_wanted.policy.watermark_bytes = opts.policy.watermark_bytes;
    t->policy = mtp_policy_create(&opts.policy);
    if (!t->policy) {
        mtp_policy_config_check(&opts.policy, err, sizeof(err));
        mtp_error("bad tiering settings: %s", err);
        return -1;
    }
    t->active = 1;
    warn_kernel_movers();
    t->report.dry_run = opts.dry_run;
    t->report.fast_node = t->fast_node;
    t->report.slow_node = t->slow_node;
    t->report.watermark_bytes = opts.policy.watermark_bytes;
    mtp_say("tiering: hot pages to node %d, cold pages to node %d; %s%s", t->fast_node,
            t->slow_node, watermark_note, opts.dry_run ? " (dry run: nothing moves)" : "");
    return 0;
}

/* The last setting the program sent for each knob: the extension repeats
 * them at every observation, and only a change needs work or a log line. */
static int setting_changed(struct tiering *t, const char *text)
{
    size_t name_len = strcspn(text, "=");
    unsigned i;

    for (i = 0; i < t->n_seen; i++) {
        if (!strncmp(t->seen_settings[i], text, name_len) && t->seen_settings[i][name_len] == '=')
            break;
    }
    if (i < t->n_seen && !strcmp(t->seen_settings[i], text))
        return 0;
    if (i == t->n_seen) {
        if (t->n_seen == sizeof(t->seen_settings) / sizeof(t->seen_settings[0]))
            return 1; /* more knobs than we remember: apply, just not cheaply */
        t->n_seen++;
    }
    snprintf(t->seen_settings[i], sizeof(t->seen_settings[i]), "%s", text);
    return 1;
}

/* One "name=value" from the program's mtp.configure(), vetted by the same
 * parser as the command line, then clamped to the command line's limits.
 * "name=" hands the knob back to the command line's value. */
static int on_setting(void *ctx, void *data, size_t size)
{
    struct tiering *t = ctx;
    const struct mtp_setting *setting = data;
    char text[MTP_SETTING_MAX], err[256], *eq;
    struct mtp_options wanted, effective;
    const char *name, *value;

    if (size < sizeof(*setting))
        return 0;
    memcpy(text, setting->text, sizeof(text));
    text[sizeof(text) - 1] = '\0';
    if (!setting_changed(t, text))
        return 0;
    eq = strchr(text, '=');
    if (!eq) {
        mtp_say("ignoring malformed setting from the program: '%s'", text);
        return 0;
    }
    *eq = '\0';
    name = text;
    value = eq + 1;
    wanted = t->app_wanted;
    if (!*value) {
        if (mtp_options_reset_app(&wanted, &opts, name) < 0) {
            mtp_say("ignoring the program's reset of '%s': not a setting it "
                    "can make",
                    name);
            return 0;
        }
    } else if (mtp_options_set(&wanted, MTP_FROM_APP, name, value, err, sizeof(err)) < 0) {
        mtp_say("ignoring the program's setting %s=%s: %s", name, value, err);
        return 0;
    }
    mtp_options_clamp_app(&opts, &wanted, &effective);
    if (t->policy && mtp_policy_reconfigure(t->policy, &effective.policy, err, sizeof(err)) < 0) {
        mtp_say("ignoring the program's setting %s=%s: %s", name, value, err);
        return 0;
    }
    /* Only a setting that took effect becomes the base for the next. */
    t->app_wanted = wanted;
    mtp_say("the program asked for %s=%s; now in force: max-rate %.1f MiB/s, lazy "
            "%u, hot-threshold %llu%s%s",
            name, *value ? value : "(the command line's)", effective.max_rate_mbps,
            effective.policy.lazy_initial, (unsigned long long)effective.policy.hot_threshold,
            effective.policy.eager ? ", eager" : "", t->policy ? "" : " (noted; not tiering)");
    return 0;
}

/*
 * Appends to t->pages[n...] the swept pages that sit on a fast node and that
 * the heat map did not report: without them the process's fast bytes would
 * count only pages mtp has seen, and memory it never saw touched (first-touch
 * allocations that went cold) would hold the fast tier with nothing able to
 * move it.  Returns the new page count, or -errno.
 */
static long sweep_untracked(struct tiering *t, const struct mtp_maps *maps, size_t n)
{
    size_t got, added = 0;
    int err;

    if (!t->sweep_addrs) {
        t->sweep_addrs = malloc(SWEEP_PAGES * sizeof(*t->sweep_addrs));
        t->sweep_nodes = malloc(SWEEP_PAGES * sizeof(*t->sweep_nodes));
        if (!t->sweep_addrs || !t->sweep_nodes)
            return -ENOMEM;
    }
    got = mtp_maps_sweep(maps, &t->sweep_cursor, SWEEP_PAGES, t->sweep_addrs);
    if (got == 0)
        return (long)n;
    err = mtp_pages_query(opts.pid, got, t->sweep_addrs, t->sweep_nodes);
    if (err < 0)
        return err;
    if (n > t->tracked_cap) {
        uint64_t *grown = realloc(t->tracked_sorted, n * 2 * sizeof(*grown));

        if (!grown)
            return -ENOMEM;
        t->tracked_sorted = grown;
        t->tracked_cap = n * 2;
    }
    for (size_t i = 0; i < n; i++)
        t->tracked_sorted[i] = t->pages[i].addr;
    if (n)
        qsort(t->tracked_sorted, n, sizeof(*t->tracked_sorted), mtp_cmp_u64);
    if (tiering_reserve(t, n + got) < 0)
        return -ENOMEM;
    for (size_t i = 0; i < got; i++) {
        if (t->sweep_nodes[i] < 0 || mtp_tiers_class(&t->tiers, t->sweep_nodes[i]) != MTP_TIER_FAST)
            continue;
        if (n && bsearch(&t->sweep_addrs[i], t->tracked_sorted, n, sizeof(uint64_t), mtp_cmp_u64))
            continue;
        t->pages[n + added] = (struct mtp_policy_page){
            .addr = t->sweep_addrs[i], .heat = 0, .node = t->sweep_nodes[i], .untracked = true};
        t->addrs[n + added] = t->sweep_addrs[i];
        added++;
    }
    /* Moving one 4 KiB page of a transparent huge page moves all 512, and
     * the tracked pages' huge-page handling cannot see these: leave them. */
    if (added && mtp_pages_thp(opts.pid, added, t->addrs + n, t->is_thp + n) == 0) {
        size_t kept = 0;

        for (size_t i = 0; i < added; i++)
            if (!t->is_thp[n + i])
                t->pages[n + kept++] = t->pages[n + i];
        added = kept;
    }
    return (long)(n + added);
}

static int tiering_step(struct tiering *t, struct mtp_trace_bpf *skel, const struct page_dump *d,
                        const struct mtp_maps *maps)
{
    struct mtp_tiering_report *r = &t->report;
    struct mtp_policy_input in = {0};
    size_t n = d->len, n_moves = 0;
    int err;

    if (tiering_reserve(t, n ? n : 1) < 0)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        t->addrs[i] = d->v[i].addr;
    err = mtp_pages_query(opts.pid, n, t->addrs, t->nodes);
    if (err < 0) {
        if (opts.verbose)
            mtp_say("querying %zu pages failed: %s", n, strerror(-err));
        return err;
    }
    r->hinted_hot = r->hinted_cold = 0;
    for (size_t i = 0; i < n; i++) {
        t->pages[i] = (struct mtp_policy_page){
            .addr = d->v[i].addr, .heat = mtp_hinted_heat(&d->v[i]), .node = t->nodes[i]};
        r->hinted_hot += d->v[i].hint == MTP_HINT_HOT;
        r->hinted_cold += d->v[i].hint == MTP_HINT_COLD;
        /* Freed and unmapped, and nothing left to remember: let the map
         * forget it too, or it fills with the ghosts of old arenas. */
        if (t->nodes[i] == -EFAULT && d->v[i].heat == 0 && d->v[i].hint == 0)
            bpf_map_delete_elem(bpf_map__fd(skel->maps.pages), &d->v[i].addr);
    }
    err = mtp_pages_thp(opts.pid, n, t->addrs, t->is_thp);
    if (err < 0 && err != -ESRCH && !t->thp_warned) {
        t->thp_warned = 1;
        mtp_warn("cannot tell huge pages apart (%s): a THP holding "
                 "hot and cold pages may move back and forth",
                 strerror(-err));
    }
    r->huge_pages = 0;
    if (err == 0) {
        long huge = mtp_thp_unify_heat(t->pages, n, t->is_thp);
        if (huge < 0)
            return (int)huge;
        r->huge_pages = (uint64_t)huge;
    }
    if (!opts.no_sweep) {
        long swept = sweep_untracked(t, maps, n);

        if (swept < 0)
            return (int)swept;
        n = (size_t)swept;
    }
    in.pages = t->pages;
    in.n_pages = n;
    in.tiers = &t->tiers;
    in.fast_node = t->fast_node;
    in.slow_node = t->slow_node;
    in.rss_bytes = mtp_rss_bytes(opts.pid);
    in.fast_free_bytes = mtp_node_free_bytes(t->fast_node);
    err = mtp_policy_plan(t->policy, &in, t->moves, t->cap, &n_moves, &r->plan);
    if (err < 0)
        return err;
    memset(&r->moved, 0, sizeof(r->moved));
    if (!opts.dry_run && n_moves > 0) {
        for (size_t i = 0; i < n_moves; i++) {
            t->move_addrs[i] = t->moves[i].addr;
            t->targets[i] = t->moves[i].to_node;
        }
        err = mtp_pages_move(opts.pid, n_moves, t->move_addrs, t->targets, t->status);
        if (err < 0) {
            if (opts.verbose)
                mtp_say("move_pages of %zu pages failed: %s", n_moves, strerror(-err));
            return err;
        }
        /* The re-query is the truth: THP pages report -EBUSY yet move. */
        err = mtp_pages_query(opts.pid, n_moves, t->move_addrs, t->after);
        if (err < 0)
            return err;
        mtp_policy_commit(t->policy, t->moves, n_moves, t->status, t->after, &r->moved);
    }
    if (opts.verbose)
        mtp_say("interval %u: %zu pages, plan promote %zu demote %zu over-budget %zu "
                "deferred %zu; moved %zu (promoted %zu demoted %zu) busy %zu nomem %zu gone %zu "
                "other %zu",
                r->plan.interval, n, r->plan.promote, r->plan.demote, r->plan.over_budget,
                r->plan.deferred, r->moved.moved, r->moved.promoted, r->moved.demoted,
                r->moved.busy, r->moved.nomem, r->moved.gone, r->moved.other);
    mtp_policy_totals(t->policy, &r->totals);
    r->pingpong_rate = mtp_policy_pingpong_rate(t->policy);
    return 0;
}

int main(int argc, char **argv)
{
    struct mtp_cli cli;
    struct mtp_trace_bpf *skel = NULL;
    struct ring_buffer *settings_rb = NULL;
    struct target target = {0};
    struct pins pins = {0};
    struct page_dump dump = {0};
    struct mtp_report report = {0};
    struct tiering tiering = {0};
    struct mtp_hot_page *top = NULL;
    struct mtp_clock clock;
    enum mtp_stop stop = MTP_STOP_NONE;
    int sigfd = -1, pidfd = -1, err, exit_code = 1;
    int64_t wp_reported = 0;
    int idle_reported = 0;

    err = mtp_cli__parse(&cli, argc, argv);
    if (err)
        return err;
    opts = cli.opts;
    mtp_diag_libbpf(opts.verbose);
    if (opts.show_tiers)
        return show_tiers();

    if (!mtp_have_bpf_caps()) {
        mtp_error("mtp-trace needs root, or CAP_BPF + CAP_PERFMON (+ CAP_SYS_PTRACE for other "
                  "users' processes): run it with sudo");
        return 1;
    }
    if (inspect_target(opts.pid, &target) < 0)
        return 1;
    if (check_kernel() < 0)
        goto out;
    if (tiering_setup(&tiering) < 0)
        goto out;

    skel = mtp_trace_bpf__open();
    if (!skel) {
        mtp_error("cannot open the BPF object: %s", strerror(errno));
        goto out;
    }
    bpf_map__set_max_entries(skel->maps.pages, opts.max_pages);
    err = mtp_trace_bpf__load(skel);
    if (err) {
        mtp_error("cannot load the BPF programs: %s (run with -v for the verifier log; mtp needs "
                  "kernel 5.17+ for bpf_loop)",
                  strerror(-err));
        goto out;
    }
    skel->bss->mtp_epoch_ns = opts.interval_ns;
    if (attach_probes(skel, &target) < 0)
        goto out;
    if (pin_maps(skel, opts.pid, &pins) < 0)
        goto out;
    settings_rb = ring_buffer__new(bpf_map__fd(skel->maps.settings), on_setting, &tiering, NULL);
    if (!settings_rb) {
        mtp_error("cannot open the settings ring buffer: %s", strerror(errno));
        goto out;
    }

    sigfd = block_signals();
    if (sigfd < 0) {
        mtp_error("cannot set up signal handling: %s", strerror(-sigfd));
        goto out;
    }
    pidfd = mtp_pidfd_open(opts.pid);
    if (pidfd < 0) {
        mtp_error("pid %d exited before tracing started", (int)opts.pid);
        goto out;
    }

    mtp_say("tracing pid %d (%s) through %s%s%s", (int)opts.pid, target.comm, target.extension,
            cli.config_path[0] ? ", settings from " : "", cli.config_path);
    mtp_say("page map pinned at %s (bpftool map dump pinned %s); Ctrl-C to stop", pins.pages,
            pins.pages);
    report.tiering = tiering.active ? &tiering.report : NULL;
    if (!opts.json) {
        char header[256];
        mtp_report_text_header(&report, header, sizeof(header));
        puts(header);
        fflush(stdout);
    }

    top = calloc(opts.top ? opts.top : 1, sizeof(*top));
    if (!top) {
        mtp_error("out of memory");
        goto out;
    }
    mtp_clock_start(&clock, now_s(), opts.interval_ns, opts.duration_ns);
    report.map_capacity = opts.max_pages;
    while (stop == MTP_STOP_NONE) {
        struct pollfd fds[3] = {{.fd = sigfd, .events = POLLIN},
                                {.fd = pidfd, .events = POLLIN},
                                {.fd = ring_buffer__epoll_fd(settings_rb), .events = POLLIN}};
        struct mtp_maps fresh = {0};
        uint32_t epoch;
        double now;
        bool due;

        if (poll(fds, 3, mtp_clock_timeout_ms(&clock, now_s())) < 0 && errno != EINTR) {
            mtp_error("poll: %s", strerror(errno));
            goto out;
        }
        if (fds[2].revents & POLLIN)
            ring_buffer__consume(settings_rb);
        now = now_s();
        stop = mtp_clock_wake(&clock, now, fds[0].revents & POLLIN, fds[1].revents & POLLIN, &due);
        if (!due)
            continue;

        /* Maps change as the heap grows; keep the last good copy for labels
         * even after the target has gone. */
        if (read_maps(opts.pid, &fresh) == 0 && fresh.len > 0) {
            mtp_maps_free(&target.maps);
            target.maps = fresh;
        } else if (fresh.len == 0) {
            mtp_maps_free(&fresh); /* an exited process reads as empty */
        }
        epoch = skel->bss->mtp_epoch;
        report.prev = report.totals;
        report.prev_elapsed_s = report.elapsed_s;
        if (read_stats(skel, &report.totals) < 0) {
            mtp_error("cannot read the stats map: %s", strerror(errno));
            goto out;
        }
        err = dump_pages(bpf_map__fd(skel->maps.pages), epoch, &target.maps, &dump);
        if (err < 0) {
            mtp_error("cannot read the page map: %s", strerror(-err));
            goto out;
        }
        if (stop != MTP_STOP_EXITED)
            prune_unmapped(bpf_map__fd(skel->maps.pages), &target.maps, &dump);
        if (tiering.active && stop != MTP_STOP_EXITED) {
            err = tiering_step(&tiering, skel, &dump, &target.maps);
            if (err < 0 && target_gone(pidfd)) {
                /* move_pages says EINVAL, not ESRCH, for a zombie. */
                stop = MTP_STOP_EXITED;
            } else if (err == -ENOMEM) {
                mtp_error("out of memory for %zu pages", dump.len);
                goto out;
            } else if (err < 0) {
                /* Keep tracing: one failed interval must not end a long run. */
                mtp_warn("no tiering this interval: %s", strerror(-err));
            }
        }
        report.interval++;
        report.elapsed_s = now - clock.start;
        report.pages_tracked = dump.len;
        report.hot_pages = mtp_count_hot(dump.v, dump.len);
        if (stop != MTP_STOP_NONE) {
            report.final = 1;
            report.stop_reason = mtp_stop_reason(stop);
            report.top_len = mtp_select_hottest(dump.v, dump.len, top, opts.top);
            report.top = top;
        }
        /* Say once when the scan starts or is refused; its stride varies. */
        if (mtp_wp_notice(report.totals.wp_state) != wp_reported) {
            wp_reported = mtp_wp_notice(report.totals.wp_state);
            if (wp_reported > 0)
                mtp_say("written-page scan: on (reads show as writes to "
                        "reference counts)");
            else if (wp_reported == MTP_WP_STATE_BACKOFF)
                mtp_say("written-page scan: backing off: its measured cost exceeded "
                        "its budget (2%% of the program's time) even at its widest sample; it "
                        "retries later (objects that are only read are invisible meanwhile)");
            else if (wp_reported < 0)
                mtp_say("written-page scan: unavailable (%s; needs Linux 6.7+ "
                        "PAGEMAP_SCAN): objects that are only read stay invisible",
                        strerror((int)-wp_reported));
        }
        /* The extension starts observing at the program's first garbage
         * collection after the attach: say so if none came. */
        if (!idle_reported && mtp_idle_note_due(report.elapsed_s, &report.totals)) {
            idle_reported = 1;
            mtp_say("note: no garbage collection in the target since "
                    "attaching; mtp starts observing at its first one (a program "
                    "whose container allocations never outnumber its frees does not "
                    "collect)");
        }
        report.epoch = epoch;
        emit(&report);
        if (mtp_epoch_advances(&report.totals, &report.prev))
            skel->bss->mtp_epoch = epoch + 1;
        mtp_clock_advance(&clock, now);
    }
    exit_code = 0;
out:
    ring_buffer__free(settings_rb);
    if (skel) {
        if (!opts.keep_pins)
            unpin_maps(skel, &pins);
        else if (pins.made)
            mtp_say("maps left pinned under %s (--keep-pins)", pins.dir);
        mtp_trace_bpf__destroy(skel);
    }
    if (sigfd >= 0)
        close(sigfd);
    if (pidfd >= 0)
        close(pidfd);
    tiering_free(&tiering);
    free(top);
    free(dump.v);
    mtp_maps_free(&target.maps);
    return exit_code;
}
