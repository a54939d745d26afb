// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Folds the object records fired by the mtp extension into a page
 * temperature table.  One mtp:objects firing carries up to MTP_BATCH_MAX
 * records; bpf_loop walks them so the program stays small for the verifier
 * however large the batch.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

#include "mtp_abi.h"
#include "mtp_probes.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The loader advances this once per interval (when something new was
 * observed); heat decays per period of epochs (struct mtp_page). */
__u32 mtp_epoch = 0;
/* The loader's interval: turns the time between two looks at a page into
 * epochs (struct mtp_page's period). */
__u64 mtp_epoch_ns = 0;

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __uint(max_entries, 1 << 20); /* the loader sets the real size before load */
    __type(key, __u64);
    __type(value, struct mtp_page);
} pages SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct mtp_stats);
} stats SEC(".maps");

/* Per Python type: the fold's sums ("types"), the names the extension gave
 * the ids ("type_names", copied the first time an id is met), and the
 * loader's count of the pages each type holds most of, by tier
 * ("type_tiers": the loader owns it and rewrites it every interval; nothing
 * here touches it).  See "Types" in mtp_abi.h. */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, MTP_TYPES_MAX);
    __type(key, __u32);
    __type(value, struct mtp_type_stats);
} types SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, MTP_TYPES_MAX);
    __type(key, __u32);
    __type(value, struct mtp_type_name);
} type_names SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, MTP_TYPES_MAX);
    __type(key, __u32);
    __type(value, struct mtp_type_tiers);
} type_tiers SEC(".maps");

/* Settings from the program's mtp.configure(), for the loader to vet. */
struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 64 * 1024);
} settings SEC(".maps");

/* Both folds copy their array (records, written pages) from the traced
 * process a chunk at a time: one bpf_probe_read_user per 4 KiB (256 records,
 * 512 pages) instead of one per element.  Words, for the elements'
 * alignment. */
#define FOLD_CHUNK_BYTES 4096
struct fold_chunk {
    __u64 words[FOLD_CHUNK_BYTES / sizeof(__u64)];
};

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct fold_chunk);
} chunk_buf SEC(".maps");

struct fold_ctx {
    const struct mtp_record *recs;
    const struct mtp_type_name *type_names; /* the extension's, in the traced process */
    __u64 cycle;                            /* heap cycles completed: picks the types' bank */
    __u32 count;
    __u32 epoch;
    __u32 period; /* epochs until the round-robin cycle comes back to these objects */
    struct mtp_stats *stats;
    struct fold_chunk *chunk;
};

/*
 * Element `index` of the `count` elements of `size` bytes at `src` in the
 * traced process, for a bpf_loop callback: the chunk that begins at `index`
 * is read into buf first.  NULL when the read fails (counted in bad_reads)
 * or a bound does not hold: the loop stops.  Inlined, so that size is a
 * constant and the verifier sees plain bounds on the read's length and on
 * the element's offset in buf.
 */
static __always_inline const void *fold_element(struct fold_chunk *buf, const void *src,
                                                __u32 index, __u32 count, __u32 size,
                                                struct mtp_stats *st)
{
    const __u32 per_chunk = sizeof(*buf) / size;
    __u32 slot = index % per_chunk;

    if (slot == 0) {
        __u32 n = count - index;
        __u64 bytes; /* 64-bit: no zero-extension between the bound and the call */

        if (n > per_chunk)
            n = per_chunk;
        bytes = (__u64)n * size;
        /* One plain bound on the register passed to the helper: clang would
         * fold a two-sided test into a form the verifier cannot follow.  n is
         * at least 1, as bpf_loop only calls with index < count. */
        barrier_var(bytes);
        if (bytes > sizeof(*buf))
            return NULL;
        if (bpf_probe_read_user(buf, bytes, (const __u8 *)src + (__u64)index * size)) {
            __sync_fetch_and_add(&st->bad_reads, 1);
            return NULL;
        }
    }
    if (slot >= per_chunk)
        return NULL;
    return (const __u8 *)buf + slot * size;
}

