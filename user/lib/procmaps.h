/* SPDX-License-Identifier: MIT */
/* Parsing /proc/PID/maps text.  Pure: the caller reads the file. */
#ifndef MTP_PROCMAPS_H
#define MTP_PROCMAPS_H

#include <stddef.h>
#include <stdint.h>

struct mtp_mapping {
    uint64_t start;
    uint64_t end;
    uint64_t offset;
    uint64_t inode;
    char perms[5];
    char path[256]; /* empty for anonymous memory; "[heap]" etc. kept as is */
};

struct mtp_maps {
    struct mtp_mapping *v;
    size_t len;
    size_t cap;
};

/*
 * Parses the whole text of a maps file.  Returns 0, or -1 with a message in
 * err naming the offending line.  Mappings stay in file order, which the
 * kernel keeps sorted by address.
 */
int mtp_maps_parse(struct mtp_maps *maps, const char *text, char *err, size_t errlen);
void mtp_maps_free(struct mtp_maps *maps);

/* The mapping that contains addr, or NULL. */
const struct mtp_mapping *mtp_maps_find(const struct mtp_maps *maps, uint64_t addr);

/*
 * Path of the loaded mtp extension (mtp.so, mtp.cpython-311-x86_64-linux-gnu.so,
 * mtp.abi3.so ...), or NULL when it is not loaded.
 */
const char *mtp_maps_find_extension(const struct mtp_maps *maps);

/* True when the mappings look like a CPython process: a libpython or a
 * python executable is mapped. */
int mtp_maps_is_python(const struct mtp_maps *maps, const char *exe_path);

/*
 * The sweep: page addresses of the process's private, writable, anonymous
 * memory (brk heap, malloc's and pymalloc's mmaps; not stacks, and not
 * mappings over MTP_SWEEP_MAPPING_MAX, which are address-space reservations),
 * from *cursor on, wrapping once around, at most max_pages of them.  Advances
 * *cursor past the last page written.  Returns the count.
 */
#define MTP_SWEEP_MAPPING_MAX (64ull << 30)
size_t mtp_maps_sweep(const struct mtp_maps *maps, uint64_t *cursor, size_t max_pages,
                      uint64_t *out);

/* A short label for a mapping: "[heap]", a file's base name, or "anon". */
const char *mtp_mapping_label(const struct mtp_mapping *m);

#endif
