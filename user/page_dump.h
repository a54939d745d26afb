/* SPDX-License-Identifier: MIT */
/*
 * The BPF page map's contents, read once per interval: every page with its
 * heat at the interval's epoch, its fresh hint and its mapping's label.
 * Owned by the session; reports and tiering read it.
 */
#ifndef MTP_PAGE_DUMP_H
#define MTP_PAGE_DUMP_H

#include <stddef.h>
#include <stdint.h>

#include "mtp_abi.h"
#include "procmaps.h"
#include "report.h"

struct mtp_page_dump {
    struct mtp_hot_page *v; /* this interval's pages, in the map's order */
    size_t len, cap;
    /* one batch of the map, as the kernel hands it over */
    __u64 *keys;
    struct mtp_page *vals;
};

/* Reads the map behind fd into d.  0, or -errno. */
int mtp_page_dump__read(struct mtp_page_dump *d, int fd, uint32_t epoch,
                        const struct mtp_maps *maps);

/* Forgets pages that are in no mapping any more, in the map and in d. */
void mtp_page_dump__prune_unmapped(struct mtp_page_dump *d, int fd, const struct mtp_maps *maps);

void mtp_page_dump__free(struct mtp_page_dump *d);

#endif
