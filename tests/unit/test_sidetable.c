// SPDX-License-Identifier: MIT
/* The side table and the storage-by-owner table (pyext/mtp_sidetable.c):
 * deltas and history as a step sees them, pruning over cycles, growth and
 * shrinking, each against a naive model over random steps, and the bound on
 * what one step may touch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <pthread.h>
#include <unistd.h>

#include "cmp.h"
#include "mtp_ownmem.h"
#include "mtp_sidetable.h"

static uint64_t rng_state;

static uint64_t next_random(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static size_t below(size_t n)
{
    return (size_t)(next_random() % n);
}

static mtp_seen seen(uint64_t addr, uint32_t refcnt, uint16_t tag)
{
    return (mtp_seen){.addr = addr, .refcnt = refcnt, .type_tag = tag};
}

static int stale(uint8_t now, uint8_t then)
{
    return (uint8_t)(now - then) >= MTP_KEEP_CYCLES;
}

/* One step of the given entries (any order), sorted and made unique the
 * way the extension does; returns the length folded in. */
static size_t step(mtp_seentab *s, mtp_seen *v, size_t n, uint8_t cycle, int32_t *delta)
{
    mtp_seen *tmp = malloc((n ? n : 1) * sizeof(*tmp)), *sorted;

    assert_non_null(tmp);
    sorted = mtp_sort_seen(v, tmp, n);
    n = mtp_seen_unique(sorted, n);
    if (sorted != v)
        memcpy(v, sorted, n * sizeof(*v));
    free(tmp);
    assert_int_equal(mtp_seentab_step(s, v, n, cycle, delta), 0);
    return n;
}

/* A step that sees part of the table: deltas against each object's own
 * last reading, new objects at 0, reused addresses at 0, the rest kept. */
static void step_deltas_against_each_objects_last_reading(void **state)
{
    mtp_seentab s = {0};
    mtp_seen a[] = {seen(0x100, 5, 1), seen(0x200, 6, 1), seen(0x300, 2, 1), seen(0x400, 9, 2)};
    mtp_seen b[] = {seen(0x200, 7, 1)};
    mtp_seen c[] = {seen(0x080, 3, 1), seen(0x200, 10, 1), seen(0x400, 1, 3), seen(0x500, 4, 1),
                    seen(0x100, 2, 1)};
    int32_t delta[5];
    const mtp_seen *e;

    (void)state;
    assert_int_equal(mtp_seentab_step(&s, a, 4, 6, delta), 0);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(delta[i], 0); /* all new */
        assert_int_equal(a[i].history, 0);
        assert_int_equal(a[i].cycle, 6);
    }
    assert_int_equal(mtp_seentab_step(&s, b, 1, 6, delta), 0);
    assert_int_equal(delta[0], 1);
    assert_int_equal(b[0].history, 0x01);
    assert_int_equal(mtp_seentab_step(&s, c, 5, 7, delta), 0);
    assert_int_equal(delta[0], 0); /* new */
    assert_int_equal(delta[1], 3); /* 7 -> 10 */
    assert_int_equal(delta[2], 0); /* another type at 0x400 now */
    assert_int_equal(delta[3], 0); /* new */
    assert_int_equal(delta[4], -3);
    assert_int_equal(c[1].history, 0x03); /* moved now and last time: handed back */
    assert_int_equal(c[2].history, 0);
    assert_int_equal(c[4].history, 0x01);
    e = mtp_seentab_find(&s, 0x200);
    assert_non_null(e);
    assert_int_equal(e->refcnt, 10);
    assert_int_equal(e->history, 0x03);
    assert_int_equal(e->cycle, 7);
    e = mtp_seentab_find(&s, 0x300); /* not seen: kept as it was */
    assert_non_null(e);
    assert_int_equal(e->refcnt, 2);
    assert_int_equal(e->cycle, 6);
    e = mtp_seentab_find(&s, 0x400);
    assert_int_equal(e->type_tag, 3);
    assert_null(mtp_seentab_find(&s, 0x600));
    assert_int_equal(mtp_seentab_len(&s), 6);
    assert_true(mtp_seentab_bytes(&s) > 0);
    assert_int_equal(mtp_seentab_step(&s, NULL, 0, 7, delta), 0);
    assert_int_equal(mtp_seentab_len(&s), 6);
    mtp_seentab_clear(&s);
    assert_int_equal(mtp_seentab_len(&s), 0);
    assert_int_equal(mtp_seentab_bytes(&s), 0);
    assert_null(mtp_seentab_find(&s, 0x200));
}

