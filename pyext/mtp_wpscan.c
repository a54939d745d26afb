// SPDX-License-Identifier: MIT
#include "mtp_wpscan.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/userfaultfd.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Linux 6.7 UAPI that Debian 12's headers predate. */
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#define MTP_UFFD_FEATURE_WP_UNPOPULATED (1ULL << 13)
#define MTP_UFFD_FEATURE_WP_ASYNC       (1ULL << 15)

struct mtp_page_region {
    uint64_t start, end, categories;
};

struct mtp_pm_scan_arg {
    uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
    uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};

#define MTP_PAGEMAP_SCAN          _IOWR('f', 16, struct mtp_pm_scan_arg)
#define MTP_PM_SCAN_WP_MATCHING   (1ULL << 0)
#define MTP_PM_SCAN_CHECK_WPASYNC (1ULL << 1)
#define MTP_PAGE_IS_WRITTEN       (1ULL << 1)

int mtp_wpscan_open(struct mtp_wpscan *s)
{
    struct uffdio_api api = {
        .api = UFFD_API, .features = MTP_UFFD_FEATURE_WP_ASYNC | MTP_UFFD_FEATURE_WP_UNPOPULATED};
    int err;

    memset(s, 0, sizeof(*s));
    s->pagemap = -1;
    s->stride = 1;
    /* User-mode-only faults need no privilege (vm.unprivileged_userfaultfd). */
    s->uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
    if (s->uffd < 0)
        return -errno;
    if (ioctl(s->uffd, UFFDIO_API, &api) < 0)
        goto fail;
    s->pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (s->pagemap < 0)
        goto fail;
    return 0;
fail:
    err = -errno;
    mtp_wpscan_close(s);
    return err;
}

void mtp_wpscan_close(struct mtp_wpscan *s)
{
    /* Closing the userfaultfd unregisters every range and drops the
     * protection, so a detached tracer leaves no faults behind. */
    if (s->uffd >= 0)
        close(s->uffd);
    if (s->pagemap >= 0)
        close(s->pagemap);
    s->uffd = s->pagemap = -1;
    s->n_ranges = 0;
}

/* Parses one /proc/PID/maps line.  Returns 1 for a mapping the scan may
 * watch (private, writable, anonymous: the heap, pymalloc's arenas, large
 * allocations), 0 for another mapping, -1 for a line it cannot read. */
static int parse_watchable(const char *line, uint64_t *lo, uint64_t *hi)
{
    uint64_t inode;
    char perms[5];
    int path_at = 0;
    const char *path;

    /* No whitespace directive after the inode: it would skip the newline
     * of an anonymous mapping and land on the next line. */
    if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %4s %*x %*x:%*x %" SCNu64 "%n", lo, hi, perms, &inode,
               &path_at) < 4)
        return -1;
    path = line + path_at;
    while (*path == ' ' || *path == '\t')
        path++;
    if (perms[0] != 'r' || perms[1] != 'w' || perms[3] != 'p' || inode != 0)
        return 0;
    if (*path != '\n' && *path != '\0' && strncmp(path, "[heap]", 6) != 0)
        return 0; /* [stack], [vvar] ... */
    return 1;
}

