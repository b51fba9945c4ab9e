/*
 * tui.h - the live ncurses dashboard. It only reads snapshots of the
 * progress model (at most about 5 per second) and sets the model's stop
 * flag; it never blocks the engine and never does network I/O.
 */
#ifndef TUI_H
#define TUI_H

#include <stdbool.h>

#include "progress.h"

typedef struct tui_opts {
    bool exit_on_done; /* return as soon as the phase is IT_PHASE_DONE */
    /* Called on the dashboard's thread before each new snapshot (about 5
     * times a second, and after a key that changes the view); NULL = none.
     * The program moves captured stderr into notes here (src/console.h). */
    void (*tick)(void *ctx);
    void *tick_ctx;
} tui_opts;

/* Runs the dashboard in the calling (main) thread until the model's phase
 * is IT_PHASE_DONE and then, unless o->exit_on_done, until a key is
 * pressed. The terminal is restored (endwin) on every return. Returns 0,
 * or -1 when the terminal cannot be initialised (nothing was drawn; the
 * caller falls back to headless).
 *
 * Process-wide setup is the caller's: set LC_CTYPE from the environment
 * first (setlocale(LC_CTYPE, ""), for the character set: UTF-8 blocks
 * and arrows, else ASCII), and keep stderr off the screen while it runs
 * (the program points fd 2 at a pipe and drains it from tick, see
 * src/console.h). The library never calls setlocale or touches fd 2. */
int tui_run(it_progress *p, const tui_opts *o);

#endif /* TUI_H */
