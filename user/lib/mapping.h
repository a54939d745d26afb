/* SPDX-License-Identifier: MIT */
/*
 * One line of /proc/PID/maps, parsed, and the one rule for which mappings
 * hold the program's data.  Shared by the loader (user/lib/procmaps.c: its
 * sweep for fast pages mtp never saw) and the extension (pyext/mtp_wpscan.c:
 * the mappings its written-page scan watches), so the two cannot drift
 * apart again; the extension compiles this file itself (pyext/SOURCES).
 *
 * Pure and allocation-free: no malloc (the extension may not call the
 * program's allocator: pyext/mtp_ownmem.h), no stdio, no locale, nothing
 * but C11 and the caller's memory.
 */
#ifndef MTP_MAPPING_H
#define MTP_MAPPING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What every mapping's bounds are a multiple of: the smallest page size
 * (4 KiB; a larger base page is a multiple of it). */
#define MTP_MAPPING_PAGE 4096ull

struct mtp_mapping {
    uint64_t start; /* first byte */
    uint64_t end;   /* past the last byte; above start */
    uint64_t offset;
    uint64_t inode; /* 0 for anonymous memory */
    char perms[5];  /* "rw-p": read, write, execute, p(rivate) or s(hared) */
    /* What the kernel prints after the inode, leading blanks skipped: ""
     * for unnamed anonymous memory, "[heap]", "[stack]", "[anon:NAME]", a
     * file's path (" (deleted)" appended once unlinked).  A longer one keeps
     * its end, from a '/', so that the file's name survives (path_cut). */
    char path[256];
    bool path_cut; /* path is the end of a longer one: not a path to open */
};

/*
 * Parses the `len` bytes at `line` (no newline needed, none read past len).
 * Returns 0, or -1 when they are not a mapping (junk, an empty line, an end
 * not above the start); m is then unspecified.
 */
int mtp_mapping_parse(struct mtp_mapping *m, const char *line, size_t len);

/*
 * Walks maps text a line at a time: parses the line at *text into m and
 * moves *text past its newline.  Returns 1 for a mapping, -1 for a line
 * that is not one (skipped all the same), 0 when no line is left.
 */
int mtp_mapping_next(const char **text, struct mtp_mapping *m);

/*
 * Mappings larger than this (64 GiB) are reservations of address space, not
 * data: a sanitizer's shadow memory, a runtime's arena reservation.
 * Watching one costs page-table walks over terabytes at every scan, and
 * sweeping one would spend the sweep's windows on pages never touched.
 */
#define MTP_MAPPING_DATA_MAX (64ull << 30)

/*
 * The one rule: does m hold the program's data -- heap-like anonymous
 * memory -- which the scan watches for writes and the sweep asks about?
 *
 * Yes when it is private, readable and writable, backed by no file (inode
 * 0), at most MTP_MAPPING_DATA_MAX, and either unnamed (malloc's and
 * pymalloc's mmaps, thread stacks, large buffers), the brk heap "[heap]", or
 * named by its allocator "[anon:NAME]" (prctl PR_SET_VMA_ANON_NAME, Linux
 * 5.17+ with CONFIG_ANON_VMA_NAME: glibc's malloc under the tunable
 * glibc.mem.decorate_maps, pymalloc's arenas under -X dev or in debug
 * builds from CPython 3.15, mtp's own "[anon:mtp]").  A name says who
 * allocated the memory, not what it holds: naming it must not hide it from
 * tiering.
 *
 * No for everything else: files, deleted or not (a library's data, a
 * mapped file: not what the allocators hand out), shared memory (another
 * process's too), memory that is not writable (code, relro, guard pages),
 * and the kernel's special mappings, "[stack]", "[vvar]", "[vdso]",
 * "[vsyscall]", "[uprobes]": the main stack is the interpreter's, hot by
 * construction, and the rest are not the program's data.
 *
 * mtp's own mappings pass the rule, on purpose.  To the loader they are the
 * process's memory like any other (in its resident bytes and its fast-tier
 * budget), and on kernels without CONFIG_ANON_VMA_NAME it could not tell
 * them apart anyway.  The written-page scan must never watch them (mtp's
 * writes are not the program's, and would fault): it leaves them out by
 * address, with its registry of own ranges (mtp_wpscan_own_add), which
 * needs no name.
 */
int mtp_mapping_is_data(const struct mtp_mapping *m);

#endif
