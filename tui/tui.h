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
} tui_opts;

/* Runs the dashboard in the calling (main) thread until the model's phase
 * is IT_PHASE_DONE and then, unless o->exit_on_done, until a key is
 * pressed. While it runs, anything written to stderr is shown in the
 * messages pane instead of garbling the screen. The terminal is restored
 * (endwin) on every return. Returns 0, or -1 when the terminal cannot be
 * initialised (nothing was drawn; the caller falls back to headless). */
int tui_run(it_progress *p, const tui_opts *o);

#endif /* TUI_H */
