/*
 * tui_draw.c - renders one frame of the dashboard from a snapshot.
 *
 * Every text goes through put(), which clips to the screen and to a column
 * budget, so nothing wraps or spills into the next line at any terminal
 * size. Unicode blocks and arrows are used only in a UTF-8 locale, colours
 * only when st->color; otherwise ASCII and bold/reverse/dim.
 */
#define NCURSES_WIDECHAR 1
#include <curses.h>

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <wchar.h>

#include "tui_int.h"

#define LINE_MAX_BYTES 1024

/* ------------------------------------------------------------ primitives */

static attr_t color_attr(const tui_state *st, int pair, attr_t mono)
{
    return st->color ? (attr_t)COLOR_PAIR(pair) : mono;
}

/* Draws s at (y, x) in at most w columns (clipped to the screen). Invalid
 * or control characters are shown as '?'. Returns the columns used. */
static int put(int y, int x, int w, attr_t a, const char *s)
{
    if (y < 0 || y >= LINES || x < 0 || x >= COLS || w <= 0 || !s)
        return 0;
    if (x + w > COLS)
        w = COLS - x;
    wchar_t buf[LINE_MAX_BYTES];
    size_t n = 0, left = strlen(s);
    int cols = 0;
    mbstate_t ms;
    memset(&ms, 0, sizeof ms);
    while (left > 0 && n + 1 < sizeof buf / sizeof buf[0]) {
        wchar_t wc;
        size_t k = mbrtowc(&wc, s, left, &ms);
        if (k == (size_t)-1 || k == (size_t)-2) {
            wc = L'?';
            k = 1;
            memset(&ms, 0, sizeof ms);
        } else if (k == 0) {
            break;
        }
        int cw = wcwidth(wc);
        if (cw < 0 || wc < 32 || wc == 127) {
            wc = L'?';
            cw = 1;
        }
        if (cols + cw > w)
            break;
        buf[n++] = wc;
        cols += cw;
        s += k;
        left -= k;
    }
    attron(a);
    mvaddnwstr(y, x, buf, (int)n);
    attroff(a);
    return cols;
}

