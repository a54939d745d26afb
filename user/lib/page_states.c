// SPDX-License-Identifier: MIT
#include "page_states.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "mtp_abi.h"

/* Below this many slots the table never shrinks: not worth the rehash. */
#define MIN_SLOTS 1024

/* Fibonacci hashing of the page number: neighbouring pages, the common
 * case, land far apart. */
static size_t home_slot(const struct mtp_page_states *t, uint64_t addr)
{
    return (size_t)(((addr >> MTP_PAGE_SHIFT) * 0x9E3779B97F4A7C15ULL) >> 32) & (t->n_slots - 1);
}

int mtp_page_states_init(struct mtp_page_states *t)
{
    t->n_slots = MIN_SLOTS;
    t->count = 0;
    t->slots = calloc(t->n_slots, sizeof(*t->slots));
    return t->slots ? 0 : -ENOMEM;
}

void mtp_page_states_free(struct mtp_page_states *t)
{
    free(t->slots);
    t->slots = NULL;
}

struct mtp_page_state *mtp_page_states_find(const struct mtp_page_states *t, uint64_t addr)
{
    size_t mask = t->n_slots - 1;

    for (size_t i = home_slot(t, addr);; i = (i + 1) & mask) {
        if (!t->slots[i].used)
            return NULL;
        if (t->slots[i].addr == addr)
            return &t->slots[i];
    }
}

/* The caller guarantees room (at most half full after the insert). */
struct mtp_page_state *mtp_page_states_upsert(struct mtp_page_states *t, uint64_t addr)
{
    size_t mask = t->n_slots - 1;
    size_t i;

    for (i = home_slot(t, addr); t->slots[i].used; i = (i + 1) & mask)
        if (t->slots[i].addr == addr)
            return &t->slots[i];
    memset(&t->slots[i], 0, sizeof(t->slots[i]));
    t->slots[i].addr = addr;
    t->slots[i].used = 1;
    t->count++;
    return &t->slots[i];
}

static int rehash(struct mtp_page_states *t, size_t n_slots)
{
    struct mtp_page_state *old = t->slots;
    size_t old_n = t->n_slots;
    struct mtp_page_state *fresh = calloc(n_slots, sizeof(*fresh));

    if (!fresh)
        return -ENOMEM;
    t->slots = fresh;
    t->n_slots = n_slots;
    t->count = 0;
    for (size_t i = 0; i < old_n; i++)
        if (old[i].used)
            *mtp_page_states_upsert(t, old[i].addr) = old[i];
    free(old);
    return 0;
}

static size_t slots_for(size_t entries)
{
    size_t n = MIN_SLOTS;

    while (n / 2 < entries)
        n *= 2;
    return n;
}

int mtp_page_states_reserve(struct mtp_page_states *t, size_t more)
{
    size_t want = slots_for(t->count + more);

    if (want > t->n_slots && rehash(t, want))
        return -ENOMEM;
    return 0;
}

/* Backward-shift deletion: no tombstones, so lookups stay short however
 * many pages come and go. */
static void delete_slot(struct mtp_page_states *t, size_t i)
{
    size_t mask = t->n_slots - 1;

    for (size_t j = (i + 1) & mask; t->slots[j].used; j = (j + 1) & mask) {
        size_t home = home_slot(t, t->slots[j].addr);
        bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);

        if (stays)
            continue;
        t->slots[i] = t->slots[j];
        i = j;
    }
    t->slots[i].used = 0;
    t->count--;
}

void mtp_page_states_forget(struct mtp_page_states *t, uint32_t interval)
{
    size_t mask = t->n_slots - 1, start = 0;

    /* start after an empty slot so no cluster wraps past the sweep's end,
     * and every entry a deletion shifts back is one not yet visited */
    while (t->slots[start].used)
        start++;
    for (size_t k = 1; k <= t->n_slots; k++) {
        size_t i = (start + k) & mask;

        while (t->slots[i].used && t->slots[i].last_seen != interval && !t->slots[i].demoted_at)
            delete_slot(t, i);
    }
    if (t->n_slots > MIN_SLOTS && t->count * 8 < t->n_slots)
        (void)rehash(t, slots_for(t->count * 2)); /* staying large is harmless */
}
