// SPDX-License-Identifier: MIT
#include "page_map.h"

#include "mtp_abi.h"

uint32_t mtp_page_map_capacity(uint64_t rss_bytes)
{
    uint64_t want = rss_bytes / MTP_PAGE_SIZE * 2, cap = MTP_PAGE_MAP_MIN;

    if (rss_bytes == 0)
        return MTP_PAGE_MAP_MAX; /* nothing to size by: what every run had */
    while (cap < want && cap < MTP_PAGE_MAP_MAX)
        cap <<= 1;
    return (uint32_t)cap;
}