static int putf(int y, int x, int w, attr_t a, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int putf(int y, int x, int w, attr_t a, const char *fmt, ...)
{
    char line[LINE_MAX_BYTES];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    return put(y, x, w, a, line);
}

/* Right-aligns s (ASCII) in a field of w columns. */
static void put_right(int y, int x, int w, attr_t a, const char *s)
{
    int len = (int)strlen(s);
    if (len > w)
        len = w;
    put(y, x + w - len, len, a, s);
}

/* Draws s at (y, x) and fills the rest of w columns with spaces in the
 * same attribute (a selected row is highlighted over its full width). */
static void put_pad(int y, int x, int w, attr_t a, const char *s)
{
    if (y < 0 || y >= LINES || x < 0 || x >= COLS || w <= 0)
        return;
    int used = put(y, x, w, a, s);
    if (w > COLS - x)
        w = COLS - x;
    if (used < w)
        mvhline(y, x + used, (chtype)' ' | a, w - used);
}

/* Copies s into out so it fits w columns (ASCII names): the middle is
 * replaced by "~" so both the namespace and the repository stay visible. */
static void fit_middle(char *out, size_t cap, const char *s, int w)
{
    int len = (int)strlen(s);
    if (w <= 0) {
        out[0] = '\0';
        return;
    }
    if (len <= w || w < 5) {
        snprintf(out, cap, "%.*s", w, s);
        return;
    }
    int head = (w - 1) / 2, tail = w - 1 - head;
    snprintf(out, cap, "%.*s~%s", head, s, s + len - tail);
}

/* One character of s (at most left bytes): returns the bytes it takes
 * (>= 1) and sets *w to the columns put() gives it (an invalid or control
 * character is shown as a one-column '?'). */
static size_t char_at(const char *s, size_t left, int *w)
{
    mbstate_t ms;
    memset(&ms, 0, sizeof ms);
    wchar_t wc;
    size_t k = mbrtowc(&wc, s, left, &ms);
    if (k == (size_t)-1 || k == (size_t)-2 || k == 0) {
        *w = 1;
        return 1;
    }
    int cw = wcwidth(wc);
    *w = cw < 0 || wc < 32 || wc == 127 ? 1 : cw;
    return k;
}

/* Columns s takes on the screen. */
static int text_width(const char *s)
{
    int cols = 0, cw;
    size_t left = strlen(s);
    while (left > 0) {
        size_t k = char_at(s, left, &cw);
        cols += cw;
        s += k;
        left -= k;
    }
    return cols;
}

/* Copies s into out so it fits w columns: when it is too wide its start is
 * cut and replaced by an ellipsis ("…", or "..." without UTF-8), because
 * the end of a repository name is what tells rows apart. */
static void fit_left(const tui_state *st, char *out, size_t cap, const char *s,
                     int w)
{
    out[0] = '\0';
    if (w <= 0)
        return;
    int total = text_width(s);
    if (total <= w) {
        snprintf(out, cap, "%s", s);
        return;
    }
    const char *ell = st->utf8 ? "…" : "...";
    int ell_w = st->utf8 ? 1 : 3;
    if (w <= ell_w) {
        snprintf(out, cap, "%.*s", st->utf8 ? (int)strlen(ell) : w, ell);
        return;
    }
    /* Drop characters from the front until the rest fits beside the
     * ellipsis. */
    size_t left = strlen(s);
    int cw;
    while (left > 0 && total > w - ell_w) {
        size_t k = char_at(s, left, &cw);
        total -= cw;
        s += k;
        left -= k;
    }
    snprintf(out, cap, "%s%s", ell, s);
}

#define PAIR_MIN 12

/* The name of a repository row in w columns: "team/app → mirror/app", or
 * "team/app" when the target has the same name. Hosts are left out when
 * every repository shares them (the header names them once). When too
 * wide, each side is cut from the left, sharing the width, so both ends
 * stay visible; when a side would keep fewer than PAIR_MIN columns, only
 * the source is shown (the detail view has room for both). */
static void repo_name(const tui_state *st, char *out, size_t cap,
                      const it_repo_row *r, int w)
{
    const char *src, *dst;
    it_repo_label(&src, &dst, r->src_repo, r->dst_repo, st->snap->one_src_host,
                  st->snap->one_dst_host);
    const char *sep = st->utf8 ? " → " : " -> ";
    int avail = w - (st->utf8 ? 3 : 4);
    int sw = text_width(src), dw = dst ? text_width(dst) : 0;
    int need =
        (sw < PAIR_MIN ? sw : PAIR_MIN) + (dw < PAIR_MIN ? dw : PAIR_MIN);
    if (!dst || avail < need) {
        fit_left(st, out, cap, src, w);
        return;
    }
    int sa = avail / 2, da = avail - sa;
    if (sw < sa) {
        da += sa - sw;
        sa = sw;
    } else if (dw < da) {
        sa += da - dw;
        da = dw;
    }
    char a[512], b[512];
    fit_left(st, a, sizeof a, src, sa);
    fit_left(st, b, sizeof b, dst, da);
    snprintf(out, cap, "%s%s%s", a, sep, b);
}

/* 1234567 -> "1,234,567". */
static void fmt_int(char *out, size_t cap, int64_t v)
{
    char raw[32];
    snprintf(raw, sizeof raw, "%" PRId64, v < 0 ? -v : v);
    size_t len = strlen(raw), o = 0;
    if (v < 0 && o + 1 < cap)
        out[o++] = '-';
    for (size_t i = 0; i < len && o + 1 < cap; i++) {
        if (i > 0 && (len - i) % 3 == 0 && o + 2 < cap)
            out[o++] = ',';
        out[o++] = raw[i];
    }
    out[o] = '\0';
}

static void fmt_clock(char *out, size_t cap, double s)
{
    long t = s > 0 ? (long)s : 0;
    snprintf(out, cap, "%02ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
}

/* A horizontal progress bar of w columns for frac in [0, 1]. */
static void draw_bar(const tui_state *st, int y, int x, int w, double frac,
                     attr_t fill)
{
    if (w <= 0)
        return;
    if (!(frac >= 0))
        frac = 0;
    if (frac > 1)
        frac = 1;
    attr_t empty = color_attr(st, TUI_C_DIM, A_DIM);
    if (!st->utf8) {
        int n = (int)(frac * w + 0.5);
        char buf[LINE_MAX_BYTES];
        if (w >= (int)sizeof buf)
            w = (int)sizeof buf - 1;
        memset(buf, '#', (size_t)n);
        buf[n] = '\0';
        put(y, x, n, fill, buf);
        memset(buf, '.', (size_t)(w - n));
        buf[w - n] = '\0';
        put(y, x + n, w - n, empty, buf);
        return;
    }
    static const char *const eighths[] = {"",  "▏", "▎", "▍",
                                          "▌", "▋", "▊", "▉"};
    int units = (int)(frac * w * 8 + 0.5);
    int full = units / 8, part = units % 8;
    char buf[LINE_MAX_BYTES * 3];
    size_t o = 0;
    for (int i = 0; i < full && o + 4 < sizeof buf; i++)
        o += (size_t)snprintf(buf + o, sizeof buf - o, "█");
    if (part && o + 4 < sizeof buf)
        o += (size_t)snprintf(buf + o, sizeof buf - o, "%s", eighths[part]);
    buf[o] = '\0';
    int used = put(y, x, w, fill, buf);
    o = 0;
    for (int i = used; i < w && o + 4 < sizeof buf; i++)
        o += (size_t)snprintf(buf + o, sizeof buf - o, "░");
    buf[o] = '\0';
    put(y, x + used, w - used, empty, buf);
}

/* The last w seconds of throughput as a sparkline. */
static void draw_spark(const tui_state *st, int y, int x, int w)
{
    const it_snapshot *s = st->snap;
    if (w > IT_SPARK_LEN)
        w = IT_SPARK_LEN;
    if (w <= 0)
        return;
    double max = 0;
    for (int i = IT_SPARK_LEN - w; i < IT_SPARK_LEN; i++)
        if (s->spark[i] > max)
            max = s->spark[i];
    static const char *const blocks[] = {"▁", "▂", "▃", "▄",
                                         "▅", "▆", "▇", "█"};
    static const char ascii[] = "_.-:=+*#";
    char buf[IT_SPARK_LEN * 4 + 1];
    size_t o = 0;
    for (int i = IT_SPARK_LEN - w; i < IT_SPARK_LEN; i++) {
        double v = s->spark[i];
        int lvl = max > 0 ? (int)(v / max * 7 + 0.5) : 0;
        if (lvl > 7)
            lvl = 7;
        if (v <= 0) {
            buf[o++] = ' ';
        } else if (st->utf8) {
            size_t k = strlen(blocks[lvl]);
            memcpy(buf + o, blocks[lvl], k);
            o += k;
        } else {
            buf[o++] = ascii[lvl];
        }
    }
    buf[o] = '\0';
    put(y, x, w, color_attr(st, TUI_C_INFO, A_NORMAL), buf);
}

/* A horizontal rule of w columns. Drawn as text (not ACS) so it looks the
 * same everywhere, including in a captured pane. */
static void hrule(const tui_state *st, int y, int x, int w, attr_t a)
{
    char buf[LINE_MAX_BYTES * 3];
    size_t o = 0;
    const char *h = st->utf8 ? "─" : "-";
    size_t k = strlen(h);
    for (int i = 0; i < w && o + k < sizeof buf; i++) {
        memcpy(buf + o, h, k);
        o += k;
    }
    buf[o] = '\0';
    put(y, x, w, a, buf);
}

static void draw_box(const tui_state *st, int y, int x, int h, int w, attr_t a)
{
    if (w < 2 || h < 2)
        return;
    for (int r = y; r < y + h; r++)
        mvhline(r, x, ' ', w);
    const char *v = st->utf8 ? "│" : "|";
    hrule(st, y, x + 1, w - 2, a);
    hrule(st, y + h - 1, x + 1, w - 2, a);
    for (int r = y + 1; r < y + h - 1; r++) {
        put(r, x, 1, a, v);
        put(r, x + w - 1, 1, a, v);
    }
    put(y, x, 1, a, st->utf8 ? "┌" : "+");
    put(y, x + w - 1, 1, a, st->utf8 ? "┐" : "+");
    put(y + h - 1, x, 1, a, st->utf8 ? "└" : "+");
    put(y + h - 1, x + w - 1, 1, a, st->utf8 ? "┘" : "+");
}

/* ----------------------------------------------------------------- words */

static const char *phase_word(const it_snapshot *s)
{
    if (s->stop_requested && s->phase != IT_PHASE_DONE)
        return "stopping";
    switch (s->phase) {
    case IT_PHASE_PREPARING:
        return "preparing";
    case IT_PHASE_DISCOVERING:
        return "discovering";
    case IT_PHASE_COPYING:
        return "copying";
    case IT_PHASE_RETRYING:
        return "retrying";
    case IT_PHASE_STOPPING:
        return "stopping";
    case IT_PHASE_DONE:
        /* After q + y the run ended early: do not call that "done". */
        return s->stop_requested ? "stopped" : "done";
    }
    return "?";
}

static const char *repo_word(it_repo_state st)
{
    static const char *const w[] = {"waiting", "listing", "copying",
                                    "done",    "failed",  "skipped"};
    return (unsigned)st < 6 ? w[st] : "?";
}

static const char *image_word(it_image_state st)
{
    static const char *const w[] = {"pending", "copying", "copied", "skipped",
                                    "failed"};
    return (unsigned)st < 5 ? w[st] : "?";
}

static attr_t repo_attr(const tui_state *st, it_repo_state s)
{
    switch (s) {
    case IT_REPO_COPYING:
        return color_attr(st, TUI_C_BUSY, A_BOLD) | A_BOLD;
    case IT_REPO_LISTING:
        return color_attr(st, TUI_C_INFO, A_NORMAL);
    case IT_REPO_DONE:
        return color_attr(st, TUI_C_OK, A_NORMAL);
    case IT_REPO_FAILED:
        return color_attr(st, TUI_C_BAD, A_BOLD) | A_BOLD;
    default:
        return color_attr(st, TUI_C_DIM, A_DIM);
    }
}

static attr_t image_attr(const tui_state *st, it_image_state s)
{
    switch (s) {
    case IT_IMG_COPYING:
        return color_attr(st, TUI_C_BUSY, A_BOLD) | A_BOLD;
    case IT_IMG_COPIED:
        return color_attr(st, TUI_C_OK, A_NORMAL);
    case IT_IMG_FAILED:
        return color_attr(st, TUI_C_BAD, A_BOLD) | A_BOLD;
    default:
        return color_attr(st, TUI_C_DIM, A_DIM);
    }
}

static const char *arrow(const tui_state *st)
{
    return st->utf8 ? "→" : "->";
}

/* ---------------------------------------------------------------- header */

static int draw_title(tui_state *st, int y)
{
    const it_snapshot *s = st->snap;
    attr_t bar = color_attr(st, TUI_C_TITLE, A_REVERSE) | A_BOLD;
    mvhline(y, 0, ' ' | bar, COLS);
    const char *mode = strcmp(s->mode, "ccrToTcr") == 0
                           ? (st->utf8 ? "CCR → TCR" : "CCR -> TCR")
                           : s->mode;
    const char *sep = st->utf8 ? " │ " : " | ";
    char clock[32];
    fmt_clock(clock, sizeof clock, s->elapsed);
    char right[64];
    snprintf(right, sizeof right, "elapsed %s ", clock);
    int rw = (int)strlen(right);
    int x = put(y, 0, COLS - rw - 1, bar, " image-transfer");
    x += put(y, x, COLS - rw - 1 - x, bar, sep);
    x += put(y, x, COLS - rw - 1 - x, bar, mode);
    x += put(y, x, COLS - rw - 1 - x, bar, sep);
    char ph[32];
    snprintf(ph, sizeof ph, "%s", phase_word(s));
    for (char *c = ph; *c; c++)
        *c = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c);
    /* A --shard run: "shard 1/3" before the phase, when both fit (the
     * phase matters more on a narrow terminal). The separator is 3 cells. */
    char label[48] = "";
    if (s->shard[0])
        snprintf(label, sizeof label, "shard %s", s->shard);
    if (s->shard[0] &&
        (int)(strlen(label) + 3 + strlen(ph)) <= COLS - rw - 1 - x) {
        x += put(y, x, COLS - rw - 1 - x, bar, label);
        x += put(y, x, COLS - rw - 1 - x, bar, sep);
    }
    put(y, x, COLS - rw - 1 - x, bar, ph);
    if (COLS > rw + 20)
        put(y, COLS - rw, rw, bar, right);
    return y + 1;
}

static int draw_summary(tui_state *st, int y)
{
    const it_snapshot *s = st->snap;
    const it_totals *t = &s->totals;
    attr_t label = A_BOLD;
    attr_t dim = color_attr(st, TUI_C_DIM, A_DIM);
    char a[32], b[32], c[32];
    int w = COLS;

    /* source -> target */
    int half = (w - 6) / 2;
    char src[256], dst[256];
    fit_middle(src, sizeof src, s->source, half);
    fit_middle(dst, sizeof dst, s->target, half);
    int x = put(y, 1, w - 1, A_NORMAL, src);
    x += putf(y, 1 + x, w - 1 - x, dim, " %s ", arrow(st));
    put(y, 1 + x, w - 1 - x, A_NORMAL, dst);
    y++;

    /* CCR -> TCR preparation facts. */
    for (size_t i = 0; i < s->n_prep && y < LINES; i++) {
        char key[32];
        snprintf(key, sizeof key, "%s", s->prep_keys[i]);
        if (key[0] >= 'a' && key[0] <= 'z')
            key[0] = (char)(key[0] - 32);
        putf(y, 1, 11, label, "%-11s", key);
        put(y, 12, w - 12, A_NORMAL, s->prep_values[i]);
        y++;
    }

    bool growing = !t->enumeration_done;
    int done = t->images_copied + t->images_skipped + t->images_failed;

    fmt_int(a, sizeof a, t->repos_done);
    fmt_int(b, sizeof b, t->repos_total);
    put(y, 1, 8, label, "Repos");
    putf(y, 9, w - 9, A_NORMAL, "%s/%s%s done", a, b, growing ? "+" : "");
    y++;

    fmt_int(a, sizeof a, done);
    fmt_int(b, sizeof b, t->images_total);
    put(y, 1, 8, label, "Images");
    x = 9;
    x += putf(y, x, w - x, A_NORMAL, "%s/%s%s done", a, b, growing ? "+" : "");
    fmt_int(c, sizeof c, t->images_copied);
    x += put(y, x, w - x, A_NORMAL, "   copied ");
    x += put(y, x, w - x, color_attr(st, TUI_C_OK, A_NORMAL), c);
    fmt_int(c, sizeof c, t->images_skipped);
    x += put(y, x, w - x, A_NORMAL, "   skipped ");
    x += put(y, x, w - x, A_NORMAL, c);
    fmt_int(c, sizeof c, t->images_failed);
    x += put(y, x, w - x, A_NORMAL, "   failed ");
    put(y, x, w - x,
        t->images_failed ? color_attr(st, TUI_C_BAD, A_BOLD) | A_BOLD
                         : A_NORMAL,
        c);
    y++;

    if (t->images_platform_filtered || t->images_platform_skipped) {
        /* issue 14, platforms */
        fmt_int(a, sizeof a, t->images_platform_filtered);
        fmt_int(b, sizeof b, t->images_platform_skipped);
        put(y, 1, 8, label, "Filter");
        putf(y, 9, w - 9, A_NORMAL,
             "%s images platform-filtered, %s skipped: no matching platform", a,
             b);
        y++;
    }

    fmt_int(a, sizeof a, t->blobs_copied);
    fmt_int(b, sizeof b, t->blobs_mounted);
    fmt_int(c, sizeof c, t->blobs_skipped);
    put(y, 1, 8, label, "Blobs");
    int bx = 9 + putf(y, 9, w - 9, A_NORMAL,
                      "copied %s   mounted %s   skipped %s", a, b, c);
    if ((t->referrers_copied || t->referrers_skipped) && bx < w) {
        /* issue 13: referrers (signatures, SBOMs) on the same line */
        fmt_int(a, sizeof a, t->referrers_copied);
        fmt_int(b, sizeof b, t->referrers_skipped);
        putf(y, bx, w - bx, A_NORMAL, "   referrers %s copied, %s present", a,
             b);
    }
    y++;

    /* Moved, speed, sparkline, ETA. */
    it_format_bytes(a, sizeof a, (double)t->bytes_done);
    bool avg = s->phase == IT_PHASE_DONE && s->elapsed > 0;
    it_format_bytes(b, sizeof b,
                    avg ? (double)t->bytes_done / s->elapsed : s->throughput);
    if (s->phase == IT_PHASE_DONE)
        snprintf(c, sizeof c, "%s", s->stop_requested ? "stopped" : "finished");
    else if (s->eta < 0)
        snprintf(c, sizeof c, "ETA %s", st->utf8 ? "—" : "--");
    else {
        char d[24];
        it_format_duration(d, sizeof d, s->eta);
        snprintf(c, sizeof c, "ETA %s", d);
    }
    put(y, 1, 8, label, "Moved");
    x = 9 + putf(y, 9, w - 9, A_NORMAL, "%-10s  ", a);
    x += putf(y, x, w - x, color_attr(st, TUI_C_INFO, A_BOLD) | A_BOLD,
              "%s%s/s", avg ? "avg " : "", b);
    int eta_w = (int)strlen(c) + 1;
    int spark_x = x + 2;
    int spark_w = w - spark_x - eta_w - 2;
    if (spark_w > IT_SPARK_LEN)
        spark_w = IT_SPARK_LEN;
    if (spark_w >= 8) {
        draw_spark(st, y, spark_x, spark_w);
        put(y, spark_x + spark_w + 2, eta_w, A_BOLD, c);
    } else {
        put(y, x + 2, w - x - 2, A_BOLD, c);
    }
    y++;

    /* Overall bar: images done / known total. */
    double frac = t->images_total > 0 ? (double)done / t->images_total : 0;
    if (s->phase == IT_PHASE_DONE && t->images_failed == 0 &&
        done == t->images_total)
        frac = 1;
    char pct[16];
    snprintf(pct, sizeof pct, "%3d%%", (int)floor(frac * 100));
    int bw = w - 2 - 6;
    if (bw > 4) {
        attr_t fill = t->images_failed ? color_attr(st, TUI_C_BUSY, A_BOLD)
                                       : color_attr(st, TUI_C_OK, A_BOLD);
        draw_bar(st, y, 1, bw, frac, fill);
        put(y, 2 + bw, 5, A_BOLD, pct);
    }
    return y + 1;
}

/* ----------------------------------------------------------------- table */

typedef struct cols {
    int name, tags, bytes, bar, pct, state, err;
} cols;

static cols list_columns(int w)
{
    cols c = {0, 11, 10, 0, 0, 8, 0};
    c.bar = w >= 160 ? 30 : w >= 120 ? 24 : w >= 90 ? 18 : 12;
    c.pct = w >= 100 ? 5 : 0;
    if (w >= 140)
        c.err = w / 4;
    /* 1 margin + 2 cursor + 1 space between columns */
    c.name = w - 2 - c.tags - c.bytes - c.bar - c.pct - c.state - c.err - 6;
    if (c.name > 60 && c.err) {
        c.err += c.name - 60;
        c.name = 60;
    }
    if (c.name < 12) {
        c.name += c.bar + c.pct;
        c.bar = 0;
        c.pct = 0;
    }
    return c;
}

static double row_frac(const it_repo_row *r)
{
    if (r->state == IT_REPO_DONE || r->state == IT_REPO_SKIPPED)
        return 1;
    if (r->images_total <= 0)
        return 0;
    double f = (double)r->images_done / r->images_total;
    if (r->bytes_expected > 0 && r->images_done < r->images_total) {
        /* Bytes show progress inside the images in flight, but the sizes
         * known so far may cover only some tags: never claim more than
         * one image beyond the finished ones. */
        double fb = (double)r->bytes_done / (double)r->bytes_expected;
        double cap = (double)(r->images_done + 1) / r->images_total;
        if (fb > cap)
            fb = cap;
        if (fb > f)
            f = fb;
    }
    return f;
}

static void draw_list_rows(tui_state *st, int y0, int h)
{
    const it_snapshot *s = st->snap;
    cols c = list_columns(COLS);
    attr_t head = A_BOLD | A_UNDERLINE;
    int x = 2;
    mvhline(y0, 0, ' ', COLS);
    putf(y0, x, c.name, head, "%-*s", c.name, "REPOSITORY");
    x += c.name + 1;
    put_right(y0, x, c.tags, head, "TAGS");
    x += c.tags + 1;
    put_right(y0, x, c.bytes, head, "BYTES");
    x += c.bytes + 1;
    if (c.bar) {
        putf(y0, x, c.bar + c.pct, head, "%-*s", c.bar + c.pct, "PROGRESS");
        x += c.bar + c.pct + 1;
    }
    putf(y0, x, c.state, head, "%-*s", c.state, "STATE");
    x += c.state + 1;
    if (c.err)
        putf(y0, x, COLS - x, head, "%-*s", COLS - x, "LAST ERROR");

    int n = (int)s->n_rows;
    st->page = h - 1;
    if (st->cursor >= n)
        st->cursor = n - 1;
    if (st->cursor < 0)
        st->cursor = 0;
    if (st->top > st->cursor)
        st->top = st->cursor;
    if (st->cursor >= st->top + st->page)
        st->top = st->cursor - st->page + 1;
    if (st->top > n - st->page)
        st->top = n - st->page;
    if (st->top < 0)
        st->top = 0;

    if (n == 0) {
        const char *msg = st->filter[0] || st->failed_only
                              ? "(no repository matches the filter)"
                              : "(no repositories yet)";
        put(y0 + 1, 2, COLS - 2, color_attr(st, TUI_C_DIM, A_DIM), msg);
        return;
    }
    for (int k = 0; k < st->page && st->top + k < n; k++) {
        const it_repo_row *r = &s->rows[st->top + k];
        int y = y0 + 1 + k;
        bool sel = st->top + k == st->cursor;
        char buf[512], name[1100];
        repo_name(st, name, sizeof name, r, c.name);
        x = 0;
        put(y, x, 2, A_BOLD, sel ? ">" : " ");
        x = 2;
        put_pad(y, x, c.name, sel ? A_REVERSE : A_NORMAL, name);
        x += c.name + 1;
        if (r->images_total < 0)
            snprintf(buf, sizeof buf, "-");
        else
            snprintf(buf, sizeof buf, "%d/%d", r->images_done, r->images_total);
        put_right(y, x, c.tags, A_NORMAL, buf);
        x += c.tags + 1;
        if (r->bytes_done > 0)
            it_format_bytes(buf, sizeof buf, (double)r->bytes_done);
        else
            snprintf(buf, sizeof buf, "-");
        put_right(y, x, c.bytes, A_NORMAL, buf);
        x += c.bytes + 1;
        attr_t sa = repo_attr(st, r->state);
        if (c.bar) {
            double f = row_frac(r);
            draw_bar(st, y, x, c.bar, f, sa);
            if (c.pct) {
                snprintf(buf, sizeof buf, "%3d%%", (int)floor(f * 100));
                put_right(y, x + c.bar, c.pct, A_NORMAL, buf);
            }
            x += c.bar + c.pct + 1;
        }
        put(y, x, c.state, sa, repo_word(r->state));
        x += c.state + 1;
        if (c.err && r->error)
            put(y, x, COLS - x, color_attr(st, TUI_C_BAD, A_NORMAL), r->error);
    }
}

static void draw_detail_rows(tui_state *st, int y0, int h)
{
    const it_snapshot *s = st->snap;
    const it_repo_row *repo = NULL;
    for (size_t i = 0; i < s->n_rows; i++)
        if (s->rows[i].id == st->detail_repo)
            repo = &s->rows[i];
    int y = y0;
    char buf[512];
    if (repo) {
        char name[1100];
        repo_name(st, name, sizeof name, repo, COLS - 13);
        put(y, 1, 11, A_BOLD, "Repository");
        put(y, 12, COLS - 13, A_BOLD, name);
        y++;
        put(y, 1, 11, A_BOLD, "State");
        int x2 = 12 + put(y, 12, 10, repo_attr(st, repo->state),
                          repo_word(repo->state));
        char bytes[32];
        it_format_bytes(bytes, sizeof bytes, (double)repo->bytes_done);
        if (repo->images_total < 0)
            snprintf(buf, sizeof buf, "   tags -   bytes %s", bytes);
        else
            snprintf(buf, sizeof buf, "   tags %d/%d (%d failed)   bytes %s",
                     repo->images_done, repo->images_total, repo->images_failed,
                     bytes);
        put(y, x2, COLS - x2, A_NORMAL, buf);
        y++;
        if (repo->images_platform_filtered || repo->images_platform_skipped) {
            /* issue 14: marks what --platforms did here */
            put(y, 1, 11, A_BOLD, "Platforms");
            snprintf(buf, sizeof buf,
                     "%d filtered (index of the chosen platforms pushed)   "
                     "%d skipped: no matching platform",
                     repo->images_platform_filtered,
                     repo->images_platform_skipped);
            put(y, 12, COLS - 12, A_NORMAL, buf);
            y++;
        }
        if (repo->error) {
            put(y, 1, 11, A_BOLD, "Last error");
            put(y, 12, COLS - 12, color_attr(st, TUI_C_BAD, A_NORMAL),
                repo->error);
            y++;
        }
    } else {
        put(y++, 1, COLS - 1, A_DIM, "(repository not in the current view)");
    }
    /* issue 15: the registry hosts' adaptive limits (hosts that were down
     * or throttled), at most 3 lines */
    for (size_t i = 0; i < s->n_hosts && i < 3 && y - y0 < h - 3; i++) {
        it_host_limits_line(buf, sizeof buf, &s->hosts[i]);
        put(y, 1, 11, A_BOLD, i == 0 ? "Hosts" : "");
        put(y, 12, COLS - 13, A_NORMAL, buf);
        y++;
    }
    h -= y - y0;
    if (h < 2)
        return;

    int tag_w = COLS >= 120 ? 32 : 20;
    int dig_w = COLS >= 160 ? 71 : 19;
    int stat_w = 8, bytes_w = 10;
    int err_x = 2 + tag_w + 1 + stat_w + 1 + bytes_w + 1 + dig_w + 1;
    if (err_x > COLS - 10) {
        dig_w = 0;
        err_x = 2 + tag_w + 1 + stat_w + 1 + bytes_w + 1;
    }
    attr_t head = A_BOLD | A_UNDERLINE;
    int x = 2;
    putf(y, x, tag_w, head, "%-*s", tag_w, "TAG");
    x += tag_w + 1;
    putf(y, x, stat_w, head, "%-*s", stat_w, "STATUS");
    x += stat_w + 1;
    put_right(y, x, bytes_w, head, "BYTES");
    x += bytes_w + 1;
    if (dig_w) {
        putf(y, x, dig_w, head, "%-*s", dig_w, "DIGEST");
        x += dig_w + 1;
    }
    if (x < COLS)
        putf(y, x, COLS - x, head, "%-*s", COLS - x, "ERROR");
    y++;
    h--;

    int n = (int)st->n_detail;
    st->page = h;
    if (st->dcursor >= n)
        st->dcursor = n - 1;
    if (st->dcursor < 0)
        st->dcursor = 0;
    if (st->dtop > st->dcursor)
        st->dtop = st->dcursor;
    if (st->dcursor >= st->dtop + h)
        st->dtop = st->dcursor - h + 1;
    if (st->dtop > n - h)
        st->dtop = n - h;
    if (st->dtop < 0)
        st->dtop = 0;
    if (n == 0) {
        /* Tags that ended well are counted, not listed (the report has
         * each one): the view lists tags in flight and failed ones. */
        if (repo && repo->images_done > 0)
            putf(y, 2, COLS - 2, A_DIM,
                 "(no tag in flight or failed; %d done: the report lists each)",
                 repo->images_done);
        else
            put(y, 2, COLS - 2, A_DIM, "(no tags yet)");
        return;
    }
    for (int k = 0; k < h && st->dtop + k < n; k++) {
        const it_image_row *im = &st->detail[st->dtop + k];
        int yy = y + k;
        bool sel = st->dtop + k == st->dcursor;
        char tag[256];
        fit_middle(tag, sizeof tag, im->tag, tag_w);
        put(yy, 0, 2, A_BOLD, sel ? ">" : " ");
        x = 2;
        putf(yy, x, tag_w, sel ? A_REVERSE : A_NORMAL, "%-*s", tag_w, tag);
        x += tag_w + 1;
        put(yy, x, stat_w, image_attr(st, im->state), image_word(im->state));
        x += stat_w + 1;
        if (im->bytes_done > 0)
            it_format_bytes(buf, sizeof buf, (double)im->bytes_done);
        else
            snprintf(buf, sizeof buf, "-");
        put_right(yy, x, bytes_w, A_NORMAL, buf);
        x += bytes_w + 1;
        if (dig_w) {
            put(yy, x, dig_w, A_DIM, im->digest ? im->digest : "-");
            x += dig_w + 1;
        }
        if (im->error && x < COLS)
            put(yy, x, COLS - x, color_attr(st, TUI_C_BAD, A_NORMAL),
                im->error);
    }
}

/* ----------------------------------------------------- notes and footer */

static void draw_notes(tui_state *st, int y, int h)
{
    const it_snapshot *s = st->snap;
    hrule(st, y, 0, COLS, color_attr(st, TUI_C_DIM, A_DIM));
    char title[64];
    snprintf(title, sizeof title, " Warnings and errors (%zu) ", s->n_notes);
    put(y, 2, COLS - 4, A_BOLD, title);
    if (h <= 1)
        return;
    if (s->n_notes == 0) {
        put(y + 1, 2, COLS - 2, color_attr(st, TUI_C_DIM, A_DIM), "(none)");
        return;
    }
    size_t show = (size_t)(h - 1) < s->n_notes ? (size_t)(h - 1) : s->n_notes;
    size_t first = s->n_notes - show;
    for (size_t i = 0; i < show; i++) {
        bool err = s->note_is_error[first + i];
        attr_t a = err ? color_attr(st, TUI_C_BAD, A_BOLD)
                       : color_attr(st, TUI_C_BUSY, A_NORMAL);
        const char *mark = err ? (st->utf8 ? "✗" : "E") : "!";
        put(y + 1 + (int)i, 1, 2, a, mark);
        put(y + 1 + (int)i, 3, COLS - 3, A_NORMAL, s->notes[first + i]);
    }
}

static void draw_footer(tui_state *st, int y)
{
    const it_snapshot *s = st->snap;
    mvhline(y, 0, ' ', COLS);
    if (st->editing_filter) {
        int x = put(y, 0, COLS, A_BOLD, " Filter: ");
        x += put(y, x, COLS - x, A_NORMAL, st->filter);
        put(y, x, COLS - x, A_REVERSE, " ");
        put(y, x + 2, COLS - x - 2, A_DIM, "(Enter keep, Esc clear)");
        return;
    }
    char right[96] = "";
    if (st->view == TUI_VIEW_LIST && s->n_rows > 0) {
        int last = st->top + st->page;
        if (last > (int)s->n_rows)
            last = (int)s->n_rows;
        snprintf(right, sizeof right, "%d-%d of %zu ", st->top + 1, last,
                 s->n_rows);
    } else if (st->view == TUI_VIEW_DETAIL && st->n_detail > 0) {
        snprintf(right, sizeof right, "tag %d of %zu ", st->dcursor + 1,
                 st->n_detail);
    }
    char flags[192] = "";
    if (st->view == TUI_VIEW_LIST && (st->filter[0] || st->failed_only))
        snprintf(flags, sizeof flags, "[%s%s%s%s] ",
                 st->filter[0] ? "filter: " : "", st->filter,
                 st->filter[0] && st->failed_only ? ", " : "",
                 st->failed_only ? "failed only" : "");
    int rw = (int)strlen(right) + (int)strlen(flags);
    int x = 0;
    if (st->done) {
        attr_t a = color_attr(st, TUI_C_TITLE, A_REVERSE) | A_BOLD;
        x += put(y, x, COLS - rw - 1, a,
                 s->stop_requested
                     ? " Stopped. Press any key to exit (arrows scroll) "
                     : " Finished. Press any key to exit (arrows scroll) ");
    } else if (s->stop_requested) {
        attr_t a = color_attr(st, TUI_C_BUSY, A_REVERSE) | A_BOLD;
        x += put(y, x, COLS - rw - 1, a,
                 " Stopping after the images in flight... ");
    } else if (st->view == TUI_VIEW_DETAIL) {
        x += put(y, x, COLS - rw - 1, A_NORMAL,
                 st->utf8 ? " Esc back  ↑↓ PgUp PgDn scroll  q back"
                          : " Esc back  Up/Down PgUp PgDn scroll  q back");
    } else {
        x += put(y, x, COLS - rw - 1, A_NORMAL,
                 st->utf8 ? " q stop  ? help  / filter  f failed  ⏎ details"
                            "  ↑↓ PgUp PgDn Home End"
                          : " q stop  ? help  / filter  f failed  Enter "
                            "details  PgUp PgDn Home End");
    }
    (void)x;
    int fx = COLS - rw;
    if (fx < 0)
        fx = 0;
    fx += put(y, fx, COLS - fx, color_attr(st, TUI_C_INFO, A_BOLD) | A_BOLD,
              flags);
    put(y, fx, COLS - fx, A_DIM, right);
}

static void draw_overlay(tui_state *st)
{
    if (st->overlay == TUI_OV_CONFIRM) {
        const char *q = "Stop after the images in flight? (y/n)";
        int w = (int)strlen(q) + 6, h = 5;
        if (w > COLS)
            w = COLS;
        int x = (COLS - w) / 2, y = (LINES - h) / 2;
        if (y < 0)
            y = 0;
        attr_t a = color_attr(st, TUI_C_BUSY, A_NORMAL) | A_BOLD;
        draw_box(st, y, x, h, w, a);
        put(y + 2, x + 3, w - 6, A_BOLD, q);
        return;
    }
    if (st->overlay != TUI_OV_HELP)
        return;
    static const char *const lines[] = {
        "Up/Down, j/k      move the selection",
        "PgUp/PgDn         scroll a page",
        "Home/End, g/G     first / last repository",
        "/                 filter repositories by name",
        "f                 show only failed repositories",
        "Esc               clear the filter (or leave details)",
        "Enter             details of the selected repository",
        "q                 stop after the images in flight",
        "?                 this help",
        "",
        "Rows: active first, then failed, waiting, done.",
        "Logs go to the --log-file; warnings show below.",
        "",
        "Press any key to close.",
    };
    int n = (int)(sizeof lines / sizeof lines[0]);
    int w = 58, h = n + 4;
    if (w > COLS)
        w = COLS;
    if (h > LINES)
        h = LINES;
    int x = (COLS - w) / 2, y = (LINES - h) / 2;
    attr_t a = color_attr(st, TUI_C_INFO, A_NORMAL) | A_BOLD;
    draw_box(st, y, x, h, w, a);
    put(y, x + 2, w - 4, A_BOLD, " Keys ");
    for (int i = 0; i < n && 2 + i < h - 1; i++)
        put(y + 2 + i, x + 3, w - 5, A_NORMAL, lines[i]);
}

/* issue 15: a line per registry host that is down (at most 3). */
static int draw_hosts_down(tui_state *st, int y, int max_lines)
{
    const it_snapshot *s = st->snap;
    char line[512];
    int shown = 0;
    for (size_t i = 0; i < s->n_hosts && shown < max_lines; i++) {
        if (!it_host_down_line(line, sizeof line, &s->hosts[i],
                               (double)time(NULL)))
            continue;
        put(y++, 1, COLS - 2, color_attr(st, TUI_C_BUSY, A_BOLD), line);
        shown++;
    }
    return y;
}

void tui_draw(tui_state *st)
{
    erase();
    if (!st->snap) {
        refresh();
        return;
    }
    int y = draw_title(st, 0);
    y = draw_summary(st, y);
    if (LINES >= 16)
        y = draw_hosts_down(st, y, 3);
    int footer = LINES - 1;
    int notes_h = LINES >= 50 ? 8 : LINES >= 30 ? 5 : LINES >= 20 ? 4 : 0;
    int table_h = footer - y - notes_h;
    if (table_h < 3 && notes_h > 0) {
        table_h += notes_h;
        notes_h = 0;
    }
    if (table_h >= 2) {
        if (st->view == TUI_VIEW_DETAIL)
            draw_detail_rows(st, y, table_h);
        else
            draw_list_rows(st, y, table_h);
    }
    if (notes_h > 0)
        draw_notes(st, footer - notes_h, notes_h);
    if (footer > 0)
        draw_footer(st, footer);
    draw_overlay(st);
    refresh();
}
