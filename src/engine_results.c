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
    r->source = eng_xstrdup(src);
    r->target = eng_xstrdup(dst);
    r->status = IT_STATUS_FAILED;
out:
    pthread_mutex_unlock(&e->lock);
    if (i == ENG_NO_RESULT)
        log_error("%s -> %s: out of memory: its result is not reported", src,
                  dst);
    return i;
}

void eng_set_result(it_engine *e, size_t i, it_image_status st,
                    const char *digest, int64_t bytes, const char *error)
{
    char red[600];
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
    r->error = NULL;
    if (error) {
        it_sanitize(red, sizeof(red), error);
        r->error = strdup(red);
    }
    pthread_mutex_unlock(&e->lock);
}

void eng_image_fail(image_ctx *img, const char *prefix, const char *msg)
{
    /* The first error wins: it is the cause, later ones are fallout. */
    int expected = 0;
    if (atomic_compare_exchange_strong(&img->failed, &expected, 1)) {
        char buf[600];
        snprintf(buf, sizeof(buf), "%s%.500s", prefix, msg);
        it_engine *e = img->repo->e;
        eng_set_result(e, img->result, IT_STATUS_FAILED, img->digest,
                       atomic_load(&img->bytes), buf);
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
        it_progress_repo_state(e->o.progress, r->pid, rs, NULL);
}

void eng_image_finish(it_engine *e, image_ctx *img, it_image_status st,
                      const char *why)
{
    int64_t bytes = atomic_load(&img->bytes);
    if (st == IT_STATUS_FAILED) {
        if (!atomic_load(&img->failed))
            eng_image_fail(img, "", why ? why : "failed");
        const char *err = NULL;
        pthread_mutex_lock(&e->lock);
        err = img->result < e->nresults ? e->results[img->result].error : NULL;
        char *copy = eng_xstrdup(err);
        bool retry = img->attempt == 0 && !eng_stopping(e);
        if (retry) {
            if (e->nretry == e->capretry) {
                size_t cap = e->capretry ? e->capretry * 2 : 16;
                image_ctx **v = realloc(e->retry, cap * sizeof(*v));
                if (v) {
                    e->retry = v;
                    e->capretry = cap;
                }
            }
            if (e->nretry < e->capretry)
                e->retry[e->nretry++] = img;
            else
                retry = false;
        }
        pthread_mutex_unlock(&e->lock);
        log_error("%s -> %s: %s%s", img->src_str, img->dst_str,
                  copy ? copy : "failed",
                  retry ? " (will retry at the end)" : "");
        it_progress_image_state(e->o.progress, img->pid, IT_IMG_FAILED,
                                img->digest, copy);
        free(copy);
        eng_node_free(img->root);
        img->root = NULL;
        if (retry)
            return; /* the repo is not done until the retry pass */
    } else {
        eng_set_result(e, img->result, st, img->digest, bytes, why);
        it_progress_image_state(e->o.progress, img->pid,
                                st == IT_STATUS_COPIED    ? IT_IMG_COPIED
                                : st == IT_STATUS_PLANNED ? IT_IMG_COPIED
                                                          : IT_IMG_SKIPPED,
                                img->digest, why);
        if (st == IT_STATUS_COPIED) {
            it_journal_image(e->o.journal, img->src_str, img->digest,
                             img->dst_str);
            log_info("copied %s -> %s (%s)", img->src_str, img->dst_str,
                     img->digest);
        } else if (st == IT_STATUS_SKIPPED) {
            log_info("skipped %s -> %s: %s", img->src_str, img->dst_str,
                     why ? why : "");
        }
        eng_node_free(img->root);
        img->root = NULL;
    }
    eng_repo_image_done(e, img->repo, st);
}

void eng_repo_fail(it_engine *e, repo_ctx *r, const char *msg)
{
    size_t i = eng_add_result(e, r->src_name, r->dst_name);
    eng_set_result(e, i, IT_STATUS_FAILED, NULL, 0, msg);
    log_error("%s -> %s: %s", r->src_name, r->dst_name, msg);
    it_progress_repo_state(e->o.progress, r->pid, IT_REPO_FAILED, msg);
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
    size_t i = eng_add_result(e, source, target);
    eng_set_result(e, i, IT_STATUS_FAILED, NULL, 0, reason);
    /* Counted as one failed image, so the dashboard's totals agree with
     * the report and the exit code. */
    int pid = it_progress_repo_add(e->o.progress, source, target);
    it_progress_repo_tags(e->o.progress, pid, 1);
    int img = it_progress_image_add(e->o.progress, pid, "(all tags)");
    it_progress_image_state(e->o.progress, img, IT_IMG_FAILED, NULL, reason);
    it_progress_repo_state(e->o.progress, pid, IT_REPO_FAILED, reason);
    log_error("%s -> %s: %s", source, target, reason);
}
