// SPDX-License-Identifier: MIT
/*
 * A QEMU TCG plugin that counts the two-tier guest's user-space loads and
 * stores per guest-physical 4 KiB page: the ground truth of what the workload
 * really accesses, reads included, which soft-dirty (writes only, and perturbed by
 * mtp's own write-protection) cannot give (issue 13).
 *
 * Where to start: qemu_plugin_install() parses the arguments and maps the
 * count file (include/mtp_access.h); on_translate() instruments a block's
 * memory instructions once, at translation; on_access() runs on every
 * access of an instrumented instruction and increments one counter of its
 * vCPU's own set, so no two threads write one counter, unless the host
 * has switched counting off (count_want).  Started with count=0, the plugin
 * instruments nothing until the host first asks to count: follow_host(), at
 * a vCPU's idle or resume, then has QEMU re-translate all code once
 * (qemu_plugin_reset), and on_reset() marks the code instrumented before any
 * block runs again.
 *
 *   qemu-system-x86_64 ... -plugin build/vm/mtp_access.so,out=/dev/shm/F,gib=6
 *
 * Arguments: out=PATH (created, sized and mapped shared), gib=N (guest-
 * physical space counted, from 0: with node 1 above 4 GiB, as the guest's
 * kmem tiering places it, at least its end), vcpus=N (counter sets, 2 by
 * default; an access from a higher vCPU is counted as outside), sample=N
 * (instrument one memory instruction in N, chosen by its address, to cut
 * the plugin's cost; 1 by default: every one), count=0|1 (1 by default: count
 * from the start; 0: instrument nothing until the host first asks).
 *
 * The plugin API (v1, QEMU 7.2) is declared below from its documentation:
 * Debian packages no header for it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mtp_access.h"

/* --- QEMU's plugin API, version 1, as documented (docs/devel/tcg-plugins) --- */
typedef uint64_t qemu_plugin_id_t;
typedef uint32_t qemu_plugin_meminfo_t;
typedef struct qemu_info_t qemu_info_t; /* not read here */
struct qemu_plugin_tb;
struct qemu_plugin_insn;
struct qemu_plugin_hwaddr;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_mem_rw { QEMU_PLUGIN_MEM_R = 1, QEMU_PLUGIN_MEM_W, QEMU_PLUGIN_MEM_RW };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_mem_cb_t)(unsigned int vcpu_index, qemu_plugin_meminfo_t info,
                                          uint64_t vaddr, void *userdata);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
typedef void (*qemu_plugin_simple_cb_t)(qemu_plugin_id_t id);
typedef void (*qemu_plugin_vcpu_simple_cb_t)(qemu_plugin_id_t id, unsigned int vcpu_index);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_vcpu_mem_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_mem_cb_t cb,
                                      enum qemu_plugin_cb_flags flags, enum qemu_plugin_mem_rw rw,
                                      void *userdata);
struct qemu_plugin_hwaddr *qemu_plugin_get_hwaddr(qemu_plugin_meminfo_t info, uint64_t vaddr);
bool qemu_plugin_hwaddr_is_io(const struct qemu_plugin_hwaddr *haddr);
uint64_t qemu_plugin_hwaddr_phys_addr(const struct qemu_plugin_hwaddr *haddr);
bool qemu_plugin_mem_is_store(qemu_plugin_meminfo_t info);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
void qemu_plugin_register_vcpu_idle_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_simple_cb_t cb);
void qemu_plugin_register_vcpu_resume_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_simple_cb_t cb);
/* Removes every callback, flushes the translated code, then calls cb. */
void qemu_plugin_reset(qemu_plugin_id_t id, qemu_plugin_simple_cb_t cb);

#define MTP_PLUGIN_EXPORT __attribute__((visibility("default")))
/* The API version this plugin was written against: QEMU refuses a plugin
 * that declares none, or one newer than its own. */
MTP_PLUGIN_EXPORT int qemu_plugin_version = 1;

