/* SPDX-License-Identifier: MIT */
/*
 * The extension's snapshot of observed objects, and how it is sorted.  Apart
 * from mtpmodule.c so that the sort can be unit-tested and benchmarked
 * without Python.h.  The tables the snapshot is folded into are in
 * mtp_sidetable.h.
 */
#ifndef MTP_SNAPSHOT_H
#define MTP_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* One observed object as of its latest observation: a step's snapshot is
 * an array of these, and the side table (mtp_sidetable.h) holds one per
 * object, 16 bytes each. */
typedef struct {
    uint64_t addr;
    uint32_t refcnt;
    uint16_t type_tag; /* detects a freed object whose address was reused */
    uint8_t history;   /* bit i: the refcount had moved at the i-th latest observation */
    uint8_t cycle;     /* low byte of the round-robin cycle that last saw it */
} mtp_seen;

/*
 * Sorts a snapshot by address: LSD radix sort, 11 bits a pass over the
 * address above its 16-byte alignment, skipping passes whose digit is the
 * same everywhere (the high bits of a heap usually are).  qsort cost ~60 ns
 * per object here; this is a few.  tmp holds n entries.  Returns the buffer
 * that ends up sorted: v or tmp.
 */
#define MTP_RADIX_BITS 11
#define MTP_RADIX_SIZE (1u << MTP_RADIX_BITS)

static inline mtp_seen *mtp_sort_seen(mtp_seen *v, mtp_seen *tmp, size_t n)
{
    size_t count[MTP_RADIX_SIZE];
    uint64_t all_or = 0, all_and = UINT64_MAX;

    for (size_t i = 0; i < n; i++) {
        all_or |= v[i].addr;
        all_and &= v[i].addr;
    }
    for (unsigned shift = 4; shift < 64; shift += MTP_RADIX_BITS) {
        uint64_t mask = (uint64_t)(MTP_RADIX_SIZE - 1) << shift;
        size_t sum = 0;
        mtp_seen *swap;

        if (((all_or ^ all_and) & mask) == 0)
            continue; /* every key has the same digit here */
        memset(count, 0, sizeof(count));
        for (size_t i = 0; i < n; i++)
            count[(v[i].addr >> shift) & (MTP_RADIX_SIZE - 1)]++;
        for (size_t d = 0; d < MTP_RADIX_SIZE; d++) {
            size_t c = count[d];
            count[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            tmp[count[(v[i].addr >> shift) & (MTP_RADIX_SIZE - 1)]++] = v[i];
        swap = v;
        v = tmp;
        tmp = swap;
    }
    return v;
}

/* Drops repeated addresses from a sorted snapshot (an object reached both on
 * its own and as a referent); keeps the first.  Returns the new length. */
static inline size_t mtp_seen_unique(mtp_seen *v, size_t n)
{
    size_t out = 0;

    for (size_t i = 0; i < n; i++)
        if (out == 0 || v[out - 1].addr != v[i].addr)
            v[out++] = v[i];
    return out;
}

/* The index of addr in a sorted, unique snapshot, or -1. */
static inline ptrdiff_t mtp_seen_find(const mtp_seen *v, size_t len, uint64_t addr)
{
    size_t lo = 0, hi = len;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid].addr < addr)
            lo = mid + 1;
        else if (v[mid].addr > addr)
            hi = mid;
        else
            return (ptrdiff_t)mid;
    }
    return -1;
}

/* Bits set among the last `n` observations of a history byte. */
static inline unsigned mtp_history_count(uint8_t history, unsigned n)
{
    unsigned mask = n >= 8 ? 0xffu : (1u << n) - 1, count = 0;

    for (unsigned bits = history & mask; bits; bits &= bits - 1)
        count++;
    return count;
}

#endif
