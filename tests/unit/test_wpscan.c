// SPDX-License-Identifier: MIT
/*
 * The written-page scan against the real kernel (Linux 6.7+: PAGEMAP_SCAN and
 * async write-protect).  On an older kernel the tests that need it are
 * skipped, and say so.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmp.h"
#include "mtp_wpscan.h"

#define PAGE  4096u
#define CHUNK (2u << 20)

static char *read_maps(void)
{
    FILE *f = fopen("/proc/self/maps", "re");
    char *text = NULL;
    size_t cap = 0;

    assert_non_null(f);
    assert_true(getdelim(&text, &cap, '\0', f) > 0);
    fclose(f);
    return text;
}

/* An anonymous region of n 2 MiB chunks, aligned, with THP off so that each
 * 4 KiB page is its own unit. */
static char *chunks(size_t n)
{
    size_t len = (n + 1) * CHUNK;
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *aligned;

    assert_true(p != MAP_FAILED);
    aligned = (char *)(((uintptr_t)p + CHUNK - 1) & ~(uintptr_t)(CHUNK - 1));
    if (aligned > p)
        munmap(p, (size_t)(aligned - p));
    munmap(aligned + n * CHUNK, (size_t)(p + len - (aligned + n * CHUNK)));
    madvise(aligned, n * CHUNK, MADV_NOHUGEPAGE);
    memset(aligned, 1, n * CHUNK);
    return aligned;
}

static int open_or_skip(struct mtp_wpscan *s)
{
    int err = mtp_wpscan_open(s);

    if (err < 0) {
        fprintf(stderr, "kernel lacks async write-protect/PAGEMAP_SCAN (%s): skipped\n",
                strerror(-err));
        skip();
    }
    return err;
}

/* n fresh chunks, watched by a scan at stride 4 (skipped where the kernel
 * lacks the features). */
static char *watched_chunks(struct mtp_wpscan *s, size_t n)
{
    char *region = chunks(n), *maps;

    open_or_skip(s);
    maps = read_maps();
    assert_int_equal(mtp_wpscan_watch(s, maps, (uint64_t)(uintptr_t)region), 0);
    free(maps);
    mtp_wpscan_sample(s, 4);
    return region;
}

static void reports_exactly_the_pages_written(void **state)
{
    struct mtp_wpscan s;
    char *region = chunks(2), *maps;
    uint64_t pages[64];
    long n;

    (void)state;
    open_or_skip(&s);
    maps = read_maps();
    assert_int_equal(mtp_wpscan_watch(&s, maps, (uint64_t)(uintptr_t)region), 0);
    free(maps);
    region[5 * PAGE] = 2;
    region[5 * PAGE + 100] = 3; /* same page again */
    region[600 * PAGE] = 4;
    (void)*(volatile char *)&region[9 * PAGE]; /* a read is not a write */
    n = mtp_wpscan_collect(&s, pages, 64);
    assert_int_equal(n, 2);
    qsort(pages, (size_t)n, sizeof(pages[0]), mtp_cmp_u64);
    assert_true(pages[0] == (uint64_t)(uintptr_t)(region + 5 * PAGE));
    assert_true(pages[1] == (uint64_t)(uintptr_t)(region + 600 * PAGE));
    /* Collecting re-protected them: nothing new, nothing reported. */
    assert_int_equal(mtp_wpscan_collect(&s, pages, 64), 0);
    region[5 * PAGE] = 5;
    assert_int_equal(mtp_wpscan_collect(&s, pages, 64), 1);
    mtp_wpscan_close(&s);
    munmap(region, 2 * CHUNK);
}

static void rearm_forgets_writes(void **state)
{
    struct mtp_wpscan s;
    char *region = chunks(1), *maps;
    uint64_t pages[8];

    (void)state;
    open_or_skip(&s);
    maps = read_maps();
    assert_int_equal(mtp_wpscan_watch(&s, maps, (uint64_t)(uintptr_t)region + 7), 0);
    free(maps);
    region[3 * PAGE] = 9; /* as mtp's own observation would write */
    assert_int_equal(mtp_wpscan_collect(&s, NULL, 0), 0);
    assert_int_equal(mtp_wpscan_collect(&s, pages, 8), 0);
    mtp_wpscan_close(&s);
    munmap(region, CHUNK);
}

