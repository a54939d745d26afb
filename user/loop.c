// SPDX-License-Identifier: MIT
#include "loop.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "diag.h"
#include "fleet.h"
#include "heatmap.h"
#include "interval.h"
#include "stopsig.h"
#include "sysutil.h"
#include "top.h"

/* Reads what BPF gathered: the stats and the page map at the current epoch,
 * forgetting pages the program has given back.  0, or -1 after reporting. */
static int gather(struct mtp_session *s, enum mtp_stop stop, uint32_t epoch)
{
    int pages_fd = bpf_map__fd(s->skel->maps.pages), err;

    /* Maps change as the heap grows. */
    mtp_target__refresh_maps(&s->target);
    s->report.prev = s->report.totals;
    s->report.prev_elapsed_s = s->report.elapsed_s;
    err = mtp_session__read_stats(s);
    if (err < 0) {
        mtp_error("cannot read the stats map: %s", strerror(-err));
        return -1;
    }
    err = mtp_session__read_types(s);
    if (err < 0) {
        mtp_error("cannot read the types map: %s", strerror(-err));
        return -1;
    }
    err = mtp_page_dump__read(&s->dump, pages_fd, epoch, &s->target.maps);
    if (err < 0) {
        mtp_error("cannot read the page map: %s", strerror(-err));
        return -1;
    }
    if (stop != MTP_STOP_EXITED)
        mtp_page_dump__prune_unmapped(&s->dump, pages_fd, &s->target.maps);
    return 0;
}

/* The tiering step, which may find the target gone.  0, or -1 after
 * reporting a fatal error. */
static int tier(struct mtp_session *s, enum mtp_stop *stop)
{
    int err;

    if (!s->tiering.active || *stop == MTP_STOP_EXITED)
        return 0;
    err = mtp_tiering__step(&s->tiering, s->opts, &s->target, bpf_map__fd(s->skel->maps.pages),
                            &s->dump);
    if (err < 0 && mtp_target__exited(&s->target)) {
        /* move_pages says EINVAL, not ESRCH, for a zombie. */
        *stop = MTP_STOP_EXITED;
    } else if (err == -ENOMEM) {
        mtp_error("out of memory for %zu pages", s->dump.len);
        return -1;
    } else if (err < 0) {
        /* Keep tracing: one failed interval must not end a long run. */
        mtp_warn("no tiering this interval: %s", strerror(-err));
    }
    return 0;
}

/* Fills in the interval's report and prints it with its notes (under the
 * live view, only the final one: the view draws the others).  0, or -1
 * after saying that the report could not be written. */
static int report(struct mtp_session *s, enum mtp_stop stop, uint32_t epoch, double elapsed_s,
                  bool view)
{
    struct mtp_report *r = &s->report;
    int err;

    r->interval++;
    r->elapsed_s = elapsed_s;
    r->pages_tracked = s->dump.len;
    r->hot_pages = mtp_count_hot(s->dump.v, s->dump.len);
    err = mtp_session__count_types(s);
    if (err < 0) {
        mtp_error("out of memory counting %zu pages by type", s->dump.len);
        return -1;
    }
    if (stop != MTP_STOP_NONE) {
        r->final = 1;
        r->stop_reason = mtp_stop_reason(stop);
        r->top_len = mtp_select_hottest(s->dump.v, s->dump.len, s->top, s->opts->top_pages);
        r->top = s->top;
    }
    mtp_output__notices(&s->notices, r);
    r->epoch = epoch;
    err = view && !r->final ? 0 : mtp_output__report(r, s->opts->json);
    if (err < 0) {
        /* Numbers no one reads are no use: stop, unpinned, exit 1. */
        mtp_error("cannot write the report to standard output: %s (a full disk? stdout "
                  "redirected to /dev/full?); stopping",
                  strerror(-err));
        return -1;
    }
    return 0;
}

/* One interval: gather, tier, report, and let heat's time pass if anything
 * was observed.  0, or -1 after reporting a fatal error. */
