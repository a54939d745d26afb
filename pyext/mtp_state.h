/* SPDX-License-Identifier: MIT */
/*
 * The extension's shared state, defined once, and the calls its rooms make
 * into one another.  Every room (pyext/mtp_*.c, mtpmodule.c) includes this
 * first; mtpmodule.c's header says which room does what.
 *
 * Who owns what.  The GIL owns nearly everything, and each struct below
 * says which of its fields are the exceptions.  The ticker thread
 * (mtp_ticker.c) also runs without the GIL; the fields it reads there are
 * "atomic": written with the GIL held, through atomic stores only
 * (mtp_store_f64, __atomic_store_n), and read off the GIL through atomic
 * loads (mtp_load_f64, __atomic_load_n); a GIL holder may read them plainly,
 * since every writer holds the GIL.  The probes' semaphores are written by
 * the kernel and read atomically everywhere (MTP_ATTACHED).  The ticker's
 * own state is static in mtp_ticker.c, under mtp_ticker_mu, and so is a
 * descriptor handed to it to close (mtp_ticker_close); the prefault queue
 * is mtp_ownmem.c's, under mtp_prefault_mu.
 *
 * The extension is built with -fvisibility=hidden, and everything declared
 * here is hidden too (the pragma below), so the rooms' names stay inside the
 * shared object and are reached without the PLT or the GOT.
 */
#ifndef MTP_STATE_H
#define MTP_STATE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <time.h>

#define _SDT_HAS_SEMAPHORES 1
/* Registers or constants only: libbpf cannot decode indexed memory operands
 * such as 8@(%r11,%rdx,8), which the default "nor" lets the compiler pick. */
#define STAP_SDT_ARG_CONSTRAINT nr
#include <sys/sdt.h>

#include "mtp_abi.h"
#include "mtp_ownmem.h"
#include "mtp_probes.h"
#include "mtp_sidetable.h"
#include "mtp_snapshot.h"
#include "mtp_types.h"
#include "mtp_wpscan.h"

#pragma GCC visibility push(hidden)

/* The probes' semaphores (defined in mtp_transport.c).  They live in
 * .probes; the kernel bumps one when a uprobe with a ref_ctr_offset
 * attaches, which is how we know a tracer is listening. */
#define MTP_SEMAPHORE_DECL(name) extern unsigned short mtp_##name##_semaphore;
MTP_PROBES(MTP_SEMAPHORE_DECL)

/* Fires mtp:name, declared in mtp_probes.h: a firing whose argument count
 * differs from the declaration does not compile. */
