/* SPDX-License-Identifier: MIT */
/*
 * Object footprints and their records: the memory an object occupies (its
 * inline block with the allocator's pre-header, and the storage it owns out
 * of line), its type tag, and mtp_emit_object(), which queues its records and
 * notes its storage extent for the table by owner.
 *
 * All static inline: the walk and the step call these for every object, and
 * a call into another translation unit per object would cost the step.
 * Read objects only with the GIL held and while they cannot be freed.
 */
#ifndef MTP_FOOTPRINT_H
#define MTP_FOOTPRINT_H

#include "mtp_state.h"

/* Bytes allocated in front of the PyObject header: the GC link and, on
 * 3.11+, the managed dict/weakref pointers. */
static inline size_t mtp_preheader_size(PyTypeObject *tp)
{
    size_t size = PyType_IS_GC(tp) ? 2 * sizeof(void *) : 0;

#if PY_VERSION_HEX >= 0x030C0000
    if (PyType_HasFeature(tp, Py_TPFLAGS_MANAGED_DICT | Py_TPFLAGS_MANAGED_WEAKREF))
        size += 2 * sizeof(void *);
#elif PY_VERSION_HEX >= 0x030B0000
    if (PyType_HasFeature(tp, Py_TPFLAGS_MANAGED_DICT))
        size += 2 * sizeof(void *);
#endif
    return size;
}

/* Mirrors of CPython's dict key tables (Objects/dict-common.h in 3.9/3.10,
 * Include/internal/pycore_dict.h from 3.11), read only for their sizes. */
#if PY_VERSION_HEX >= 0x030B0000
typedef struct {
    Py_ssize_t dk_refcnt;
    uint8_t dk_log2_size;
    uint8_t dk_log2_index_bytes;
    uint8_t dk_kind; /* 0: general entries (24 bytes); else unicode keys (16) */
    uint32_t dk_version;
    Py_ssize_t dk_usable;
    Py_ssize_t dk_nentries;
} mtp_dict_keys;
#else
typedef struct {
    Py_ssize_t dk_refcnt;
    Py_ssize_t dk_size;
    void *dk_lookup;
    Py_ssize_t dk_usable;
    Py_ssize_t dk_nentries;
} mtp_dict_keys;
#endif

#define MTP_USABLE_FRACTION(n) (((n) << 1) / 3)

/* Bytes of a dict's key table, or 0 for one it does not own. */
static inline uint64_t mtp_dict_keys_size(const mtp_dict_keys *dk)
{
#if PY_VERSION_HEX >= 0x030B0000
    uint64_t slots = 1ull << dk->dk_log2_size;

    if (dk->dk_log2_size > 40 || dk->dk_log2_index_bytes > 43)
        return 0;
    return sizeof(*dk) + (1ull << dk->dk_log2_index_bytes) +
           MTP_USABLE_FRACTION(slots) * (dk->dk_kind == 0 ? 24 : 16);
#else
    uint64_t slots = (uint64_t)dk->dk_size;
    unsigned index_bytes = slots <= 0xff ? 1 : slots <= 0xffff ? 2 : slots <= 0xffffffffu ? 4 : 8;

    return sizeof(*dk) + slots * index_bytes + MTP_USABLE_FRACTION(slots) * 24;
#endif
}

static inline uint64_t mtp_dict_slots(const mtp_dict_keys *dk)
{
#if PY_VERSION_HEX >= 0x030B0000
    return dk->dk_log2_size > 40 ? 0 : 1ull << dk->dk_log2_size;
#else
    return (uint64_t)dk->dk_size;
#endif
}

static inline uint64_t mtp_inline_size(PyObject *op)
{
    PyTypeObject *tp = Py_TYPE(op);
    uint64_t size = (uint64_t)tp->tp_basicsize;

    /* tp_itemsize alone does not mean ob_size is an item count: 3.11's
     * generators keep a pointer there.  Trust it only for the var-sized
     * types whose layout is public. */
    if (PyTuple_Check(op))
        size += (uint64_t)PyTuple_GET_SIZE(op) * sizeof(PyObject *);
    else if (PyBytes_Check(op))
        size += (uint64_t)PyBytes_GET_SIZE(op);
    else if (PyUnicode_Check(op)) {
#if PY_VERSION_HEX < 0x030C0000
        if (!PyUnicode_IS_READY(op))
            return size;
#endif
        if (PyUnicode_IS_COMPACT_ASCII(op))
            size = sizeof(PyASCIIObject) + (uint64_t)PyUnicode_GET_LENGTH(op) + 1;
        else if (PyUnicode_IS_COMPACT(op))
            size = sizeof(PyCompactUnicodeObject) +
                   ((uint64_t)PyUnicode_GET_LENGTH(op) + 1) * PyUnicode_KIND(op);
    } else if (PyLong_Check(op)) {
        size += (uint64_t)tp->tp_itemsize; /* one digit: most ints are small */
    }
#if PY_VERSION_HEX >= 0x030B0000
    else if (PyCode_Check(op)) {
        size += (uint64_t)Py_SIZE(op) * (uint64_t)tp->tp_itemsize; /* its bytecode, inline */
    }
#endif
#if PY_VERSION_HEX >= 0x030D0000
    /* 3.13 keeps most instances' attribute values right after the object. */
    if (PyType_HasFeature(tp, Py_TPFLAGS_INLINE_VALUES)) {
        uint8_t capacity = *(const uint8_t *)((const char *)op + tp->tp_basicsize);
        size += 8 + (uint64_t)capacity * (sizeof(PyObject *) + 1);
    }
#endif
    return size;
}

