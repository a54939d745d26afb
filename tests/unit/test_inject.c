// SPDX-License-Identifier: MIT
/* --inject's pure parts: the ptrace checks, the interpreter's version and
 * build tag, the ELF symbol reader and the gdb script. */
#include <elf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "elfsyms.h"
#include "inject_script.h"
#include "ptrace_checks.h"
#include "pyinterp.h"

static void yama_scopes_parse(void **state)
{
    (void)state;
    assert_int_equal(mtp_yama_scope_parse(NULL), MTP_YAMA_ABSENT);
    assert_int_equal(mtp_yama_scope_parse("0\n"), 0);
    assert_int_equal(mtp_yama_scope_parse("3\n"), 3);
    assert_int_equal(mtp_yama_scope_parse("4\n"), -2);
    assert_int_equal(mtp_yama_scope_parse(""), -2);
    assert_int_equal(mtp_yama_scope_parse("1x"), -2);
}

static const char status_text[] = "Name:\tpython3\nState:\tS (sleeping)\nTracerPid:\t0\n"
                                  "CapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n";

static void status_fields_parse(void **state)
{
    uint64_t caps = 0;
    int tracer = -1;

    (void)state;
    assert_int_equal(mtp_status_capeff(status_text, &caps), 0);
    assert_true(caps == 0x1ffffffffffull);
    assert_int_equal(mtp_status_tracer(status_text, &tracer), 0);
    assert_int_equal(tracer, 0);
    assert_int_equal(mtp_status_tracer("Name:\tx\nTracerPid:\t4242\n", &tracer), 0);
    assert_int_equal(tracer, 4242);
    assert_int_equal(mtp_status_capeff("Name:\tx\n", &caps), -1);
    /* a prefix of another field's name is not the field */
    assert_int_equal(mtp_status_tracer("TracerPidX:\t5\n", &tracer), -1);
    assert_int_equal(mtp_status_tgid("Name:\tx\nTgid:\t17\nPid:\t18\n", &tracer), 0);
    assert_int_equal(tracer, 17);
    assert_int_equal(mtp_status_tgid("Name:\tx\nPid:\t18\n", &tracer), -1);
    /* No field, no final newline: ends without arithmetic on a NULL (UBSan
     * under make SAN=1; found by tests/fuzz/fuzz_proc.c). */
    assert_int_equal(mtp_status_tgid("Name:\tx", &tracer), -1);
}

static void stat_state_after_last_paren(void **state)
{
    char s = 0;

    (void)state;
    assert_int_equal(mtp_stat_state("42 (python3) S 1 42 42 0", &s), 0);
    assert_int_equal(s, 'S');
    /* a command may hold ") T (": the last ')' ends it */
    assert_int_equal(mtp_stat_state("42 (a) T (b) t 1 42", &s), 0);
    assert_int_equal(s, 't');
    assert_int_equal(mtp_stat_state("42 (python3", &s), -1);
    assert_int_equal(mtp_stat_state("42 (x)", &s), -1);
}

static void ptrace_needs_capability_and_yama_below_3(void **state)
{
    const uint64_t ptrace_cap = 1ull << MTP_CAP_SYS_PTRACE;
    char err[512];

    (void)state;
    assert_int_equal(mtp_ptrace_allowed(MTP_YAMA_ABSENT, ptrace_cap, err, sizeof(err)), 0);
    assert_int_equal(mtp_ptrace_allowed(2, ptrace_cap, err, sizeof(err)), 0);
    assert_int_equal(mtp_ptrace_allowed(3, ~0ull, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "ptrace_scope=3"));
    assert_int_equal(mtp_ptrace_allowed(-2, ~0ull, err, sizeof(err)), -1);
    assert_int_equal(mtp_ptrace_allowed(0, ~ptrace_cap, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "CAP_SYS_PTRACE"));
    assert_non_null(strstr(err, "sudo"));
}

static void stopped_or_traced_targets_refused(void **state)
{
    char err[512];

    (void)state;
    assert_int_equal(mtp_target_state_allowed(7, 'S', 0, err, sizeof(err)), 0);
    assert_int_equal(mtp_target_state_allowed(7, 'R', 0, err, sizeof(err)), 0);
    assert_int_equal(mtp_target_state_allowed(7, 'D', 0, err, sizeof(err)), 0);
    assert_int_equal(mtp_target_state_allowed(7, 'T', 0, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "kill -CONT 7"));
    assert_int_equal(mtp_target_state_allowed(7, 't', 0, err, sizeof(err)), -1);
    assert_int_equal(mtp_target_state_allowed(7, 'S', 99, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "traced by pid 99"));
    /* strace holds its tracee in tracing stop at each syscall: the tracer is
     * the cause to name, not the stop. */
    assert_int_equal(mtp_target_state_allowed(7, 't', 99, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "traced by pid 99"));
    assert_int_equal(mtp_target_state_allowed(7, 'Z', 0, err, sizeof(err)), -1);
}

