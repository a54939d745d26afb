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
#define MTP_ABI_VERSION 9

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
    __s16 refcnt_delta; /* change since this object was last observed, saturated at
                           +-32767 (heat counts at most MTP_DELTA_CAP of it) */
    __u16 type_id;      /* the object's Python type (see "Types" below); 0: not known */
};

/*
 * Types.  The extension numbers the Python types it observes, 1 up to
 * MTP_TYPES_MAX - 1, in the order it meets them; 0 is "not attributed" (the
 * table was full, or storage credited without its owner).  It keeps each
 * type's name, "module.QualName" as Python writes it, NUL-terminated and cut
 * to MTP_TYPE_NAME_MAX - 1 bytes, at type_names[id] in its own memory, and
 * passes that array's address with every mtp:objects firing.  An id's name is
 * written before any record carries the id and never changes, so the BPF
 * fold copies it once, the first time it meets the id, into the "type_names"
 * map, where `bpftool map dump` shows it beside the "types" map.
 */
#define MTP_TYPES_MAX     4096
#define MTP_TYPE_NAME_MAX 64

struct mtp_type_name {
    char name[MTP_TYPE_NAME_MAX];
};

/* Where a page is, as the loader last found it (struct mtp_page's tier):
 * not looked at yet (a page new to the map: the fold cannot ask the kernel),
 * the fast node, another node. */
enum { MTP_PAGE_TIER_UNKNOWN = 0, MTP_PAGE_TIER_FAST = 1, MTP_PAGE_TIER_SLOW = 2 };

/* The index of the per-tier counts below: bytes on fast pages, slow pages,
 * and pages whose tier was not known yet when the bytes were observed. */
enum { MTP_AT_FAST = 0, MTP_AT_SLOW = 1, MTP_AT_UNLOCATED = 2, MTP_TIERS = 3 };

static inline unsigned mtp_tier_index(__u8 page_tier)
{
    return page_tier == MTP_PAGE_TIER_FAST   ? MTP_AT_FAST
           : page_tier == MTP_PAGE_TIER_SLOW ? MTP_AT_SLOW
                                             : MTP_AT_UNLOCATED;
}

/*
 * What the BPF fold keeps per type ("types", an array indexed by type id).
 * Running sums over the records of the type's objects, and the bytes of
 * the objects observed in one heap cycle by the tier of their pages and by
 * whether the page was hot when they were observed: a cycle observes every
 * live object once, so those are the type's live bytes where they are.
 * Two banks take turns, by the parity of the heap cycles completed
 * (struct mtp_stats' cycles): bank[c & 1] counts cycle c, and is zeroed by
 * the first record of cycle c + 2; the loader reads the last complete one.
 */
struct mtp_type_bank {
    __u64 cycle;                /* the heap cycle these count */
    __u64 bytes[MTP_TIERS];     /* by the tier of the page */
    __u64 hot_bytes[MTP_TIERS]; /* of those, on pages hot when observed */
};

struct mtp_type_stats {
    __u64 records; /* record slices folded */
    __u64 bytes;   /* their bytes */
    __u64 heat;    /* heat they added to their pages */
    __u64 active;  /* slices whose object's reference count had changed */
    struct mtp_type_bank bank[2];
};

/*
 * Which type a page holds most of, for counting moves by type.  Each page
 * keeps a candidate type and a weight in units of MTP_TYPE_WEIGHT_UNIT bytes
 * (struct mtp_page's type_id, type_weight): a slice of the candidate's adds
 * its bytes to the weight, another type's takes them off, and a type whose
 * slice outweighs what is left takes the page.  Over a cycle this leaves
 * the type with most of the page's observed bytes in place whenever one has
 * more than half of them (a weighted majority vote); with two types of one
 * size class side by side, either may hold the page.  The weight is capped,
 * so a page the allocator gives to another type changes hands within a few
 * observations.  Type 0 does not vote.
 */
#define MTP_TYPE_WEIGHT_UNIT 64
#define MTP_TYPE_WEIGHT_MAX  255 /* x 64 bytes: about four pages */

