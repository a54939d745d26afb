/* SPDX-License-Identifier: MIT */
/* Holding moves back from a node that refuses them: see move_backoff.h. */
#include "move_backoff.h"

void mtp_move_backoff_note(struct mtp_move_backoff *b, uint32_t interval, size_t tried,
                           size_t nomem, size_t stuck)
{
    if (!tried)
        return;
    if (!nomem && stuck * 2 <= tried) {
        b->len = 0;
        b->hold_until = interval;
        return;
    }
    b->len = b->len ? b->len * 2 : 1;
    if (b->len > MTP_MOVE_BACKOFF_MAX)
        b->len = MTP_MOVE_BACKOFF_MAX;
    b->hold_until = interval + 1 + b->len;
    b->holds++;
}

uint32_t mtp_move_backoff_left(const struct mtp_move_backoff *b, uint32_t interval)
{
    /* signed distance, so that the interval counter's wrap does not hold
     * moves for 2^32 intervals */
    int32_t left = (int32_t)(b->hold_until - interval);

    return left > 0 ? (uint32_t)left : 0;
}