static int run_interval(struct mtp_session *s, enum mtp_stop *stop, double elapsed_s, bool view)
{
    uint32_t epoch = s->skel->bss->mtp_epoch;

    if (gather(s, *stop, epoch) < 0 || tier(s, stop) < 0)
        return -1;
    if (report(s, *stop, epoch, elapsed_s, view) < 0)
        return -1;
    if (mtp_epoch_advances(&s->report.totals, &s->report.prev))
        s->skel->bss->mtp_epoch = epoch + 1;
    return 0;
}

/* Gathers the fds to wait on: the signals', then each session's exit
 * handle and settings ring buffer.  Returns how many. */
static nfds_t watch_fds(const struct mtp_fleet *f, int sigfd, struct pollfd *fds)
{
    nfds_t n = 0;

    fds[n++] = (struct pollfd){.fd = sigfd, .events = POLLIN};
    for (unsigned i = 0; i < f->len; i++) {
        fds[n++] = (struct pollfd){.fd = f->s[i]->target.pidfd, .events = POLLIN};
        fds[n++] =
            (struct pollfd){.fd = ring_buffer__epoll_fd(f->s[i]->settings_rb), .events = POLLIN};
    }
    return n;
}

/* Takes the settings the programs sent, and ends the sessions whose
 * process exited, each with its final report.  -1 on a fatal error. */
static int serve_sessions(struct mtp_fleet *f, const struct pollfd *fds, unsigned watched,
                          double now)
{
    /* Sessions are closed from the end, so the fds' indices stay valid. */
    for (unsigned i = watched; i-- > 0;) {
        struct mtp_session *s = f->s[i];
        enum mtp_stop stop = MTP_STOP_EXITED;

        if (fds[2 + 2 * i].revents & POLLIN)
            ring_buffer__consume(s->settings_rb);
        if (!(fds[1 + 2 * i].revents & POLLIN))
            continue;
        if (run_interval(s, &stop, now - s->started_s, f->top) < 0)
            return -1;
        mtp_fleet__close(f, i);
    }
    return 0;
}

/* One interval for every session; on a stop, their final reports. */
/* The interval's reports, all processes in one file: a failure to write it
 * is said once (and its end), and tracing goes on without it. */
static void write_prom(struct mtp_fleet *f)
{
    const struct mtp_report *reports[MTP_PIDS_MAX];
    int err;

    for (unsigned i = 0; i < f->len; i++)
        reports[i] = &f->s[i]->report;
    err = mtp_output__prom(f->opts->prom_file, reports, f->len);
    if (err < 0 && !f->prom_failing)
        mtp_warn("cannot write --prom-file %s: %s; tracing goes on, and it is retried each "
                 "interval",
                 f->opts->prom_file, strerror(-err));
    else if (err == 0 && f->prom_failing)
        mtp_say("--prom-file %s written again", f->opts->prom_file);
    f->prom_failing = err < 0;
}

/* The session's interval, with its pages folded into a heatmap column, as
 * one line of --record.  0, or -1 after saying it cannot be written: a
 * recording with holes would mislead. */
static int record_interval(struct mtp_fleet *f, struct mtp_session *s)
{
    struct mtp_heat_block *blocks = malloc(sizeof(*blocks) * (s->dump.len ? s->dump.len : 1));
    size_t n;
    char *line;
    int ok;

    /* short of memory, the line still goes, its heatmap column empty */
    n = blocks ? mtp_heatmap_fold(s->dump.v, s->dump.len, blocks) : 0;
    line = mtp_report_json_record(&s->report, blocks, n);
    free(blocks);
    ok = line && fputs(line, f->record) >= 0 && fputc('\n', f->record) != EOF &&
         fflush(f->record) == 0;
    free(line);
    if (!ok) {
        mtp_error("cannot write --record %s: %s; stopping", f->opts->record, strerror(errno));
        return -1;
    }
    return 0;
}

static int run_intervals(struct mtp_fleet *f, enum mtp_stop stop, double now)
{
    for (unsigned i = 0; i < f->len; i++) {
        enum mtp_stop s_stop = stop;

        if (run_interval(f->s[i], &s_stop, now - f->s[i]->started_s, f->top) < 0)
            return -1;
        if (f->record && record_interval(f, f->s[i]) < 0)
            return -1;
    }
    if (f->opts->prom_file[0])
        write_prom(f);
    /* A session whose process tiering found gone made its final report. */
    for (unsigned i = f->len; i-- > 0;)
        if (f->s[i]->report.final && stop == MTP_STOP_NONE)
            mtp_fleet__close(f, i);
    return 0;
}