/* Detaching hands the userfaultfd over, still holding its ranges: another
 * scan cannot register them (the kernel says EBUSY) until the descriptor's
 * new owner closes it, which is what drops the protection.  The extension
 * has that close done off the GIL. */
static void detach_hands_over_the_close(void **state)
{
    struct mtp_wpscan s, other;
    char *region = chunks(1), *maps;
    int fd;

    (void)state;
    open_or_skip(&s);
    maps = read_maps();
    assert_int_equal(mtp_wpscan_watch(&s, maps, (uint64_t)(uintptr_t)region), 0);
    fd = mtp_wpscan_detach(&s);
    assert_true(fd >= 0);
    assert_int_equal(s.uffd, -1);
    assert_int_equal(s.pagemap, -1);
    assert_int_equal(s.n_ranges, 0);
    assert_int_equal(mtp_wpscan_detach(&s), -1); /* nothing more to hand over */
    region[PAGE] = 2; /* a write to a protected page: resolved by the kernel */
    assert_int_equal(mtp_wpscan_open(&other), 0);
    assert_int_equal(mtp_wpscan_watch(&other, maps, (uint64_t)(uintptr_t)region), -EBUSY);
    assert_int_equal(close(fd), 0);
    assert_int_equal(mtp_wpscan_watch(&other, maps, (uint64_t)(uintptr_t)region), 0);
    mtp_wpscan_close(&other);
    free(maps);
    munmap(region, CHUNK);
}

/* The extension watches every anonymous mapping from the first step on, not
 * only those that held the objects a step walked: a step walks a slice. */
static void watch_all_covers_anonymous_mappings(void **state)
{
    struct mtp_wpscan s;
    char *a = chunks(1), *b = chunks(1), *maps;
    uint64_t pages[64];
    long n;
    int seen_a = 0, seen_b = 0;

    (void)state;
    open_or_skip(&s);
    maps = read_maps();
    assert_true(mtp_wpscan_watch_all(&s, maps) >= 2);
    free(maps);
    mtp_wpscan_collect(&s, NULL, 0); /* forget what the test itself wrote */
    a[5 * PAGE] = 1;
    b[6 * PAGE] = 2;
    /* Every anonymous mapping is watched, the sanitizer runtime's too, so a
     * write of its own may show up beside the two pages; both must. */
    n = mtp_wpscan_collect(&s, pages, 64);
    assert_true(n >= 2 && n < 64);
    for (long i = 0; i < n; i++) {
        seen_a += pages[i] == (uint64_t)(uintptr_t)(a + 5 * PAGE);
        seen_b += pages[i] == (uint64_t)(uintptr_t)(b + 6 * PAGE);
    }
    assert_int_equal(seen_a, 1);
    assert_int_equal(seen_b, 1);
    mtp_wpscan_close(&s);
    munmap(a, CHUNK);
    munmap(b, CHUNK);
}

static void a_sample_watches_one_chunk_in_stride(void **state)
{
    struct mtp_wpscan s;
    char *region = watched_chunks(&s, 4);
    uint64_t pages[16];
    long n;

    (void)state;
    for (size_t c = 0; c < 4; c++)
        region[c * CHUNK + 10 * PAGE] = 1;
    n = mtp_wpscan_collect(&s, pages, 16);
    assert_int_equal(n, 1); /* only the sampled chunk's write was seen */
    assert_true((pages[0] >> 21) % 4 == s.phase % 4);
    /* The next sample moves on to the next chunks. */
    assert_int_equal(mtp_wpscan_collect(&s, NULL, 0), 0);
    mtp_wpscan_sample(&s, 4);
    for (size_t c = 0; c < 4; c++)
        region[c * CHUNK + 11 * PAGE] = 1;
    n = mtp_wpscan_collect(&s, pages, 16);
    assert_int_equal(n, 1);
    assert_true((pages[0] >> 21) % 4 == s.phase % 4);
    mtp_wpscan_close(&s);
    munmap(region, 4 * CHUNK);
}

