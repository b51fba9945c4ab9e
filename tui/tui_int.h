/*
 * tui_int.h - state shared by the dashboard's loop (tui.c) and its drawing
 * code (tui_draw.c). Internal to tui/.
 */
#ifndef TUI_INT_H
#define TUI_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "progress_fmt.h"
#include "snapshot.h"
#include "tui.h"

enum tui_view { TUI_VIEW_LIST = 0, TUI_VIEW_DETAIL };
enum tui_overlay { TUI_OV_NONE = 0, TUI_OV_HELP, TUI_OV_CONFIRM };

/* Colour pairs (used only when colours are on). */
enum tui_pair {
    TUI_C_OK = 1, /* done, copied */
    TUI_C_BAD,    /* failed, errors */
    TUI_C_BUSY,   /* copying, warnings */
    TUI_C_INFO,   /* listing, accents */
    TUI_C_TITLE,  /* title bar */
    TUI_C_DIM     /* waiting, skipped */
};

typedef struct tui_state {
    const it_progress_reader *r; /* the model, read only */
    it_runctl *ctl;              /* q + y stops the run */
    bool utf8;  /* locale is UTF-8: Unicode blocks and arrows */
    bool color; /* has_colors() and NO_COLOR unset */

    it_snapshot *snap;
    it_image_row *detail;
    size_t n_detail;
    int detail_repo;

    enum tui_view view;
    enum tui_overlay overlay;
    bool editing_filter;
    char filter[128];
    bool failed_only;
    bool done;
    bool quit; /* q + y: leave as soon as the run has stopped, no key */

    int cursor, top;   /* list view: selected row, first row shown */
    int dcursor, dtop; /* detail view */
    int page;          /* rows the table showed on the last draw */
} tui_state;

/* Draws the whole screen from st->snap (erase + draw, no clear). */
void tui_draw(tui_state *st);

#endif /* TUI_INT_H */
