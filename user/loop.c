// SPDX-License-Identifier: MIT
#include "loop.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"
#include "interval.h"
#include "sysutil.h"

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
    err = mtp_tiering__step(&s->tiering, s->opts, s->target.pid, bpf_map__fd(s->skel->maps.pages),
                            &s->dump, &s->target.maps);
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

/* Fills in the interval's report and prints it with its notes. */
static void report(struct mtp_session *s, enum mtp_stop stop, uint32_t epoch, double elapsed_s)
{
    struct mtp_report *r = &s->report;

    r->interval++;
    r->elapsed_s = elapsed_s;
    r->pages_tracked = s->dump.len;
    r->hot_pages = mtp_count_hot(s->dump.v, s->dump.len);
    if (stop != MTP_STOP_NONE) {
        r->final = 1;
        r->stop_reason = mtp_stop_reason(stop);
        r->top_len = mtp_select_hottest(s->dump.v, s->dump.len, s->top, s->opts->top);
        r->top = s->top;
    }
    mtp_output__notices(&s->notices, r);
    r->epoch = epoch;
    mtp_output__report(r, s->opts->json);
}

/* One interval: gather, tier, report, and let heat's time pass if anything
 * was observed.  0, or -1 after reporting a fatal error. */
static int run_interval(struct mtp_session *s, enum mtp_stop *stop, double elapsed_s)
{
    uint32_t epoch = s->skel->bss->mtp_epoch;

    if (gather(s, *stop, epoch) < 0 || tier(s, stop) < 0)
        return -1;
    report(s, *stop, epoch, elapsed_s);
    if (mtp_epoch_advances(&s->report.totals, &s->report.prev))
        s->skel->bss->mtp_epoch = epoch + 1;
    return 0;
}

static void announce(const struct mtp_session *s, const char *config_path)
{
    const struct mtp_target *t = &s->target;

    mtp_say("tracing pid %d (%s) through %s%s%s", (int)t->pid, t->comm, t->extension,
            config_path[0] ? ", settings from " : "", config_path);
    mtp_say("page map pinned at %s (bpftool map dump pinned %s); Ctrl-C to stop", s->pins.pages,
            s->pins.pages);
    mtp_output__header(&s->report, s->opts->json);
}

static int poll_loop(struct mtp_session *s, int sigfd)
{
    enum mtp_stop stop = MTP_STOP_NONE;
    struct mtp_clock clock;

    mtp_clock_start(&clock, mtp_now_s(), s->opts->interval_ns, s->opts->duration_ns);
    while (stop == MTP_STOP_NONE) {
        struct pollfd fds[3] = {{.fd = sigfd, .events = POLLIN},
                                {.fd = s->target.pidfd, .events = POLLIN},
                                {.fd = ring_buffer__epoll_fd(s->settings_rb), .events = POLLIN}};
        double now;
        bool due;

        if (poll(fds, 3, mtp_clock_timeout_ms(&clock, mtp_now_s())) < 0 && errno != EINTR) {
            mtp_error("poll: %s", strerror(errno));
            return -1;
        }
        if (fds[2].revents & POLLIN)
            ring_buffer__consume(s->settings_rb);
        now = mtp_now_s();
        stop = mtp_clock_wake(&clock, now, fds[0].revents & POLLIN, fds[1].revents & POLLIN, &due);
        if (!due)
            continue;
        if (run_interval(s, &stop, now - clock.start) < 0)
            return -1;
        mtp_clock_advance(&clock, now);
    }
    return 0;
}

int mtp_loop__run(struct mtp_session *s, const char *config_path)
{
    int sigfd = mtp_signals_block(), rc;

    if (sigfd < 0) {
        mtp_error("cannot set up signal handling: %s", strerror(-sigfd));
        return -1;
    }
    announce(s, config_path);
    rc = poll_loop(s, sigfd);
    close(sigfd);
    return rc;
}