/* Set once at install, before any vCPU runs; read-only after. */
static struct mtp_access_header *counts_header;
static uint32_t *counts;   /* counts_header's counter sets */
static size_t counts_size; /* the mapping's bytes */
/* Atomic: set by the vCPU that asks QEMU for the one reset, never cleared.
 * counts_header->instrumented is written only by on_reset(), which QEMU runs
 * with every vCPU stopped.  Only one reset: QEMU 7.2 frees the callbacks'
 * arrays at every code flush, but a vCPU whose instrumented instruction
 * left its block early (a fault, HLT) keeps pointing at its array, and the
 * next memory access from QEMU's C code (an interrupt's stack frame) calls
 * through freed memory: it aborted "qemu_plugin_vcpu_mem_cb: code should not
 * be reached" when this plugin switched off and on again.  The first flush
 * is safe: no code was instrumented before it. */
static int switching;

static void on_access(unsigned int vcpu, qemu_plugin_meminfo_t info, uint64_t vaddr, void *userdata)
{
    const struct mtp_access_header *h = counts_header;
    struct qemu_plugin_hwaddr *hw;
    uint64_t page;

    (void)userdata;
    if (!__atomic_load_n(&counts_header->count_want, __ATOMIC_RELAXED))
        return; /* switched off by the host: before the costlier lookup */
    hw = qemu_plugin_get_hwaddr(info, vaddr);
    if (!hw)
        return; /* user-mode emulation only */
    if (qemu_plugin_hwaddr_is_io(hw)) {
        __atomic_fetch_add(&counts_header->io, 1, __ATOMIC_RELAXED);
        return;
    }
    page = qemu_plugin_hwaddr_phys_addr(hw) >> h->page_shift;
    if (page >= h->n_pages || vcpu >= h->n_vcpus) {
        __atomic_fetch_add(&counts_header->outside, 1, __ATOMIC_RELAXED);
        return;
    }
    /* This vCPU's own counter: only its thread writes it. */
    counts[((uint64_t)vcpu * MTP_ACCESS_KINDS + qemu_plugin_mem_is_store(info)) * h->n_pages +
           page]++;
}

/* Which instructions are instrumented: all, or one in `sample` by a hash of
 * the address, so that the same instructions are counted every time. */
static bool sampled(uint64_t insn_vaddr)
{
    uint64_t x = insn_vaddr * 0x9e3779b97f4a7c15ull;

    return counts_header->sample <= 1 || (x >> 32) % counts_header->sample == 0;
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    size_t n = qemu_plugin_tb_n_insns(tb);

    (void)id;
    if (!__atomic_load_n(&counts_header->instrumented, __ATOMIC_RELAXED))
        return; /* not yet asked to count: the block runs as TCG translated it */
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);

        uint64_t vaddr = qemu_plugin_insn_vaddr(insn);

        /* The program's own instructions only: the kernel's (top bit set
         * on x86-64) include copying and zeroing a page it migrates, which
         * would count as 8192 stores of the workload's in the new frame. */
        if (!(vaddr >> 63) && sampled(vaddr))
            qemu_plugin_register_vcpu_mem_cb(insn, on_access, QEMU_PLUGIN_CB_NO_REGS,
                                             QEMU_PLUGIN_MEM_RW, NULL);
    }
}

static void follow_host(qemu_plugin_id_t id, unsigned int vcpu);
static void on_qemu_exit(qemu_plugin_id_t id, void *userdata);

static void register_callbacks(qemu_plugin_id_t id)
{
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_vcpu_idle_cb(id, follow_host);
    qemu_plugin_register_vcpu_resume_cb(id, follow_host);
    qemu_plugin_register_atexit_cb(id, on_qemu_exit, NULL);
}

/* QEMU calls this with every vCPU out of its translated code and the code
 * cache empty: blocks translated from now on are instrumented. */
static void on_reset(qemu_plugin_id_t id)
{
    __atomic_store_n(&counts_header->instrumented, 1, __ATOMIC_RELEASE);
    register_callbacks(id);
}

