/* SPDX-License-Identifier: MIT */
/*
 * The probe contract, checked against the built artefacts: the extension's
 * .note.stapsdt must hold every probe include/mtp_probes.h declares, at every
 * site with the declared argument count, and no other; the BPF object must
 * hold a USDT handler for each.  The Makefile passes the two paths
 * (MTP_CONTRACT_EXT, MTP_CONTRACT_BPF) and builds both first.
 */
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <bpf/libbpf.h>
#include <linux/types.h>

#include "mtp_abi.h"
#include "mtp_probes.h"

#ifndef MTP_CONTRACT_EXT
#error "build with -DMTP_CONTRACT_EXT=path/to/the/extension.so"
#endif
#ifndef MTP_CONTRACT_BPF
#error "build with -DMTP_CONTRACT_BPF=path/to/mtp_trace.bpf.o"
#endif

#define NT_STAPSDT 3

struct declared {
    const char *name;
    int arity;
    int sites; /* notes found for it */
};

#define MTP_DECLARED(name) {#name, MTP_PROBE_ARITY(name), 0},
static struct declared declared[] = {MTP_PROBES(MTP_DECLARED)};
#define N_DECLARED (sizeof(declared) / sizeof(declared[0]))

#define MTP_ONE_SITE_NAME(name) #name,
static const char *const one_site_names[] = {MTP_PROBES_ONE_SITE(MTP_ONE_SITE_NAME)};

static bool one_site(const char *name)
{
    for (size_t i = 0; i < sizeof(one_site_names) / sizeof(one_site_names[0]); i++)
        if (strcmp(one_site_names[i], name) == 0)
            return true;
    return false;
}

/* Arguments in a note's argument string: "8@%rax -4@%edx", space-separated;
 * "" for none. */
static int count_note_args(const char *args)
{
    int n = 0;

    for (const char *p = args; *p;) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        n++;
        while (*p && *p != ' ')
            p++;
    }
    return n;
}

/* One stapsdt note of provider "mtp": compares it with the declarations.
 * The descriptor is three addresses (site, base, semaphore), then the
 * provider, the name and the argument string, each NUL-terminated. */
static void check_note(const char *desc, size_t len, int *undeclared)
{
    const size_t addrs = 3 * sizeof(uint64_t);
    const char *provider, *name, *args;
    uint64_t semaphore;

    assert_true(len > addrs);
    memcpy(&semaphore, desc + 2 * sizeof(uint64_t), sizeof(semaphore));
    provider = desc + addrs;
    name = provider + strnlen(provider, len - addrs) + 1;
    assert_true(name < desc + len);
    args = name + strnlen(name, (size_t)(desc + len - name)) + 1;
    assert_true(args <= desc + len);
    if (strcmp(provider, MTP_USDT_PROVIDER) != 0)
        return;
    for (size_t i = 0; i < N_DECLARED; i++) {
        if (strcmp(declared[i].name, name) != 0)
            continue;
        if (count_note_args(args) != declared[i].arity)
            fail_msg("mtp:%s fires %d arguments (\"%s\"); include/mtp_probes.h declares %d", name,
                     count_note_args(args), args, declared[i].arity);
        /* A probe without a semaphore cannot tell the extension whether a
         * tracer listens: it would do its work for nobody. */
        if (semaphore == 0)
            fail_msg("mtp:%s has no semaphore", name);
        declared[i].sites++;
        return;
    }
    fprintf(stderr, "undeclared probe mtp:%s(%s)\n", name, args);
    (*undeclared)++;
}

