/*
 * tui.c - the dashboard's loop: terminal setup and teardown, the ~5 Hz
 * snapshot/redraw tick and keys.
 *
 * The loop waits in getch() with a timeout, so a key is handled at once and
 * otherwise a frame is drawn every TICK_MS from a fresh snapshot (the model
 * lock is held only while the snapshot is copied). The engine never waits
 * for the screen.
 *
 * Process-wide state is the program's: the locale (LC_CTYPE, set by the
 * program before calling tui_run) is only read here, and fd 2 is never
 * touched; the program captures stderr and moves it into notes from
 * tui_opts.tick (src/console.c).
 */
#define NCURSES_WIDECHAR 1
#include <curses.h>

#include <langinfo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tui_int.h"

#define TICK_MS 200
#define KEY_ESC 27

/* ------------------------------------------------------------- snapshot */

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void refresh_model(tui_state *st)
{
    it_snapshot_filter f = {.name_contains = st->filter[0] ? st->filter : NULL,
                            .failed_only = st->failed_only};
    it_snapshot *s = st->r->snapshot(st->r->model, &f);
    if (s) {
        st->r->snapshot_free(st->snap);
        st->snap = s;
    }
    if (st->view == TUI_VIEW_DETAIL) {
        it_image_row *rows = NULL;
        size_t n = 0;
        if (st->r->repo_images(&rows, &n, st->r->model, st->detail_repo) == 0) {
            st->r->image_rows_free(st->detail, st->n_detail);
            st->detail = rows;
            st->n_detail = n;
        }
    }
}

/* ----------------------------------------------------------------- keys */

static bool is_enter(int ch)
{
    return ch == '\n' || ch == '\r' || ch == KEY_ENTER;
}

/* Cursor movement shared by the list and the detail view; true if ch was
 * a movement key. */
static bool move_key(int ch, int *cursor, int page, int n)
{
    if (page < 1)
        page = 1;
    switch (ch) {
    case KEY_UP:
    case 'k':
        (*cursor)--;
        break;
    case KEY_DOWN:
    case 'j':
        (*cursor)++;
        break;
    case KEY_PPAGE:
        *cursor -= page;
        break;
    case KEY_NPAGE:
    case ' ':
        *cursor += page;
        break;
    case KEY_HOME:
    case 'g':
        *cursor = 0;
        break;
    case KEY_END:
    case 'G':
        *cursor = n - 1;
        break;
    default:
        return false;
    }
    if (*cursor >= n)
        *cursor = n - 1;
    if (*cursor < 0)
        *cursor = 0;
    return true;
}

/* Handles one key. Returns true when the dashboard should exit. Sets
 * *dirty when the snapshot must be taken again (filter, view). */
static bool on_key(tui_state *st, int ch, bool *dirty)
{
    if (ch == ERR || ch == KEY_RESIZE)
        return false;
    if (st->overlay == TUI_OV_HELP) {
        st->overlay = TUI_OV_NONE;
        return false;
    }
    if (st->overlay == TUI_OV_CONFIRM) {
        if (ch == 'y' || ch == 'Y') {
            it_runctl_stop(st->ctl);
            st->quit = true;
            st->overlay = TUI_OV_NONE;
            *dirty = true;
        } else if (ch == 'n' || ch == 'N' || ch == KEY_ESC || ch == 'q') {
            st->overlay = TUI_OV_NONE;
        }
        return false;
    }
    if (st->editing_filter) {
        size_t len = strlen(st->filter);
        if (is_enter(ch)) {
            st->editing_filter = false;
        } else if (ch == KEY_ESC) {
            st->editing_filter = false;
            st->filter[0] = '\0';
        } else if (ch == KEY_BACKSPACE || ch == 127 || ch == 8) {
            if (len > 0)
                st->filter[len - 1] = '\0';
        } else if (ch >= 32 && ch < 127 && len + 1 < sizeof st->filter) {
            st->filter[len] = (char)ch;
            st->filter[len + 1] = '\0';
        } else {
            return false;
        }
        st->cursor = st->top = 0;
        *dirty = true;
        return false;
    }
    if (ch == '?') {
        st->overlay = TUI_OV_HELP;
        return false;
    }
    if (st->view == TUI_VIEW_DETAIL) {
        if (move_key(ch, &st->dcursor, st->page, (int)st->n_detail))
            return false;
        if (ch == KEY_ESC || ch == 'q' || ch == KEY_LEFT || is_enter(ch) ||
            ch == KEY_BACKSPACE || ch == 127 || ch == 8) {
            st->view = TUI_VIEW_LIST;
            st->r->image_rows_free(st->detail, st->n_detail);
            st->detail = NULL;
            st->n_detail = 0;
            return false;
        }
        return st->done;
    }
    int n = st->snap ? (int)st->snap->n_rows : 0;
    if (move_key(ch, &st->cursor, st->page, n))
        return false;
    switch (ch) {
    case '/':
        st->editing_filter = true;
        return false;
    case 'f':
    case 'F':
        st->failed_only = !st->failed_only;
        st->cursor = st->top = 0;
        *dirty = true;
        return false;
    case KEY_ESC:
        if (st->filter[0] || st->failed_only) {
            st->filter[0] = '\0';
            st->failed_only = false;
            st->cursor = st->top = 0;
            *dirty = true;
            return false;
        }
        return st->done;
    case 'q':
    case 'Q':
        if (st->done)
            return true;
        st->overlay = TUI_OV_CONFIRM;
        return false;
    default:
        if (is_enter(ch) && n > 0) {
            st->view = TUI_VIEW_DETAIL;
            st->detail_repo = st->snap->rows[st->cursor].id;
            st->dcursor = st->dtop = 0;
            *dirty = true;
            return false;
        }
        /* After the end, any other key leaves. */
        return st->done;
    }
}

