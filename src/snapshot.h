/*
 * snapshot.h - what a view sees of the progress model: consistent copies
 * (snapshots) and a reader to take them. Views (the dashboard in tui/,
 * the headless printer, the summary) include this header, not progress.h:
 * they read the model and never change it.
 */
#ifndef IT_SNAPSHOT_H
#define IT_SNAPSHOT_H

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
    /* issue 14, platforms: images pushed as a filtered index, and images
     * skipped because no platform matched */
    int images_platform_filtered, images_platform_skipped;
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
    int64_t referrers_copied, referrers_skipped; /* issue 13 */
    /* issue 14, platforms (as in it_repo_row) */
    int images_platform_filtered, images_platform_skipped;
} it_totals;

#define IT_SPARK_LEN 60

/* issue 15: a registry host that had trouble (down, or throttled): its
 * state and adaptive limits, as the engine last told. */
#define IT_HOSTS_MAX 16
typedef struct it_host_row {
    char host[264];
    bool down;
    int64_t down_since;  /* Unix seconds (down only) */
    int64_t next_try_ms; /* Unix ms of the next probe (down only) */
    long limit_in_flight;
    double limit_rps; /* 0 = no cap */
} it_host_row;

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
    /* issue 15: hosts that were down or throttled (at most IT_HOSTS_MAX,
     * the first ones seen), sorted by name */
    it_host_row hosts[IT_HOSTS_MAX];
    size_t n_hosts;
} it_snapshot;

typedef struct it_snapshot_filter {
    const char *name_contains; /* NULL = all */
    bool failed_only;
    bool no_rows; /* header and totals only (headless lines): copy no rows */
} it_snapshot_filter;

/* ------------------------------------------------------------- reader */

typedef struct it_progress it_progress; /* the model, opaque here */

/* How a view reads a model without linking it: progress.h fills one with
 * it_progress_reader_of(). The functions are the model's (see progress.h):
 * a snapshot (filter may be NULL) and its free, the per-tag rows of one
 * repository (0 or -1) and their free. */
typedef struct it_progress_reader {
    it_progress *model;
    it_snapshot *(*snapshot)(it_progress *p, const it_snapshot_filter *filter);
    void (*snapshot_free)(it_snapshot *s);
    int (*repo_images)(it_image_row **out, size_t *n_out, it_progress *p,
                       int repo);
    void (*image_rows_free)(it_image_row *rows, size_t n);
} it_progress_reader;

#endif /* IT_SNAPSHOT_H */