static struct mtp_stats *get_stats(void)
{
    __u32 zero = 0;

    return bpf_map_lookup_elem(&stats, &zero);
}

static struct mtp_page *page_slot(__u64 page, struct mtp_stats *st)
{
    static const struct mtp_page empty;
    struct mtp_page *val = bpf_map_lookup_elem(&pages, &page);
    long err;

    if (val)
        return val;
    err = bpf_map_update_elem(&pages, &page, &empty, BPF_NOEXIST);
    if (err == 0)
        __sync_fetch_and_add(&st->new_pages, 1);
    else if (err != -EEXIST)
        return NULL;
    return bpf_map_lookup_elem(&pages, &page);
}

/* Adds heat to a page warmed at `epoch` by a signal that looks at it once
 * per `period` epochs.  Another look may already have stamped a later epoch
 * (two CPUs, or the scan's report arriving after a step's records): the page
 * keeps the later one. */
static void warm_page(struct mtp_page *val, __u32 epoch, __u32 period, __u64 heat)
{
    if ((__s32)(epoch - val->last_epoch) < 0)
        epoch = val->last_epoch;
    val->heat = mtp_heat_decay(val->heat, val->last_epoch, epoch, val->period) + heat;
    val->last_epoch = epoch;
    val->period = period;
}

/*
 * Folds one slice of an object into its page: `heat` is 0 when the object's
 * refcount did not change.  Global, not static, so that the verifier checks
 * it once on its own rather than once per path through fold_record's page
 * loop: inlined into that loop, the fold took 970k of the verifier's 1M
 * instructions on kernel 6.18.44 (and ~1.2 s of the loader's start).
 * `type_bytes` is the slice's type id << 32 | its bytes on the page, for
 * the page's type vote (mtp_type_vote).  Returns FOLD_DROPPED when the map
 * is full and the slice was dropped, else the page's tier index (MTP_AT_*)
 * in FOLD_TIER's bits and whether it is hot (FOLD_HOT: its heat, decayed to
 * now, is not 0, the loader's rule for a hot page), for the type's bytes.
 */
#define FOLD_DROPPED    1
#define FOLD_TIER_SHIFT 1
#define FOLD_TIER       (3 << FOLD_TIER_SHIFT)
#define FOLD_HOT        8

__noinline int mtp_fold_page(__u64 page, __u32 epoch, __u32 period, __u64 heat, __u64 type_bytes)
{
    struct mtp_stats *st = get_stats();
    struct mtp_page *val;
    int flags;

    if (!st)
        return 0;
    val = page_slot(page, st);
    if (!val)
        return FOLD_DROPPED;
    if (val->samples == 0)
        val->first_epoch = epoch;
    val->samples++;
    mtp_type_vote(&val->type_id, &val->type_weight, (__u16)(type_bytes >> 32), (__u32)type_bytes);
    /* Only warmth moves last_epoch: it says when the page was last used,
     * not last seen. */
    if (heat) {
        warm_page(val, epoch, period, heat);
        val->active++;
    }
    flags = (int)mtp_tier_index(val->tier) << FOLD_TIER_SHIFT;
    if (mtp_heat_decay(val->heat, val->last_epoch, epoch, val->period) > 0)
        flags |= FOLD_HOT;
    return flags;
}

/*
 * Adds a record to its type's sums; copies the type's name from the traced
 * process the first time the id is met, and starts the cycle's bank afresh
 * at its first record.  Plain adds: one process's firings come one at a
 * time, each from the thread holding its GIL, and every process has a BPF
 * object of its own.  Returns the bank the record's slices count in.
 */
static struct mtp_type_bank *fold_type(const struct fold_ctx *ctx, const struct mtp_record *rec)
{
    __u32 id = rec->type_id;
    struct mtp_type_stats *t = bpf_map_lookup_elem(&types, &id);
    struct mtp_type_bank *bank;

