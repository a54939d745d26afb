// SPDX-License-Identifier: MIT
/*
 * The side table and the storage-by-owner table: see mtp_sidetable.h, which
 * says what they are for.  This file is in three parts:
 *
 *   mtp_addrtab   the open-addressing table both are built on: probe, claim,
 *                 delete, and the bounded upkeep (resize moves, sweep);
 *   mtp_seentab   one step's slice folded in, deltas and history;
 *   mtp_extab     records in a pool, chained per owner page.
 *
 * Every step does its upkeep in proportion to its own size, so no step ever
 * touches a whole table; mtp_addrtab.step_slots counts what a step touched
 * (the unit tests bound it).
 *
 * Longer than the extension's ~500-line guide (~800 lines) on purpose: both
 * tables run on mtp_addrtab's static probe and upkeep code, which the
 * compiler can inline into their per-entry loops; split across files, each
 * lookup would become a call.  mtp_extab_upsert (~95 lines) is one merge
 * loop whose cursor (the chain link, the last offset) spans a page's run of
 * extents, and reads best whole.
 */
#include "mtp_sidetable.h"
#include "mtp_ownmem.h"

#include <stdlib.h>
#include <string.h>

/* The tables' arrays and the pool's chunks are mtp's own memory
 * (mtp_ownmem.h): mapped apart, never watched by the written-page scan. */

/* ------------------------------------------------------------ addrtab */

#define MTP_ADDR_MIN_CAP 1024
/* Grown past 70% full; past 90% (a step bigger than the upkeep foresaw)
 * at once. */
#define MTP_ADDR_LOAD_NUM 7
#define MTP_ADDR_LOAD_DEN 10
#define MTP_ADDR_HARD_NUM 9
#define MTP_ADDR_PREFETCH 16 /* slice entries ahead whose slot is prefetched */

/* Does the owner keep this entry?  May update it (extab prunes a page's
 * chain); adds what it visited to *work. */
typedef int (*mtp_keep_fn)(void *ctx, mtp_seen *slot, size_t *work);

/* Fibonacci hashing of the address above its 16-byte alignment: the top
 * bits of the product, as many as the capacity has. */
static inline size_t mtp_addr_home(uint64_t key, size_t cap)
{
    unsigned bits = (unsigned)__builtin_ctzll((unsigned long long)cap);

    if (bits == 0)
        return 0;
    return (size_t)(((key >> 4) * 0x9e3779b97f4a7c15ull) >> (64 - bits));
}

/* The slot holding key, or the empty slot that ends its run (where it would
 * go).  An array always has an empty slot. */
static inline size_t mtp_arr_probe(const mtp_addrarr *a, uint64_t key, uint64_t *slots)
{
    size_t mask = a->cap - 1, i = mtp_addr_home(key, a->cap);

    for (;;) {
        uint64_t k = a->slots[i].addr;
        (*slots)++;
        if (k == key || k == 0)
            return i;
        i = (i + 1) & mask;
    }
}

/* Deletes slot i by shifting the rest of its run back, so no lookup needs a
 * tombstone: an entry at j moves into the hole when its home is not between
 * the hole and j (cyclically).  Entries only move towards the hole, never
 * past it, which is what keeps the sweep's cursor valid (see mtp_tab_sweep). */
static void mtp_arr_delete(mtp_addrarr *a, size_t i, uint64_t *slots)
{
    size_t mask = a->cap - 1, j = i;

    for (;;) {
        uint64_t k;
        size_t home;

        j = (j + 1) & mask;
        k = a->slots[j].addr;
        (*slots)++;
        if (k == 0)
            break;
        home = mtp_addr_home(k, a->cap);
        if (((j - home) & mask) >= ((j - i) & mask)) {
            a->slots[i] = a->slots[j];
            i = j;
        }
    }
    a->slots[i].addr = 0;
    a->len--;
}

static size_t mtp_pow2_at_least(size_t n)
{
    size_t cap = MTP_ADDR_MIN_CAP;

    while (cap < n)
        cap <<= 1;
    return cap;
}

