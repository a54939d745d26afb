// SPDX-License-Identifier: MIT
#include "page_dump.h"

#include <errno.h>
#include <stdlib.h>

#include <bpf/bpf.h>

#include "interval.h"

/* Pages fetched per bpf_map_lookup_batch call. */
#define BATCH 4096

static int reserve(struct mtp_page_dump *d, size_t n)
{
    struct mtp_hot_page *v;

    if (n <= d->cap)
        return 0;
    v = realloc(d->v, n * 2 * sizeof(*v));
    if (!v)
        return -ENOMEM;
    d->v = v;
    d->cap = n * 2;
    return 0;
}

int mtp_page_dump__read(struct mtp_page_dump *d, int fd, uint32_t epoch,
                        const struct mtp_maps *maps)
{
    __u64 cursor = 0;
    int first = 1;

    if (!d->keys)
        d->keys = malloc(BATCH * sizeof(*d->keys));
    if (!d->vals)
        d->vals = malloc(BATCH * sizeof(*d->vals));
    if (!d->keys || !d->vals)
        return -ENOMEM;
    d->len = 0;
    for (;;) {
        __u32 count = BATCH;
        int err = bpf_map_lookup_batch(fd, first ? NULL : &cursor, &cursor, d->keys, d->vals,
                                       &count, NULL);
        int done = err && errno == ENOENT;

        if (err && !done)
            return -errno;
        first = 0;
        if (reserve(d, d->len + count) < 0)
            return -ENOMEM;
        for (__u32 i = 0; i < count; i++) {
            struct mtp_hot_page *p = &d->v[d->len++];

            *p = mtp_hot_page_at(d->keys[i], &d->vals[i], epoch);
            p->mapping = mtp_mapping_label(mtp_maps_find(maps, d->keys[i]));
        }
        if (done)
            return 0;
    }
}

/* The program returns memory to the kernel (pymalloc frees empty arenas);
 * pages no longer in any mapping are forgotten, in the map and the dump, so
 * the table holds only memory the program still has. */
void mtp_page_dump__prune_unmapped(struct mtp_page_dump *d, int fd, const struct mtp_maps *maps)
{
    size_t kept = 0;

    for (size_t i = 0; i < d->len; i++) {
        if (mtp_maps_find(maps, d->v[i].addr)) {
            d->v[kept++] = d->v[i];
            continue;
        }
        bpf_map_delete_elem(fd, &d->v[i].addr);
    }
    d->len = kept;
}

void mtp_page_dump__free(struct mtp_page_dump *d)
{
    free(d->v);
    free(d->keys);
    free(d->vals);
}
