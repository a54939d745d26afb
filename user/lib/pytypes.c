// SPDX-License-Identifier: MIT
#include "pytypes.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int by_addr_cmp(const void *a, const void *b)
{
    const struct mtp_type_at *x = a, *y = b;

    return (x->addr > y->addr) - (x->addr < y->addr);
}

/* The bank holding the last complete cycle, or the first one under way. */
static const struct mtp_type_bank *cycle_bank(const struct mtp_type_stats *seen, uint64_t cycles)
{
    uint64_t want = cycles ? cycles - 1 : 0;
    const struct mtp_type_bank *b = &seen->bank[want & 1];

    return seen->records && b->cycle == want ? b : NULL;
}

int mtp_types__count_pages(struct mtp_types *t, const struct mtp_hot_page *pages, size_t n,
                           uint64_t cycles)
{
    for (size_t id = 0; id < MTP_TYPES_MAX; id++) {
        struct mtp_type_tiers *x = &t->tiers[id];
        const struct mtp_type_bank *b = cycle_bank(&t->seen[id], cycles);

        memset(x->bytes, 0, sizeof(x->bytes));
        memset(x->hot_bytes, 0, sizeof(x->hot_bytes));
        if (b) {
            memcpy(x->bytes, b->bytes, sizeof(x->bytes));
            memcpy(x->hot_bytes, b->hot_bytes, sizeof(x->hot_bytes));
        }
        x->pages = x->heat = 0;
    }
    if (n > t->by_addr_cap) {
        struct mtp_type_at *v = realloc(t->by_addr, n * 2 * sizeof(*v));

        if (!v)
            return -ENOMEM;
        t->by_addr = v;
        t->by_addr_cap = n * 2;
    }
    for (size_t i = 0; i < n; i++) {
        struct mtp_type_tiers *x = &t->tiers[pages[i].type_id % MTP_TYPES_MAX];

        t->by_addr[i] = (struct mtp_type_at){pages[i].addr, pages[i].type_id};
        x->pages++;
        x->heat += pages[i].heat;
    }
    t->by_addr_len = n;
    if (n > 0) /* by_addr is NULL until there is a page, and qsort's base may not be */
        qsort(t->by_addr, n, sizeof(*t->by_addr), by_addr_cmp);
    return 0;
}

static uint16_t type_at(const struct mtp_types *t, uint64_t addr)
{
    size_t lo = 0, hi = t->by_addr_len;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (t->by_addr[mid].addr < addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < t->by_addr_len && t->by_addr[lo].addr == addr ? t->by_addr[lo].type_id : 0;
}

void mtp_types__count_moves(struct mtp_types *t, const struct mtp_move *moves, size_t n,
                            const int *node_after, int fast_node)
{
    for (size_t i = 0; i < n; i++) {
        struct mtp_type_tiers *x;

        /* Only a page that is now where it was sent moved. */
        if (node_after[i] != moves[i].to_node || moves[i].from_node == moves[i].to_node)
            continue;
        x = &t->tiers[type_at(t, moves[i].addr) % MTP_TYPES_MAX];
        if (moves[i].to_node == fast_node)
            x->promoted++;
        else if (moves[i].from_node == fast_node)
            x->demoted++;
    }
}

void mtp_types__name(const struct mtp_types *t, uint16_t id, char *out, size_t len)
{
    if (id == 0)
        snprintf(out, len, "(unattributed)");
    else if (id < MTP_TYPES_MAX && t->names[id].name[0])
        snprintf(out, len, "%.*s", MTP_TYPE_NAME_MAX - 1, t->names[id].name);
    else
        snprintf(out, len, "type#%u", (unsigned)id);
}

/* Hottest first: by hot bytes, then bytes, then id. */
static int row_cmp(const void *a, const void *b)
{
    const struct mtp_type_tiers *x = &((const struct mtp_type_row *)a)->tiers;
    const struct mtp_type_tiers *y = &((const struct mtp_type_row *)b)->tiers;
    uint64_t hx = mtp_type_hot_bytes(x), hy = mtp_type_hot_bytes(y);
    uint64_t bx = mtp_type_bytes(x), by = mtp_type_bytes(y);
    uint16_t ix = ((const struct mtp_type_row *)a)->id, iy = ((const struct mtp_type_row *)b)->id;

    if (hx != hy)
        return hx > hy ? -1 : 1;
    if (bx != by)
        return bx > by ? -1 : 1;
    return (ix > iy) - (ix < iy);
}

static int bytes_cmp(const void *a, const void *b)
{
    const struct mtp_type_tiers *x = &((const struct mtp_type_row *)a)->tiers;
    const struct mtp_type_tiers *y = &((const struct mtp_type_row *)b)->tiers;
    uint64_t bx = mtp_type_bytes(x), by = mtp_type_bytes(y);

    if (bx != by)
        return bx > by ? -1 : 1;
    return row_cmp(a, b);
}

void mtp_types__pick(struct mtp_type_row *rows, size_t n, size_t want)
{
    size_t hottest = (want + 1) / 2;

    if (hottest < n)
        qsort(rows + hottest, n - hottest, sizeof(*rows), bytes_cmp);
}

size_t mtp_types__rows(struct mtp_types *t, struct mtp_type_row *rows, size_t cap)
{
    size_t total = 0, n = 0;

    for (uint32_t id = 0; id < MTP_TYPES_MAX; id++) {
        const struct mtp_type_tiers *x = &t->tiers[id];
        struct mtp_type_row *row;

        if (x->pages + x->heat + x->promoted + x->demoted == 0 && t->seen[id].records == 0)
            continue;
        total++;
        if (n == cap)
            continue;
        row = &rows[n++];
        *row = (struct mtp_type_row){.id = (uint16_t)id, .seen = t->seen[id], .tiers = *x};
        row->observed_bytes = t->seen[id].bytes - t->reported_bytes[id];
        t->reported_bytes[id] = t->seen[id].bytes;
        mtp_types__name(t, (uint16_t)id, row->name, sizeof(row->name));
    }
    if (n > 0)
        qsort(rows, n, sizeof(*rows), row_cmp);
    return total;
}

void mtp_types__grow_span(struct mtp_types *t)
{
    uint32_t highest = 0;

    if (t->span == 0)
        for (uint32_t id = 0; id < MTP_TYPES_MAX; id++)
            t->keys[id] = id;
    for (uint32_t id = t->span; id-- > 0;) {
        if (t->seen[id].records) {
            highest = id;
            break;
        }
    }
    t->span = 2 * highest + 64 < MTP_TYPES_MAX ? 2 * highest + 64 : MTP_TYPES_MAX;
}

void mtp_types__free(struct mtp_types *t)
{
    free(t->by_addr);
    t->by_addr = NULL;
    t->by_addr_len = t->by_addr_cap = 0;
}
