/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mtp_abi.h"
#include "headroom.h"
#include "policy.h"

#define PG        ((uint64_t)MTP_PAGE_SIZE)
#define FAST      0
#define SLOW      1
#define BASE      0x7f0000000000ULL
#define MAX_PAGES 8192

/* ---- a tiny simulated process on the two-tier guest ---- */

struct sim {
    struct mtp_tiers tiers;
    struct mtp_policy_config cfg;
    struct mtp_policy *p;
    struct mtp_policy_page pages[MAX_PAGES];
    size_t n;
    uint64_t rss;
    uint64_t fast_free;
    uint64_t refused; /* allocations the fast node refused since the last plan */
    struct mtp_move moves[MAX_PAGES];
    size_t n_moves;
    struct mtp_policy_stats st;
};

static void guest_tiers(struct mtp_tiers *t)
{
    memset(t, 0, sizeof(*t));
    t->n_nodes = 2;
    t->nodes[0] = (struct mtp_node){FAST, true, true, 4, MTP_TIER_FAST};
    t->nodes[1] = (struct mtp_node){SLOW, false, true, 72, MTP_TIER_SLOW};
    t->have_distance = true;
    t->distance[0][0] = t->distance[1][1] = 10;
    t->distance[0][1] = t->distance[1][0] = 20;
    t->n_kernel_tiers = 2;
    t->source = MTP_TIERS_KERNEL;
}

static struct sim *sim_new(void (*tune)(struct mtp_policy_config *))
{
    struct sim *s = calloc(1, sizeof(*s));

    assert_non_null(s);
    guest_tiers(&s->tiers);
    mtp_policy_config_default(&s->cfg);
    s->cfg.fast_budget = (struct mtp_size){MTP_SIZE_BYTES, 1000 * PG, 0};
    s->cfg.watermark_bytes = 0;
    s->cfg.hot_threshold = 10;
    /* the headroom changes where promotions stop; the tests of other rules
     * run without it, and it has its own below */
    s->cfg.headroom_auto = false;
    if (tune)
        tune(&s->cfg);
    s->p = mtp_policy_create(&s->cfg);
    assert_non_null(s->p);
    s->rss = 1ULL << 30;
    s->fast_free = MTP_FREE_UNKNOWN;
    return s;
}

static void sim_free(struct sim *s)
{
    mtp_policy_destroy(s->p);
    free(s);
}

/* Adds pages [first, first + count) with one heat on one node. */
static void sim_add(struct sim *s, size_t count, uint64_t heat, int node)
{
    for (size_t i = 0; i < count; i++) {
        assert_true(s->n < MAX_PAGES);
        s->pages[s->n] = (struct mtp_policy_page){BASE + s->n * PG, heat, node, false};
        s->n++;
    }
}

static struct mtp_policy_page *sim_page(struct sim *s, uint64_t addr)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->pages[i].addr == addr)
            return &s->pages[i];
    fail_msg("no page %llx", (unsigned long long)addr);
    return NULL;
}

static void sim_plan(struct sim *s)
{
    struct mtp_policy_input in = {s->pages, s->n,   &s->tiers,    FAST,
                                  SLOW,     s->rss, s->fast_free, s->refused};

    assert_int_equal(mtp_policy_plan(s->p, &in, s->moves, MAX_PAGES, &s->n_moves, &s->st), 0);
}

/* Performs every planned move successfully and reports it. */
static void sim_apply(struct sim *s)
{
    static int status[MAX_PAGES], after[MAX_PAGES];
    struct mtp_commit_result r;

    for (size_t i = 0; i < s->n_moves; i++) {
        struct mtp_policy_page *pg = sim_page(s, s->moves[i].addr);

        assert_int_equal(pg->node, s->moves[i].from_node);
        pg->node = s->moves[i].to_node;
        status[i] = after[i] = s->moves[i].to_node;
    }
    mtp_policy_commit(s->p, s->moves, s->n_moves, status, after, &r);
    assert_int_equal(r.moved, s->n_moves);
}

static void sim_step(struct sim *s)
{
    sim_plan(s);
    sim_apply(s);
}

static size_t count_on(const struct sim *s, int node)
{
    size_t n = 0;

    for (size_t i = 0; i < s->n; i++)
        n += s->pages[i].node == node;
    return n;
}

static size_t count_reason(const struct sim *s, enum mtp_move_reason why)
{
    size_t n = 0;

    for (size_t i = 0; i < s->n_moves; i++)
        n += s->moves[i].reason == why;
    return n;
}

static void set_heat(struct sim *s, size_t first, size_t count, uint64_t heat)
{
    for (size_t i = first; i < first + count; i++)
        s->pages[i].heat = heat;
}

/* ---- config ---- */

static void test_config_check(void **state)
{
    struct mtp_policy_config c;
    char err[160];

    (void)state;
    mtp_policy_config_default(&c);
    assert_int_equal(mtp_policy_config_check(&c, err, sizeof(err)), 0);

    c.hot_threshold = 0;
    assert_int_equal(mtp_policy_config_check(&c, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "zero-heat pages are cold"));
    assert_null(mtp_policy_create(&c));

    mtp_policy_config_default(&c);
    c.lazy_min = 4;
    c.lazy_initial = 2;
    assert_int_equal(mtp_policy_config_check(&c, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "min (4) <= initial (2)"));
    c.eager = true; /* eager ignores the lazy settings */
    assert_int_equal(mtp_policy_config_check(&c, err, sizeof(err)), 0);

    mtp_policy_config_default(&c);
    c.max_bytes_per_interval = PG - 1;
    assert_int_equal(mtp_policy_config_check(&c, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "less than one"));

    mtp_policy_config_default(&c);
    c.fast_budget = (struct mtp_size){MTP_SIZE_PERCENT, 0, 120};
    assert_int_equal(mtp_policy_config_check(&c, err, sizeof(err)), -EINVAL);
    c.fast_budget = (struct mtp_size){MTP_SIZE_BYTES, 0, 0};
    assert_int_equal(mtp_policy_config_check(&c, err, sizeof(err)), -EINVAL);

    mtp_policy_config_default(&c);
    c.pingpong_window = 0;
    assert_int_equal(mtp_policy_config_check(&c, err, sizeof(err)), -EINVAL);
    c.pingpong_window = 5000;
    assert_int_equal(mtp_policy_config_check(&c, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "1 to 4096"));

    mtp_policy_config_default(&c);
    c.idle_floor_pct = 100;
    assert_int_equal(mtp_policy_config_check(&c, err, sizeof(err)), 0);
    c.idle_floor_pct = 101;
    assert_int_equal(mtp_policy_config_check(&c, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "idle floor"));
}

static void test_bad_input(void **state)
{
    struct sim *s = sim_new(NULL);
    struct mtp_policy_input in = {s->pages, 0, &s->tiers, SLOW, FAST, 0, 0, 0};
    size_t n = 99;

    (void)state;
    assert_int_equal(mtp_policy_plan(s->p, &in, s->moves, MAX_PAGES, &n, NULL), -EINVAL);
    in.fast_node = FAST;
    in.slow_node = 7;
    assert_int_equal(mtp_policy_plan(s->p, &in, s->moves, MAX_PAGES, &n, NULL), -EINVAL);
    in.slow_node = SLOW;
    in.tiers = NULL;
    assert_int_equal(mtp_policy_plan(s->p, &in, s->moves, MAX_PAGES, &n, NULL), -EINVAL);
    in.tiers = &s->tiers;
    assert_int_equal(mtp_policy_plan(s->p, &in, s->moves, MAX_PAGES, &n, NULL), 0);
    assert_int_equal(n, 0);
    sim_free(s);
}

/* ---- promotion and budget ---- */

static void test_promotes_hot_slow_pages_hottest_first(void **state)
{
    struct sim *s = sim_new(NULL);

    (void)state;
    for (uint64_t h = 10; h <= 50; h += 10)
        sim_add(s, 1, h, SLOW);
    sim_add(s, 3, 0, SLOW); /* cold pages stay where they are */
    sim_add(s, 2, 5, SLOW); /* warm but below the threshold */
    sim_plan(s);
    assert_int_equal(s->n_moves, 5);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(s->moves[i].reason, MTP_MOVE_PROMOTE);
        assert_int_equal(s->moves[i].from_node, SLOW);
        assert_int_equal(s->moves[i].to_node, FAST);
        assert_int_equal(sim_page(s, s->moves[i].addr)->heat, 50 - 10 * i);
    }
    assert_int_equal(s->st.hot, 5);
    assert_int_equal(s->st.cold, 5);
    assert_int_equal(s->st.on_slow, 10);
    assert_int_equal(s->st.promote, 5);
    assert_int_equal(s->st.promote_bytes, 5 * PG);
    assert_int_equal(s->st.fast_bytes_planned, 5 * PG);
    sim_apply(s);
    sim_plan(s);
    assert_int_equal(s->n_moves, 0); /* settled */
    sim_free(s);
}

static void budget_4_pages(struct mtp_policy_config *c)
{
    c->fast_budget = (struct mtp_size){MTP_SIZE_BYTES, 4 * PG, 0};
}