/* An entry no step saw for two cycles is as good as gone, before the sweep
 * reaches it; the stamp is a byte and wraps. */
static void stale_entries_count_as_absent(void **state)
{
    mtp_seentab s = {0};
    mtp_seen v[2];
    int32_t delta[2];

    (void)state;
    v[0] = seen(0x1000, 4, 1);
    v[1] = seen(0x2000, 4, 1);
    assert_int_equal(mtp_seentab_step(&s, v, 2, 255, delta), 0);
    v[0] = seen(0x1000, 6, 1); /* 255 -> 0: one cycle later */
    assert_int_equal(mtp_seentab_step(&s, v, 1, 0, delta), 0);
    assert_int_equal(delta[0], 2);
    v[0] = seen(0x2000, 9, 1); /* 255 -> 1: two cycles, stale */
    assert_int_equal(mtp_seentab_step(&s, v, 1, 1, delta), 0);
    assert_int_equal(delta[0], 0);
    assert_int_equal(v[0].history, 0);
    mtp_seentab_clear(&s);
}

/* Objects no longer seen are dropped two cycles after their last sighting
 * by the sweep, well within the cycle after that; the others stay. */
static void sweep_prunes_over_cycles(void **state)
{
    enum { N = 10000, SLICE = 500 };
    mtp_seentab s = {0};
    mtp_seen v[SLICE];
    int32_t delta[SLICE];

    (void)state;
    for (int cycle = 0; cycle < 4; cycle++) {
        size_t keep = cycle == 0 ? N : N / 2; /* after cycle 0 only half live on */
        for (size_t at = 0; at < keep; at += SLICE) {
            for (size_t i = 0; i < SLICE; i++)
                v[i] = seen(0x10000 + 16 * (at + i), (uint32_t)cycle, 1);
            assert_int_equal(mtp_seentab_step(&s, v, SLICE, (uint8_t)cycle, delta), 0);
        }
        if (cycle == 1) /* cycle 0's entries are one cycle old: kept */
            assert_int_equal(mtp_seentab_len(&s), N);
    }
    /* Stale since cycle 2 began; cycles 2 and 3 swept the table. */
    assert_int_equal(mtp_seentab_len(&s), N / 2);
    assert_null(mtp_seentab_find(&s, 0x10000 + 16 * (N - 1)));
    assert_non_null(mtp_seentab_find(&s, 0x10000));
    assert_true(s.t.sweeps >= 2);
    mtp_seentab_clear(&s);
}

/* One whole pass of the sweep deletes every stale entry, including those a
 * deletion shifted back into the slot it had just checked.  A quarter live
 * on, so that the table does not shrink (which would drop them too). */
static void one_sweep_pass_deletes_every_stale_entry(void **state)
{
    enum { N = 20000, SLICE = 1000 };
    mtp_seentab s = {0};
    mtp_seen v[SLICE];
    int32_t delta[SLICE];
    uint64_t start;
    size_t cap;

    (void)state;
    for (size_t at = 0; at < N; at += SLICE) {
        for (size_t i = 0; i < SLICE; i++)
            v[i] = seen(0x10000 + 16 * (at + i), 1, 1);
        assert_int_equal(mtp_seentab_step(&s, v, SLICE, 0, delta), 0);
    }
    for (size_t at = 0; at < N; at += 4 * SLICE) {
        for (size_t i = 0; i < SLICE; i++)
            v[i] = seen(0x10000 + 16 * (at + 4 * i), 1, 1);
        assert_int_equal(mtp_seentab_step(&s, v, SLICE, 1, delta), 0);
    }
    while (s.t.old.cap) /* no resize under way */
        assert_int_equal(mtp_seentab_step(&s, NULL, 0, 1, delta), 0);
    assert_int_equal(mtp_seentab_len(&s), N);
    cap = s.t.cur.cap;
    start = s.t.sweeps;
    while (s.t.sweeps < start + 2) /* at least one pass from slot 0 */
        assert_int_equal(mtp_seentab_step(&s, NULL, 0, 2, delta), 0);
    assert_int_equal(s.t.cur.cap, cap);
    assert_int_equal(mtp_seentab_len(&s), N / 4);
    mtp_seentab_clear(&s);
}

