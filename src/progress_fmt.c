/*
 * progress_fmt.c - display helpers of the views (see progress_fmt.h).
 */
#include "progress_fmt.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------ display names */

size_t it_repo_host_len(const char *name)
{
    if (!name)
        return 0;
    const char *slash = strchr(name, '/');
    if (!slash || slash == name)
        return 0;
    size_t n = (size_t)(slash - name);
    if (memchr(name, '.', n) || memchr(name, ':', n) ||
        (n == 9 && strncmp(name, "localhost", 9) == 0))
        return n;
    return 0;
}

void it_repo_label(const char **src_out, const char **dst_out, const char *src,
                   const char *dst, bool drop_src_host, bool drop_dst_host)
{
    const char *s = src ? src : "";
    const char *d = dst ? dst : "";
    size_t sn = drop_src_host ? it_repo_host_len(s) : 0;
    size_t dn = drop_dst_host ? it_repo_host_len(d) : 0;
    s += sn ? sn + 1 : 0; /* past "host/" */
    d += dn ? dn + 1 : 0;
    *src_out = s;
    /* One name when nothing changes that the row would show: the same
     * shown names, or the same path on a target host the row leaves out. */
    size_t pn = it_repo_host_len(src ? src : "");
    const char *src_path = (src ? src : "") + (pn ? pn + 1 : 0);
    bool same = strcmp(s, d) == 0 || (dn && strcmp(src_path, d) == 0);
    *dst_out = same ? NULL : d;
}

void it_format_bytes(char *out, size_t cap, double bytes)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
    if (bytes < 0)
        bytes = 0;
    if (bytes < 1024) {
        snprintf(out, cap, "%.0f B", bytes);
        return;
    }
    double v = bytes / 1024;
    size_t u = 0;
    /* 1023.96 KiB would print as "1024.0 KiB": move up a unit first. */
    while (v >= 1023.95 && u + 1 < sizeof units / sizeof units[0]) {
        v /= 1024;
        u++;
    }
    snprintf(out, cap, "%.1f %s", v, units[u]);
}

void it_format_duration(char *out, size_t cap, double seconds)
{
    if (seconds < 0 || isnan(seconds)) {
        snprintf(out, cap, "--");
        return;
    }
    if (seconds > 99.0 * 86400)
        seconds = 99.0 * 86400;
    long s = (long)(seconds + 0.5);
    if (s < 60)
        snprintf(out, cap, "%lds", s);
    else if (s < 3600)
        snprintf(out, cap, "%ldm%02lds", s / 60, s % 60);
    else if (s < 86400)
        snprintf(out, cap, "%ldh%02ldm", s / 3600, (s % 3600) / 60);
    else
        snprintf(out, cap, "%ldd%02ldh", s / 86400, (s % 86400) / 3600);
}

void it_progress_format_line(char *out, size_t cap, const it_snapshot *s)
{
    const it_totals *t = &s->totals;
    char b[32], r[32], e[32];
    it_format_bytes(b, sizeof b, (double)t->bytes_done);
    it_format_bytes(r, sizeof r, s->throughput);
    it_format_duration(e, sizeof e, s->eta);
    int done = t->images_copied + t->images_skipped + t->images_failed;
    snprintf(out, cap, "images %d/%d (%d failed) | %s | %s/s | ETA %s", done,
             t->images_total, t->images_failed, b, r, e);
}

/* ------------------------------------------------ hosts (issue 15) */

static void host_shown(char *out, size_t cap, const char *host)
{
    size_t i = 0;
    for (; host[i] && i + 1 < cap; i++) {
        unsigned char c = (unsigned char)host[i];
        out[i] = c > 0x20 && c < 0x7f ? (char)c : '?';
    }
    out[i] = '\0';
}

bool it_host_down_line(char *out, size_t cap, const it_host_row *h,
                       double now_unix)
{
    if (cap > 0)
        out[0] = '\0';
    if (!h->down)
        return false;
    char host[264], since[16] = "?", next[32];
    host_shown(host, sizeof host, h->host);
    time_t t = (time_t)h->down_since;
    struct tm tm;
    if (localtime_r(&t, &tm))
        strftime(since, sizeof since, "%H:%M:%S", &tm);
    double in = (double)h->next_try_ms / 1000.0 - now_unix;
    it_format_duration(next, sizeof next, in > 0 ? ceil(in) : 0);
    snprintf(out, cap, "registry %s unreachable since %s, next try in %s", host,
             since, next);
    return true;
}

void it_host_limits_line(char *out, size_t cap, const it_host_row *h)
{
    char host[264];
    host_shown(host, sizeof host, h->host);
    if (h->limit_rps > 0)
        snprintf(out, cap, "%s  limit %ld in flight, %.1f req/s", host,
                 h->limit_in_flight, h->limit_rps);
    else
        snprintf(out, cap, "%s  limit %ld in flight, no rate cap", host,
                 h->limit_in_flight);
}