static void test_budget_caps_promotions(void **state)
{
    struct sim *s = sim_new(budget_4_pages);

    (void)state;
    for (uint64_t i = 0; i < 10; i++)
        sim_add(s, 1, 100 + i, SLOW);
    sim_plan(s);
    assert_int_equal(s->n_moves, 4);
    for (size_t i = 0; i < 4; i++)
        assert_true(sim_page(s, s->moves[i].addr)->heat >= 106);
    assert_int_equal(s->st.budget_bytes, 4 * PG);
    assert_int_equal(s->st.fast_bytes_planned, 4 * PG);
    sim_apply(s);
    sim_plan(s);
    assert_int_equal(s->n_moves, 0);
    assert_int_equal(s->st.budget_used_bytes, 4 * PG);
    sim_free(s);
}

static void lazy_3(struct mtp_policy_config *c);

/* Pages the sweep found on the fast node, with no heat map entry. */
static void sim_add_untracked(struct sim *s, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        assert_true(s->n < MAX_PAGES);
        s->pages[s->n] = (struct mtp_policy_page){BASE + s->n * PG, 0, FAST, true};
        s->n++;
    }
}

static void test_untracked_pages_make_room_for_hot_ones(void **state)
{
    struct sim *s = sim_new(budget_4_pages);
    size_t up = 0, down = 0;

    (void)state;
    sim_add_untracked(s, 4); /* the fast tier is full of memory mtp never saw */
    sim_add(s, 2, 100, SLOW);
    sim_plan(s);
    assert_int_equal(s->st.untracked, 4);
    assert_int_equal(s->st.budget_used_bytes, 4 * PG);
    for (size_t i = 0; i < s->n_moves; i++) {
        const struct mtp_policy_page *pg = sim_page(s, s->moves[i].addr);
        if (s->moves[i].to_node == FAST) {
            assert_int_equal(pg->heat, 100);
            up++;
        } else {
            assert_true(pg->untracked);
            down++;
        }
    }
    assert_int_equal(up, 2);
    assert_int_equal(down, 2);
    assert_int_equal(s->st.fast_bytes_planned, 4 * PG);
    sim_free(s);
}

static void test_untracked_pages_are_not_demoted_proactively(void **state)
{
    struct sim *s = sim_new(lazy_3);

    (void)state;
    sim_add_untracked(s, 3);
    sim_add(s, 1, 0, FAST); /* tracked and cold: goes after N intervals */
    for (int i = 0; i < 6; i++) {
        sim_step(s);
        for (size_t j = 0; j < s->n_moves; j++)
            assert_false(sim_page(s, s->moves[j].addr)->untracked);
    }
    assert_int_equal(sim_page(s, BASE + 3 * PG)->node, SLOW);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(sim_page(s, BASE + i * PG)->node, FAST);
    sim_free(s);
}

static void test_untracked_pages_count_toward_the_budget(void **state)
{
    struct sim *s = sim_new(budget_4_pages);

    (void)state;
    sim_add(s, 2, 100, FAST);
    sim_add_untracked(s, 4);
    sim_plan(s);
    /* 6 pages on the fast tier for a budget of 4: the untracked go first */
    assert_int_equal(s->st.budget_used_bytes, 6 * PG);
    assert_int_equal(s->n_moves, 2);
    for (size_t i = 0; i < s->n_moves; i++) {
        assert_true(sim_page(s, s->moves[i].addr)->untracked);
        assert_int_equal(s->moves[i].to_node, SLOW);
    }
    sim_free(s);
}

/* Without the written-page scan (policy.h, "Promoted only"). */
static void budget_4_promoted_only(struct mtp_policy_config *c)
{
    budget_4_pages(c);
    c->lazy_initial = 2;
    c->demote_promoted_only = true;
}

static void test_promoted_only_never_moves_first_touch_pages(void **state)
{
    struct sim *s = sim_new(budget_4_promoted_only);

    (void)state;
    sim_add(s, 4, 0, FAST);  /* the program's own, cold as far as mtp can tell */
    sim_add_untracked(s, 2); /* over the budget, severely */
    sim_add(s, 2, 100, SLOW);
    for (int i = 0; i < 6; i++) {
        sim_step(s);
        assert_true(s->st.severe);
        /* no room can be made: nothing is demoted, so nothing is promoted */
        assert_int_equal(s->n_moves, 0);
    }
    assert_int_equal(count_on(s, FAST), 6);
    sim_free(s);
}

static void test_promoted_only_undoes_its_own_promotions(void **state)
{
    struct sim *s = sim_new(budget_4_promoted_only);

    (void)state;
    sim_add(s, 2, 0, FAST);   /* pages 0-1: first touch's */
    sim_add(s, 2, 100, SLOW); /* pages 2-3: hot, promoted */
    sim_add(s, 2, 0, SLOW);   /* pages 4-5: cold for now */
    sim_step(s);
    assert_int_equal(count_reason(s, MTP_MOVE_PROMOTE), 2);
    assert_int_equal(count_on(s, FAST), 4);
    set_heat(s, 2, 2, 0);
    set_heat(s, 4, 2, 100);
    for (int i = 0; i < 4; i++) {
        sim_step(s);
        for (size_t j = 0; j < s->n_moves; j++)
            if (s->moves[j].to_node == SLOW)
                assert_true(s->moves[j].addr == BASE + 2 * PG || s->moves[j].addr == BASE + 3 * PG);
    }
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(sim_page(s, BASE + i * PG)->node, i < 2 || i >= 4 ? FAST : SLOW);
    /* a demoted page is first touch's again until mtp promotes it once more */
    set_heat(s, 4, 2, 0);
    set_heat(s, 2, 2, 100);
    for (int i = 0; i < 4; i++)
        sim_step(s);
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(sim_page(s, BASE + i * PG)->node, i < 4 ? FAST : SLOW);
    sim_free(s);
}

static void budget_percent(struct mtp_policy_config *c)
{
    c->fast_budget = (struct mtp_size){MTP_SIZE_PERCENT, 0, 25};
}

static void test_percent_budget_follows_rss(void **state)
{
    struct sim *s = sim_new(budget_percent);

    (void)state;
    sim_add(s, 40, 100, SLOW);
    s->rss = 40 * PG;
    sim_plan(s);
    assert_int_equal(s->st.budget_bytes, 10 * PG);
    assert_int_equal(s->n_moves, 10);
    sim_apply(s);

    /* the process grows: a quarter of it is more room */
    s->rss = 80 * PG;
    sim_plan(s);
    assert_int_equal(s->st.budget_bytes, 20 * PG);
    assert_int_equal(s->st.promote, 10);
    sim_free(s);
}

static void watermark_32(struct mtp_policy_config *c)
{
    c->watermark_bytes = 32 * PG;
}

/* ---- headroom: room kept for the program's new pages ---- */

#define WM_PAGES   32   /* the node's watermark */
#define ROOM_PAGES 2048 /* what the node holds above it */
#define STEADY     4000 /* long-lived warm pages, all on the slow node at first */
#define CHURN      100  /* pages the program allocates (then frees) an interval */

static void node_limited(struct mtp_policy_config *c)
{
    c->fast_budget = (struct mtp_size){MTP_SIZE_BYTES, 1ULL << 40, 0};
    c->watermark_bytes = WM_PAGES * PG;
}

static void node_limited_headroom(struct mtp_policy_config *c)
{
    node_limited(c);
    c->headroom_auto = true;
}

/* The kernel's first touch: the fast node while it is above its watermark. */
static int first_touch(struct sim *s)
{
    if (s->fast_free > WM_PAGES * PG) {
        s->fast_free -= PG;
        return FAST;
    }
    if (s->refused != MTP_REFUSED_UNKNOWN)
        s->refused += PG;
    return SLOW;
}

/* One interval of a program that allocates CHURN hot pages, then frees the
 * previous interval's: plan, move (the node's free memory follows the
 * moves), allocate, free.  Returns how many of the new pages landed on the
 * fast node. */
static size_t churn_interval_heat(struct sim *s, uint64_t *next_addr, uint64_t fresh_heat)
{
    struct mtp_policy_page fresh[CHURN];
    size_t landed = 0, kept = 0;

    sim_plan(s);
    if (s->refused != MTP_REFUSED_UNKNOWN)
        s->refused = 0;
    sim_apply(s);
    for (size_t i = 0; i < s->n_moves; i++)
        s->fast_free += s->moves[i].reason == MTP_MOVE_PROMOTE ? -PG : PG;
    for (size_t i = 0; i < CHURN; i++) {
        int node = first_touch(s);

        fresh[i] = (struct mtp_policy_page){(*next_addr)++ * PG, fresh_heat, node, false};
        landed += node == FAST;
    }
    for (size_t i = 0; i < s->n; i++) {
        struct mtp_policy_page *pg = &s->pages[i];

        if (pg->addr < BASE + STEADY * PG) {
            s->pages[kept++] = *pg; /* steady pages stay */
            continue;
        }
        if (pg->node == FAST)
            s->fast_free += PG;
    }
    memcpy(&s->pages[kept], fresh, sizeof(fresh));
    s->n = kept + CHURN;
    return landed;
}