/* Whether the page at addr is write-protected for the scan: pagemap's
 * uffd-wp bit (57). */
static int page_is_protected(const char *addr)
{
    int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    uint64_t entry = 0;

    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &entry, sizeof(entry), (off_t)((uintptr_t)addr / PAGE * 8)),
                     (ssize_t)sizeof(entry));
    close(fd);
    return (int)((entry >> 57) & 1);
}

/* A change of stride unprotects the old sample's chunks and protects the
 * new one's, and nothing else is left protected: a chunk left over would
 * fault for nothing, and unprotecting the whole heap instead cost a walk
 * of its page tables inside a step. */
static void a_new_stride_protects_only_its_sample(void **state)
{
    struct mtp_wpscan s;
    char *region = watched_chunks(&s, 8);
    const unsigned strides[] = {2, 8, 4, 1, 4};

    (void)state;
    for (size_t k = 0; k < sizeof(strides) / sizeof(strides[0]); k++) {
        mtp_wpscan_sample(&s, strides[k]);
        for (size_t c = 0; c < 8; c++) {
            uint64_t chunk = ((uintptr_t)region >> 21) + c;
            int sampled = strides[k] == 1 || chunk % strides[k] == s.phase % strides[k];

            assert_int_equal(page_is_protected(region + c * CHUNK), sampled);
            assert_int_equal(page_is_protected(region + c * CHUNK + CHUNK - PAGE), sampled);
        }
    }
    mtp_wpscan_close(&s);
    munmap(region, 8 * CHUNK);
}

/* The sample moves a step after the take, and a full collection's release
 * may come in between: the moved sample is protected again and its writes
 * are reported and counted. */
static void a_sample_moved_after_a_release_is_watched(void **state)
{
    struct mtp_wpscan s;
    char *region = watched_chunks(&s, 4);
    uint64_t pages[16];
    long n;

    (void)state;
    assert_int_equal(mtp_wpscan_release(&s, pages, 16), 0);
    assert_int_equal(s.released, 1);
    mtp_wpscan_sample(&s, 4);
    assert_int_equal(s.released, 0);
    s.faults = 0;
    for (size_t c = 0; c < 4; c++)
        region[c * CHUNK + 12 * PAGE] = 1;
    n = mtp_wpscan_collect(&s, pages, 16);
    assert_int_equal(n, 1);
    assert_true((pages[0] >> 21) % 4 == s.phase % 4);
    assert_int_equal(s.faults, 1);
    mtp_wpscan_close(&s);
    munmap(region, 4 * CHUNK);
}

static void refuses_stacks_and_files(void **state)
{
    struct mtp_wpscan s;
    char *maps;
    int local = 0;

    (void)state;
    open_or_skip(&s);
    maps = read_maps();
    assert_int_equal(mtp_wpscan_watch(&s, maps, (uint64_t)(uintptr_t)&local), -EINVAL);
    assert_int_equal(mtp_wpscan_watch(&s, maps, (uint64_t)(uintptr_t)&read_maps), -EINVAL);
    assert_int_equal(mtp_wpscan_watch(&s, maps, 16), -ENOENT);
    free(maps);
    mtp_wpscan_close(&s);
}

/* The rule is the sweep's (user/lib/mapping.h): memory its allocator named
 * is watched like unnamed memory.  The maps text is written here, so that
 * kernels without CONFIG_ANON_VMA_NAME test it too. */