static void the_extension_fires_what_is_declared(void **state)
{
    int fd = open(MTP_CONTRACT_EXT, O_RDONLY | O_CLOEXEC), undeclared = 0, notes = 0;
    Elf *elf;
    Elf_Scn *scn = NULL;
    size_t shstrndx;

    (void)state;
    if (fd < 0)
        fail_msg("cannot open %s: build it first (make pyext)", MTP_CONTRACT_EXT);
    assert_int_not_equal(elf_version(EV_CURRENT), EV_NONE);
    elf = elf_begin(fd, ELF_C_READ, NULL);
    assert_non_null(elf);
    assert_int_equal(elf_getshdrstrndx(elf, &shstrndx), 0);
    while ((scn = elf_nextscn(elf, scn)) != NULL) {
        GElf_Shdr shdr;
        Elf_Data *data;
        GElf_Nhdr nhdr;
        size_t off = 0, name_off, desc_off, next;

        if (gelf_getshdr(scn, &shdr) == NULL || shdr.sh_type != SHT_NOTE ||
            strcmp(elf_strptr(elf, shstrndx, shdr.sh_name), ".note.stapsdt") != 0)
            continue;
        data = elf_getdata(scn, NULL);
        assert_non_null(data);
        while ((next = gelf_getnote(data, off, &nhdr, &name_off, &desc_off)) > 0) {
            if (nhdr.n_type == NT_STAPSDT &&
                strcmp((const char *)data->d_buf + name_off, "stapsdt") == 0) {
                check_note((const char *)data->d_buf + desc_off, nhdr.n_descsz, &undeclared);
                notes++;
            }
            off = next;
        }
    }
    elf_end(elf);
    close(fd);
    assert_true(notes > 0);
    assert_int_equal(undeclared, 0);
    for (size_t i = 0; i < N_DECLARED; i++)
        if (declared[i].sites == 0)
            fail_msg("mtp:%s is declared but the extension never fires it", declared[i].name);
    for (size_t i = 0; i < N_DECLARED; i++)
        if (one_site(declared[i].name) && declared[i].sites != 1)
            fail_msg("mtp:%s has %d sites, not one: a forked child would keep taking itself "
                     "for traced (MTP_PROBES_ONE_SITE)",
                     declared[i].name, declared[i].sites);
}

/* Every declared probe but gc_start (left to ad-hoc tools) has a handler,
 * and every handler of a USDT section is a declared probe's. */
static void bpf_handles_what_is_declared(void **state)
{
    struct bpf_object *obj = bpf_object__open_file(MTP_CONTRACT_BPF, NULL);
    struct bpf_program *prog;
    char want[64];

    (void)state;
    if (obj == NULL)
        fail_msg("cannot open %s: build it first (make)", MTP_CONTRACT_BPF);
    for (size_t i = 0; i < N_DECLARED; i++) {
        if (strcmp(declared[i].name, "gc_start") == 0)
            continue;
        snprintf(want, sizeof(want), "handle_%s", declared[i].name);
        prog = bpf_object__find_program_by_name(obj, want);
        if (prog == NULL)
            fail_msg("%s has no %s for mtp:%s", MTP_CONTRACT_BPF, want, declared[i].name);
        assert_string_equal(bpf_program__section_name(prog), "usdt");
    }
    bpf_object__for_each_program(prog, obj)
    {
        int found = 0;

        if (strcmp(bpf_program__section_name(prog), "usdt") != 0)
            continue;
        for (size_t i = 0; i < N_DECLARED; i++) {
            snprintf(want, sizeof(want), "handle_%s", declared[i].name);
            found |= strcmp(bpf_program__name(prog), want) == 0;
        }
        if (!found)
            fail_msg("%s handles a probe mtp_probes.h does not declare: %s", MTP_CONTRACT_BPF,
                     bpf_program__name(prog));
    }
    bpf_object__close(obj);
}

/* The note parser itself, on the forms the assembler writes. */
static void note_arguments_are_counted(void **state)
{
    (void)state;
    assert_int_equal(count_note_args(""), 0);
    assert_int_equal(count_note_args("-4@%edi"), 1);
    assert_int_equal(count_note_args("8@%rax -4@%edx 4@$8"), 3);
    assert_int_equal(count_note_args(" 8@%rax  8@%rbx "), 2);
    assert_int_equal(MTP_PROBE_ARITY(gc_done), 9);
    assert_int_equal(MTP_PROBE_ARITY(configure), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(note_arguments_are_counted),
        cmocka_unit_test(the_extension_fires_what_is_declared),
        cmocka_unit_test(bpf_handles_what_is_declared),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