static size_t churn_interval(struct sim *s, uint64_t *next_addr)
{
    return churn_interval_heat(s, next_addr, 100);
}

/* Of the last 10 of 40 intervals, the new pages that found the fast node. */
static size_t churn_run(void (*tune)(struct mtp_policy_config *), uint64_t *headroom)
{
    struct sim *s = sim_new(tune);
    uint64_t next = (BASE / PG) + STEADY + 1000;
    size_t landed = 0;

    sim_add(s, STEADY, 50, SLOW);
    s->fast_free = (WM_PAGES + ROOM_PAGES) * PG;
    for (int i = 0; i < 40; i++) {
        size_t l = churn_interval(s, &next);

        landed += i >= 30 ? l : 0;
        /* the fast node never holds more than it has */
        assert_true(s->fast_free <= (WM_PAGES + ROOM_PAGES) * PG);
    }
    *headroom = s->st.headroom_bytes;
    sim_free(s);
    return landed;
}

/* Without headroom mtp fills the node to its watermark, and every page the
 * program allocates next lands on the slow node; with it the program's new
 * pages find the fast node, and the room kept is about what they take. */
static void test_headroom_takes_the_programs_new_pages(void **state)
{
    uint64_t h;

    (void)state;
    assert_int_equal(churn_run(node_limited, &h), 0);
    assert_int_equal(h, 0);
    /* nearly all: the room opens by laziness, a few intervals behind */
    assert_true(churn_run(node_limited_headroom, &h) >= 10 * CHURN * 95 / 100);
    assert_true(h >= CHURN * PG);
    assert_true(h <= 2 * CHURN * PG);
    assert_true(h <= ROOM_PAGES * PG / 4);
}

/* When the program stops allocating, the headroom decays and promotions
 * fill the node again. */
static void test_headroom_decays_when_allocations_stop(void **state)
{
    struct sim *s = sim_new(node_limited_headroom);
    uint64_t next = (BASE / PG) + STEADY + 1000, busy;

    (void)state;
    sim_add(s, STEADY, 50, SLOW);
    s->fast_free = (WM_PAGES + ROOM_PAGES) * PG;
    for (int i = 0; i < 20; i++)
        churn_interval(s, &next);
    busy = s->st.headroom_bytes;
    assert_true(busy >= CHURN * PG);
    for (int i = 0; i < 60; i++) {
        sim_plan(s);
        s->refused = 0;
        /* nothing refused: the headroom is not opened by force */
        assert_int_equal(count_reason(s, MTP_MOVE_HEADROOM), 0);
        sim_apply(s);
        for (size_t m = 0; m < s->n_moves; m++)
            s->fast_free += s->moves[m].reason == MTP_MOVE_PROMOTE ? -PG : PG;
    }
    assert_true(s->st.headroom_bytes < busy / 4);
    assert_true(s->fast_free - WM_PAGES * PG < busy / 4);
    sim_free(s);
}

/* The headroom proof's program (tools/vm/headroom_proof.py): its long-lived
 * pages are all hot, more of them than the node holds, and their heats
 * wander from interval to interval, so the pages beyond the headroom do not
 * stay unselected for N intervals in a row and laziness hardly ever demotes
 * one.  Its new pages are not hot (yet).  While the node refuses them, mtp
 * must open the headroom itself. */
static size_t wandering_run(void (*tune)(struct mtp_policy_config *), size_t *headroom_moves,
                            uint64_t refused_start)
{
    struct sim *s = sim_new(tune);
    uint64_t next = (BASE / PG) + STEADY + 1000, rnd = 88172645463325252ULL;
    size_t landed = 0;

    sim_add(s, STEADY, 100, SLOW);
    s->fast_free = (WM_PAGES + ROOM_PAGES) * PG;
    s->refused = refused_start;
    *headroom_moves = 0;
    for (int i = 0; i < 40; i++) {
        for (size_t k = 0; k < STEADY; k++) {
            rnd ^= rnd << 13, rnd ^= rnd >> 7, rnd ^= rnd << 17; /* xorshift64 */
            s->pages[k].heat = 90 + rnd % 21;
        }
        size_t l = churn_interval_heat(s, &next, 1);

        landed += i >= 30 ? l : 0;
        *headroom_moves += count_reason(s, MTP_MOVE_HEADROOM);
        assert_true(s->st.headroom_bytes <= s->st.budget_bytes / 4);
        assert_true(s->fast_free <= (WM_PAGES + ROOM_PAGES) * PG);
    }
    sim_free(s);
    return landed;
}

/* Counted (numa_foreign) and blind (vm.numa_stat=0): in both, the new pages
 * find the fast node because mtp demotes for them past laziness; without a
 * headroom none do. */
static void test_headroom_is_opened_while_the_node_refuses(void **state)
{
    size_t forced;

    (void)state;
    assert_int_equal(wandering_run(node_limited, &forced, 0), 0);
    assert_int_equal(forced, 0);
    assert_true(wandering_run(node_limited_headroom, &forced, 0) >= 10 * CHURN * 90 / 100);
    assert_true(forced > 0);
    assert_true(wandering_run(node_limited_headroom, &forced, MTP_REFUSED_UNKNOWN) >=
                10 * CHURN * 80 / 100);
    assert_true(forced > 0);
}

static void headroom_fixed_64(struct mtp_policy_config *c)
{
    c->fast_budget = (struct mtp_size){MTP_SIZE_BYTES, 200 * PG, 0};
    c->headroom_bytes = 64 * PG;
}

/* A fixed headroom: promotions stop that far short of the budget, and the
 * budget itself (pressure, severity) is unchanged. */
static void test_fixed_headroom_stops_promotions_short(void **state)
{
    struct sim *s = sim_new(headroom_fixed_64);

    (void)state;
    sim_add(s, 300, 100, SLOW);
    sim_plan(s);
    assert_int_equal(s->st.budget_bytes, 200 * PG);
    assert_int_equal(s->st.headroom_bytes, 50 * PG); /* a quarter of the budget at most */
    assert_int_equal(s->st.promote, 150);
    assert_false(s->st.pressure);
    sim_free(s);
}

static void test_watermark_limits_budget(void **state)
{
    struct sim *s = sim_new(watermark_32);

    (void)state;
    sim_add(s, 2, 100, FAST);
    sim_add(s, 10, 100, SLOW);
    s->fast_free = 35 * PG; /* three pages above the watermark */
    sim_plan(s);
    assert_int_equal(s->st.budget_bytes, 5 * PG);
    assert_int_equal(s->st.promote, 3);
    assert_false(s->st.pressure);
    sim_apply(s);

    /* something else filled the node: two pages below the watermark is
     * severe, laziness or not */
    s->fast_free = 30 * PG;
    sim_plan(s);
    assert_true(s->st.pressure);
    assert_true(s->st.severe);
    assert_int_equal(s->st.budget_bytes, 3 * PG);
    assert_int_equal(s->st.promote, 0);
    assert_int_equal(s->n_moves, 2);
    assert_int_equal(count_reason(s, MTP_MOVE_OVER_BUDGET), 2);
    assert_int_equal(s->st.fast_bytes_planned, 3 * PG);
    sim_free(s);
}

/* ---- laziness ---- */

static void lazy_3(struct mtp_policy_config *c)
{
    c->lazy_initial = 3;
    c->lazy_min = 1;
    c->lazy_max = 16;
}

static void test_lazy_demotion_needs_n_cold_intervals(void **state)
{
    struct sim *s = sim_new(lazy_3);

    (void)state;
    sim_add(s, 1, 0, FAST);
    sim_add(s, 1, 100, FAST);
    sim_step(s);
    assert_int_equal(s->n_moves, 0);
    sim_step(s);
    assert_int_equal(s->n_moves, 0);
    sim_step(s);
    assert_int_equal(s->n_moves, 1);
    assert_int_equal(s->moves[0].addr, BASE);
    assert_int_equal(s->moves[0].reason, MTP_MOVE_DEMOTE);
    assert_int_equal(s->moves[0].to_node, SLOW);
    assert_int_equal(s->st.lazy_n, 3);
    sim_free(s);
}

static void test_warming_resets_cold_streak(void **state)
{
    static const uint64_t heats[] = {0, 0, 50, 0, 0, 0};
    struct sim *s = sim_new(lazy_3);

    (void)state;
    sim_add(s, 1, 0, FAST);
    for (size_t i = 0; i < sizeof(heats) / sizeof(heats[0]); i++) {
        s->pages[0].heat = heats[i];
        sim_step(s);
        /* only the third cold interval after the warm one demotes */
        assert_int_equal(s->n_moves, i == 5 ? 1 : 0);
    }
    sim_free(s);
}

static void eager(struct mtp_policy_config *c)
{
    c->eager = true;
    c->lazy_initial = 5;
    c->lazy_min = 5;
    c->lazy_max = 5;
}