/* The entry for key, in either array, or NULL. */
static mtp_seen *mtp_tab_find(const mtp_addrtab *t, uint64_t key)
{
    uint64_t slots = 0;

    if (key <= MTP_ADDR_MOVED)
        return NULL;
    if (t->cur.cap) {
        size_t i = mtp_arr_probe(&t->cur, key, &slots);
        if (t->cur.slots[i].addr == key)
            return &t->cur.slots[i];
    }
    if (t->old.cap) {
        size_t i = mtp_arr_probe(&t->old, key, &slots);
        if (t->old.slots[i].addr == key)
            return &t->old.slots[i];
    }
    return NULL;
}

/*
 * The current array's slot for key (key > MTP_ADDR_MOVED), which must have
 * room (mtp_tab_reserve).  *found says whether it holds the key's previous
 * entry, moved there from the old array if need be; otherwise it is a new
 * entry with only its address set.
 */
static mtp_seen *mtp_tab_claim(mtp_addrtab *t, uint64_t key, int *found)
{
    size_t i = mtp_arr_probe(&t->cur, key, &t->step_slots);
    mtp_seen *slot = &t->cur.slots[i];

    *found = slot->addr == key;
    if (*found)
        return slot;
    *slot = (mtp_seen){.addr = key};
    if (t->old.cap) {
        size_t j = mtp_arr_probe(&t->old, key, &t->step_slots);
        if (t->old.slots[j].addr == key) {
            *slot = t->old.slots[j];
            t->old.slots[j].addr = MTP_ADDR_MOVED;
            t->old.len--;
            *found = 1;
        }
    }
    t->inserted += !*found;
    t->cur.len++;
    return slot;
}

/*
 * Moves up to `budget` old slots into the current array as they are, and
 * frees the old array once all are moved.  The owner is not asked whether
 * it keeps them: that is the sweep's job, which counts the owner's work.
 * Asking here cost mtp_extab a walk of each page's chain (~60 records at
 * 1M objects, cold) per slot moved, uncounted by the budget: 44-80k
 * records, 1-5.6 ms, in a step (BENCHMARKS.md 3.4).  A move is now one
 * slot read and one written near the last: an old slot i's entry has its
 * new home at about 2i (Fibonacci hashing keeps the product's top bits;
 * i/4 when shrinking).  Stale entries moved are dropped when the sweep
 * passes; until then they count as absent, as before.
 */
static void mtp_tab_migrate(mtp_addrtab *t, size_t budget)
{
    while (t->old.cap && budget-- > 0) {
        mtp_seen *s = &t->old.slots[t->migrate_at];

        if (s->addr > MTP_ADDR_MOVED) {
            size_t i = mtp_arr_probe(&t->cur, s->addr, &t->step_slots);
            t->cur.slots[i] = *s; /* an empty slot: no key is in both arrays */
            t->cur.len++;
            s->addr = MTP_ADDR_MOVED;
            t->old.len--;
        }
        t->step_slots++;
        if (++t->migrate_at == t->old.cap) {
            mtp_own_unmap(t->old.slots, t->old.cap * sizeof(mtp_seen));
            t->old = (mtp_addrarr){0};
            t->migrate_at = 0;
        }
    }
}

/*
 * Checks up to `budget` slots of the current array from the sweep's cursor
 * (an owner's own work, such as a chain's records, counts too), deleting
 * what the owner does not keep.  After a deletion the same slot is checked
 * again: it holds the entry shifted back into it.  Shifts move entries
 * towards the cursor, so an entry not yet checked in this pass never lands
 * behind it.
 */
static void mtp_tab_sweep(mtp_addrtab *t, size_t budget, mtp_keep_fn keep, void *ctx)
{
    size_t work = 0;

    if (t->cur.cap == 0)
        return;
    while (work < budget) {
        mtp_seen *s = &t->cur.slots[t->sweep_at];

        work++;
        if (s->addr != 0 && !keep(ctx, s, &work)) {
            mtp_arr_delete(&t->cur, t->sweep_at, &t->step_slots);
            continue;
        }
        t->sweep_at = (t->sweep_at + 1) & (t->cur.cap - 1);
        if (t->sweep_at == 0)
            t->sweeps++;
    }
    t->step_slots += work;
}