/* The reference: a direct array per key, the merge's semantics and the
 * eager prune at each new cycle that the table's sweep replaces. */
#define MODEL_KEYS (1u << 15)

typedef struct {
    int present;
    uint32_t refcnt;
    uint16_t tag;
    uint8_t history, cycle;
} model_entry;

static uint64_t key_addr(size_t k)
{
    return 0x7f0000000000ull + 48 * (uint64_t)k;
}

static size_t model_prune(model_entry *m, uint8_t cycle)
{
    size_t live = 0;

    for (size_t k = 0; k < MODEL_KEYS; k++) {
        if (m[k].present && stale(cycle, m[k].cycle))
            m[k].present = 0;
        live += m[k].present;
    }
    return live;
}

static void check_against_model(const mtp_seentab *s, const model_entry *m, uint8_t cycle)
{
    size_t live = 0;

    for (size_t k = 0; k < MODEL_KEYS; k++) {
        const mtp_seen *e = mtp_seentab_find(s, key_addr(k));
        if (m[k].present) {
            live++;
            assert_non_null(e);
            assert_int_equal(e->refcnt, m[k].refcnt);
            assert_int_equal(e->type_tag, m[k].tag);
            assert_int_equal(e->history, m[k].history);
            assert_int_equal(e->cycle, m[k].cycle);
        } else {
            assert_true(e == NULL || stale(cycle, e->cycle)); /* not swept yet */
        }
    }
    assert_true(mtp_seentab_len(s) >= live);
}

/* The live population over the run: grows, collapses, grows again, so the
 * table grows and shrinks while steps go on. */
static size_t population(size_t step_no, size_t steps)
{
    size_t phase = step_no * 5 / steps, into = step_no % (steps / 5);
    size_t span = steps / 5;

    switch (phase) {
    case 0:
        return 500 + (MODEL_KEYS - 600) * into / span;
    case 1:
        return MODEL_KEYS - 100;
    case 2:
        return 300;
    case 3:
        return 300 + (MODEL_KEYS / 2) * into / span;
    default:
        return 2000;
    }
}

