/*
 * metrics.h - --metrics-file: the run's counters in the Prometheus text
 * exposition format (version 0.0.4), for node_exporter's textfile
 * collector or any scraper that reads a file. Written atomically (a
 * temporary file in the same directory, then renamed) every few seconds
 * while the run goes on and once more at the end.
 *
 * The counters come from the engine's event stream (it_metrics_on_event is
 * a subscriber), the per-host request counters from it_engine_host_stats,
 * the phase from the progress model; the last file holds the engine's
 * final statistics, the same numbers as the report. The metric names and
 * labels are listed in README.md ("Monitoring") and the man page.
 */
#ifndef IT_METRICS_H
#define IT_METRICS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "engine.h"
#include "errbuf.h"
#include "progress.h"

/* What one file holds. */
typedef struct it_metrics_sample {
    /* The run label every series carries: the metrics file's name without
     * ".prom", so several runs (shards) can share one textfile directory
     * without their series colliding. NULL = "". */
    const char *run;
    const char *mode;  /* "generic" or "ccrToTcr" */
    const char *shard; /* "I/N", or "" when not sharded */
    bool dry_run;
    it_phase phase;
    long images[IT_STATUS_PENDING + 1]; /* finished, by it_image_status */
    long images_listed;                 /* images (tags) found so far */
    long blobs[IT_BLOB_SKIPPED + 1];    /* present, by it_blob_outcome */
    int64_t transferred_bytes; /* blob bytes received, failed tries too */
    int64_t copied_bytes;      /* blob bytes of the images kept (report) */
    const it_host_stats *hosts;
    size_t nhosts;
    double start_time;         /* Unix seconds */
    double last_progress_time; /* Unix seconds; the start before any */
} it_metrics_sample;

/* Writes s to f in the text exposition format: a HELP and a TYPE line per
 * metric, counters ending in _total, label values escaped (backslash,
 * double quote and newline as the format says; other control bytes,
 * DEL and bytes that are not printable ASCII as the four characters \xNN,
 * so a hostile host name can neither end a label nor break the file's
 * UTF-8). Returns 0, or -1 when writing failed. */
int it_metrics_format(FILE *f, const it_metrics_sample *s);

/* Writes s to path atomically: a new file (mode 0644: a collector running
 * as another user reads it) next to it, renamed over path. Returns 0, or
 * -1 with a message naming the file. */
int it_metrics_write(const char *path, const it_metrics_sample *s,
                     it_errbuf *err);

/* ------------------------------------------------------- the writer */

typedef struct it_metrics it_metrics;

typedef struct it_metrics_opts {
    const char *path;  /* copied */
    double interval_s; /* between writes; <= 0: 5 seconds */
    const char *mode;  /* copied */
    const char *shard; /* copied; NULL or "" = not sharded */
    bool dry_run;
    time_t started;
    it_progress *progress; /* the phase and the images listed; borrowed */
} it_metrics_opts;

/* Makes the writer and writes the first file at once, so a path that
 * cannot be written is an error before anything runs. Returns 0, or -1
 * with a message. */
int it_metrics_open(it_metrics **out, const it_metrics_opts *o, it_errbuf *err);
/* The engine's event subscriber (payload: the it_metrics). */
void it_metrics_on_event(void *payload, const it_event *ev);
/* Starts writing every interval, reading the per-host counters of e
 * (borrowed until it_metrics_finish). Returns 0, or -1 when the thread
 * cannot start (the file is then written at the end only). */
int it_metrics_start(it_metrics *m, it_engine *e);
/* Stops the periodic writes and writes the last file with the engine's
 * final statistics (final may be NULL: the event counts are kept).
 * Returns 0, or -1 with a message (also for an earlier periodic write
 * that failed). */
int it_metrics_finish(it_metrics *m, const it_engine_stats *final,
                      it_errbuf *err);
/* Stops the writer if it runs (no last file) and frees m (NULL is fine). */
void it_metrics_free(it_metrics *m);

#endif /* IT_METRICS_H */
