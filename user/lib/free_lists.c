// SPDX-License-Identifier: MIT
#include "free_lists.h"

#define MIB (1ULL << 20)

/* The kernel's MIN_PERCPU_PAGELIST_HIGH_FRACTION: a list may be no larger
 * than an eighth of its zone over its CPUs.  The sysctl is an int. */
#define LEAST_FRACTION 8UL

bool mtp_free_lists_starve(const struct mtp_free_lists *lists, uint64_t free_bytes,
                           uint64_t watermark_bytes, uint64_t budget_bytes)
{
    bool at_floor = free_bytes <= watermark_bytes || free_bytes - watermark_bytes <= MIB;

    return at_floor && lists->held_bytes >= 4 * MIB && lists->held_bytes >= budget_bytes / 8;
}

unsigned long mtp_free_lists_fraction(uint64_t managed_bytes, uint64_t floor_bytes)
{
    uint64_t target = floor_bytes / 32, f;

    if (target == 0)
        return LEAST_FRACTION;
    f = managed_bytes / target + (managed_bytes % target != 0);
    return f < LEAST_FRACTION ? LEAST_FRACTION : f > 0x7fffffffUL ? 0x7fffffffUL : (unsigned long)f;
}
