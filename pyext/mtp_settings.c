/* SPDX-License-Identifier: MIT */
/*
 * Settings: mtp.configure(**settings) asks the tracer for this program's
 * tiering settings (fast_budget, max_rate, ...), and mtp.settings() reads
 * them back.  They are kept as "name=value" bytes in mtp.settings and fired
 * through mtp:configure when given and again at every step
 * (mtp_fire_settings), so a tracer attached later learns them; mtp-trace
 * clamps them to its own command line (user/settings.c).  The GIL's.
 */
#include "mtp_state.h"

#include <stdio.h>

#include "mtp_settings.h"
#include <string.h>

const char mtp_configure_doc[] = PyDoc_STR(
    "configure(**settings)\n--\n\n"
    "Ask the tracer for this program's tiering settings, e.g.\n"
    "mtp.configure(fast_budget='2G', max_rate=50, lazy=4).  Known names:\n" MTP_APP_SETTING_KEYWORDS
    ".\nmtp-trace honours them only within the limits its own command line\n"
    "sets.  A value of None removes a setting.");

#define MTP_SETTING_OPTION(option, keyword) option,
static const char *const mtp_setting_names[] = {MTP_APP_SETTINGS(MTP_SETTING_OPTION)};
#undef MTP_SETTING_OPTION

/* A setting's name as the tracer spells it: fast_budget -> fast-budget. */
static void mtp_setting_dashed(const char *name, char dashed[32])
{
    snprintf(dashed, 32, "%s", name);
    for (char *c = dashed; *c; c++)
        if (*c == '_')
            *c = '-';
}

/* The UTF-8 text of a str, or NULL with an exception set.  A str that has
 * no UTF-8 form (a lone surrogate, as os.environ and os.fsdecode() make of
 * bytes that are not UTF-8) or that holds a NUL (which would cut what the
 * tracer reads) is refused with a ValueError naming the setting: its text
 * must reach the tracer whole or not at all. */
static const char *mtp_setting_utf8(PyObject *str, const char *name)
{
    Py_ssize_t len;
    const char *s = PyUnicode_AsUTF8AndSize(str, &len);

    if (s == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError))
            return NULL; /* MemoryError and the like: as they are */
        PyErr_Clear();
        PyErr_Format(PyExc_ValueError,
                     "mtp setting '%s': its value is not valid UTF-8 text (a lone surrogate, such "
                     "as os.environ holds for bytes that are not UTF-8); give plain text such as "
                     "'2G'",
                     name);
        return NULL;
    }
    if (strlen(s) != (size_t)len) {
        PyErr_Format(PyExc_ValueError, "mtp setting '%s': its value contains a NUL character",
                     name);
        return NULL;
    }
    return s;
}

/* A keyword's name as the tracer spells it, into dashed, when it is one of
 * the known settings: 0, or -1 with a ValueError naming it. */
static int mtp_setting_known(PyObject *key, char dashed[32])
{
    Py_ssize_t len;
    const char *name = PyUnicode_Check(key) ? PyUnicode_AsUTF8AndSize(key, &len) : NULL;

    if (name != NULL && strlen(name) == (size_t)len && len < 32) {
        mtp_setting_dashed(name, dashed);
        for (size_t i = 0; i < sizeof(mtp_setting_names) / sizeof(*mtp_setting_names); i++)
            if (strcmp(dashed, mtp_setting_names[i]) == 0)
                return 0;
    } else if (name == NULL && !PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
        return -1;
    }
    /* Named by repr: a name without a UTF-8 form has no '%s'. */
    PyErr_Clear();
    PyErr_Format(PyExc_ValueError, "unknown mtp setting %R (known:" MTP_APP_SETTING_KEYWORDS ")",
                 key);
    return -1;
}

/* What configure() sends for one setting: b"name=value", or None for a
 * value of None (the operator's setting again).  NULL with an exception
 * set when the setting is unknown or its value unusable. */
