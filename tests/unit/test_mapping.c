// SPDX-License-Identifier: MIT
/* One maps line, parsed, and the one rule for which mappings are the
 * program's data (user/lib/mapping.h), which the scan and the sweep share. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mapping.h"

static int parse(struct mtp_mapping *m, const char *line)
{
    return mtp_mapping_parse(m, line, strlen(line));
}

/* Parses a line and applies the rule; -1 when the line does not parse. */
static int is_data(const char *line)
{
    struct mtp_mapping m;

    if (parse(&m, line) < 0)
        return -1;
    return mtp_mapping_is_data(&m);
}

static void parses_every_field(void **state)
{
    struct mtp_mapping m;

    (void)state;
    /* The kernel pads to a column before the path. */
    assert_int_equal(parse(&m, "7f3a1c001000-7f3a1c003000 r-xp 00001000 fe:01 1049   "
                               "                   /usr/lib/x86_64-linux-gnu/libm.so.6"),
                     0);
    assert_true(m.start == 0x7f3a1c001000ull);
    assert_true(m.end == 0x7f3a1c003000ull);
    assert_string_equal(m.perms, "r-xp");
    assert_true(m.offset == 0x1000);
    assert_true(m.inode == 1049);
    assert_string_equal(m.path, "/usr/lib/x86_64-linux-gnu/libm.so.6");
    /* Wide device numbers, a 64-bit address, a path with a blank. */
    assert_int_equal(parse(&m, "ffffffffff600000-ffffffffff601000 --xp 00000000 103:02 "
                               "4294967296 /tmp/a b"),
                     0);
    assert_true(m.start == 0xffffffffff600000ull);
    assert_true(m.inode == 4294967296ull);
    assert_string_equal(m.path, "/tmp/a b");
}

/* Unnamed anonymous memory: the line ends after the inode, with or without
 * the blank older kernels print, or padding. */
static void a_line_without_a_path(void **state)
{
    struct mtp_mapping m;

    (void)state;
    assert_int_equal(parse(&m, "7f0000000000-7f0000100000 rw-p 00000000 00:00 0"), 0);
    assert_string_equal(m.path, "");
    assert_true(m.inode == 0);
    assert_int_equal(parse(&m, "7f0000000000-7f0000100000 rw-p 00000000 00:00 0 "), 0);
    assert_string_equal(m.path, "");
    assert_int_equal(parse(&m, "7f0000000000-7f0000100000 rw-p 00000000 00:00 0          "), 0);
    assert_string_equal(m.path, "");
    assert_int_equal(mtp_mapping_is_data(&m), 1);
}

/* Nothing past len is read: the next line is not this one's path. */
static void reads_only_its_own_line(void **state)
{
    static const char text[] = "1000-2000 rw-p 00000000 00:00 0\n3000-4000 r--p 0 fe:01 7 /a\n";
    struct mtp_mapping m;

    (void)state;
    assert_int_equal(mtp_mapping_parse(&m, text, strcspn(text, "\n")), 0);
    assert_string_equal(m.path, "");
    /* A cut inside the inode is a shorter inode, not a read of what follows. */
    assert_int_equal(mtp_mapping_parse(&m, "1000-2000 rw-p 0 00:00 12345", 27), 0);
    assert_true(m.inode == 1234);
}

static void a_deleted_file_keeps_its_path(void **state)
{
    struct mtp_mapping m;

    (void)state;
    assert_int_equal(parse(&m, "7f0000000000-7f0000001000 rw-p 00000000 00:1a 77 "
                               "/tmp/scratch (deleted)"),
                     0);
    assert_string_equal(m.path, "/tmp/scratch (deleted)");
    assert_true(m.inode == 77);
    /* Private and writable, yet a file's: not the program's data. */
    assert_int_equal(mtp_mapping_is_data(&m), 0);
    /* Shared anonymous memory prints as a deleted /dev/zero. */
    assert_int_equal(is_data("7f0000000000-7f0000001000 rw-s 00000000 00:01 1025 "
                             "/dev/zero (deleted)"),
                     0);
}

