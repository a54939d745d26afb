// SPDX-License-Identifier: MIT
#include "topview.h"

#include "units.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int mtp_top_screen_init(struct mtp_top_screen *s, int width, int height)
{
    s->width = width < 1 ? 1 : width;
    s->height = height < 1 ? 1 : height;
    s->text = malloc((size_t)s->height * (size_t)(s->width + 1));
    s->kind = calloc((size_t)s->height, sizeof(*s->kind));
    if (!s->text || !s->kind) {
        mtp_top_screen_free(s);
        return -ENOMEM;
    }
    return 0;
}

void mtp_top_screen_free(struct mtp_top_screen *s)
{
    free(s->text);
    free(s->kind);
    s->text = NULL;
    s->kind = NULL;
}

/* Writes line y, cut or blank-padded to the screen's width. */
static void __attribute__((format(printf, 4, 5)))
put(struct mtp_top_screen *s, int y, enum mtp_top_line kind, const char *fmt, ...)
{
    char *line = s->text + (size_t)y * (size_t)(s->width + 1);
    char buf[1024];
    va_list ap;
    size_t n;

    if (y < 0 || y >= s->height)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    n = strlen(buf);
    if (n > (size_t)s->width)
        n = (size_t)s->width;
    memcpy(line, buf, n);
    memset(line + n, ' ', (size_t)s->width - n);
    line[s->width] = '\0';
    s->kind[y] = kind;
}

const char *mtp_top_count(uint64_t n, char out[8])
{
    static const char unit[] = " kMGTPE";
    double v = (double)n;
    int u = 0;

    while (v >= 999.5 && u < 6) {
        v /= 1000;
        u++;
    }
    if (u == 0)
        snprintf(out, 8, "%u", (unsigned)n);
    else
        snprintf(out, 8, v < 99.95 ? "%.1f%c" : "%.0f%c", v, unit[u]);
    return out;
}

/* Where value falls on a bar of width cells: rounded, and at least one cell
 * for anything above zero, so a small share is not drawn as none. */
static int cells(uint64_t value, uint64_t scale, int width)
{
    double c;

    if (value == 0 || scale == 0)
        return 0;
    c = (double)value * width / (double)scale + 0.5;
    return c < 1 ? 1 : c > width ? width : (int)c;
}

void mtp_top_bar(char *out, int width, uint64_t full, uint64_t hot, uint64_t scale, uint64_t mark)
{
    int f = cells(full, scale, width), h = cells(hot < full ? hot : full, scale, width);

    for (int i = 0; i < width; i++)
        out[i] = i < h ? '#' : i < f ? '-' : ' ';
    if (mark && scale) {
        int m = cells(mark, scale, width) - 1;
        out[m < 0 ? 0 : m] = '|';
    }
    out[width] = '\0';
}

/* ---- the type table's orders ---- */

/* A type's live bytes on every tier, those not located yet included (all of
 * them without tiering). */
static uint64_t bytes_of(const struct mtp_type_row *t)
{
    uint64_t sum = 0;

    for (int k = 0; k < MTP_TIERS; k++)
        sum += t->tiers.bytes[k];
    return sum;
}

static uint64_t hot_bytes_of(const struct mtp_type_row *t)
{
    uint64_t sum = 0;

    for (int k = 0; k < MTP_TIERS; k++)
        sum += t->tiers.hot_bytes[k];
    return sum;
}

/* The program names its classes: nothing of theirs may drive the terminal
 * or shift the columns, so anything but printable ASCII shows as '?'. */
static const char *safe_name(const char *name, char out[MTP_TYPE_NAME_MAX])
{
    size_t i;

    for (i = 0; i + 1 < MTP_TYPE_NAME_MAX && name[i]; i++)
        out[i] = name[i] >= 0x20 && name[i] < 0x7f ? name[i] : '?';
    out[i] = '\0';
    return out;
}

/* How cold a type is: the heat of its pages per byte it holds, least
 * first.  (Its hot bytes say little here: they count bytes on pages that were
 * hot when observed, and observing a page warms it.)  Types that hold nothing
 * are not cold, they are absent: last. */
static int cmp_coldness(const struct mtp_type_row *x, const struct mtp_type_row *y)
{
    uint64_t bx = bytes_of(x), by = bytes_of(y);
    double dx, dy;

    if (!bx || !by)
        return bx ? -1 : by ? 1 : 0;
    dx = (double)x->tiers.heat / (double)bx;
    dy = (double)y->tiers.heat / (double)by;
    if (dx != dy)
        return dx < dy ? -1 : 1;
    return bx > by ? -1 : bx < by; /* the larger of two as cold first */
}

