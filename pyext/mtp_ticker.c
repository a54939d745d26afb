/* SPDX-License-Identifier: MIT */
/*
 * The ticker thread, and the fork hooks that keep it out of a fork.
 *
 * Timer steps.  A thread runs from import on.  Until a tracer attaches it
 * only looks, twice a second, at the probes' semaphores (no GIL, no
 * syscall but the wait), so that observation starts within half a second
 * of an attach even in a program that never collects (an idle worker).
 * While a tracer is attached it wakes every 50 ms at most, sooner when the
 * next step falls due sooner (every 5 ms while it faults in mtp's own
 * fresh arrays, off the GIL); when the wall-time
 * credit affords a step and no step ran for min_interval, it asks for one.
 * This is also how a program with the collector off (gc.disable()) is
 * observed.
 *
 * Asking, in two tries.  First a pending call (mtp_ticker_post), run by
 * the main thread between two bytecodes.  Then, if it has not run within
 * MTP_PENDING_PATIENCE_MS (at once, after a call that came late), the
 * ticker takes the GIL itself (PyGILState_Ensure) and steps.  Either
 * alone fails somewhere:
 * - The GIL alone starves.  A program that lets go of the GIL for a moment
 *   every few ms (a stat(), a socket read: what a service does all day)
 *   takes it back before the woken ticker can, and each switch restarts
 *   the ticker's wait for the 5-ms switch interval, so it never asks the
 *   holder to drop it: a loop with one os.path.exists() per 5 ms of work
 *   saw 2 steps a second instead of 20, and no heap cycle in 90 s.  Every
 *   such take of the GIL lets the main thread see a pending call.
 * - The pending call alone waits for ever on a main thread that does not
 *   run bytecode: blocked in a join or an accept while other threads work,
 *   or in a long C call.  And before 3.12 a call added from a thread that
 *   is not Python's does not wake the eval loop of a main thread that
 *   never lets go of the GIL; the ticker's own wait for the GIL makes it
 *   let go, after which the call runs (and finds the step done).
 * The pending call is also the better place to observe: between
 * bytecodes, not wherever the program let go of the GIL (inside numpy's
 * sum(), say, where the refcounts of what it reads always look the same).
 * At most one call is outstanding, so that the program's own pending calls
 * always find room in CPython's small queue.  Either way the step runs
 * with the GIL held, while every other thread is at a safe point, as any
 * thread calling gc.get_objects() would; it never runs inside a
 * collection, whose finalizers may let go of the GIL.
 *
 * Forks.  The thread is stopped before every os.fork() and started again
 * after it, in the parent and in the child: CPython 3.12+ warns when a
 * process with threads forks (mtp_ticker_fork_settled).
 *
 * Closes.  The written-page scan's userfaultfd, when the scan backs off or
 * the tracer leaves, is closed here too, off the GIL (mtp_ticker_close):
 * the close drops every protection, 7-18 ms on a 1M-object heap, which a
 * step would add to its pause.
 */
#include "mtp_state.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

static pthread_mutex_t mtp_ticker_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t mtp_ticker_cv = PTHREAD_COND_INITIALIZER;
static pthread_t mtp_ticker_thread;
/* The thread's state: mtp_ticker_mu's.  Written with the mutex held,
 * through atomic stores, since mtp_ticker_ensure() peeks at it without the
 * mutex (atomic load) before taking it. */
enum { MTP_TICKER_NONE, MTP_TICKER_RUNNING, MTP_TICKER_STOPPING, MTP_TICKER_EXITED };
static int mtp_ticker_state;
/* Whether it may start: the GIL's (written and read with the GIL held). */
static int mtp_ticker_final;   /* at exit: never start again */
static int mtp_ticker_forking; /* between os.fork()'s before and after hooks */
/* A descriptor handed over to be closed, or -1: mtp_ticker_mu's.  Handed
 * over only while the state is RUNNING; the thread takes it out under the
 * mutex at its next wake, or as it leaves its loop (the state no longer
 * RUNNING, so no new one comes), and closes it after letting go of the
 * mutex.  Whoever takes it out owns it: none is closed twice or left
 * behind, whatever stops the thread (fork, exit, the tracer leaving). */
static int mtp_ticker_closing = -1;

static void mtp_ticker_set_state(int state)
{
    __atomic_store_n(&mtp_ticker_state, state, __ATOMIC_RELAXED);
}

/* Until a tracer attaches, the ticker looks twice a second. */
#define MTP_TICKER_DORMANT_MS 500

/* How long a pending call may take to run before the ticker takes the GIL
 * itself: two switch intervals. */
