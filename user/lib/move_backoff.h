/* SPDX-License-Identifier: MIT */
/*
 * When a node refuses pages (move_pages(2) says -ENOMEM: it is full; or
 * most of a batch is -EBUSY, or not migrated with no reason given, as the
 * kernel reports a full node too), moving more
 * there next interval fails the same way and costs the target a page-table
 * walk, a TLB flush and a copy attempt per page.  So moves in that direction
 * are held back for 1, 2, 4, ... intervals (at most MTP_MOVE_BACKOFF_MAX),
 * and the first batch that goes through ends the backoff.  One per
 * direction: a full fast node says nothing about the slow one.  Pure; owned
 * by the policy, which is owned by the tiering loop (one thread).
 */
#ifndef MTP_MOVE_BACKOFF_H
#define MTP_MOVE_BACKOFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MTP_MOVE_BACKOFF_MAX 32 /* intervals: ~30 s at the default 1 s */

struct mtp_move_backoff {
    uint32_t hold_until; /* moves are held while interval is before this */
    uint32_t len;        /* the last hold's length; 0 when not backing off */
    uint64_t holds;      /* backoffs begun or lengthened, ever */
};

/*
 * The outcome of one interval's batch in this direction: tried moves, of
 * which nomem failed with -ENOMEM and stuck with -EBUSY or no reason (all
 * still in place).  A batch with no ENOMEM and stuck at most half of it
 * ends the backoff; any other lengthens it, counted from interval.
 */
void mtp_move_backoff_note(struct mtp_move_backoff *b, uint32_t interval, size_t tried,
                           size_t nomem, size_t stuck);

/* Intervals still held at interval (0: moves may go). */
uint32_t mtp_move_backoff_left(const struct mtp_move_backoff *b, uint32_t interval);

#endif
