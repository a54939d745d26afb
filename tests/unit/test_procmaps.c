// SPDX-License-Identifier: MIT
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "procmaps.h"

/* Lines as a 3.11 process on this kernel prints them, with the extension. */
static const char *const sample =
    "55d0c0a00000-55d0c0a01000 r--p 00000000 fe:01 1049 /usr/bin/python3.11\n"
    "55d0c1e00000-55d0c1f21000 rw-p 00000000 00:00 0 [heap]\n"
    "7f0000000000-7f0000100000 rw-p 00000000 00:00 0 \n"
    "7f3a1c000000-7f3a1c001000 r--p 00000000 fe:01 77 "
    "/work/main/build/py3.11-3136f0ea/mtp.cpython-311-x86_64-linux-gnu.so\n"
    "7f3a1c001000-7f3a1c003000 r-xp 00001000 fe:01 77 "
    "/work/main/build/py3.11-3136f0ea/mtp.cpython-311-x86_64-linux-gnu.so\n"
    "7f3a1d000000-7f3a1d001000 r--p 00000000 fe:01 88 /usr/lib/x86_64-linux-gnu/libm.so.6\n"
    "7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]\n";

static void parses_every_line_in_order(void **state)
{
    struct mtp_maps maps;
    char err[128];

    (void)state;
    assert_int_equal(mtp_maps_parse(&maps, sample, err, sizeof(err)), 0);
    assert_int_equal(maps.len, 7);
    assert_true(maps.v[1].start == 0x55d0c1e00000ull);
    assert_true(maps.v[1].end == 0x55d0c1f21000ull);
    assert_string_equal(maps.v[1].perms, "rw-p");
    assert_string_equal(maps.v[1].path, "[heap]");
    assert_string_equal(maps.v[2].path, "");
    assert_true(maps.v[4].offset == 0x1000);
    assert_true(maps.v[4].inode == 77);
    assert_string_equal(maps.v[6].path, "[stack]");
    mtp_maps_free(&maps);
}

static void finds_addresses_by_binary_search(void **state)
{
    struct mtp_maps maps;
    char err[128];

    (void)state;
    assert_int_equal(mtp_maps_parse(&maps, sample, err, sizeof(err)), 0);
    assert_string_equal(mtp_mapping_label(mtp_maps_find(&maps, 0x55d0c1e00000ull)), "[heap]");
    assert_string_equal(mtp_mapping_label(mtp_maps_find(&maps, 0x55d0c1f20fffull)), "[heap]");
    assert_null(mtp_maps_find(&maps, 0x55d0c1f21000ull)); /* end is exclusive */
    assert_string_equal(mtp_mapping_label(mtp_maps_find(&maps, 0x7f0000000abcull)), "anon");
    assert_string_equal(mtp_mapping_label(mtp_maps_find(&maps, 0x7f3a1d000010ull)), "libm.so.6");
    assert_null(mtp_maps_find(&maps, 0x1000));
    assert_null(mtp_maps_find(&maps, UINT64_MAX));
    assert_string_equal(mtp_mapping_label(NULL), "unmapped");
    mtp_maps_free(&maps);
}

static void finds_the_extension_and_python(void **state)
{
    struct mtp_maps maps;
    char err[128];

    (void)state;
    assert_int_equal(mtp_maps_parse(&maps, sample, err, sizeof(err)), 0);
    assert_string_equal(mtp_maps_find_extension(&maps),
                        "/work/main/build/py3.11-3136f0ea/mtp.cpython-311-x86_64-linux-gnu.so");
    assert_true(mtp_maps_is_python(&maps, NULL));
    mtp_maps_free(&maps);
}

static void rejects_lookalike_extensions(void **state)
{
    static const char *const text = "1000-2000 r-xp 00000000 fe:01 1 /usr/lib/libmtp.so.9\n"
                                    "2000-3000 r-xp 00000000 fe:01 2 /opt/mtp.so.d/other.so\n"
                                    "3000-4000 r-xp 00000000 fe:01 3 /usr/bin/sleep\n";
    struct mtp_maps maps;
    char err[128];

    (void)state;
    assert_int_equal(mtp_maps_parse(&maps, text, err, sizeof(err)), 0);
    assert_null(mtp_maps_find_extension(&maps));
    assert_null(mtp_maps_find_extension_mapping(&maps));
    assert_false(mtp_maps_is_python(&maps, "/usr/bin/sleep"));
    assert_true(mtp_maps_is_python(&maps, "/root/.pyenv/versions/3.12.1/bin/python3.12"));
    mtp_maps_free(&maps);
}

/* --inject removes its copy once the session has attached: the mapping
 * stays, and a later mtp-trace must still find it. */