/* The key a row sorts by, larger first; coldness orders by a second key. */
static uint64_t sort_key(const struct mtp_type_row *t, enum mtp_top_sort by)
{
    switch (by) {
    case MTP_TOP_BY_HEAT:
        return t->tiers.heat;
    case MTP_TOP_BY_BYTES:
        return bytes_of(t);
    case MTP_TOP_BY_FAST:
        return t->tiers.bytes[MTP_AT_FAST];
    case MTP_TOP_BY_SLOW:
        return t->tiers.bytes[MTP_AT_SLOW];
    case MTP_TOP_BY_OBSERVED:
        return t->observed_bytes;
    case MTP_TOP_BY_COLDEST: /* cmp_coldness */
    case MTP_TOP_SORTS:
        break;
    }
    return 0;
}

static int cmp_u64_desc(uint64_t a, uint64_t b)
{
    return a > b ? -1 : a < b ? 1 : 0;
}

/* qsort_r's comparator: the key comes as its context, so nothing global
 * holds it. */
static int cmp_rows(const void *a, const void *b, void *key)
{
    const struct mtp_type_row *x = *(const struct mtp_type_row *const *)a;
    const struct mtp_type_row *y = *(const struct mtp_type_row *const *)b;
    enum mtp_top_sort sorting_by = *(const enum mtp_top_sort *)key;
    int c = sorting_by == MTP_TOP_BY_COLDEST
                ? cmp_coldness(x, y)
                : cmp_u64_desc(sort_key(x, sorting_by), sort_key(y, sorting_by));

    /* ties: the hotter first, as the report orders them */
    if (!c)
        c = cmp_u64_desc(x->tiers.heat, y->tiers.heat);
    if (!c)
        c = cmp_u64_desc(bytes_of(x), bytes_of(y));
    return c ? c : x->id < y->id ? -1 : x->id > y->id;
}

void mtp_topview_sort(const struct mtp_type_row *rows, size_t n, enum mtp_top_sort by,
                      const struct mtp_type_row **order)
{
    if (n == 0)
        return; /* qsort's base must not be NULL, even for nothing */
    for (size_t i = 0; i < n; i++)
        order[i] = &rows[i];
    qsort_r(order, n, sizeof(*order), cmp_rows, &by);
}

/* ---- keys ---- */

enum mtp_top_action mtp_topview_key(struct mtp_topview *v, int key, bool tiering)
{
    static const struct {
        int key;
        enum mtp_top_sort sort;
    } sorts[] = {{'h', MTP_TOP_BY_HEAT}, {'b', MTP_TOP_BY_BYTES},    {'f', MTP_TOP_BY_FAST},
                 {'s', MTP_TOP_BY_SLOW}, {'o', MTP_TOP_BY_OBSERVED}, {'c', MTP_TOP_BY_COLDEST}};

    switch (key) {
    case 'q':
    case 'Q':
        return MTP_TOP_QUIT;
    case MTP_TOP_KEY_NEXT:
        return MTP_TOP_NEXT;
    case MTP_TOP_KEY_PREV:
        return MTP_TOP_PREV;
    }
    for (size_t i = 0; i < sizeof(sorts) / sizeof(sorts[0]); i++) {
        if (sorts[i].key != key)
            continue;
        if (!tiering && (sorts[i].sort == MTP_TOP_BY_FAST || sorts[i].sort == MTP_TOP_BY_SLOW))
            return MTP_TOP_IGNORED;
        v->sort = sorts[i].sort;
        return MTP_TOP_REDRAW;
    }
    return MTP_TOP_IGNORED;
}

int mtp_topview_pick(const int *pids, size_t n, int current, int step)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (pids[i] == current)
            return pids[(i + n + (size_t)(step % (int)n + (int)n)) % n];
    return pids[0];
}

/* ---- the lines ---- */

static const char *const sort_names[MTP_TOP_SORTS] = {"heat",       "bytes",      "fast bytes",
                                                      "slow bytes", "observed/s", "coldest first"};

/* Per second over the interval the report covers. */
static double per_s(const struct mtp_report *r, double v)
{
    double span = r->elapsed_s - r->prev_elapsed_s;

    return span > 0 ? v / span : 0;
}