static void test_eager_demotes_at_once_and_never_adapts(void **state)
{
    struct sim *s = sim_new(eager);

    (void)state;
    assert_int_equal(mtp_policy_lazy_n(s->p), 1);
    sim_add(s, 1, 0, FAST);
    sim_step(s);
    assert_int_equal(s->n_moves, 1);
    assert_int_equal(s->moves[0].reason, MTP_MOVE_DEMOTE);

    s->pages[0].heat = 100; /* bounces straight back */
    sim_step(s);
    assert_int_equal(s->st.pingpongs, 1);
    assert_int_equal(s->st.promote, 1);
    assert_int_equal(s->st.lazy_n, 1);
    sim_free(s);
}

/* ---- adaptation ---- */

static void lazy_2_window_4(struct mtp_policy_config *c)
{
    c->lazy_initial = 2;
    c->lazy_min = 1;
    c->lazy_max = 6;
    c->pingpong_window = 4;
}

static void test_pingpong_grows_n(void **state)
{
    struct sim *s = sim_new(lazy_2_window_4);

    (void)state;
    sim_add(s, 1, 100, FAST);
    for (unsigned expect = 4; expect <= 6; expect = expect == 4 ? 6 : 7) {
        unsigned n = mtp_policy_lazy_n(s->p);

        s->pages[0].heat = 0;
        for (unsigned i = 0; i < n; i++)
            sim_step(s);
        assert_int_equal(s->st.demote, 1); /* demoted on the N-th cold interval */
        assert_int_equal(s->pages[0].node, SLOW);

        s->pages[0].heat = 100;
        sim_step(s);
        assert_int_equal(s->st.pingpongs, 1);
        assert_int_equal(s->st.judged, 1);
        assert_int_equal(s->st.lazy_n, expect); /* doubled, capped at 6 */
        assert_int_equal(s->st.promote, 1);
    }
    assert_true(mtp_policy_pingpong_rate(s->p) == 1.0);
    sim_free(s);
}

static void test_rare_pingpong_does_not_grow_n(void **state)
{
    struct sim *s = sim_new(lazy_2_window_4);

    (void)state;
    sim_add(s, 9, 0, FAST);
    sim_step(s);
    sim_step(s);
    assert_int_equal(s->st.demote, 9);
    /* one page bounces; the window of the other eight closes (interval
     * 2 + 4 + 1) with them cold: 1 of 9 is below the 1/8 trigger */
    s->pages[0].heat = 100;
    for (int i = 0; i < 4; i++)
        sim_step(s);
    assert_int_equal(mtp_policy_lazy_n(s->p), 2);
    s->pages[0].heat = 200;
    sim_step(s);
    assert_int_equal(s->st.judged, 8);
    assert_int_equal(s->st.lazy_n, 2);
    assert_true(mtp_policy_pingpong_rate(s->p) > 0.11 && mtp_policy_pingpong_rate(s->p) < 0.12);
    sim_free(s);
}

/* 64 cold pages are demoted at interval 2, then 2 at interval 4, one of
 * which bounces at interval 5: 1 of the window's 66 demotions, which a rate
 * over the window would call rare, but 1 of its own cohort's 2. */
static void test_large_cohort_does_not_dilute_a_small_ones_bounces(void **state)
{
    struct sim *s = sim_new(lazy_2_window_4);

    (void)state;
    sim_add(s, 64, 0, FAST);
    sim_add(s, 2, 100, FAST);
    sim_step(s);
    sim_step(s);
    assert_int_equal(s->st.demote, 64);
    set_heat(s, 64, 2, 0);
    sim_step(s);
    sim_step(s);
    assert_int_equal(s->st.demote, 2);
    set_heat(s, 64, 1, 100);
    sim_step(s);
    assert_int_equal(s->st.pingpongs, 1);
    assert_int_equal(s->st.lazy_n, 4);
    sim_free(s);
}

static void shrink_setup(struct mtp_policy_config *c)
{
    c->fast_budget = (struct mtp_size){MTP_SIZE_BYTES, 16 * PG, 0};
    c->lazy_initial = 3;
    c->lazy_min = 2;
    c->lazy_max = 8;
    c->pingpong_window = 2;
}

/* Demotes two cold pages lazily, then lets their window close (interval
 * 3 + 2 + 1) with or without pressure on the fast tier. */
static unsigned n_after_good_demotions(bool pressure)
{
    struct sim *s = sim_new(shrink_setup);
    unsigned n;

    sim_add(s, 2, 0, FAST);
    sim_add(s, 14, 100, FAST);
    for (int i = 0; i < 3; i++)
        sim_step(s);
    assert_int_equal(s->st.demote, 2);
    assert_int_equal(s->st.lazy_n, 3);
    sim_step(s);
    sim_step(s);
    assert_int_equal(s->st.judged, 0);
    if (pressure) /* the process allocates: 17 hot pages on a 16-page budget */
        sim_add(s, 3, 100, FAST);
    sim_step(s);
    assert_int_equal(s->st.judged, 2);
    assert_int_equal(s->st.pingpongs, 0);
    assert_int_equal(s->st.pressure, pressure);
    n = s->st.lazy_n;
    sim_free(s);
    return n;
}

static void test_good_demotions_under_pressure_shrink_n(void **state)
{
    (void)state;
    assert_int_equal(n_after_good_demotions(true), 2);
    assert_int_equal(n_after_good_demotions(false), 3);
}

static void budget_64(struct mtp_policy_config *c)
{
    shrink_setup(c);
    c->fast_budget = (struct mtp_size){MTP_SIZE_BYTES, 64 * PG, 0};
}

static void test_shrink_stops_at_min(void **state)
{
    struct sim *s = sim_new(budget_64);
    bool shrank = false;

    (void)state;
    sim_add(s, 64, 100, FAST); /* the budget is full of hot pages */
    for (int i = 0; i < 30; i++) {
        /* a new cold page every interval keeps the fast tier mildly over
         * budget and verdicts coming */
        sim_add(s, 1, 0, FAST);
        sim_step(s);
        assert_true(s->st.pressure);
        assert_false(s->st.severe);
        assert_int_equal(s->st.over_budget, 0);
        assert_int_equal(s->st.pingpongs, 0);
        shrank |= s->st.lazy_n == 2;
        assert_true(s->st.lazy_n >= 2);
    }
    assert_true(shrank);
    assert_int_equal(mtp_policy_lazy_n(s->p), 2);
    sim_free(s);
}

/* ---- over budget ---- */

static void lazy_4_budget_4(struct mtp_policy_config *c)
{
    budget_4_pages(c);
    c->lazy_initial = 4;
    c->lazy_max = 8;
}

static void test_severe_excess_ignores_laziness(void **state)
{
    struct sim *s = sim_new(lazy_4_budget_4);

    (void)state;
    for (uint64_t i = 0; i < 10; i++)
        sim_add(s, 1, i, FAST); /* heats 0..9, all below the threshold */
    sim_plan(s);
    assert_true(s->st.severe);
    assert_int_equal(s->n_moves, 6);
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(s->moves[i].reason, MTP_MOVE_OVER_BUDGET);
        assert_int_equal(sim_page(s, s->moves[i].addr)->heat, i); /* coldest first */
    }
    assert_int_equal(s->st.over_budget, 6);
    assert_int_equal(s->st.fast_bytes_planned, 4 * PG);
    sim_free(s);
}

static void budget_16_lazy_3(struct mtp_policy_config *c)
{
    c->fast_budget = (struct mtp_size){MTP_SIZE_BYTES, 16 * PG, 0};
    c->lazy_initial = 3;
}

static void test_mild_excess_stays_lazy_and_blocks_promotion(void **state)
{
    struct sim *s = sim_new(budget_16_lazy_3);

    (void)state;
    sim_add(s, 1, 0, FAST);
    sim_add(s, 16, 50, FAST);
    sim_add(s, 1, 500, SLOW); /* wants in */
    /* 17 pages on a 16-page budget: mild.  The cold page is not yet
     * eligible, so nothing may move and the hot page must wait. */
    sim_step(s);
    assert_true(s->st.pressure);
    assert_false(s->st.severe);
    assert_int_equal(s->n_moves, 0);
    sim_step(s);
    assert_int_equal(s->n_moves, 0);
    /* third interval: the cold page has been out for N intervals and goes
     * first (the excess), then the warm page the hot one pushed out of the
     * selection since the first interval makes its room */
    sim_step(s);
    assert_int_equal(s->n_moves, 3);
    assert_int_equal(s->moves[0].addr, BASE);
    assert_int_equal(s->moves[0].reason, MTP_MOVE_DEMOTE);
    assert_int_equal(s->moves[1].reason, MTP_MOVE_DEMOTE);
    assert_int_equal(sim_page(s, s->moves[1].addr)->heat, 50);
    assert_int_equal(s->moves[2].reason, MTP_MOVE_PROMOTE);
    assert_int_equal(s->moves[2].addr, BASE + 17 * PG);
    assert_int_equal(s->st.fast_bytes_planned, 16 * PG);
    sim_free(s);
}

