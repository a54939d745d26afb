// SPDX-License-Identifier: MIT
#include "thp.h"

#include <errno.h>
#include <stdlib.h>

#include "cmp.h"

/* Sorted by range with mtp_cmp_u64, which needs the key first. */
struct member {
    uint64_t range;
    size_t index;
};

long mtp_thp_unify_heat(struct mtp_policy_page *pages, size_t n, const uint8_t *is_thp)
{
    struct member *m;
    size_t count = 0;
    long huge = 0;

    for (size_t i = 0; i < n; i++)
        count += is_thp[i] != 0;
    if (count == 0)
        return 0;
    m = malloc(count * sizeof(*m));
    if (!m)
        return -ENOMEM;
    count = 0;
    for (size_t i = 0; i < n; i++)
        if (is_thp[i])
            m[count++] = (struct member){pages[i].addr >> MTP_THP_SHIFT, i};
    qsort(m, count, sizeof(*m), mtp_cmp_u64);
    for (size_t lo = 0; lo < count;) {
        size_t hi = lo;
        uint64_t hottest = 0;

        while (hi < count && m[hi].range == m[lo].range) {
            if (pages[m[hi].index].heat > hottest)
                hottest = pages[m[hi].index].heat;
            hi++;
        }
        for (size_t k = lo; k < hi; k++)
            pages[m[k].index].heat = hottest;
        huge++;
        lo = hi;
    }
    free(m);
    return huge;
}
