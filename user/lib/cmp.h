/* SPDX-License-Identifier: MIT */
/*
 * The one comparator family for qsort(3) and bsearch(3).  Every ordering in
 * mtp is by an unsigned key, so one spelling of the three-way compare (no
 * subtraction, which overflows) serves all of them.  Pure.
 */
#ifndef MTP_CMP_H
#define MTP_CMP_H

/* -1, 0 or 1 as x is below, equal to or above y. */
#define MTP_CMP(x, y) (((x) > (y)) - ((x) < (y)))

/*
 * Elements that begin with a uint64_t key: a bare uint64_t, or a struct
 * whose first member is one (C11 6.7.2.1p15: a pointer to a struct points
 * at its first member).  Ascending.
 */
int mtp_cmp_u64(const void *a, const void *b);

/* Elements that are unsigned ints.  Ascending. */
int mtp_cmp_uint(const void *a, const void *b);

#endif
