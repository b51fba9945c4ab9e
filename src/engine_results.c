/*
 * engine_results.c - the outcome of each image and repository: results for the
 * report, the repository bookkeeping, and the fan-out of an image's end to the
 * progress model, the journal and the log.
 */
#include "engine_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t eng_add_result(it_engine *e, const char *src, const char *dst)
{
    size_t i = ENG_NO_RESULT;
    pthread_mutex_lock(&e->lock);
    if (e->nresults == e->capresults) {
        size_t cap = e->capresults ? e->capresults * 2 : 64;
        it_image_result *r = realloc(e->results, cap * sizeof(*r));
        if (!r)
            goto out;
        e->results = r;
        e->capresults = cap;
    }
    i = e->nresults++;
    it_image_result *r = &e->results[i];
    memset(r, 0, sizeof(*r));
    r->source = it_strdup0(src);
    r->target = it_strdup0(dst);
    r->status = IT_STATUS_FAILED;
out:
    pthread_mutex_unlock(&e->lock);
    if (i == ENG_NO_RESULT)
        log_error("%s -> %s: out of memory: its result is not reported", src,
                  dst);
    return i;
}

/* Caller: the results subscriber (text already redacted by eng_emit). */
static void set_result(it_engine *e, size_t i, it_image_status st,
                       const char *digest, int64_t bytes, const char *error)
{
    pthread_mutex_lock(&e->lock);
    if (i >= e->nresults) {
        pthread_mutex_unlock(&e->lock);
        return;
    }
    it_image_result *r = &e->results[i];
    r->status = st;
    if (digest && *digest) {
        free(r->digest);
        r->digest = strdup(digest);
    }
    r->bytes = bytes;
    free(r->error);
    r->error = it_strdup0(error);
    pthread_mutex_unlock(&e->lock);
}

/* The results subscriber: the report's rows and the blob and byte counts
 * of it_engine_stats_get. */
void eng_results_on_event(void *payload, const it_event *ev)
{
    it_engine *e = payload;
    switch (ev->kind) {
    case IT_EV_IMAGE_FINISHED:
        set_result(e, ev->result, ev->status, ev->digest, ev->bytes, ev->text);
        break;
    case IT_EV_REPO_LISTED: /* a failed or stopped listing has a row */
        if (ev->status != IT_STATUS_COPIED)
            set_result(e, eng_add_result(e, ev->source, ev->target), ev->status,
                       NULL, 0, ev->text);
        break;
    case IT_EV_REPO_FAILED:
    case IT_EV_PAIR_FAILED:
        set_result(e, eng_add_result(e, ev->source, ev->target), ev->status,
                   NULL, 0, ev->text);
        break;
    case IT_EV_BLOB_DONE:
        atomic_fetch_add(ev->outcome == IT_BLOB_COPIED    ? &e->blobs_copied
                         : ev->outcome == IT_BLOB_MOUNTED ? &e->blobs_mounted
                                                          : &e->blobs_skipped,
                         1);
        break;
    case IT_EV_BYTES:
        atomic_fetch_add(&e->bytes_copied, ev->bytes);
        break;
    default:
        break;
    }
}

void eng_image_fail(image_ctx *img, const char *prefix, const char *msg)
{
    /* The first error wins: it is the cause, later ones are fallout. */
    int expected = 0;
    if (atomic_compare_exchange_strong(&img->failed, &expected, 1)) {
        char buf[600];
        snprintf(buf, sizeof(buf), "%s%.500s", prefix, msg);
        free(img->error);
        img->error = it_strdup0(buf);
        img->fail_bytes = atomic_load(&img->bytes);
    }
}

/* When a repository is listed and every image of it is done, its final
 * state in *st; false while it is still busy. Caller holds e->lock. */
bool eng_repo_settled_locked(const repo_ctx *r, it_repo_state *st)
{
    if (r->listing || r->images_left > 0)
        return false;
    *st = (r->images_failed || r->list_failed) ? IT_REPO_FAILED
          : r->images_copied                   ? IT_REPO_DONE
                                               : IT_REPO_SKIPPED;
    return true;
}

