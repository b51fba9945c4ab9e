/*
 * metrics.c - --metrics-file: the Prometheus text format writer and the
 * thread that rewrites the file every few seconds (metrics.h).
 */
#include "metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "text.h"
#include "util.h"

/* ------------------------------------------------------------ format */

/* A label value, escaped: \\, \" and \n as the exposition format says,
 * any other byte outside printable ASCII as the text \xNN (its backslash
 * escaped in turn). */
static void put_label(FILE *f, const char *v)
{
    for (const unsigned char *p = (const unsigned char *)(v ? v : ""); *p;
         p++) {
        if (*p == '\\')
            fputs("\\\\", f);
        else if (*p == '"')
            fputs("\\\"", f);
        else if (*p == '\n')
            fputs("\\n", f);
        else if (*p < 0x20 || *p >= 0x7f)
            fprintf(f, "\\\\x%02x", *p);
        else
            fputc(*p, f);
    }
}

/* Starts a series: image_transfer_NAME{run="..." (the caller adds its
 * labels and the closing brace). */
static void series(FILE *f, const it_metrics_sample *s, const char *name)
{
    fprintf(f, "image_transfer_%s{run=\"", name);
    put_label(f, s->run);
    fputc('"', f);
}

/* The start of a per-host sample: its series and host label, up to the
 * value. */
static void host_series(FILE *f, const it_metrics_sample *s, const char *name,
                        size_t i)
{
    series(f, s, name);
    fputs(",host=\"", f);
    put_label(f, s->hosts[i].host);
    fputs("\"} ", f);
}

static void head(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP image_transfer_%s %s\n# TYPE image_transfer_%s %s\n",
            name, help, name, type);
}

static const char *const phase_names[] = {"preparing", "discovering", "copying",
                                          "retrying",  "stopping",    "done"};
static const char *const image_outcomes[] = {"copied", "skipped", "failed",
                                             "planned", "pending"};
static const char *const blob_outcomes[] = {"copied", "mounted", "skipped"};