static void random_steps_match_the_model(void **state)
{
    enum { STEPS = 4000, MAX_SLICE = 1500 };
    mtp_seentab s = {0};
    model_entry *m = calloc(MODEL_KEYS, sizeof(*m));
    uint32_t *ref = calloc(MODEL_KEYS, sizeof(*ref));
    uint16_t *tag = calloc(MODEL_KEYS, sizeof(*tag));
    mtp_seen *v = malloc(MAX_SLICE * sizeof(*v));
    int32_t *delta = malloc(MAX_SLICE * sizeof(*delta));
    uint8_t cycle = 250; /* wraps during the run */
    size_t in_cycle = 0, entries = 0, resizes_seen = 0, shrunk = 0, max_bytes = 0;

    (void)state;
    rng_state = 0x9e3779b97f4a7c15ull;
    assert_non_null(m);
    assert_non_null(ref);
    assert_non_null(tag);
    assert_non_null(v);
    assert_non_null(delta);
    for (size_t k = 0; k < MODEL_KEYS; k++)
        tag[k] = 1;
    for (size_t st = 0; st < STEPS; st++) {
        size_t pop = population(st, STEPS), n = 1 + below(pop < MAX_SLICE ? pop : MAX_SLICE);
        size_t steps_per_cycle = pop / 400 + 1;

        /* Cycles of a few steps, sometimes of one. */
        if (in_cycle >= steps_per_cycle || below(50) == 0) {
            cycle++;
            in_cycle = 0;
            model_prune(m, cycle);
        }
        in_cycle++;
        for (size_t i = 0; i < n; i++) {
            size_t k = below(pop);
            if (below(4) == 0)
                ref[k] += (uint32_t)below(5) - 2;
            if (below(100) == 0) { /* freed, another type at its address */
                tag[k] = (uint16_t)(1 + below(7));
                ref[k] = (uint32_t)below(10);
            }
            v[i] = seen(key_addr(k), ref[k], tag[k]);
        }
        n = step(&s, v, n, cycle, delta);
        entries += n;
        for (size_t i = 0; i < n; i++) {
            size_t k = (size_t)((v[i].addr - key_addr(0)) / 48);
            int32_t want = 0;
            uint8_t history = 0;
            if (m[k].present && m[k].tag == v[i].type_tag) {
                want = (int32_t)(v[i].refcnt - m[k].refcnt);
                history = (uint8_t)(m[k].history << 1);
            }
            history |= want != 0;
            assert_int_equal(delta[i], want);
            assert_int_equal(v[i].history, history);
            m[k] = (model_entry){1, v[i].refcnt, v[i].type_tag, history, cycle};
        }
        if (s.t.old.cap)
            resizes_seen++;
        if (mtp_seentab_bytes(&s) > max_bytes)
            max_bytes = mtp_seentab_bytes(&s);
        if (max_bytes > 0 && mtp_seentab_bytes(&s) * 4 <= max_bytes)
            shrunk = 1;
        if (st % 50 == 0)
            check_against_model(&s, m, cycle);
    }
    check_against_model(&s, m, cycle);
    assert_true(entries > 200000);
    assert_true(s.t.resizes >= 6);
    assert_true(resizes_seen > 10); /* moves spanned steps */
    assert_true(shrunk);
    /* Two empty cycles and enough empty steps: everything is swept. */
    for (int c = 0; c < 2; c++) {
        cycle++;
        model_prune(m, cycle);
        assert_int_equal(mtp_seentab_step(&s, NULL, 0, cycle, delta), 0);
    }
    for (int i = 0; i < 300; i++)
        assert_int_equal(mtp_seentab_step(&s, NULL, 0, cycle, delta), 0);
    assert_int_equal(mtp_seentab_len(&s), 0);
    mtp_seentab_clear(&s);
    free(m);
    free(ref);
    free(tag);
    free(v);
    free(delta);
}

/* What a step touches grows with the step, not with the table: slices of
 * 1000 new objects into a table growing to 300,000, then slices of old ones,
 * over several growths, each moved across many steps.  The sweep starts in
 * the third cycle, when entries may first be stale. */
static void step_work_is_bounded_by_the_slice(void **state)
{
    enum { SLICE = 1000, TOTAL = 300000 };
    mtp_seentab s = {0};
    mtp_seen v[SLICE];
    int32_t delta[SLICE];
    uint64_t worst = 0;
    size_t moving_steps = 0, worst_cap = 0;

    (void)state;
    rng_state = 12345;
    for (size_t st = 0; st < 3 * TOTAL / SLICE; st++) {
        uint8_t cycle = (uint8_t)(st / (TOTAL / SLICE)); /* three cycles */
        size_t bound;
        for (size_t i = 0; i < SLICE; i++) {
            size_t k = (st % (TOTAL / SLICE)) * SLICE + i;
            v[i] = seen(0x7f0000000000ull + 16 * (k * 2654435761u % (1u << 24)), (uint32_t)st, 1);
        }
        step(&s, v, SLICE, cycle, delta);
        assert_true(cycle == 2 || s.t.sweeps == 0); /* nothing to find before */
        /* probes (two arrays while moving), the move's share, the sweep's
         * share and the shifts of its deletions */
        bound = 48 * SLICE + (s.t.cur.cap + s.t.old.cap) / 32 + 4096;
        assert_true(s.t.step_slots <= bound);
        moving_steps += s.t.old.cap != 0;
        if (s.t.step_slots > worst) {
            worst = s.t.step_slots;
            worst_cap = s.t.cur.cap;
        }
    }
    assert_int_equal(mtp_seentab_len(&s), TOTAL);
    assert_true(s.t.sweeps >= 1);
    assert_true(s.t.resizes >= 8);
    assert_int_equal(s.t.forced, 0);
    assert_true(moving_steps >= 20);
    /* A whole-table pass would touch at least the capacity. */
    assert_true(worst * 4 < worst_cap || worst < 64 * SLICE);
    assert_true(worst < s.t.cur.cap / 4);
    /* Never more than 70% full, and at most two arrays' worth. */
    assert_true(mtp_seentab_len(&s) * 10 <= s.t.cur.cap * 7);
    mtp_seentab_clear(&s);
}

