// SPDX-License-Identifier: MIT
#include "output.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"
#include "interval.h"
#include "prom.h"

void mtp_output__header(const struct mtp_report *r, bool json)
{
    char header[256];

    if (json)
        return;
    mtp_report_text_header(r, header, sizeof(header));
    puts(header);
    fflush(stdout);
}

static void print_final(const struct mtp_report *r)
{
    size_t len = 256 + (size_t)r->top_len * 128, types_len = 512 + r->types_len * 128;
    char *buf = malloc(len), *types = malloc(types_len);

    if (!buf || !types) {
        free(buf);
        free(types);
        return;
    }
    mtp_report_text_top(r, buf, len);
    mtp_report_text_types(r, types, types_len);
    printf("\npid %d stopped (%s) after %.1f s: %llu events, %llu records, %llu dropped, %llu "
           "pages tracked\n%s",
           r->pid, r->stop_reason, r->elapsed_s, (unsigned long long)r->totals.events,
           (unsigned long long)r->totals.records, (unsigned long long)r->totals.dropped,
           (unsigned long long)r->pages_tracked, buf);
    if (r->types)
        printf("%s", types);
    free(buf);
    free(types);
}

int mtp_output__report(const struct mtp_report *r, bool json)
{
    char line[512];

    if (json) {
        char *js = mtp_report_json(r);
        if (js) {
            puts(js);
            free(js);
        }
    } else if (!r->final) {
        mtp_report_text_row(r, line, sizeof(line));
        puts(line);
    } else {
        print_final(r);
    }
    errno = 0;
    if (fflush(stdout) == 0 && !ferror(stdout))
        return 0;
    return errno == EPIPE ? 0 : errno ? -errno : -EIO;
}

static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

int mtp_output__prom(const char *path, const struct mtp_report *const *reports, size_t n)
{
    int need = mtp_prom_format(NULL, 0, reports, n), fd, err;
    char tmp[PATH_MAX];
    char *text;

    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return -ENAMETOOLONG;
    text = malloc((size_t)need + 1);
    if (!text)
        return -ENOMEM;
    mtp_prom_format(text, (size_t)need + 1, reports, n);
    /* 0644: node_exporter runs as its own user */
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
        err = -errno;
    } else {
        err = write_all(fd, text, (size_t)need);
        if (close(fd) < 0 && !err)
            err = -errno;
        if (!err && rename(tmp, path) < 0)
            err = -errno;
        if (err)
            unlink(tmp);
    }
    free(text);
    return err;
}

void mtp_output__notices(struct mtp_notices *n, const struct mtp_report *r)
{
    int64_t wp = mtp_wp_notice(r->totals.wp_state);

    /* Say once when the scan starts or is refused; its stride varies. */
    if (wp != n->wp_state) {
        n->wp_state = wp;
        if (wp > 0)
            mtp_say("pid %d: written-page scan: on (reads show as writes to "
                    "reference counts)",
                    r->pid);
        else if (wp == MTP_WP_STATE_BACKOFF)
            mtp_say("pid %d: written-page scan: backing off: its measured cost exceeded "
                    "its budget (2%% of the program's time) even at its widest sample; it "
                    "retries later (objects that are only read are invisible meanwhile)",
                    r->pid);
        else if (wp < 0)
            mtp_say("pid %d: written-page scan: unavailable (%s; needs Linux 6.7+ "
                    "PAGEMAP_SCAN): objects that are only read stay invisible",
                    r->pid, strerror((int)-wp));
    }
    if (!n->idle && mtp_idle_note_due(r->elapsed_s, &r->totals)) {
        n->idle = true;
        mtp_say("pid %d: note: nothing observed since attaching: the program has not collected "
                "and mtp's ticker has not had the GIL (is it in C code that holds the GIL? is "
                "MTP_BUDGET's timer_share 0?)",
                r->pid);
    }
    /* A full map loses pages silently otherwise: its counter alone said so. */
    if (!n->full && r->totals.dropped > 0) {
        n->full = true;
        mtp_say("pid %d: the page map is full (%llu pages tracked): %llu records dropped so "
                "far, and the pages they fall on are not tracked; raise --max-pages",
                r->pid, (unsigned long long)r->pages_tracked,
                (unsigned long long)r->totals.dropped);
    }
}
