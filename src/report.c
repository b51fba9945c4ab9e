/* report.c - the JSON report, streamed (see report.h). */
#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static json_t *summary_counts(const it_engine_stats *s);

struct it_report {
    pthread_mutex_t lock;
    FILE *f;
    char *path;
    char tmp[4096];
    size_t n;      /* entries written */
    int write_err; /* errno of the first failed write, 0 = none */
    json_t *repos; /* tag filters (issue 14): per filtered repository */
    json_t *hosts; /* issue 15: the "hosts" array, NULL = none */
};

static void iso8601(char out[32], time_t t)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

json_t *it_report_str(const char *s)
{
    if (!s)
        return json_null();
    char *clean = it_sanitize_dup(s);
    json_t *j = clean ? json_string(clean) : NULL;
    free(clean);
    return j ? j : json_null();
}

/* The tags each filter left out (issue 14), as {regex, exclude, semver,
 * latest}. */
static json_t *filtered_json(const it_filter_counts *c)
{
    return json_pack("{s:I,s:I,s:I,s:I}", "regex", (json_int_t)c->regex,
                     "exclude", (json_int_t)c->exclude, "semver",
                     (json_int_t)c->semver, "latest", (json_int_t)c->latest);
}

json_t *it_report_summary(const it_engine_stats *s)
{
    json_t *j = summary_counts(s);
    /* issue 13: referrers (signatures, SBOMs, ...) */
    if (j && (json_object_set_new(j, "referrers_copied",
                                  json_integer(s->referrers_copied)) ||
              json_object_set_new(j, "referrers_skipped",
                                  json_integer(s->referrers_skipped)))) {
        json_decref(j);
        return NULL;
    }
    /* whole namespaces and --prune (14C): only when they did something */
    if (j && s->repos_found)
        json_object_set_new(j, "repositories_found",
                            json_integer(s->repos_found));
    if (j && (s->tags_pruned || s->tags_prune_planned || s->tags_not_pruned)) {
        json_object_set_new(j, "tags_pruned", json_integer(s->tags_pruned));
        json_object_set_new(j, "tags_prune_planned",
                            json_integer(s->tags_prune_planned));
        json_object_set_new(j, "tags_not_pruned",
                            json_integer(s->tags_not_pruned));
    }
    /* issue 14, platforms: only when a filter did something */
    if (j && (s->images_platform_filtered || s->images_platform_skipped)) {
        json_object_set_new(
            j, "images_platform_filtered",
            json_integer((json_int_t)s->images_platform_filtered));
        json_object_set_new(
            j, "images_platform_skipped",
            json_integer((json_int_t)s->images_platform_skipped));
    }
    /* --verify (issue 13): the count of each verdict */
    if (j && s->verify &&
        json_object_set_new(
            j, "verify",
            json_pack("{s:s,s:I,s:I,s:I,s:I,s:I}", "depth",
                      s->verify > 1 ? "deep" : "shallow", "identical",
                      (json_int_t)s->verify_identical, "missing",
                      (json_int_t)s->verify_missing, "different",
                      (json_int_t)s->verify_different, "incomplete",
                      (json_int_t)s->verify_incomplete, "errors",
                      (json_int_t)s->verify_errors)) != 0) {
        json_decref(j);
        return NULL;
    }
    const it_filter_counts *c = &s->filtered;
    /* only when a filter left something out: the summary of a run
     * without filters keeps its shape */
    if (j && (c->regex || c->exclude || c->semver || c->latest))
        json_object_set_new(j, "tags_filtered", filtered_json(c));
    return j;
}

void it_report_add_filtered(it_report *r, const char *source,
                            const char *target, const it_filter_counts *c,
                            const char *order)
{
    json_t *o = json_pack("{s:o,s:o,s:o,s:o}", "source", it_report_str(source),
                          "target", it_report_str(target), "order",
                          order ? json_string(order) : json_null(), "filtered",
                          filtered_json(c));
    pthread_mutex_lock(&r->lock);
    if (!r->repos)
        r->repos = json_array();
    if (!o || !r->repos || json_array_append(r->repos, o) != 0)
        if (!r->write_err)
            r->write_err = ENOMEM;
    pthread_mutex_unlock(&r->lock);
    json_decref(o);
}

static json_t *summary_counts(const it_engine_stats *s)
{
    return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
                     "images_total", (json_int_t)s->images_total,
                     "images_copied", (json_int_t)s->images_copied,
                     "images_skipped", (json_int_t)s->images_skipped,
                     "images_failed", (json_int_t)s->images_failed,
                     "images_planned", (json_int_t)s->images_planned,
                     "images_pending", (json_int_t)s->images_pending,
                     "blobs_copied", (json_int_t)s->blobs_copied,
                     "blobs_mounted", (json_int_t)s->blobs_mounted,
                     "blobs_skipped", (json_int_t)s->blobs_skipped,
                     "bytes_copied", (json_int_t)s->bytes_copied);
}