static void named_anonymous_memory_is_watched(void **state)
{
    struct mtp_wpscan s;
    char *region = chunks(1), maps[256];
    uint64_t lo = (uint64_t)(uintptr_t)region, pages[8];

    (void)state;
    open_or_skip(&s);
    snprintf(maps, sizeof(maps),
             "%" PRIx64 "-%" PRIx64 " rw-p 00000000 00:1a 9 /tmp/f (deleted)\n"
             "%" PRIx64 "-%" PRIx64 " rw-p 00000000 00:00 0 [anon: glibc: malloc arena]\n",
             lo - PAGE, lo, lo, lo + CHUNK);
    assert_int_equal(mtp_wpscan_watch(&s, maps, lo - PAGE), -EINVAL);
    assert_int_equal(mtp_wpscan_watch(&s, maps, lo + 5 * PAGE), 0);
    assert_int_equal(s.n_ranges, 1);
    assert_true(s.start[0] == lo && s.end[0] == lo + CHUNK);
    region[5 * PAGE] = 1;
    assert_int_equal(mtp_wpscan_collect(&s, pages, 8), 1);
    assert_true(pages[0] == lo + 5 * PAGE);
    mtp_wpscan_close(&s);
    munmap(region, CHUNK);
}

static void stride_follows_the_measured_cost(void **state)
{
    const uint64_t second = 1000000000ull;

    (void)state;
    /* 2 ms of measured cost in 1 s = 10% of a 2% budget: narrow toward
     * half of it (a fifth of the stride), by 4x at most. */
    assert_int_equal(mtp_wpscan_next_stride(8, 2000000, second, 0.02, 1), 2);
    assert_int_equal(mtp_wpscan_next_stride(1, 2000000, second, 0.02, 1), 1);
    assert_int_equal(mtp_wpscan_next_stride(64, 500000, second, 0.02, 1), 16);
    /* 22.5% of it: by half only. */
    assert_int_equal(mtp_wpscan_next_stride(64, 4500000, second, 0.02, 1), 32);
    /* Not quiet for long enough yet: held. */
    assert_int_equal(mtp_wpscan_next_stride(8, 2000000, second, 0.02, 0), 8);
    /* Between a quarter of the budget and all of it: held, so that the
     * heap is not re-protected for every small change. */
    assert_int_equal(mtp_wpscan_next_stride(8, 15000000, second, 0.02, 1), 8);
    assert_int_equal(mtp_wpscan_next_stride(8, 6000000, second, 0.02, 1), 8);
    /* 100 ms in 1 s at stride 1 is 5x the budget: widen to 8. */
    assert_int_equal(mtp_wpscan_next_stride(1, 100000000, second, 0.02, 1), 8);
    /* 3x over at stride 16: 64. */
    assert_int_equal(mtp_wpscan_next_stride(16, 60000000, second, 0.02, 1), 64);
    /* The widest sample overran: back off. */
    assert_int_equal(mtp_wpscan_next_stride(MTP_WPSCAN_MAX_STRIDE, 25000000, second, 0.02, 1), 0);
    /* A narrower one overran past what the widest would fix in proportion:
     * the widest is tried first (a narrowed sample that hit hot chunks
     * used to back the scan off outright). */
    assert_int_equal(mtp_wpscan_next_stride(64, 800000000, second, 0.02, 1), MTP_WPSCAN_MAX_STRIDE);
    /* 40x over at 4: wider in proportion, 160, taken as 256. */
    assert_int_equal(mtp_wpscan_next_stride(4, 800000000, second, 0.02, 1), 256);
    /* 600 is taken as 1024, the widest: back off. */
    assert_int_equal(mtp_wpscan_next_stride(600, 60000000, second, 0.02, 1), 0);
    /* Strides are powers of two; nothing measured yet keeps it. */
    assert_int_equal(mtp_wpscan_next_stride(3, 10, 0, 0.02, 1), 4);
}

/* The bucket: a sample that cost more than its time earned leaves the
 * scan in debt, held until the budget pays it back; a quiet spell banks
 * nothing. */