#define MTP_PENDING_PATIENCE_MS 10

/* Whether the ticker's pending call waits in CPython's queue: set by the
 * ticker, cleared by the call (atomics; a call lost with a fork would only
 * leave the ticker to take the GIL itself). */
static int mtp_timer_posted;
/* When it was posted (the ticker's), and whether the last call ran later
 * than the patience (the call's): atomics.  A main thread that never lets
 * go of the GIL runs its calls only once the ticker asks for the GIL (on
 * 3.11, about half of them only at a later switch, ~45 ms after the post):
 * waiting the patience there only delays the step, so after a late call
 * the ticker asks for the GIL at once. */
static uint64_t mtp_timer_posted_ns;
static int mtp_timer_call_late;

/* What the ticker faults in of mtp's own fresh arrays per wake, off the
 * GIL (mtp_prefault_serve): ~25 ms of faults here, then it sleeps 5 ms. */
#define MTP_PREFAULT_PER_WAKE ((size_t)4 << 20)

/* The descriptor handed over, now the caller's to close, or -1.  With
 * mtp_ticker_mu held. */
static int mtp_ticker_take_closing(void)
{
    int fd = mtp_ticker_closing;

    mtp_ticker_closing = -1;
    return fd;
}

static void mtp_ticker_close_taken(int fd)
{
    if (fd >= 0)
        close(fd);
}

/* Sleeps on the ticker's condition until woken or ms have passed.  With
 * mtp_ticker_mu held. */
static void mtp_ticker_sleep(int ms)
{
    struct timespec until;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += (long)ms * 1000 * 1000;
    while (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&mtp_ticker_cv, &mtp_ticker_mu, &until);
}

#if PY_VERSION_HEX < 0x030C0000
/* Exported by CPython 3.9-3.11 but declared only in its internal headers;
 * those releases are frozen, and so is this signature. */
PyAPI_FUNC(int) _PyEval_AddPendingCall(PyInterpreterState *interp, int (*func)(void *), void *arg);
#endif

/* Queues func to run on the main thread in the main interpreter.  Before
 * 3.12, Py_AddPendingCall queues it in the interpreter of whichever thread
 * holds the GIL: a subinterpreter's, when the main thread runs one, where it
 * ran in the wrong interpreter or, the subinterpreter ended first, never
 * (and, one call outstanding at most, no call was posted again). */
static int mtp_ticker_post(int (*func)(void *))
{
#if PY_VERSION_HEX < 0x030C0000
    return _PyEval_AddPendingCall(PyInterpreterState_Main(), func, NULL);
#else
    return Py_AddPendingCall(func, NULL);
#endif
}

/* The pending call: the main thread, GIL held, between two bytecodes.  Not
 * once the interpreter is going away (mtp_ticker_final: atexit has run), and
 * never in a subinterpreter, whose state ends with it (mtp_ticker_post keeps
 * them out; this is in case). */
static int mtp_timer_pending(void *Py_UNUSED(arg))
{
    uint64_t waited = mtp_now_ns() - __atomic_load_n(&mtp_timer_posted_ns, __ATOMIC_RELAXED);
    PyThreadState *self = PyThreadState_Get();

    __atomic_store_n(&mtp_timer_call_late, waited > MTP_PENDING_PATIENCE_MS * 1000000ull,
                     __ATOMIC_RELAXED);
    __atomic_store_n(&mtp_timer_posted, 0, __ATOMIC_RELAXED);
    if (PyThreadState_GetInterpreter(self) != PyInterpreterState_Main()) {
        mtp.timer_calls_elsewhere++;
        return 0;
    }
    mtp_stack_note_main(self); /* pending calls run on the main thread */
    if (!mtp_ticker_final)
        mtp_timer_step();
    return 0;
}

/* Has a due step run: by a pending call if it runs within the patience,
 * else here with the GIL (at once when the last call came late).  With
 * mtp_ticker_mu held; let go while waiting. */