int it_metrics_format(FILE *f, const it_metrics_sample *s)
{
    head(f, "info", "gauge",
         "The run: mode, shard (empty when not sharded) and dry run; "
         "always 1.");
    series(f, s, "info");
    fputs(",mode=\"", f);
    put_label(f, s->mode);
    fputs("\",shard=\"", f);
    put_label(f, s->shard);
    fprintf(f, "\",dry_run=\"%s\"} 1\n", s->dry_run ? "true" : "false");

    head(f, "start_time_seconds", "gauge",
         "When the run started, in seconds since the Unix epoch.");
    series(f, s, "start_time_seconds");
    fprintf(f, "} %.3f\n", s->start_time);
    head(f, "last_progress_time_seconds", "gauge",
         "When the run last made progress (blob bytes received, a blob "
         "present, an image finished), in seconds since the Unix epoch; the "
         "start time before the first.");
    series(f, s, "last_progress_time_seconds");
    fprintf(f, "} %.3f\n", s->last_progress_time);

    head(f, "phase", "gauge",
         "The run's phase: 1 for the current one, 0 for the others.");
    for (size_t i = 0; i < sizeof(phase_names) / sizeof(*phase_names); i++) {
        series(f, s, "phase");
        fprintf(f, ",phase=\"%s\"} %d\n", phase_names[i],
                (int)s->phase == (int)i);
    }

    head(f, "images_listed", "gauge", "Images (tags) found so far.");
    series(f, s, "images_listed");
    fprintf(f, "} %ld\n", s->images_listed);
    head(f, "images_total", "counter",
         "Images finished, by outcome (a failed repository listing counts "
         "as one failed image, as in the report).");
    for (size_t i = 0; i < sizeof(image_outcomes) / sizeof(*image_outcomes);
         i++) {
        series(f, s, "images_total");
        fprintf(f, ",outcome=\"%s\"} %ld\n", image_outcomes[i], s->images[i]);
    }
    head(f, "blobs_total", "counter",
         "Blobs made present in a target repository, by how: copied, "
         "mounted from another repository, or skipped (already there).");
    for (size_t i = 0; i < sizeof(blob_outcomes) / sizeof(*blob_outcomes);
         i++) {
        series(f, s, "blobs_total");
        fprintf(f, ",outcome=\"%s\"} %ld\n", blob_outcomes[i], s->blobs[i]);
    }
    head(f, "transferred_bytes_total", "counter",
         "Blob bytes received from sources and sent on, including tries "
         "that failed later.");
    series(f, s, "transferred_bytes_total");
    fprintf(f, "} %lld\n", (long long)s->transferred_bytes);
    head(f, "copied_bytes", "gauge",
         "Blob bytes copied for images, without the bytes of failed tries "
         "(bytes_copied in the report).");
    series(f, s, "copied_bytes");
    fprintf(f, "} %lld\n", (long long)s->copied_bytes);

    head(f, "http_requests_total", "counter",
         "HTTP requests answered, by registry host and status class "
         "(error: no answer).");
    for (size_t i = 0; i < s->nhosts; i++) {
        for (int c = 0; c < IT_HTTP_NCLASS; c++) {
            series(f, s, "http_requests_total");
            fputs(",host=\"", f);
            put_label(f, s->hosts[i].host);
            fprintf(f, "\",class=\"%s\"} %ld\n",
                    it_http_class_name((it_http_class)c),
                    s->hosts[i].requests[c]);
        }
    }
    head(f, "http_retries_total", "counter",
         "Requests tried again after a transient failure, by registry "
         "host.");
    for (size_t i = 0; i < s->nhosts; i++) {
        host_series(f, s, "http_retries_total", i);
        fprintf(f, "%ld\n", s->hosts[i].retries);
    }
    head(f, "http_requests_in_flight", "gauge",
         "Requests started and not answered yet, by registry host.");
    for (size_t i = 0; i < s->nhosts; i++) {
        host_series(f, s, "http_requests_in_flight", i);
        fprintf(f, "%ld\n", s->hosts[i].in_flight);
    }
    /* issue 15: the adaptive limits and the state of each host */
    head(f, "host_limit_in_flight", "gauge",
         "Requests allowed at once, by registry host (halved on 429/503, "
         "grown back while requests succeed).");
    for (size_t i = 0; i < s->nhosts; i++) {
        host_series(f, s, "host_limit_in_flight", i);
        fprintf(f, "%ld\n", s->hosts[i].limit_in_flight);
    }
    head(f, "host_limit_requests_per_second", "gauge",
         "Requests per second allowed, by registry host (0: no cap).");
    for (size_t i = 0; i < s->nhosts; i++) {
        host_series(f, s, "host_limit_requests_per_second", i);
        fprintf(f, "%.3f\n", s->hosts[i].limit_rps);
    }
    head(f, "host_throttled_total", "counter",
         "Answers 429 or 503 (throttled), by registry host.");
    for (size_t i = 0; i < s->nhosts; i++) {
        host_series(f, s, "host_throttled_total", i);
        fprintf(f, "%ld\n", s->hosts[i].throttled);
    }
    head(f, "host_down", "gauge",
         "1 while a registry host is unreachable (waited for), else 0.");
    for (size_t i = 0; i < s->nhosts; i++) {
        host_series(f, s, "host_down", i);
        fprintf(f, "%d\n", s->hosts[i].down_since ? 1 : 0);
    }
    return ferror(f) ? -1 : 0;
}

