// SPDX-License-Identifier: MIT
#include "tiering.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "diag.h"
#include "free_lists.h"
#include "interval.h"
#include "move_backoff.h"
#include "numa_io.h"
#include "sysutil.h"
#include "thp.h"

static int tiering_reserve(struct mtp_tiering *t, size_t n)
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

void mtp_tiering__free(struct mtp_tiering *t)
{
    mtp_policy_destroy(t->policy);
    mtp_sweep__free(&t->sweep);
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

static int discover_tiers(struct mtp_tiers *tiers, const struct mtp_options *o)
{
    char err[256];

    if (mtp_tiers_discover(tiers, &mtp_sysfs_real, err, sizeof(err)) < 0) {
        mtp_error("cannot read the NUMA topology: %s", err);
        return -1;
    }
    if ((o->fast_nodes[0] || o->slow_nodes[0]) &&
        mtp_tiers_override(tiers, o->fast_nodes[0] ? o->fast_nodes : NULL,
                           o->slow_nodes[0] ? o->slow_nodes : NULL, err, sizeof(err)) < 0) {
        mtp_error("%s", err);
        return -1;
    }
    return 0;
}

int mtp_tiering__show(const struct mtp_options *o)
{
    struct mtp_tiers tiers;
    char buf[8192];

    if (discover_tiers(&tiers, o) < 0)
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

/* Without the written-page scan mtp sees a page only through the reference
 * counts of the objects on it, and a read changes none it can see: no page
 * is ever shown cold.  Demoting what merely looked idle placed less of the
 * program's accesses on the fast node than first touch on all seven of the
 * paper's workloads (BENCHMARKS.md §6, part 16), so the policy then demotes
 * only pages mtp promoted (policy.h, "Promoted only"), and the budget holds
 * only as far as those reach: a run that moves pages says so. */
static void note_scanless_rule(const struct mtp_options *o)
{
    if (o->no_written_scan && !o->dry_run)
        mtp_say("--no-written-scan: mtp demotes only pages it promoted, having no evidence "
                "that any other page is cold; the fast node keeps what the program placed "
                "there, so the budget holds only as far as mtp's own promotions reach");
}

/* --watermark auto: the free memory below which the kernel places no new
 * user page on the fast node (its zones' low watermarks and the lower
 * zones' reserves: zoneinfo.h; the lows alone left 3.7 MiB of the guest's
 * node 0 counted as room that no new page could use).
 * Keeping the high ones free instead, as mtp did until issue 13's runs,
 * reserves room first touch fills anyway: every interval a program
 * allocates finds the node short, and mtp demoted 2-5 MiB to make up for
 * it, pages it had often never seen (BENCHMARKS.md §6).  Read once (it
 * changes only with vm.min_free_kbytes and memory hotplug).  Writes to note what the startup line
 * says about it. */
static void resolve_watermark(struct mtp_tiering *t, const struct mtp_options *o, char *note,
                              size_t len)
{
    char err[256];
    uint64_t bytes = 0;

    t->watermark_bytes = o->policy.watermark_bytes;
    if (!o->watermark_auto) {
        snprintf(note, len, "watermark %.1f MiB (--watermark)", t->watermark_bytes / 1048576.0);
        return;
    }
    if (mtp_node_low_watermark(t->fast_node, &bytes, err, sizeof(err)) < 0) {
        mtp_warn("%s; using a %.0f MiB watermark (set --watermark)", err,
                 MTP_DEFAULT_WATERMARK_BYTES / 1048576.0);
        t->watermark_bytes = MTP_DEFAULT_WATERMARK_BYTES;
        snprintf(note, len, "watermark %.1f MiB (fallback)", t->watermark_bytes / 1048576.0);
        return;
    }
    t->watermark_bytes = bytes;
    snprintf(note, len, "watermark %.1f MiB (kernel low watermarks and reserves of node %d)",
             bytes / 1048576.0, t->fast_node);
}

/* vm.numa_stat=0 stops the kernel's NUMA counters: numa_foreign then reads
 * 0 whatever the node refuses, and the headroom must not believe it. */
static bool numa_stat_frozen(void)
{
    char *text = NULL;
    bool frozen = mtp_read_file("/proc/sys/vm/numa_stat", &text) > 0 && text[0] == '0';

    free(text);
    return frozen;
}

int mtp_tiering__setup(struct mtp_tiering *t, const struct mtp_options *o, bool say)
{
    struct mtp_policy_config cfg;
    char err[256], note[128];

    memset(t, 0, sizeof(*t));
    t->watermark_bytes = o->policy.watermark_bytes;
    if (o->no_migrate) {
        /* Nothing moves, yet node lists that name no node are a mistake to
         * say now rather than on the run that migrates. */
        if ((o->fast_nodes[0] || o->slow_nodes[0]) && mtp_numa_available() &&
            discover_tiers(&t->tiers, o) < 0)
            return -1;
        return 0;
    }
    if (!mtp_numa_available()) {
        if (say)
            mtp_say("no NUMA support in this kernel: tracing only");
        return 0;
    }
    if (discover_tiers(&t->tiers, o) < 0)
        return -1;
    if (mtp_tiers_pick(&t->tiers, &t->fast_node, &t->slow_node) < 0) {
        if (say)
            mtp_say("one memory tier on this machine: tracing only (see "
                    "--show-tiers; --fast-nodes/--slow-nodes override)");
        return 0;
    }
    resolve_watermark(t, o, note, sizeof(note));
    t->foreign_state = numa_stat_frozen() ? -1 : 0;
    cfg = o->policy;
    cfg.watermark_bytes = t->watermark_bytes;
    t->policy = mtp_policy_create(&cfg);
    if (!t->policy) {
        mtp_policy_config_check(&cfg, err, sizeof(err));
        mtp_error("bad tiering settings: %s", err);
        return -1;
    }
    t->active = 1;
    if (say) {
        warn_kernel_movers();
        note_scanless_rule(o);
    }
    t->report.dry_run = o->dry_run;
    t->report.fast_node = t->fast_node;
    t->report.slow_node = t->slow_node;
    t->report.watermark_bytes = t->watermark_bytes;
    if (say)
        mtp_say("tiering: hot pages to node %d, cold pages to node %d; %s%s", t->fast_node,
                t->slow_node, note, o->dry_run ? " (dry run: nothing moves)" : "");
    return 0;
}

/* Tells BPF which tier each tracked page is on now (struct mtp_page's
 * tier), where that changed, so that the fold counts each type's bytes by
 * tier (struct mtp_type_stats).  Only the pages new to the map or moved are
 * written: each once, then a few per interval.  A fold between this
 * read and write loses that one update of the page (its heat for one look);
 * a failed write only leaves the page's bytes counted on its old tier. */
static void tell_tiers(const struct mtp_tiering *t, int pages_fd, const struct mtp_page_dump *d)
{
    for (size_t i = 0; i < d->len; i++) {
        int node = t->nodes[i];
        uint8_t tier = node == t->fast_node ? MTP_PAGE_TIER_FAST : MTP_PAGE_TIER_SLOW;
        struct mtp_page val;

        if (node < 0 || tier == d->v[i].tier)
            continue;
        if (bpf_map_lookup_elem(pages_fd, &d->v[i].addr, &val) < 0)
            continue;
        val.tier = tier;
        (void)bpf_map_update_elem(pages_fd, &d->v[i].addr, &val, BPF_EXIST);
    }
}

/* Where the tracked pages are now, and the heat the policy ranks them by.
 * Fills t->pages[0..d->len). */
static int locate(struct mtp_tiering *t, const struct mtp_options *o, pid_t pid, int pages_fd,
                  const struct mtp_page_dump *d)
{
    struct mtp_tiering_report *r = &t->report;
    size_t n = d->len;
    int err;

    if (tiering_reserve(t, n ? n : 1) < 0)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        t->addrs[i] = d->v[i].addr;
    err = mtp_pages_query(pid, n, t->addrs, t->nodes);
    if (err < 0) {
        if (o->verbose)
            mtp_say("querying %zu pages failed: %s", n, strerror(-err));
        return err;
    }
    t->located_len = n;
    tell_tiers(t, pages_fd, d);
    r->hinted_hot = r->hinted_cold = 0;
    for (size_t i = 0; i < n; i++) {
        t->pages[i] = (struct mtp_policy_page){
            .addr = d->v[i].addr, .heat = mtp_hinted_heat(&d->v[i]), .node = t->nodes[i]};
        r->hinted_hot += d->v[i].hint == MTP_HINT_HOT;
        r->hinted_cold += d->v[i].hint == MTP_HINT_COLD;
        /* Freed and unmapped, and nothing left to remember: let the map
         * forget it too, or it fills with the ghosts of old arenas. */
        if (t->nodes[i] == -EFAULT && d->v[i].heat == 0 && d->v[i].hint == 0)
            bpf_map_delete_elem(pages_fd, &d->v[i].addr);
    }
    return 0;
}

/* The pages of one transparent huge page move together, so they get one
 * temperature (user/lib/thp.c). */
static int unify_huge_pages(struct mtp_tiering *t, pid_t pid, size_t n)
{
    int err = mtp_pages_thp(pid, n, t->addrs, t->is_thp);
    long huge;

    if (err < 0 && err != -ESRCH && !t->thp_warned) {
        t->thp_warned = 1;
        mtp_warn("cannot tell huge pages apart (%s): a THP holding "
                 "hot and cold pages may move back and forth",
                 strerror(-err));
    }
    t->report.huge_pages = 0;
    if (err < 0)
        return 0;
    huge = mtp_thp_unify_heat(t->pages, n, t->is_thp);
    if (huge < 0)
        return (int)huge;
    t->report.huge_pages = (uint64_t)huge;
    return 0;
}

/* Appends the sweep's untracked fast pages to t->pages[n...] with no heat;
 * returns the new count, or -errno. */
static long add_untracked(struct mtp_tiering *t, pid_t pid, const struct mtp_maps *maps, size_t n)
{
    long found = mtp_sweep__window(&t->sweep, pid, maps, &t->tiers, t->pages, n);

    if (found <= 0)
        return found < 0 ? found : (long)n;
    if (tiering_reserve(t, n + (size_t)found) < 0)
        return -ENOMEM;
    for (long i = 0; i < found; i++)
        t->pages[n + (size_t)i] = (struct mtp_policy_page){
            .addr = t->sweep.addrs[i], .heat = 0, .node = t->sweep.nodes[i], .untracked = true};
    return (long)n + found;
}

/* Moves the plan's n_moves pages and accounts for what really moved. */
static int move(struct mtp_tiering *t, const struct mtp_options *o, const struct mtp_target *target,
                size_t n_moves)
{
    pid_t pid = target->pid;
    int err;

    for (size_t i = 0; i < n_moves; i++) {
        t->move_addrs[i] = t->moves[i].addr;
        t->targets[i] = t->moves[i].to_node;
    }
    /* move_pages(2) takes a pid, not a pidfd: the handle is checked just
     * before, so pages move only in the process that was traced.  What is
     * left is the microseconds between the check and the call, in which the
     * target would have to exit, be reaped and have its pid handed out
     * again. */
    if (mtp_target__exited(target))
        return -ESRCH;
    err = mtp_pages_move(pid, n_moves, t->move_addrs, t->targets, t->status);
    if (err < 0) {
        if (o->verbose)
            mtp_say("move_pages of %zu pages failed: %s", n_moves, strerror(-err));
        return err;
    }
    /* The re-query is the truth: THP pages report -EBUSY yet move. */
    err = mtp_pages_query(pid, n_moves, t->move_addrs, t->after);
    if (err < 0)
        return err;
    mtp_policy_commit(t->policy, t->moves, n_moves, t->status, t->after, &t->report.moved);
    t->moved_len = n_moves;
    return 0;
}

/* The allocations the fast node refused since the last interval, for the
 * headroom; MTP_REFUSED_UNKNOWN on the first interval or without the
 * counter. */
static uint64_t refused_bytes(struct mtp_tiering *t)
{
    uint64_t now, refused = MTP_REFUSED_UNKNOWN;

    if (t->foreign_state < 0)
        return refused;
    if (mtp_node_foreign_pages(t->fast_node, &now) < 0) {
        t->foreign_state = 0;
        return refused;
    }
    if (t->foreign_state > 0 && now >= t->foreign_last)
        refused = (now - t->foreign_last) * MTP_PAGE_SIZE;
    t->foreign_last = now;
    t->foreign_state = 1;
    return refused;
}

/* Says once, with the setting that fixes it, when the fast node is at its
 * floor while its free pages wait on its CPUs' lists (free_lists.h): then
 * neither the program's new pages nor promotions find room, whatever mtp
 * demotes, and the setting is the operator's to change, not mtp's. */
static void warn_free_lists(struct mtp_tiering *t, const struct mtp_free_lists *lists,
                            uint64_t free_bytes, uint64_t budget_bytes)
{
    uint64_t floor = t->watermark_bytes;
    char err[256];

    if (t->lists_warned || free_bytes == UINT64_MAX ||
        !mtp_free_lists_starve(lists, free_bytes, t->watermark_bytes, budget_bytes))
        return;
    t->lists_warned = 1;
    if (mtp_node_low_watermark(t->fast_node, &floor, err, sizeof(err)) < 0)
        floor = t->watermark_bytes;
    mtp_warn("node %d is at its floor (%.1f MiB free, watermark %.1f MiB) while %.1f MiB of its "
             "free pages wait on its CPUs' free-page lists (they may hold %.0f MiB), where "
             "neither the program's new pages nor promotions can use them; to bound the lists "
             "to ~1/32 of the node's low watermarks: sysctl vm.percpu_pagelist_high_fraction=%lu "
             "(every node's lists; README, Limits)",
             t->fast_node, free_bytes / 1048576.0, t->watermark_bytes / 1048576.0,
             lists->held_bytes / 1048576.0, lists->limit_bytes / 1048576.0,
             mtp_free_lists_fraction(lists->managed_bytes, floor));
}

static void log_interval(const struct mtp_tiering_report *r, size_t n)
{
    mtp_say("interval %u: %zu pages, plan promote %zu demote %zu over-budget %zu headroom %zu "
            "deferred %zu; moved %zu (promoted %zu demoted %zu) busy %zu nomem %zu refused %zu "
            "gone %zu other %zu",
            r->plan.interval, n, r->plan.promote, r->plan.demote, r->plan.over_budget,
            r->plan.headroom, r->plan.deferred, r->moved.moved, r->moved.promoted, r->moved.demoted,
            r->moved.busy, r->moved.nomem, r->moved.refused, r->moved.gone, r->moved.other);
}

int mtp_tiering__step(struct mtp_tiering *t, const struct mtp_options *o,
                      const struct mtp_target *target, int pages_fd, const struct mtp_page_dump *d)
{
    const struct mtp_maps *maps = &target->maps;
    pid_t pid = target->pid;
    struct mtp_tiering_report *r = &t->report;
    struct mtp_policy_input in = {0};
    struct mtp_free_lists lists;
    bool lists_read;
    size_t n = d->len, n_moves = 0;
    uint64_t backoffs;
    int err;

    t->located_len = t->moved_len = 0;
    err = locate(t, o, pid, pages_fd, d);
    if (!err)
        err = unify_huge_pages(t, pid, n);
    if (err < 0)
        return err;
    if (!o->no_sweep) {
        long swept = add_untracked(t, pid, maps, n);

        if (swept < 0)
            return (int)swept;
        n = (size_t)swept;
    }
    in.pages = t->pages;
    in.n_pages = n;
    in.tiers = &t->tiers;
    in.fast_node = t->fast_node;
    in.slow_node = t->slow_node;
    in.rss_bytes = mtp_rss_bytes(pid);
    in.fast_free_bytes = mtp_node_free_bytes(t->fast_node);
    in.fast_refused_bytes = refused_bytes(t);
    /* ~45 us on a 2-CPU host, 0.8 ms in the TCG guest; the text grows with
     * the CPUs' pagesets (BENCHMARKS.md §6) */
    lists_read = mtp_node_free_lists(t->fast_node, &lists) == 0;
    r->fast_lists_bytes = lists_read ? lists.held_bytes : MTP_FREE_LISTS_UNKNOWN;
    err = mtp_policy_plan(t->policy, &in, t->moves, t->cap, &n_moves, &r->plan);
    if (err < 0)
        return err;
    if (lists_read)
        warn_free_lists(t, &lists, in.fast_free_bytes, r->plan.budget_bytes);
    memset(&r->moved, 0, sizeof(r->moved));
    if (!o->dry_run && n_moves > 0) {
        err = move(t, o, target, n_moves);
        if (err < 0)
            return err;
    }
    if (o->verbose)
        log_interval(r, n);
    backoffs = r->totals.backoffs;
    mtp_policy_totals(t->policy, &r->totals);
    if (r->totals.backoffs > backoffs)
        mtp_say("pid %d: a node refused %zu pages (%zu ENOMEM: full; %zu EBUSY; %zu not "
                "migrated, no reason given): moves to it are held for 1, 2, 4 ... (at most %d) "
                "intervals, until a batch goes through",
                (int)pid, r->moved.nomem + r->moved.busy + r->moved.refused, r->moved.nomem,
                r->moved.busy, r->moved.refused, MTP_MOVE_BACKOFF_MAX);
    r->pingpong_rate = mtp_policy_pingpong_rate(t->policy);
    return 0;
}