static void mtp_ticker_ask_step(void)
{
    if (!__atomic_load_n(&mtp_timer_posted, __ATOMIC_RELAXED)) {
        __atomic_store_n(&mtp_timer_posted_ns, mtp_now_ns(), __ATOMIC_RELAXED);
        __atomic_store_n(&mtp_timer_posted, 1, __ATOMIC_RELAXED);
        if (mtp_ticker_post(mtp_timer_pending) < 0) {
            __atomic_store_n(&mtp_timer_posted, 0, __ATOMIC_RELAXED); /* the queue is full */
        } else {
            __atomic_add_fetch(&mtp.timer_calls_posted, 1, __ATOMIC_RELAXED);
            if (!__atomic_load_n(&mtp_timer_call_late, __ATOMIC_RELAXED))
                mtp_ticker_sleep(MTP_PENDING_PATIENCE_MS);
            if (mtp_ticker_state != MTP_TICKER_RUNNING)
                return;
        }
    }
    if (!mtp_timer_due(mtp_now_ns()))
        return; /* the call stepped */
    pthread_mutex_unlock(&mtp_ticker_mu);
    {
        PyGILState_STATE gil = PyGILState_Ensure();
        mtp.timer_gil_takes++;
        mtp_timer_step();
        PyGILState_Release(gil);
    }
    pthread_mutex_lock(&mtp_ticker_mu);
}

/* How long the traced ticker sleeps: until min_interval since the last
 * step, if that comes sooner than its 50 ms (a collection's step, or a
 * late pending call's, would otherwise leave it to wake just too early and
 * sleep 50 ms more: timer steps came every ~110 ms instead of ~60 on 3.11). */
static int mtp_ticker_wait_ms(void)
{
    uint64_t since = mtp_now_ns() - __atomic_load_n(&mtp.last_observe_ns, __ATOMIC_RELAXED);
    uint64_t min = __atomic_load_n(&mtp.min_interval_ns, __ATOMIC_RELAXED);
    uint64_t ms = since < min ? (min - since) / 1000000 + 1 : 50;

    return ms < 5 ? 5 : ms > 50 ? 50 : (int)ms;
}

static void *mtp_ticker_main(void *Py_UNUSED(arg))
{
    int prefaulting = 0, serving = 0, traced, fd;

    pthread_mutex_lock(&mtp_ticker_mu);
    while (mtp_ticker_state == MTP_TICKER_RUNNING) {
        /* Dormant until a tracer attaches; then often enough to spend the
         * credit in short steps, and sooner while an array is being
         * faulted in. */
        mtp_ticker_sleep(!MTP_TRACING() ? MTP_TICKER_DORMANT_MS
                         : prefaulting  ? 5
                                        : mtp_ticker_wait_ms());
        if (mtp_ticker_state != MTP_TICKER_RUNNING)
            break;
        fd = mtp_ticker_take_closing();
        traced = MTP_TRACING() != 0;
        pthread_mutex_unlock(&mtp_ticker_mu);
        mtp_ticker_close_taken(fd);
        if (traced != serving) /* mtp's arrays grow only while traced */
            mtp_prefault_serving(serving = traced);
        prefaulting = serving ? mtp_prefault_serve(MTP_PREFAULT_PER_WAKE) : 0;
        pthread_mutex_lock(&mtp_ticker_mu);
        if (mtp_ticker_state != MTP_TICKER_RUNNING)
            break;
        if (!traced || !mtp_timer_due(mtp_now_ns()))
            continue;
        mtp_ticker_ask_step();
    }
    if (serving)
        mtp_prefault_serving(0); /* steps fault their arrays in themselves again */
    if (mtp_ticker_state == MTP_TICKER_RUNNING)
        mtp_ticker_set_state(MTP_TICKER_EXITED); /* joined by the next start or stop */
    /* Not RUNNING any more: nothing is handed over after this one. */
    fd = mtp_ticker_take_closing();
    pthread_mutex_unlock(&mtp_ticker_mu);
    mtp_ticker_close_taken(fd);
    return NULL;
}

/*
 * Closes fd (ours) on the ticker, off the GIL, if it runs; else here.  GIL
 * held.  The thread is woken for it, so the close starts at once, beside
 * the program.  Only one waits at a time (the scan has one descriptor, and
 * backs off at most every 5 s): a second is closed here.
 */
void mtp_ticker_close(int fd)
{
    if (fd < 0)
        return;
    pthread_mutex_lock(&mtp_ticker_mu);
    if (mtp_ticker_state == MTP_TICKER_RUNNING && mtp_ticker_closing < 0) {
        mtp_ticker_closing = fd;
        fd = -1;
        pthread_cond_signal(&mtp_ticker_cv);
    }
    pthread_mutex_unlock(&mtp_ticker_mu);
    if (fd >= 0)
        close(fd);
}

/*
 * Whether every thread is out of the last os.fork() (3.13+).  3.13 counts
 * the process's threads after the parent's after-fork hooks have run, and
 * warns when there is more than one (an error under -W error, raised in the
 * parent of a child already born).  So the ticker restarts only once the
 * frame that called os.fork() has moved on from that call, or has gone.
 * The frame is compared by address only: holding it would keep its locals
 * alive.  GIL held.
 */
