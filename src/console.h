/*
 * console.h - process-wide terminal setup the program does around the
 * dashboard (the tui/ library does none of it): the locale's character
 * set, and the stderr capture.
 *
 * The capture: while the dashboard owns the terminal, fd 2 points at a
 * non-blocking pipe whose lines become notes in the messages pane (the
 * dashboard calls it_errcap_tick through tui_opts.tick before each
 * snapshot), so a stray library message cannot garble the screen and a
 * writer never blocks (a full pipe drops the text instead). Stopping
 * restores fd 2 and writes the last captured lines (at most 20) to it.
 */
#ifndef IT_CONSOLE_H
#define IT_CONSOLE_H

#include "progress.h"

/* LC_CTYPE from the environment (ncursesw needs the character set);
 * LC_NUMERIC stays "C" so numbers keep their '.' decimal point. Call on
 * the main thread before the dashboard starts. */
void it_console_locale(void);

typedef struct it_errcap it_errcap;

/* Starts capturing fd 2 into notes of p, when stderr is a terminal.
 * Returns NULL (nothing changed) when it is not, or when the pipe cannot
 * be set up. Call on the main thread, before tui_run. */
it_errcap *it_errcap_start(it_progress *p);
/* Moves whatever is in the pipe into notes, line by line. NULL-safe. The
 * signature of tui_opts.tick: pass it with the it_errcap as tick_ctx. */
void it_errcap_tick(void *errcap);
/* Drains the rest, restores fd 2, writes the last captured lines to it
 * and frees c. NULL-safe. Call after tui_run returns (after endwin). */
void it_errcap_stop(it_errcap *c);

#endif /* IT_CONSOLE_H */
