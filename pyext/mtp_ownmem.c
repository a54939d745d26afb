// SPDX-License-Identifier: MIT
/* mtp's own memory: see mtp_ownmem.h. */
#include "mtp_ownmem.h"
#include "mtp_wpscan.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/prctl.h>

#ifndef PR_SET_VMA
#define PR_SET_VMA           0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif

#define MTP_PAGE_BYTES 4096
/* Arrays this large ask for transparent huge pages: the tables' lookups
 * land at random, and a TLB miss each would cost more than the lookup. */
#define MTP_HUGE_BYTES ((size_t)2 << 20)

static size_t mtp_own_total; /* the GIL owns it, like every mapping here */

static size_t mtp_own_round(size_t bytes)
{
    return (bytes + MTP_PAGE_BYTES - 1) & ~(size_t)(MTP_PAGE_BYTES - 1);
}

void *mtp_own_map(size_t bytes)
{
    void *p;

    bytes = mtp_own_round(bytes ? bytes : 1);
    /* MAP_NORESERVE keeps the kernel from merging the mapping with the
     * program's anonymous memory, so the scan can tell it apart by range. */
    p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1,
             0);
    if (p == MAP_FAILED)
        return NULL;
    mtp_own_total += bytes;
    (void)mtp_wpscan_own_add((uint64_t)(uintptr_t)p, (uint64_t)(uintptr_t)p + bytes);
    (void)prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, (unsigned long)p, bytes, (unsigned long)"mtp");
#ifdef MADV_HUGEPAGE
    if (bytes >= MTP_HUGE_BYTES)
        (void)madvise(p, bytes, MADV_HUGEPAGE);
#endif
    return p;
}

void mtp_own_unmap(void *p, size_t bytes)
{
    if (p == NULL)
        return;
    mtp_prefault_forget(p);
    mtp_wpscan_own_remove((uint64_t)(uintptr_t)p);
    bytes = mtp_own_round(bytes ? bytes : 1);
    if (munmap(p, bytes) == 0)
        mtp_own_total -= bytes;
}

size_t mtp_own_mapped_bytes(void)
{
    return mtp_own_total;
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#define MTP_PREFAULT_SLOTS 4
#define MTP_PREFAULT_CHUNK ((size_t)256 << 10) /* the longest a drop waits for */

/* The server faults a chunk in without holding the mutex: a step's
 * mtp_prefault_allow() at every step of a table's preparation waited for
 * the chunk in flight, up to 3.5 ms here (BENCHMARKS.md 3.4).  The slot in
 * flight is marked instead, and only dropping it waits for the chunk. */
static pthread_mutex_t mtp_prefault_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t mtp_prefault_landed = PTHREAD_COND_INITIALIZER;
static struct {
    char *base; /* NULL: a free slot; written under mu, by the GIL holder only */
    size_t bytes;
    size_t allowed; /* the owner's go-ahead so far (mtp_prefault_allow); under mu */
    size_t done;    /* written under mu by the server; read atomically */
    int in_flight;  /* the server faults a chunk of it in, without mu; under mu */
} mtp_prefault_req[MTP_PREFAULT_SLOTS];
static int mtp_prefault_on; /* a server runs (atomic) */

void mtp_prefault_serving(int on)
{
    __atomic_store_n(&mtp_prefault_on, on, __ATOMIC_RELEASE);
}

void mtp_prefault_want(void *base, size_t bytes)
{
    if (base == NULL || !__atomic_load_n(&mtp_prefault_on, __ATOMIC_ACQUIRE))
        return;
    pthread_mutex_lock(&mtp_prefault_mu);
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < MTP_PREFAULT_SLOTS; i++) {
            /* the same range again, else a free or finished slot (one in
             * flight is neither: its done is below its allowed) */
            if (pass == 0 ? mtp_prefault_req[i].base == base
                          : mtp_prefault_req[i].base == NULL ||
                                mtp_prefault_req[i].done >= mtp_prefault_req[i].bytes) {
                if (mtp_prefault_req[i].base != base) {
                    mtp_prefault_req[i].base = base;
                    mtp_prefault_req[i].bytes = mtp_own_round(bytes);
                    mtp_prefault_req[i].allowed = 0;
                    __atomic_store_n(&mtp_prefault_req[i].done, 0, __ATOMIC_RELAXED);
                }
                pthread_mutex_unlock(&mtp_prefault_mu);
                return;
            }
        }
    pthread_mutex_unlock(&mtp_prefault_mu);
}

size_t mtp_prefault_done(const void *base)
{
    if (base == NULL || !__atomic_load_n(&mtp_prefault_on, __ATOMIC_ACQUIRE))
        return SIZE_MAX;
    /* base is only written by the GIL holder, which is the caller */
    for (size_t i = 0; i < MTP_PREFAULT_SLOTS; i++)
        if (mtp_prefault_req[i].base == base)
            return __atomic_load_n(&mtp_prefault_req[i].done, __ATOMIC_ACQUIRE);
    return SIZE_MAX;
}