/* Old slots moved per step: 4 per incoming entry, so that a growth (which
 * at least doubles) ends before a quarter of the old capacity came in, plus
 * 1/512 of the old array so that even tiny steps finish within 512.  Even
 * when every entry is new, a growth switches at 63% full (mtp_tab_reserve)
 * and its move ends by 44% of the new array, before the next growth's
 * preparation starts at 50%. */
static size_t mtp_tab_migrate_budget(const mtp_addrtab *t, size_t incoming)
{
    return 4 * incoming + 1024 + t->old.cap / 512;
}

/*
 * Slots swept per step: about twice the array per cycle (the step's share
 * of a cycle's entries, `per_cycle` being the last cycle's), at most 16 per
 * incoming entry, plus 1/192 of the array so that every entry is checked
 * within 192 steps (a cycle is at least one step; the stamp wraps at 256).
 */
static size_t mtp_tab_sweep_budget(const mtp_addrtab *t, size_t incoming, size_t per_cycle)
{
    double share =
        2.0 * (double)incoming * (double)t->cur.cap / (double)(per_cycle ? per_cycle : 1);
    size_t cap16 = 16 * incoming;

    return (share < (double)cap16 ? (size_t)share : cap16) + t->cur.cap / 192 + 64;
}

/* Faults in up to `budget` more slots of the next array (fresh memory
 * costs a page fault, zeroing included, at first touch: a step must not
 * take them all at once).  Returns whether the whole array is in. */
static int mtp_tab_prepare(mtp_addrtab *t, size_t budget)
{
    size_t served = mtp_prefault_done(t->next.slots), left, run;

    /* Where mtp's ticker faults the array in off the GIL, a step lets it
     * go `budget` slots further and takes its progress; it faults in the
     * rest itself only when the switch cannot wait (budget SIZE_MAX). */
    if (served != SIZE_MAX) {
        served /= sizeof(mtp_seen);
        if (served > t->next_ready)
            t->next_ready = served < t->next.cap ? served : t->next.cap;
        if (budget != SIZE_MAX) {
            left = t->next.cap - t->next_allowed;
            t->next_allowed += budget < left ? budget : left;
            mtp_prefault_allow(t->next.slots, t->next_allowed * sizeof(mtp_seen));
            return t->next_ready == t->next.cap;
        }
    }
    left = t->next.cap - t->next_ready;
    run = budget < left ? budget : left;

    /* Writing zeros over zeros: only the faults matter. */
    memset(t->next.slots + t->next_ready, 0, run * sizeof(mtp_seen));
    t->next_ready += run;
    t->step_slots += run;
    return t->next_ready == t->next.cap;
}

/* Makes `next` an array of `cap` slots unless it already is; -1 when out
 * of memory. */
static int mtp_tab_want_next(mtp_addrtab *t, size_t cap)
{
    if (t->next.cap == cap)
        return 0;
    mtp_own_unmap(t->next.slots, t->next.cap * sizeof(mtp_seen));
    t->next = (mtp_addrarr){0};
    t->next_ready = t->next_allowed = 0;
    if (cap == 0)
        return 0;
    t->next.slots = mtp_own_map(cap * sizeof(mtp_seen));
    if (t->next.slots == NULL)
        return -1;
    t->next.cap = cap;
    mtp_prefault_want(t->next.slots, cap * sizeof(mtp_seen));
    return 0;
}

/* Switches to the next array, which is all in memory: the current one
 * becomes the old one, moved over the next steps. */
