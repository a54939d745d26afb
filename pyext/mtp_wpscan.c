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

static int find_mapping(const char *maps_text, uint64_t addr, uint64_t *start, uint64_t *end)
{
    const char *line = maps_text;

    while (line && *line) {
        uint64_t lo, hi, inode;
        char perms[5];
        int path_at = 0;

        /* No whitespace directive after the inode: it would skip the newline
         * of an anonymous mapping and land on the next line. */
        if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %4s %*x %*x:%*x %" SCNu64 "%n", &lo, &hi, perms,
                   &inode, &path_at) >= 4 &&
            addr >= lo && addr < hi) {
            const char *path = line + path_at;

            while (*path == ' ' || *path == '\t')
                path++;
            /* Private, writable, anonymous: the heap and pymalloc's arenas. */
            if (perms[0] != 'r' || perms[1] != 'w' || perms[3] != 'p' || inode != 0)
                return -EINVAL;
            if (*path != '\n' && *path != '\0' && strncmp(path, "[heap]", 6) != 0)
                return -EINVAL; /* [stack], [vvar] ... */
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

int mtp_wpscan_watch(struct mtp_wpscan *s, const char *maps_text, uint64_t addr)
{
    struct uffdio_register reg;
    struct uffdio_writeprotect wp;
    uint64_t start, end;
    int err;

    size_t slot;

    for (size_t i = 0; i < s->n_ranges; i++)
        if (addr >= s->start[i] && addr < s->end[i])
            return 0;
    err = find_mapping(maps_text, addr, &start, &end);
    if (err < 0)
        return err;
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

long mtp_wpscan_collect(struct mtp_wpscan *s, uint64_t *pages, size_t cap)
{
    struct mtp_page_region regions[256];
    size_t n = 0;

    for (size_t i = 0; i < s->n_ranges;) {
        struct mtp_pm_scan_arg arg = {
            .size = sizeof(arg),
            .flags = MTP_PM_SCAN_WP_MATCHING | MTP_PM_SCAN_CHECK_WPASYNC,
            .start = s->start[i],
            .end = s->end[i],
            /* Without an output vector the kernel only re-protects. */
            .vec = pages ? (uint64_t)(uintptr_t)regions : 0,
            .vec_len = pages ? sizeof(regions) / sizeof(regions[0]) : 0,
            .max_pages = pages ? cap - n : 0,
            .category_mask = MTP_PAGE_IS_WRITTEN,
            .return_mask = pages ? MTP_PAGE_IS_WRITTEN : 0,
        };
        long got;

        if (pages && n == cap)
            break;
        got = ioctl(s->pagemap, MTP_PAGEMAP_SCAN, &arg);
        if (got < 0) {
            /* The mapping went away or changed (an arena was unmapped):
             * forget it; a live one is found again at the next watch. */
            s->start[i] = s->start[s->n_ranges - 1];
            s->end[i] = s->end[s->n_ranges - 1];
            s->n_ranges--;
            continue;
        }
        for (long r = 0; pages && r < got; r++)
            for (uint64_t p = regions[r].start; p < regions[r].end && n < cap; p += 4096)
                pages[n++] = p;
        /* When regions[] fills, the pages past walk_end stay marked written
         * and are reported by the next scan. */
        i++;
    }
    return (long)n;
}
