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
    /* Where lines written to stderr while the dashboard runs go (shown in
     * the messages pane by whoever owns the model); may be NULL. Called
     * from the dashboard's thread. */
    void (*note)(void *payload, bool is_error, const char *line);
    void *note_payload;
} tui_opts;

/* Runs the dashboard over model r in the calling (main) thread until the
 * model's phase is IT_PHASE_DONE and then, unless o->exit_on_done, until
 * a key is pressed. While it runs, anything written to stderr is shown in the
 * messages pane instead of garbling the screen. The terminal is restored
 * (endwin) on every return. Returns 0, or -1 when the terminal cannot be
 * initialised or r or o->ctl is missing (nothing was drawn; the caller
 * falls back to headless). */
int tui_run(const it_progress_reader *r, const tui_opts *o);

#endif /* TUI_H */