static void a_long_path_is_cut_to_fit(void **state)
{
    char line[600];
    struct mtp_mapping m;

    (void)state;
    strcpy(line, "1000-2000 r--p 00000000 fe:01 9 /");
    memset(line + strlen(line), 'x', 400);
    line[33 + 400] = '\0';
    assert_int_equal(parse(&m, line), 0);
    /* No '/' in the last 255 bytes: nothing of a name survives. */
    assert_true(m.path_cut);
    assert_string_equal(m.path, "");
    /* A deep directory: the end is kept from a '/', the file's name whole. */
    strcpy(line, "1000-2000 r--p 00000000 fe:01 9 /");
    for (int i = 0; i < 40; i++)
        strcat(line, "deep-dir/");
    strcat(line, "mtp.cpython-311-x86_64-linux-gnu.so");
    assert_int_equal(parse(&m, line), 0);
    assert_true(m.path_cut && m.path[0] == '/' && strlen(m.path) < sizeof(m.path));
    assert_non_null(strstr(m.path, "/deep-dir/mtp.cpython-311-x86_64-linux-gnu.so"));
    assert_int_equal(parse(&m, "1000-2000 r--p 0 fe:01 9 /usr/lib/libm.so.6"), 0);
    assert_false(m.path_cut);
}

static void refuses_what_is_not_a_mapping(void **state)
{
    struct mtp_mapping m;

    (void)state;
    assert_int_equal(parse(&m, ""), -1);
    assert_int_equal(parse(&m, "this is not a maps line"), -1);
    assert_int_equal(parse(&m, "1000-2000 rw-p 00000000 00:00"), -1);    /* no inode */
    assert_int_equal(parse(&m, "1000-2000 rw-p 00000000 00:00 0x"), -1); /* junk after it */
    assert_int_equal(parse(&m, "1000-2000 rw-pp 00000000 00:00 0"), -1); /* 5 perms */
    assert_int_equal(parse(&m, "1000-2000 rw- 00000000 00:00 0"), -1);   /* 3 perms */
    assert_int_equal(parse(&m, "1000 2000 rw-p 00000000 00:00 0"), -1);
    assert_int_equal(parse(&m, "1000-2000 rw-p 00000000 0000 0"), -1); /* no ':' */
    /* An end not above the start, and a number too large. */
    assert_int_equal(parse(&m, "2000-1000 rw-p 00000000 00:00 0"), -1);
    assert_int_equal(parse(&m, "2000-2000 rw-p 00000000 00:00 0"), -1);
    assert_int_equal(parse(&m, "1000-10000000000000000 rw-p 00000000 00:00 0"), -1);
    /* Bounds that are not whole pages: the sweep once rounded such a start
     * down, below the mapping (tests/fuzz/fuzz_proc.c). */
    assert_int_equal(parse(&m, "1020-2000 rw-p 00000000 00:00 0"), -1);
    assert_int_equal(parse(&m, "1000-2001 rw-p 00000000 00:00 0"), -1);
}

static void walks_text_line_by_line(void **state)
{
    const char *text = "1000-2000 rw-p 00000000 00:00 0 [heap]\n"
                       "junk\n"
                       "\n"
                       "3000-4000 rw-p 00000000 00:00 0",
               *at = text;
    struct mtp_mapping m;

    (void)state;
    assert_int_equal(mtp_mapping_next(&at, &m), 1);
    assert_string_equal(m.path, "[heap]");
    assert_int_equal(mtp_mapping_next(&at, &m), -1); /* junk, skipped */
    assert_int_equal(mtp_mapping_next(&at, &m), -1); /* an empty line */
    assert_int_equal(mtp_mapping_next(&at, &m), 1);  /* no final newline */
    assert_true(m.start == 0x3000);
    assert_int_equal(mtp_mapping_next(&at, &m), 0);
    assert_int_equal(mtp_mapping_next(&at, &m), 0);
    at = "";
    assert_int_equal(mtp_mapping_next(&at, &m), 0);
}