/* --verify (issue 13): the entry's status is the verdict, with both
 * digests and, for incomplete, what is absent. Returns 0 or -1 (OOM). */
static int add_verify(json_t *o, const it_image_result *res)
{
    json_t *missing = json_array();
    for (size_t i = 0; missing && i < res->nmissing; i++)
        if (json_array_append_new(missing, it_report_str(res->missing[i])))
            break;
    int rc =
        !missing ||
        json_object_set_new(o, "status",
                            json_string(it_verify_status_name(res->verify))) !=
            0 ||
        json_object_set_new(o, "source_digest", it_report_str(res->digest)) !=
            0 ||
        json_object_set_new(o, "target_digest",
                            it_report_str(res->target_digest)) != 0;
    if (!rc && res->verify == IT_VERIFY_INCOMPLETE) {
        rc = json_object_set_new(o, "missing", missing) != 0;
        missing = NULL;
    }
    json_decref(missing);
    return rc ? -1 : 0;
}

/* Writes the compact JSON of v after `prefix`; remembers a failure. */
static void put_json(it_report *r, const char *prefix, json_t *v)
{
    if (!v) {
        if (!r->write_err)
            r->write_err = ENOMEM;
        return;
    }
    if (fputs(prefix, r->f) == EOF ||
        json_dumpf(v, r->f, JSON_COMPACT | JSON_ENCODE_ANY) != 0)
        if (!r->write_err)
            r->write_err = errno ? errno : EIO;
}

int it_report_open(it_report **out, const char *path, const char *mode,
                   const it_shard *shard, time_t started, it_errbuf *err)
{
    *out = NULL;
    it_report *r = calloc(1, sizeof(*r));
    if (!r || !(r->path = strdup(path))) {
        free(r);
        snprintf(err->msg, sizeof(err->msg), "report: out of memory");
        return -1;
    }
    pthread_mutex_init(&r->lock, NULL);
    /* A fresh file of our own next to the report (mode 0600, O_EXCL), never
     * a name someone could have planted a symbolic link at; renamed over
     * the report at the end. */
    if (snprintf(r->tmp, sizeof(r->tmp), "%s.tmp.XXXXXX", path) >=
        (int)sizeof(r->tmp)) {
        snprintf(err->msg, sizeof(err->msg), "report %.900s: path too long",
                 path);
        r->tmp[0] = '\0';
        goto fail;
    }
    int fd = mkstemp(r->tmp);
    if (fd < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 ||
        !(r->f = fdopen(fd, "w"))) {
        snprintf(err->msg, sizeof(err->msg), "report %.900s: %s", r->tmp,
                 strerror(errno));
        if (fd >= 0)
            close(fd);
        if (fd < 0)
            r->tmp[0] = '\0';
        goto fail;
    }
    char t0[32];
    iso8601(t0, started);
    json_t *m = json_string(mode);
    put_json(r, "{\n  \"version\": 1,\n  \"mode\": ", m);
    json_decref(m);
    if (shard && shard->count > 0) {
        json_t *sh = json_pack("{s:i,s:i}", "index", (int)shard->index, "count",
                               (int)shard->count);
        put_json(r, ",\n  \"shard\": ", sh);
        json_decref(sh);
    }
    fprintf(r->f, ",\n  \"started\": \"%s\",\n  \"images\": [", t0);
    if (r->write_err) {
        snprintf(err->msg, sizeof(err->msg), "report %.900s: %s", r->tmp,
                 strerror(r->write_err));
        goto fail;
    }
    *out = r;
    return 0;
fail:
    it_report_abort(r);
    return -1;
}

/* issue 14, platforms: with a filter, what the target tag got and the
 * platforms copied (`filtered`: fewer than the source had). */
static void add_platforms(json_t *o, const it_image_result *res)
{
    if (!o || !res->target_digest)
        return;
    json_t *list = json_array();
    const char *p = res->platforms ? res->platforms : "";
    while (list && *p) {
        size_t n = strcspn(p, ",");
        char *one = strndup(p, n);
        if (one)
            json_array_append_new(list, it_report_str(one));
        free(one);
        p += n + (p[n] == ',');
    }
    json_object_set_new(o, "target_digest", it_report_str(res->target_digest));
    json_object_set_new(o, "platforms", list ? list : json_null());
    json_object_set_new(
        o, "filtered",
        json_boolean(res->platform_state == IT_PLATFORM_FILTERED));
}

