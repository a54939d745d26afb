/* SPDX-License-Identifier: MIT */
/*
 * The one contract shared by the CPython extension (pyext/), the BPF programs
 * (bpf/) and the loader (user/).  Every layout that crosses a boundary --
 * USDT arguments, BPF map keys and values -- is defined here and nowhere else.
 *
 * This header is included by BPF code (with vmlinux.h already providing the
 * __u64 family) and by ordinary user-space C, so it uses only fixed-width
 * kernel types and no libc.
 */
#ifndef MTP_ABI_H
#define MTP_ABI_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Bump when any layout below changes; the loader refuses a mismatched
 * extension instead of misreading its records. */
#define MTP_ABI_VERSION 7

#define MTP_PAGE_SHIFT 12
#define MTP_PAGE_SIZE  (1ULL << MTP_PAGE_SHIFT)
#define MTP_PAGE_MASK  (~(MTP_PAGE_SIZE - 1))

/*
 * A record spans at most this many pages.  The extension splits larger
 * footprints into several records so the BPF fold loop stays bounded and
 * cheap for the verifier.
 */
#define MTP_RECORD_MAX_PAGES 16
#define MTP_RECORD_MAX_BYTES (MTP_RECORD_MAX_PAGES * MTP_PAGE_SIZE)

/*
 * One USDT firing carries up to this many records.  A firing with a BPF
 * program attached costs ~1 us, so batching thousands amortises it.
 */
#define MTP_BATCH_MAX 4096

/* One observed object (or one slice of a large object's footprint). */
struct mtp_record {
    __u64 addr;         /* first byte of the footprint */
    __u32 size;         /* bytes, <= MTP_RECORD_MAX_BYTES */
    __s32 refcnt_delta; /* change since this object was last observed */
};

/*
 * Page temperature table value, keyed by the page's base address (__u64).
 * `heat` is stored as of `last_epoch`; readers decay it to the current epoch
 * with mtp_heat_decay() so untouched pages cool without being rewritten.
 */
struct mtp_page {
    __u64 heat;
    __u32 last_epoch;  /* loader epoch in which heat was last added (not merely seen) */
    __u32 first_epoch; /* loader interval in which the page was first seen */
    __u64 samples;     /* record slices folded into this page */
    __u64 active;      /* of those, slices whose object's refcount changed */
    __u32 hint;        /* enum mtp_hint, from the program's mtp.hint() */
    __u32 hint_epoch;  /* loader interval of the latest hint; hints fade */
    __u64 written;     /* written-page scans that found the page written */
};

/* Heat one written-page report adds: as much as a page whose every object's
 * reference count moved by 4.  A write is certain evidence of a touch, where
 * a refcount delta misses reads; it should weigh like solid refcount use. */
#define MTP_WRITTEN_HEAT (MTP_PAGE_SIZE * 4)

/* What a program may say about an object's future with mtp.hint(). */
enum mtp_hint {
    MTP_HINT_NONE = 0,
    MTP_HINT_HOT = 1,
    MTP_HINT_COLD = 2,
};

/* A hint not repeated for this many intervals is ignored: the extension
 * repeats live objects' hints at every observation, so a stale one belongs
 * to an object that is gone. */
#define MTP_HINT_TTL_EPOCHS 8

/* A hint covers at most this many pages (256 MiB). */
#define MTP_HINT_MAX_PAGES (1u << 16)

/* One "name=value" setting from the program's mtp.configure(), carried to
 * the loader through a BPF ring buffer. */
#define MTP_SETTING_MAX 96
struct mtp_setting {
    char text[MTP_SETTING_MAX];
};

/* Global counters, kept in a one-slot BPF array so bpftool prints them. */
struct mtp_stats {
    __u64 events;        /* mtp:objects firings */
    __u64 records;       /* records folded */
    __u64 dropped;       /* page slices lost because the page map was full */
    __u64 bad_reads;     /* record batches the BPF side could not read */
    __u64 bad_abi;       /* batches from an extension built for another ABI */
    __u64 gc_starts;     /* mtp:gc_start firings */
    __u64 gc_dones;      /* mtp:gc_done firings */
    __u64 new_pages;     /* pages inserted into the map */
    __u64 gc_ns;         /* sum of collection durations reported by gc_done */
    __u64 observe_ns;    /* sum of mtp's own observation time reported by gc_done */
    __u64 hints;         /* mtp:hint firings */
    __u64 settings;      /* mtp:configure firings */
    __u64 settings_lost; /* settings the ring buffer had no room for */
    __u64 written_pages; /* pages reported by mtp:written */
    __s64 wp_state;      /* the extension's written-page scan: its stride (>= 1) when on,
                            0 off, -errno failed */
    __u64 cycle_ns;      /* how long the extension takes to observe the whole heap once,
                            round-robin over budgeted steps (latest report) */
    __u64 wp_cost_ns;    /* the written-page scan's measured cost to the program: its
                            write-protect faults at their measured price plus its system
                            calls (sum) */
    __u64 step_max_ns;   /* the longest observation step since the previous gc_done
                            (latest report) */
};