static void lazy_2_budget_2(struct mtp_policy_config *c)
{
    c->fast_budget = (struct mtp_size){MTP_SIZE_BYTES, 2 * PG, 0};
    c->lazy_initial = 2;
}

static void test_hotter_pages_displace_lazily(void **state)
{
    struct sim *s = sim_new(lazy_2_budget_2);

    (void)state;
    sim_add(s, 2, 20, FAST);  /* hot, but not the hottest */
    sim_add(s, 2, 900, SLOW); /* the hottest */
    sim_step(s);
    assert_int_equal(s->n_moves, 0); /* full, and the warm pages just fell out */
    sim_step(s);
    assert_int_equal(s->n_moves, 4);
    for (size_t i = 0; i < 4; i += 2) {
        /* each promotion right after the demotion that makes its room */
        assert_int_equal(s->moves[i].reason, MTP_MOVE_DEMOTE);
        assert_int_equal(s->moves[i + 1].reason, MTP_MOVE_PROMOTE);
    }
    assert_int_equal(count_on(s, FAST), 2);
    assert_int_equal(sim_page(s, BASE + 2 * PG)->node, FAST);
    sim_free(s);
}

static void lazy_4_budget_2(struct mtp_policy_config *c)
{
    c->fast_budget = (struct mtp_size){MTP_SIZE_BYTES, 2 * PG, 0};
    c->lazy_initial = 4;
}

/* The program's next phase: the fast node is full of pages that just went
 * cold, and the new hot set is on the slow node. */
static size_t intervals_until_the_new_hot_set_is_fast(void (*tune)(struct mtp_policy_config *))
{
    struct sim *s = sim_new(tune);
    size_t i;

    sim_add(s, 2, 500, FAST);
    sim_add(s, 2, 500, SLOW);
    sim_step(s); /* the budget holds the two fast pages: nothing moves */
    assert_int_equal(s->n_moves, 0);
    set_heat(s, 0, 2, 0);
    for (i = 1; i <= 8 && count_on(s, FAST) && sim_page(s, BASE)->node == FAST; i++)
        sim_step(s);
    assert_int_equal(sim_page(s, BASE + 2 * PG)->node, FAST);
    assert_int_equal(sim_page(s, BASE + 3 * PG)->node, FAST);
    sim_free(s);
    return i - 1;
}

/* Room for a promotion waits out laziness even for pages cold now (an
 * eager rule was measured and reverted: BENCHMARKS.md part 23, cq); N here
 * is where it starts, which the room's laziness never goes below. */
static void test_a_moved_hot_set_waits_out_laziness(void **state)
{
    (void)state;
    /* the cold pages must be unselected for N = 4 intervals */
    assert_int_equal(intervals_until_the_new_hot_set_is_fast(lazy_4_budget_2), 4);
}

static void lazy_2_to_8_budget_2(struct mtp_policy_config *c)
{
    c->fast_budget = (struct mtp_size){MTP_SIZE_BYTES, 2 * PG, 0};
    c->lazy_initial = 2;
    c->lazy_min = 1;
    c->lazy_max = 8;
    c->pingpong_window = 4;
}

/* Page 0 bounces until N has grown from 2 to 8; it ends on the fast node,
 * hot. */
static void bounce_n_to_8(struct sim *s)
{
    sim_add(s, 1, 100, FAST);
    while (mtp_policy_lazy_n(s->p) < 8) {
        unsigned n = mtp_policy_lazy_n(s->p);

        s->pages[0].heat = 0;
        for (unsigned i = 0; i < n; i++)
            sim_step(s);
        assert_int_equal(s->pages[0].node, SLOW);
        s->pages[0].heat = 100;
        sim_step(s);
        assert_int_equal(s->pages[0].node, FAST);
    }
}

/* Intervals until page 0, cold from now on, leaves the fast node: with a
 * hot page waiting for its room (demand), or with none. */
static unsigned intervals_until_a_cold_page_goes(bool demand)
{
    struct sim *s = sim_new(lazy_2_to_8_budget_2);
    unsigned i;

    bounce_n_to_8(s);
    sim_add(s, 1, 100, FAST); /* the budget's second page, hot throughout */
    if (demand)
        sim_add(s, 1, 500, SLOW);
    s->pages[0].heat = 0;
    for (i = 1; i <= 20; i++) {
        sim_step(s);
        if (s->pages[0].node == SLOW)
            break;
    }
    assert_int_equal(s->st.lazy_n, 8);
    assert_int_equal(count_reason(s, MTP_MOVE_DEMOTE), 1); /* judged like any lazy one */
    if (demand)
        assert_int_equal(sim_page(s, BASE + 2 * PG)->node, FAST);
    sim_free(s);
    return i;
}

/* Once N has grown, a page that makes room for a waiting promotion needs
 * half of N's cold intervals; an idle demotion still needs all of them
 * (BENCHMARKS.md section 6, part 37). */
static void test_room_for_a_promotion_needs_half_of_a_grown_n(void **state)
{
    (void)state;
    assert_int_equal(intervals_until_a_cold_page_goes(false), 8);
    assert_int_equal(intervals_until_a_cold_page_goes(true), 4);
}

static void lazy_2_budget_2_room_only(struct mtp_policy_config *c)
{
    lazy_2_budget_2(c);
    c->idle_floor_pct = 100;
}

static void lazy_2_budget_4_floor_50(struct mtp_policy_config *c)
{
    c->fast_budget = (struct mtp_size){MTP_SIZE_BYTES, 4 * PG, 0};
    c->lazy_initial = 2;
    c->idle_floor_pct = 50;
}

/* By default a page cold for N intervals goes even with room to spare, and
 * the plan says the demotion was idle. */
static void test_idle_demotions_are_counted(void **state)
{
    struct sim *s = sim_new(lazy_2_budget_2);

    (void)state;
    sim_add(s, 1, 0, FAST);
    sim_step(s);
    sim_step(s);
    assert_int_equal(s->n_moves, 1);
    assert_int_equal(s->moves[0].reason, MTP_MOVE_DEMOTE);
    assert_int_equal(s->st.demote, 1);
    assert_int_equal(s->st.idle, 1);
    sim_free(s);
}

/* An idle floor of 100%: a cold page stays while the budget has room, is
 * not counted as held back, and still makes room for a hotter page. */
static void test_room_only_keeps_cold_pages_until_room_is_needed(void **state)
{
    struct sim *s = sim_new(lazy_2_budget_2_room_only);

    (void)state;
    sim_add(s, 1, 0, FAST);
    for (int i = 0; i < 6; i++) {
        sim_step(s);
        assert_int_equal(s->n_moves, 0);
        assert_int_equal(s->st.deferred, 0);
    }
    sim_add(s, 1, 20, FAST); /* the budget is full now */
    sim_add(s, 1, 900, SLOW);
    sim_step(s);
    assert_int_equal(s->n_moves, 2);
    assert_int_equal(s->moves[0].addr, BASE); /* the cold page makes the room */
    assert_int_equal(s->moves[0].reason, MTP_MOVE_DEMOTE);
    assert_int_equal(s->moves[1].reason, MTP_MOVE_PROMOTE);
    assert_int_equal(s->st.idle, 0);
    assert_int_equal(count_on(s, FAST), 2);
    sim_free(s);
}

/* An idle floor of 50%: idle demotions stop at half the budget, coldest
 * first, and what the floor keeps is not counted as held back. */
static void test_idle_floor_keeps_a_share_of_the_budget(void **state)
{
    struct sim *s = sim_new(lazy_2_budget_4_floor_50);

    (void)state;
    sim_add(s, 1, 0, FAST);
    sim_add(s, 1, 1, FAST);
    sim_add(s, 1, 2, FAST);
    sim_add(s, 1, 3, FAST); /* all below the hot threshold: cold */
    sim_step(s);
    sim_step(s);
    assert_int_equal(s->n_moves, 2);
    assert_int_equal(s->moves[0].addr, BASE);
    assert_int_equal(s->moves[1].addr, BASE + PG);
    assert_int_equal(s->st.idle, 2);
    assert_int_equal(s->st.deferred, 0);
    sim_step(s);
    assert_int_equal(s->n_moves, 0);
    assert_int_equal(count_on(s, FAST), 2);
    sim_free(s);
}

/* ---- rate cap ---- */

static void cap_3_pages(struct mtp_policy_config *c)
{
    c->max_bytes_per_interval = 3 * PG + PG / 2;
    c->lazy_initial = 1;
}

static void test_rate_cap_limits_bytes_per_interval(void **state)
{
    struct sim *s = sim_new(cap_3_pages);

    (void)state;
    for (uint64_t i = 0; i < 10; i++)
        sim_add(s, 1, 100 + i, SLOW);
    sim_add(s, 2, 0, FAST);
    sim_plan(s);
    /* promotions take the cap; the cold pages wait */
    assert_int_equal(s->n_moves, 3);
    assert_int_equal(s->st.promote, 3);
    assert_int_equal(sim_page(s, s->moves[0].addr)->heat, 109);
    assert_int_equal(s->st.deferred, 9);
    sim_apply(s);
    for (int i = 0; i < 2; i++) {
        sim_step(s);
        assert_int_equal(s->st.promote, 3);
        assert_int_equal(s->st.demote, 0);
    }
    sim_step(s);
    assert_int_equal(s->st.promote, 1);
    assert_int_equal(s->st.demote, 2);
    assert_int_equal(s->st.deferred, 0);
    assert_int_equal(count_on(s, FAST), 10);
    sim_free(s);
}