static void mtp_tab_switch(mtp_addrtab *t)
{
    if (t->cur.len == 0) {
        mtp_own_unmap(t->cur.slots, t->cur.cap * sizeof(mtp_seen));
    } else {
        t->old = t->cur;
        t->migrate_at = 0;
    }
    mtp_prefault_forget(t->next.slots); /* in use now: its request slot is free */
    t->cur = t->next;
    t->next = (mtp_addrarr){0};
    t->next_ready = t->next_allowed = 0;
    t->sweep_at = 0;
    t->resizes++;
}

/*
 * Before a step of `incoming` entries: moves the step's share of a resize
 * under way; otherwise sizes the array by the entries it holds.
 *
 * Past 50% full (with the entries the step will add, estimated at the last
 * step's rate), the next array (twice the size) is faulted in, 16 slots
 * per entry added (not per entry looked up: a full table that does not
 * grow must not), which is done by 63% when every entry is new, and
 * switched to.  Fresh memory is what growth costs (a page fault
 * per 4 KiB or 2 MiB, with its zeroing: ~9 ms per MiB with 4 KiB pages on
 * this nested VM, 0.16 with 2 MiB), so it is spread over the steps like the
 * rest.  Past 70% (the growth outran that) the rest is faulted in at once.
 * Below 1/16 full a smaller array is prepared the same way, in proportion
 * to the step.  An empty table is sized for the step, all of it new.  0, or -1 when a
 * first array cannot be had.
 */
static int mtp_tab_reserve(mtp_addrtab *t, size_t incoming)
{
    size_t cap = t->cur.cap, want, added = t->inserted - t->inserted_mark, len;

    /* The entries this step will add, at the previous step's rate, and at
     * least those it has beyond all the table holds. */
    if (t->last_incoming)
        added = (size_t)((double)incoming * (double)added / (double)t->last_incoming);
    else
        added = incoming;
    if (incoming > t->cur.len + t->old.len && added < incoming - t->cur.len - t->old.len)
        added = incoming - t->cur.len - t->old.len;
    len = t->cur.len + added;
    t->inserted_mark = t->inserted;
    t->last_incoming = incoming;
    if (t->old.cap) {
        mtp_tab_migrate(t, mtp_tab_migrate_budget(t, incoming));
        return 0; /* one resize at a time */
    }
    if (cap == 0) {
        if (incoming == 0)
            return 0;
        /* all new: 70% full at most (the first step is a whole heap's
         * when mtp.observe() comes first) */
        if (mtp_tab_want_next(t, mtp_pow2_at_least(incoming * 10 / 7 + 1)) < 0)
            return -1;
        mtp_tab_prepare(t, SIZE_MAX);
    } else if (len * MTP_ADDR_LOAD_DEN > cap * MTP_ADDR_LOAD_NUM) {
        want = mtp_pow2_at_least(2 * len);
        if (t->next.cap < want && mtp_tab_want_next(t, want) < 0)
            return 0; /* the step's guard grows it if it must */
        if (t->next.cap - t->next_ready > 16 * added + 1024)
            t->forced++; /* the steps' shares did not do */
        mtp_tab_prepare(t, SIZE_MAX);
    } else if (2 * len > cap) {
        /* Only while the table grows: one that stays put past 50% keeps
         * one array (a growth that stops drops what it had prepared). */
        if (mtp_tab_want_next(t, added ? 2 * cap : 0) < 0 || added == 0 ||
            !mtp_tab_prepare(t, 16 * added))
            return 0;
    } else if (cap > MTP_ADDR_MIN_CAP && len * 16 < cap) {
        /* len shrinks as the sweep goes: a smaller array prepared earlier
         * still does */
        want = t->next.cap && t->next.cap < cap && t->next.cap >= 2 * len
                   ? t->next.cap
                   : mtp_pow2_at_least(4 * len);
        if (mtp_tab_want_next(t, want) < 0 ||
            !mtp_tab_prepare(t, 16 * incoming + 1024 + cap / 1024))
            return 0;
    } else {
        mtp_tab_want_next(t, 0); /* none wanted, or no longer */
        return 0;
    }
    mtp_tab_switch(t);
    mtp_tab_migrate(t, mtp_tab_migrate_budget(t, incoming));
    return 0;
}