/* wp_state while the written-page scan has turned itself off because its
 * measured cost exceeded its budget even at the widest sample; it retries
 * later.  (Positive: on, at that stride; 0: not started; other negative
 * values: -errno, the kernel refused it.) */
#define MTP_WP_STATE_BACKOFF (-1000000)

/*
 * USDT probes fired by the extension, provider "mtp":
 *   gc_start(int generation)
 *   objects(const struct mtp_record *recs, __u32 count, __u32 abi_version)
 *   gc_done(__u64 collections, __u64 gc_ns, __u64 observe_ns, __u64 observed)
 *       totals since its previous firing; fired after each observation and
 *       otherwise at most once a second, not once per collection
 *       and the written-page scan's state as a 5th argument (__s64, as wp_state),
 *       the round-robin cycle's duration in ns as a 6th (as cycle_ns), the
 *       scan's measured cost since the previous firing as a 7th (summed into
 *       wp_cost_ns) and the longest step since then as an 8th (step_max_ns)
 *   written(const __u64 *pages, __u32 count, __u32 weight)
 *       pages written since the last scan; weight is the sampling stride
 *       (1 in weight of the heap's 2 MiB chunks was watched)
 *   hint(__u64 addr, __u64 size, __u32 hint)
 *   configure(const char *setting)        "name=value", NUL-terminated
 */
#define MTP_USDT_PROVIDER "mtp"

/* Refcount changes above this count the same: one burst must not make a page
 * look hotter than steady use does. */
#define MTP_DELTA_CAP 16

static inline __u64 mtp_heat_decay(__u64 heat, __u32 from_epoch, __u32 to_epoch)
{
    __u32 age = to_epoch - from_epoch;

    if (to_epoch <= from_epoch)
        return heat;
    return age >= 64 ? 0 : heat >> age;
}

/*
 * A page counts as hot only while it was warmed within the last
 * MTP_HOT_WINDOW epochs; older heat still ranks pages but no longer makes
 * them hot.  Halving alone takes ~15 epochs to forget a busy page, which is
 * how long a phase change would take to follow.  This is the window for
 * reference counts alone; with the written-page scan on see
 * MTP_HOT_WINDOW_WRITTEN.  Epochs advance only in intervals that brought new
 * observations, so a program that rarely collects does not cool off.
 */
#define MTP_HOT_WINDOW 2

/* Without the scan the window also spans one round-robin cycle: a page is
 * warmed only when a step reaches its objects, once per cycle.  Cycles longer
 * than this many intervals widen it no further (the page is then judged by
 * older heat). */
#define MTP_CYCLE_WINDOW_MAX 30

/* With the written-page scan on, every step reports every written page of
 * the sampled chunks, whatever slice of objects it walked, and in CPython
 * using an object writes its page: the window is this plus the scan's stride
 * less one (a sampled chunk is seen once per stride steps), not the cycle.
 * Measured: a phase change followed in 3-4 intervals instead of 6-13 (see
 * BENCHMARKS.md section 5). */
#define MTP_HOT_WINDOW_WRITTEN 1

static inline __u64 mtp_heat_now(__u64 heat, __u32 last_epoch, __u32 epoch, __u32 window)
{
    if (epoch > last_epoch && epoch - last_epoch > window)
        return 0;
    return mtp_heat_decay(heat, last_epoch, epoch);
}

/*
 * Heat a record slice adds to one page: the bytes of the object that lie on
 * the page, weighted by how much its reference count moved.  Weighting by
 * bytes makes a page full of active objects hotter than one active object on
 * an otherwise cold page.
 */
static inline __u64 mtp_heat_contribution(__u32 overlap_bytes, __s32 refcnt_delta)
{
    __u32 magnitude = refcnt_delta < 0 ? (__u32)(-(__s64)refcnt_delta) : (__u32)refcnt_delta;

    if (magnitude > MTP_DELTA_CAP)
        magnitude = MTP_DELTA_CAP;
    return (__u64)overlap_bytes * magnitude;
}

/*
 * Bytes of [addr, addr + size) that fall on the page starting at `page`.
 * Callers iterate pages from addr & MTP_PAGE_MASK upward.
 */
static inline __u32 mtp_page_overlap(__u64 page, __u64 addr, __u32 size)
{
    __u64 lo = addr > page ? addr : page;
    __u64 end = addr + size;
    __u64 hi = end < page + MTP_PAGE_SIZE ? end : page + MTP_PAGE_SIZE;

    return hi > lo ? (__u32)(hi - lo) : 0;
}

#endif /* MTP_ABI_H */
