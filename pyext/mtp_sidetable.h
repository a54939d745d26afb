/* SPDX-License-Identifier: MIT */
/*
 * The extension's two long-lived tables, apart from mtpmodule.c so that they
 * can be unit-tested without Python.h (tests/unit/test_sidetable.c):
 *
 * - mtp_seentab, the side table: every observed object's latest reading
 *   (mtp_seen, 16 bytes), by address.  mtp_seentab_step() folds one step's
 *   slice into it and hands back each object's refcount change since its
 *   own last observation.  Start there.
 * - mtp_extab, storage by owner: the out-of-line storage of every observed
 *   container (a dict's key table, a list's item array), found by the
 *   owner's page, so that a step credits the storage of every container
 *   whose page was written.  mtp_extab_upsert() and mtp_extab_touched().
 *
 * A step must cost O(its slice + the written pages), never O(heap): both are
 * open-addressing hash tables (linear probing, see mtp_addrtab) whose upkeep
 * -- dropping what no step saw for two cycles, growing, shrinking -- is done
 * a bounded slice at a time, in proportion to the step's own work.  Entries
 * are looked up by address one at a time; nothing streams a whole table.
 *
 * A zero-initialized table is empty.  The state belongs to the extension
 * and is touched only with the GIL held (steps, fork handlers); nothing here
 * locks.  No Python here.
 */
#ifndef MTP_SIDETABLE_H
#define MTP_SIDETABLE_H

#include <stddef.h>
#include <stdint.h>

#include "mtp_snapshot.h"

/* Entries no step saw for this many cycles belong to dead or untracked
 * objects: they are dropped, and until then treated as absent. */
#define MTP_KEEP_CYCLES 2

/*
 * An open-addressing hash table of mtp_seen slots keyed by .addr (0 never
 * is an address: it marks an empty slot), linear probing, a power-of-two
 * capacity, at most 70% full.  Deletion shifts the rest of the run back
 * (no tombstones), so lookups stay short whatever was deleted.
 *
 * Resizing never stops a step.  Past 50% full, the next array (twice the
 * size; a quarter of it below 1/16 full) is mapped and faulted in a few
 * slots per step (by mtp's ticker, off the GIL, where one runs:
 * mtp_prefault_want) (16 per entry the table gained: fresh memory costs a page
 * fault per page, zeroing included), then switched to.  The old array
 * stays beside the new one and lookups consult both; each step moves a
 * bounded run of old slots (4 per slice entry, at least 1/512 of the old
 * array) as they are, without asking the owner (a storage page's chain is
 * the sweep's to walk): stale ones go when the sweep passes.  An old slot
 * whose entry moved (looked up, or migrated) holds MTP_ADDR_MOVED, which
 * the old array's lookups probe past.  Either is done long before the new array fills; a
 * step that adds more than that foresaw (the first) does the rest at once.
 *
 * A sweep cursor walks the current array, a bounded number of slots per
 * step, and deletes what the owner says is stale: in proportion to the step
 * (about twice the table per cycle, at most 16 slots per slice entry), and
 * at least 1/192 of it per step, so every entry is checked within 192 steps
 * whatever a cycle's length.  It starts once the table is MTP_KEEP_CYCLES
 * old: nothing is stale before.  (The cycle stamp is a byte: an entry left
 * 256 cycles would look fresh again.)
 *
 * Both tables are this; mtp_extab's slots are pages (.addr the page,
 * .refcnt the first of its records, .cycle the newest record's).
 */
#define MTP_ADDR_MOVED 1

typedef struct {
    mtp_seen *slots;
    size_t cap; /* a power of two, or 0 */
    size_t len; /* slots holding an entry */
} mtp_addrarr;

typedef struct {
    mtp_addrarr cur;                  /* where entries are added */
    mtp_addrarr old;                  /* during a resize, what is left to move (else cap 0) */
    mtp_addrarr next;                 /* the array a resize will switch to, being faulted in */
    size_t next_ready;                /* next's slots below this are in memory */
    size_t next_allowed;              /* ... below this, the ticker may fault in */
    size_t migrate_at;                /* old's slots below this were moved */
    size_t sweep_at;                  /* cur's next slot to check */
    uint64_t sweeps;                  /* passes of the sweep over cur completed */
    uint64_t resizes;                 /* started */
    uint64_t forced;                  /* moves or preparations finished at once for lack of room:
                                         should stay 0 but for steps bigger than a quarter of it */
    uint64_t inserted, inserted_mark; /* entries added: in all, at the last step */
    size_t last_incoming;             /* the last step's entries */
    uint64_t step_slots;              /* what the last step touched: probes, moves, sweep (and
                                         mtp_extab's records) */
} mtp_addrtab;

