/* SPDX-License-Identifier: MIT */
/*
 * What each Python type holds, and where: the pure half of the per-type
 * table ("Types" in include/mtp_abi.h says where ids and names come from).
 * The session reads the BPF "types" and "type_names" maps into a struct
 * mtp_types; this takes each type's live bytes by tier from the BPF fold's
 * cycle banks, counts pages and moves for the type holding most of each
 * page, and turns them into report rows.  Owned by the session, one per process.
 */
#ifndef MTP_PYTYPES_H
#define MTP_PYTYPES_H

#include <stddef.h>
#include <stdint.h>

#include "mtp_abi.h"
#include "policy.h"
#include "report.h"

struct mtp_types {
    struct mtp_type_tiers tiers[MTP_TYPES_MAX]; /* this interval's pages; moves since start */
    struct mtp_type_stats seen[MTP_TYPES_MAX];  /* the BPF fold's sums, as last read */
    uint64_t reported_bytes[MTP_TYPES_MAX];     /* seen[].bytes at the previous report */
    struct mtp_type_name names[MTP_TYPES_MAX];  /* as last read; "" until the fold met it */
    /* The ids read from and written to the BPF maps each interval: ids are
     * given out from 1 upward, so the first `span` cover every type met,
     * with room for the next (mtp_types__grow_span). */
    uint32_t keys[MTP_TYPES_MAX];
    uint32_t span;
    /* this interval's pages sorted by address, to find a moved page's type */
    struct mtp_type_at {
        uint64_t addr;
        uint16_t type_id;
    } * by_addr;
    size_t by_addr_len, by_addr_cap;
};

/* A type's bytes and hot bytes on every tier, unlocated included. */
static inline uint64_t mtp_type_bytes(const struct mtp_type_tiers *x)
{
    return x->bytes[MTP_AT_FAST] + x->bytes[MTP_AT_SLOW] + x->bytes[MTP_AT_UNLOCATED];
}

static inline uint64_t mtp_type_hot_bytes(const struct mtp_type_tiers *x)
{
    return x->hot_bytes[MTP_AT_FAST] + x->hot_bytes[MTP_AT_SLOW] + x->hot_bytes[MTP_AT_UNLOCATED];
}

/* Fills t->tiers for the interval: each type's live bytes by tier from the
 * last complete heap cycle's bank of t->seen (`cycles`: heap cycles
 * completed; during the first, the bank under way), and the pages it holds
 * most of with their heat.  Moves counted before are kept.  0, or -ENOMEM
 * (the address index). */
int mtp_types__count_pages(struct mtp_types *t, const struct mtp_hot_page *pages, size_t n,
                           uint64_t cycles);

/* Adds the interval's moves that went through (node_after: where each page
 * is now) to the promoted and demoted counts of the moved pages' types. */
void mtp_types__count_moves(struct mtp_types *t, const struct mtp_move *moves, size_t n,
                            const int *node_after, int fast_node);

/* Fills rows with every type that holds a tracked page or was observed
 * (cap MTP_TYPES_MAX holds them all; past cap, types by id are left out);
 * returns how many there are in
 * all.  Hottest first: by hot bytes, then bytes, then id.  Marks the
 * observed bytes as reported. */
size_t mtp_types__rows(struct mtp_types *t, struct mtp_type_row *rows, size_t cap);

/* The ids to read next interval: twice the highest met so far, plus room,
 * at most MTP_TYPES_MAX (and fills keys[] the first time). */
void mtp_types__grow_span(struct mtp_types *t);

/* Reorders rows (sorted by mtp_types__rows) so that the first `want` are
 * what a report shows: the hottest half, then the largest of the rest by
 * bytes -- the large cold types are what the slow tier is for, and a list by
 * heat alone would leave them out. */
void mtp_types__pick(struct mtp_type_row *rows, size_t n, size_t want);

/* The name shown for a type: its own, "(unattributed)" for id 0, or
 * "type#ID" for one whose name the fold could not read. */
void mtp_types__name(const struct mtp_types *t, uint16_t id, char *out, size_t len);

void mtp_types__free(struct mtp_types *t);

#endif
