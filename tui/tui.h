/*
 * tui.h - the live ncurses dashboard. It only reads snapshots of the
 * progress model (at most about 5 per second, through an
 * it_progress_reader) and asks the run control to stop (q + y); it never
 * writes the model, never blocks the engine and never does network I/O.
 * It sees only the view headers of the program (snapshot.h, runctl.h,
 * progress_fmt.h).
 */
#ifndef TUI_H
#define TUI_H

#include <stdbool.h>

#include "runctl.h"
#include "snapshot.h"

typedef struct tui_opts {
    bool exit_on_done; /* return as soon as the phase is IT_PHASE_DONE */
    it_runctl *ctl;    /* required: q + y calls it_runctl_stop(ctl) */
    /* Called on the dashboard's thread before each new snapshot (about 5
     * times a second, and after a key that changes the view); NULL = none.
     * The program moves captured stderr into notes here (src/console.h). */
    void (*tick)(void *ctx);
    void *tick_ctx;
} tui_opts;

/* Runs the dashboard over model r in the calling (main) thread until the
 * model's phase is IT_PHASE_DONE and then, unless o->exit_on_done or the
 * user stopped the run with q + y, until a key is pressed. The terminal is
 * restored (endwin) on every return. Returns 0, or -1 when the terminal cannot
 * be initialised or r or o->ctl is missing (nothing was drawn; the caller falls
 * back to headless).
 *
 * Process-wide setup is the caller's: set LC_CTYPE from the environment
 * first (setlocale(LC_CTYPE, ""), for the character set: UTF-8 blocks
 * and arrows, else ASCII), and keep stderr off the screen while it runs
 * (the program points fd 2 at a pipe and drains it from tick, see
 * src/console.h). The library never calls setlocale or touches fd 2. */
int tui_run(const it_progress_reader *r, const tui_opts *o);

#endif /* TUI_H */