static void the_budget_holds_over_every_window(void **state)
{
    const uint64_t half_second = 500000000ull;
    const double budget = 0.02;
    double credit = 0;

    (void)state;
    /* 16 ms in 0.5 s (one hot chunk) against 10 ms earned: 6 ms of debt,
     * paid back in 300 ms. */
    credit = mtp_wpscan_credit(credit, 16000000, half_second, budget);
    assert_true(credit < -5999999.0 && credit > -6000001.0);
    assert_int_equal(mtp_wpscan_hold_ns(credit, budget) / 1000000, 300);
    /* Within budget: no hold, and the 1 ms unspent is not carried. */
    assert_true(mtp_wpscan_credit(0, 9000000, half_second, budget) == 0.0);
    assert_int_equal(mtp_wpscan_hold_ns(0.0, budget), 0);
    /* Ten quiet seconds bank nothing, not 200 ms... */
    credit = mtp_wpscan_credit(0, 0, 10 * 2 * half_second, budget);
    assert_true(credit == 0.0);
    /* ...so a 50 ms burst after them is 50 ms of debt: a 2.5 s hold. */
    credit = mtp_wpscan_credit(credit, 50000000, 0, budget);
    assert_int_equal(mtp_wpscan_hold_ns(credit, budget) / 1000000, 2500);
    /* Debt is paid back by the windows after it. */
    assert_true(mtp_wpscan_credit(-6000000.0, 4000000, half_second, budget) == 0.0);
    /* Over any run of samples, cost = earned - credit, and the credit is
     * never below -(one sample's overrun): held, the scan costs nothing. */
    credit = 0;
    double cost = 0, earned = 0;
    for (int i = 0; i < 100; i++) {
        uint64_t c = (i % 3 == 0 ? 25 : 4) * 1000000ull;
        credit = mtp_wpscan_credit(credit, c, half_second, budget);
        cost += (double)c;
        earned += budget * (double)half_second;
        if (credit < 0) { /* held: time passes, nothing is spent */
            earned += (double)mtp_wpscan_hold_ns(credit, budget) * budget;
            credit = 0;
        }
    }
    assert_true(cost <= earned + 1.0);
}

/* Held before a sample it cannot pay for, not after: a sample expected to
 * cost 30 ms in a 0.5-s window (10 ms earned) with 5 ms banked holds for
 * the 15 ms it lacks, 750 ms; credit the hold earned in advance is kept
 * past the one-second cap, so the sample after it is not charged twice.
 * Over a run of samples whose cost the average predicts, the scan never
 * spends more than it has earned. */
static void the_scan_holds_before_a_sample_it_cannot_pay(void **state)
{
    const uint64_t half_second = 500000000ull;
    const double budget = 0.02;
    double projected, credit;

    (void)state;
    projected = mtp_wpscan_projected(5000000.0, 0.06, half_second, budget);
    assert_true(projected < -14999999.0 && projected > -15000001.0);
    assert_true(mtp_wpscan_hold_ns(projected, budget) / 100000 - 7499 <= 1); /* 750 ms */
    /* Within budget, or nothing measured yet: no hold. */
    assert_true(mtp_wpscan_projected(0, 0.01, half_second, budget) > 0);
    assert_true(mtp_wpscan_projected(0, -1.0, half_second, budget) > 0);
    /* After the hold: 20 ms prepaid; with the window's 10 ms the sample's
     * 30 ms leaves nothing owed. */
    credit = 5000000.0 - projected;
    credit = mtp_wpscan_credit(credit, 30000000, half_second, budget);
    assert_true(credit > -1.0 && credit < 1.0);
    /* An advance, 40 ms, outlives the take that ends the hold. */
    credit = mtp_wpscan_credit(40000000.0, 0, 1000, budget);
    assert_true(credit > 39999999.0 && credit <= 40000000.0);
    assert_true(mtp_wpscan_credit(credit, 50000000, half_second, budget) > -1.0);
    /* Steady costs of 3x the budget: held before each sample, the scan
     * spends what it earned, sample by sample, never more. */
    credit = 0;
    double cost = 0, earned = 0;
    for (int i = 0; i < 100; i++) {
        projected = mtp_wpscan_projected(credit, 0.06, half_second, budget);
        if (projected < 0) {
            uint64_t hold = mtp_wpscan_hold_ns(projected, budget);
            earned += budget * (double)hold;
            credit -= projected;
        }
        credit = mtp_wpscan_credit(credit, 30000000, half_second, budget);
        cost += 30000000.0;
        earned += budget * (double)half_second;
        assert_true(cost <= earned + 1000.0);
    }
}