static void finds_a_removed_extension(void **state)
{
    static const char *const text =
        "1000-2000 r--p 00000000 fe:01 1 /usr/bin/python3.11\n"
        "7f0000000000-7f0000001000 r--p 00000000 00:1f 9 "
        "/tmp/mtp-inject-0a1b2c3d/mtp.cpython-311-x86_64-linux-gnu.so (deleted)\n"
        "7f0000001000-7f0000002000 r--p 00000000 00:1f 10 /tmp/mtp.txt (deleted)\n";
    const struct mtp_mapping *m;
    struct mtp_maps maps;
    char err[128];

    (void)state;
    assert_int_equal(mtp_maps_parse(&maps, text, err, sizeof(err)), 0);
    m = mtp_maps_find_extension_mapping(&maps);
    assert_non_null(m);
    assert_true(m->start == 0x7f0000000000ull && m->end == 0x7f0000001000ull);
    assert_non_null(strstr(mtp_maps_find_extension(&maps), "(deleted)"));
    mtp_maps_free(&maps);
}

static void reports_the_malformed_line(void **state)
{
    static const char *const text = "1000-2000 r-xp 00000000 fe:01 1 /a\n"
                                    "this is not a maps line\n";
    struct mtp_maps maps;
    char err[128];

    (void)state;
    assert_int_equal(mtp_maps_parse(&maps, text, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "line 2"));
    assert_int_equal(maps.len, 0);

    /* An inverted range is as wrong as junk. */
    assert_int_equal(mtp_maps_parse(&maps, "2000-1000 r-xp 0 00:00 0\n", err, sizeof(err)), -1);
}

static void accepts_empty_input(void **state)
{
    struct mtp_maps maps;
    char err[128];

    (void)state;
    assert_int_equal(mtp_maps_parse(&maps, "", err, sizeof(err)), 0);
    assert_int_equal(maps.len, 0);
    assert_null(mtp_maps_find(&maps, 0x1000));
    mtp_maps_free(&maps);
}

/* Two small anonymous mappings among ones the sweep must skip. */
static const char *const sweep_sample = "10000-12000 rw-p 00000000 00:00 0 [heap]\n"
                                        "20000-21000 rw-p 00000000 fe:01 9 /tmp/file\n"
                                        "30000-31000 r--p 00000000 00:00 0 \n"
                                        "40000-43000 rw-p 00000000 00:00 0 \n"
                                        "50000-50000000050000 rw-p 00000000 00:00 0 \n"
                                        "60000-61000 rw-p 00000000 00:00 0 [stack]\n";

static void sweeps_anonymous_memory_round_robin(void **state)
{
    struct mtp_maps maps;
    char err[128];
    uint64_t out[16], cursor = 0;

    (void)state;
    assert_int_equal(mtp_maps_parse(&maps, sweep_sample, err, sizeof(err)), 0);
    /* everything, once: the heap's 2 pages and the anonymous mapping's 3 */
    assert_int_equal(mtp_maps_sweep(&maps, &cursor, 16, out), 5);
    assert_true(out[0] == 0x10000 && out[1] == 0x11000);
    assert_true(out[2] == 0x40000 && out[4] == 0x42000);
    /* a window of 3 pages goes on where the last one stopped and wraps */
    cursor = 0;
    assert_int_equal(mtp_maps_sweep(&maps, &cursor, 3, out), 3);
    assert_true(out[2] == 0x40000);
    assert_int_equal(mtp_maps_sweep(&maps, &cursor, 3, out), 3);
    assert_true(out[0] == 0x41000 && out[1] == 0x42000 && out[2] == 0x10000);
    assert_int_equal(mtp_maps_sweep(&maps, &cursor, 3, out), 3);
    assert_true(out[0] == 0x11000 && out[1] == 0x40000 && out[2] == 0x41000);
    mtp_maps_free(&maps);
}

/* The sweep takes the mappings the written-page scan watches: the one rule
 * (test_mapping.c has it in full), named anonymous memory included. */
static void sweeps_what_the_rule_calls_data(void **state)
{
    static const char *const text = "10000-11000 rw-p 00000000 00:00 0 [anon:mtp]\n"
                                    "20000-21000 rw-p 00000000 00:1a 5 /tmp/x (deleted)\n"
                                    "30000-31000 rw-p 00000000 00:00 0 [anon: glibc: malloc]\n"
                                    "40000-41000 rw-p 00000000 00:00 0 [vvar]\n";
    struct mtp_maps maps;
    char err[128];
    static const int want[] = {1, 0, 1, 0};
    uint64_t out[8], cursor = 0;

    (void)state;
    assert_int_equal(mtp_maps_parse(&maps, text, err, sizeof(err)), 0);
    assert_int_equal(mtp_maps_sweep(&maps, &cursor, 8, out), 2);
    assert_true(out[0] == 0x10000 && out[1] == 0x30000);
    for (size_t i = 0; i < maps.len; i++)
        assert_int_equal(mtp_mapping_is_data(&maps.v[i]), want[i]);
    mtp_maps_free(&maps);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_every_line_in_order),
        cmocka_unit_test(finds_addresses_by_binary_search),
        cmocka_unit_test(finds_the_extension_and_python),
        cmocka_unit_test(rejects_lookalike_extensions),
        cmocka_unit_test(finds_a_removed_extension),
        cmocka_unit_test(reports_the_malformed_line),
        cmocka_unit_test(accepts_empty_input),
        cmocka_unit_test(sweeps_anonymous_memory_round_robin),
        cmocka_unit_test(sweeps_what_the_rule_calls_data),
    };
    return cmocka_run_group_tests_name("procmaps", tests, NULL, NULL);
}
