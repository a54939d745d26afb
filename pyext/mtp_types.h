/* SPDX-License-Identifier: MIT */
/*
 * Python types, numbered for the records (include/mtp_abi.h, "Types"): a
 * type gets the next id the first time a step observes one of its objects,
 * and its name, "module.QualName", goes into mtp_type_names[id], which
 * mtp:objects hands to the BPF fold.  Ids are never reused; once
 * MTP_TYPES_MAX - 1 are given out, further types are not attributed (id 0).
 * The GIL owns everything here.
 */
#ifndef MTP_TYPES_H
#define MTP_TYPES_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stddef.h>
#include <stdint.h>

#include "mtp_abi.h"

#pragma GCC visibility push(hidden)

extern struct mtp_type_name mtp_type_names[MTP_TYPES_MAX];

/* A type is known by its address and its tp_name pointer together: a class
 * freed and another allocated at its address has its own name string. */
typedef struct {
    PyTypeObject *tp;
    const char *tp_name;
    uint16_t id;
} mtp_type_slot;

/* The last type met at each of a few hundred places: a step meets a handful
 * of types over and over, and this keeps their lookup to one compare. */
#define MTP_TYPE_CACHE 256
extern mtp_type_slot mtp_type_cache[MTP_TYPE_CACHE];

/* The table behind the cache; numbers a type it has not met. */
uint16_t mtp_type_id_slow(PyTypeObject *tp);

static inline uint16_t mtp_type_id(PyTypeObject *tp)
{
    uintptr_t p = (uintptr_t)tp;
    const mtp_type_slot *s = &mtp_type_cache[((p >> 4) ^ (p >> 12)) & (MTP_TYPE_CACHE - 1)];

    if (s->tp == tp && s->tp_name == tp->tp_name)
        return s->id;
    return mtp_type_id_slow(tp);
}

/* Types numbered so far (mtp.stats()'s "types"). */
size_t mtp_types_count(void);

/* "module.QualName" of tp into out (len bytes, cut and NUL-terminated),
 * without running any of the program's code: no attribute lookup, only the
 * type's own dict and slots. */
void mtp_type_format_name(PyTypeObject *tp, char *out, size_t len);

#pragma GCC visibility pop

#endif /* MTP_TYPES_H */
