/* SPDX-License-Identifier: MIT */
/*
 * The tiering decision (rules in policy.h).  Some 700 lines, above the
 * loader's ~500, on purpose: selection, planning, judging and adaptation all
 * work on struct mtp_policy and struct cand, which stay private to this file
 * rather than be published to a second one.  The per-page table they share
 * is apart, in page_states.c.
 */
#include "policy.h"

#include "cmp.h"
#include "errmsg.h"
#include "headroom.h"
#include "move_backoff.h"
#include "page_states.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtp_abi.h"

#define PAGE_BYTES ((uint64_t)MTP_PAGE_SIZE)

/* An excess above budget >> SEVERE_SHIFT overrides laziness. */
#define SEVERE_SHIFT 3
/* The headroom is at most budget >> HEADROOM_CAP_SHIFT: room kept for the
 * program's new pages must not cost most of the fast tier's. */
#define HEADROOM_CAP_SHIFT 2
/* N doubles when the bounces of one interval's demotions are at least this
 * fraction (1/DIV) of them. */
#define PINGPONG_GROW_DIV 8
/* Judging a demotion for longer than this says nothing about laziness any
 * more, and the per-interval ring must stay small. */
#define MAX_WINDOW 4096
/* One reported page while an interval is being planned. */
struct cand {
    uint64_t heat;
    uint64_t addr;
    struct mtp_page_state *st;
    int node;
    enum mtp_tier_class cls;
    bool selected;
    bool taken;     /* a move for it has been emitted */
    bool untracked; /* only a victim when room is needed */
};

struct mtp_policy {
    struct mtp_policy_config cfg;
    struct mtp_page_states pages; /* what is remembered per page */
    uint32_t interval;
    unsigned lazy_n;
    struct cand *cands;
    size_t cands_cap;
    /* the lazy demotions of each of the last window + 1 intervals, and how
     * many of them bounced since, indexed by the demotion's interval modulo
     * that length: a cohort is judged on its own pages, so one large cohort
     * of good demotions cannot hide a small one that came straight back */
    uint32_t *ring_demoted;
    uint32_t *ring_bounced;
    size_t ring_len;
    struct mtp_policy_totals totals;
    /* moves held back from a node that refused them: promotions, demotions */
    struct mtp_move_backoff backoff[2];
    struct mtp_headroom headroom; /* the measured one (headroom_auto) */
};

void mtp_policy_config_default(struct mtp_policy_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->fast_budget.kind = MTP_SIZE_PERCENT;
    cfg->fast_budget.percent = 100;
    cfg->watermark_bytes = MTP_DEFAULT_WATERMARK_BYTES;
    cfg->hot_threshold = 1;
    /* the prototype's fixed "second cold round" is where adaptation starts */
    cfg->lazy_initial = 2;
    cfg->lazy_min = 1;
    cfg->lazy_max = 16;
    cfg->pingpong_window = 8;
    cfg->headroom_auto = true;
}

int mtp_policy_config_check(const struct mtp_policy_config *cfg, char *err, size_t errlen)
{
    const struct mtp_size *b = &cfg->fast_budget;

    if (b->kind == MTP_SIZE_BYTES ? !b->bytes : !(b->percent > 0 && b->percent <= 100)) {
        mtp_set_err(err, errlen, "fast budget must be above zero bytes, or in (0%%, 100%%]");
        return -EINVAL;
    }
    if (!cfg->hot_threshold) {
        mtp_set_err(err, errlen, "hot threshold must be at least 1: zero-heat pages are cold");
        return -EINVAL;
    }
    if (!cfg->eager && (!cfg->lazy_min || cfg->lazy_min > cfg->lazy_initial ||
                        cfg->lazy_initial > cfg->lazy_max)) {
        mtp_set_err(err, errlen, "lazy demotion needs 1 <= min (%u) <= initial (%u) <= max (%u)",
                    cfg->lazy_min, cfg->lazy_initial, cfg->lazy_max);
        return -EINVAL;
    }
    if (cfg->idle_floor_pct > 100) {
        mtp_set_err(err, errlen, "idle floor must be 0 to 100%% of the budget, not %u%%",
                    cfg->idle_floor_pct);
        return -EINVAL;
    }
    if (!cfg->pingpong_window || cfg->pingpong_window > MAX_WINDOW) {
        mtp_set_err(err, errlen, "ping-pong window must be 1 to %d intervals", MAX_WINDOW);
        return -EINVAL;
    }
    if (cfg->max_bytes_per_interval && cfg->max_bytes_per_interval < PAGE_BYTES) {
        mtp_set_err(
            err, errlen, "rate limit allows %llu bytes per interval, less than one %llu-byte page",
            (unsigned long long)cfg->max_bytes_per_interval, (unsigned long long)PAGE_BYTES);
        return -EINVAL;
    }
    return 0;
}

