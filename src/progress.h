/*
 * progress.h - the progress model: the engine (and the CCR planner) send
 * events in; the dashboard, the headless printer and the final summary read
 * snapshots out. One mutex, held briefly by every call; no call blocks on
 * I/O. All functions are thread-safe. Strings passed in are copied.
 */
#ifndef IT_PROGRESS_H
#define IT_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum it_phase {
    IT_PHASE_PREPARING = 0, /* CCR->TCR: finding the instance, namespaces */
    IT_PHASE_DISCOVERING,   /* enumeration running (copying may run too) */
    IT_PHASE_COPYING,       /* enumeration finished, copying */
    IT_PHASE_RETRYING,      /* final retry pass for failed images */
    IT_PHASE_STOPPING,      /* graceful stop requested */
    IT_PHASE_DONE
} it_phase;

typedef enum it_repo_state {
    IT_REPO_WAITING = 0,
    IT_REPO_LISTING,
    IT_REPO_COPYING,
    IT_REPO_DONE,
    IT_REPO_FAILED, /* at least one image failed, or listing failed */
    IT_REPO_SKIPPED /* every image skipped */
} it_repo_state;

typedef enum it_image_state {
    IT_IMG_PENDING = 0,
    IT_IMG_COPYING,
    IT_IMG_COPIED,
    IT_IMG_SKIPPED,
    IT_IMG_FAILED
} it_image_state;

typedef enum it_blob_outcome {
    IT_BLOB_COPIED = 0,
    IT_BLOB_MOUNTED,
    IT_BLOB_SKIPPED /* already present on the target */
} it_blob_outcome;

typedef struct it_progress it_progress;

/* now_fn returns monotonic seconds (NULL = CLOCK_MONOTONIC); tests pass a
 * fake clock. mode is "generic" or "ccrToTcr". */
it_progress *it_progress_new(const char *mode, const char *source,
                             const char *target, double (*now_fn)(void));
void it_progress_free(it_progress *p);

void it_progress_phase(it_progress *p, it_phase phase);
/* CCR->TCR preparation facts shown in the header: key such as "instance",
 * "namespaces"; value such as "image-transfer (tcr-abc, Running)" or
 * "12 listed, 3 created, 0 failed". Replaces an earlier value of key. */
void it_progress_prep(it_progress *p, const char *key, const char *value);
/* A --shard run: "I/N", shown in the title bar, the headless lines and the
 * summary. NULL or "" = not sharded (the default). */
void it_progress_shard(it_progress *p, const char *shard);

/* A repository pair found; returns its id (>= 0), or the existing id when
 * the same (src, dst) pair was added before. */
int it_progress_repo_add(it_progress *p, const char *src_repo,
                         const char *dst_repo);
void it_progress_repo_state(it_progress *p, int repo, it_repo_state st,
                            const char *error /* NULL */);
/* Called when the tags of a repo are known (total images to do). */
void it_progress_repo_tags(it_progress *p, int repo, int n_images);

/* An image (one tag) planned in repo; returns its id. */
int it_progress_image_add(it_progress *p, int repo, const char *tag);
/* State change; digest and error may be NULL. bytes_expected = total size
 * of blobs still to move for this image, known once its manifest is read
 * (-1 = unknown). */
void it_progress_image_state(it_progress *p, int image, it_image_state st,
                             const char *digest, const char *error);
void it_progress_image_expect(it_progress *p, int image,
                              int64_t bytes_expected);
/* Bytes moved for image (blob stream progress). */
void it_progress_bytes(it_progress *p, int image, int64_t delta);
void it_progress_blob(it_progress *p, it_blob_outcome o);

/* All repos and tags are known (the totals stop growing). */
void it_progress_enumeration_done(it_progress *p);
/* A warning or error line for the bottom pane (already redacted). */
void it_progress_note(it_progress *p, bool is_error, const char *line);
/* Waits up to timeout_s seconds for the phase to become IT_PHASE_DONE
 * (woken at once when it does). Returns true when it is done. */
bool it_progress_wait_done(it_progress *p, double timeout_s);
/* Sets / reads the graceful stop request flag (`q` in the dashboard). */
void it_progress_request_stop(it_progress *p);
bool it_progress_stop_requested(const it_progress *p);

/* ------------------------------------------------------------ snapshot */

typedef struct it_repo_row {
    char *src_repo;
    char *dst_repo;
    it_repo_state state;
    int images_total; /* -1 while listing */
    int images_done;  /* copied + skipped + failed */
    int images_failed;
    int64_t bytes_done;
    int64_t bytes_expected; /* sum of known image expectations */
    char *error;            /* last error or NULL */
    int id;
} it_repo_row;

typedef struct it_image_row {
    char *tag;
    char *digest; /* NULL until known */
    it_image_state state;
    int64_t bytes_done;
    char *error;
} it_image_row;

typedef struct it_totals {
    int repos_total, repos_done;
    int images_total, images_copied, images_skipped, images_failed;
    int64_t blobs_copied, blobs_mounted, blobs_skipped;
    int64_t bytes_done;
    bool enumeration_done;
} it_totals;

#define IT_SPARK_LEN 60

typedef struct it_snapshot {
    char *mode, *source, *target;
    it_phase phase;
    double elapsed; /* seconds since it_progress_new */
    it_totals totals;
    double throughput;          /* bytes/s over the sliding window */
    double spark[IT_SPARK_LEN]; /* bytes/s per second, oldest first */
    double eta; /* seconds, < 0 when unknown (still enumerating, */
                /* or nothing moved yet) */
    char **prep_keys, **prep_values;
    size_t n_prep;
    char shard[24];    /* "I/N" of a --shard run, "" otherwise */
    it_repo_row *rows; /* sorted: active first (copying, listing), then */
    size_t n_rows;     /* failed, waiting, done/skipped; then by name */
    char **notes;      /* latest warnings/errors, oldest first */
    bool *note_is_error;
    size_t n_notes;
    bool stop_requested;
    /* Every repository pair added so far names the same source (target)
     * registry host (over all repos, whatever the filter): a view may then
     * drop that host from the rows, the header shows it once. */
    bool one_src_host, one_dst_host;
} it_snapshot;

typedef struct it_snapshot_filter {
    const char *name_contains; /* NULL = all */
    bool failed_only;
    bool no_rows; /* header and totals only (headless lines): copy no rows */
} it_snapshot_filter;

/* A consistent copy of the model (filter may be NULL). Caller frees. */
it_snapshot *it_progress_snapshot(it_progress *p,
                                  const it_snapshot_filter *filter);
void it_snapshot_free(it_snapshot *s);
/* Per-tag detail of one repo (for the dashboard's detail view). */
int it_progress_repo_images(it_image_row **out, size_t *n_out, it_progress *p,
                            int repo);
void it_image_rows_free(it_image_row *rows, size_t n);

/* ------------------------------------------------------ display names */

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

#endif /* IT_PROGRESS_H */