/*
 * The way out when a step adds far more than the upkeep foresaw: every
 * entry of both arrays, but stale ones, goes into one array four times
 * their number, now.  Costs the whole table, so it is counted in `forced`.
 * -1 when memory is lacking and there is no room left at all.
 */
static int mtp_tab_rebuild(mtp_addrtab *t, mtp_keep_fn keep, void *ctx)
{
    size_t total = t->cur.len + t->old.len + 1, work = 0;
    mtp_addrarr to = {.cap = mtp_pow2_at_least(4 * total)};
    const mtp_addrarr *from[2] = {&t->cur, &t->old};

    t->forced++;
    mtp_tab_want_next(t, 0);
    to.slots = mtp_own_map(to.cap * sizeof(mtp_seen));
    if (to.slots == NULL)
        return total < t->cur.cap ? 0 : -1;
    for (int a = 0; a < 2; a++) {
        for (size_t i = 0; i < from[a]->cap; i++) {
            mtp_seen *e = &from[a]->slots[i];
            if (e->addr > MTP_ADDR_MOVED && keep(ctx, e, &work)) {
                to.slots[mtp_arr_probe(&to, e->addr, &t->step_slots)] = *e;
                to.len++;
            }
        }
        t->step_slots += from[a]->cap;
        mtp_own_unmap(from[a]->slots, from[a]->cap * sizeof(mtp_seen));
    }
    t->step_slots += work;
    t->cur = to;
    t->old = (mtp_addrarr){0};
    t->migrate_at = t->sweep_at = 0;
    t->resizes++;
    return 0;
}

/*
 * Called before each claim that may add an entry.  The old array's entries
 * are bound for the current one, so they count: as long as both together
 * stay under 90% of it, neither a move nor a claim can fill it.
 */
static inline int mtp_tab_room(mtp_addrtab *t, mtp_keep_fn keep, void *ctx)
{
    if ((t->cur.len + t->old.len + 1) * MTP_ADDR_LOAD_DEN <= t->cur.cap * MTP_ADDR_HARD_NUM)
        return 0;
    return mtp_tab_rebuild(t, keep, ctx);
}

static size_t mtp_tab_bytes(const mtp_addrtab *t)
{
    return (t->cur.cap + t->old.cap + t->next.cap) * sizeof(mtp_seen);
}

static void mtp_tab_clear(mtp_addrtab *t)
{
    mtp_own_unmap(t->cur.slots, t->cur.cap * sizeof(mtp_seen));
    mtp_own_unmap(t->old.slots, t->old.cap * sizeof(mtp_seen));
    mtp_own_unmap(t->next.slots, t->next.cap * sizeof(mtp_seen));
    *t = (mtp_addrtab){0};
}

static inline void mtp_tab_prefetch(const mtp_addrtab *t, uint64_t key)
{
    if (t->cur.cap)
        __builtin_prefetch(&t->cur.slots[mtp_addr_home(key, t->cur.cap)], 1);
}

static inline int mtp_stale(uint8_t now, uint8_t then)
{
    return (uint8_t)(now - then) >= MTP_KEEP_CYCLES;
}

/* Cycle bookkeeping shared by both tables: entries per cycle are the
 * sweep's yardstick. */
static void mtp_cycle_roll(int *started, uint8_t *cycle, uint8_t *first, size_t *this_cycle,
                           size_t *last_cycle, uint8_t now)
{
    if (!*started) {
        *started = 1;
        *cycle = *first = now;
    } else if (*cycle != now) {
        *last_cycle = *this_cycle;
        *this_cycle = 0;
        *cycle = now;
    }
}

static size_t mtp_per_cycle(size_t this_cycle, size_t last_cycle)
{
    return last_cycle > this_cycle ? last_cycle : this_cycle;
}

/*
 * Whether a sweep may find anything: not before the table is
 * MTP_KEEP_CYCLES old, since every entry is stamped with a cycle since its
 * first (then for good: a step advances the cycle by one at most, so the
 * age cannot wrap past the mark unseen).  A large heap's first cycle is
 * where the tables grow, and its sweeps were a third of the steps' upkeep
 * there (BENCHMARKS.md 3.4).
 */