struct mtp_policy *mtp_policy_create(const struct mtp_policy_config *cfg)
{
    struct mtp_policy *p;

    if (mtp_policy_config_check(cfg, NULL, 0))
        return NULL;
    p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->cfg = *cfg;
    p->lazy_n = cfg->eager ? 1 : cfg->lazy_initial;
    p->ring_len = (size_t)cfg->pingpong_window + 1;
    p->ring_demoted = calloc(p->ring_len, sizeof(*p->ring_demoted));
    p->ring_bounced = calloc(p->ring_len, sizeof(*p->ring_bounced));
    if (mtp_page_states_init(&p->pages) < 0 || !p->ring_demoted || !p->ring_bounced) {
        mtp_policy_destroy(p);
        return NULL;
    }
    return p;
}

void mtp_policy_destroy(struct mtp_policy *p)
{
    if (!p)
        return;
    mtp_page_states_free(&p->pages);
    free(p->cands);
    free(p->ring_demoted);
    free(p->ring_bounced);
    free(p);
}

int mtp_policy_reconfigure(struct mtp_policy *p, const struct mtp_policy_config *cfg, char *err,
                           size_t errlen)
{
    bool lazy_changed;

    if (mtp_policy_config_check(cfg, err, errlen) < 0)
        return -EINVAL;
    /* The bounce history is sized by the window; keeping it keeps adaptation
     * continuous across a change of budget or rate. */
    if (cfg->pingpong_window != p->cfg.pingpong_window) {
        mtp_set_err(err, errlen, "the ping-pong window cannot change while tracing");
        return -EINVAL;
    }
    lazy_changed = cfg->lazy_initial != p->cfg.lazy_initial || cfg->eager != p->cfg.eager;
    p->cfg = *cfg;
    if (cfg->eager) {
        p->lazy_n = 1; /* as mtp_policy_create() does: eager ignores the bounds */
        return 0;
    }
    if (lazy_changed)
        p->lazy_n = cfg->lazy_initial;
    if (p->lazy_n < cfg->lazy_min)
        p->lazy_n = cfg->lazy_min;
    if (p->lazy_n > cfg->lazy_max)
        p->lazy_n = cfg->lazy_max;
    return 0;
}

unsigned mtp_policy_lazy_n(const struct mtp_policy *p)
{
    return p->lazy_n;
}

double mtp_policy_pingpong_rate(const struct mtp_policy *p)
{
    if (!p->totals.judged)
        return 0;
    return (double)p->totals.pingpongs / (double)p->totals.judged;
}

void mtp_policy_totals(const struct mtp_policy *p, struct mtp_policy_totals *out)
{
    *out = p->totals;
}

/* Hottest first; at equal heat a page already on the fast tier wins, so ties
 * do not swap pages back and forth; the address makes the order total. */