#if PY_VERSION_HEX >= 0x030D0000
static const void *mtp_ticker_fork_frame; /* the GIL's, like what follows */
static const void *mtp_ticker_fork_thread;
static int mtp_ticker_fork_lasti;
static uint64_t mtp_ticker_fork_ns, mtp_ticker_fork_checked_ns;

/* The forking thread, if it still exists: compared by address too. */
static PyThreadState *mtp_ticker_forker(void)
{
    PyThreadState *ts = PyInterpreterState_ThreadHead(PyInterpreterState_Get());

    while (ts != NULL && (const void *)ts != mtp_ticker_fork_thread)
        ts = PyThreadState_Next(ts);
    return ts;
}

static int mtp_ticker_fork_settled(void)
{
    PyThreadState *forker;
    PyFrameObject *frame, *back;

    if (mtp_ticker_fork_frame == NULL)
        return 1;
    forker = mtp_ticker_forker();
    /* From the top: a later hook's frames lie above the caller's. */
    for (frame = forker ? PyThreadState_GetFrame(forker) : NULL; frame != NULL; frame = back) {
        if ((const void *)frame == mtp_ticker_fork_frame) {
            int in_fork = PyFrame_GetLasti(frame) == mtp_ticker_fork_lasti;

            Py_DECREF(frame);
            if (in_fork)
                return 0;
            break;
        }
        back = PyFrame_GetBack(frame);
        Py_DECREF(frame);
    }
    mtp_ticker_fork_frame = NULL;
    return 1;
}

/* The same, at most every 50 ms: collections ask too. */
static int mtp_ticker_fork_settled_now(void)
{
    uint64_t now;

    if (mtp_ticker_fork_frame == NULL)
        return 1;
    now = mtp_now_ns();
    if (now - mtp_ticker_fork_checked_ns < 50 * 1000 * 1000)
        return 0;
    mtp_ticker_fork_checked_ns = now;
    return mtp_ticker_fork_settled();
}

/* A pending call, run on the main thread after the fork: it restarts the
 * ticker, or asks again at the next chance while the fork is not over (a
 * later after-fork hook runs; a few checks, each a short walk from the top
 * of the forking thread's stack to os.fork()'s caller).  For a second at
 * most: after that, collections retry. */
static int mtp_ticker_restart_pending(void *Py_UNUSED(arg))
{
    if (mtp_ticker_fork_settled())
        mtp_ticker_ensure();
    else if (mtp_now_ns() - mtp_ticker_fork_ns < 1000 * 1000 * 1000)
        mtp_ticker_post(mtp_ticker_restart_pending);
    return 0;
}
#else
/* Before 3.13 the count (3.12) comes before the after-fork hooks. */
static int mtp_ticker_fork_settled_now(void)
{
    return 1;
}
#endif

/* Starts the ticker if none runs: dormant until a tracer attaches, so that
 * observation starts within half a second of an attach whether or not the
 * program collects.  GIL held.  Not while a fork is under way: CPython
 * 3.12+ warns at fork() when a process has threads. */