static int mtp_may_be_stale(int *aged, uint8_t first, uint8_t now)
{
    if (!*aged && (uint8_t)(now - first) >= MTP_KEEP_CYCLES)
        *aged = 1;
    return *aged;
}

/* ------------------------------------------------------------ seentab */

static int mtp_seen_keep(void *ctx, mtp_seen *slot, size_t *work)
{
    (void)work;
    return !mtp_stale(((const mtp_seentab *)ctx)->cycle, slot->cycle);
}

int mtp_seentab_step(mtp_seentab *s, mtp_seen *cur, size_t n, uint8_t cycle, int32_t *delta)
{
    mtp_addrtab *t = &s->t;

    mtp_cycle_roll(&s->started, &s->cycle, &s->first, &s->this_cycle, &s->last_cycle, cycle);
    t->step_slots = 0;
    if (mtp_tab_reserve(t, n) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        uint8_t history = 0;
        mtp_seen *e;
        int found;

        if (i + MTP_ADDR_PREFETCH < n)
            mtp_tab_prefetch(t, cur[i + MTP_ADDR_PREFETCH].addr);
        delta[i] = 0;
        cur[i].cycle = cycle;
        if (cur[i].addr <= MTP_ADDR_MOVED) { /* not an object's: not kept */
            cur[i].history = 0;
            continue;
        }
        if (mtp_tab_room(t, mtp_seen_keep, s) < 0) {
            cur[i].history = 0; /* not kept: only this object's delta is lost */
            continue;
        }
        e = mtp_tab_claim(t, cur[i].addr, &found);
        if (found && !mtp_stale(cycle, e->cycle) && e->type_tag == cur[i].type_tag) {
            delta[i] = (int32_t)(cur[i].refcnt - e->refcnt);
            history = (uint8_t)(e->history << 1);
        }
        history |= delta[i] != 0;
        cur[i].history = history;
        *e = cur[i];
    }
    s->this_cycle += n;
    if (mtp_may_be_stale(&s->aged, s->first, cycle))
        mtp_tab_sweep(t, mtp_tab_sweep_budget(t, n, mtp_per_cycle(s->this_cycle, s->last_cycle)),
                      mtp_seen_keep, s);
    return 0;
}

const mtp_seen *mtp_seentab_find(const mtp_seentab *s, uint64_t addr)
{
    return mtp_tab_find(&s->t, addr);
}

size_t mtp_seentab_len(const mtp_seentab *s)
{
    return s->t.cur.len + s->t.old.len;
}

size_t mtp_seentab_bytes(const mtp_seentab *s)
{
    return mtp_tab_bytes(&s->t);
}

void mtp_seentab_clear(mtp_seentab *s)
{
    mtp_tab_clear(&s->t);
    *s = (mtp_seentab){0};
}

/* -------------------------------------------------------------- extab */

#define MTP_EXT_CHUNK      ((size_t)1 << MTP_EXT_CHUNK_BITS)
#define MTP_EXT_PAGE_MASK  (~(((uint64_t)1 << MTP_EXT_PAGE_SHIFT) - 1))
#define MTP_EXT_MAX_CHUNKS ((size_t)MTP_EXT_NIL >> MTP_EXT_CHUNK_BITS)

static inline mtp_extrec *mtp_rec(const mtp_extab *x, uint32_t i)
{
    return &x->chunks[i >> MTP_EXT_CHUNK_BITS][i & (MTP_EXT_CHUNK - 1)];
}