/* A full table whose objects are seen again, cycle after cycle, neither
 * grows nor keeps a next array: only entries added count toward growth. */
static void steady_table_does_not_grow(void **state)
{
    enum { N = 135000, SLICE = 5000 }; /* 51% of 2^18 once it settled: past 50% */
    mtp_seentab s = {0};
    mtp_seen v[SLICE];
    int32_t delta[SLICE];
    size_t cap = 0, bytes = 0;

    (void)state;
    for (int cycle = 0; cycle < 8; cycle++) {
        for (size_t at = 0; at < N; at += SLICE) {
            for (size_t i = 0; i < SLICE; i++)
                v[i] = seen(0x7f0000000000ull + 48 * (at + i), (uint32_t)cycle, 1);
            assert_int_equal(mtp_seentab_step(&s, v, SLICE, (uint8_t)cycle, delta), 0);
        }
        if (cycle == 3) { /* settled */
            cap = s.t.cur.cap;
            bytes = mtp_seentab_bytes(&s);
        }
    }
    assert_int_equal(mtp_seentab_len(&s), N);
    assert_int_equal(s.t.cur.cap, cap);
    assert_int_equal(mtp_seentab_bytes(&s), bytes);
    assert_int_equal(bytes, cap * sizeof(mtp_seen)); /* no old or next array */
    assert_true(N * 10 <= cap * 7 && N * 10 > cap * 2);
    assert_int_equal(s.t.forced, 0);
    mtp_seentab_clear(&s);
}

/* A step far bigger than the table while a move is under way (an
 * unbudgeted mtp.observe() after a few small steps): the table makes room
 * at once, and nothing is lost. */
static void huge_step_during_a_move(void **state)
{
    enum { SMALL = 1000, HUGE = 200000 };
    mtp_seentab s = {0};
    mtp_seen *v = malloc(HUGE * sizeof(*v));
    int32_t *delta = malloc(HUGE * sizeof(*delta));
    size_t k = 0;

    (void)state;
    assert_non_null(v);
    assert_non_null(delta);
    while (s.t.old.cap == 0) { /* small steps until one switches arrays */
        for (size_t i = 0; i < SMALL; i++, k++)
            v[i] = seen(0x7f0000000000ull + 16 * k, 7, 1);
        step(&s, v, SMALL, 0, delta);
        assert_true(k < 100 * SMALL);
    }
    for (size_t i = 0; i < HUGE; i++) /* everything so far, seen again, and more */
        v[i] = seen(0x7f0000000000ull + 16 * i, 9, 1);
    step(&s, v, HUGE, 0, delta);
    for (size_t i = 0; i < HUGE; i++)
        assert_int_equal(delta[i], i < k ? 2 : 0);
    assert_int_equal(mtp_seentab_len(&s), HUGE);
    for (size_t i = 0; i < HUGE; i += 997)
        assert_non_null(mtp_seentab_find(&s, 0x7f0000000000ull + 16 * i));
    assert_true(mtp_seentab_len(&s) * 10 <= (s.t.cur.cap + s.t.old.cap) * 9);
    mtp_seentab_clear(&s);
    free(v);
    free(delta);
}

/* ------------------------------------------------------------ extents */

typedef struct {
    uint64_t addr[4096];
    uint32_t size[4096];
    size_t n;
} hits;

static void collect_hit(void *ctx, uint64_t addr, uint32_t size)
{
    hits *h = ctx;

    assert_true(h->n < 4096);
    h->addr[h->n] = addr;
    h->size[h->n++] = size;
}

static mtp_extent extent(uint64_t owner, uint64_t addr)
{
    return (mtp_extent){.owner = owner, .addr = addr, .size = (uint32_t)(addr & 0xfff) + 64};
}

