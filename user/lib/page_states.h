/* SPDX-License-Identifier: MIT */
/*
 * What the policy remembers per page between intervals, by page address: an
 * open-addressing hash table (Fibonacci hashing, linear probing, at most
 * half full, backward-shift deletion).  Pure; owned by a struct mtp_policy.
 */
#ifndef MTP_PAGE_STATES_H
#define MTP_PAGE_STATES_H

#include <stddef.h>
#include <stdint.h>

struct mtp_page_state {
    uint64_t addr;
    uint32_t last_seen;  /* interval the page was last reported in */
    uint32_t demoted_at; /* interval of a DEMOTE still being judged, 0 = none */
    uint32_t unselected; /* consecutive intervals not selected for fast */
    uint16_t used;
    uint16_t promoted; /* mtp moved it to the fast tier and has not moved it back */
};

struct mtp_page_states {
    struct mtp_page_state *slots;
    size_t n_slots; /* a power of two */
    size_t count;
};

/* 0, or -ENOMEM. */
int mtp_page_states_init(struct mtp_page_states *t);
void mtp_page_states_free(struct mtp_page_states *t);

/* Makes room for `more` new pages.  0, or -ENOMEM with the table as it was. */
int mtp_page_states_reserve(struct mtp_page_states *t, size_t more);

/* The page's state, zeroed when new; the caller reserved room for it. */
struct mtp_page_state *mtp_page_states_upsert(struct mtp_page_states *t, uint64_t addr);

/* The page's state, or NULL. */
struct mtp_page_state *mtp_page_states_find(const struct mtp_page_states *t, uint64_t addr);

/*
 * Forgets the pages not reported in `interval`, except while a demotion of
 * one is still being judged (demoted_at set), and shrinks a table that has
 * become sparse.
 */
void mtp_page_states_forget(struct mtp_page_states *t, uint32_t interval);

#endif
