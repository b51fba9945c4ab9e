/*
 * progress_fmt.h - display helpers of the views (dashboard, headless
 * lines, summary): human units, durations, the headless progress line and
 * short repository names. Pure functions over snapshot.h's types; nothing
 * here reads or changes the model.
 */
#ifndef IT_PROGRESS_FMT_H
#define IT_PROGRESS_FMT_H

#include <stdbool.h>
#include <stddef.h>

#include "snapshot.h"

/* Length of the registry host that starts a repository name such as
 * "127.0.0.1:5000/team/app" (14 here); 0 when the first path component is
 * not a host by the Docker reference rule (it holds '.' or ':', or is
 * "localhost") or no '/' follows it. name may be NULL (0). */
size_t it_repo_host_len(const char *name);

/* What a narrow view shows of a repository pair "host/path" -> "host/path":
 * *src_out is src without its host when drop_src_host (likewise *dst_out
 * for dst). *dst_out is NULL, and the view shows one name, when both shown
 * names are the same or when the target's host is dropped and its path is
 * the source's path. Pointers point into src and dst (borrowed); nothing
 * is allocated. */
void it_repo_label(const char **src_out, const char **dst_out, const char *src,
                   const char *dst, bool drop_src_host, bool drop_dst_host);

/* One headless progress line: "images 120/400 (3 failed) | 1.2 GiB |
 * 45.0 MiB/s | ETA 4m10s" (no newline). */
void it_progress_format_line(char *out, size_t cap, const it_snapshot *s);
/* Human units used everywhere: "1.2 GiB", "45.0 MiB/s", "4m10s". */
void it_format_bytes(char *out, size_t cap, double bytes);
void it_format_duration(char *out, size_t cap, double seconds);

/* issue 15: for a host that is down, "registry 127.0.0.1:5001 unreachable
 * since 12:01:03, next try in 8s" (local time; now_unix in seconds) and
 * true; false (out empty) when it is up. Bytes of the host outside
 * printable ASCII are shown as '?'. */
bool it_host_down_line(char *out, size_t cap, const it_host_row *h,
                       double now_unix);
/* "127.0.0.1:5001  limit 4 in flight, 12.5 req/s" (or "no rate cap"), for
 * the dashboard's hosts lines. */
void it_host_limits_line(char *out, size_t cap, const it_host_row *h);

#endif /* IT_PROGRESS_FMT_H */