static void extents_upsert_and_touched(void **state)
{
    mtp_extab x = {0};
    mtp_extent v[] = {extent(0x1010, 0xa000), extent(0x1ff0, 0xb000), extent(0x2010, 0xc000),
                      extent(0x5000, 0xd000), extent(0x7008, 0xe000)};
    /* any order, any address on a page, a page twice */
    uint64_t pages[] = {0x7000, 0x1abc, 0x5000, 0x6000, 0x1000};
    hits *h = calloc(1, sizeof(*h));

    (void)state;
    assert_non_null(h);
    assert_int_equal(mtp_extab_touched(&x, pages, 5, collect_hit, h), 0); /* empty */
    assert_int_equal(mtp_extab_upsert(&x, v, 5, 3), 0);
    assert_int_equal(mtp_extab_len(&x), 5);
    assert_int_equal(mtp_extab_touched(&x, pages, 5, collect_hit, h), 4);
    qsort(h->addr, h->n, sizeof(h->addr[0]), mtp_cmp_u64);
    assert_int_equal(h->addr[0], 0xa000);
    assert_int_equal(h->addr[1], 0xb000);
    assert_int_equal(h->addr[2], 0xd000);
    assert_int_equal(h->addr[3], 0xe000);
    assert_int_equal(mtp_extab_touched(&x, pages, 0, collect_hit, h), 0);

    /* The owner's storage moved (a list grew): the new one is credited. */
    v[0] = extent(0x1010, 0xf000);
    v[1] = extent(0x1008, 0xf800); /* a new owner before it on the page */
    assert_int_equal(mtp_extab_upsert(&x, v, 2, 3), 0);
    assert_int_equal(mtp_extab_len(&x), 6);
    h->n = 0;
    assert_int_equal(mtp_extab_touched(&x, pages + 4, 1, collect_hit, h), 3);
    qsort(h->addr, h->n, sizeof(h->addr[0]), mtp_cmp_u64);
    assert_int_equal(h->addr[0], 0xb000);
    assert_int_equal(h->addr[1], 0xf000);
    assert_int_equal(h->addr[2], 0xf800);

    /* Unsorted input is slower, not wrong. */
    v[0] = extent(0x1ff0, 0x10000);
    v[1] = extent(0x1010, 0x11000);
    assert_int_equal(mtp_extab_upsert(&x, v, 2, 3), 0);
    assert_int_equal(mtp_extab_len(&x), 6);

    /* Two cycles later, owners not seen again are not credited; in time
     * the sweep frees them. */
    v[0] = extent(0x2010, 0x12000);
    assert_int_equal(mtp_extab_upsert(&x, v, 1, 5), 0);
    h->n = 0;
    {
        uint64_t all[] = {0x1000, 0x2000, 0x5000, 0x7000};
        assert_int_equal(mtp_extab_touched(&x, all, 4, collect_hit, h), 1);
        assert_int_equal(h->addr[0], 0x12000);
    }
    for (int i = 0; i < 200; i++)
        assert_int_equal(mtp_extab_upsert(&x, NULL, 0, 5), 0);
    assert_int_equal(mtp_extab_len(&x), 1);
    assert_int_equal(x.pages.cur.len + x.pages.old.len, 1);
    assert_true(mtp_extab_bytes(&x) > 0);
    mtp_extab_clear(&x);
    assert_int_equal(mtp_extab_bytes(&x), 0);
    assert_int_equal(mtp_extab_len(&x), 0);
    free(h);
}

/* Random upserts and written pages against a direct array of owners. */
#define EXT_OWNERS 8192
#define EXT_STRIDE 208 /* bytes between owners: ~20 on a page */

typedef struct {
    int present;
    uint64_t addr;
    uint32_t size;
    uint8_t cycle;
} ext_model;

