/* SPDX-License-Identifier: MIT */
/*
 * A process's whole /proc/PID/maps, for the loader: its mappings by address,
 * its extension, and the sweep's windows.  Pure: the caller reads the file.
 * Lines are parsed, and mappings judged, by mapping.h, which the extension
 * shares.
 */
#ifndef MTP_PROCMAPS_H
#define MTP_PROCMAPS_H

#include <stddef.h>
#include <stdint.h>

#include "mapping.h"

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
 * mtp.abi3.so ...; " (deleted)" after it once removed), or NULL when it is
 * not loaded.
 */
const char *mtp_maps_find_extension(const struct mtp_maps *maps);

/* Its first mapping, or NULL: for /proc/PID/map_files/START-END, which
 * opens the very file mapped, removed or in another root. */
const struct mtp_mapping *mtp_maps_find_extension_mapping(const struct mtp_maps *maps);

/* True when the mappings look like a CPython process: a libpython or a
 * python executable is mapped. */
int mtp_maps_is_python(const struct mtp_maps *maps, const char *exe_path);

/*
 * The sweep: page addresses of the process's data, the mappings
 * mtp_mapping_is_data() accepts (the written-page scan's rule), from *cursor
 * on, wrapping once around, at most max_pages of them.  Advances *cursor
 * past the last page written.  Returns the count.
 */
size_t mtp_maps_sweep(const struct mtp_maps *maps, uint64_t *cursor, size_t max_pages,
                      uint64_t *out);

/* A short label for a mapping: "[heap]", a file's base name, or "anon". */
const char *mtp_mapping_label(const struct mtp_mapping *m);

#endif