static void test_moves_array_capacity_is_a_limit(void **state)
{
    struct sim *s = sim_new(NULL);
    struct mtp_policy_input in;
    struct mtp_move few[2];
    size_t n;

    (void)state;
    sim_add(s, 5, 100, SLOW);
    in = (struct mtp_policy_input){s->pages, s->n, &s->tiers, FAST, SLOW, s->rss, s->fast_free, 0};
    assert_int_equal(mtp_policy_plan(s->p, &in, few, 2, &n, &s->st), 0);
    assert_int_equal(n, 2);
    assert_int_equal(s->st.deferred, 3);
    sim_free(s);
}

/* ---- accounting ---- */

static void test_commit_counts_by_outcome(void **state)
{
    struct sim *s = sim_new(NULL);
    /* what move_pages reported, then where a query found each page */
    static const int status[] = {FAST,    -EBUSY, -EBUSY, -ENOMEM, -EFAULT,
                                 -EACCES, -EIO,   FAST,   -ENOENT, MTP_MOVE_NOT_MIGRATED};
    static const int after[] = {FAST, FAST, SLOW, SLOW, -EFAULT, SLOW, SLOW, SLOW, -ENOENT, SLOW};
    struct mtp_commit_result r;
    struct mtp_policy_totals t;

    (void)state;
    sim_add(s, 10, 100, SLOW);
    sim_plan(s);
    assert_int_equal(s->n_moves, 10);
    mtp_policy_commit(s->p, s->moves, 10, status, after, &r);
    assert_int_equal(r.moved, 2);
    assert_int_equal(r.promoted, 2);
    assert_int_equal(r.moved_bytes, 2 * PG);
    assert_int_equal(r.moved_despite_error, 1); /* THP: -EBUSY yet moved */
    assert_int_equal(r.busy, 1);
    assert_int_equal(r.nomem, 1);
    assert_int_equal(r.gone, 2);
    assert_int_equal(r.access, 1);
    assert_int_equal(r.refused, 1);
    /* -EIO, and a success the query contradicts */
    assert_int_equal(r.other, 2);
    mtp_policy_totals(s->p, &t);
    assert_int_equal(t.moved, 2);
    assert_int_equal(t.failed, 8);

    /* without a re-query only a status naming the target counts */
    mtp_policy_commit(s->p, s->moves, 3, status, NULL, &r);
    assert_int_equal(r.moved, 1);
    assert_int_equal(r.busy, 2);
    sim_free(s);
}

static void lazy_1(struct mtp_policy_config *c)
{
    c->lazy_initial = 1;
}

/* Commits the plan with the moves to node `to` refused (err as
 * move_pages's status, each page still where it was) and the rest done. */
static void sim_refuse(struct sim *s, int to, int err)
{
    static int status[MAX_PAGES], after[MAX_PAGES];

    for (size_t i = 0; i < s->n_moves; i++) {
        struct mtp_policy_page *pg = sim_page(s, s->moves[i].addr);

        if (s->moves[i].to_node == to) {
            status[i] = err;
        } else {
            pg->node = s->moves[i].to_node;
            status[i] = pg->node;
        }
        after[i] = pg->node;
    }
    mtp_policy_commit(s->p, s->moves, s->n_moves, status, after, NULL);
}

/* A full fast node (move_pages: -ENOMEM) holds promotions back for 1, then
 * 2 intervals, while lazy demotions go on; a batch that goes through ends
 * the hold.  Without it, every interval would retry the same pages. */
static void test_full_fast_node_holds_promotions(void **state)
{
    struct sim *s = sim_new(lazy_1);
    struct mtp_policy_totals t;

    (void)state;
    sim_add(s, 20, 100, SLOW);
    sim_plan(s);
    assert_int_equal(s->st.promote, 20);
    assert_int_equal(s->st.promote_held, 0);
    sim_refuse(s, FAST, -ENOMEM);
    sim_add(s, 5, 0, FAST); /* cold at once with N = 1 */

    sim_plan(s); /* held one interval; the cold fast pages still go */
    assert_int_equal(s->st.promote, 0);
    assert_int_equal(s->st.promote_held, 1);
    assert_int_equal(s->st.deferred, 20);
    assert_int_equal(s->st.demote, 5);
    sim_refuse(s, SLOW, -ENOMEM); /* the slow node is full too: demotions back off */

    sim_plan(s); /* promotions retried, demotions held */
    assert_int_equal(s->st.promote, 20);
    assert_int_equal(s->st.demote, 0);
    assert_int_equal(s->st.demote_held, 1);
    sim_refuse(s, FAST, -ENOMEM);
    for (int k = 2; k >= 1; k--) {
        sim_plan(s);
        assert_int_equal(s->st.promote, 0);
        assert_int_equal(s->st.promote_held, k);
    }
    sim_step(s); /* room again: everything moves, and the hold is over */
    assert_int_equal(s->st.promote, 20);
    sim_add(s, 3, 100, SLOW);
    sim_plan(s);
    assert_int_equal(s->st.promote_held, 0);
    assert_int_equal(s->st.promote, 3);
    sim_apply(s);
    /* the kernel's own report of a full node: the batch not migrated, no
     * status written */
    sim_add(s, 4, 100, SLOW);
    sim_plan(s);
    assert_int_equal(s->st.promote, 4);
    sim_refuse(s, FAST, MTP_MOVE_NOT_MIGRATED);
    sim_plan(s);
    assert_int_equal(s->st.promote_held, 1);
    mtp_policy_totals(s->p, &t);
    assert_int_equal(t.backoffs, 4);
    sim_free(s);
}

/* A failed demotion leaves no trace: the page coming back hot is not a
 * ping-pong, and it is planned again.  A THP demotion reported -EBUSY that
 * did happen is a real demotion and is judged. */
static void test_state_follows_the_requery(void **state)
{
    struct sim *s = sim_new(lazy_1);
    int busy[2] = {-EBUSY, -EBUSY};
    int after[2];
    struct mtp_commit_result r;

    (void)state;
    sim_add(s, 2, 0, FAST);
    sim_plan(s);
    assert_int_equal(s->n_moves, 2);
    for (size_t i = 0; i < 2; i++)
        after[i] = s->moves[i].addr == BASE ? FAST : SLOW;
    mtp_policy_commit(s->p, s->moves, 2, busy, after, &r);
    assert_int_equal(r.moved, 1);
    assert_int_equal(r.moved_despite_error, 1);
    assert_int_equal(r.busy, 1);
    s->pages[1].node = SLOW;

    sim_plan(s); /* still cold: the unmoved page is planned again */
    assert_int_equal(s->n_moves, 1);
    assert_int_equal(s->moves[0].addr, BASE);
    mtp_policy_commit(s->p, s->moves, 0, NULL, NULL, NULL);

    set_heat(s, 0, 2, 100);
    sim_plan(s);
    assert_int_equal(s->st.pingpongs, 1); /* only the page that really moved */
    assert_int_equal(s->st.promote, 1);
    sim_free(s);
}

/* ---- state table ---- */

static void window_3(struct mtp_policy_config *c)
{
    c->lazy_initial = 1;
    c->pingpong_window = 3;
}

static void test_forgets_unreported_pages(void **state)
{
    struct sim *s = sim_new(window_3);

    (void)state;
    sim_add(s, 1, 0, FAST);   /* will be demoted, then vanish */
    sim_add(s, 3, 100, SLOW); /* will vanish at once */
    sim_step(s);
    assert_int_equal(s->st.pages_tracked, 4);
    assert_int_equal(s->st.demote, 1);

    s->n = 0;
    sim_step(s);
    /* the demoted page is kept while its demotion is judged */
    assert_int_equal(s->st.pages_tracked, 1);
    sim_step(s);
    sim_step(s);
    assert_int_equal(s->st.pages_tracked, 1);
    sim_step(s);
    assert_int_equal(s->st.judged, 1);
    assert_int_equal(s->st.pages_tracked, 0);
    sim_free(s);
}

static void test_duplicates_and_absent_pages(void **state)
{
    struct sim *s = sim_new(NULL);

    (void)state;
    sim_add(s, 1, 100, SLOW);
    s->pages[s->n++] = s->pages[0]; /* reported twice */
    sim_add(s, 1, 100, -ENOENT);    /* not faulted in */
    sim_add(s, 1, 100, -EFAULT);    /* unmapped */
    sim_add(s, 1, 100, 5);          /* a node in no tier */
    sim_plan(s);
    assert_int_equal(s->st.pages_in, 4);
    assert_int_equal(s->st.elsewhere, 3);
    assert_int_equal(s->n_moves, 1);
    assert_int_equal(s->moves[0].addr, BASE);
    sim_free(s);
}