static void versions_from_names(void **state)
{
    struct mtp_pyversion v;

    (void)state;
    assert_int_equal(mtp_pyversion_from_libname("libpython3.11.so.1.0", &v), 0);
    assert_int_equal(v.major, 3);
    assert_int_equal(v.minor, 11);
    assert_false(v.freethreaded);
    assert_int_equal(mtp_pyversion_from_libname("libpython3.13t.so.1.0", &v), 0);
    assert_true(v.freethreaded);
    assert_int_equal(mtp_pyversion_from_libname("libpython3.7m.so.1.0", &v), 0);
    assert_int_equal(v.minor, 7);
    assert_int_equal(mtp_pyversion_from_libname("libpython3.so", &v), -1);
    assert_int_equal(mtp_pyversion_from_libname("libpythonista.so", &v), -1);
    assert_int_equal(mtp_pyversion_from_exename("python3.9", &v), 0);
    assert_int_equal(v.minor, 9);
    assert_int_equal(mtp_pyversion_from_exename("python3", &v), -1);
    assert_int_equal(mtp_pyversion_from_exename("python3.11-dbg", &v), -1);
    mtp_pyversion_from_hex(0x030b04f0, &v);
    assert_int_equal(v.major, 3);
    assert_int_equal(v.minor, 11);
}

static void supported_versions(void **state)
{
    struct mtp_pyversion v = {3, 9, false};
    char err[512];

    (void)state;
    for (v.minor = 9; v.minor <= 13; v.minor++)
        assert_int_equal(mtp_pyversion_supported(&v, err, sizeof(err)), 0);
    v.minor = 14;
    assert_int_equal(mtp_pyversion_supported(&v, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "remote_exec"));
    v.minor = 8;
    assert_int_equal(mtp_pyversion_supported(&v, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "3.9-3.13"));
    v = (struct mtp_pyversion){3, 13, true};
    assert_int_equal(mtp_pyversion_supported(&v, err, sizeof(err)), -1);
}

/* The Makefile's tags, as Python's zlib.crc32 made them on this project's
 * machines (make pyext-dir). */
static void tags_match_the_makefile(void **state)
{
    struct mtp_pyversion v = {3, 11, false};
    char tag[64];

    (void)state;
    assert_true(mtp_crc32("123456789", 9) == 0xcbf43926u); /* the check value */
    assert_int_equal(mtp_pytag_format(&v, "/usr", tag, sizeof(tag)), 0);
    assert_string_equal(tag, "3.11-3136f0ea");
    v.minor = 9;
    assert_int_equal(mtp_pytag_format(&v, "/root/.pyenv/versions/3.9.18", tag, sizeof(tag)), 0);
    assert_string_equal(tag, "3.9-96b1ac16");
    assert_int_equal(mtp_pytag_format(&v, "/usr", tag, 5), -1);
}

static void prefixes_from_paths(void **state)
{
    char p[256];

    (void)state;
    assert_int_equal(mtp_pyprefix_of("/usr/bin/python3.11", true, p, sizeof(p)), 0);
    assert_string_equal(p, "/usr");
    assert_int_equal(mtp_pyprefix_of("/root/.pyenv/versions/3.12.1/lib/libpython3.12.so.1.0", false,
                                     p, sizeof(p)),
                     0);
    assert_string_equal(p, "/root/.pyenv/versions/3.12.1");
    assert_int_equal(
        mtp_pyprefix_of("/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0", false, p, sizeof(p)), 0);
    assert_string_equal(p, "/usr");
    assert_int_equal(mtp_pyprefix_of("/python3", true, p, sizeof(p)), -1);
    assert_int_equal(mtp_pyprefix_of("python3", true, p, sizeof(p)), -1);
    assert_int_equal(mtp_pyprefix_of("/bin/python3", true, p, sizeof(p)), 0);
    assert_string_equal(p, "/");
}

static void paths_as_a_chrooted_target_sees_them(void **state)
{
    char p[256];

    (void)state;
    assert_int_equal(mtp_path_in_root("/srv/jail", "/srv/jail/usr/bin/python3.11", p, sizeof(p)),
                     0);
    assert_string_equal(p, "/usr/bin/python3.11");
    assert_int_equal(mtp_path_in_root("/", "/usr/bin/python3.11", p, sizeof(p)), 0);
    assert_string_equal(p, "/usr/bin/python3.11");
    /* a sibling that merely starts with the root's name */
    assert_int_equal(mtp_path_in_root("/srv/jail", "/srv/jailbreak/python3", p, sizeof(p)), 0);
    assert_string_equal(p, "/srv/jailbreak/python3");
    assert_int_equal(mtp_path_in_root("/srv/jail/", "/srv/jail/bin/python3", p, sizeof(p)), 0);
    assert_string_equal(p, "/bin/python3");
    assert_int_equal(mtp_path_in_root("/", "/usr/bin/python3.11", p, 4), -1);
}

