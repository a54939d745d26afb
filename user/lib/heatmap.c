// SPDX-License-Identifier: MIT
/* Pages into address blocks: see heatmap.h. */
#include "heatmap.h"

#include <stdlib.h>

static int by_block(const void *a, const void *b)
{
    const struct mtp_heat_block *x = a, *y = b;

    return (x->block > y->block) - (x->block < y->block);
}

size_t mtp_heatmap_fold(const struct mtp_hot_page *pages, size_t n, struct mtp_heat_block *out)
{
    size_t len = 0;

    if (n == 0)
        return 0;
    /* one block per page, sorted, then runs merged in place */
    for (size_t i = 0; i < n; i++)
        out[i] = (struct mtp_heat_block){pages[i].addr >> MTP_HEATMAP_SHIFT, 1, pages[i].heat > 0,
                                         pages[i].heat};
    qsort(out, n, sizeof(*out), by_block);
    for (size_t i = 0; i < n; i++) {
        struct mtp_heat_block *last = len ? &out[len - 1] : NULL;

        if (last && last->block == out[i].block) {
            last->pages += out[i].pages;
            last->hot += out[i].hot;
            last->heat =
                last->heat > UINT64_MAX - out[i].heat ? UINT64_MAX : last->heat + out[i].heat;
        } else {
            out[len++] = out[i];
        }
    }
    return len;
}