/* --------------------------------------------------------------- colours */

static bool want_color(void)
{
    const char *nc = getenv("NO_COLOR");
    if (nc && nc[0])
        return false;
    return has_colors();
}

static void init_colors(void)
{
    start_color();
    short bg = -1;
    if (use_default_colors() != OK)
        bg = COLOR_BLACK;
    init_pair(TUI_C_OK, COLOR_GREEN, bg);
    init_pair(TUI_C_BAD, COLOR_RED, bg);
    init_pair(TUI_C_BUSY, COLOR_YELLOW, bg);
    init_pair(TUI_C_INFO, COLOR_CYAN, bg);
    init_pair(TUI_C_TITLE, COLOR_WHITE, COLOR_BLUE);
    init_pair(TUI_C_DIM, COLORS >= 16 ? 8 : COLOR_WHITE, bg);
}

/* ------------------------------------------------------------------ run */

int tui_run(const it_progress_reader *r, const tui_opts *o)
{
    if (!r || !r->model || !o || !o->ctl)
        return -1;
    bool exit_on_done = o && o->exit_on_done;
    void (*tick)(void *) = o ? o->tick : NULL;
    void *tick_ctx = o ? o->tick_ctx : NULL;
    const char *cs = nl_langinfo(CODESET);
    tui_state st;
    memset(&st, 0, sizeof st);
    st.r = r;
    st.ctl = o->ctl;
    st.utf8 = cs && (strcmp(cs, "UTF-8") == 0 || strcmp(cs, "utf8") == 0);
    st.detail_repo = -1;

    if (!isatty(STDOUT_FILENO) || !isatty(STDIN_FILENO))
        return -1;
    /* newterm, not initscr: it returns NULL instead of exiting. */
    SCREEN *scr = newterm(NULL, stdout, stdin);
    if (!scr)
        return -1;
    set_term(scr);
    cbreak(); /* keeps ISIG: Ctrl-C still reaches main's handler */
    noecho();
    keypad(stdscr, TRUE);
    nonl();
    curs_set(0);
    set_escdelay(25);
    st.color = want_color();
    if (st.color)
        init_colors();

    double last = 0;
    bool dirty = true;
    for (;;) {
        double now = mono_ms();
        if (dirty || now - last >= TICK_MS) {
            if (tick)
                tick(tick_ctx);
            refresh_model(&st);
            last = now;
            dirty = false;
        }
        if (st.snap && st.snap->phase == IT_PHASE_DONE && !st.done) {
            st.done = true;
            if (exit_on_done || st.quit)
                break;
            st.overlay = TUI_OV_NONE;
            flushinp(); /* a key typed before the end must not dismiss */
        }
        tui_draw(&st);
        int wait = (int)(TICK_MS - (mono_ms() - last));
        timeout(wait < 1 ? 1 : wait);
        int ch = getch();
        if (on_key(&st, ch, &dirty))
            break;
    }

    endwin();
    delscreen(scr);
    r->snapshot_free(st.snap);
    r->image_rows_free(st.detail, st.n_detail);
    return 0;
}
