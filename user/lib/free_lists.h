/* SPDX-License-Identifier: MIT */
/*
 * When the fast node's CPUs' free-page lists (zoneinfo.h) stand between
 * the program and its fast node, and the setting that bounds them.
 *
 * Pages mtp demotes are freed onto the list of the CPU that ran
 * move_pages(2), where neither the program's new pages nor promotions can
 * use them.  On a node that is small for its CPUs the lists can hold more
 * than all of mtp's room: in the two-tier guest 23-36 MiB of a 27-MiB room
 * sat there while the node read as full and the run phase's hot set waited
 * on the slow node for up to 11 s (BENCHMARKS.md §6, parts 22-23).  Pure.
 */
#ifndef MTP_FREE_LISTS_H
#define MTP_FREE_LISTS_H

#include <stdbool.h>
#include <stdint.h>

#include "zoneinfo.h"

/*
 * True when the node is at its floor (free memory within 1 MiB of the
 * watermark, or under it) while its CPUs' lists hold at least 4 MiB and
 * an eighth of the budget: room the program and mtp cannot use.
 */
bool mtp_free_lists_starve(const struct mtp_free_lists *lists, uint64_t free_bytes,
                           uint64_t watermark_bytes, uint64_t budget_bytes);

/*
 * The vm.percpu_pagelist_high_fraction that bounds the node's lists, all
 * CPUs together, to about 1/32 of its floor: the node's managed memory over
 * that, rounded up, and at least 8 (the kernel's least).  The two-tier
 * guest's setting in `make vm-eval` and the headroom proof.  The sysctl is
 * global: every node's lists shrink by the same fraction of their own
 * node.
 */
unsigned long mtp_free_lists_fraction(uint64_t managed_bytes, uint64_t floor_bytes);

#endif
