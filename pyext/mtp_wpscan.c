// SPDX-License-Identifier: MIT
/*
 * The written-page scan's system calls (userfaultfd, PAGEMAP_SCAN,
 * /proc/self/maps) and the pure arithmetic of its stride: see mtp_wpscan.h.
 * A little over the extension's ~500-line guide (~560 lines): it is the one
 * file that knows the kernel's interface, and unit-tested whole against the
 * real kernel (tests/unit/test_wpscan.c); its driver is mtp_written.c.
 */
#include "mtp_wpscan.h"
#include "mapping.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
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

#define MTP_WPSCAN_CHUNK_SHIFT 21

/* The calling thread's CPU time: what the scan's system calls cost the
 * program, without the time another process had the CPU meanwhile. */
static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Wall time, for the price of a fault: it includes what the hypervisor or
 * the kernel spends outside the thread's own account. */
static uint64_t wall_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int in_phase(const struct mtp_wpscan *s, uint64_t chunk, unsigned phase)
{
    return chunk % s->stride == phase % s->stride;
}

static int in_sample(const struct mtp_wpscan *s, uint64_t chunk)
{
    return in_phase(s, chunk, s->phase);
}

static void write_protect(const struct mtp_wpscan *s, uint64_t lo, uint64_t hi, int on)
{
    struct uffdio_writeprotect wp = {.range = {lo, hi - lo},
                                     .mode = on ? UFFDIO_WRITEPROTECT_MODE_WP : 0};

    ioctl(s->uffd, UFFDIO_WRITEPROTECT, &wp);
}

/* Sets the protection of the chunks of [start, end) that are in `phase`'s
 * sample at `stride` (or of all of it at stride 1). */
static void protect_phase(const struct mtp_wpscan *s, uint64_t start, uint64_t end, unsigned stride,
                          unsigned phase, int on)
{
    uint64_t chunk = start >> MTP_WPSCAN_CHUNK_SHIFT;

    if (stride <= 1) {
        write_protect(s, start, end, on);
        return;
    }
    /* Step straight from one sampled chunk to the next. */
    chunk += (phase % stride + stride - chunk % stride) % stride;
    for (; (chunk << MTP_WPSCAN_CHUNK_SHIFT) < end; chunk += stride) {
        uint64_t lo = chunk << MTP_WPSCAN_CHUNK_SHIFT, hi = lo + (1ull << MTP_WPSCAN_CHUNK_SHIFT);
        write_protect(s, lo > start ? lo : start, hi < end ? hi : end, on);
    }
}

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
    int uffd = mtp_wpscan_detach(s);

    if (uffd >= 0)
        close(uffd);
}

int mtp_wpscan_detach(struct mtp_wpscan *s)
{
    int uffd = s->uffd;

    if (s->pagemap >= 0)
        close(s->pagemap); /* cheap: a file, no ranges behind it */
    s->uffd = s->pagemap = -1;
    s->n_ranges = 0;
    return uffd;
}

/* The mapping that holds addr, when the one rule (mapping.h) calls it the
 * program's data; -EINVAL when it is another, -ENOENT when none holds it. */
static int find_mapping(const char *maps_text, uint64_t addr, uint64_t *start, uint64_t *end)
{
    struct mtp_mapping m;
    int got;

    while ((got = mtp_mapping_next(&maps_text, &m)) != 0) {
        if (got < 0 || addr < m.start || addr >= m.end)
            continue;
        if (!mtp_mapping_is_data(&m))
            return -EINVAL;
        *start = m.start;
        *end = m.end;
        return 0;
    }
    return -ENOENT;
}