static int cmp_hottest(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    bool xf = x->cls == MTP_TIER_FAST, yf = y->cls == MTP_TIER_FAST;

    if (x->heat != y->heat)
        return MTP_CMP(y->heat, x->heat); /* descending */
    if (xf != yf)
        return MTP_CMP(yf, xf); /* fast first */
    return MTP_CMP(x->addr, y->addr);
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t budget_bytes(const struct mtp_policy *p, const struct mtp_policy_input *in,
                             uint64_t fast_used)
{
    uint64_t budget = mtp_size_resolve(&p->cfg.fast_budget, in->rss_bytes);
    uint64_t room, wm = p->cfg.watermark_bytes, free_b = in->fast_free_bytes;

    if (free_b == MTP_FREE_UNKNOWN)
        return budget;
    if (free_b >= wm)
        room = sat_add(fast_used, free_b - wm);
    else
        room = fast_used > wm - free_b ? fast_used - (wm - free_b) : 0;
    return budget < room ? budget : room;
}

/* Of the budget, what promotions leave free for the program's new pages
 * (headroom.h); also measures it, once an interval. */
static uint64_t headroom_bytes(struct mtp_policy *p, const struct mtp_policy_input *in,
                               uint64_t fast_used, uint64_t budget)
{
    struct mtp_headroom_reading r = {
        .free_known = in->fast_free_bytes != MTP_FREE_UNKNOWN,
        .free_bytes = in->fast_free_bytes,
        .watermark_bytes = p->cfg.watermark_bytes,
        .refused_known = in->fast_refused_bytes != MTP_REFUSED_UNKNOWN,
        .refused_bytes = in->fast_refused_bytes,
        .over_budget = fast_used > budget,
        .cap_bytes = budget >> HEADROOM_CAP_SHIFT,
    };

    /* observed in both modes: a fixed headroom is opened on the same sign
     * of refusal as a measured one */
    uint64_t measured = mtp_headroom_observe(&p->headroom, &r);

    if (!p->cfg.headroom_auto)
        return p->cfg.headroom_bytes < r.cap_bytes ? p->cfg.headroom_bytes : r.cap_bytes;
    return measured;
}

/* Everything one interval's move emission needs to share. */
struct planner {
    struct mtp_policy *p;
    const struct mtp_policy_input *in;
    struct cand *c; /* sorted hottest first */
    size_t n;
    struct mtp_move *moves;
    size_t cap;
    size_t n_moves;
    uint64_t byte_cap;
    uint64_t spent;
    uint64_t fast;           /* projected fast bytes */
    unsigned room_n;         /* the streak a victim needs when room is needed */
    size_t victim;           /* coldest-first cursor: index into c from the end */
    size_t untracked_victim; /* the same, over untracked pages */
    size_t idle_from;        /* moves[idle_from..] are step 3's idle demotions */
    bool idle_floor_reached; /* step 3 stopped at the idle floor, not the cap */
    bool promotions_held;    /* the cap, the array or a backoff stopped promoting */
    bool demotions_held;     /* the slow node refused the last ones */
};

static bool can_spend(struct planner *pl, size_t pages)
{
    return pl->n_moves + pages <= pl->cap && pl->spent + pages * PAGE_BYTES <= pl->byte_cap;
}

static void emit(struct planner *pl, struct cand *c, int to, enum mtp_move_reason why)
{
    pl->moves[pl->n_moves++] = (struct mtp_move){c->addr, c->node, to, why};
    pl->spent += PAGE_BYTES;
    c->taken = true;
    if (why == MTP_MOVE_PROMOTE)
        pl->fast += PAGE_BYTES;
    else
        pl->fast -= PAGE_BYTES;
}

/* Any demotion must pass this; see "Promoted only" in policy.h. */
static bool may_demote(const struct planner *pl, const struct cand *c)
{
    return c->cls == MTP_TIER_FAST && !c->selected && !c->taken &&
           (!pl->p->cfg.demote_promoted_only || c->st->promoted);
}

static bool lazy_eligible(const struct planner *pl, const struct cand *c)
{
    return may_demote(pl, c) && !c->untracked && c->st->unselected >= pl->p->lazy_n;
}

/*
 * The streak a victim needs when a demotion makes room (for a selected page
 * waiting on the slow tier, or for the budget): half of N, but not below N's
 * starting value.  The room is wanted now, while an idle demotion gains
 * nothing until it is: with N grown to 16, pages that went cold after the
 * program's build kept node 0 for 16 intervals while the hot pages that
 * needed the room waited (BENCHMARKS section 6, part 37).
 */
static unsigned room_laziness(const struct mtp_policy *p)
{
    unsigned half = p->lazy_n / 2;

    if (half < p->cfg.lazy_initial)
        half = p->cfg.lazy_initial;
    return half < p->lazy_n ? half : p->lazy_n;
}

/* The coldest unselected fast page that may go now, or NULL.  Untracked
 * pages go only when room is needed, and then first: a tracked page that
 * went cold was at least seen in use. */
static struct cand *next_victim(struct planner *pl, bool ignore_laziness, bool need_room)
{
    unsigned streak = need_room ? pl->room_n : pl->p->lazy_n;

    if (pl->demotions_held)
        return NULL;
    if (need_room) {
        for (; pl->untracked_victim < pl->n; pl->untracked_victim++) {
            struct cand *c = &pl->c[pl->n - 1 - pl->untracked_victim];

            if (c->untracked && may_demote(pl, c))
                return c;
        }
    }
    for (; pl->victim < pl->n; pl->victim++) {
        struct cand *c = &pl->c[pl->n - 1 - pl->victim];

        if (may_demote(pl, c) && !c->untracked && (ignore_laziness || c->st->unselected >= streak))
            return c;
    }
    return NULL;
}

/* forced: the reason laziness was overridden, if it was.  A demotion within
 * the room's laziness is judged like any lazy one: its bounces grow N. */
static void demote(struct planner *pl, struct cand *c, enum mtp_move_reason forced)
{
    bool lazy = c->st->unselected >= pl->room_n;

    emit(pl, c, pl->in->slow_node, lazy ? MTP_MOVE_DEMOTE : forced);
}

static void promote_within_budget(struct planner *pl, uint64_t budget)
{
    struct cand *v;

    pl->victim = 0;
    pl->untracked_victim = 0;
    for (size_t i = 0; i < pl->n; i++) {
        struct cand *c = &pl->c[i];

        if (!c->selected || c->cls != MTP_TIER_SLOW)
            continue;
        while (pl->fast + PAGE_BYTES > budget) {
            /* a room-making demotion is only worth it with its promotion */
            if (!(v = next_victim(pl, false, true)))
                return;
            if (!can_spend(pl, 2)) {
                pl->promotions_held = true;
                return;
            }
            demote(pl, v, MTP_MOVE_OVER_BUDGET);
        }
        if (!can_spend(pl, 1)) {
            pl->promotions_held = true;
            return;
        }
        emit(pl, c, pl->in->fast_node, MTP_MOVE_PROMOTE);
    }
}

/* pct% of the budget, without overflowing a budget near UINT64_MAX */
static uint64_t idle_floor_bytes(uint64_t budget, unsigned pct)
{
    return budget / 100 * pct + budget % 100 * pct / 100;
}

/* target: the budget less the headroom, where promotions stop */
static void plan_moves(struct planner *pl, uint64_t budget, uint64_t target, bool severe)
{
    struct cand *v;

    /* 1: get back within budget */
    while (pl->fast > budget && (v = next_victim(pl, severe, true)) && can_spend(pl, 1))
        demote(pl, v, MTP_MOVE_OVER_BUDGET);

    /* 1b: open the headroom while the node sends the program's new pages
     * to the slow node; each interval it stays shut costs all of them */
    while (pl->p->headroom.refusing && pl->fast > target && (v = next_victim(pl, true, true)) &&
           can_spend(pl, 1))
        demote(pl, v, MTP_MOVE_HEADROOM);

    /* 2: promotions, hottest first, each after the demotions that make its
     * room; none while the fast node backs off (move_backoff.h) */
    if (!pl->promotions_held)
        promote_within_budget(pl, target);

    /* 3: the rest of the lazy demotions, down to the idle floor */
    pl->idle_from = pl->n_moves;
    pl->victim = 0;
    while ((v = next_victim(pl, false, false)) && can_spend(pl, 1)) {
        if (pl->fast <= idle_floor_bytes(budget, pl->p->cfg.idle_floor_pct)) {
            pl->idle_floor_reached = true;
            break;
        }
        demote(pl, v, MTP_MOVE_DEMOTE);
    }
}

/* Counts the judgements of DEMOTE moves whose window has closed. */
static size_t close_windows(struct mtp_policy *p)
{
    size_t good = 0;

    for (size_t i = 0; i < p->pages.n_slots; i++) {
        struct mtp_page_state *s = &p->pages.slots[i];

        if (s->used && s->demoted_at && p->interval - s->demoted_at > p->cfg.pingpong_window) {
            s->demoted_at = 0;
            good++;
        }
    }
    return good;
}

/* Whether the pages of some interval still being judged bounced at a high
 * rate: the rate of the window as a whole would let the build's thousands of
 * good demotions dilute the run phase's bounces for a whole window (k-core,
 * BENCHMARKS section 6, part 27). */
static bool cohort_bounced_often(const struct mtp_policy *p)
{
    for (size_t i = 0; i < p->ring_len; i++)
        if (p->ring_bounced[i] &&
            (uint64_t)p->ring_bounced[i] * PINGPONG_GROW_DIV >= p->ring_demoted[i])
            return true;
    return false;
}

/*
 * A fresh bounce with a high bounce rate in a cohort says laziness was too
 * short; growing fast stops the two-migration churn quickly.  Good verdicts
 * under pressure say the fast tier could use the room sooner; shrinking one
 * step at a time keeps one quiet spell from undoing what the bounces taught.
 */
static void adapt(struct mtp_policy *p, size_t bounced, size_t good, bool pressure)
{
    const struct mtp_policy_config *cfg = &p->cfg;
    bool high_rate = cohort_bounced_often(p);
    if (cfg->eager)
        return;
    if (bounced && high_rate)
        p->lazy_n = p->lazy_n > cfg->lazy_max / 2 ? cfg->lazy_max : p->lazy_n * 2;
    else if (!bounced && good && pressure && !high_rate && p->lazy_n > cfg->lazy_min)
        p->lazy_n--;
}

static int check_input(const struct mtp_policy_input *in)
{
    if (!in->tiers || (in->n_pages && !in->pages))
        return -EINVAL;
    if (mtp_tiers_class(in->tiers, in->fast_node) != MTP_TIER_FAST ||
        mtp_tiers_class(in->tiers, in->slow_node) != MTP_TIER_SLOW)
        return -EINVAL;
    return 0;
}

/* Room for this interval's pages, in the state table and as candidates. */
static int reserve_interval(struct mtp_policy *p, size_t n_pages)
{
    if (mtp_page_states_reserve(&p->pages, n_pages) < 0)
        return -ENOMEM;
    if (n_pages > p->cands_cap) {
        struct cand *c = realloc(p->cands, n_pages * sizeof(*c));

        if (!c)
            return -ENOMEM;
        p->cands = c;
        p->cands_cap = n_pages;
    }
    return 0;
}

static void open_interval(struct mtp_policy *p, struct mtp_policy_stats *st)
{
    /* 0 marks "no demotion being judged", so intervals skip it on wrap */
    if (++p->interval == 0)
        p->interval = 1;
    p->ring_demoted[p->interval % p->ring_len] = 0;
    p->ring_bounced[p->interval % p->ring_len] = 0;
    memset(st, 0, sizeof(*st));
    st->interval = p->interval;
}

/* One candidate per page reported, counted into st.  Returns how many, and
 * in *fast_used our bytes on the fast tier now. */
static size_t gather(struct mtp_policy *p, const struct mtp_policy_input *in,
                     struct mtp_policy_stats *st, uint64_t *fast_used)
{
    size_t n = 0;

    for (size_t i = 0; i < in->n_pages; i++) {
        const struct mtp_policy_page *pg = &in->pages[i];
        struct mtp_page_state *s = mtp_page_states_upsert(&p->pages, pg->addr);
        struct cand *c;

        if (s->last_seen == p->interval)
            continue; /* a duplicate report; the first one stands */
        s->last_seen = p->interval;
        c = &p->cands[n++];
        *c = (struct cand){pg->heat, pg->addr, s, pg->node, MTP_TIER_NONE, false, false, false};
        c->cls = mtp_tiers_class(in->tiers, pg->node);
        /* a sweep page with heat would be a caller bug: treat it as tracked */
        c->untracked = pg->untracked && pg->heat == 0;
        st->untracked += c->untracked && c->cls == MTP_TIER_FAST;
        st->hot += pg->heat >= p->cfg.hot_threshold;
        if (c->cls == MTP_TIER_FAST) {
            st->on_fast++;
            *fast_used += PAGE_BYTES;
        } else if (c->cls == MTP_TIER_SLOW) {
            st->on_slow++;
        } else {
            st->elsewhere++;
        }
    }
    st->pages_in = n;
    st->cold = n - st->hot;
    return n;
}

/* Selects the hottest of the n candidates for the fast tier, within the
 * budget, and updates their streaks.  Returns the lazy demotions that
 * bounced back. */
static size_t select_hottest(struct mtp_policy *p, size_t n, uint64_t budget)
{
    uint64_t selected_bytes = 0;
    size_t bounced = 0;

    if (n > 1) /* cands is NULL until the first page arrives */
        qsort(p->cands, n, sizeof(*p->cands), cmp_hottest);
    for (size_t i = 0; i < n; i++) {
        struct cand *c = &p->cands[i];
        struct mtp_page_state *s = c->st;

        /* pages of equal size: the first that does not fit ends selection,
         * and pages not present or on an excluded node cannot be placed */
        if (c->heat >= p->cfg.hot_threshold && c->cls != MTP_TIER_NONE &&
            selected_bytes + PAGE_BYTES <= budget) {
            c->selected = true;
            selected_bytes += PAGE_BYTES;
        }
        if (!c->selected) {
            if (s->unselected < UINT32_MAX)
                s->unselected++;
            continue;
        }
        s->unselected = 0;
        /* selected again soon after a lazy demotion: laziness was too short.
         * Merely hot is not enough, a page beyond the budget was rightly
         * demoted. */
        if (s->demoted_at && p->interval - s->demoted_at <= p->cfg.pingpong_window) {
            /* the cohort's slot is reused only after its window closed */
            p->ring_bounced[s->demoted_at % p->ring_len]++;
            s->demoted_at = 0;
            bounced++;
        }
    }
    return bounced;
}

/* Over budget, or the fast node below its watermark; severe when the excess
 * is large or the node is short. */
static void judge_pressure(const struct mtp_policy *p, const struct mtp_policy_input *in,
                           uint64_t fast_used, uint64_t budget, struct mtp_policy_stats *st)
{
    bool short_of_free =
        in->fast_free_bytes != MTP_FREE_UNKNOWN && in->fast_free_bytes < p->cfg.watermark_bytes;

    st->pressure = fast_used > budget || short_of_free;
    st->severe =
        fast_used > budget && (fast_used - budget > budget >> SEVERE_SHIFT || short_of_free);
}

/* The plan's moves by reason, and the moves it held back. */
static void count_plan(const struct planner *pl, struct mtp_policy_stats *st)
{
    for (size_t i = 0; i < pl->n_moves; i++) {
        if (pl->moves[i].reason == MTP_MOVE_PROMOTE) {
            st->promote++;
            st->promote_bytes += PAGE_BYTES;
        } else {
            st->demote += pl->moves[i].reason == MTP_MOVE_DEMOTE;
            st->over_budget += pl->moves[i].reason == MTP_MOVE_OVER_BUDGET;
            st->headroom += pl->moves[i].reason == MTP_MOVE_HEADROOM;
            st->idle += i >= pl->idle_from;
            st->demote_bytes += PAGE_BYTES;
        }
    }
    for (size_t i = 0; i < pl->n; i++) {
        const struct cand *c = &pl->c[i];

        /* step 3 takes every lazy demotion the cap allows, so any left over
         * were held back by it, unless the idle floor stopped it first */
        if ((lazy_eligible(pl, c) && !pl->idle_floor_reached) ||
            (pl->promotions_held && !c->taken && c->selected && c->cls == MTP_TIER_SLOW))
            st->deferred++;
    }
}

int mtp_policy_plan(struct mtp_policy *p, const struct mtp_policy_input *in, struct mtp_move *moves,
                    size_t cap, size_t *n_moves, struct mtp_policy_stats *stats)
{
    struct mtp_policy_stats st;
    struct planner pl;
    size_t n, bounced, good;
    uint64_t fast_used = 0, budget, headroom;
    int rc = check_input(in);

    if (rc)
        return rc;
    *n_moves = 0;
    if (reserve_interval(p, in->n_pages) < 0)
        return -ENOMEM;
    open_interval(p, &st);
    n = gather(p, in, &st, &fast_used);
    budget = budget_bytes(p, in, fast_used);
    headroom = headroom_bytes(p, in, fast_used, budget);
    bounced = select_hottest(p, n, budget - headroom);
    good = close_windows(p);
    judge_pressure(p, in, fast_used, budget, &st);
    adapt(p, bounced, good, st.pressure);

    pl = (struct planner){
        .p = p,
        .in = in,
        .c = p->cands,
        .n = n,
        .moves = moves,
        .cap = moves ? cap : 0,
        .byte_cap = p->cfg.max_bytes_per_interval ? p->cfg.max_bytes_per_interval : UINT64_MAX,
        .fast = fast_used,
        .room_n = room_laziness(p),
        .promotions_held = mtp_move_backoff_left(&p->backoff[0], p->interval) > 0,
        .demotions_held = mtp_move_backoff_left(&p->backoff[1], p->interval) > 0,
    };
    st.promote_held = mtp_move_backoff_left(&p->backoff[0], p->interval);
    st.demote_held = mtp_move_backoff_left(&p->backoff[1], p->interval);
    plan_moves(&pl, budget, budget - headroom, st.severe);
    *n_moves = pl.n_moves;
    count_plan(&pl, &st);

    mtp_page_states_forget(&p->pages, p->interval);
    p->totals.intervals++;
    p->totals.pingpongs += bounced;
    p->totals.judged += bounced + good;
    st.pages_tracked = p->pages.count;
    st.pingpongs = bounced;
    st.judged = bounced + good;
    st.lazy_n = p->lazy_n;
    st.budget_bytes = budget;
    st.headroom_bytes = headroom;
    st.refused_bytes = in->fast_refused_bytes;
    st.budget_used_bytes = fast_used;
    st.fast_bytes_planned = pl.fast;
    if (stats)
        *stats = st;
    return 0;
}

void mtp_policy_commit(struct mtp_policy *p, const struct mtp_move *moves, size_t n,
                       const int *status, const int *node_after, struct mtp_commit_result *res)
{
    struct mtp_commit_result r;
    /* per direction (0 promotions, 1 demotions): tried, -ENOMEM, -EBUSY */
    size_t tried[2] = {0}, nomem[2] = {0}, busy[2] = {0}, refused[2] = {0};

    memset(&r, 0, sizeof(r));
    for (size_t i = 0; i < n; i++) {
        const struct mtp_move *m = &moves[i];
        int where = node_after ? node_after[i] : status[i];
        int dir = m->reason != MTP_MOVE_PROMOTE;
        struct mtp_page_state *s;

        tried[dir]++;
        if (where != m->to_node) {
            int why = status[i];

            if (where == -ENOENT || where == -EFAULT || why == -ENOENT || why == -EFAULT)
                r.gone++;
            else if (why == -EBUSY)
                busy[dir]++;
            else if (why == -ENOMEM)
                nomem[dir]++;
            else if (why == MTP_MOVE_NOT_MIGRATED)
                refused[dir]++;
            else if (why == -EACCES)
                r.access++;
            else
                r.other++;
            continue;
        }
        r.moved++;
        r.moved_bytes += PAGE_BYTES;
        r.moved_despite_error += status[i] != m->to_node;
        if (m->reason == MTP_MOVE_PROMOTE)
            r.promoted++;
        else
            r.demoted++;

        s = mtp_page_states_find(&p->pages, m->addr);
        if (!s)
            continue;
        s->promoted = m->reason == MTP_MOVE_PROMOTE;
        if (m->reason == MTP_MOVE_DEMOTE) {
            s->demoted_at = p->interval;
            p->ring_demoted[p->interval % p->ring_len]++;
        } else {
            /* a forced demotion says nothing about N, and a promoted page is
             * no longer a demotion to judge */
            s->demoted_at = 0;
        }
    }
    p->totals.moved += r.moved;
    p->totals.promoted += r.promoted;
    p->totals.demoted += r.demoted;
    p->totals.failed += n - r.moved;
    mtp_headroom_moved(&p->headroom, r.promoted * PAGE_BYTES, r.demoted * PAGE_BYTES);
    r.busy = busy[0] + busy[1];
    r.nomem = nomem[0] + nomem[1];
    r.refused = refused[0] + refused[1];
    for (int dir = 0; dir < 2; dir++) {
        uint64_t before = p->backoff[dir].holds;

        mtp_move_backoff_note(&p->backoff[dir], p->interval, tried[dir], nomem[dir],
                              busy[dir] + refused[dir]);
        p->totals.backoffs += p->backoff[dir].holds - before;
    }
    if (res)
        *res = r;
}
