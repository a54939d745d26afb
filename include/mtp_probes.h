/* SPDX-License-Identifier: MIT */
/*
 * The USDT probes of provider "mtp" (MTP_USDT_PROVIDER): the extension fires
 * them, the BPF programs read them.  Each is declared here once, as its
 * argument list with the types BPF reads, and both sides are built from it:
 *
 *   - the extension fires a probe with MTP_FIRE(name, args...), which fails
 *     to compile when the count of args differs from the declaration;
 *   - a BPF handler takes MTP_PROBE_PARAMS(name) as its parameter list,
 *     int BPF_USDT(handle_written, MTP_PROBE_PARAMS(written)).
 *
 * tests/unit/test_contract.c reads the built extension's .note.stapsdt and
 * the built BPF object and checks both against MTP_PROBES.  (A probe that
 * lost an argument once went unseen for weeks: libbpf reads a missing USDT
 * argument as 0.)
 *
 * Included by BPF code and by user-space C, like mtp_abi.h.
 */
#ifndef MTP_PROBES_H
#define MTP_PROBES_H

/* mtp:gc_start -- a collection of `generation` begins.  For ad-hoc tools
 * (bpftrace); mtp-trace does not attach it: it would cost every collection
 * a uprobe firing for nothing the loader needs. */
#define MTP_PROBE_gc_start (int generation)

/* mtp:objects -- a batch of observed objects' records (struct mtp_record),
 * at most MTP_BATCH_MAX, from an extension built for `abi_version`;
 * type_names is the extension's table of type names, MTP_TYPES_MAX of them
 * (see "Types" in mtp_abi.h). */
#define MTP_PROBE_objects                                                                          \
    (const struct mtp_record *recs, __u32 count, __u32 abi_version,                                \
     const struct mtp_type_name *type_names)

/* mtp:gc_done -- totals since its previous firing; fired after each
 * observation and otherwise at most once a second, not once per collection.
 * wp_state is the written-page scan's (as struct mtp_stats' wp_state),
 * cycle_ns the round-robin cycle's length, cycles the cycles completed (the
 * whole heap observed) since the previous firing, wp_cost_ns the scan's
 * measured cost since then, step_max_ns the longest step since then. */
#define MTP_PROBE_gc_done                                                                          \
    (__u64 collections, __u64 gc_ns, __u64 observe_ns, __u64 observed, __s64 wp_state,             \
     __u64 cycle_ns, __u64 cycles, __u64 wp_cost_ns, __u64 step_max_ns)

/* mtp:written -- pages written since the scan last looked; period_ns is how
 * long until it looks at them again (1 in stride of the heap's 2-MiB chunks
 * is watched at a time, so about stride scan periods). */
#define MTP_PROBE_written (const __u64 *pages, __u32 count, __u64 period_ns)

/* mtp:hint -- the program's mtp.hint() on an object's pages. */
#define MTP_PROBE_hint (__u64 addr, __u64 size, __u32 hint)

/* mtp:configure -- one "name=value" setting, NUL-terminated. */
#define MTP_PROBE_configure (const char *setting)

/* Every probe: X(name) for each. */
#define MTP_PROBES(X) X(gc_start) X(objects) X(gc_done) X(written) X(hint) X(configure)

/* The probes whose semaphores tell the extension to work (MTP_TRACING and
 * the written-page scan).  Each is fired from one site only: a forked child
 * inherits its parent's semaphores but not its tracers, and the kernel
 * lowers a semaphore by one for each site the child fires with no tracer
 * wanting it, so one firing of each of these settles the child at fork.
 * tests/unit/test_contract.c counts their sites in the built extension. */
#define MTP_PROBES_ONE_SITE(X) X(gc_start) X(objects) X(gc_done) X(written)

/* A probe's parameter list, without its parentheses. */
#define MTP_PROBE_PARAMS(name) MTP__EXPAND_PARAMS(MTP_PROBE_##name)
/* A probe's argument count, a constant expression (1..12, sys/sdt.h's and
 * BPF_USDT's limit). */
#define MTP_PROBE_ARITY(name) MTP__COUNT(MTP_PROBE_PARAMS(name))

/* The preprocessor's arithmetic behind the two: an argument list's
 * parentheses dropped, and its length counted. */
#define MTP__EXPAND_PARAMS(list)                                               MTP__UNPAREN list
#define MTP__UNPAREN(...)                                                      __VA_ARGS__
#define MTP__COUNT(...)                                                        MTP__COUNT_(__VA_ARGS__, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
#define MTP__COUNT_(a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, n, ...) n

#endif /* MTP_PROBES_H */
