/* SPDX-License-Identifier: MIT */
/*
 * The type table behind mtp_type_id() (mtp_types.h): open addressing over
 * twice MTP_TYPES_MAX slots, so it never fills before the ids run out.
 * The GIL owns everything here.
 */
#include "mtp_types.h"

#include <string.h>

struct mtp_type_name mtp_type_names[MTP_TYPES_MAX];
mtp_type_slot mtp_type_cache[MTP_TYPE_CACHE];

#define MTP_TYPE_SLOTS (2 * MTP_TYPES_MAX)
static mtp_type_slot table[MTP_TYPE_SLOTS];
static uint16_t next_id = 1;

size_t mtp_types_count(void)
{
    return (size_t)next_id - 1;
}

/* s as UTF-8, or NULL (no exception left set). */
static const char *utf8_or_null(PyObject *s)
{
    const char *u;

    if (s == NULL || !PyUnicode_Check(s))
        return NULL;
    u = PyUnicode_AsUTF8(s);
    if (u == NULL)
        PyErr_Clear();
    return u;
}

void mtp_type_format_name(PyTypeObject *tp, char *out, size_t len)
{
    const char *module = NULL, *qualname = NULL, *dot;

    if (PyType_HasFeature(tp, Py_TPFLAGS_HEAPTYPE)) {
        /* A class statement's type: __module__ is in its own dict (where
         * the class body put it), the qualified name in its slot.
         * PyDict_GetItem runs nothing of the program's on a dict of str
         * keys, and swallows any error. */
        PyObject *dict = tp->tp_dict;

        if (dict != NULL && PyDict_Check(dict))
            module = utf8_or_null(PyDict_GetItemString(dict, "__module__"));
        qualname = utf8_or_null(((PyHeapTypeObject *)tp)->ht_qualname);
    }
    if (qualname == NULL) {
        /* A static type: tp_name is "module.Name", or "Name" for builtins. */
        dot = strrchr(tp->tp_name, '.');
        qualname = dot ? dot + 1 : tp->tp_name;
        if (module == NULL && dot == NULL)
            module = "builtins";
        if (module == NULL) {
            snprintf(out, len, "%.*s.%s", (int)(dot - tp->tp_name), tp->tp_name, qualname);
            return;
        }
    }
    snprintf(out, len, "%s.%s", module ? module : "?", qualname);
}

/* A name cut to fit ends on a whole UTF-8 character: drop a trailing
 * sequence the cut left incomplete, so that every reader (JSON, the
 * Prometheus file) gets valid UTF-8. */
static void cut_at_character(char *s)
{
    size_t n = strlen(s), start = n, need;
    unsigned char lead;

    while (start > 0 && ((unsigned char)s[start - 1] & 0xC0) == 0x80)
        start--;
    if (start == 0)
        return;
    lead = (unsigned char)s[start - 1];
    need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    if (n - (start - 1) < need)
        s[start - 1] = '\0';
}

uint16_t mtp_type_id_slow(PyTypeObject *tp)
{
    uintptr_t p = (uintptr_t)tp;
    size_t i = (size_t)((p >> 4) * 0x9E3779B97F4A7C15ull >> 40) & (MTP_TYPE_SLOTS - 1);
    mtp_type_slot *s;

    for (;; i = (i + 1) & (MTP_TYPE_SLOTS - 1)) {
        s = &table[i];
        if (s->tp == NULL || (s->tp == tp && s->tp_name == tp->tp_name))
            break;
    }
    if (s->tp == NULL) {
        /* At most MTP_TYPES_MAX - 1 slots are ever taken, so the probe
         * above always ends on a free one. */
        if (next_id >= MTP_TYPES_MAX) {
            mtp_type_cache[((p >> 4) ^ (p >> 12)) & (MTP_TYPE_CACHE - 1)] =
                (mtp_type_slot){tp, tp->tp_name, 0};
            return 0;
        }
        s->tp = tp;
        s->tp_name = tp->tp_name;
        s->id = next_id++;
        mtp_type_format_name(tp, mtp_type_names[s->id].name, MTP_TYPE_NAME_MAX);
        cut_at_character(mtp_type_names[s->id].name);
    }
    mtp_type_cache[((p >> 4) ^ (p >> 12)) & (MTP_TYPE_CACHE - 1)] = *s;
    return s->id;
}