/* The process's live bytes on each tier (fast, slow, not located yet), and
 * the hot ones: the type rows' sums, so that the bars and the table agree. */
struct tier_sums {
    uint64_t bytes[MTP_TIERS], hot[MTP_TIERS];
};

static struct tier_sums sum_tiers(const struct mtp_report *r)
{
    struct tier_sums t = {{0}, {0}};

    for (size_t i = 0; i < r->types_total; i++)
        for (int k = 0; k < MTP_TIERS; k++) {
            t.bytes[k] += r->types[i].tiers.bytes[k];
            t.hot[k] += r->types[i].tiers.hot_bytes[k];
        }
    return t;
}

static int bar_width(const struct mtp_top_screen *s)
{
    return s->width - 52 < 10 ? 10 : s->width - 52;
}

/* Lines 1-3: the tiers, and what moved between them. */
static void put_tiers(struct mtp_top_screen *s, const struct mtp_report *r)
{
    const struct mtp_tiering_report *t = r->tiering;
    struct tier_sums sums = sum_tiers(r);
    char bar[512], a[8], b[8], c[8], d[8];
    int w = bar_width(s);

    if (!t) {
        uint64_t all = 0, hot = 0;

        for (int k = 0; k < MTP_TIERS; k++) {
            all += sums.bytes[k];
            hot += sums.hot[k];
        }

        /* Nothing is fast or slow here: one bar, and the reason. */
        mtp_top_bar(bar, w, all, hot, all, 0);
        put(s, 1, MTP_TOP_LINE_BAR, "mem  [%s] %s live, %s hot", bar, mtp_format_bytes(all, a),
            mtp_format_bytes(hot, b));
        put(s, 2, MTP_TOP_LINE_PLAIN,
            "     not tiering: one memory tier, everything on one node (see --show-tiers)");
        put(s, 3, MTP_TOP_LINE_PLAIN, "moves none: nothing to move between tiers");
        return;
    }
    uint64_t untracked = (uint64_t)t->plan.untracked * MTP_PAGE_SIZE;
    uint64_t total =
        sums.bytes[MTP_AT_FAST] + sums.bytes[MTP_AT_SLOW] + sums.bytes[MTP_AT_UNLOCATED];
    uint64_t scale = total > t->plan.budget_bytes ? total : t->plan.budget_bytes;

    mtp_top_bar(bar, w, sums.bytes[MTP_AT_FAST], sums.hot[MTP_AT_FAST], scale,
                t->plan.budget_bytes);
    put(s, 1, MTP_TOP_LINE_BAR, "fast [%s] %s, %s hot; budget %s%s%s", bar,
        mtp_format_bytes(sums.bytes[MTP_AT_FAST], a), mtp_format_bytes(sums.hot[MTP_AT_FAST], b),
        mtp_format_bytes(t->plan.budget_bytes, c), untracked ? " +untracked " : "",
        untracked ? mtp_format_bytes(untracked, d) : "");
    mtp_top_bar(bar, w, sums.bytes[MTP_AT_SLOW], sums.hot[MTP_AT_SLOW], scale, 0);
    put(s, 2, MTP_TOP_LINE_BAR, "slow [%s] %s, %s hot; %s%snodes %d/%d", bar,
        mtp_format_bytes(sums.bytes[MTP_AT_SLOW], a), mtp_format_bytes(sums.hot[MTP_AT_SLOW], b),
        sums.bytes[MTP_AT_UNLOCATED] ? mtp_format_bytes(sums.bytes[MTP_AT_UNLOCATED], c) : "",
        sums.bytes[MTP_AT_UNLOCATED] ? " unlocated; " : "", t->fast_node, t->slow_node);
    /* A dry run moves nothing: its plan, said as such. */
    uint64_t up = t->dry_run ? t->plan.promote_bytes : t->moved.promoted * MTP_PAGE_SIZE;
    uint64_t down = t->dry_run ? t->plan.demote_bytes : t->moved.demoted * MTP_PAGE_SIZE;

    put(s, 3, MTP_TOP_LINE_PLAIN, "moves %s%s/s up, %s/s down  ping-pong %.1f%%  lazy N %u%s",
        t->dry_run ? "planned (dry run) " : "", mtp_format_bytes((uint64_t)per_s(r, (double)up), a),
        mtp_format_bytes((uint64_t)per_s(r, (double)down), b), 100.0 * t->pingpong_rate,
        t->plan.lazy_n, t->plan.pressure ? "  PRESSURE" : "");
}