/* ------------------------------------------------------------ side table */

typedef struct {
    mtp_addrtab t;
    int started;
    uint8_t cycle;     /* the last step's */
    uint8_t first;     /* the first step's */
    int aged;          /* MTP_KEEP_CYCLES past `first`: entries may be stale */
    size_t this_cycle; /* slice entries folded in since the cycle began */
    size_t last_cycle; /* in the whole previous cycle: the sweep's yardstick */
} mtp_seentab;

/*
 * Folds one step into the side table.  `cur` is the step's snapshot,
 * sorted and unique, with refcnt and type_tag filled in; `cycle` the
 * round-robin cycle under way.  For each cur[i], delta[i] is the refcount
 * change since the object was last observed: 0 for an object new to the
 * table, whose address now holds another type (type_tag differs), or whose
 * entry is stale (no step saw it for MTP_KEEP_CYCLES cycles).  cur[i].history
 * is shifted by one observation and gets bit 0 = (delta != 0), cur[i].cycle
 * is stamped; the table keeps cur[i].  Then the bounded upkeep.  Sorting is
 * not needed for correctness, only for locality.  0, or -1 when memory ran
 * out before anything changed.
 */
int mtp_seentab_step(mtp_seentab *s, mtp_seen *cur, size_t n, uint8_t cycle, int32_t *delta);

/* The entry for addr, or NULL; stale entries are returned too (tests). */
const mtp_seen *mtp_seentab_find(const mtp_seentab *s, uint64_t addr);
size_t mtp_seentab_len(const mtp_seentab *s);
size_t mtp_seentab_bytes(const mtp_seentab *s); /* allocated */
/* Frees everything: an empty table (a forked child starts with one). */
void mtp_seentab_clear(mtp_seentab *s);

/* --------------------------------------------------- storage by owner */

/* One container's out-of-line storage, as a step notes it.  The addresses
 * are never dereferenced: a stale record costs only a wrong page's heat. */
typedef struct {
    uint64_t owner;
    uint64_t addr;
    uint32_t size;
    uint8_t cycle;
    uint8_t reserved[3];
} mtp_extent;

#define MTP_EXT_PAGE_SHIFT 12
#define MTP_EXT_NIL        UINT32_MAX
#define MTP_EXT_CHUNK_BITS 14 /* records per pool chunk: 16384, 384 KiB */

/* A record in the pool: on its owner's page's chain, sorted by owner. */
typedef struct {
    uint64_t addr;
    uint32_t size;
    uint32_t next;      /* the next record of the page, or MTP_EXT_NIL; the free list */
    uint16_t owner_off; /* the owner's offset in its page */
    uint8_t cycle;
    uint8_t reserved;
} mtp_extrec;

/*
 * The pages of owners (an mtp_addrtab keyed by page) and a pool of records,
 * in chunks that never move, with a free list.  24 bytes per container plus
 * the page index.  A page's records are one chain, sorted by owner, so a
 * step's extents (sorted by owner) merge into it in one pass per page.
 */
typedef struct {
    mtp_addrtab pages;
    mtp_extrec **chunks;
    size_t n_chunks, chunks_cap;
    size_t fresh;  /* records below this index were handed out at least once */
    uint32_t free; /* the free list's head */
    size_t len;    /* records in use */
    size_t this_cycle, last_cycle;
    int started, aged;
    uint8_t cycle, first;
    uint16_t stamp; /* mtp_extab_touched()'s: credits a page once per call */
} mtp_extab;

/*
 * Stores a step's extents (sorted by owner, unique; cycle stamped by the
 * caller's `cycle`), replacing each owner's previous one, then the bounded
 * upkeep.  0, or -1 when memory ran out (some extents may be lost: only
 * heat is).
 */
int mtp_extab_upsert(mtp_extab *x, const mtp_extent *v, size_t n, uint8_t cycle);

typedef void (*mtp_extab_hit_fn)(void *ctx, uint64_t addr, uint32_t size);

/*
 * Calls hit() for the storage of every container whose owner lies on one of
 * pages[] (any address on the page will do; any order; a page listed twice
 * is credited once) and is not stale.  O(n_pages + hits).  Returns the hits.
 */
size_t mtp_extab_touched(mtp_extab *x, const uint64_t *pages, size_t n_pages, mtp_extab_hit_fn hit,
                         void *ctx);

size_t mtp_extab_len(const mtp_extab *x);
size_t mtp_extab_bytes(const mtp_extab *x); /* allocated */
void mtp_extab_clear(mtp_extab *x);

#endif
