/* SPDX-License-Identifier: MIT */
/*
 * The page map's capacity when --max-pages is auto (the default).
 *
 * The kernel allocates a BPF hash map's bucket array whole when the map is
 * created, 16 bytes per entry of capacity rounded up to a power of two, on
 * the node of the CPU that creates it: on a tiered host, a fast node (the
 * slow ones have no CPUs).  At the old fixed default (4 Mi entries) that was
 * 64 MiB of the fast node at every attach, whatever the program's size; in
 * the two-tier guest, more than the room the headroom proof leaves there
 * (BENCHMARKS.md §4).  So the capacity follows the program: twice its
 * resident pages at attach, a power of two, between MTP_PAGE_MAP_MIN (1 MiB
 * of buckets, 256 MiB of pages) and MTP_PAGE_MAP_MAX (the old default).
 * A program attached as it starts (launched, or a cgroup's) gets the
 * maximum: its resident set says nothing yet.  The map's entries themselves
 * are allocated as pages are first reported.
 * A program that outgrows the map is told so (records dropped) and the
 * operator sizes it with --max-pages.
 *
 * Pure.
 */
#ifndef MTP_PAGE_MAP_H
#define MTP_PAGE_MAP_H

#include <stdint.h>

#define MTP_PAGE_MAP_MIN (1u << 16)
#define MTP_PAGE_MAP_MAX (1u << 22)
/* the kernel's bytes per entry of capacity, for the bucket array */
#define MTP_PAGE_MAP_BUCKET_BYTES 16

/* Capacity for a program of rss_bytes resident (0: unknown, the maximum). */
uint32_t mtp_page_map_capacity(uint64_t rss_bytes);

#endif