void mtp_prefault_allow(const void *base, size_t bytes)
{
    if (base == NULL || !__atomic_load_n(&mtp_prefault_on, __ATOMIC_ACQUIRE))
        return;
    pthread_mutex_lock(&mtp_prefault_mu);
    for (size_t i = 0; i < MTP_PREFAULT_SLOTS; i++)
        if (mtp_prefault_req[i].base == base) {
            size_t upto = mtp_own_round(bytes);
            if (upto > mtp_prefault_req[i].bytes)
                upto = mtp_prefault_req[i].bytes;
            if (upto > mtp_prefault_req[i].allowed)
                mtp_prefault_req[i].allowed = upto;
        }
    pthread_mutex_unlock(&mtp_prefault_mu);
}

void mtp_prefault_forget(const void *base)
{
    int held = 0;

    for (size_t i = 0; i < MTP_PREFAULT_SLOTS; i++) {
        if (mtp_prefault_req[i].base != base)
            continue;
        if (!held++)
            pthread_mutex_lock(&mtp_prefault_mu);
        while (mtp_prefault_req[i].in_flight) /* the range must outlive it */
            pthread_cond_wait(&mtp_prefault_landed, &mtp_prefault_mu);
        mtp_prefault_req[i].base = NULL;
    }
    if (held)
        pthread_mutex_unlock(&mtp_prefault_mu);
}

int mtp_prefault_serve(size_t max_bytes)
{
    size_t served = 0;
    int left = 0;

    pthread_mutex_lock(&mtp_prefault_mu);
    for (size_t i = 0; i < MTP_PREFAULT_SLOTS; i++) {
        while (mtp_prefault_req[i].base != NULL &&
               mtp_prefault_req[i].done < mtp_prefault_req[i].allowed) {
            char *base = mtp_prefault_req[i].base;
            size_t done = mtp_prefault_req[i].done, run = mtp_prefault_req[i].allowed - done;
            int failed;

            if (served >= max_bytes) {
                left = 1;
                break;
            }
            if (run > MTP_PREFAULT_CHUNK)
                run = MTP_PREFAULT_CHUNK;
            mtp_prefault_req[i].in_flight = 1; /* forget() waits; want() leaves it */
            pthread_mutex_unlock(&mtp_prefault_mu);
            failed = madvise(base + done, run, MADV_POPULATE_WRITE) < 0;
            pthread_mutex_lock(&mtp_prefault_mu);
            mtp_prefault_req[i].in_flight = 0;
            pthread_cond_broadcast(&mtp_prefault_landed);
            if (failed) {
                /* No MADV_POPULATE_WRITE (Linux < 5.14), or no memory:
                 * stop serving, and the owners fault their arrays in
                 * themselves. */
                __atomic_store_n(&mtp_prefault_on, 0, __ATOMIC_RELEASE);
                pthread_mutex_unlock(&mtp_prefault_mu);
                return 0;
            }
            __atomic_store_n(&mtp_prefault_req[i].done, done + run, __ATOMIC_RELEASE);
            served += run;
        }
    }
    pthread_mutex_unlock(&mtp_prefault_mu);
    return left;
}

/* Powers of two: a heap that grows step by step maps again rarely. */
static size_t mtp_scratch_size(size_t bytes)
{
    size_t want = MTP_PAGE_BYTES;

    while (want < bytes)
        want <<= 1;
    return want;
}

void *mtp_scratch_get(mtp_scratch *s, size_t bytes)
{
    size_t want;

    if (s->p != NULL && s->bytes >= bytes)
        return s->p;
    want = mtp_scratch_size(bytes);
    mtp_scratch_free(s);
    s->p = mtp_own_map(want);
    s->bytes = s->p != NULL ? want : 0;
    return s->p;
}

void *mtp_scratch_grow(mtp_scratch *s, size_t bytes, size_t used)
{
    size_t want;
    void *p;

    if (s->p != NULL && s->bytes >= bytes)
        return s->p;
    want = mtp_scratch_size(bytes);
    p = mtp_own_map(want);
    if (p == NULL)
        return NULL;
    if (s->p != NULL)
        memcpy(p, s->p, used < s->bytes ? used : s->bytes);
    mtp_scratch_free(s);
    s->p = p;
    s->bytes = want;
    return p;
}

void mtp_scratch_free(mtp_scratch *s)
{
    mtp_own_unmap(s->p, s->bytes);
    s->p = NULL;
    s->bytes = 0;
}

const char *mtp_scratch_read_file(mtp_scratch *s, const char *path)
{
    size_t len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return NULL;
    for (;;) {
        ssize_t got;
        char *buf = mtp_scratch_grow(s, len + 2 * MTP_PAGE_BYTES, len);

        if (buf == NULL)
            break;
        got = read(fd, buf + len, s->bytes - len - 1);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            close(fd);
            if (got < 0)
                return NULL;
            buf[len] = '\0';
            return buf;
        }
        len += (size_t)got;
    }
    close(fd);
    return NULL;
}