/* At a vCPU's idle and resume (a guest with a vCPU to spare passes here many
 * times a second): the first time the host asks to count, ask QEMU to
 * re-translate.  The host waits for `instrumented`. */
static void follow_host(qemu_plugin_id_t id, unsigned int vcpu)
{
    (void)vcpu;
    if (!__atomic_load_n(&counts_header->count_want, __ATOMIC_ACQUIRE) ||
        __atomic_load_n(&counts_header->instrumented, __ATOMIC_ACQUIRE))
        return;
    if (__atomic_exchange_n(&switching, 1, __ATOMIC_ACQ_REL))
        return;
    qemu_plugin_reset(id, on_reset);
}

static void on_qemu_exit(qemu_plugin_id_t id, void *userdata)
{
    (void)id;
    (void)userdata;
    /* The harness may still read the file: unmap only. */
    munmap(counts_header, counts_size);
}

/* "name=N" with N a positive integer below max; -1 if arg is not `name`. */
static int uint_arg(const char *arg, const char *name, unsigned long max, unsigned long *out)
{
    size_t len = strlen(name);
    char *end;

    if (strncmp(arg, name, len) || arg[len] != '=')
        return -1;
    errno = 0;
    *out = strtoul(arg + len + 1, &end, 10);
    if (errno || end == arg + len + 1 || *end || *out == 0 || *out > max) {
        fprintf(stderr, "mtp_access: %s wants a whole number in [1, %lu], not '%s'\n", name, max,
                arg + len + 1);
        return -2;
    }
    return 0;
}

static int map_counts(const char *path, uint64_t n_pages, uint32_t n_vcpus, uint32_t sample,
                      uint32_t count)
{
    struct mtp_access_header h = {.magic = MTP_ACCESS_MAGIC,
                                  .version = MTP_ACCESS_VERSION,
                                  .page_shift = 12,
                                  .n_pages = n_pages,
                                  .n_vcpus = n_vcpus,
                                  .sample = sample,
                                  .count_want = count,
                                  .instrumented = count};
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    void *p;

    counts_size = mtp_access_offset(&h, n_vcpus, 0);
    if (fd < 0 || ftruncate(fd, (off_t)counts_size) < 0) {
        fprintf(stderr, "mtp_access: cannot create %s: %s\n", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    p = mmap(NULL, counts_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED) {
        fprintf(stderr, "mtp_access: cannot map %s: %s\n", path, strerror(errno));
        return -1;
    }
    memcpy(p, &h, sizeof(h));
    counts_header = p;
    counts = (uint32_t *)((char *)p + sizeof(h));
    return 0;
}

MTP_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc,
                                          char **argv)
{
    unsigned long gib = 0, vcpus = 2, sample = 1, count = 1;
    const char *out = NULL;

    (void)info;
    for (int i = 0; i < argc; i++) {
        int rc = -1;

        if (!strncmp(argv[i], "out=", 4) && argv[i][4]) {
            out = argv[i] + 4;
            continue;
        }
        if (!strcmp(argv[i], "count=0") || !strcmp(argv[i], "count=1")) {
            count = argv[i][6] == '1';
            continue;
        }
        if ((rc = uint_arg(argv[i], "gib", 1024, &gib)) == -1 &&
            (rc = uint_arg(argv[i], "vcpus", 64, &vcpus)) == -1)
            rc = uint_arg(argv[i], "sample", 1u << 20, &sample);
        if (rc == -1)
            fprintf(stderr,
                    "mtp_access: unknown argument '%s' (out=PATH, gib=N, vcpus=N, "
                    "sample=N, count=0|1)\n",
                    argv[i]);
        if (rc < 0)
            return -1;
    }
    if (!out || !gib) {
        fprintf(stderr, "mtp_access: needs out=PATH and gib=N (the guest-physical space to "
                        "count, in GiB)\n");
        return -1;
    }
    if (map_counts(out, (uint64_t)gib << 18, (uint32_t)vcpus, (uint32_t)sample, (uint32_t)count) <
        0)
        return -1;
    register_callbacks(id);
    return 0;
}
