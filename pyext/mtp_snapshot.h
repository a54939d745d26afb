/* SPDX-License-Identifier: MIT */
/*
 * The extension's snapshot of observed objects, and how it is sorted.  Apart
 * from mtpmodule.c so that the sort can be unit-tested and benchmarked
 * without Python.h.
 */
#ifndef MTP_SNAPSHOT_H
#define MTP_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* One observed object as of its latest observation; the side table is an
 * array of these sorted by address, 16 bytes per object. */
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

/* First index in v[from, n) whose address is >= addr: galloping, because
 * consecutive lookups of a sorted slice land near each other. */
static inline size_t mtp_seen_gallop(const mtp_seen *v, size_t n, size_t from, uint64_t addr)
{
    size_t lo = from, step = 1, hi;

    while (lo + step < n && v[lo + step].addr < addr) {
        lo += step;
        step <<= 1;
    }
    hi = lo + step < n ? lo + step : n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid].addr < addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/*
 * Folds one observation step into the side table.  `cur` is the step's
 * snapshot, sorted and unique, with refcnt and type_tag filled in; `old` is
 * the table.  Writes the new table to `out` (room for old_len + cur_len) and
 * returns its length.  For each cur[i], delta[i] is the refcount change since
 * the object was last observed (0 for an object new to the table or whose
 * address now holds another type), and cur[i].history gets the updated
 * history.  Entries the step did not see are copied unchanged, in runs: a
 * step covers only a slice of a large heap.
 */
static inline size_t mtp_seen_merge(const mtp_seen *old, size_t old_len, mtp_seen *cur,
                                    size_t cur_len, uint8_t cycle, int32_t *delta, mtp_seen *out)
{
    size_t j = 0, k = 0;

    for (size_t i = 0; i < cur_len; i++) {
        size_t at = mtp_seen_gallop(old, old_len, j, cur[i].addr);
        uint8_t history = 0;

        if (at > j) {
            memcpy(out + k, old + j, (at - j) * sizeof(*out));
            k += at - j;
        }
        j = at;
        delta[i] = 0;
        if (j < old_len && old[j].addr == cur[i].addr) {
            if (old[j].type_tag == cur[i].type_tag) {
                delta[i] = (int32_t)(cur[i].refcnt - old[j].refcnt);
                history = (uint8_t)(old[j].history << 1);
            }
            j++;
        }
        history |= delta[i] != 0;
        cur[i].history = history;
        cur[i].cycle = cycle;
        out[k++] = cur[i];
    }
    if (j < old_len) {
        memcpy(out + k, old + j, (old_len - j) * sizeof(*out));
        k += old_len - j;
    }
    return k;
}

/* After a full round-robin cycle: drops the entries no step of the last
 * `keep` cycles saw; their objects died or stopped being tracked.  In place;
 * returns the new length. */
static inline size_t mtp_seen_prune(mtp_seen *v, size_t n, uint8_t cycle, uint8_t keep)
{
    size_t out = 0;

    for (size_t i = 0; i < n; i++)
        if ((uint8_t)(cycle - v[i].cycle) < keep)
            v[out++] = v[i];
    return out;
}

/*
 * Out-of-line storage of observed containers (a dict's key table, a list's
 * item array, a buffer's data), by owner.  Reading a container writes its
 * reference count, so its own page shows as written, but reading its
 * storage (a dict lookup, a list index, a buffer read) writes nothing
 * there: the storage is credited when its owner's page was written.  Kept
 * for every observed container, not only the current slice, because the
 * written-page scan reports the whole heap at every step.  24 bytes per
 * container; the addresses are never dereferenced, so a stale entry costs
 * only a wrong page's heat until its owner is seen again.
 */
typedef struct {
    uint64_t owner;
    uint64_t addr;
    uint32_t size;
    uint8_t cycle; /* as mtp_seen's */
    uint8_t reserved[3];
} mtp_extent;

/* Folds a step's extents (sorted by owner, unique) into the table, which
 * keeps the others; out has room for both.  Returns the new length. */
static inline size_t mtp_extent_merge(const mtp_extent *old, size_t old_len, const mtp_extent *cur,
                                      size_t cur_len, mtp_extent *out)
{
    size_t i = 0, j = 0, k = 0;

    while (i < cur_len || j < old_len) {
        if (j == old_len || (i < cur_len && cur[i].owner < old[j].owner))
            out[k++] = cur[i++];
        else if (i == cur_len || old[j].owner < cur[i].owner)
            out[k++] = old[j++];
        else {
            out[k++] = cur[i++];
            j++;
        }
    }
    return k;
}

static inline size_t mtp_extent_prune(mtp_extent *v, size_t n, uint8_t cycle, uint8_t keep)
{
    size_t out = 0;

    for (size_t i = 0; i < n; i++)
        if ((uint8_t)(cycle - v[i].cycle) < keep)
            v[out++] = v[i];
    return out;
}

/* Indices of the extents whose owner lies on one of `pages` (page base
 * addresses, sorted), written to hits[]; returns how many. */
static inline size_t mtp_extent_touched(const mtp_extent *v, size_t n, const uint64_t *pages,
                                        size_t n_pages, uint64_t page_mask, size_t *hits)
{
    size_t p = 0, count = 0;

    for (size_t i = 0; i < n && p < n_pages; i++) {
        uint64_t page = v[i].owner & page_mask;
        while (p < n_pages && pages[p] < page)
            p++;
        if (p < n_pages && pages[p] == page)
            hits[count++] = i;
    }
    return count;
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