/* A record from the free list or a fresh one; MTP_EXT_NIL without memory. */
static uint32_t mtp_rec_alloc(mtp_extab *x)
{
    uint32_t i;

    if (x->free != MTP_EXT_NIL) {
        i = x->free;
        x->free = mtp_rec(x, i)->next;
    } else {
        if (x->fresh == x->n_chunks * MTP_EXT_CHUNK) {
            if (x->n_chunks == MTP_EXT_MAX_CHUNKS)
                return MTP_EXT_NIL;
            if (x->n_chunks == x->chunks_cap) {
                size_t cap = x->chunks_cap ? 2 * x->chunks_cap : 16;
                mtp_extrec **grown = realloc(x->chunks, cap * sizeof(*grown));
                if (grown == NULL)
                    return MTP_EXT_NIL;
                x->chunks = grown;
                x->chunks_cap = cap;
            }
            x->chunks[x->n_chunks] = mtp_own_map(MTP_EXT_CHUNK * sizeof(mtp_extrec));
            if (x->chunks[x->n_chunks] == NULL)
                return MTP_EXT_NIL;
            x->n_chunks++;
        }
        i = (uint32_t)x->fresh++;
    }
    x->len++;
    return i;
}

static void mtp_rec_free(mtp_extab *x, uint32_t i)
{
    mtp_rec(x, i)->next = x->free;
    x->free = i;
    x->len--;
}

/* Frees a chain's records; returns how many. */
static size_t mtp_chain_free(mtp_extab *x, uint32_t i)
{
    size_t n = 0;

    while (i != MTP_EXT_NIL) {
        uint32_t next = mtp_rec(x, i)->next;
        mtp_rec_free(x, i);
        i = next;
        n++;
    }
    return n;
}

/* A page is kept while its chain holds records that are not stale; the
 * stale ones go on the way.  Page slots: .refcnt is the chain's head. */
static int mtp_page_keep(void *ctx, mtp_seen *slot, size_t *work)
{
    mtp_extab *x = ctx;
    uint32_t *link = &slot->refcnt;

    if (mtp_stale(x->cycle, slot->cycle)) { /* its records are no newer */
        *work += mtp_chain_free(x, slot->refcnt);
        slot->refcnt = MTP_EXT_NIL;
        return 0;
    }
    while (*link != MTP_EXT_NIL) {
        mtp_extrec *r = mtp_rec(x, *link);
        (*work)++;
        if (mtp_stale(x->cycle, r->cycle)) {
            uint32_t dead = *link;
            *link = r->next;
            mtp_rec_free(x, dead);
        } else {
            link = &r->next;
        }
    }
    return slot->refcnt != MTP_EXT_NIL;
}