/* The sample that holds a chunk the program rewrites whole costs the same
 * at every stride (as the CI's read-only workload's allocator churn did:
 * 504 faults, ~16 ms a visit against a 10 ms budget): the average, over the
 * rotation, decides, so the stride holds and the scan never backs off. */
static void one_hot_chunk_does_not_back_the_scan_off(void **state)
{
    const uint64_t half_second = 500000000ull;
    const double budget = 0.02;
    double avg = -1.0;
    unsigned stride = 8;

    (void)state;
    for (int sample = 0; sample < 64; sample++) {
        double share = (sample % 8 == 3 ? 1.6 : 0.4) * budget;
        unsigned next;

        avg = mtp_wpscan_average_share(avg, share, budget);
        next = mtp_wpscan_next_stride(stride, (uint64_t)(avg * (double)half_second), half_second,
                                      budget, 0);
        assert_int_equal(next, 8);
    }
    assert_true(avg > 0.4 * budget && avg < budget);
    /* Judged alone, that sample widened the stride (and at the widest,
     * backed the scan off): what the average is for. */
    assert_int_equal(mtp_wpscan_next_stride(MTP_WPSCAN_MAX_STRIDE,
                                            (uint64_t)(1.6 * budget * (double)half_second),
                                            half_second, budget, 0),
                     0);
    /* A sample past 4x the budget is acted on at once. */
    assert_true(mtp_wpscan_average_share(0.005, 0.1, budget) == 0.1);
    /* The first sample is the average. */
    assert_true(mtp_wpscan_average_share(-1.0, 0.003, budget) == 0.003);
}

/* A full collection's header writes must not fault: release drops the
 * protection, reports what was written before it, and the next collect
 * counts nothing as a fault. */
static void release_reports_then_stops_faults(void **state)
{
    struct mtp_wpscan s;
    char *region = chunks(1), *maps;
    uint64_t pages[64];
    long n;

    (void)state;
    open_or_skip(&s);
    maps = read_maps();
    assert_int_equal(mtp_wpscan_watch(&s, maps, (uint64_t)(uintptr_t)region), 0);
    free(maps);
    region[2 * PAGE] = 1;
    s.faults = 0;
    n = mtp_wpscan_release(&s, pages, 64);
    assert_int_equal(n, 1);
    assert_true(pages[0] == (uint64_t)(uintptr_t)(region + 2 * PAGE));
    assert_int_equal(s.faults, 1);
    assert_int_equal(s.released, 1);
    /* As the collector would: every page written, none protected. */
    for (size_t p = 0; p < 512; p++)
        region[p * PAGE] = 2;
    assert_int_equal(mtp_wpscan_collect(&s, NULL, 0), 0);
    assert_int_equal(s.faults, 1);
    assert_int_equal(s.released, 0);
    /* Protected again: the next writes are the program's and counted. */
    region[7 * PAGE] = 3;
    assert_int_equal(mtp_wpscan_collect(&s, pages, 64), 1);
    assert_int_equal(s.faults, 2);
    mtp_wpscan_close(&s);
    munmap(region, CHUNK);
}

/* Moving the sample on touches only the old and the new sample's chunks,
 * and a new range is protected only where the sample lies. */
static void a_new_range_is_protected_only_where_sampled(void **state)
{
    struct mtp_wpscan s;
    char *region = chunks(4), *maps;
    uint64_t pages[16];
    long n;

    (void)state;
    open_or_skip(&s);
    mtp_wpscan_sample(&s, 4); /* before any range is watched */
    maps = read_maps();
    assert_int_equal(mtp_wpscan_watch(&s, maps, (uint64_t)(uintptr_t)region), 0);
    free(maps);
    for (size_t c = 0; c < 4; c++)
        region[c * CHUNK + 3 * PAGE] = 1;
    s.faults = 0;
    n = mtp_wpscan_collect(&s, pages, 16);
    assert_int_equal(n, 1);
    assert_int_equal(s.faults, 1);
    assert_true((pages[0] >> 21) % 4 == s.phase % 4);
    mtp_wpscan_close(&s);
    munmap(region, 4 * CHUNK);
}

