// SPDX-License-Identifier: MIT
#include "inject_script.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Run through exec with a dict of its own, so that it binds nothing in
 * __main__; \n and quotes are escaped for the exec string. */
static const char code_fmt[] = "__import__('builtins').exec("
                               "'import sys\\n"
                               "if \\'mtp\\' not in sys.modules:\\n"
                               " try:\\n"
                               "  import importlib.util as u\\n"
                               "  s = u.spec_from_file_location(\\'mtp\\', \\'%s\\')\\n"
                               "  m = u.module_from_spec(s)\\n"
                               "  sys.modules[\\'mtp\\'] = m\\n"
                               "  s.loader.exec_module(m)\\n"
                               " except KeyboardInterrupt:\\n"
                               "  sys.modules.pop(\\'mtp\\', None)\\n"
                               "  import _thread\\n"
                               "  _thread.interrupt_main()\\n"
                               " except BaseException:\\n"
                               "  sys.modules.pop(\\'mtp\\', None)\\n"
                               "', {})";

static int path_is_plain(const char *p)
{
    for (; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr("/._+-", *p)))
            return 0;
    return 1;
}

int mtp_inject_code(const char *ext_path, char *out, size_t len)
{
    int n;

    if (ext_path[0] != '/' || !path_is_plain(ext_path))
        return -1;
    n = snprintf(out, len, code_fmt, ext_path);
    return n < 0 || (size_t)n >= len ? -1 : n;
}

void mtp_inject_gdb_script(const char *code, struct mtp_strbuf *out)
{
    size_t len = strlen(code) + 1; /* with its NUL */

    /* unwindonsignal: a call interrupted (mtp-trace's timeout sends gdb
     * SIGINT) is unwound, so the target resumes where it was stopped. */
    mtp_strbuf_printf(out,
                      "set confirm off\n"
                      "set pagination off\n"
                      "set unwindonsignal on\n"
                      "set $mtp_page = (long)mmap((void *)0, (unsigned long)%d, 3, 0x22, "
                      "-1, (long)0)\n"
                      "if $mtp_page == -1 || $mtp_page == 0\n"
                      "  printf \"MTP_INJECT_NOPAGE\\n\"\n"
                      "  detach\n"
                      "  quit 3\n"
                      "end\n",
                      MTP_INJECT_PAGE);
    for (size_t i = 0; i < len; i += 8) {
        unsigned char word[8] = {0};
        uint64_t v = 0;

        memcpy(word, code + i, len - i < 8 ? len - i : 8);
        for (int k = 7; k >= 0; k--)
            v = v << 8 | word[k];
        mtp_strbuf_printf(out, "set {unsigned long}($mtp_page + %zu) = 0x%llx\n", i,
                          (unsigned long long)v);
    }
    mtp_strbuf_printf(out, "set $mtp_rc = (int)Py_AddPendingCall((void *)PyRun_SimpleString, "
                           "(void *)$mtp_page)\n"
                           "printf \"" MTP_INJECT_MARK "%%d\\n\", $mtp_rc\n"
                           "detach\n"
                           "quit\n");
}

bool mtp_inject_probe_ok(const char *gdb_output, bool sleeper_slept_on, const char **why)
{
    if (gdb_output && strstr(gdb_output, "Couldn't write")) {
        *why = "gdb could not write a stopped thread's registers back after a call (it said "
               "\"Couldn't write ...\"): on this machine a call would leave the target's "
               "interrupted system call failing with an ERESTART* error";
        return false;
    }
    if (!sleeper_slept_on) {
        *why = "a process gdb called into stopped sleeping at once: on this machine a call "
               "would leave the target's interrupted system call failing";
        return false;
    }
    *why = NULL;
    return true;
}
