/* SPDX-License-Identifier: MIT */
/*
 * mtp's own memory, kept out of the program's allocator.
 *
 * Every buffer mtp needs that can outgrow a few pages (the side tables'
 * arrays, a step's slice and sort buffers, the written-page list, the text
 * of /proc/self/maps) is mapped here with mmap, never taken from malloc.
 * Two reasons, both measured:
 *
 * - glibc's main arena adapts to what the process frees.  A step that took
 *   its 50-200 KiB buffers from malloc and freed them at its end left a
 *   free chunk at the top of the heap past the trim threshold, so glibc
 *   gave the top back to the kernel (brk), and the program grew it again
 *   and faulted every page in anew: on the suite's allocation-heavy
 *   workload, 16-19 brk calls became 28-35, and the program ran ~8% slower
 *   with steps taking 2% (BENCHMARKS §3).  Freeing a chunk above the mmap
 *   threshold (128 KiB at first) would also raise that threshold for good,
 *   changing how the program's own large allocations are served.
 * - A mapping of mtp's own is registered with the written-page scan
 *   (mtp_wpscan_own_add), so mtp's writes neither fault nor count as the
 *   program's, and is named "[anon:mtp]" in /proc/PID/maps where the
 *   kernel has CONFIG_ANON_VMA_NAME.
 *
 * A zero-initialized mtp_scratch is empty.  Scratch buffers grow and are
 * kept: a step's buffers are reused by the next step, and mapped again only
 * when a step needs more.  The GIL owns every scratch buffer and the
 * registry of own ranges.  No Python here.
 */
#ifndef MTP_OWNMEM_H
#define MTP_OWNMEM_H

#include <stddef.h>

/* Zeroed memory of at least `bytes`, mapped apart and registered as mtp's
 * own; NULL when the mapping fails.  Large ones ask for huge pages. */
void *mtp_own_map(size_t bytes);
void mtp_own_unmap(void *p, size_t bytes);
/* Bytes mapped by mtp_own_map() and not unmapped: mtp's own footprint
 * (address space; pages are faulted in as they are used). */
size_t mtp_own_mapped_bytes(void);

/*
 * Faulting in fresh own memory off the GIL.  A new side-table array must be
 * in memory before entries move into it; faulting it in costs ~6 ms per MiB
 * in this guest, which inside a step is a pause (BENCHMARKS.md 3.4).  While
 * a server runs (mtp's ticker thread, without the GIL), the tables ask it
 * for that instead: mtp_prefault_want() names a range, mtp_prefault_allow()
 * lets the server go as far as the steps would have gone themselves (the
 * same faults, at the same pace), the server faults it in with
 * MADV_POPULATE_WRITE (which writes no data, so the range's
 * owner may use it meanwhile), and mtp_prefault_done() says how far it got.
 * Without a server (unit tests, a halted ticker, kernels before 5.14) the
 * tables fault in their arrays themselves, a bounded share per step.
 *
 * Requests are mtp_prefault_mu's; `done` is also read atomically by the GIL
 * holder.  The server faults a chunk in without the mutex, so asking for
 * more never waits for it; unmapping a requested range (mtp_own_unmap)
 * drops its request first, and that waits for the range's chunk in flight
 * (<= 256 KiB); so does a table that switches to its array.
 */
/* GIL held.  Announces [base, base + bytes) to be faulted in, as far as
 * mtp_prefault_allow() lets the server go (nothing at first: memory the
 * owner may never use must not be faulted in); ignored when no server runs
 * or all request slots are taken. */
void mtp_prefault_want(void *base, size_t bytes);
/* GIL held.  Lets the server fault in the first `bytes` of base's range. */
void mtp_prefault_allow(const void *base, size_t bytes);
/* GIL held.  Drops base's request (the range is in use, or going away),
 * waiting out the chunk in flight; mtp_own_unmap() calls it. */
void mtp_prefault_forget(const void *base);
/* GIL held.  Bytes from base known to be in memory, or SIZE_MAX when no
 * server works on it (the caller faults it in itself). */
size_t mtp_prefault_done(const void *base);
/* The server, without the GIL: faults in at most max_bytes of pending
 * requests.  Returns whether any remain.  mtp_prefault_serving(1) before
 * the first call, (0) when it stops serving. */
int mtp_prefault_serve(size_t max_bytes);
void mtp_prefault_serving(int on);

/* A grow-only buffer. */
typedef struct {
    void *p;
    size_t bytes;
} mtp_scratch;

/* At least `bytes` of s (contents not kept across growth), or NULL. */
void *mtp_scratch_get(mtp_scratch *s, size_t bytes);
/* The same, keeping the first `used` bytes; NULL (s unchanged) when the
 * mapping fails. */
void *mtp_scratch_grow(mtp_scratch *s, size_t bytes, size_t used);
void mtp_scratch_free(mtp_scratch *s);

/* The whole of a (/proc) file into s, NUL-terminated: for /proc/self/maps,
 * which stdio would read into malloc'd memory.  The text, or NULL. */
const char *mtp_scratch_read_file(mtp_scratch *s, const char *path);

#endif