/* ---- invariants over a long random run ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void random_setup(struct mtp_policy_config *c)
{
    c->fast_budget = (struct mtp_size){MTP_SIZE_PERCENT, 0, 30};
    c->watermark_bytes = 100 * PG;
    c->max_bytes_per_interval = 200 * PG;
    c->lazy_initial = 2;
    c->lazy_max = 16;
    c->pingpong_window = 5;
}

static void test_random_run_keeps_invariants(void **state)
{
    struct sim *s = sim_new(random_setup);
    static int status[MAX_PAGES], after[MAX_PAGES];
    uint64_t moved_seen = 0;

    (void)state;
    for (int round = 0; round < 300; round++) {
        uint64_t fast_now = 0;

        /* the working set grows to thousands of pages, then shrinks, so
         * the table both grows and shrinks */
        s->n = round < 150 ? 20 + (size_t)round * 40 : 6000 - (size_t)(round - 150) * 39;
        for (size_t i = 0; i < s->n; i++) {
            struct mtp_policy_page *pg = &s->pages[i];

            if (pg->addr != BASE + i * PG)
                *pg = (struct mtp_policy_page){BASE + i * PG, 0, rng() % 2 ? FAST : SLOW, false};
            /* a hot region drifting through the address space */
            pg->heat = (i / 64 + round / 20) % 5 == 0 ? 50 + rng() % 50 : rng() % 12;
            fast_now += pg->node == FAST ? PG : 0;
        }
        s->rss = s->n * PG;
        s->fast_free = 90 * PG + (rng() % 400) * PG;
        sim_plan(s);

        assert_true(s->st.promote_bytes + s->st.demote_bytes <= s->cfg.max_bytes_per_interval);
        assert_int_equal(s->st.budget_used_bytes, fast_now);
        if (s->st.promote)
            assert_true(s->st.fast_bytes_planned <= s->st.budget_bytes);
        if (fast_now <= s->st.budget_bytes)
            assert_true(s->st.fast_bytes_planned <= s->st.budget_bytes);
        assert_true(s->st.lazy_n >= 1 && s->st.lazy_n <= 16);
        for (size_t i = 0; i < s->n_moves; i++) {
            struct mtp_policy_page *pg = sim_page(s, s->moves[i].addr);

            assert_int_equal(pg->node, s->moves[i].from_node);
            assert_int_not_equal(s->moves[i].from_node, s->moves[i].to_node);
            /* a random third of the moves fail; THP-style half of those
             * moved anyway */
            switch (rng() % 6) {
            case 0:
                status[i] = -EBUSY;
                after[i] = pg->node;
                break;
            case 1:
                status[i] = -EBUSY;
                after[i] = s->moves[i].to_node;
                break;
            default:
                status[i] = after[i] = s->moves[i].to_node;
            }
            if (after[i] == s->moves[i].to_node) {
                pg->node = after[i];
                moved_seen++;
            }
        }
        {
            struct mtp_commit_result r;

            mtp_policy_commit(s->p, s->moves, s->n_moves, status, after, &r);
            assert_int_equal(r.moved + r.busy, s->n_moves);
        }
    }
    {
        struct mtp_policy_totals t;

        mtp_policy_totals(s->p, &t);
        assert_int_equal(t.moved, moved_seen);
        assert_int_equal(t.intervals, 300);
        assert_true(t.moved > 1000);
    }
    sim_free(s);
}

/* ---- reconfigure ---- */

/* Lets page 0 go cold until it is lazily demoted, then heats it again: one
 * ping-pong, which doubles N (within lazy_max). */
static void bounce_page_0(struct sim *s)
{
    unsigned n = mtp_policy_lazy_n(s->p);

    s->pages[0].heat = 0;
    for (unsigned i = 0; i < n; i++)
        sim_step(s);
    assert_int_equal(s->st.demote, 1);
    assert_int_equal(s->pages[0].node, SLOW);
    s->pages[0].heat = 100;
    sim_step(s);
    assert_int_equal(s->st.pingpongs, 1);
    assert_int_equal(s->pages[0].node, FAST);
}

static void test_reconfigure_rejects_and_keeps_state(void **state)
{
    struct sim *s = sim_new(lazy_2_window_4);
    struct mtp_policy_config c;
    char err[160];

    (void)state;
    sim_add(s, 1, 100, FAST);
    bounce_page_0(s);
    assert_int_equal(mtp_policy_lazy_n(s->p), 4);

    /* a new window, even with other valid changes */
    c = s->cfg;
    c.pingpong_window = 5;
    c.lazy_initial = 3;
    c.hot_threshold = 1000;
    err[0] = '\0';
    assert_int_equal(mtp_policy_reconfigure(s->p, &c, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "ping-pong window cannot change"));
    assert_int_equal(mtp_policy_lazy_n(s->p), 4);
    assert_int_equal(mtp_policy_reconfigure(s->p, &c, NULL, 0), -EINVAL);

    /* configs mtp_policy_config_check() refuses */
    c = s->cfg;
    c.hot_threshold = 0;
    c.lazy_initial = 3;
    assert_int_equal(mtp_policy_reconfigure(s->p, &c, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "zero-heat pages are cold"));
    c = s->cfg;
    c.lazy_min = 5; /* above lazy_initial 2 */
    assert_int_equal(mtp_policy_reconfigure(s->p, &c, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "min (5) <= initial (2)"));
    c = s->cfg;
    c.max_bytes_per_interval = PG - 1;
    c.fast_budget = (struct mtp_size){MTP_SIZE_BYTES, PG, 0};
    assert_int_equal(mtp_policy_reconfigure(s->p, &c, err, sizeof(err)), -EINVAL);
    assert_int_equal(mtp_policy_lazy_n(s->p), 4);

    /* the old settings still govern: threshold 10 (not 1000), budget 1000
     * pages (not 1), no rate cap, N = 4 */
    sim_add(s, 2, 50, SLOW);
    sim_step(s);
    assert_int_equal(s->st.promote, 2);
    assert_int_equal(s->st.lazy_n, 4);
    s->pages[0].heat = 0;
    for (int i = 0; i < 3; i++) {
        sim_step(s);
        assert_int_equal(s->n_moves, 0);
    }
    sim_step(s);
    assert_int_equal(s->st.demote, 1);
    sim_free(s);
}

static void test_reconfigure_applies_new_settings(void **state)
{
    struct sim *s = sim_new(NULL);
    struct mtp_policy_config c;
    char err[160];

    (void)state;
    sim_add(s, 6, 50, SLOW);
    c = s->cfg;
    c.fast_budget = (struct mtp_size){MTP_SIZE_BYTES, 4 * PG, 0};
    c.max_bytes_per_interval = 3 * PG;
    assert_int_equal(mtp_policy_reconfigure(s->p, &c, err, sizeof(err)), 0);
    sim_step(s);
    assert_int_equal(s->st.promote, 3); /* the new rate cap */
    sim_step(s);
    assert_int_equal(s->st.promote, 1); /* the new budget: 4 pages */
    assert_int_equal(count_on(s, FAST), 4);

    c.hot_threshold = 60; /* now nothing is hot */
    c.max_bytes_per_interval = 0;
    assert_int_equal(mtp_policy_reconfigure(s->p, &c, err, sizeof(err)), 0);
    sim_step(s);
    assert_int_equal(s->st.hot, 0);
    assert_int_equal(s->st.promote, 0);
    sim_free(s);
}

static void test_reconfigure_new_lazy_restarts_n(void **state)
{
    struct sim *s = sim_new(lazy_2_window_4);
    struct mtp_policy_config c;
    char err[160];

    (void)state;
    sim_add(s, 1, 100, FAST);
    bounce_page_0(s);
    assert_int_equal(mtp_policy_lazy_n(s->p), 4);

    /* other changes keep the N adaptation reached */
    c = s->cfg;
    c.hot_threshold = 20;
    c.fast_budget = (struct mtp_size){MTP_SIZE_BYTES, 500 * PG, 0};
    assert_int_equal(mtp_policy_reconfigure(s->p, &c, err, sizeof(err)), 0);
    assert_int_equal(mtp_policy_lazy_n(s->p), 4);

    /* a new starting N restarts adaptation there */
    c.lazy_initial = 3;
    assert_int_equal(mtp_policy_reconfigure(s->p, &c, err, sizeof(err)), 0);
    assert_int_equal(mtp_policy_lazy_n(s->p), 3);
    sim_step(s);
    assert_int_equal(s->st.lazy_n, 3);

    /* and adaptation goes on from it: 3 doubles to 6 (the max) */
    bounce_page_0(s);
    assert_int_equal(mtp_policy_lazy_n(s->p), 6);
    assert_int_equal(mtp_policy_reconfigure(s->p, &c, err, sizeof(err)), 0);
    assert_int_equal(mtp_policy_lazy_n(s->p), 6); /* the same config again */
    sim_free(s);
}