#define MTP_FIRE(name, ...)                                                                        \
    do {                                                                                           \
        _Static_assert(MTP__COUNT(__VA_ARGS__) == MTP_PROBE_ARITY(name),                           \
                       "mtp:" #name " fired with other arguments than mtp_probes.h declares");     \
        MTP__FIRE_N(MTP__COUNT(__VA_ARGS__))(mtp, name, __VA_ARGS__);                              \
    } while (0)
#define MTP__FIRE_N(n)  MTP__FIRE_N_(n)
#define MTP__FIRE_N_(n) DTRACE_PROBE##n

/* Whether a tracer listens to mtp:name.  The kernel writes the semaphores
 * whenever a tracer attaches or leaves, and the ticker reads them off the
 * GIL: every read is an atomic load (relaxed: on x86 and arm64, the same
 * instruction as a plain load). */
#define MTP_ATTACHED(name) __atomic_load_n(&mtp_##name##_semaphore, __ATOMIC_RELAXED)

#define MTP_TRACING() (MTP_ATTACHED(gc_start) | MTP_ATTACHED(gc_done) | MTP_ATTACHED(objects))

/* A function holding a probe's one site (MTP_PROBES_ONE_SITE): inlining or
 * cloning it would copy the site. */
#if defined(__clang__)
#define MTP_ONE_SITE __attribute__((noinline))
#else
#define MTP_ONE_SITE __attribute__((noinline, noclone))
#endif

/* A live hint.  Objects that support weak references are followed through
 * one; other GC-tracked objects (list, dict, tuple) are found again by address
 * and type in each snapshot, so a new object of the same type at a freed
 * hinted one's address inherits its hint.  Neither keeps the object alive. */
typedef struct {
    uint64_t addr;
    uint16_t type_tag;
    uint32_t kind;       /* enum mtp_hint */
    PyObject *weakref;   /* NULL for GC-tracked objects */
    uint64_t seen_cycle; /* the round-robin cycle that last found it */
} mtp_hint_entry;

/* Step pauses in buckets of a quarter of a power of two: enough to tell a
 * p99 of 1 ms from one of 1.2 ms, in 256 counters. */
#define MTP_STEP_HIST 256

enum { MTP_WP_OFF = 0, MTP_WP_ON = 1, MTP_WP_BACKING_OFF = 2 };

typedef struct {
    /*
     * Atomic: the ticker reads these off the GIL.  Written only with the GIL
     * held and only through atomic stores (mtp_store_f64, __atomic_store_n);
     * read off the GIL through atomic loads (mtp_load_f64, __atomic_load_n),
     * with it plainly.
     */
    uint64_t last_observe_ns; /* when the last step ended */
    uint64_t min_interval_ns; /* no step sooner than this after the last one */
    double timer_share;       /* share of wall time all steps may take */
    int64_t timer_credit_ns;  /* wall-time credit */
    uint64_t timer_earned_ns; /* timer credit was earned up to here */
    double ns_per_entry;      /* a step's cost per entry: walk, sort, tables, records */
    double step_fixed_ns;     /* the rest but the scan: storage credited, hints */

    /*
     * The GIL's, everything below.
     */
    mtp_seentab seen;         /* the side table: each observed object's last reading */
    mtp_extab extents;        /* out-of-line storage by owner (see mtp_extent) */
    mtp_extent *step_extents; /* this step's, in emission order (in step_extents_mem) */
    size_t step_extents_len, step_extents_cap;
    mtp_scratch step_extents_mem;

    struct mtp_record batch[MTP_BATCH_MAX];
    uint32_t batch_len;

    PyObject *get_objects;    /* gc.get_objects */
    PyObject *generation_key; /* "generation", interned: looked up at every collection */
    PyObject *settings;       /* dict name -> "name=value" bytes, from configure() */
    mtp_hint_entry *hints;
    size_t hints_len;
    int observing;     /* guards against re-entry through an allocation */
    int in_collection; /* between gc.callbacks' "start" and "stop" */
    uint64_t gc_start_ns;
    /* Totals not yet reported through mtp:gc_done. */
    uint64_t pending_collections;
    uint64_t pending_gc_ns;
    uint64_t pending_observe_ns;
    uint64_t pending_observed;
    uint64_t pending_cycles; /* round-robin cycles completed */
    uint64_t last_gc_done_ns;

    /* The step budget (see mtp_schedule.c; timer_share above). */
    double budget;           /* share of the collector's time a step may take */
    double scan_share;       /* share of the program's time the written-page scan may cost */
    int64_t credit_ns;       /* collection steps' credit, negative after an overrun */
    uint64_t step_walked_ns; /* the last step's per-entry part (for ns_per_entry) */
    uint64_t step_visited;   /* entries the last step's walk visited (what `limit` bounds) */
    uint64_t step_scan_ns;   /* the last step's written-page scan, budgeted apart */

    /* The written-page scan: MTP_WP_ON, MTP_WP_OFF, MTP_WP_BACKING_OFF, or
     * -errno when the kernel refused it. */
    struct mtp_wpscan wp;
    int wp_state;
    uint64_t *written; /* pages taken, pending until the scan reports them (or a step fires them) */
    size_t written_len;
    uint64_t written_since; /* when the current sample was protected */
    uint64_t written_fired;
    /* Its cost, measured (see mtp_written_resample). */
    uint64_t wp_fault_ns;       /* what one write-protect fault costs here */
    uint64_t wp_fault_measured; /* when that was measured */
    double wp_fault_factor; /* price per fault / wp_fault_ns: 1, or more where the TLB is flushed */
    uint64_t wp_resume_ns;  /* backing off: no scan before this */
    uint64_t wp_backoff_ns; /* the current back-off's length; doubles */
    uint64_t wp_faults_total;
    uint64_t wp_sys_ns_total;
    uint64_t wp_cost_ns_total;
    uint64_t wp_backoffs;
    /* The scan's budget as a bucket (mtp_wpscan_credit): when the next
     * sample is expected to leave it in debt (mtp_wpscan_projected), the
     * sample's protection is dropped until wp_hold_until (0: not holding),
     * when the budget has earned the sample's expected cost. */
    double wp_credit_ns;
    uint64_t wp_hold_until;
    unsigned wp_next_after_hold; /* the stride the sample moves to when the hold ends */
    uint64_t wp_holds, wp_held_ns_total;
    unsigned wp_quiet;   /* samples in a row whose average cost was under a quarter of the budget */
    double wp_share_avg; /* the scan's cost as a share of time, smoothed; < 0: none yet */
    uint64_t wp_period_ns; /* time between two takes, smoothed: how often the sample moves */
    /* The last take's window was cut by a full collection: the same chunks
     * are watched again, once, instead of moving on. */
    int wp_window_lost, wp_retried;
    /* The stride the sample moves to at the scan's next step (0: stays):
     * decided after a take, carried out apart from it (mtp_scan_step). */
    unsigned wp_sample_next;
    uint64_t pending_wp_cost_ns; /* not yet reported through mtp:gc_done */

    /* MTP_FOOTPRINT=first-page: each object counts only toward the page its
     * start is on, as the MTP paper's prototype did; kept for ablations. */
    int first_page_only;

    /* Counters exposed through mtp.stats(). */
    uint64_t observations;
    uint64_t objects_seen;
    uint64_t records_fired;
    uint64_t batches_fired;
    uint64_t observe_ns_total;
    uint64_t observe_ns_last;
    uint64_t observe_ns_max;
    uint64_t timer_steps;
    uint64_t timer_calls_posted;       /* atomic, the ticker's: steps asked by pending call */
    uint64_t timer_gil_takes;          /* the GIL's: the ticker took it, the call too late */
    uint64_t timer_calls_elsewhere;    /* the GIL's: calls run in a subinterpreter, passed over */
    uint64_t extents_credited;         /* storage credited through its owner's written page */
    uint64_t stack_code_recorded;      /* code objects on steps' stacks recorded (mtp_stack.c) */
    uint64_t gc_ns_total;              /* the collector's own time while traced */
    uint64_t gc_step_ns_total;         /* steps inside collections: their added pause */
    uint64_t timer_step_ns_total;      /* steps from the timer */
    uint64_t forced_steps;             /* minimal steps run so that observation never stops */
    uint64_t pending_step_max_ns;      /* the longest step since the last mtp:gc_done */
    uint32_t step_hist[MTP_STEP_HIST]; /* step pauses, log-scaled (mtp_step_bucket) */
} mtp_state;

extern mtp_state mtp;

/* The collector's lists as the step walks them (see mtp_walk.c). */
typedef struct {
    uintptr_t next;
    uintptr_t prev; /* low two bits are collector flags */
} mtp_gc_link;

#define MTP_GC_PREV_MASK (~(uintptr_t)3)
/* Generations 0-2, then the permanent generation of gc.freeze(). */
#define MTP_GC_LISTS 4
/* struct gc_generation: the head, then two ints (threshold, count). */
#define MTP_GC_GENERATION_SIZE (sizeof(mtp_gc_link) + 2 * sizeof(int))

/* The walk's place in the collector's lists, and its cycles. */
typedef struct {
    int usable; /* 1 once the layout checked out; atomic: the ticker reads it */
    /* The GIL's, the rest. */
    mtp_gc_link *heads[MTP_GC_LISTS];
    PyObject *bookmark;          /* strong: the object the next step starts at */
    int resume_list;             /* without a bookmark: the head the next step starts
                                    from (it walks the list after it) */
    Py_ssize_t bookmark_visited; /* referents of the bookmark already observed */
    uint8_t cycle;
    uint64_t cycle_started_ns;
    uint64_t last_cycle_ns; /* how long the last full cycle took */
    uint64_t cycles;
    size_t fallback_offset;                  /* into gc.get_objects(), when not walking */
    uint64_t last_by_list[MTP_GC_LISTS + 1]; /* the last step's walk, per list */
    uint64_t restarts; /* steps whose bookmark had been untracked: the walk began again */
} mtp_gc_state;

extern mtp_gc_state mtp_gc;

/* Doubles that the ticker reads without the GIL: written with the GIL held,
 * read anywhere, never torn. */
static inline double mtp_load_f64(const double *p)
{
    double v;

    __atomic_load(p, &v, __ATOMIC_RELAXED);
    return v;
}

static inline void mtp_store_f64(double *p, double v)
{
    __atomic_store(p, &v, __ATOMIC_RELAXED);
}

/* The calling thread's CPU time: what a system call cost the program. */
static inline uint64_t mtp_cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t mtp_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * Transport (mtp_transport.c).
 */
/* Fires the queued records through mtp:objects, if a tracer listens, and
 * empties the queue. */
void mtp_flush(void);

/* Queue [addr, addr + size) with the object's delta and type id, split so
 * that no record spans more than MTP_RECORD_MAX_BYTES. */
static inline void mtp_emit(uint64_t addr, uint64_t size, int32_t delta, uint16_t type_id)
{
    /* The record's delta is 16 bits; heat counts at most MTP_DELTA_CAP. */
    int16_t d = (int16_t)(delta > INT16_MAX ? INT16_MAX : delta < -INT16_MAX ? -INT16_MAX : delta);

    /* No Python object is this large; a size like this means a layout we
     * misread, and emitting it would flood the page table. */
    if (size > (1ull << 32))
        return;
    while (size > 0) {
        uint64_t chunk = size < MTP_RECORD_MAX_BYTES ? size : MTP_RECORD_MAX_BYTES;
        struct mtp_record *rec;

        if (mtp.batch_len == MTP_BATCH_MAX)
            mtp_flush();
        rec = &mtp.batch[mtp.batch_len++];
        rec->addr = addr;
        rec->size = (uint32_t)chunk;
        rec->refcnt_delta = d;
        rec->type_id = type_id;
        addr += chunk;
        size -= chunk;
    }
}

/* mtp:hint for op's ranges, and with_buffer, its buffer's data. */
void mtp_fire_hint(PyObject *op, uint32_t kind, int with_buffer);
/* mtp:configure for every setting mtp.configure() holds. */
void mtp_fire_settings(void);

/* mtp:gc_done carries totals since its last firing: one firing per
 * collection would cost ~1 us each with a tracer attached, more than many
 * young collections take. */
#define MTP_GC_DONE_PERIOD_NS 1000000000ull
void mtp_fire_gc_done(uint64_t now);
/* In a forked child, before anything else: see mtp_transport.c. */
void mtp_fire_after_fork(void);
/* The one sites of mtp:gc_start and mtp:written (MTP_PROBES_ONE_SITE). */
void mtp_fire_gc_start(int generation);
void mtp_fire_written(const uint64_t *pages, uint32_t count, uint64_t period_ns);
/* At exit (Py_AtExit): the totals not yet reported; calls no Python. */
void mtp_gc_done_at_exit(void);

/*
 * The GC walk (mtp_walk.c).
 */
#define MTP_BUFFERS_MAX 256

/* One step's snapshot under construction: the walk fills it, the step
 * reads it. */
typedef struct {
    mtp_seen *v;
    size_t len;
    size_t limit;                       /* entries this step may take (its budget) */
    uint64_t until_ns;                  /* ... and the time the walk may take (0: any) */
    unsigned objects;                   /* tracked objects walked */
    PyObject *buffers[MTP_BUFFERS_MAX]; /* strong: read after the walk */
    size_t n_buffers;
    Py_ssize_t visited; /* referents visited in the current object */
    Py_ssize_t skip;    /* of those, already observed by the previous step */
    int nested;
    int list;                           /* being walked; MTP_GC_LISTS: not known yet */
    uint64_t by_list[MTP_GC_LISTS + 1]; /* tracked objects walked per list */
} mtp_walk;

/* Finds the collector's lists and sets mtp_gc.usable when their layout
 * checks out; leaves the walk off otherwise. */
void mtp_gc_find_lists(void);
/* Walks the lists from the bookmark into w until its limit or its time;
 * returns the old bookmark to release (or sets *broken). */
PyObject *mtp_gc_walk(mtp_walk *w, int *cycle_done, int *broken);
/* The fallback: a slice of gc.get_objects(); returns the list (which keeps
 * the objects alive), or NULL with an exception. */
PyObject *mtp_snapshot_all(mtp_walk *w, int *cycle_done);
/* A round-robin cycle ended at `now`. */
void mtp_gc_cycle_done(uint64_t now);

/*
 * The written-page scan's driver (mtp_written.c).
 */
/* Closes the scan (the tracer left, or a forked child starts clean). */
void mtp_wp_stop(void);
/* Whether a take is due: at most one per MTP_WP_PERIOD_NS. */
int mtp_written_due(uint64_t now);
/* Appends the pages written since the last take to mtp.written. */
void mtp_written_take(void);
/* Before a full collection: takes the writes, drops the protection. */
void mtp_written_release(void);
/* Re-protects every watched page, reporting nothing. */
void mtp_written_rearm(void);
/* After a take: the cost measured, the next sample sized. */
void mtp_written_resample(uint64_t now);
/* Moves the sample where mtp_written_resample() decided. */
void mtp_written_move(uint64_t now);
/* Fires mtp:written for the pending pages and empties the list. */
void mtp_written_fire(void);
/* Registers the mappings the scan watches, from /proc/self/maps. */
void mtp_written_watch(void);
/* What one of the scan's faults costs the program, in ns. */
double mtp_wp_fault_price(void);

/*
 * The running code (mtp_stack.c).
 */
/* Records the code on the stepping thread's stack, its tables and its
 * frames' globals and builtins as in use.  May run code (3.11+ builds frame
 * objects). */
void mtp_record_running_code(void);
/* Notes the main thread's state, on the main thread only; a state that
 * does not live as long as the interpreter is passed over. */
void mtp_stack_note_main(PyThreadState *tstate);
/* Drops the note (a forked child, before noting its own). */
void mtp_stack_forget_main(void);

/*
 * Hints (mtp_hints.c).
 */
/* Repeats the live hints found in a step's sorted slice; forgets the dead. */
void mtp_refresh_hints(const mtp_seen *slice, size_t slice_len);
extern const char mtp_hint_doc[];
PyObject *mtp_hint(PyObject *module, PyObject *const *args, Py_ssize_t nargs);

/*
 * Settings (mtp_settings.c).
 */
extern const char mtp_configure_doc[];
PyObject *mtp_configure(PyObject *module, PyObject *args, PyObject *kwargs);
extern const char mtp_settings_doc[];
PyObject *mtp_settings(PyObject *module, PyObject *ignored);

/*
 * The step (mtp_step.c).
 */
/* Entries an unbounded step may take: far more than any budget allows,
 * and a bound on the snapshot's memory. */
#define MTP_STEP_MAX_ENTRIES (64u << 20)
/* 2 ms: the longest pause a step is sized for (mtp_schedule.c), which its
 * walk's time is also held to (mtp_step.c). */
#define MTP_STEP_MAX_NS 2000000ull
/* One step of at most `limit` entries (or one of the scan's), timed and
 * counted.  Returns 0, or -1 with an exception set. */
int mtp_run_step(size_t limit, int force_scan, uint64_t *observed, uint64_t *spent);

/*
 * Scheduling (mtp_schedule.c).
 */
/* Steps inside collections: at most one per this (set_min_interval). */
#define MTP_MIN_INTERVAL_NS (50 * 1000 * 1000ull)
/* The step-pause histogram's bucket for `ns`. */
unsigned mtp_step_bucket(uint64_t ns);
/* The upper bound of the pause below which `share` of the steps fell. */
uint64_t mtp_step_quantile(double share);
/* gc.callbacks: steps inside collections. */
PyObject *mtp_gc_callback(PyObject *module, PyObject *const *args, Py_ssize_t nargs);
/* Whether a timer step is due; the ticker asks without the GIL. */
int mtp_timer_due(uint64_t now);
/* A timer step, GIL held, outside any collection. */
void mtp_timer_step(void);

/*
 * The ticker and the fork hooks (mtp_ticker.c).
 */
/* Starts the ticker if none runs and no fork is under way.  GIL held. */
void mtp_ticker_ensure(void);
/* Registered with atexit and os.register_at_fork. */
PyObject *mtp_ticker_stop(PyObject *module, PyObject *ignored);
PyObject *mtp_before_fork(PyObject *module, PyObject *ignored);
PyObject *mtp_after_fork_parent(PyObject *module, PyObject *ignored);
PyObject *mtp_after_fork_child(PyObject *module, PyObject *ignored);
/* Closes a descriptor of ours off the GIL, on the ticker, if it runs (else
 * at once): for closes that take long.  GIL held. */
void mtp_ticker_close(int fd);

#pragma GCC visibility pop

#endif /* MTP_STATE_H */