/* What the signals read from sigfd ask (user/lib/stopsig.c): the first
 * that stops tracing, or 0, after passing on to a launched program those
 * another process sent us. */
static int signals_stop(int sigfd, const struct mtp_launch *launched)
{
    struct signalfd_siginfo si;
    int stop = 0;

    while (read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        bool sent =
            (si.ssi_code == SI_USER || si.ssi_code == SI_QUEUE) && si.ssi_pid != (uint32_t)getpid();

        switch (mtp_signal_action(launched != NULL, sent)) {
        case MTP_SIGNAL_STOP:
            stop = stop ? stop : (int)si.ssi_signo;
            break;
        case MTP_SIGNAL_FORWARD:
            mtp_launch__forward(launched, (int)si.ssi_signo);
            break;
        case MTP_SIGNAL_IGNORE:
            break;
        }
    }
    return stop;
}

/* q in the live view: what Ctrl-C does.  A launched program gets SIGINT
 * and tracing ends with it; otherwise tracing stops as on SIGINT (exit 0). */
static void quit(const struct mtp_launch *launched, int *stop_signal)
{
    if (launched)
        mtp_launch__forward(launched, SIGINT);
    else if (!*stop_signal)
        *stop_signal = SIGINT;
}

static int poll_loop(struct mtp_fleet *f, int sigfd, struct mtp_launch *launched, int *stop_signal,
                     struct mtp_top *top)
{
    static struct pollfd fds[3 + 2 * MTP_PIDS_MAX];
    enum mtp_stop stop = MTP_STOP_NONE;
    struct mtp_clock clock;

    mtp_clock_start(&clock, mtp_now_s(), f->opts->interval_ns, f->opts->duration_ns);
    while (stop == MTP_STOP_NONE) {
        unsigned watched = f->len;
        nfds_t n = watch_fds(f, sigfd, fds);
        double now;
        bool due, gone;

        /* Last, so that the sessions' indices in fds stay as watch_fds made them. */
        fds[n++] = (struct pollfd){.fd = launched ? launched->pidfd : -1, .events = POLLIN};
        /* The view's keys: read at every wake-up below, never waited for. */
        fds[n++] = (struct pollfd){.fd = top ? mtp_top__fd(top) : -1, .events = POLLIN};
        if (poll(fds, n, mtp_clock_timeout_ms(&clock, mtp_now_s())) < 0 && errno != EINTR) {
            mtp_error("poll: %s", strerror(errno));
            return -1;
        }
        now = mtp_now_s();
        if (serve_sessions(f, fds, watched, now) < 0)
            return -1;
        gone = launched ? mtp_launch__reap(launched) : f->len == 0 && mtp_fleet__ends_empty(f);
        if (fds[0].revents & POLLIN)
            *stop_signal = signals_stop(sigfd, launched);
        if (top && mtp_top__key(top, f) == MTP_TOP_QUIT)
            quit(launched, stop_signal);
        stop = mtp_clock_wake(&clock, now, *stop_signal != 0, gone, &due);
        if (!due || (gone && f->len == 0))
            continue;
        if (stop == MTP_STOP_NONE)
            mtp_fleet__discover(f, now);
        if (run_intervals(f, stop, now) < 0)
            return -1;
        mtp_clock_advance(&clock, now);
        if (top && stop == MTP_STOP_NONE)
            mtp_top__draw(top, f);
    }
    return 0;
}

int mtp_loop__run(struct mtp_fleet *f, int sigfd, struct mtp_launch *launched, int *stop_signal)
{
    struct mtp_top *top = NULL;
    int rc;

    *stop_signal = 0;
    if (f->top && !(top = mtp_top__open())) {
        /* said why: plain lines from here on, under their header */
        f->top = false;
        if (f->len)
            mtp_output__header(&f->s[0]->report, f->opts->json);
    }
    if (top)
        mtp_top__draw(top, f);
    rc = poll_loop(f, sigfd, launched, stop_signal, top);
    mtp_top__close(top);
    return rc;
}