static void test_reconfigure_eager_forces_n_1(void **state)
{
    struct sim *s = sim_new(lazy_2_window_4);
    struct mtp_policy_config c;
    char err[160];

    (void)state;
    sim_add(s, 1, 100, FAST);
    bounce_page_0(s);
    assert_int_equal(mtp_policy_lazy_n(s->p), 4);

    c = s->cfg;
    c.eager = true;
    assert_int_equal(mtp_policy_reconfigure(s->p, &c, err, sizeof(err)), 0);
    assert_int_equal(mtp_policy_lazy_n(s->p), 1);
    s->pages[0].heat = 0; /* demoted after one cold interval */
    sim_step(s);
    assert_int_equal(s->st.demote, 1);
    assert_int_equal(s->st.lazy_n, 1);
    s->pages[0].heat = 100; /* a bounce does not grow N in eager mode */
    sim_step(s);
    assert_int_equal(s->st.pingpongs, 1);
    assert_int_equal(s->st.lazy_n, 1);

    /* leaving eager mode restarts N at lazy_initial */
    c.eager = false;
    assert_int_equal(mtp_policy_reconfigure(s->p, &c, err, sizeof(err)), 0);
    assert_int_equal(mtp_policy_lazy_n(s->p), 2);
    sim_free(s);
}

/* Eager mode fixes N = 1 whatever the lazy bounds, as at creation (see
 * test_eager_demotes_at_once_and_never_adapts, where lazy_min is 5). */
static void test_reconfigure_eager_ignores_lazy_bounds(void **state)
{
    struct sim *s = sim_new(lazy_3);
    struct mtp_policy_config c;
    char err[160];

    (void)state;
    c = s->cfg;
    eager(&c); /* eager, lazy 5 in [5, 5] */
    assert_int_equal(mtp_policy_reconfigure(s->p, &c, err, sizeof(err)), 0);
    assert_int_equal(mtp_policy_lazy_n(s->p), 1);
    sim_add(s, 1, 0, FAST);
    sim_step(s);
    assert_int_equal(s->st.demote, 1);
    sim_free(s);
}

static void test_reconfigure_clamps_n(void **state)
{
    struct sim *s = sim_new(lazy_2_window_4);
    struct mtp_policy_config c;
    char err[160];

    (void)state;
    sim_add(s, 1, 100, FAST);
    bounce_page_0(s);
    assert_int_equal(mtp_policy_lazy_n(s->p), 4);
    c = s->cfg;
    c.lazy_max = 3; /* lazy_initial 2 unchanged: N is clamped, not restarted */
    assert_int_equal(mtp_policy_reconfigure(s->p, &c, err, sizeof(err)), 0);
    assert_int_equal(mtp_policy_lazy_n(s->p), 3);
    c.lazy_max = 6; /* a wider range does not raise N */
    assert_int_equal(mtp_policy_reconfigure(s->p, &c, err, sizeof(err)), 0);
    assert_int_equal(mtp_policy_lazy_n(s->p), 3);
    sim_free(s);

    /* N shrunk below lazy_initial (as in n_after_good_demotions), then a
     * raised lazy_min lifts it */
    s = sim_new(shrink_setup);
    sim_add(s, 2, 0, FAST);
    sim_add(s, 14, 100, FAST);
    for (int i = 0; i < 5; i++)
        sim_step(s);
    sim_add(s, 3, 100, FAST);
    sim_step(s);
    assert_int_equal(mtp_policy_lazy_n(s->p), 2);
    c = s->cfg;
    c.lazy_min = 3; /* lazy_initial is 3 already */
    assert_int_equal(mtp_policy_reconfigure(s->p, &c, err, sizeof(err)), 0);
    assert_int_equal(mtp_policy_lazy_n(s->p), 3);
    sim_free(s);
}

static void lazy_5(struct mtp_policy_config *c)
{
    c->lazy_initial = 5;
    c->lazy_min = 1;
    c->lazy_max = 16;
}

static void test_reconfigure_keeps_page_state(void **state)
{
    struct sim *s = sim_new(lazy_3);
    struct mtp_policy_config c;
    char err[160];

    (void)state;
    /* a cold streak continues: two cold intervals, a reconfigure, the third
     * demotes */
    sim_add(s, 1, 0, FAST);
    sim_add(s, 1, 100, FAST);
    sim_step(s);
    sim_step(s);
    assert_int_equal(s->n_moves, 0);
    c = s->cfg;
    c.hot_threshold = 20;
    c.fast_budget = (struct mtp_size){MTP_SIZE_BYTES, 900 * PG, 0};
    assert_int_equal(mtp_policy_reconfigure(s->p, &c, err, sizeof(err)), 0);
    sim_step(s);
    assert_int_equal(s->n_moves, 1);
    assert_int_equal(s->moves[0].addr, BASE);
    assert_int_equal(s->moves[0].reason, MTP_MOVE_DEMOTE);

    /* the demotion is still judged after another reconfigure: it bounces */
    c.max_bytes_per_interval = 64 * PG;
    assert_int_equal(mtp_policy_reconfigure(s->p, &c, err, sizeof(err)), 0);
    s->pages[0].heat = 100;
    sim_step(s);
    assert_int_equal(s->st.pingpongs, 1);
    assert_int_equal(s->st.judged, 1);
    assert_int_equal(s->st.promote, 1);
    sim_free(s);

    /* a streak counts against a new, shorter N at once */
    s = sim_new(lazy_5);
    sim_add(s, 1, 0, FAST);
    for (int i = 0; i < 3; i++) {
        sim_step(s);
        assert_int_equal(s->n_moves, 0);
    }
    c = s->cfg;
    c.lazy_initial = 3;
    assert_int_equal(mtp_policy_reconfigure(s->p, &c, err, sizeof(err)), 0);
    sim_step(s); /* the fourth cold interval, N = 3 */
    assert_int_equal(s->st.demote, 1);
    sim_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_check),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_promotes_hot_slow_pages_hottest_first),
        cmocka_unit_test(test_budget_caps_promotions),
        cmocka_unit_test(test_untracked_pages_make_room_for_hot_ones),
        cmocka_unit_test(test_untracked_pages_are_not_demoted_proactively),
        cmocka_unit_test(test_untracked_pages_count_toward_the_budget),
        cmocka_unit_test(test_promoted_only_never_moves_first_touch_pages),
        cmocka_unit_test(test_promoted_only_undoes_its_own_promotions),
        cmocka_unit_test(test_percent_budget_follows_rss),
        cmocka_unit_test(test_headroom_takes_the_programs_new_pages),
        cmocka_unit_test(test_headroom_decays_when_allocations_stop),
        cmocka_unit_test(test_fixed_headroom_stops_promotions_short),
        cmocka_unit_test(test_headroom_is_opened_while_the_node_refuses),
        cmocka_unit_test(test_watermark_limits_budget),
        cmocka_unit_test(test_lazy_demotion_needs_n_cold_intervals),
        cmocka_unit_test(test_warming_resets_cold_streak),
        cmocka_unit_test(test_eager_demotes_at_once_and_never_adapts),
        cmocka_unit_test(test_pingpong_grows_n),
        cmocka_unit_test(test_rare_pingpong_does_not_grow_n),
        cmocka_unit_test(test_large_cohort_does_not_dilute_a_small_ones_bounces),
        cmocka_unit_test(test_good_demotions_under_pressure_shrink_n),
        cmocka_unit_test(test_shrink_stops_at_min),
        cmocka_unit_test(test_severe_excess_ignores_laziness),
        cmocka_unit_test(test_mild_excess_stays_lazy_and_blocks_promotion),
        cmocka_unit_test(test_hotter_pages_displace_lazily),
        cmocka_unit_test(test_idle_demotions_are_counted),
        cmocka_unit_test(test_room_only_keeps_cold_pages_until_room_is_needed),
        cmocka_unit_test(test_idle_floor_keeps_a_share_of_the_budget),
        cmocka_unit_test(test_a_moved_hot_set_waits_out_laziness),
        cmocka_unit_test(test_room_for_a_promotion_needs_half_of_a_grown_n),
        cmocka_unit_test(test_rate_cap_limits_bytes_per_interval),
        cmocka_unit_test(test_moves_array_capacity_is_a_limit),
        cmocka_unit_test(test_commit_counts_by_outcome),
        cmocka_unit_test(test_full_fast_node_holds_promotions),
        cmocka_unit_test(test_state_follows_the_requery),
        cmocka_unit_test(test_forgets_unreported_pages),
        cmocka_unit_test(test_duplicates_and_absent_pages),
        cmocka_unit_test(test_random_run_keeps_invariants),
        cmocka_unit_test(test_reconfigure_rejects_and_keeps_state),
        cmocka_unit_test(test_reconfigure_applies_new_settings),
        cmocka_unit_test(test_reconfigure_new_lazy_restarts_n),
        cmocka_unit_test(test_reconfigure_eager_forces_n_1),
        cmocka_unit_test(test_reconfigure_eager_ignores_lazy_bounds),
        cmocka_unit_test(test_reconfigure_clamps_n),
        cmocka_unit_test(test_reconfigure_keeps_page_state),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