static inline uint16_t mtp_type_tag(PyObject *op)
{
    uintptr_t tp = (uintptr_t)Py_TYPE(op);

    return (uint16_t)((tp >> 4) ^ (tp >> 20) ^ (tp >> 36));
}

#define MTP_RANGES_MAX 3

/* The memory an object occupies: its inline block, plus storage it owns out
 * of line -- a list's item array, a dict's key table or split values, a
 * bytearray's buffer.  (Other buffers are found through the buffer protocol,
 * which may run code, so not here.)  Returns the number of ranges. */
static inline int mtp_object_ranges(PyObject *op, uint64_t addr[MTP_RANGES_MAX],
                                    uint64_t size[MTP_RANGES_MAX])
{
    PyTypeObject *tp = Py_TYPE(op);
    size_t pre = mtp_preheader_size(tp);
    int n = 0;

    addr[n] = (uint64_t)(uintptr_t)op - pre;
    size[n++] = pre + mtp_inline_size(op);
    if (PyList_Check(op)) {
        PyListObject *list = (PyListObject *)op;
        if (list->ob_item != NULL && list->allocated > 0) {
            addr[n] = (uint64_t)(uintptr_t)list->ob_item;
            size[n++] = (uint64_t)list->allocated * sizeof(PyObject *);
        }
    } else if (PyDict_Check(op)) {
        PyDictObject *dict = (PyDictObject *)op;
        const mtp_dict_keys *dk = (const mtp_dict_keys *)dict->ma_keys;

        if (dk != NULL && dict->ma_values == NULL && dict->ma_used > 0) {
            /* A combined table: the dict owns its keys and values. */
            addr[n] = (uint64_t)(uintptr_t)dk;
            size[n++] = mtp_dict_keys_size(dk);
        } else if (dk != NULL && dict->ma_values != NULL) {
            /* Split: the keys belong to the class; the values are this
             * instance's own. */
            addr[n] = (uint64_t)(uintptr_t)dict->ma_values;
            size[n++] = MTP_USABLE_FRACTION(mtp_dict_slots(dk)) * sizeof(PyObject *);
        }
    } else if (PyByteArray_Check(op)) {
        PyByteArrayObject *ba = (PyByteArrayObject *)op;
        if (ba->ob_bytes != NULL && ba->ob_alloc > 0) {
            addr[n] = (uint64_t)(uintptr_t)ba->ob_bytes;
            size[n++] = (uint64_t)ba->ob_alloc;
        }
    }
    return n;
}

static inline void mtp_note_extent(uint64_t owner, uint64_t addr, uint64_t size)
{
    if (mtp.step_extents_len == mtp.step_extents_cap) {
        size_t cap = mtp.step_extents_cap ? 2 * mtp.step_extents_cap : 4096;
        mtp_extent *grown = mtp_scratch_grow(&mtp.step_extents_mem, cap * sizeof(*grown),
                                             mtp.step_extents_len * sizeof(*grown));
        if (grown == NULL)
            return; /* only heat is lost */
        mtp.step_extents = grown;
        mtp.step_extents_cap = cap;
    }
    mtp.step_extents[mtp.step_extents_len++] =
        (mtp_extent){.owner = owner,
                     .addr = addr,
                     .size = size > UINT32_MAX ? UINT32_MAX : (uint32_t)size,
                     .cycle = mtp_gc.cycle};
}

/* Queues op's records: its ranges, or under MTP_FOOTPRINT=first-page one
 * byte at its start.  Returns the ranges taken (0 under first-page). */
static inline int mtp_emit_ranges(PyObject *op, int32_t delta, uint64_t addr[MTP_RANGES_MAX],
                                  uint64_t size[MTP_RANGES_MAX])
{
    uint16_t type_id = mtp_type_id(Py_TYPE(op));
    int n;

    if (mtp.first_page_only) {
        /* One byte is enough for BPF to credit the start's page and no
         * other; no extent either, so no storage is credited through the
         * owner's written page. */
        mtp_emit((uint64_t)(uintptr_t)op - mtp_preheader_size(Py_TYPE(op)), 1, delta, type_id);
        return 0;
    }
    n = mtp_object_ranges(op, addr, size);
    for (int i = 0; i < n; i++)
        mtp_emit(addr[i], size[i], delta, type_id);
    return n;
}

static inline void mtp_emit_object(PyObject *op, int32_t delta)
{
    uint64_t addr[MTP_RANGES_MAX], size[MTP_RANGES_MAX];
    int n = mtp_emit_ranges(op, delta, addr, size);

    /* Only modest storage: a page holds several owners, so a written owner
     * page also credits its neighbours', and a large buffer credited that
     * way would bring many cold pages (buffers' own writes are seen
     * directly, their data mappings being watched). */
    if (n > 1 && size[1] <= MTP_RECORD_MAX_BYTES)
        mtp_note_extent((uint64_t)(uintptr_t)op, addr[1], size[1]);
}

#endif /* MTP_FOOTPRINT_H */
