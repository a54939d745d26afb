// SPDX-License-Identifier: MIT
#include "headroom.h"

#include "mtp_abi.h"

#define PAGE_BYTES ((uint64_t)MTP_PAGE_SIZE)
/* The peak loses 1/DECAY_DIV an interval without a refusal ... */
#define DECAY_DIV 16
/* ... and without the counter, 1/BLIND_DECAY_DIV while the node has room. */
#define BLIND_DECAY_DIV 8

void mtp_headroom_moved(struct mtp_headroom *h, uint64_t promoted_bytes, uint64_t demoted_bytes)
{
    h->moved_in += (int64_t)promoted_bytes - (int64_t)demoted_bytes;
}

/* What the program (and whatever else runs there) took from the node since
 * the last reading, net of our own moves; 0 if it gave back. */
static uint64_t taken_since(const struct mtp_headroom *h, const struct mtp_headroom_reading *r)
{
    int64_t taken;

    if (!h->have_last || !r->free_known)
        return 0;
    taken = (int64_t)h->last_free - (int64_t)r->free_bytes - h->moved_in;
    return taken > 0 ? (uint64_t)taken : 0;
}

/* The room above the watermark the node had after our last moves. */
static uint64_t room_since(const struct mtp_headroom *h, const struct mtp_headroom_reading *r)
{
    int64_t room;

    if (!h->have_last)
        return 0;
    room = (int64_t)h->last_free - h->moved_in - (int64_t)r->watermark_bytes;
    return room > 0 ? (uint64_t)room : 0;
}

static uint64_t doubled(uint64_t b)
{
    b = b > UINT64_MAX / 2 ? UINT64_MAX : 2 * b;
    return b < MTP_HEADROOM_MIN_BYTES ? MTP_HEADROOM_MIN_BYTES : b;
}

/* The kernel's count of refused allocations: demand measured. */
static void estimate_counted(struct mtp_headroom *h, const struct mtp_headroom_reading *r)
{
    uint64_t demand = room_since(h, r) + r->refused_bytes;

    h->refusing = r->refused_bytes > 0;
    h->starved = h->refusing || r->over_budget;
    if (r->over_budget)
        h->peak = doubled(h->peak);
    if (r->refused_bytes && demand > h->peak)
        h->peak = demand;
    else if (!h->starved && taken_since(h, r) < h->peak / 2)
        h->peak -= h->peak / DECAY_DIV;
}

/* No count: grow on the node found without room, by doubling. */
static void estimate_blind(struct mtp_headroom *h, const struct mtp_headroom_reading *r)
{
    uint64_t slack =
        h->bytes / 8 > MTP_HEADROOM_SLACK_BYTES ? h->bytes / 8 : MTP_HEADROOM_SLACK_BYTES;

    h->refusing = r->free_known && (r->free_bytes <= r->watermark_bytes ||
                                    r->free_bytes - r->watermark_bytes <= slack);
    h->starved = h->refusing || r->over_budget;
    if (h->starved)
        h->peak = doubled(h->peak);
    else if (taken_since(h, r) < h->peak / 2)
        h->peak -= h->peak / BLIND_DECAY_DIV;
}

uint64_t mtp_headroom_observe(struct mtp_headroom *h, const struct mtp_headroom_reading *r)
{
    uint64_t b;

    if (r->refused_known)
        estimate_counted(h, r);
    else
        estimate_blind(h, r);
    if (h->peak > r->cap_bytes)
        h->peak = r->cap_bytes; /* what cannot be kept is no estimate to decay from */
    b = h->peak + h->peak / 4;
    if (b > r->cap_bytes)
        b = r->cap_bytes;
    h->bytes = b - b % PAGE_BYTES;
    h->last_free = r->free_bytes;
    h->have_last = r->free_known;
    h->moved_in = 0;
    return h->bytes;
}