/* The one rule, mapping by mapping. */
static void the_program_s_data(void **state)
{
    (void)state;
    /* The heap, unnamed anonymous memory, named anonymous memory. */
    assert_int_equal(is_data("55d0c1e00000-55d0c1f21000 rw-p 00000000 00:00 0 [heap]"), 1);
    assert_int_equal(is_data("7f0000000000-7f0000100000 rw-p 00000000 00:00 0"), 1);
    assert_int_equal(is_data("7f0000000000-7f0000100000 rw-p 00000000 00:00 0 [anon:mtp]"), 1);
    assert_int_equal(is_data("7f0000000000-7f0000100000 rw-p 00000000 00:00 0 "
                             "[anon: glibc: malloc arena]"),
                     1);
    assert_int_equal(is_data("7f0000000000-7f0000100000 rw-p 00000000 00:00 0 "
                             "[anon:cpython:pymalloc]"),
                     1);
    /* An executable heap is still a heap (old binaries ask for one). */
    assert_int_equal(is_data("7f0000000000-7f0000100000 rwxp 00000000 00:00 0"), 1);
    /* Up to 64 GiB; beyond, a reservation. */
    assert_int_equal(is_data("100000000-1100000000 rw-p 00000000 00:00 0"), 1);
    assert_int_equal(is_data("100000000-1100001000 rw-p 00000000 00:00 0"), 0);
}

static void not_the_program_s_data(void **state)
{
    (void)state;
    /* The kernel's special mappings, the main stack. */
    assert_int_equal(is_data("7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 [stack]"), 0);
    assert_int_equal(is_data("7ffd00100000-7ffd00104000 r--p 00000000 00:00 0 [vvar]"), 0);
    assert_int_equal(is_data("7ffd00104000-7ffd00106000 r-xp 00000000 00:00 0 [vdso]"), 0);
    assert_int_equal(is_data("ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0 "
                             "[vsyscall]"),
                     0);
    assert_int_equal(is_data("7ffd00000000-7ffd00001000 rw-p 00000000 00:00 0 [heap2]"), 0);
    /* Files: code, a library's data, a private writable file. */
    assert_int_equal(is_data("7f3a1c001000-7f3a1c003000 r-xp 00001000 fe:01 77 /usr/lib/libm.so"),
                     0);
    assert_int_equal(is_data("7f3a1c004000-7f3a1c005000 rw-p 00003000 fe:01 77 /usr/lib/libm.so"),
                     0);
    /* Anonymous, but read-only, a guard page, or shared. */
    assert_int_equal(is_data("7f0000000000-7f0000100000 r--p 00000000 00:00 0"), 0);
    assert_int_equal(is_data("7f0000000000-7f0000001000 ---p 00000000 00:00 0"), 0);
    assert_int_equal(is_data("7f0000000000-7f0000100000 rw-s 00000000 00:00 0"), 0);
    assert_int_equal(is_data("7f0000000000-7f0000100000 rw-s 00000000 00:01 9 [anon_shmem:x]"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_every_field),
        cmocka_unit_test(a_line_without_a_path),
        cmocka_unit_test(reads_only_its_own_line),
        cmocka_unit_test(a_deleted_file_keeps_its_path),
        cmocka_unit_test(a_long_path_is_cut_to_fit),
        cmocka_unit_test(refuses_what_is_not_a_mapping),
        cmocka_unit_test(walks_text_line_by_line),
        cmocka_unit_test(the_program_s_data),
        cmocka_unit_test(not_the_program_s_data),
    };
    return cmocka_run_group_tests_name("mapping", tests, NULL, NULL);
}