void eng_repo_image_done(it_engine *e, repo_ctx *r, it_image_status st)
{
    it_repo_state rs;
    pthread_mutex_lock(&e->lock);
    if (st == IT_STATUS_FAILED)
        r->images_failed++;
    if (st == IT_STATUS_COPIED)
        r->images_copied++;
    r->images_left--;
    bool settled = eng_repo_settled_locked(r, &rs);
    pthread_mutex_unlock(&e->lock);
    if (settled)
        eng_emit(e, &(it_event){.kind = IT_EV_REPO_STATE,
                                .repo = r->id,
                                .repo_state = rs});
}

/* A failed image goes on the list of the final retry pass, once. */
static bool retry_later(it_engine *e, image_ctx *img)
{
    pthread_mutex_lock(&e->lock);
    bool retry = img->attempt == 0 && !eng_stopping(e);
    if (retry && e->nretry == e->capretry) {
        size_t cap = e->capretry ? e->capretry * 2 : 16;
        image_ctx **v = realloc(e->retry, cap * sizeof(*v));
        if (v) {
            e->retry = v;
            e->capretry = cap;
        }
    }
    if (retry && e->nretry < e->capretry)
        e->retry[e->nretry++] = img;
    else
        retry = false;
    pthread_mutex_unlock(&e->lock);
    return retry;
}

void eng_image_finish(it_engine *e, image_ctx *img, it_image_status st,
                      const char *why)
{
    it_event ev = {.kind = IT_EV_IMAGE_FINISHED,
                   .repo = img->repo->id,
                   .image = img->id,
                   .result = img->result,
                   .source = img->src_str,
                   .target = img->dst_str,
                   .digest = img->digest,
                   .status = st,
                   .bytes = atomic_load(&img->bytes),
                   .text = why};
    if (st == IT_STATUS_FAILED) {
        if (!atomic_load(&img->failed))
            eng_image_fail(img, "", why ? why : "failed");
        ev.text = img->error;
        ev.bytes = img->fail_bytes;
        ev.will_retry = retry_later(e, img);
    }
    eng_emit(e, &ev);
    eng_node_free(img->root);
    img->root = NULL;
    /* a failed image retried at the end: its repository is not done */
    if (!ev.will_retry)
        eng_repo_image_done(e, img->repo, st);
}

void eng_repo_fail(it_engine *e, repo_ctx *r, const char *msg)
{
    eng_emit(e, &(it_event){.kind = IT_EV_REPO_FAILED,
                            .repo = r->id,
                            .source = r->src_name,
                            .target = r->dst_name,
                            .status = IT_STATUS_FAILED,
                            .text = msg});
}

const it_image_result *it_engine_results(const it_engine *e, size_t *n)
{
    *n = e->nresults;
    return e->results;
}

void it_engine_stats_get(const it_engine *e, it_engine_stats *s)
{
    memset(s, 0, sizeof(*s));
    for (size_t i = 0; i < e->nresults; i++) {
        s->images_total++;
        switch (e->results[i].status) {
        case IT_STATUS_COPIED:
            s->images_copied++;
            break;
        case IT_STATUS_SKIPPED:
            s->images_skipped++;
            break;
        case IT_STATUS_FAILED:
            s->images_failed++;
            break;
        case IT_STATUS_PLANNED:
            s->images_planned++;
            break;
        case IT_STATUS_PENDING:
            s->images_pending++;
            break;
        }
    }
    s->blobs_copied = atomic_load(&e->blobs_copied);
    s->blobs_mounted = atomic_load(&e->blobs_mounted);
    s->blobs_skipped = atomic_load(&e->blobs_skipped);
    s->bytes_copied = atomic_load(&e->bytes_copied);
    s->http_requests = atomic_load(&e->http_requests);
}

const char *it_image_status_name(it_image_status s)
{
    switch (s) {
    case IT_STATUS_COPIED:
        return "copied";
    case IT_STATUS_SKIPPED:
        return "skipped";
    case IT_STATUS_FAILED:
        return "failed";
    case IT_STATUS_PLANNED:
        return "planned";
    case IT_STATUS_PENDING:
        return "pending";
    }
    return "unknown";
}

void it_engine_add_failed(it_engine *e, const char *source, const char *target,
                          const char *reason)
{
    eng_emit(e, &(it_event){.kind = IT_EV_PAIR_FAILED,
                            .source = source,
                            .target = target,
                            .status = IT_STATUS_FAILED,
                            .text = reason});
}
