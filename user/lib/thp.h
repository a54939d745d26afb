/* SPDX-License-Identifier: MIT */
/*
 * Transparent huge pages move as a whole: migrating any 4 KiB page of a THP
 * migrates all 512.  A policy that demotes a cold 4 KiB page of a THP that
 * also holds hot pages drags the hot ones down with it, and the next
 * interval promotes them back: ping-pong at 2 MiB.  So before planning, the
 * pages of one THP are given one temperature, the hottest of them.  Pure.
 */
#ifndef MTP_THP_H
#define MTP_THP_H

#include <stddef.h>
#include <stdint.h>

#include "policy.h"

#define MTP_THP_SHIFT 21 /* 2 MiB on x86-64 and arm64 with 4 KiB pages */

/*
 * For every page with is_thp[i] set, raises heat to the highest heat among
 * the THP pages in the same 2 MiB-aligned range.  Returns the number of
 * distinct huge pages seen, or -ENOMEM.
 */
long mtp_thp_unify_heat(struct mtp_policy_page *pages, size_t n, const uint8_t *is_thp);

#endif