    if (!t)
        return NULL;
    if (t->records == 0 && id != 0) {
        struct mtp_type_name *name = bpf_map_lookup_elem(&type_names, &id);

        if (name)
            bpf_probe_read_user_str(name->name, sizeof(name->name), &ctx->type_names[id]);
    }
    t->records++;
    t->bytes += rec->size;
    if (rec->refcnt_delta) {
        t->heat += mtp_heat_contribution(rec->size, rec->refcnt_delta);
        t->active++;
    }
    bank = &t->bank[ctx->cycle & 1];
    if (bank->cycle != ctx->cycle) {
        bank->cycle = ctx->cycle;
        for (int i = 0; i < MTP_TIERS; i++)
            bank->bytes[i] = bank->hot_bytes[i] = 0;
    }
    return bank;
}

static long fold_record(__u32 index, void *data)
{
    struct fold_ctx *ctx = data;
    const struct mtp_record *at =
        fold_element(ctx->chunk, ctx->recs, index, ctx->count, sizeof(*ctx->recs), ctx->stats);
    struct mtp_type_bank *bank;
    struct mtp_record rec;
    __u64 page;

    if (!at)
        return 1;
    rec = *at;
    bank = fold_type(ctx, &rec);
    page = rec.addr & MTP_PAGE_MASK;
    for (int i = 0; i < MTP_RECORD_MAX_PAGES; i++, page += MTP_PAGE_SIZE) {
        __u32 overlap = mtp_page_overlap(page, rec.addr, rec.size);
        unsigned tier;
        int flags;

        if (overlap == 0)
            break;
        flags =
            mtp_fold_page(page, ctx->epoch, ctx->period,
                          rec.refcnt_delta ? mtp_heat_contribution(overlap, rec.refcnt_delta) : 0,
                          (__u64)rec.type_id << 32 | overlap);
        if (flags & FOLD_DROPPED) {
            __sync_fetch_and_add(&ctx->stats->dropped, 1);
            continue;
        }
        tier = (flags & FOLD_TIER) >> FOLD_TIER_SHIFT;
        if (!bank || tier >= MTP_TIERS)
            continue;
        bank->bytes[tier] += overlap;
        if (flags & FOLD_HOT)
            bank->hot_bytes[tier] += overlap;
    }
    return 0;
}

SEC("usdt")
int BPF_USDT(handle_objects, MTP_PROBE_PARAMS(objects))
{
    struct mtp_stats *st = get_stats();
    struct fold_ctx fold = {};
    __u32 zero = 0;

    if (!st)
        return 0;
    __sync_fetch_and_add(&st->events, 1);
    if (abi_version != MTP_ABI_VERSION) {
        __sync_fetch_and_add(&st->bad_abi, 1);
        return 0;
    }
    if (count > MTP_BATCH_MAX)
        count = MTP_BATCH_MAX;
    fold.chunk = bpf_map_lookup_elem(&chunk_buf, &zero);
    if (!fold.chunk)
        return 0;
    fold.recs = recs;
    fold.type_names = type_names;
    fold.cycle = st->cycles;
    fold.count = count;
    fold.stats = st;
    fold.epoch = *(volatile __u32 *)&mtp_epoch;
    /* A step reaches these objects again after one whole cycle. */
    fold.period = mtp_period_epochs(st->cycle_ns, *(volatile __u64 *)&mtp_epoch_ns);
    __sync_fetch_and_add(&st->records, count);
    bpf_loop(count, fold_record, &fold, 0);
    return 0;
}

SEC("usdt")
int BPF_USDT(handle_gc_done, MTP_PROBE_PARAMS(gc_done))
{
    struct mtp_stats *st = get_stats();

    if (!st)
        return 0;
    st->wp_state = wp_state;
    st->cycle_ns = cycle_ns;
    st->step_max_ns = step_max_ns;
    __sync_fetch_and_add(&st->cycles, cycles);
    __sync_fetch_and_add(&st->wp_cost_ns, wp_cost_ns);
    __sync_fetch_and_add(&st->gc_dones, collections);
    __sync_fetch_and_add(&st->gc_ns, gc_ns);
    __sync_fetch_and_add(&st->observe_ns, observe_ns);
    return 0;
}

