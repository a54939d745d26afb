// SPDX-License-Identifier: MIT
#include "procmaps.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int maps_push(struct mtp_maps *maps, const struct mtp_mapping *m)
{
    if (maps->len == maps->cap) {
        size_t cap = maps->cap ? maps->cap * 2 : 64;
        struct mtp_mapping *v = realloc(maps->v, cap * sizeof(*v));

        if (!v)
            return -1;
        maps->v = v;
        maps->cap = cap;
    }
    maps->v[maps->len++] = *m;
    return 0;
}

int mtp_maps_parse(struct mtp_maps *maps, const char *text, char *err, size_t errlen)
{
    const char *line = text;
    unsigned int lineno = 0;

    memset(maps, 0, sizeof(*maps));
    while (*line) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        struct mtp_mapping m;

        lineno++;
        if (len > 0) {
            if (mtp_mapping_parse(&m, line, len) < 0) {
                snprintf(err, errlen, "maps line %u is malformed: '%.*s'", lineno,
                         (int)(len > 80 ? 80 : len), line);
                mtp_maps_free(maps);
                return -1;
            }
            if (maps_push(maps, &m) < 0) {
                snprintf(err, errlen, "out of memory parsing maps");
                mtp_maps_free(maps);
                return -1;
            }
        }
        if (!nl)
            break;
        line = nl + 1;
    }
    return 0;
}

void mtp_maps_free(struct mtp_maps *maps)
{
    free(maps->v);
    memset(maps, 0, sizeof(*maps));
}

const struct mtp_mapping *mtp_maps_find(const struct mtp_maps *maps, uint64_t addr)
{
    size_t lo = 0, hi = maps->len;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct mtp_mapping *m = &maps->v[mid];

        if (addr < m->start)
            hi = mid;
        else if (addr >= m->end)
            lo = mid + 1;
        else
            return m;
    }
    return NULL;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');

    return slash ? slash + 1 : path;
}

/* mtp.so, or mtp.<tag>.so with a tag free of '/'; " (deleted)" after it
 * once the file was removed (--inject removes its copy once attached). */
static int is_extension_name(const char *name)
{
    static const char deleted[] = " (deleted)";
    size_t len = strlen(name);

    if (len > sizeof(deleted) - 1 && !strcmp(name + len - (sizeof(deleted) - 1), deleted))
        len -= sizeof(deleted) - 1;
    if (strncmp(name, "mtp.", 4) != 0 || len < 6)
        return 0;
    return strncmp(name + len - 3, ".so", 3) == 0;
}

const struct mtp_mapping *mtp_maps_find_extension_mapping(const struct mtp_maps *maps)
{
    for (size_t i = 0; i < maps->len; i++) {
        const char *path = maps->v[i].path;

        if (path[0] == '/' && is_extension_name(base_name(path)))
            return &maps->v[i];
    }
    return NULL;
}

const char *mtp_maps_find_extension(const struct mtp_maps *maps)
{
    const struct mtp_mapping *m = mtp_maps_find_extension_mapping(maps);

    return m ? m->path : NULL;
}

static int is_python_name(const char *name)
{
    return strncmp(name, "python", 6) == 0 || strncmp(name, "libpython", 9) == 0;
}

int mtp_maps_is_python(const struct mtp_maps *maps, const char *exe_path)
{
    if (exe_path && is_python_name(base_name(exe_path)))
        return 1;
    for (size_t i = 0; i < maps->len; i++) {
        const char *path = maps->v[i].path;

        if (path[0] == '/' && is_python_name(base_name(path)))
            return 1;
    }
    return 0;
}

const char *mtp_mapping_label(const struct mtp_mapping *m)
{
    if (!m)
        return "unmapped";
    if (m->path[0] == '\0')
        return "anon";
    if (m->path[0] == '[')
        return m->path;
    return base_name(m->path);
}

size_t mtp_maps_sweep(const struct mtp_maps *maps, uint64_t *cursor, size_t max_pages,
                      uint64_t *out)
{
    const uint64_t page = 4096;
    uint64_t start = *cursor;
    size_t n = 0;

    /* Two passes: from the cursor to the top, then from the bottom up to
     * where the first pass began. */
    for (int pass = 0; pass < 2 && n < max_pages; pass++) {
        for (size_t i = 0; i < maps->len && n < max_pages; i++) {
            const struct mtp_mapping *m = &maps->v[i];
            uint64_t lo = m->start, hi = m->end;

            if (!mtp_mapping_is_data(m))
                continue;
            if (pass == 0 && lo < start)
                lo = start;
            if (pass == 1 && hi > start)
                hi = start;
            for (uint64_t a = lo & ~(page - 1); a < hi && n < max_pages; a += page) {
                out[n++] = a;
                *cursor = a + page;
            }
        }
    }
    return n;
}
