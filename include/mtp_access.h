/* SPDX-License-Identifier: MIT */
/*
 * The access counts a QEMU TCG plugin (tools/vm/access_plugin.c) keeps for
 * the two-tier guest, per guest-physical 4 KiB page, in a file the host's
 * harness maps (tools/vm/access_counts.py reads it).  The plugin only
 * increments; the harness takes a snapshot per window and subtracts the
 * previous one, so nothing is ever reset under a running vCPU.
 *
 * The file: one struct mtp_access_header, then for each vCPU (n_vcpus) and
 * each kind (loads, then stores) n_pages uint32_t counters, page p of the
 * guest-physical address space at index p.  A counter wraps at 2^32; the
 * harness's windows are far shorter than that many accesses to one page.
 * Each vCPU has its own counters: no atomics on the emulated access path.
 *
 * Counting can be switched off and on while the guest runs (version 2): the
 * host writes count_want.  Off, every access returns at once.  Started off
 * (count=0), the plugin has instrumented nothing yet and the guest runs at
 * TCG's own speed until the host first asks to count: then the plugin has
 * QEMU re-translate all code with its callback, once, and sets instrumented.
 * Once only, because QEMU 7.2 frees the callbacks' arrays at a code flush
 * while a vCPU may still point at them (tools/vm/README.md).  make vm-eval
 * uses this to leave the boot and the first workload's build uncounted.
 */
#ifndef MTP_ACCESS_H
#define MTP_ACCESS_H

#include <stdint.h>

#define MTP_ACCESS_MAGIC   0x7373636170746d00ull /* "\0mtpacss" little-endian */
#define MTP_ACCESS_VERSION 2
#define MTP_ACCESS_KINDS   2 /* loads, stores */

struct mtp_access_header {
    uint64_t magic;
    uint32_t version;
    uint32_t page_shift;   /* 12 */
    uint64_t n_pages;      /* guest-physical pages counted: [0, n_pages << page_shift) */
    uint32_t n_vcpus;      /* counter sets that follow */
    uint32_t sample;       /* one memory instruction in `sample` is instrumented */
    uint64_t outside;      /* accesses above the counted range (a larger guest than said) */
    uint64_t io;           /* accesses to I/O memory, not counted per page */
    uint32_t count_want;   /* written by the host: 1 count, 0 do not */
    uint32_t instrumented; /* written by the plugin: its callback is in the code */
};

/* The offset of vCPU v's counters of kind k (0 loads, 1 stores). */
static inline uint64_t mtp_access_offset(const struct mtp_access_header *h, uint32_t v, uint32_t k)
{
    return sizeof(*h) + ((uint64_t)v * MTP_ACCESS_KINDS + k) * h->n_pages * sizeof(uint32_t);
}

#endif /* MTP_ACCESS_H */