/* mtp's own write between scans is forgotten; the program's is kept. */
static void forget_drops_only_that_page(void **state)
{
    struct mtp_wpscan s;
    char *region = chunks(1), *maps;
    uint64_t pages[8];

    (void)state;
    open_or_skip(&s);
    maps = read_maps();
    assert_int_equal(mtp_wpscan_watch(&s, maps, (uint64_t)(uintptr_t)region), 0);
    free(maps);
    region[4 * PAGE] = 1; /* the program's */
    region[9 * PAGE] = 1; /* mtp's own */
    mtp_wpscan_forget(&s, (uint64_t)(uintptr_t)(region + 9 * PAGE + 16));
    assert_int_equal(mtp_wpscan_collect(&s, pages, 8), 1);
    assert_true(pages[0] == (uint64_t)(uintptr_t)(region + 4 * PAGE));
    mtp_wpscan_close(&s);
    munmap(region, CHUNK);
}

/* mtp's own tables are never watched: their writes are not the program's. */
static void own_mappings_are_not_watched(void **state)
{
    struct mtp_wpscan s;
    size_t len = 16 * PAGE;
    char *own = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                     -1, 0),
         *maps;
    uint64_t pages[256];
    long n;

    (void)state;
    assert_true(own != MAP_FAILED);
    open_or_skip(&s);
    assert_int_equal(mtp_wpscan_own_add((uint64_t)(uintptr_t)own, (uint64_t)(uintptr_t)own + len),
                     0);
    maps = read_maps();
    mtp_wpscan_watch_all(&s, maps);
    free(maps);
    for (size_t i = 0; i < s.n_ranges; i++)
        assert_false(s.start[i] < (uint64_t)(uintptr_t)own + len &&
                     (uint64_t)(uintptr_t)own < s.end[i]);
    mtp_wpscan_collect(&s, NULL, 0);
    own[3 * PAGE] = 1;
    n = mtp_wpscan_collect(&s, pages, 256);
    for (long i = 0; i < n; i++)
        assert_false(pages[i] == (uint64_t)(uintptr_t)(own + 3 * PAGE));
    mtp_wpscan_own_remove((uint64_t)(uintptr_t)own);
    mtp_wpscan_close(&s);
    munmap(own, len);
}

static void a_fault_has_a_price(void **state)
{
    struct mtp_wpscan s;
    long ns;

    (void)state;
    open_or_skip(&s);
    ns = mtp_wpscan_measure_fault(&s);
    /* A write-protect fault costs between ~0.3 and a few tens of us. */
    assert_true(ns > 100 && ns < 1000000);
    mtp_wpscan_close(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reports_exactly_the_pages_written),
        cmocka_unit_test(rearm_forgets_writes),
        cmocka_unit_test(detach_hands_over_the_close),
        cmocka_unit_test(a_sample_watches_one_chunk_in_stride),
        cmocka_unit_test(a_new_stride_protects_only_its_sample),
        cmocka_unit_test(a_sample_moved_after_a_release_is_watched),
        cmocka_unit_test(watch_all_covers_anonymous_mappings),
        cmocka_unit_test(refuses_stacks_and_files),
        cmocka_unit_test(named_anonymous_memory_is_watched),
        cmocka_unit_test(stride_follows_the_measured_cost),
        cmocka_unit_test(one_hot_chunk_does_not_back_the_scan_off),
        cmocka_unit_test(the_budget_holds_over_every_window),
        cmocka_unit_test(the_scan_holds_before_a_sample_it_cannot_pay),
        cmocka_unit_test(release_reports_then_stops_faults),
        cmocka_unit_test(a_new_range_is_protected_only_where_sampled),
        cmocka_unit_test(own_mappings_are_not_watched),
        cmocka_unit_test(forget_drops_only_that_page),
        cmocka_unit_test(a_fault_has_a_price),
    };
    return cmocka_run_group_tests_name("wpscan", tests, NULL, NULL);
}
