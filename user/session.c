// SPDX-License-Identifier: MIT
#include "session.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <linux/capability.h>

#include "diag.h"
#include "numa_io.h"
#include "page_map.h"
#include "sysutil.h"

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

int mtp_session__open(struct mtp_session *s, const struct mtp_options *opts, pid_t pid, bool first)
{
    memset(s, 0, sizeof(*s));
    s->opts = opts;
    s->target.pidfd = -1;
    mtp_pins__init(&s->pins);
    s->report.pid = (int)pid;
    if (mtp_target__inspect(&s->target, pid) < 0)
        return -1;
    if (check_kernel() < 0)
        return -1;
    /* Before anything touches the target: a second tracer is refused here. */
    if (mtp_pins__claim(&s->pins, opts->pin_root, (int)pid) < 0)
        return -1;
    if (mtp_tiering__setup(&s->tiering, opts, first) < 0)
        return -1;
    mtp_settings__init(&s->settings, opts, &s->tiering);
    s->skel = mtp_trace_bpf__open();
    if (!s->skel) {
        mtp_error("cannot open the BPF object: %s", strerror(errno));
        return -1;
    }
    return 0;
}

int mtp_session__configure(struct mtp_session *s, bool young)
{
    uint32_t capacity = s->opts->max_pages;
    int err;

    if (!capacity)
        capacity = mtp_page_map_capacity(young ? 0 : mtp_rss_bytes(s->target.pid));
    err = bpf_map__set_max_entries(s->skel->maps.pages, capacity);
    if (err) {
        mtp_error("cannot size the page map: %s", strerror(-err));
        return -1;
    }
    s->report.map_capacity = capacity;
    return 0;
}

int mtp_session__load(struct mtp_session *s)
{
    int err = mtp_trace_bpf__load(s->skel);

    if (err) {
        mtp_error("cannot load the BPF programs: %s (run with -v for the verifier log; mtp needs "
                  "kernel 5.17+ for bpf_loop)",
                  strerror(-err));
        return -1;
    }
    /* Heat's epochs are the loader's intervals; BPF turns the time between
     * two looks at a page into epochs with it. */
    s->skel->bss->mtp_epoch_ns = s->opts->interval_ns;
    return 0;
}

/* mtp:gc_start is left for ad-hoc tools: attaching it would cost every
 * collection a uprobe firing (~1 us) for nothing mtp-trace needs. */
static const char *const probe_names[] = {"objects", "gc_done", "hint", "configure", "written"};

/* What to do about an attach that failed with err. */
static const char *attach_hint(int err)
{
    if (err == -ENOENT)
        return " (the extension is older than this mtp-trace: rebuild it)";
    if ((err == -EACCES || err == -EPERM) && !mtp_have_cap(CAP_SYS_ADMIN))
        return " (a uprobe's perf event needs CAP_SYS_ADMIN on this kernel, which this "
               "mtp-trace lacks; CAP_BPF + CAP_PERFMON are not enough: run it as root, or grant "
               "CAP_SYS_ADMIN)";
    if (err == -EACCES || err == -EPERM)
        return " (the target is another user's, or not dumpable: grant CAP_SYS_PTRACE too)";
    if (err == -ESRCH)
        return " (the target exited while mtp-trace attached: nothing was left attached)";
    return "";
}

static int attach_probes(struct mtp_session *s)
{
    struct mtp_trace_bpf *skel = s->skel;
    struct bpf_program *progs[] = {skel->progs.handle_objects, skel->progs.handle_gc_done,
                                   skel->progs.handle_hint, skel->progs.handle_configure,
                                   skel->progs.handle_written};
    struct bpf_link **links[] = {&skel->links.handle_objects, &skel->links.handle_gc_done,
                                 &skel->links.handle_hint, &skel->links.handle_configure,
                                 &skel->links.handle_written};
    const struct mtp_target *t = &s->target;

    for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
        struct bpf_link *link;

        /* An unattached probe keeps its semaphore at zero, which is what
         * tells the extension not to scan. */
        if (s->opts->no_written_scan && progs[i] == skel->progs.handle_written)
            continue;
        link = bpf_program__attach_usdt(progs[i], t->pid, t->extension, MTP_USDT_PROVIDER,
                                        probe_names[i], NULL);
        if (!link) {
            int err = -errno;
            mtp_error("cannot attach to USDT probe mtp:%s in %s: %s%s", probe_names[i],
                      t->extension, strerror(-err), attach_hint(err));
            return -1;
        }
        *links[i] = link;
    }
    return 0;
}

