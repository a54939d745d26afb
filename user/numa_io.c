// SPDX-License-Identifier: MIT
#include "numa_io.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <numa.h>
#include <numaif.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmp.h"
#include "policy.h"
#include "sysutil.h"
#include "numastat.h"
#include "zoneinfo.h"

/* move_pages(2) walks its arrays in the kernel in chunks anyway; bounded
 * calls keep one slow call from holding the target's mmap lock for long. */
#define MTP_MOVE_CHUNK 16384

/* The seam's reader is the loader's one file reader, cut to the caller's
 * buffer. */
static int sysfs_read(void *ctx, const char *path, char *buf, size_t len)
{
    char *text = NULL;
    ssize_t n = mtp_read_file(path, &text);

    (void)ctx;
    if (n < 0)
        return (int)n;
    if ((size_t)n > len)
        n = (ssize_t)len;
    memcpy(buf, text, (size_t)n);
    free(text);
    return (int)n;
}

static int sysfs_list(void *ctx, const char *path, mtp_dir_entry_fn fn, void *arg)
{
    struct dirent *de;
    DIR *dir;

    (void)ctx;
    dir = opendir(path);
    if (!dir)
        return -errno;
    while ((de = readdir(dir)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        if (fn(arg, de->d_name))
            break;
    }
    closedir(dir);
    return 0;
}

const struct mtp_sysfs mtp_sysfs_real = {.read_file = sysfs_read, .list_dir = sysfs_list};

static int move_chunked(pid_t pid, size_t n, const uint64_t *addrs, const int *targets, int *status)
{
    void **pages = malloc(sizeof(void *) * (n < MTP_MOVE_CHUNK ? (n ? n : 1) : MTP_MOVE_CHUNK));

    if (!pages)
        return -ENOMEM;
    for (size_t done = 0; done < n;) {
        size_t count = n - done < MTP_MOVE_CHUNK ? n - done : MTP_MOVE_CHUNK;

        /* A move the kernel gives up on leaves the status of the pages it
         * had queued, and of every one after them, unwritten: it fails as a
         * whole (-ENOMEM at the first page a full node cannot take), or
         * returns how many pages it did not migrate (pinned, locked). */
        for (size_t i = 0; i < count; i++) {
            pages[i] = (void *)(uintptr_t)addrs[done + i];
            status[done + i] = MTP_MOVE_NOT_MIGRATED;
        }
        if (numa_move_pages(pid, (unsigned long)count, pages,
                            targets ? (int *)targets + done : NULL, status + done,
                            MPOL_MF_MOVE) < 0) {
            int err = -errno;
            /* A whole-call failure (the process exited, no permission)
             * leaves status unwritten; say so for every page.  Others
             * (-ENOMEM) are this chunk's pages' outcome. */
            if (err == -ESRCH || err == -EPERM || err == -EACCES || err == -EINVAL) {
                free(pages);
                return err;
            }
            for (size_t i = 0; i < count; i++)
                status[done + i] = err;
        }
        done += count;
    }
    free(pages);
    return 0;
}

int mtp_pages_query(pid_t pid, size_t n, const uint64_t *addrs, int *nodes)
{
    return move_chunked(pid, n, addrs, NULL, nodes);
}

int mtp_pages_move(pid_t pid, size_t n, const uint64_t *addrs, const int *targets, int *status)
{
    return move_chunked(pid, n, addrs, targets, status);
}

#define PM_PRESENT  (1ULL << 63)
#define PM_PFN_MASK ((1ULL << 55) - 1)
#define KPF_THP_BIT 22

/* Sorted by address with mtp_cmp_u64, which needs the key first. */
struct addr_index {
    uint64_t addr;
    size_t index;
};

static int page_is_thp(int pagemap, int kpageflags, uint64_t addr)
{
    uint64_t entry, flags;

    if (pread(pagemap, &entry, sizeof(entry), (off_t)(addr / 4096 * sizeof(entry))) !=
            sizeof(entry) ||
        !(entry & PM_PRESENT) || (entry & PM_PFN_MASK) == 0)
        return -1; /* not present, or PFNs hidden: unknown */
    if (pread(kpageflags, &flags, sizeof(flags), (off_t)((entry & PM_PFN_MASK) * sizeof(flags))) !=
        sizeof(flags))
        return -1;
    return (int)((flags >> KPF_THP_BIT) & 1);
}

int mtp_pages_thp(pid_t pid, size_t n, const uint64_t *addrs, uint8_t *is_thp)
{
    struct addr_index *order;
    char path[64];
    int pagemap, kpageflags, err = 0;

    memset(is_thp, 0, n);
    if (n == 0)
        return 0;
    snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
    pagemap = open(path, O_RDONLY | O_CLOEXEC);
    if (pagemap < 0)
        return -errno;
    kpageflags = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
    if (kpageflags < 0) {
        err = -errno;
        close(pagemap);
        return err;
    }
    order = malloc(n * sizeof(*order));
    if (!order) {
        close(pagemap);
        close(kpageflags);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        order[i] = (struct addr_index){addrs[i], i};
    qsort(order, n, sizeof(*order), mtp_cmp_u64);
    /* A THP maps a whole aligned 2 MiB range, so the first present page of
     * a range answers for all of its pages. */
    for (size_t lo = 0; lo < n;) {
        uint64_t range = order[lo].addr >> 21;
        size_t hi = lo;
        int thp = -1;

        while (hi < n && order[hi].addr >> 21 == range) {
            if (thp < 0)
                thp = page_is_thp(pagemap, kpageflags, order[hi].addr);
            hi++;
        }
        for (size_t k = lo; k < hi; k++)
            is_thp[order[k].index] = thp > 0;
        lo = hi;
    }
    free(order);
    close(pagemap);
    close(kpageflags);
    return 0;
}

int mtp_numa_available(void)
{
    return numa_available() >= 0;
}

uint64_t mtp_node_free_bytes(int node)
{
    long long free_bytes = 0;

    if (numa_available() < 0 || numa_node_size64(node, &free_bytes) < 0)
        return UINT64_MAX;
    return (uint64_t)free_bytes;
}

int mtp_node_foreign_pages(int node, uint64_t *pages)
{
    char path[64], *text = NULL;
    ssize_t n;
    int rc;

    snprintf(path, sizeof(path), "/sys/devices/system/node/node%d/numastat", node);
    n = mtp_read_file(path, &text);
    if (n < 0)
        return (int)n;
    rc = mtp_numastat_value(text, "numa_foreign", pages);
    free(text);
    return rc;
}

int mtp_node_low_watermark(int node, uint64_t *bytes, char *err, size_t errlen)
{
    char *text = NULL;
    ssize_t n = mtp_read_file("/proc/zoneinfo", &text);
    long page = sysconf(_SC_PAGESIZE);
    int rc;

    if (n < 0) {
        snprintf(err, errlen, "cannot read /proc/zoneinfo: %s", strerror((int)-n));
        return (int)n;
    }
    rc = mtp_zoneinfo_user_floor_bytes(text, node, page > 0 ? (uint64_t)page : 4096, bytes, err,
                                       errlen);
    free(text);
    return rc;
}

int mtp_node_free_lists(int node, struct mtp_free_lists *out)
{
    char *text = NULL;
    ssize_t n = mtp_read_file("/proc/zoneinfo", &text);
    long page = sysconf(_SC_PAGESIZE);
    int rc;

    if (n < 0)
        return (int)n;
    rc = mtp_zoneinfo_free_lists(text, node, page > 0 ? (uint64_t)page : 4096, out, NULL, 0);
    free(text);
    return rc;
}

uint64_t mtp_rss_bytes(pid_t pid)
{
    char path[64], *text = NULL;
    unsigned long long size = 0, resident = 0;
    uint64_t rss = 0;

    snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
    if (mtp_read_file(path, &text) < 0)
        return 0;
    if (sscanf(text, "%llu %llu", &size, &resident) == 2)
        rss = (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
    free(text);
    return rss;
}
