// SPDX-License-Identifier: MIT
/*
 * What a kernel entry costs the code that runs after it.
 *
 * Sweeps a working set of PAGES pages (one read per page, in a fixed random
 * order) over and over, once with no system call between sweeps and once
 * with a getppid() before every sweep, and prints per sweep: the sweep's
 * own time, the system call's time, and what the sweeps lost beyond the
 * system call itself.  Where every kernel entry flushes the TLB
 * (page-table isolation without PCID), that loss is the refill: a few ns
 * per page, growing with the working set up to the TLB's reach.  A
 * write-protect fault of the written-page scan is a kernel entry too, and
 * its timed price (mtp_wpscan_measure_fault) cannot see the refill, which
 * lands on the program's next instructions (BENCHMARKS.md 3.2.1).
 *
 *   cc -O2 -o /tmp/kentry_refill tools/bench/kentry_refill.c
 *   for p in 512 2048 4096 16384; do /tmp/kentry_refill $p; done
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096

static uint64_t now_ns(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* Seconds of `sweeps` sweeps, and of the system calls before each when
 * `enter`.  Reads through a volatile sum so the loop is not optimized out. */
static void run(const char *m, const size_t *order, size_t pages, size_t sweeps, int enter,
                uint64_t *total_ns, uint64_t *sys_ns)
{
    volatile uint64_t sum = 0;
    uint64_t t0 = now_ns();

    *sys_ns = 0;
    for (size_t s = 0; s < sweeps; s++) {
        if (enter) {
            uint64_t a = now_ns();
            syscall(SYS_getppid);
            *sys_ns += now_ns() - a;
        }
        for (size_t i = 0; i < pages; i++)
            sum += (unsigned char)m[order[i] * PAGE + (i % 64) * 64];
    }
    *total_ns = now_ns() - t0;
}

int main(int argc, char **argv)
{
    size_t pages = argc > 1 ? strtoul(argv[1], NULL, 10) : 0, sweeps, *order;
    uint64_t quiet, entered, sys, unused;
    char *m;

    if (pages == 0 || pages > (1u << 22)) {
        fprintf(stderr, "usage: %s PAGES (1..4194304): the working set, in 4-KiB pages\n", argv[0]);
        return 2;
    }
    m = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    order = malloc(pages * sizeof(*order));
    if (m == MAP_FAILED || order == NULL) {
        perror("kentry_refill: memory");
        return 1;
    }
    madvise(m, pages * PAGE, MADV_NOHUGEPAGE); /* 4-KiB pages: one TLB entry each */
    for (size_t i = 0; i < pages; i++) {
        m[i * PAGE] = 1;
        order[i] = i;
    }
    srand(1);
    for (size_t i = pages - 1; i > 0; i--) {
        size_t j = (size_t)rand() % (i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    sweeps = 20000000 / pages + 1;
    run(m, order, pages, sweeps, 0, &unused, &sys); /* warm up */
    run(m, order, pages, sweeps, 0, &quiet, &sys);
    run(m, order, pages, sweeps, 1, &entered, &sys);
    printf("pages %zu: sweep %.2f us, getppid %.2f us, lost after it %.2f us "
           "(%.2f ns a page)\n",
           pages, (double)quiet / (double)sweeps / 1e3, (double)sys / (double)sweeps / 1e3,
           ((double)entered - (double)quiet - (double)sys) / (double)sweeps / 1e3,
           ((double)entered - (double)quiet - (double)sys) / (double)sweeps / (double)pages);
    munmap(m, pages * PAGE);
    free(order);
    return 0;
}