static inline void mtp_type_vote(__u16 *type_id, __u8 *weight, __u16 type, __u32 bytes)
{
    __u32 w = *weight, units = (bytes + MTP_TYPE_WEIGHT_UNIT - 1) / MTP_TYPE_WEIGHT_UNIT;

    if (type == 0)
        return;
    if (type == *type_id) {
        w += units;
    } else if (w >= units) {
        w -= units;
    } else {
        *type_id = type;
        w = units - w;
    }
    *weight = (__u8)(w > MTP_TYPE_WEIGHT_MAX ? MTP_TYPE_WEIGHT_MAX : w);
}

/*
 * What the loader keeps per type ("type_tiers", an array indexed by type
 * id), rewritten every interval: the bytes of the last complete heap cycle
 * (struct mtp_type_stats' banks) by tier, and the pages the type holds most
 * of (mtp_type_vote), their heat and moves.  Without tiering (one node, or
 * tracing only) the loader does not locate pages: every byte is unlocated.
 */
struct mtp_type_tiers {
    __u64 bytes[MTP_TIERS];     /* live bytes by tier (one heap cycle's observations) */
    __u64 hot_bytes[MTP_TIERS]; /* of those, on pages hot when observed */
    __u64 pages;                /* tracked pages it holds most of */
    __u64 heat;                 /* their decayed heat */
    __u64 promoted;             /* of its pages, moved to the fast tier since tracing began */
    __u64 demoted;              /* moved off it */
};

/*
 * Page temperature table value, keyed by the page's base address (__u64).
 * `heat` is stored as of `last_epoch`; readers decay it to the current epoch
 * with mtp_heat_decay() so untouched pages cool without being rewritten.
 * Both signals look at a page only now and then (a round-robin cycle, a
 * rotation of the written-page scan's sample), so heat halves once per
 * `period`, the epochs between two looks of the signal that last warmed it:
 * a page warmed at every look stays warm, one no longer warmed cools within
 * a few looks.  See mtp_heat_decay().
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
    __u32 period;      /* epochs between two looks of the signal that last warmed the page
                          (>= 1): heat halves once per period, and the page is hot until
                          MTP_HOT_SLACK epochs past one period (user/lib/interval.h) */
    __u16 type_id;     /* the type holding most of the page's observed bytes, as far as
                          mtp_type_vote() can tell; 0: none yet */
    __u8 type_weight;  /* that type's lead, in MTP_TYPE_WEIGHT_UNIT bytes */
    __u8 tier;         /* MTP_AT_FAST or MTP_AT_SLOW, as the loader last found the page
                          (written by the loader only; new pages start fast) */
};

/* A period longer than this many epochs counts as this many: a page looked
 * at that rarely is judged by older heat rather than kept hot for longer. */
#define MTP_PERIOD_MAX 32

/* Epochs between looks, from the nanoseconds between them and the loader's
 * interval (mtp_epoch_ns): rounded up, within [1, MTP_PERIOD_MAX]. */
static inline __u32 mtp_period_epochs(__u64 look_ns, __u64 epoch_ns)
{
    __u64 epochs;

    if (epoch_ns == 0)
        return 1;
    epochs = look_ns / epoch_ns + (look_ns % epoch_ns != 0);
    if (epochs < 1)
        return 1;
    return epochs > MTP_PERIOD_MAX ? MTP_PERIOD_MAX : (__u32)epochs;
}

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
    __u64 cycles;        /* round-robin cycles completed: how many times the whole heap
                            was observed (sum) */
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

/* The USDT probes' provider; the probes are declared in mtp_probes.h. */
#define MTP_USDT_PROVIDER "mtp"

/* Refcount changes above this count the same: one burst must not make a page
 * look hotter than steady use does. */
#define MTP_DELTA_CAP 16

/*
 * Heat stored as of from_epoch, seen at to_epoch: halved once per `period`
 * epochs, in between scaled down linearly towards the next halving (1 -
 * r/(2 period) for r epochs into it), so that looks a little early or late
 * decay a little less or more instead of not at all or twice.  A page warmed
 * by c at every look settles near 2c.
 */
static inline __u64 mtp_heat_decay(__u64 heat, __u32 from_epoch, __u32 to_epoch, __u32 period)
{
    __u32 age = to_epoch - from_epoch, halvings, rest;

    if (to_epoch <= from_epoch)
        return heat;
    if (period < 1)
        period = 1;
    halvings = age / period;
    rest = age % period;
    if (halvings >= 64)
        return 0;
    heat >>= halvings;
    return heat - heat / (2 * period) * rest;
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
