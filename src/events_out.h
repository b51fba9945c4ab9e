/*
 * events_out.h - --events FILE|-: the run as JSON lines, one object per
 * event, for pipelines that follow a run without parsing logs. The schema
 * (version 1) is in docs/events.md and the man page:
 *
 *   {"v":1,"event":"run_started","time":...,"mode":...,...}
 *   {"v":1,"event":"repo_listed","time":...,"source":...,"status":...}
 *   {"v":1,"event":"image_finished","time":...,"source":...,"digest":...}
 *   {"v":1,"event":"warning","time":...,"level":"warn","message":...}
 *   {"v":1,"event":"run_finished","time":...,"exit_code":0,"summary":{}}
 *
 * One writer: every line is built whole (jansson, ASCII only, text of
 * remote origin redacted and escaped as everywhere else) and written with
 * one call under a lock, then flushed. "-" writes to the program's stdout
 * stream (out.c), so the lines never mix with other output.
 */
#ifndef IT_EVENTS_OUT_H
#define IT_EVENTS_OUT_H

#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include "engine.h"
#include "errbuf.h"

typedef struct it_events_out it_events_out;

/* Opens path for writing (created 0600 or truncated; never through a
 * symbolic link), or uses stdout_stream (borrowed) when path is "-".
 * Returns 0, or -1 with a message naming the file. */
int it_events_open(it_events_out **out, const char *path, FILE *stdout_stream,
                   it_errbuf *err);

/* What run_started says. Strings may be NULL (shard: not sharded). */
typedef struct it_events_run {
    const char *mode, *source, *target, *shard, *version;
    bool dry_run;
} it_events_run;
void it_events_run_started(it_events_out *w, const it_events_run *run);
/* The engine's event subscriber (payload: the it_events_out): repository
 * listings (and repositories that could not be listed or copied) as
 * repo_listed, final image outcomes as image_finished. */
void it_events_on_event(void *payload, const it_event *ev);
/* A warning or error line of the log (already redacted). */
void it_events_warning(it_events_out *w, bool is_error, const char *line);
/* The last line: the same summary as the report, and the exit code. */
void it_events_run_finished(it_events_out *w, const it_engine_stats *st,
                            bool interrupted, int exit_code);
/* Flushes and closes (the stdout stream is left open) and frees w (NULL
 * is fine). Returns 0, or -1 with a message when a line could not be
 * written. */
int it_events_close(it_events_out *w, it_errbuf *err);

#endif /* IT_EVENTS_OUT_H */
