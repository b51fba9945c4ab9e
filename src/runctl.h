/*
 * runctl.h - run control: whether the run should go on, stop starting new
 * work (graceful stop) or also cancel the work in flight (abort).
 *
 * One it_runctl per run, owned by the program (main.c). Requests come from
 * the signal handler (it_runctl_signal: the first signal stops, the second
 * aborts), from the dashboard (q + y: it_runctl_stop) and from the CCR
 * planner; the engine, the planner and the app poll it. It is control, not
 * display: the progress model only reflects its state in snapshots.
 *
 * Header only, lock-free atomics: every function is async-signal-safe and
 * thread-safe, and the views (tui/) use it without linking the program.
 * Requests are sticky: nothing clears them during a run.
 */
#ifndef IT_RUNCTL_H
#define IT_RUNCTL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

_Static_assert(ATOMIC_INT_LOCK_FREE == 2,
               "run control is set from a signal handler: atomic_int must "
               "be lock-free");

typedef enum it_run_state {
    IT_RUN_RUNNING = 0,
    IT_RUN_STOPPING, /* finish the images in flight, start nothing new */
    IT_RUN_ABORTING  /* cancel the transfers in flight too */
} it_run_state;

typedef struct it_runctl {
    /* Read through the functions below. The engine's options still take
     * &stop and &abort (it_engine_opts.stop / .abort) until the engine
     * takes the it_runctl itself. */
    atomic_int stop;
    atomic_int abort;
    atomic_int signals; /* signals received */
} it_runctl;

/* A zeroed it_runctl (static storage, or = {0}) is a running one too. */
static inline void it_runctl_init(it_runctl *c)
{
    atomic_init(&c->stop, 0);
    atomic_init(&c->abort, 0);
    atomic_init(&c->signals, 0);
}

/* Graceful stop: no new image or repository is started. */
static inline void it_runctl_stop(it_runctl *c)
{
    atomic_store(&c->stop, 1);
}

/* Abort: stop, and cancel the transfers in flight. */
static inline void it_runctl_abort(it_runctl *c)
{
    atomic_store(&c->stop, 1);
    atomic_store(&c->abort, 1);
}

/* For a SIGINT/SIGTERM handler: the first signal stops, any later one
 * aborts. */
static inline void it_runctl_signal(it_runctl *c)
{
    atomic_store(&c->stop, 1);
    if (atomic_fetch_add(&c->signals, 1) >= 1)
        atomic_store(&c->abort, 1);
}

/* True once a stop or an abort was requested. c may be NULL (false). */
static inline bool it_runctl_stopping(const it_runctl *c)
{
    /* atomic_load wants a non-const object in C11. */
    it_runctl *m = (it_runctl *)c;
    return m != NULL &&
           (atomic_load(&m->stop) != 0 || atomic_load(&m->abort) != 0);
}

/* True once an abort was requested. c may be NULL (false). */
static inline bool it_runctl_aborting(const it_runctl *c)
{
    it_runctl *m = (it_runctl *)c;
    return m != NULL && atomic_load(&m->abort) != 0;
}

static inline it_run_state it_runctl_state(const it_runctl *c)
{
    return it_runctl_aborting(c)   ? IT_RUN_ABORTING
           : it_runctl_stopping(c) ? IT_RUN_STOPPING
                                   : IT_RUN_RUNNING;
}

#endif /* IT_RUNCTL_H */