int mtp_extab_upsert(mtp_extab *x, const mtp_extent *v, size_t n, uint8_t cycle)
{
    mtp_addrtab *t = &x->pages;
    size_t pages = 0;
    int rc = 0;

    if (!x->started)
        x->free = MTP_EXT_NIL;
    mtp_cycle_roll(&x->started, &x->cycle, &x->first, &x->this_cycle, &x->last_cycle, cycle);
    t->step_slots = 0;
    /* Room for the pages the extents are on: they come sorted by owner,
     * so each page once (in any other order, an upper bound). */
    for (size_t i = 0; i < n; i++)
        pages += i == 0 || (v[i].owner ^ v[i - 1].owner) & MTP_EXT_PAGE_MASK;
    if (mtp_tab_reserve(t, pages) < 0)
        return -1;
    for (size_t i = 0; i < n;) {
        uint64_t page = v[i].owner & MTP_EXT_PAGE_MASK;
        uint32_t head, *link;
        uint16_t last_off = 0;
        mtp_seen *slot;
        int found;
        size_t j;

        if (i + MTP_ADDR_PREFETCH < n)
            mtp_tab_prefetch(t, v[i + MTP_ADDR_PREFETCH].owner & MTP_EXT_PAGE_MASK);
        if (page <= MTP_ADDR_MOVED) { /* not an object's page */
            i++;
            continue;
        }
        if (mtp_tab_room(t, mtp_page_keep, x) < 0) {
            rc = -1;
            i++;
            continue;
        }
        slot = mtp_tab_claim(t, page, &found);
        head = found ? slot->refcnt : MTP_EXT_NIL;
        if (found && mtp_stale(cycle, slot->cycle)) {
            mtp_chain_free(x, head);
            head = MTP_EXT_NIL;
        }
        /* Merge this page's extents into its chain, both sorted by owner
         * (an unsorted run restarts from the head: slower, still right). */
        link = &head;
        for (j = i; j < n && (v[j].owner & MTP_EXT_PAGE_MASK) == page; j++) {
            uint16_t off = (uint16_t)(v[j].owner & ~MTP_EXT_PAGE_MASK);
            mtp_extrec *r;
            uint32_t k;

            if (off < last_off)
                link = &head;
            last_off = off;
            while (*link != MTP_EXT_NIL) {
                r = mtp_rec(x, *link);
                t->step_slots++;
                if (mtp_stale(cycle, r->cycle)) {
                    uint32_t dead = *link;
                    *link = r->next;
                    mtp_rec_free(x, dead);
                    continue;
                }
                if (r->owner_off >= off)
                    break;
                link = &r->next;
            }
            if (*link != MTP_EXT_NIL && (r = mtp_rec(x, *link))->owner_off == off) {
                r->addr = v[j].addr;
                r->size = v[j].size;
                r->cycle = cycle;
                continue;
            }
            k = mtp_rec_alloc(x);
            if (k == MTP_EXT_NIL) {
                rc = -1; /* only this storage's heat is lost */
                continue;
            }
            r = mtp_rec(x, k);
            *r = (mtp_extrec){.addr = v[j].addr,
                              .size = v[j].size,
                              .next = *link,
                              .owner_off = off,
                              .cycle = cycle};
            *link = k;
        }
        /* An empty chain (memory ran out) leaves an empty page, which the
         * sweep deletes. */
        slot->refcnt = head;
        slot->cycle = cycle;
        i = j;
    }
    x->this_cycle += n;
    if (mtp_may_be_stale(&x->aged, x->first, cycle))
        mtp_tab_sweep(t, mtp_tab_sweep_budget(t, n, mtp_per_cycle(x->this_cycle, x->last_cycle)),
                      mtp_page_keep, x);
    return rc;
}

size_t mtp_extab_touched(mtp_extab *x, const uint64_t *pages, size_t n_pages, mtp_extab_hit_fn hit,
                         void *ctx)
{
    size_t hits = 0;

    if (!x->started || x->pages.cur.cap == 0)
        return 0;
    if (++x->stamp == 0)
        x->stamp = 1;
    for (size_t p = 0; p < n_pages; p++) {
        mtp_seen *slot;

        if (p + MTP_ADDR_PREFETCH < n_pages)
            mtp_tab_prefetch(&x->pages, pages[p + MTP_ADDR_PREFETCH] & MTP_EXT_PAGE_MASK);
        slot = mtp_tab_find(&x->pages, pages[p] & MTP_EXT_PAGE_MASK);
        /* .type_tag is free in page slots: it says this call credited it */
        if (slot == NULL || slot->type_tag == x->stamp || mtp_stale(x->cycle, slot->cycle))
            continue;
        slot->type_tag = x->stamp;
        for (uint32_t i = slot->refcnt; i != MTP_EXT_NIL;) {
            const mtp_extrec *r = mtp_rec(x, i);
            if (!mtp_stale(x->cycle, r->cycle)) {
                hit(ctx, r->addr, r->size);
                hits++;
            }
            i = r->next;
        }
    }
    return hits;
}

size_t mtp_extab_len(const mtp_extab *x)
{
    return x->len;
}

size_t mtp_extab_bytes(const mtp_extab *x)
{
    return mtp_tab_bytes(&x->pages) + x->n_chunks * MTP_EXT_CHUNK * sizeof(mtp_extrec) +
           x->chunks_cap * sizeof(*x->chunks);
}

void mtp_extab_clear(mtp_extab *x)
{
    for (size_t i = 0; i < x->n_chunks; i++)
        mtp_own_unmap(x->chunks[i], MTP_EXT_CHUNK * sizeof(mtp_extrec));
    free(x->chunks);
    mtp_tab_clear(&x->pages);
    *x = (mtp_extab){0};
}