static void random_extents_match_the_model(void **state)
{
    enum { STEPS = 3000, MAX_SLICE = 600, MAX_PAGES = 64 };
    const uint64_t base = 0x7f0000000000ull;
    mtp_extab x = {0};
    ext_model *m = calloc(EXT_OWNERS, sizeof(*m));
    mtp_extent *v = malloc(MAX_SLICE * sizeof(*v));
    hits *h = calloc(1, sizeof(*h));
    uint64_t want[4096], pages[MAX_PAGES];
    uint8_t cycle = 0;
    size_t total_hits = 0;

    (void)state;
    rng_state = 0xdeadbeefcafef00dull;
    assert_non_null(m);
    assert_non_null(v);
    assert_non_null(h);
    for (size_t st = 0; st < STEPS; st++) {
        size_t pop = st < STEPS / 2 ? EXT_OWNERS : EXT_OWNERS / 16, n = below(MAX_SLICE);
        size_t n_pages = below(MAX_PAGES), n_want = 0;
        char *chosen = calloc(EXT_OWNERS, 1);

        assert_non_null(chosen);
        if (below(8) == 0) {
            cycle++;
            for (size_t k = 0; k < EXT_OWNERS; k++)
                if (m[k].present && stale(cycle, m[k].cycle))
                    m[k].present = 0;
        }
        for (size_t i = 0; i < n; i++)
            chosen[below(pop)] = 1;
        n = 0;
        for (size_t k = 0; k < EXT_OWNERS; k++) { /* sorted by owner, unique */
            if (!chosen[k])
                continue;
            v[n] = extent(base + EXT_STRIDE * k, 0x100000000ull + (next_random() & 0xffffff0));
            m[k] = (ext_model){1, v[n].addr, v[n].size, cycle};
            n++;
        }
        free(chosen);
        assert_int_equal(mtp_extab_upsert(&x, v, n, cycle), 0);

        for (size_t p = 0; p < n_pages; p++) /* owners' pages, a few twice, some empty */
            pages[p] = below(3) == 0 && p > 0
                           ? pages[below(p)]
                           : base + (below(EXT_OWNERS * EXT_STRIDE / 4096 + 8) << 12) + below(4096);
        for (size_t k = 0; k < EXT_OWNERS; k++) {
            uint64_t page = (base + EXT_STRIDE * k) >> 12;
            if (!m[k].present)
                continue;
            for (size_t p = 0; p < n_pages; p++) {
                if (pages[p] >> 12 == page) {
                    want[n_want++] = m[k].addr;
                    break;
                }
            }
        }
        h->n = 0;
        assert_int_equal(mtp_extab_touched(&x, pages, n_pages, collect_hit, h), n_want);
        qsort(h->addr, h->n, sizeof(h->addr[0]), mtp_cmp_u64);
        qsort(want, n_want, sizeof(want[0]), mtp_cmp_u64);
        for (size_t i = 0; i < n_want; i++)
            assert_int_equal(h->addr[i], want[i]);
        total_hits += n_want;
        /* probes, moves, sweep, and the chains of the pages it merged into */
        assert_true(x.pages.step_slots <= 64 * (n + 1) + x.pages.cur.cap / 32 + 4096);
        assert_int_equal(x.pages.forced, 0);
    }
    assert_true(total_hits > 10000);
    {
        size_t live = 0;
        for (size_t k = 0; k < EXT_OWNERS; k++)
            live += m[k].present;
        assert_true(mtp_extab_len(&x) >= live);
    }
    mtp_extab_clear(&x);
    free(m);
    free(v);
    free(h);
}

/*
 * Storage tables grow as densely as a real heap's: 32 owners a page (128
 * bytes apart), 1,300 new ones a step (a 2,000-entry step of dicts and
 * lists), growing to 400k owners, then seen again.  A step's work is its
 * extents and the chains it merges them into, the pages' share of a move
 * and the sweep's share, never the moved pages' chains: moving ~1,100
 * pages a step and walking each one's records made that 28k here (4.4k
 * without), and at 1M objects 44-80k cold records, 1-5.6 ms.
 */
static void extent_steps_do_not_walk_the_moved_chains(void **state)
{
    enum { PER = 1300, OWNERS = 400000, GAP = 128 };
    const uint64_t base = 0x7f0000000000ull;
    mtp_extab x = {0};
    mtp_extent *v = malloc(PER * sizeof(*v));
    size_t moving_steps = 0;
    uint64_t worst = 0;

    (void)state;
    assert_non_null(v);
    for (int cycle = 0; cycle < 2; cycle++)
        for (size_t at = 0; at < OWNERS; at += PER) {
            size_t n = OWNERS - at < PER ? OWNERS - at : PER, bound;

            for (size_t i = 0; i < n; i++)
                v[i] = extent(base + GAP * (at + i), 0x100000000ull + 64 * (at + i));
            assert_int_equal(mtp_extab_upsert(&x, v, n, (uint8_t)cycle), 0);
            /* the extents and the chains merged into (each page's 32 once),
             * probes, the move's share of page slots, the sweep's share */
            bound = 4 * n + 8 * (n * GAP / 4096 + 1) + 4 * (n * GAP / 4096) + 1024 +
                    (x.pages.cur.cap + x.pages.old.cap) / 64 + 1024;
            if (x.pages.step_slots > worst)
                worst = x.pages.step_slots;
            assert_true(x.pages.step_slots <= bound);
            moving_steps += x.pages.old.cap != 0;
        }
    print_message("     worst step: %llu slots and records\n", (unsigned long long)worst);
    assert_int_equal(mtp_extab_len(&x), OWNERS);
    assert_true(x.pages.resizes >= 3);
    assert_true(moving_steps >= 10); /* moves spanned steps */
    assert_int_equal(x.pages.forced, 0);
    mtp_extab_clear(&x);
    free(v);
}

