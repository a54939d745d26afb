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

int mtp_types__count_pages(struct mtp_types *t, const struct mtp_hot_page *pages, size_t n,
                           const int *nodes, int fast_node)
{
    for (size_t id = 0; id < MTP_TYPES_MAX; id++) {
        struct mtp_type_tiers *x = &t->tiers[id];

        memset(x->pages, 0, sizeof(x->pages));
        memset(x->hot_pages, 0, sizeof(x->hot_pages));
        x->heat = 0;
    }
    if (n > t->by_addr_cap) {
        struct mtp_type_at *v = realloc(t->by_addr, n * 2 * sizeof(*v));

        if (!v)
            return -ENOMEM;
        t->by_addr = v;
        t->by_addr_cap = n * 2;
    }
    for (size_t i = 0; i < n; i++) {
        const struct mtp_hot_page *p = &pages[i];
        struct mtp_type_tiers *x = &t->tiers[p->type_id % MTP_TYPES_MAX];
        int tier = !nodes || nodes[i] == fast_node ? MTP_AT_FAST : MTP_AT_SLOW;

        t->by_addr[i] = (struct mtp_type_at){p->addr, p->type_id};
        x->heat += p->heat;
        if (nodes && nodes[i] < 0)
            continue; /* not resident: on no tier */
        x->pages[tier]++;
        x->hot_pages[tier] += p->heat > 0;
    }
    t->by_addr_len = n;
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

static int row_cmp(const void *a, const void *b)
{
    const struct mtp_type_row *x = a, *y = b;
    uint64_t px = x->tiers.pages[0] + x->tiers.pages[1], py = y->tiers.pages[0] + y->tiers.pages[1];

    if (x->tiers.heat != y->tiers.heat)
        return x->tiers.heat > y->tiers.heat ? -1 : 1;
    if (px != py)
        return px > py ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

size_t mtp_types__rows(struct mtp_types *t, struct mtp_type_row *rows, size_t cap)
{
    size_t total = 0, n = 0;

    for (uint32_t id = 0; id < MTP_TYPES_MAX; id++) {
        const struct mtp_type_tiers *x = &t->tiers[id];
        struct mtp_type_row *row;

        if (x->pages[0] + x->pages[1] + x->heat + x->promoted + x->demoted == 0 &&
            t->seen[id].records == 0)
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
    qsort(rows, n, sizeof(*rows), row_cmp);
    return total;
}

void mtp_types__free(struct mtp_types *t)
{
    free(t->by_addr);
    t->by_addr = NULL;
    t->by_addr_len = t->by_addr_cap = 0;
}