/* Line 4: what observing costs the program. */
static void put_scan(struct mtp_top_screen *s, const struct mtp_report *r)
{
    const struct mtp_stats *t = &r->totals, *p = &r->prev;
    char state[32], a[8];

    if (t->wp_state > 0)
        snprintf(state, sizeof(state), "on (stride %lld)", (long long)t->wp_state);
    else
        snprintf(state, sizeof(state), "%s", mtp_wp_state_name(r));
    put(s, 4, MTP_TOP_LINE_PLAIN, "scan %s, %.2f%% of wall  observing %.2f%%  records %s/s", state,
        mtp_report_scan_cost_pct(r), per_s(r, (double)(t->observe_ns - p->observe_ns)) / 1e7,
        mtp_top_count((uint64_t)per_s(r, (double)(t->records - p->records)), a));
}

/* Line 5: the other end of the table -- the coldest types (least heat per
 * byte, the largest first), or the hottest when the table lists the coldest.  order is
 * scratch room for n rows. */
static void put_ends(struct mtp_top_screen *s, const struct mtp_topview *v,
                     const struct mtp_report *r, const struct mtp_type_row **order)
{
    bool cold = v->sort != MTP_TOP_BY_COLDEST;
    char line[512], a[8], b[8];
    size_t used, shown = 0;

    mtp_topview_sort(r->types, r->types_total, cold ? MTP_TOP_BY_COLDEST : MTP_TOP_BY_HEAT, order);
    used = (size_t)snprintf(line, sizeof(line), "%s", cold ? "coldest" : "hottest");
    for (size_t i = 0; i < r->types_total && shown < 3 && used < sizeof(line); i++) {
        const struct mtp_type_row *t = order[i];
        char name[MTP_TYPE_NAME_MAX];

        if (cold ? bytes_of(t) == 0 : t->tiers.heat == 0)
            break; /* sorted: none after it qualifies either */
        char entry[128];
        int n = snprintf(entry, sizeof(entry), "%s %.28s %s (%s hot)", shown ? "," : "",
                         safe_name(t->name, name), mtp_format_bytes(bytes_of(t), a),
                         mtp_format_bytes(hot_bytes_of(t), b));

        /* whole names only: a name cut at the edge reads as another type */
        if (used + (size_t)n > (size_t)s->width)
            break;
        used += (size_t)snprintf(line + used, sizeof(line) - used, "%s", entry);
        shown++;
    }
    if (!shown)
        snprintf(line + used, sizeof(line) - used, " (none yet)");
    put(s, 5, MTP_TOP_LINE_PLAIN, "%s", line);
}

/* The table's columns: with tiers, where each type's bytes are and what
 * moved; without, its heat and all it was observed to hold. */
static void put_table(struct mtp_top_screen *s, const struct mtp_topview *v,
                      const struct mtp_report *r, const struct mtp_type_row **order, int first,
                      int last)
{
    bool tiering = r->tiering != NULL;
    int name_w = s->width - (tiering ? 49 : 35);
    int rows = last - first;
    char title[96];

    if (name_w < 8)
        name_w = 8;
    mtp_topview_sort(r->types, r->types_total, v->sort, order);
    snprintf(title, sizeof(title), "TYPE (%zu of %zu, by %s)",
             r->types_total < (size_t)rows ? r->types_total : (size_t)rows, r->types_total,
             sort_names[v->sort]);
    if (tiering)
        put(s, first - 1, MTP_TOP_LINE_HEADER, "%-*.*s %6s %6s %6s %6s %6s %6s %6s", name_w, name_w,
            title, "BYTES", "HOT", "FAST", "SLOW", "PROM", "DEM", "OBS/s");
    else
        put(s, first - 1, MTP_TOP_LINE_HEADER, "%-*.*s %6s %6s %6s %6s %6s", name_w, name_w, title,
            "BYTES", "HOT", "HEAT", "OBS/s", "SEEN");
    for (int y = first; y < last; y++) {
        const struct mtp_type_row *t;
        const struct mtp_type_tiers *x;
        char c[7][8], name[MTP_TYPE_NAME_MAX];

        if ((size_t)(y - first) >= r->types_total) {
            put(s, y, MTP_TOP_LINE_PLAIN, "%s", y == first ? "  (no type observed yet)" : "");
            continue;
        }
        t = order[y - first];
        x = &t->tiers;
        safe_name(t->name, name);
        mtp_format_bytes(bytes_of(t), c[0]);
        mtp_format_bytes(hot_bytes_of(t), c[1]);
        mtp_format_bytes((uint64_t)per_s(r, (double)t->observed_bytes), c[6]);
        if (tiering)
            put(s, y, MTP_TOP_LINE_PLAIN, "%-*.*s %6s %6s %6s %6s %6s %6s %6s", name_w, name_w,
                name, c[0], c[1], mtp_format_bytes(x->bytes[MTP_AT_FAST], c[2]),
                mtp_format_bytes(x->bytes[MTP_AT_SLOW], c[3]),
                mtp_format_bytes(x->promoted * MTP_PAGE_SIZE, c[4]),
                mtp_format_bytes(x->demoted * MTP_PAGE_SIZE, c[5]), c[6]);
        else
            put(s, y, MTP_TOP_LINE_PLAIN, "%-*.*s %6s %6s %6s %6s %6s", name_w, name_w, name, c[0],
                c[1], mtp_top_count(x->heat, c[2]), c[6], mtp_format_bytes(t->seen.bytes, c[3]));
    }
}