static PyObject *mtp_setting_text(PyObject *key, PyObject *value)
{
    PyObject *str, *text = NULL;
    const char *name, *s;
    char dashed[32];

    if (mtp_setting_known(key, dashed) < 0)
        return NULL;
    name = PyUnicode_AsUTF8(key); /* known, so plain ASCII */
    if (value == Py_None)
        Py_RETURN_NONE;
    if (PyBool_Check(value))
        return PyBytes_FromFormat("%s=%s", dashed, value == Py_True ? "true" : "false");
    if (!PyUnicode_Check(value) && !PyLong_Check(value) && !PyFloat_Check(value)) {
        PyErr_Format(PyExc_TypeError, "mtp setting '%s' must be a str, int, float or bool", name);
        return NULL;
    }
    str = PyObject_Str(value);
    s = str ? mtp_setting_utf8(str, name) : NULL;
    if (s != NULL)
        text = PyBytes_FromFormat("%s=%s", dashed, s);
    Py_XDECREF(str);
    if (text != NULL && PyBytes_GET_SIZE(text) >= MTP_SETTING_MAX) {
        PyErr_Format(PyExc_ValueError, "mtp setting '%s' is too long", name);
        Py_CLEAR(text);
    }
    return text;
}

/* Keeps one checked setting, or with None drops it and tells the tracer
 * so.  0, or -1 with an exception set. */
static int mtp_setting_put(PyObject *dashed_key, PyObject *text)
{
    if (text != Py_None)
        return PyDict_SetItem(mtp.settings, dashed_key, text);
    if (PyDict_DelItem(mtp.settings, dashed_key) < 0)
        PyErr_Clear();
    if (MTP_ATTACHED(configure)) {
        /* "name=" hands the knob back to the operator's setting. */
        char reset[40];
        const char *text = reset;

        snprintf(reset, sizeof(reset), "%s=", PyUnicode_AsUTF8(dashed_key));
        MTP_FIRE(configure, text);
    }
    return 0;
}

PyObject *mtp_configure(PyObject *Py_UNUSED(module), PyObject *args, PyObject *kwargs)
{
    PyObject *key, *value, *checked;
    Py_ssize_t pos = 0;
    int rc = 0;

    if (PyTuple_GET_SIZE(args) != 0) {
        PyErr_SetString(PyExc_TypeError, "configure() takes keyword arguments only");
        return NULL;
    }
    if (kwargs == NULL)
        Py_RETURN_NONE;
    /* Check and convert everything before changing anything: the dashed
     * name -> its text, or None. */
    checked = PyDict_New();
    while (checked != NULL && rc == 0 && PyDict_Next(kwargs, &pos, &key, &value)) {
        PyObject *text = mtp_setting_text(key, value), *dashed_key = NULL;
        char dashed[32];

        if (text != NULL) {
            mtp_setting_dashed(PyUnicode_AsUTF8(key), dashed);
            dashed_key = PyUnicode_FromString(dashed);
        }
        rc = dashed_key ? PyDict_SetItem(checked, dashed_key, text) : -1;
        Py_XDECREF(dashed_key);
        Py_XDECREF(text);
    }
    pos = 0;
    while (checked != NULL && rc == 0 && PyDict_Next(checked, &pos, &key, &value))
        rc = mtp_setting_put(key, value);
    Py_XDECREF(checked);
    if (checked == NULL || rc < 0)
        return NULL;
    mtp_fire_settings();
    Py_RETURN_NONE;
}

const char mtp_settings_doc[] =
    PyDoc_STR("settings()\n--\n\nThe settings given to configure(), as a dict.");

PyObject *mtp_settings(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    PyObject *out = PyDict_New(), *key, *text;
    Py_ssize_t pos = 0;

    while (out != NULL && PyDict_Next(mtp.settings, &pos, &key, &text)) {
        const char *eq = strchr(PyBytes_AS_STRING(text), '=');
        PyObject *value = PyUnicode_FromString(eq ? eq + 1 : "");
        if (value == NULL || PyDict_SetItem(out, key, value) < 0)
            Py_CLEAR(out);
        Py_XDECREF(value);
    }
    return out;
}