void it_report_add(it_report *r, const it_image_result *res)
{
    /* Names, digests and errors come from registries, the cloud API and
     * files: redacted and escaped like everything shown. */
    json_t *o = json_pack(
        "{s:o,s:o,s:o,s:s,s:I,s:o}", "source",
        it_report_str(res->source ? res->source : ""), "target",
        it_report_str(res->target ? res->target : ""), "digest",
        it_report_str(res->digest), "status", it_image_status_name(res->status),
        "bytes", (json_int_t)res->bytes, "error", it_report_str(res->error));
    /* issue 13: the image's referrers, when it had any */
    if (o && (res->referrers_copied || res->referrers_skipped)) {
        json_t *rf =
            json_pack("{s:I,s:I}", "copied", (json_int_t)res->referrers_copied,
                      "skipped", (json_int_t)res->referrers_skipped);
        if (!rf || json_object_set_new(o, "referrers", rf)) {
            json_decref(o);
            o = NULL;
        }
    }
    add_platforms(o, res); /* issue 14 */
    if (o && res->verify != IT_VERIFY_NONE && add_verify(o, res) != 0) {
        json_decref(o);
        o = NULL; /* put_json remembers ENOMEM */
    }
    pthread_mutex_lock(&r->lock);
    put_json(r, r->n++ ? ",\n    " : "\n    ", o);
    pthread_mutex_unlock(&r->lock);
    json_decref(o);
}

int it_report_finish(it_report *r, time_t finished, const it_engine_stats *s,
                     bool interrupted, it_errbuf *err)
{
    char t1[32];
    iso8601(t1, finished);
    json_t *summary = it_report_summary(s);
    pthread_mutex_lock(&r->lock);
    fprintf(r->f, "%s],\n  \"finished\": \"%s\",\n  \"interrupted\": %s,\n",
            r->n ? "\n  " : "", t1, interrupted ? "true" : "false");
    /* tag filters (issue 14): what each left out, per repository */
    if (r->repos) {
        fputs("  \"repositories\": ", r->f);
        if (json_dumpf(r->repos, r->f, JSON_COMPACT) != 0 && !r->write_err)
            r->write_err = errno ? errno : EIO;
        fputs(",\n", r->f);
    }
    fputs("  \"summary\": ", r->f);
    put_json(r, "", summary);
    if (r->hosts) /* issue 15 */
        put_json(r, ",\n  \"hosts\": ", r->hosts);
    json_decref(summary);
    if (fputs("\n}\n", r->f) == EOF && !r->write_err)
        r->write_err = errno ? errno : EIO;
    if ((fflush(r->f) != 0 || fsync(fileno(r->f)) != 0) && !r->write_err)
        r->write_err = errno ? errno : EIO;
    pthread_mutex_unlock(&r->lock);
    int rc = -1;
    FILE *f = r->f;
    r->f = NULL;
    if (fclose(f) != 0 && !r->write_err)
        r->write_err = errno ? errno : EIO;
    if (r->write_err) {
        snprintf(err->msg, sizeof(err->msg), "report %.900s: %s", r->tmp,
                 strerror(r->write_err));
    } else if (rename(r->tmp, r->path) != 0) {
        snprintf(err->msg, sizeof(err->msg), "report %.900s: %s", r->path,
                 strerror(errno));
    } else {
        r->tmp[0] = '\0'; /* it is the report now */
        rc = 0;
    }
    it_report_abort(r);
    return rc;
}

void it_report_abort(it_report *r)
{
    if (!r)
        return;
    if (r->f)
        fclose(r->f);
    if (r->tmp[0])
        unlink(r->tmp);
    pthread_mutex_destroy(&r->lock);
    json_decref(r->repos);
    json_decref(r->hosts);
    free(r->path);
    free(r);
}

void it_report_hosts(it_report *r, const it_host_stats *h, size_t n)
{
    if (!r)
        return;
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        long requests = 0;
        for (int c = 0; c < IT_HTTP_NCLASS; c++)
            requests += h[i].requests[c];
        json_t *o = json_object();
        json_object_set_new(o, "host", it_report_str(h[i].host));
        json_object_set_new(o, "requests", json_integer(requests));
        json_object_set_new(o, "retries", json_integer(h[i].retries));
        json_object_set_new(o, "limit_in_flight",
                            json_integer(h[i].limit_in_flight));
        json_object_set_new(o, "limit_rps", json_real(h[i].limit_rps));
        json_object_set_new(o, "throttled", json_integer(h[i].throttled));
        json_array_append_new(a, o);
    }
    pthread_mutex_lock(&r->lock);
    json_decref(r->hosts);
    r->hosts = a;
    pthread_mutex_unlock(&r->lock);
}

int it_report_write(const char *path, const char *mode, const it_shard *shard,
                    time_t started, time_t finished, const it_engine_stats *s,
                    const it_image_result *results, size_t n, bool interrupted,
                    it_errbuf *err)
{
    it_report *r = NULL;
    if (it_report_open(&r, path, mode, shard, started, err) != 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        it_report_add(r, &results[i]);
    return it_report_finish(r, finished, s, interrupted, err);
}