int mtp_session__attach(struct mtp_session *s)
{
    if (attach_probes(s) < 0 || mtp_pins__pin(&s->pins, s->skel->obj) < 0)
        return -1;
    s->settings_rb = ring_buffer__new(bpf_map__fd(s->skel->maps.settings), mtp_settings__on_record,
                                      &s->settings, NULL);
    if (!s->settings_rb) {
        mtp_error("cannot open the settings ring buffer: %s", strerror(errno));
        return -1;
    }
    /* The uprobes were bound to the process at pid when they were attached:
     * still ours, if it has not exited since. */
    if (mtp_target__check_alive(&s->target, "while mtp-trace attached to it") < 0)
        return -1;
    s->top = calloc(s->opts->top_pages ? s->opts->top_pages : 1, sizeof(*s->top));
    s->type_rows = calloc(MTP_TYPES_MAX, sizeof(*s->type_rows));
    if (!s->top || !s->type_rows) {
        mtp_error("out of memory");
        return -1;
    }
    s->report.tiering = s->tiering.active ? &s->tiering.report : NULL;
    return 0;
}

int mtp_session__read_stats(struct mtp_session *s)
{
    __u32 zero = 0;

    return bpf_map_lookup_elem(bpf_map__fd(s->skel->maps.stats), &zero, &s->report.totals) < 0
               ? -errno
               : 0;
}

int mtp_session__read_types(struct mtp_session *s)
{
    int fd = bpf_map__fd(s->skel->maps.types), names_fd = bpf_map__fd(s->skel->maps.type_names);
    struct mtp_types *t = &s->types;
    __u32 count, out = 0;

    if (t->span == 0)
        mtp_types__grow_span(t);
    count = t->span;
    /* One call for the ids in use: an array map hands its slots over in
     * order (the keys come back in t->keys, the same ids). */
    if (bpf_map_lookup_batch(fd, NULL, &out, t->keys, t->seen, &count, NULL) < 0 && errno != ENOENT)
        return -errno;
    mtp_types__grow_span(t);
    for (__u32 id = 1; id < count; id++) {
        if (s->types.seen[id].records == 0 || s->types.names[id].name[0])
            continue;
        if (bpf_map_lookup_elem(names_fd, &id, &s->types.names[id]) < 0)
            return -errno;
    }
    return 0;
}

int mtp_session__count_types(struct mtp_session *s)
{
    const struct mtp_tiering *t = &s->tiering;
    /* Moves are counted against this interval's pages, if tiering moved
     * these very pages. */
    bool located = t->active && t->located_len == s->dump.len && s->dump.len > 0;
    int err = mtp_types__count_pages(&s->types, s->dump.v, s->dump.len, s->report.totals.cycles);
    __u32 count = s->types.span;

    if (err < 0)
        return err;
    if (located)
        mtp_types__count_moves(&s->types, t->moves, t->moved_len, t->after, t->fast_node);
    /* For bpftool and other readers; the report does not need it. */
    (void)bpf_map_update_batch(bpf_map__fd(s->skel->maps.type_tiers), s->types.keys, s->types.tiers,
                               &count, NULL);
    s->report.types_total = mtp_types__rows(&s->types, s->type_rows, MTP_TYPES_MAX);
    s->report.types = s->type_rows;
    if (s->report.types_total > MTP_TYPES_MAX)
        s->report.types_total = MTP_TYPES_MAX;
    s->report.types_len =
        s->report.types_total < s->opts->types ? s->report.types_total : s->opts->types;
    mtp_types__pick(s->type_rows, s->report.types_total, s->report.types_len);
    return 0;
}

void mtp_session__destroy(struct mtp_session *s)
{
    ring_buffer__free(s->settings_rb);
    mtp_pins__release(&s->pins, s->opts->keep_pins);
    mtp_trace_bpf__destroy(s->skel);
    mtp_target__free(&s->target);
    mtp_tiering__free(&s->tiering);
    mtp_page_dump__free(&s->dump);
    mtp_types__free(&s->types);
    free(s->top);
    free(s->type_rows);
}