/* A small ELF: a PT_LOAD segment, .dynsym with two defined symbols and an
 * undefined one, .dynstr, and a 4-byte constant at vaddr 0x1000 + its
 * offset. */
struct tiny_elf {
    Elf64_Ehdr eh;
    Elf64_Phdr ph;
    Elf64_Sym sym[4];
    char str[64];
    uint32_t version;
    Elf64_Shdr sh[3];
};

static void tiny_elf_make(struct tiny_elf *t)
{
    static const char names[] = "\0Py_AddPendingCall\0Py_Version\0PyRun_SimpleString";

    memset(t, 0, sizeof(*t));
    memcpy(t->eh.e_ident, ELFMAG, SELFMAG);
    t->eh.e_ident[EI_CLASS] = ELFCLASS64;
    t->eh.e_ident[EI_DATA] = ELFDATA2LSB;
    t->eh.e_phoff = offsetof(struct tiny_elf, ph);
    t->eh.e_phentsize = sizeof(Elf64_Phdr);
    t->eh.e_phnum = 1;
    t->eh.e_shoff = offsetof(struct tiny_elf, sh);
    t->eh.e_shentsize = sizeof(Elf64_Shdr);
    t->eh.e_shnum = 3;
    t->ph =
        (Elf64_Phdr){.p_type = PT_LOAD, .p_offset = 0, .p_vaddr = 0x1000, .p_filesz = sizeof(*t)};
    memcpy(t->str, names, sizeof(names));
    t->sym[1] = (Elf64_Sym){.st_name = 1, .st_shndx = 5, .st_value = 0x1234};
    t->sym[2] = (Elf64_Sym){
        .st_name = 19, .st_shndx = 5, .st_value = 0x1000 + offsetof(struct tiny_elf, version)};
    t->sym[3] = (Elf64_Sym){.st_name = 30, .st_shndx = SHN_UNDEF}; /* imported, not defined */
    t->version = 0x030c01f0;
    t->sh[1] = (Elf64_Shdr){.sh_type = SHT_DYNSYM,
                            .sh_offset = offsetof(struct tiny_elf, sym),
                            .sh_size = sizeof(t->sym),
                            .sh_link = 2,
                            .sh_entsize = sizeof(Elf64_Sym)};
    t->sh[2] = (Elf64_Shdr){.sh_type = SHT_STRTAB,
                            .sh_offset = offsetof(struct tiny_elf, str),
                            .sh_size = sizeof(t->str)};
}

static void elf_symbols_found(void **state)
{
    struct tiny_elf t;
    struct mtp_elf e;
    uint64_t value = 0;
    uint32_t version = 0;
    char err[128];

    (void)state;
    tiny_elf_make(&t);
    assert_int_equal(mtp_elf_open(&e, &t, sizeof(t), err, sizeof(err)), 0);
    assert_true(mtp_elf_defines(&e, "Py_AddPendingCall", &value));
    assert_true(value == 0x1234);
    assert_false(mtp_elf_defines(&e, "PyRun_SimpleString", NULL)); /* undefined */
    assert_false(mtp_elf_defines(&e, "Py_AddPending", NULL));      /* a prefix */
    assert_true(mtp_elf_defines(&e, "Py_Version", &value));
    assert_int_equal(mtp_elf_read_u32(&e, value, &version), 0);
    assert_true(version == 0x030c01f0);
    assert_int_equal(mtp_elf_read_u32(&e, 0x10, &version), -1);     /* below the segment */
    assert_int_equal(mtp_elf_read_u32(&e, 0x100000, &version), -1); /* past it */
}

static void elf_bad_files_refused(void **state)
{
    struct tiny_elf t;
    struct mtp_elf e;
    char err[128];

    (void)state;
    tiny_elf_make(&t);
    assert_int_equal(mtp_elf_open(&e, "#!/bin/sh\n", 10, err, sizeof(err)), -1);
    assert_string_equal(err, "not an ELF file");
    /* cut short: the section headers lie past the end */
    assert_int_equal(mtp_elf_open(&e, &t, offsetof(struct tiny_elf, sh), err, sizeof(err)), -1);
    /* a symbol table that points past the file */
    t.sh[1].sh_size = 1 << 20;
    assert_int_equal(mtp_elf_open(&e, &t, sizeof(t), err, sizeof(err)), -1);
    assert_non_null(strstr(err, ".dynsym"));
    tiny_elf_make(&t);
    t.eh.e_ident[EI_CLASS] = ELFCLASS32;
    assert_int_equal(mtp_elf_open(&e, &t, sizeof(t), err, sizeof(err)), -1);
    /* a name offset past the string table is skipped, not read */
    tiny_elf_make(&t);
    t.sym[1].st_name = 1000;
    assert_int_equal(mtp_elf_open(&e, &t, sizeof(t), err, sizeof(err)), 0);
    assert_false(mtp_elf_defines(&e, "Py_AddPendingCall", NULL));
}

