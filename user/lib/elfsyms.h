/* SPDX-License-Identifier: MIT */
/*
 * The dynamic symbol table of a 64-bit ELF file held in memory: whether it
 * defines a symbol, and what a constant of its (Py_Version) holds.  Every
 * offset is checked against the buffer, since the file is the target's and
 * may be anything.  Pure: the caller maps the file.
 */
#ifndef MTP_ELFSYMS_H
#define MTP_ELFSYMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mtp_elf {
    const unsigned char *img;
    size_t len;
    /* .dynsym and its string table, found by mtp_elf_open */
    size_t sym_off, sym_count, str_off, str_len;
};

/* Checks the header and finds .dynsym.  0, or -1 with the reason in err. */
int mtp_elf_open(struct mtp_elf *e, const void *img, size_t len, char *err, size_t errlen);

/* Whether the file defines (exports) name; its address in *value. */
bool mtp_elf_defines(const struct mtp_elf *e, const char *name, uint64_t *value);

/* The 4 bytes at virtual address vaddr, as loaded (through the PT_LOAD
 * segment that holds them), little-endian.  0, or -1. */
int mtp_elf_read_u32(const struct mtp_elf *e, uint64_t vaddr, uint32_t *out);

#endif