static int find_mapping(const char *maps_text, uint64_t addr, uint64_t *start, uint64_t *end)
{
    const char *line = maps_text;

    while (line && *line) {
        uint64_t lo, hi;
        int ok = parse_watchable(line, &lo, &hi);

        if (ok >= 0 && addr >= lo && addr < hi) {
            if (!ok)
                return -EINVAL;
            *start = lo;
            *end = hi;
            return 0;
        }
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return -ENOENT;
}

static int watch_range(struct mtp_wpscan *s, uint64_t start, uint64_t end)
{
    struct uffdio_register reg;
    struct uffdio_writeprotect wp;
    size_t slot;

    for (size_t i = 0; i < s->n_ranges; i++)
        if (s->start[i] == start && s->end[i] == end)
            return 0;
    /* A mapping that grew (brk extends [heap]) replaces its old range. */
    for (slot = 0; slot < s->n_ranges; slot++)
        if (s->start[slot] < end && start < s->end[slot])
            break;
    if (slot == MTP_WPSCAN_MAX_RANGES)
        return -ENOSPC;
    reg = (struct uffdio_register){.range = {start, end - start}, .mode = UFFDIO_REGISTER_MODE_WP};
    if (ioctl(s->uffd, UFFDIO_REGISTER, &reg) < 0)
        return -errno;
    wp = (struct uffdio_writeprotect){.range = {start, end - start},
                                      .mode = UFFDIO_WRITEPROTECT_MODE_WP};
    if (ioctl(s->uffd, UFFDIO_WRITEPROTECT, &wp) < 0)
        return -errno;
    s->start[slot] = start;
    s->end[slot] = end;
    if (slot == s->n_ranges)
        s->n_ranges++;
    return 0;
}

int mtp_wpscan_watch(struct mtp_wpscan *s, const char *maps_text, uint64_t addr)
{
    uint64_t start, end;
    int err;

    for (size_t i = 0; i < s->n_ranges; i++)
        if (addr >= s->start[i] && addr < s->end[i])
            return 0;
    err = find_mapping(maps_text, addr, &start, &end);
    if (err < 0)
        return err;
    return watch_range(s, start, end);
}

int mtp_wpscan_watch_all(struct mtp_wpscan *s, const char *maps_text)
{
    const char *line = maps_text;
    int watched = 0;

    /* One pass: each line is parsed once (find_mapping per line would be
     * quadratic in the number of mappings, at every step). */
    while (line && *line) {
        uint64_t lo, hi;

        /* Not reservations of address space far larger than any heap (a
         * sanitizer's shadow memory, a runtime's arena reservation):
         * protecting terabytes costs page-table walks at every scan. */
        if (parse_watchable(line, &lo, &hi) == 1 && hi - lo <= MTP_WPSCAN_MAX_MAPPING &&
            watch_range(s, lo, hi) == 0)
            watched++;
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return watched;
}

#define MTP_WPSCAN_CHUNK_SHIFT 21
#define MTP_WPSCAN_MAX_STRIDE  64

static int in_sample(const struct mtp_wpscan *s, uint64_t chunk)
{
    return chunk % s->stride == s->phase % s->stride;
}

/* PAGEMAP_SCAN of [lo, hi): appends written pages (or only re-protects when
 * pages is NULL).  Returns -1 when the range is no longer there. */
static int scan_span(struct mtp_wpscan *s, uint64_t lo, uint64_t hi, uint64_t *pages, size_t cap,
                     size_t *n)
{
    struct mtp_page_region regions[256];
    struct mtp_pm_scan_arg arg = {
        .size = sizeof(arg),
        .flags = MTP_PM_SCAN_WP_MATCHING | MTP_PM_SCAN_CHECK_WPASYNC,
        .start = lo,
        .end = hi,
        /* Without an output vector the kernel only re-protects. */
        .vec = pages ? (uint64_t)(uintptr_t)regions : 0,
        .vec_len = pages ? sizeof(regions) / sizeof(regions[0]) : 0,
        .max_pages = pages ? cap - *n : 0,
        .category_mask = MTP_PAGE_IS_WRITTEN,
        .return_mask = pages ? MTP_PAGE_IS_WRITTEN : 0,
    };
    long got;

    if (pages && *n == cap)
        return 0;
    got = ioctl(s->pagemap, MTP_PAGEMAP_SCAN, &arg);
    if (got < 0)
        return -1;
    /* When regions[] fills, the pages past walk_end stay marked written and
     * are reported by the next scan. */
    for (long r = 0; pages && r < got; r++)
        for (uint64_t p = regions[r].start; p < regions[r].end && *n < cap; p += 4096)
            pages[(*n)++] = p;
    return 0;
}

long mtp_wpscan_collect(struct mtp_wpscan *s, uint64_t *pages, size_t cap)
{
    size_t n = 0;

    for (size_t i = 0; i < s->n_ranges;) {
        int gone = 0;

        if (s->stride <= 1) {
            gone = scan_span(s, s->start[i], s->end[i], pages, cap, &n) < 0;
        } else {
            /* Only the sample is protected; unprotected pages read as
             * written and must not be scanned. */
            uint64_t chunk = s->start[i] >> MTP_WPSCAN_CHUNK_SHIFT;
            for (uint64_t lo = s->start[i]; lo < s->end[i] && !gone; chunk++) {
                uint64_t hi = (chunk + 1) << MTP_WPSCAN_CHUNK_SHIFT;
                if (hi > s->end[i])
                    hi = s->end[i];
                if (in_sample(s, chunk))
                    gone = scan_span(s, lo, hi, pages, cap, &n) < 0;
                lo = hi;
            }
        }
        if (gone) {
            /* The mapping went away or changed (an arena was unmapped):
             * forget it; a live one is found again at the next watch. */
            s->start[i] = s->start[s->n_ranges - 1];
            s->end[i] = s->end[s->n_ranges - 1];
            s->n_ranges--;
            continue;
        }
        i++;
    }
    return (long)n;
}

void mtp_wpscan_sample(struct mtp_wpscan *s, unsigned stride)
{
    unsigned old = s->stride;

    if (stride < 1)
        stride = 1;
    if (stride > MTP_WPSCAN_MAX_STRIDE)
        stride = MTP_WPSCAN_MAX_STRIDE;
    s->stride = stride;
    s->phase++;
    if (stride == 1 && old == 1)
        return; /* everything stays protected */
    for (size_t i = 0; i < s->n_ranges; i++) {
        uint64_t chunk = s->start[i] >> MTP_WPSCAN_CHUNK_SHIFT;

        for (uint64_t lo = s->start[i]; lo < s->end[i]; chunk++) {
            uint64_t hi = (chunk + 1) << MTP_WPSCAN_CHUNK_SHIFT;
            struct uffdio_writeprotect wp;

            if (hi > s->end[i])
                hi = s->end[i];
            wp = (struct uffdio_writeprotect){
                .range = {lo, hi - lo},
                .mode = in_sample(s, chunk) ? UFFDIO_WRITEPROTECT_MODE_WP : 0};
            ioctl(s->uffd, UFFDIO_WRITEPROTECT, &wp);
            lo = hi;
        }
    }
}

unsigned mtp_wpscan_next_stride(unsigned stride, uint64_t written, uint64_t elapsed_ns,
                                double budget, uint64_t fault_ns)
{
    double allowed, full_cost;
    unsigned want;

    if (stride < 1)
        stride = 1;
    if (elapsed_ns == 0 || budget <= 0)
        return stride;
    /* What the faults would cost with everything protected, estimated from
     * the sample, against what the budget allows over the same time. */
    full_cost = (double)written * (double)stride * (double)fault_ns;
    allowed = budget * (double)elapsed_ns;
    want = full_cost <= allowed ? 1 : (unsigned)(full_cost / allowed) + 1;
    /* Halve at most per step: a burst of writes should not blind the scan. */
    if (want < stride / 2)
        want = stride / 2;
    if (want < 1)
        want = 1;
    return want > MTP_WPSCAN_MAX_STRIDE ? MTP_WPSCAN_MAX_STRIDE : want;
}