int it_metrics_write(const char *path, const it_metrics_sample *s,
                     it_errbuf *err)
{
    char tmp[4096];
    int rc = -1;
    FILE *f = NULL;
    if (snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= (int)sizeof(tmp)) {
        it_set_err(err, "--metrics-file %.900s: path too long", path);
        return -1;
    }
    int fd = mkstemp(tmp);
    if (fd < 0) {
        it_set_err(err, "--metrics-file %.900s: %s", tmp, strerror(errno));
        return -1;
    }
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 || fchmod(fd, 0644) != 0 ||
        !(f = fdopen(fd, "w"))) {
        it_set_err(err, "--metrics-file %.900s: %s", tmp, strerror(errno));
        close(fd);
        goto out;
    }
    if (it_metrics_format(f, s) != 0 || fflush(f) != 0) {
        it_set_err(err, "--metrics-file %.900s: %s", tmp, strerror(errno));
        fclose(f);
        goto out;
    }
    if (fclose(f) != 0) {
        it_set_err(err, "--metrics-file %.900s: %s", tmp, strerror(errno));
        goto out;
    }
    if (rename(tmp, path) != 0) {
        it_set_err(err, "--metrics-file %.900s: %s", path, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    if (rc != 0)
        unlink(tmp);
    return rc;
}

/* ------------------------------------------------------- the writer */

struct it_metrics {
    char *path, *mode, *shard;
    char *run; /* the run label: the file's name without ".prom" */
    bool dry_run;
    double interval_s;
    double start_time;
    it_progress *progress;
    it_engine *engine; /* NULL until it_metrics_start */
    /* kept by the subscriber */
    atomic_long images[IT_STATUS_PENDING + 1];
    atomic_long images_listed;
    atomic_long blobs[IT_BLOB_SKIPPED + 1];
    atomic_llong transferred, copied;
    _Atomic double last_progress;
    /* the thread */
    pthread_mutex_t lock;
    pthread_cond_t cv;
    bool stop, running;
    pthread_t thread;
    bool failed;         /* a write failed: said once in the log */
    it_errbuf write_err; /* the first failure (under lock) */
};

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void count_status(it_metrics *m, it_image_status st)
{
    if ((int)st >= 0 && st <= IT_STATUS_PENDING)
        atomic_fetch_add(&m->images[st], 1);
}

/* Mirrors the results subscriber (engine_results.c): one count per
 * result row, at its final status. */
void it_metrics_on_event(void *payload, const it_event *ev)
{
    it_metrics *m = payload;
    bool progress = false;
    switch (ev->kind) {
    case IT_EV_IMAGE_ADDED:
        atomic_fetch_add(&m->images_listed, 1);
        break;
    case IT_EV_IMAGE_FINISHED:
        if (!ev->will_retry) {
            count_status(m, ev->status);
            progress = true;
        }
        break;
    case IT_EV_REPO_LISTED:
        if (ev->status != IT_STATUS_COPIED)
            count_status(m, ev->status);
        break;
    case IT_EV_REPO_FAILED:
    case IT_EV_PAIR_FAILED:
        count_status(m, ev->status);
        break;
    case IT_EV_BLOB_DONE:
        if ((int)ev->outcome >= 0 && ev->outcome <= IT_BLOB_SKIPPED)
            atomic_fetch_add(&m->blobs[ev->outcome], 1);
        progress = true;
        break;
    case IT_EV_BYTES:
        if (ev->bytes > 0) {
            long long old = atomic_load(&m->transferred);
            while (!atomic_compare_exchange_weak(&m->transferred, &old,
                                                 it_add_sat(old, ev->bytes)))
                ;
            progress = true;
        }
        atomic_fetch_add(&m->copied, ev->bytes);
        break;
    default:
        break;
    }
    if (progress)
        atomic_store(&m->last_progress, wall_now());
}

/* Fills s from the counters (hosts: a malloc'd copy, or none). */
static void sample(it_metrics *m, it_metrics_sample *s)
{
    memset(s, 0, sizeof(*s));
    s->run = m->run;
    s->mode = m->mode;
    s->shard = m->shard;
    s->dry_run = m->dry_run;
    s->phase = IT_PHASE_DISCOVERING;
    it_snapshot_filter flt = {.no_rows = true};
    it_snapshot *snap =
        m->progress ? it_progress_snapshot(m->progress, &flt) : NULL;
    if (snap)
        s->phase = snap->phase;
    it_snapshot_free(snap);
    for (int i = 0; i <= IT_STATUS_PENDING; i++)
        s->images[i] = atomic_load(&m->images[i]);
    s->images_listed = atomic_load(&m->images_listed);
    for (int i = 0; i <= IT_BLOB_SKIPPED; i++)
        s->blobs[i] = atomic_load(&m->blobs[i]);
    s->transferred_bytes = atomic_load(&m->transferred);
    s->copied_bytes = atomic_load(&m->copied);
    s->start_time = m->start_time;
    double lp = atomic_load(&m->last_progress);
    s->last_progress_time = lp > 0 ? lp : m->start_time;
    if (m->engine)
        s->hosts = it_engine_host_stats(m->engine, &s->nhosts);
}

/* One write; a failure is kept for it_metrics_finish and said once. */
static int write_now(it_metrics *m, it_metrics_sample *s)
{
    it_errbuf err = {{0}};
    int rc = it_metrics_write(m->path, s, &err);
    free((void *)s->hosts);
    s->hosts = NULL;
    if (rc != 0) {
        pthread_mutex_lock(&m->lock);
        bool first = !m->failed;
        if (first)
            m->write_err = err;
        m->failed = true;
        pthread_mutex_unlock(&m->lock);
        if (first)
            log_warn("%s", err.msg);
    }
    return rc;
}

static void *writer_thread(void *arg)
{
    it_metrics *m = arg;
    pthread_mutex_lock(&m->lock);
    while (!m->stop) {
        struct timespec ts = it_deadline(m->interval_s);
        while (!m->stop && pthread_cond_timedwait(&m->cv, &m->lock, &ts) == 0)
            ;
        if (m->stop)
            break;
        pthread_mutex_unlock(&m->lock);
        it_metrics_sample s;
        sample(m, &s);
        write_now(m, &s);
        pthread_mutex_lock(&m->lock);
    }
    pthread_mutex_unlock(&m->lock);
    return NULL;
}

/* The run label of a metrics file: its name without the directory and
 * without ".prom" (malloc'd; NULL when out of memory). */
static char *run_label(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    if (n > 5 && strcmp(base + n - 5, ".prom") == 0)
        n -= 5;
    return strndup(base, n);
}

int it_metrics_open(it_metrics **out, const it_metrics_opts *o, it_errbuf *err)
{
    *out = NULL;
    it_metrics *m = calloc(1, sizeof(*m));
    if (!m) {
        it_set_err(err, "out of memory");
        return -1;
    }
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->cv, NULL);
    m->path = it_strdup0(o->path);
    m->mode = it_strdup0(o->mode ? o->mode : "");
    m->run = run_label(o->path);
    m->shard = it_strdup0(o->shard ? o->shard : "");
    m->dry_run = o->dry_run;
    m->interval_s = o->interval_s > 0 ? o->interval_s : 5;
    m->start_time = (double)o->started;
    m->progress = o->progress;
    if (!m->path || !m->mode || !m->shard || !m->run) {
        it_set_err(err, "out of memory");
        it_metrics_free(m);
        return -1;
    }
    it_metrics_sample s;
    sample(m, &s);
    if (it_metrics_write(m->path, &s, err) != 0) {
        it_metrics_free(m);
        return -1;
    }
    *out = m;
    return 0;
}