/* Line 0: which process, and when; the time at the right. */
static void put_title(struct mtp_top_screen *s, const struct mtp_topview *v,
                      const struct mtp_top_frame *fr, const struct mtp_report *r)
{
    char left[160], when[64] = "", of[32] = "";
    int pad;

    if (fr->count > 1)
        snprintf(of, sizeof(of), ", %u of %u", fr->index, fr->count);
    snprintf(left, sizeof(left), "mtp-trace --top  pid %d (%s)%s", r ? r->pid : v->pid,
             fr->comm ? fr->comm : "?", of);
    if (r)
        snprintf(when, sizeof(when), "%.1f s, interval %llu ", r->elapsed_s,
                 (unsigned long long)r->interval);
    pad = s->width - (int)strlen(left) - (int)strlen(when);
    put(s, 0, MTP_TOP_LINE_TITLE, "%s%*s%s", left, pad > 1 ? pad : 1, "", when);
}

static void put_keys(struct mtp_top_screen *s, const struct mtp_top_frame *fr, bool tiering)
{
    if (!fr->keys)
        put(s, s->height - 1, MTP_TOP_LINE_KEYS, "no keys: stdin is not a terminal; Ctrl-C stops");
    else
        put(s, s->height - 1, MTP_TOP_LINE_KEYS,
            "q quit%s  sort: h heat b bytes%s o obs/s c coldest",
            fr->count > 1 ? "  Tab: process" : "", tiering ? " f fast s slow" : "");
}

int mtp_topview_render(const struct mtp_topview *v, const struct mtp_top_frame *fr,
                       const struct mtp_report *r, struct mtp_top_screen *s)
{
    const struct mtp_type_row **order = NULL;
    for (int y = 0; y < s->height; y++)
        put(s, y, MTP_TOP_LINE_PLAIN, "%s", "");
    if (s->width < MTP_TOP_MIN_WIDTH || s->height < MTP_TOP_MIN_HEIGHT) {
        put(s, 0, MTP_TOP_LINE_TITLE, "mtp-trace --top needs %dx%d; this is %dx%d",
            MTP_TOP_MIN_WIDTH, MTP_TOP_MIN_HEIGHT, s->width, s->height);
        return 0;
    }
    put_title(s, v, fr, r);
    put_keys(s, fr, r && r->tiering);
    put(s, s->height - 2, MTP_TOP_LINE_NOTE, "%s", fr->note ? fr->note : "");
    if (!r) {
        put(s, 0, MTP_TOP_LINE_TITLE, "mtp-trace --top");
        put(s, 2, MTP_TOP_LINE_PLAIN, "%s", fr->waiting ? fr->waiting : "waiting");
        return 0;
    }
    if (r->types_total) {
        order = malloc(r->types_total * sizeof(*order));
        if (!order)
            return -ENOMEM;
    }
    put_tiers(s, r);
    put_scan(s, r);
    if (order)
        put_ends(s, v, r, order);
    else
        put(s, 5, MTP_TOP_LINE_PLAIN, "coldest (none yet)");
    put_table(s, v, r, order, 7, s->height - 2);
    free(order);
    return 0;
}