void mtp_ticker_ensure(void)
{
    sigset_t all, old;

    if (__atomic_load_n(&mtp_ticker_state, __ATOMIC_RELAXED) == MTP_TICKER_RUNNING ||
        mtp_ticker_final || mtp_ticker_forking || !mtp_ticker_fork_settled_now())
        return;
    pthread_mutex_lock(&mtp_ticker_mu);
    if (mtp_ticker_state == MTP_TICKER_EXITED) {
        pthread_join(mtp_ticker_thread, NULL); /* it has returned already */
        mtp_ticker_set_state(MTP_TICKER_NONE);
    }
    if (mtp_ticker_state == MTP_TICKER_NONE) {
        /* Signals are the program's: the ticker must never receive one. */
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        if (pthread_create(&mtp_ticker_thread, NULL, mtp_ticker_main, NULL) == 0)
            mtp_ticker_set_state(MTP_TICKER_RUNNING);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    pthread_mutex_unlock(&mtp_ticker_mu);
}

/* Stops and joins the ticker.  GIL held: it is let go while joining, since
 * the ticker may be waiting for it.  Returns whether one was running. */
static int mtp_ticker_halt(void)
{
    int state, was_running;

    pthread_mutex_lock(&mtp_ticker_mu);
    state = mtp_ticker_state;
    was_running = state == MTP_TICKER_RUNNING;
    if (was_running) {
        mtp_ticker_set_state(MTP_TICKER_STOPPING);
        pthread_cond_signal(&mtp_ticker_cv);
    }
    pthread_mutex_unlock(&mtp_ticker_mu);
    if (state != MTP_TICKER_NONE) {
        PyThreadState *ts = PyEval_SaveThread(); /* the ticker may wait for the GIL */

        pthread_join(mtp_ticker_thread, NULL);
        PyEval_RestoreThread(ts);
        pthread_mutex_lock(&mtp_ticker_mu);
        mtp_ticker_set_state(MTP_TICKER_NONE);
        pthread_mutex_unlock(&mtp_ticker_mu);
    }
    return was_running;
}

/* Registered with atexit: runs while the interpreter is still whole. */
PyObject *mtp_ticker_stop(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    mtp_ticker_final = 1;
    mtp_ticker_halt();
    Py_RETURN_NONE;
}

/* os.register_at_fork(before=...): no thread at fork, so the child is not
 * forked mid-step and 3.12+ has nothing to warn about. */
PyObject *mtp_before_fork(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    /* Later before-fork hooks may collect; no collection may restart it. */
    mtp_ticker_forking = 1;
    mtp_ticker_halt();
    Py_RETURN_NONE;
}

/* Restarts the ticker: here before 3.13; from 3.13 once the fork is over
 * (mtp_ticker_fork_settled). */
PyObject *mtp_after_fork_parent(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    mtp_ticker_forking = 0;
#if PY_VERSION_HEX >= 0x030D0000
    {
        PyFrameObject *caller = PyEval_GetFrame(); /* borrowed: os.fork()'s caller */

        mtp_ticker_fork_frame = caller;
        mtp_ticker_fork_thread = PyThreadState_Get();
        mtp_ticker_fork_lasti = caller ? PyFrame_GetLasti(caller) : -1;
        mtp_ticker_fork_ns = mtp_now_ns();
        mtp_ticker_fork_checked_ns = 0;
        if (caller == NULL || mtp_ticker_post(mtp_ticker_restart_pending) < 0)
            mtp_ticker_fork_frame = NULL; /* no way to tell: the next collection */
    }
#else
    mtp_ticker_ensure();
#endif
    Py_RETURN_NONE;
}

/* A forked child has its own future; it must not inherit deltas computed
 * against the parent's history. */
PyObject *mtp_after_fork_child(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    /* No ticker ran at fork (mtp_before_fork); the child starts its own once
     * a collection sees a tracer.  First, so that what follows may close. */
    pthread_mutex_init(&mtp_ticker_mu, NULL);
    pthread_cond_init(&mtp_ticker_cv, NULL);
    mtp_ticker_set_state(MTP_TICKER_NONE);
    mtp_ticker_forking = 0;
    /* The ticker closed what it held as it stopped, before the fork; this
     * is only in case.  The child's copies close at once: the parent still
     * holds the file, so closing ours drops no protection. */
    mtp_ticker_close_taken(mtp_ticker_take_closing());
    mtp_seentab_clear(&mtp.seen);
    mtp_extab_clear(&mtp.extents);
    mtp.step_extents_len = 0;
    mtp.batch_len = 0;
    mtp_wp_stop(); /* the descriptor is the parent's: the child starts clean */
    mtp.wp_backoff_ns = mtp.wp_resume_ns = 0;
    mtp.pending_wp_cost_ns = mtp.pending_step_max_ns = mtp.pending_cycles = 0;
    mtp.written_len = 0;
    mtp.observing = 0;
    mtp.in_collection = 0;
    /* Atomic stores, like every write of a field the ticker reads (none
     * runs here yet). */
    __atomic_store_n(&mtp.last_observe_ns, 0, __ATOMIC_RELAXED);
    mtp.credit_ns = 0;
    __atomic_store_n(&mtp.timer_credit_ns, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&mtp.timer_earned_ns, 0, __ATOMIC_RELAXED);
    Py_CLEAR(mtp_gc.bookmark);
    mtp_gc.resume_list = 0;
    mtp_gc.fallback_offset = 0;
    mtp_gc.cycle_started_ns = mtp_gc.last_cycle_ns = 0;
#if PY_VERSION_HEX >= 0x030D0000
    mtp_ticker_fork_frame = NULL; /* no count of threads in a child */
#endif
    /* The forking thread is the child's main thread, the only one left. */
    mtp_stack_forget_main();
    mtp_stack_note_main(PyThreadState_Get());
    mtp_fire_after_fork(); /* the parent's tracers are not the child's */
    mtp_ticker_ensure();   /* last: the child's state is clean */
    Py_RETURN_NONE;
}