int it_metrics_start(it_metrics *m, it_engine *e)
{
    m->engine = e;
    m->running = pthread_create(&m->thread, NULL, writer_thread, m) == 0;
    return m->running ? 0 : -1;
}

static void stop_thread(it_metrics *m)
{
    if (!m->running)
        return;
    pthread_mutex_lock(&m->lock);
    m->stop = true;
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->lock);
    pthread_join(m->thread, NULL);
    m->running = false;
}

int it_metrics_finish(it_metrics *m, const it_engine_stats *final,
                      it_errbuf *err)
{
    stop_thread(m);
    it_metrics_sample s;
    sample(m, &s);
    if (final) {
        s.images[IT_STATUS_COPIED] = final->images_copied;
        s.images[IT_STATUS_SKIPPED] = final->images_skipped;
        s.images[IT_STATUS_FAILED] = final->images_failed;
        s.images[IT_STATUS_PLANNED] = final->images_planned;
        s.images[IT_STATUS_PENDING] = final->images_pending;
        s.blobs[IT_BLOB_COPIED] = final->blobs_copied;
        s.blobs[IT_BLOB_MOUNTED] = final->blobs_mounted;
        s.blobs[IT_BLOB_SKIPPED] = final->blobs_skipped;
        s.copied_bytes = final->bytes_copied;
    }
    int rc = write_now(m, &s);
    if (m->failed) {
        *err = m->write_err;
        rc = -1;
    }
    return rc;
}

void it_metrics_free(it_metrics *m)
{
    if (!m)
        return;
    stop_thread(m);
    pthread_mutex_destroy(&m->lock);
    pthread_cond_destroy(&m->cv);
    free(m->path);
    free(m->mode);
    free(m->shard);
    free(m->run);
    free(m);
}
