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

/* Whether every setting has a known name and a usable value: 0, or -1
 * with an exception set. */
static int mtp_settings_check(PyObject *kwargs)
{
    PyObject *key, *value;
    Py_ssize_t pos = 0;

    while (PyDict_Next(kwargs, &pos, &key, &value)) {
        const char *name = PyUnicode_AsUTF8(key);
        char dashed[32];
        int known = 0;

        if (name == NULL)
            return -1;
        mtp_setting_dashed(name, dashed);
        for (size_t i = 0; i < sizeof(mtp_setting_names) / sizeof(*mtp_setting_names); i++)
            known |= strcmp(dashed, mtp_setting_names[i]) == 0;
        if (!known) {
            PyErr_Format(PyExc_ValueError,
                         "unknown mtp setting '%s' (known:" MTP_APP_SETTING_KEYWORDS ")", name);
            return -1;
        }
        if (value != Py_None && !PyUnicode_Check(value) && !PyLong_Check(value) &&
            !PyFloat_Check(value)) {
            PyErr_Format(PyExc_TypeError, "mtp setting '%s' must be a str, int, float or bool",
                         name);
            return -1;
        }
    }
    return 0;
}

/* Keeps one checked setting, or with None drops it and tells the tracer
 * so.  0, or -1 with an exception set. */
static int mtp_setting_put(const char *name, PyObject *value)
{
    PyObject *text, *dashed_key;
    char dashed[32];

    mtp_setting_dashed(name, dashed);
    dashed_key = PyUnicode_FromString(dashed);
    if (dashed_key == NULL)
        return -1;
    if (value == Py_None) {
        if (PyDict_DelItem(mtp.settings, dashed_key) < 0)
            PyErr_Clear();
        Py_DECREF(dashed_key);
        if (MTP_ATTACHED(configure)) {
            /* "name=" hands the knob back to the operator's setting. */
            char reset[40];
            snprintf(reset, sizeof(reset), "%s=", dashed);
            const char *text = reset;
            MTP_FIRE(configure, text);
        }
        return 0;
    }
    if (PyBool_Check(value))
        text = PyBytes_FromFormat("%s=%s", dashed, value == Py_True ? "true" : "false");
    else {
        PyObject *str = PyObject_Str(value);
        text = str ? PyBytes_FromFormat("%s=%s", dashed, PyUnicode_AsUTF8(str)) : NULL;
        Py_XDECREF(str);
    }
    if (text == NULL || PyBytes_GET_SIZE(text) >= MTP_SETTING_MAX) {
        if (text != NULL)
            PyErr_Format(PyExc_ValueError, "mtp setting '%s' is too long", name);
        Py_XDECREF(text);
        Py_DECREF(dashed_key);
        return -1;
    }
    if (PyDict_SetItem(mtp.settings, dashed_key, text) < 0) {
        Py_DECREF(text);
        Py_DECREF(dashed_key);
        return -1;
    }
    Py_DECREF(text);
    Py_DECREF(dashed_key);
    return 0;
}

PyObject *mtp_configure(PyObject *Py_UNUSED(module), PyObject *args, PyObject *kwargs)
{
    PyObject *key, *value;
    Py_ssize_t pos = 0;

    if (PyTuple_GET_SIZE(args) != 0) {
        PyErr_SetString(PyExc_TypeError, "configure() takes keyword arguments only");
        return NULL;
    }
    if (kwargs == NULL)
        Py_RETURN_NONE;
    /* Validate everything before changing anything. */
    if (mtp_settings_check(kwargs) < 0)
        return NULL;
    while (PyDict_Next(kwargs, &pos, &key, &value))
        if (mtp_setting_put(PyUnicode_AsUTF8(key), value) < 0)
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