static void code_loads_by_path_and_refuses_odd_paths(void **state)
{
    char code[MTP_INJECT_PAGE];
    const char *ext = "/tmp/mtp-inject-Ab12_z/mtp.cpython-311-x86_64-linux-gnu.so";

    (void)state;
    assert_true(mtp_inject_code(ext, code, sizeof(code)) > 0);
    assert_non_null(strstr(code, ext));
    assert_non_null(strstr(code, "spec_from_file_location"));
    assert_null(strchr(code, '\n')); /* one line: newlines are escaped */
    assert_int_equal(mtp_inject_code("/tmp/x'); import os; os.system('id", code, sizeof(code)), -1);
    assert_int_equal(mtp_inject_code("relative/mtp.so", code, sizeof(code)), -1);
    assert_int_equal(mtp_inject_code("/tmp/a b/mtp.so", code, sizeof(code)), -1);
    assert_int_equal(mtp_inject_code(ext, code, 40), -1);
}

/* The probe's verdict: gdb's word of a failed register write, or a sleeper
 * that stopped sleeping, refuses --inject; a clean call allows it.  (The
 * probe itself runs for real in the integration tests, on this machine's
 * gdb and kernel.) */
static void probe_refuses_lost_registers_and_woken_sleepers(void **state)
{
    const char *why = "unset";

    (void)state;
    assert_true(
        mtp_inject_probe_ok("$1 = 4242\n[Inferior 1 (process 4242) detached]\n", true, &why));
    assert_null(why);
    assert_false(
        mtp_inject_probe_ok("Couldn't write extended state status: Bad address.\n", true, &why));
    assert_non_null(strstr(why, "registers back"));
    assert_false(mtp_inject_probe_ok("$1 = 4242\n", false, &why));
    assert_non_null(strstr(why, "stopped sleeping"));
    assert_false(mtp_inject_probe_ok(NULL, false, &why));
    assert_non_null(strstr(MTP_INJECT_PROBE_SCRIPT, "call (int)getpid()\ndetach\nquit\n"));
}

/* The words the script writes spell the code back, NUL included. */
static void gdb_script_writes_the_code_word_by_word(void **state)
{
    const char *code = "print('hello, 9 bytes+')";
    char script[8192], back[64] = {0};
    struct mtp_strbuf b = {script, sizeof(script), 0};
    const char *line = script;
    size_t words = 0;

    (void)state;
    mtp_inject_gdb_script(code, &b);
    assert_true(mtp_strbuf_result(&b) < (int)sizeof(script));
    assert_non_null(strstr(script, "set unwindonsignal on\n"));
    assert_non_null(strstr(script, "Py_AddPendingCall((void *)PyRun_SimpleString"));
    assert_non_null(strstr(script, "printf \"MTP_INJECT %d\\n\", $mtp_rc\ndetach\nquit\n"));
    while ((line = strstr(line, "set {unsigned long}($mtp_page + "))) {
        size_t off;
        unsigned long long v;

        assert_int_equal(sscanf(line, "set {unsigned long}($mtp_page + %zu) = 0x%llx", &off, &v),
                         2);
        assert_int_equal(off, words * 8);
        for (int k = 0; k < 8; k++)
            back[off + k] = (char)(v >> (8 * k));
        words++;
        line++;
    }
    assert_int_equal(words, (strlen(code) + 1 + 7) / 8);
    assert_string_equal(back, code);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(yama_scopes_parse),
        cmocka_unit_test(status_fields_parse),
        cmocka_unit_test(stat_state_after_last_paren),
        cmocka_unit_test(ptrace_needs_capability_and_yama_below_3),
        cmocka_unit_test(stopped_or_traced_targets_refused),
        cmocka_unit_test(versions_from_names),
        cmocka_unit_test(supported_versions),
        cmocka_unit_test(tags_match_the_makefile),
        cmocka_unit_test(prefixes_from_paths),
        cmocka_unit_test(paths_as_a_chrooted_target_sees_them),
        cmocka_unit_test(elf_symbols_found),
        cmocka_unit_test(elf_bad_files_refused),
        cmocka_unit_test(code_loads_by_path_and_refuses_odd_paths),
        cmocka_unit_test(gdb_script_writes_the_code_word_by_word),
        cmocka_unit_test(probe_refuses_lost_registers_and_woken_sleepers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