struct hint_ctx {
    __u64 first_page;
    __u32 hint;
    __u32 epoch;
    struct mtp_stats *stats;
};

static long hint_page(__u32 index, void *data)
{
    struct hint_ctx *ctx = data;
    struct mtp_page *val = page_slot(ctx->first_page + (__u64)index * MTP_PAGE_SIZE, ctx->stats);

    if (!val) {
        __sync_fetch_and_add(&ctx->stats->dropped, 1);
        return 0;
    }
    val->hint = ctx->hint;
    val->hint_epoch = ctx->epoch;
    return 0;
}

SEC("usdt")
int BPF_USDT(handle_hint, MTP_PROBE_PARAMS(hint))
{
    struct mtp_stats *st = get_stats();
    struct hint_ctx hc;
    __u64 pages;

    if (!st || size == 0 || hint > MTP_HINT_COLD)
        return 0;
    __sync_fetch_and_add(&st->hints, 1);
    hc.first_page = addr & MTP_PAGE_MASK;
    hc.hint = hint;
    hc.epoch = *(volatile __u32 *)&mtp_epoch;
    hc.stats = st;
    pages = ((addr + size - 1) >> MTP_PAGE_SHIFT) - (addr >> MTP_PAGE_SHIFT) + 1;
    if (pages > MTP_HINT_MAX_PAGES)
        pages = MTP_HINT_MAX_PAGES;
    bpf_loop((__u32)pages, hint_page, &hc, 0);
    return 0;
}

SEC("usdt")
int BPF_USDT(handle_configure, MTP_PROBE_PARAMS(configure))
{
    struct mtp_stats *st = get_stats();
    struct mtp_setting *out;

    if (!st)
        return 0;
    __sync_fetch_and_add(&st->settings, 1);
    out = bpf_ringbuf_reserve(&settings, sizeof(*out), 0);
    if (!out) {
        __sync_fetch_and_add(&st->settings_lost, 1);
        return 0;
    }
    if (bpf_probe_read_user_str(out->text, sizeof(out->text), setting) < 0)
        out->text[0] = '\0';
    bpf_ringbuf_submit(out, 0);
    return 0;
}

struct written_ctx {
    const __u64 *pages;
    __u32 count;
    __u32 epoch;
    __u32 period; /* epochs until the scan watches these pages again */
    struct mtp_stats *stats;
    struct fold_chunk *chunk;
};

static long fold_written(__u32 index, void *data)
{
    struct written_ctx *ctx = data;
    const __u64 *at =
        fold_element(ctx->chunk, ctx->pages, index, ctx->count, sizeof(*ctx->pages), ctx->stats);
    struct mtp_page *val;
    __u64 page;

    if (!at)
        return 1;
    page = *at & MTP_PAGE_MASK;
    val = page_slot(page, ctx->stats);
    if (!val) {
        __sync_fetch_and_add(&ctx->stats->dropped, 1);
        return 0;
    }
    if (val->samples == 0 && val->written == 0)
        val->first_epoch = ctx->epoch;
    warm_page(val, ctx->epoch, ctx->period, MTP_WRITTEN_HEAT);
    val->written++;
    return 0;
}

SEC("usdt")
int BPF_USDT(handle_written, MTP_PROBE_PARAMS(written))
{
    struct mtp_stats *st = get_stats();
    struct written_ctx wc = {};
    __u32 zero = 0;

    if (!st)
        return 0;
    wc.chunk = bpf_map_lookup_elem(&chunk_buf, &zero);
    if (!wc.chunk)
        return 0;
    if (count > MTP_BATCH_MAX)
        count = MTP_BATCH_MAX;
    wc.pages = pages;
    wc.count = count;
    wc.epoch = *(volatile __u32 *)&mtp_epoch;
    wc.period = mtp_period_epochs(period_ns, *(volatile __u64 *)&mtp_epoch_ns);
    wc.stats = st;
    __sync_fetch_and_add(&st->written_pages, count);
    bpf_loop(count, fold_written, &wc, 0);
    return 0;
}