/* The ticker's part, played by a thread of the test: it faults in what the
 * tables ask for (mtp_prefault_want) until told to stop. */
static int server_stop;

static void *prefault_server(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&server_stop, __ATOMIC_ACQUIRE))
        if (!mtp_prefault_serve((size_t)1 << 20))
            usleep(200);
    return NULL;
}

/* A table growing to 300k entries, 2,000 new ones a step; returns the slots
 * its steps touched (their own faulting-in included). */
static size_t grow_table(int served)
{
    enum { PER = 2000, STEPS = 150 };
    mtp_seentab s = {0};
    mtp_seen *v = calloc(PER, sizeof(*v));
    int32_t *d = calloc(PER, sizeof(*d));
    size_t total = 0;
    pthread_t th;

    assert_non_null(v);
    assert_non_null(d);
    if (served) {
        mtp_prefault_serving(1);
        __atomic_store_n(&server_stop, 0, __ATOMIC_RELEASE);
        assert_int_equal(pthread_create(&th, NULL, prefault_server, NULL), 0);
    }
    for (int pass = 0; pass < 2; pass++)
        for (size_t k = 0; k < STEPS; k++) {
            for (size_t i = 0; i < PER; i++)
                v[i] = (mtp_seen){
                    .addr = 4096 + 64 * (k * PER + i), .refcnt = 1 + 2 * pass, .type_tag = 1};
            assert_int_equal(mtp_seentab_step(&s, v, PER, 1, d), 0);
            for (size_t i = 0; i < PER; i++)
                assert_int_equal(d[i], pass == 0 ? 0 : 2); /* the second pass finds the first */
            if (pass == 0)
                total += s.t.step_slots;
            if (served)
                usleep(1000); /* the program runs between steps; so does the server */
        }
    if (served) {
        __atomic_store_n(&server_stop, 1, __ATOMIC_RELEASE);
        pthread_join(th, NULL);
        mtp_prefault_serving(0);
    }
    mtp_seentab_clear(&s);
    free(v);
    free(d);
    return total;
}

/* With a server faulting the next arrays in, steps stop doing it: their
 * work falls by the arrays' slots (2^19 + 2^18 + ... for 300k entries),
 * and the readings are the same. */
static void growth_faulted_in_off_the_step(void **state)
{
    size_t alone, served;

    (void)state;
    alone = grow_table(0);
    served = grow_table(1);
    print_message("     steps touched %zu slots alone, %zu served\n", alone, served);
    assert_true(served + 500000 < alone);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(step_deltas_against_each_objects_last_reading),
        cmocka_unit_test(stale_entries_count_as_absent),
        cmocka_unit_test(sweep_prunes_over_cycles),
        cmocka_unit_test(one_sweep_pass_deletes_every_stale_entry),
        cmocka_unit_test(random_steps_match_the_model),
        cmocka_unit_test(step_work_is_bounded_by_the_slice),
        cmocka_unit_test(steady_table_does_not_grow),
        cmocka_unit_test(huge_step_during_a_move),
        cmocka_unit_test(extents_upsert_and_touched),
        cmocka_unit_test(random_extents_match_the_model),
        cmocka_unit_test(extent_steps_do_not_walk_the_moved_chains),
        cmocka_unit_test(growth_faulted_in_off_the_step),
    };
    return cmocka_run_group_tests_name("sidetable", tests, NULL, NULL);
}
