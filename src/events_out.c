/*
 * events_out.c - --events: the run as JSON lines (events_out.h; the schema
 * is docs/events.md).
 */
#include "events_out.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "report.h"
#include "util.h"

#define EVENTS_VERSION 1

struct it_events_out {
    FILE *f;
    bool own; /* f is ours to close (not the stdout stream) */
    pthread_mutex_t lock;
    bool failed; /* a line could not be written */
    char path[1024];
};

int it_events_open(it_events_out **out, const char *path, FILE *stdout_stream,
                   it_errbuf *err)
{
    *out = NULL;
    it_events_out *w = calloc(1, sizeof(*w));
    if (!w) {
        it_set_err(err, "out of memory");
        return -1;
    }
    snprintf(w->path, sizeof(w->path), "%s", path);
    if (strcmp(path, "-") == 0) {
        w->f = stdout_stream;
    } else {
        int fd = open(path,
                      O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW |
                          O_NOCTTY,
                      0600);
        if (fd < 0 || !(w->f = fdopen(fd, "w"))) {
            it_set_err(err, "--events %.900s: %s", path, strerror(errno));
            if (fd >= 0)
                close(fd);
            free(w);
            return -1;
        }
        w->own = true;
    }
    pthread_mutex_init(&w->lock, NULL);
    *out = w;
    return 0;
}

/* "2026-01-02T03:04:05.678Z", now. */
static void now_iso(char out[64])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char date[32];
    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 64, "%.32s.%03dZ", date, (int)(ts.tv_nsec / 1000000) % 1000);
}

/* Writes {"v":1,"event":name,"time":...} followed by the keys of body
 * (stolen) as one line, and flushes it. */
static void emit(it_events_out *w, const char *name, json_t *body)
{
    if (!w) {
        json_decref(body);
        return;
    }
    char t[64];
    now_iso(t);
    json_t *o = json_pack("{s:i,s:s,s:s}", "v", EVENTS_VERSION, "event", name,
                          "time", t);
    char *line = NULL;
    if (o && body && json_object_update(o, body) == 0)
        line = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII |
                                 JSON_PRESERVE_ORDER);
    json_decref(o);
    json_decref(body);
    pthread_mutex_lock(&w->lock);
    if (!line || fprintf(w->f, "%s\n", line) < 0 || fflush(w->f) != 0)
        w->failed = true;
    pthread_mutex_unlock(&w->lock);
    free(line);
}

void it_events_run_started(it_events_out *w, const it_events_run *r)
{
    emit(w, "run_started",
         json_pack("{s:o,s:o,s:o,s:o,s:b,s:o}", "mode", it_report_str(r->mode),
                   "source", it_report_str(r->source), "target",
                   it_report_str(r->target), "shard",
                   it_report_str(r->shard && *r->shard ? r->shard : NULL),
                   "dry_run", r->dry_run, "version",
                   it_report_str(r->version)));
}

static const char *repo_status(it_image_status st)
{
    switch (st) {
    case IT_STATUS_COPIED:
        return "ok";
    case IT_STATUS_PENDING:
        return "stopped";
    default:
        return "failed";
    }
}

void it_events_on_event(void *payload, const it_event *ev)
{
    it_events_out *w = payload;
    switch (ev->kind) {
    case IT_EV_REPO_LISTED:
    case IT_EV_REPO_FAILED:
    case IT_EV_PAIR_FAILED:
        emit(w, "repo_listed",
             json_pack(
                 "{s:o,s:o,s:s,s:I,s:o}", "source", it_report_str(ev->source),
                 "target", it_report_str(ev->target), "status",
                 repo_status(ev->status), "images",
                 (json_int_t)(ev->kind == IT_EV_REPO_LISTED ? ev->count : 0),
                 "error", it_report_str(ev->text)));
        break;
    case IT_EV_IMAGE_FINISHED:
        if (ev->will_retry) /* not final: the retry pass says the outcome */
            break;
        emit(w, "image_finished",
             json_pack(
                 "{s:o,s:o,s:s,s:o,s:I,s:o}", "source",
                 it_report_str(ev->source), "target", it_report_str(ev->target),
                 "status", it_image_status_name(ev->status), "digest",
                 it_report_str(ev->digest && *ev->digest ? ev->digest : NULL),
                 "bytes", (json_int_t)ev->bytes, "error",
                 it_report_str(ev->text)));
        break;
    default:
        break;
    }
}

void it_events_warning(it_events_out *w, bool is_error, const char *line)
{
    emit(w, "warning",
         json_pack("{s:s,s:o}", "level", is_error ? "error" : "warn", "message",
                   it_report_str(line)));
}

void it_events_run_finished(it_events_out *w, const it_engine_stats *st,
                            bool interrupted, int exit_code)
{
    emit(w, "run_finished",
         json_pack("{s:b,s:i,s:o}", "interrupted", interrupted, "exit_code",
                   exit_code, "summary", it_report_summary(st)));
}

int it_events_close(it_events_out *w, it_errbuf *err)
{
    if (!w)
        return 0;
    int rc = 0;
    if (w->own && fclose(w->f) != 0)
        w->failed = true;
    else if (!w->own && fflush(w->f) != 0)
        w->failed = true;
    if (w->failed) {
        it_set_err(err, "--events %.900s: some events could not be written",
                   w->path);
        rc = -1;
    }
    pthread_mutex_destroy(&w->lock);
    free(w);
    return rc;
}