static int watch_range(struct mtp_wpscan *s, uint64_t start, uint64_t end)
{
    uint64_t t0;
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
    t0 = now_ns();
    reg = (struct uffdio_register){.range = {start, end - start}, .mode = UFFDIO_REGISTER_MODE_WP};
    if (ioctl(s->uffd, UFFDIO_REGISTER, &reg) < 0)
        return -errno;
    if (s->stride <= 1 && !s->released) {
        wp = (struct uffdio_writeprotect){.range = {start, end - start},
                                          .mode = UFFDIO_WRITEPROTECT_MODE_WP};
        if (ioctl(s->uffd, UFFDIO_WRITEPROTECT, &wp) < 0)
            return -errno;
    } else if (!s->released) {
        protect_phase(s, start, end, s->stride, s->phase, 1); /* the sample only */
    }
    /* Once per mapping: counted, but not what the sample goes on costing. */
    s->reset_ns += now_ns() - t0;
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

static struct {
    uint64_t start, end;
} mtp_own[MTP_WPSCAN_OWN_MAX];
static size_t mtp_own_len;

int mtp_wpscan_own_add(uint64_t start, uint64_t end)
{
    if (mtp_own_len == MTP_WPSCAN_OWN_MAX)
        return -ENOSPC;
    mtp_own[mtp_own_len].start = start;
    mtp_own[mtp_own_len].end = end;
    mtp_own_len++;
    return 0;
}

void mtp_wpscan_own_remove(uint64_t start)
{
    for (size_t i = 0; i < mtp_own_len; i++)
        if (mtp_own[i].start == start) {
            mtp_own[i] = mtp_own[--mtp_own_len];
            return;
        }
}

static int is_own(uint64_t lo, uint64_t hi)
{
    for (size_t i = 0; i < mtp_own_len; i++)
        if (mtp_own[i].start < hi && lo < mtp_own[i].end)
            return 1;
    return 0;
}

int mtp_wpscan_watch_all(struct mtp_wpscan *s, const char *maps_text)
{
    struct mtp_mapping m;
    int watched = 0, got;
    uint64_t t0 = now_ns(), reset0 = s->reset_ns;

    /* One pass: each line is parsed once (find_mapping per line would be
     * quadratic in the number of mappings, at every step). */
    while ((got = mtp_mapping_next(&maps_text, &m)) != 0)
        if (got > 0 && mtp_mapping_is_data(&m) && !is_own(m.start, m.end) &&
            watch_range(s, m.start, m.end) == 0)
            watched++;
    /* Registering new mappings went to reset_ns already. */
    s->sys_ns += now_ns() - t0 - (s->reset_ns - reset0);
    return watched;
}

/* PAGEMAP_SCAN of [lo, hi): appends written pages to pages[] (or, when
 * pages is NULL, only re-protects them) and adds how many there were to
 * *found.  Returns -1 when the range is no longer there. */
static int scan_span(struct mtp_wpscan *s, uint64_t lo, uint64_t hi, int protect, uint64_t *pages,
                     size_t cap, size_t *n, uint64_t *found)
{
    struct mtp_page_region regions[256];

    while (lo < hi) {
        struct mtp_pm_scan_arg arg = {
            .size = sizeof(arg),
            .flags = (protect ? MTP_PM_SCAN_WP_MATCHING : 0) | MTP_PM_SCAN_CHECK_WPASYNC,
            .start = lo,
            .end = hi,
            .vec = (uint64_t)(uintptr_t)regions,
            .vec_len = sizeof(regions) / sizeof(regions[0]),
            .category_mask = MTP_PAGE_IS_WRITTEN,
            .return_mask = MTP_PAGE_IS_WRITTEN,
        };
        long got = ioctl(s->pagemap, MTP_PAGEMAP_SCAN, &arg);

        if (got < 0)
            return -1;
        for (long r = 0; r < got; r++) {
            *found += (regions[r].end - regions[r].start) >> 12;
            for (uint64_t p = regions[r].start; pages && p < regions[r].end && *n < cap; p += 4096)
                pages[(*n)++] = p;
        }
        /* The kernel stops early when regions[] fills; the rest of the span
         * is walked (and protected) by the next call. */
        if (arg.walk_end <= lo)
            break;
        lo = arg.walk_end;
    }
    return 0;
}

/* Scans the sample of every range; protect: re-protect what it finds. */
static long scan_all(struct mtp_wpscan *s, int protect, uint64_t *pages, size_t cap,
                     uint64_t *found)
{
    size_t n = 0;

    for (size_t i = 0; i < s->n_ranges;) {
        int gone = 0;

        if (s->stride <= 1) {
            gone = scan_span(s, s->start[i], s->end[i], protect, pages, cap, &n, found) < 0;
        } else {
            /* Only the sample is protected; unprotected pages read as
             * written and must not be scanned. */
            uint64_t chunk = s->start[i] >> MTP_WPSCAN_CHUNK_SHIFT;
            for (uint64_t lo = s->start[i]; lo < s->end[i] && !gone; chunk++) {
                uint64_t hi = (chunk + 1) << MTP_WPSCAN_CHUNK_SHIFT;
                if (hi > s->end[i])
                    hi = s->end[i];
                if (in_sample(s, chunk))
                    gone = scan_span(s, lo, hi, protect, pages, cap, &n, found) < 0;
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

long mtp_wpscan_collect(struct mtp_wpscan *s, uint64_t *pages, size_t cap)
{
    uint64_t found = 0, t0 = now_ns();
    long n = scan_all(s, 1, pages, cap, &found);

    /* After a release every page reads as written, but none faulted. */
    if (!s->released)
        s->faults += found;
    s->released = 0;
    s->sys_ns += now_ns() - t0;
    return n;
}

void mtp_wpscan_sample(struct mtp_wpscan *s, unsigned stride)
{
    unsigned old = s->stride, old_phase = s->phase;
    uint64_t t0 = now_ns();

    if (stride < 1)
        stride = 1;
    if (stride > MTP_WPSCAN_MAX_STRIDE)
        stride = MTP_WPSCAN_MAX_STRIDE;
    s->stride = stride;
    s->phase++;
    if (stride == 1 && old == 1)
        return; /* everything stays protected */
    /* Only the old sample is protected (collects, forgets and releases
     * touch nothing else), so only its chunks and the new one's change,
     * at a new stride too: a system call per chunk, not a walk of the
     * heap's page tables (17 ms in a step on a 500 MiB heap).  The whole
     * heap changes only to or from stride 1. */
    for (size_t i = 0; i < s->n_ranges; i++) {
        protect_phase(s, s->start[i], s->end[i], old, old_phase, 0);
        protect_phase(s, s->start[i], s->end[i], stride, s->phase, 1);
    }
    /* The new sample is protected whole, whatever a release dropped: its
     * next collect counts faults again. */
    s->released = 0;
    if (stride != old)
        s->reset_ns += now_ns() - t0;
    else
        s->sys_ns += now_ns() - t0;
}

void mtp_wpscan_forget(struct mtp_wpscan *s, uint64_t addr)
{
    uint64_t page = addr & ~4095ull, found = 0, t0;
    size_t n = 0;

    if (s->released || (s->stride > 1 && !in_sample(s, page >> MTP_WPSCAN_CHUNK_SHIFT)))
        return;
    for (size_t i = 0; i < s->n_ranges; i++)
        if (page >= s->start[i] && page < s->end[i]) {
            t0 = now_ns();
            scan_span(s, page, page + 4096, 1, NULL, 0, &n, &found);
            s->faults += found; /* our own write's fault, still the scan's cost */
            s->sys_ns += now_ns() - t0;
            return;
        }
}

long mtp_wpscan_release(struct mtp_wpscan *s, uint64_t *pages, size_t cap)
{
    uint64_t found = 0, t0 = now_ns();
    long n = 0;

    if (!s->released) {
        n = scan_all(s, 0, pages, cap, &found); /* report, leave as they are */
        s->faults += found;
        for (size_t i = 0; i < s->n_ranges; i++)
            protect_phase(s, s->start[i], s->end[i], s->stride, s->phase, 0);
    }
    s->released = 1;
    s->sys_ns += now_ns() - t0;
    return n;
}

#define MTP_WPSCAN_PROBE_PAGES 16

long mtp_wpscan_measure_fault(struct mtp_wpscan *s)
{
    size_t len = MTP_WPSCAN_PROBE_PAGES * 4096;
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    struct uffdio_register reg = {.range = {(uint64_t)(uintptr_t)p, len},
                                  .mode = UFFDIO_REGISTER_MODE_WP};
    struct uffdio_range range = {(uint64_t)(uintptr_t)p, len};
    uint64_t ns[MTP_WPSCAN_PROBE_PAGES];
    long err = 0;

    if (p == MAP_FAILED)
        return -errno;
    madvise(p, len, MADV_NOHUGEPAGE);
    memset(p, 1, len); /* populated: the faults below are protection faults only */
    if (ioctl(s->uffd, UFFDIO_REGISTER, &reg) < 0) {
        err = -errno;
        munmap(p, len);
        return err;
    }
    write_protect(s, range.start, range.start + len, 1);
    /* Each write timed alone, and the median kept: a preemption or an
     * interrupt inside one must not price every fault. */
    for (size_t i = 0; i < MTP_WPSCAN_PROBE_PAGES; i++) {
        uint64_t t0 = wall_ns();
        ((volatile char *)p)[i * 4096] = 2;
        ns[i] = wall_ns() - t0;
    }
    ioctl(s->uffd, UFFDIO_UNREGISTER, &range);
    munmap(p, len);
    for (size_t i = 1; i < MTP_WPSCAN_PROBE_PAGES; i++) /* insertion sort: 16 values */
        for (size_t j = i; j > 0 && ns[j - 1] > ns[j]; j--) {
            uint64_t t = ns[j];
            ns[j] = ns[j - 1];
            ns[j - 1] = t;
        }
    return (long)ns[MTP_WPSCAN_PROBE_PAGES / 2];
}

/* Whether `path`'s text contains `needle` within its first 8 KiB; -1 when
 * unreadable. */
static int file_contains(const char *path, const char *needle)
{
    char buf[8192]; /* the first CPU's block of /proc/cpuinfo is ~2 KiB */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t got, len = 0;

    if (fd < 0)
        return -1;
    while (len < (ssize_t)sizeof(buf) - 1 &&
           (got = read(fd, buf + len, sizeof(buf) - 1 - (size_t)len)) > 0)
        len += got;
    close(fd);
    buf[len] = '\0';
    return strstr(buf, needle) != NULL;
}

int mtp_wpscan_entry_flushes_tlb(void)
{
    /* The first CPU's flags suffice: all of them run the same kernel. */
    return file_contains("/sys/devices/system/cpu/vulnerabilities/meltdown", "PTI") == 1 &&
           file_contains("/proc/cpuinfo", " pcid") == 0;
}

unsigned mtp_wpscan_next_stride(unsigned stride, uint64_t cost_ns, uint64_t elapsed_ns,
                                double budget, int may_narrow)
{
    double allowed, ratio;
    unsigned want = 1;

    /* Powers of two only, and a wide band in which the stride holds: every
     * change of stride re-protects the whole heap once, which costs page
     * table updates (~1 us a page in a guest) on top of the faults. */
    while (want < stride && want < MTP_WPSCAN_MAX_STRIDE)
        want <<= 1;
    stride = want;
    if (elapsed_ns == 0 || budget <= 0)
        return stride;
    allowed = budget * (double)elapsed_ns;
    ratio = (double)cost_ns / allowed;
    if (ratio > 1.0) {
        /* Fault cost falls with the sample: widen in proportion. */
        double wider = (double)stride * ratio;
        /* Back off only when the widest sample itself overran: from a
         * narrower one, an overrun says little about the widest (hot
         * chunks are not spread evenly), so try it first. */
        if (wider > MTP_WPSCAN_MAX_STRIDE)
            return stride >= MTP_WPSCAN_MAX_STRIDE ? 0 : MTP_WPSCAN_MAX_STRIDE;
        while ((double)want < wider)
            want <<= 1;
        return want;
    }
    /* Well under budget, and for long enough (the caller says): narrow
     * toward half the budget, the cost growing with the sample, but by 4x
     * at most, so that one quiet sample does not bring back a sample the
     * program cannot afford. */
    if (ratio < 0.25 && may_narrow && stride > 1) {
        double target = (double)stride * 2.0 * ratio;
        unsigned narrower = stride / 4 > 1 ? stride / 4 : 1;
        while ((double)narrower < target && narrower < stride / 2)
            narrower <<= 1;
        return narrower;
    }
    return stride;
}

/* A weight of 1/8: a hot chunk's sample (~1.5x the budget on a small heap
 * with allocator churn) moves the average by a fifth of the budget or so. */
#define MTP_WPSCAN_AVERAGE_WEIGHT 0.125
#define MTP_WPSCAN_AVERAGE_ALARM  4.0

double mtp_wpscan_average_share(double avg, double share, double budget)
{
    if (avg < 0 || share > MTP_WPSCAN_AVERAGE_ALARM * budget)
        return share;
    return avg + (share - avg) * MTP_WPSCAN_AVERAGE_WEIGHT;
}

double mtp_wpscan_credit(double credit_ns, uint64_t cost_ns, uint64_t elapsed_ns, double budget)
{
    double limit = credit_ns > 0 ? credit_ns : 0; /* only a hold's advance is carried */
    double next = credit_ns + budget * (double)elapsed_ns - (double)cost_ns;

    return next > limit ? limit : next;
}

double mtp_wpscan_projected(double credit_ns, double share_avg, uint64_t period_ns, double budget)
{
    if (share_avg < 0)
        share_avg = 0;
    return credit_ns + (budget - share_avg) * (double)period_ns;
}

uint64_t mtp_wpscan_hold_ns(double credit_ns, double budget)
{
    if (credit_ns >= 0 || budget <= 0)
        return 0;
    return (uint64_t)(-credit_ns / budget);
}
