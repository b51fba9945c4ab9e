/*
 * engine_results.c - the outcome of each image and repository: results for the
 * report, the repository bookkeeping, and the fan-out of an image's end to the
 * progress model, the journal and the log.
 */
#include "engine_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One final outcome: counted, then handed to the caller's on_result. */
static void put_result(it_engine *e, const char *src, const char *dst,
                       const char *digest, it_image_status st, int64_t bytes,
                       const char *error, const it_event *ev)
{
    /* issue 14, platforms */
    if (ev && ev->platform_state == IT_PLATFORM_FILTERED &&
        (st == IT_STATUS_COPIED || st == IT_STATUS_SKIPPED))
        atomic_fetch_add(&e->images_platform_filtered, 1);
    if (ev && ev->platform_state == IT_PLATFORM_NO_MATCH)
        atomic_fetch_add(&e->images_platform_skipped, 1);
    atomic_fetch_add(&e->images_by_status[st], 1);
    long ref_copied = ev ? ev->ref_copied : 0;
    long ref_skipped = ev ? ev->ref_skipped : 0;
    atomic_fetch_add(&e->referrers_copied, ref_copied);
    atomic_fetch_add(&e->referrers_skipped, ref_skipped);
    /* --verify: every result has a verdict (a listing that failed is an
     * error; one never started has none) */
    it_verify_status vs = ev ? ev->verify : IT_VERIFY_NONE;
    if (e->o.verify && vs == IT_VERIFY_NONE && st == IT_STATUS_FAILED)
        vs = IT_VERIFY_ERROR;
    if (e->o.verify && vs != IT_VERIFY_NONE)
        atomic_fetch_add(&e->verify_by_status[vs], 1);
    if (st == IT_STATUS_PLANNED)
        eng_add_sat(&e->bytes_planned, bytes);
    if (!e->o.on_result)
        return;
    it_image_result r = {.source = src ? src : "",
                         .target = dst ? dst : "",
                         .digest = digest && *digest ? digest : NULL,
                         .status = st,
                         .bytes = bytes,
                         .error = error,
                         .referrers_copied = ref_copied,
                         .referrers_skipped = ref_skipped,
                         .verify = vs};
    if (ev) { /* issue 14, platforms */
        r.target_digest = ev->target_digest;
        r.platforms = ev->platforms;
        r.platform_state = ev->platform_state;
        r.missing = ev->missing;
        r.nmissing = ev->nmissing;
    }
    e->o.on_result(e->o.result_payload, &r);
}

/* The results subscriber: the final outcomes (handed on at once, kept
 * nowhere) and the blob and byte counts of it_engine_stats_get. */
void eng_results_on_event(void *payload, const it_event *ev)
{
    it_engine *e = payload;
    switch (ev->kind) {
    case IT_EV_IMAGE_FINISHED:
        /* a failure retried at the end is not final yet */
        if (!ev->will_retry)
            put_result(e, ev->source, ev->target, ev->digest, ev->status,
                       ev->bytes, ev->text, ev);
        break;
    case IT_EV_REPO_LISTED: /* a failed or stopped listing has a row */
        if (ev->status != IT_STATUS_COPIED && !ev->will_retry)
            put_result(e, ev->source, ev->target, NULL, ev->status, 0, ev->text,
                       NULL);
        if (ev->filtered && ev->status == IT_STATUS_COPIED) {
            atomic_fetch_add(&e->filtered_regex, ev->filtered->regex);
            atomic_fetch_add(&e->filtered_exclude, ev->filtered->exclude);
            atomic_fetch_add(&e->filtered_semver, ev->filtered->semver);
            atomic_fetch_add(&e->filtered_latest, ev->filtered->latest);
            if (e->o.on_filtered)
                e->o.on_filtered(e->o.result_payload, ev->source, ev->target,
                                 ev->filtered, ev->order);
        }
        break;
    case IT_EV_REPO_FAILED:
    case IT_EV_PAIR_FAILED:
        put_result(e, ev->source, ev->target, NULL, ev->status, 0, ev->text,
                   NULL);
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
    case IT_EV_TAG_PRUNED: /* --prune (14C) */
        if (ev->status == IT_STATUS_FAILED) {
            put_result(e, ev->source, ev->target, ev->digest, ev->status, 0,
                       ev->text, NULL);
            break;
        }
        atomic_fetch_add(ev->status == IT_STATUS_PRUNED ? &e->tags_pruned
                         : ev->status == IT_STATUS_PRUNE_PLANNED
                             ? &e->tags_prune_planned
                             : &e->tags_not_pruned,
                         1);
        if (e->o.on_result)
            e->o.on_result(e->o.result_payload,
                           &(it_image_result){.source = ev->source,
                                              .target = ev->target,
                                              .digest = ev->digest,
                                              .status = ev->status,
                                              .error = ev->text});
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

void eng_repo_settled(it_engine *e, repo_ctx *r, it_repo_state rs,
                      const char *why)
{
    if (r->prune_ready) /* --prune (14C): once every image of r ended */
        eng_prune_repo(e, r);
    eng_emit(e, &(it_event){.kind = IT_EV_REPO_STATE,
                            .repo = r->id,
                            .repo_state = rs,
                            .text = why});
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
        eng_repo_settled(e, r, rs, NULL);
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
                   .source = img->src_str,
                   .target = img->dst_str,
                   .digest = img->digest,
                   .status = st,
                   .bytes = atomic_load(&img->bytes),
                   .text = why,
                   .ref_copied = atomic_load(&img->ref_copied),
                   .ref_skipped = atomic_load(&img->ref_skipped),
                   /* issue 14, platforms */
                   .target_digest = img->target_digest[0] ? img->target_digest
                                    : img->dst_digest[0]  ? img->dst_digest
                                                          : NULL,
                   .platforms = img->platforms,
                   .platforms_key = img->repo->platforms_key,
                   .platform_state = img->platform_state,
                   /* --verify: the verdict */
                   .verify = img->verify,
                   .missing = (const char *const *)img->missing,
                   .nmissing = img->nmissing};
    if (st == IT_STATUS_FAILED) {
        if (!atomic_load(&img->failed))
            eng_image_fail(img, "", why ? why : "failed");
        ev.text = img->error;
        ev.bytes = img->fail_bytes;
        /* a verdict other than error is final: checked again, the same */
        ev.will_retry =
            (img->verify == IT_VERIFY_NONE || img->verify == IT_VERIFY_ERROR) &&
            retry_later(e, img);
    }
    eng_emit(e, &ev);
    eng_node_free(img->root);
    img->root = NULL;
    /* a failed image retried at the end: its repository is not done */
    if (!ev.will_retry) {
        eng_repo_image_done(e, img->repo, st);
        eng_image_done_free(e, img);
    }
}

void eng_repo_unref(it_engine *e, repo_ctx *r, bool locked)
{
    if (!locked)
        pthread_mutex_lock(&e->lock);
    bool last = --r->refs == 0;
    if (last)
        e->live_repos--;
    if (!locked)
        pthread_mutex_unlock(&e->lock);
    if (last)
        eng_repo_free(r);
}

void eng_image_done_free_locked(it_engine *e, image_ctx *img)
{
    e->live_images--;
    eng_repo_unref(e, img->repo, true);
    eng_image_free(img);
}

void eng_image_done_free(it_engine *e, image_ctx *img)
{
    pthread_mutex_lock(&e->lock);
    eng_image_done_free_locked(e, img);
    pthread_mutex_unlock(&e->lock);
}

void eng_image_final_failure(it_engine *e, image_ctx *img)
{
    eng_emit(e,
             &(it_event){.kind = IT_EV_IMAGE_FINISHED,
                         .repo = img->repo->id,
                         .image = img->id,
                         .source = img->src_str,
                         .target = img->dst_str,
                         .digest = img->digest,
                         .status = IT_STATUS_FAILED,
                         .bytes = img->fail_bytes,
                         .again = true,
                         .verify = img->verify,
                         .text = img->last_error ? img->last_error : "failed"});
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

void it_engine_stats_get(const it_engine *e, it_engine_stats *s)
{
    memset(s, 0, sizeof(*s));
    s->images_copied = atomic_load(&e->images_by_status[IT_STATUS_COPIED]);
    s->images_skipped = atomic_load(&e->images_by_status[IT_STATUS_SKIPPED]);
    s->images_failed = atomic_load(&e->images_by_status[IT_STATUS_FAILED]);
    s->images_planned = atomic_load(&e->images_by_status[IT_STATUS_PLANNED]);
    s->images_pending = atomic_load(&e->images_by_status[IT_STATUS_PENDING]);
    s->images_total = s->images_copied + s->images_skipped + s->images_failed +
                      s->images_planned + s->images_pending;
    s->bytes_planned = atomic_load(&e->bytes_planned);
    s->blobs_copied = atomic_load(&e->blobs_copied);
    s->blobs_mounted = atomic_load(&e->blobs_mounted);
    s->blobs_skipped = atomic_load(&e->blobs_skipped);
    s->referrers_copied = atomic_load(&e->referrers_copied);
    s->referrers_skipped = atomic_load(&e->referrers_skipped);
    s->bytes_copied = atomic_load(&e->bytes_copied);
    s->http_requests = atomic_load(&e->http_requests);
    s->repos_found = atomic_load(&e->repos_found); /* 14C */
    s->tags_pruned = atomic_load(&e->tags_pruned);
    s->tags_prune_planned = atomic_load(&e->tags_prune_planned);
    s->tags_not_pruned = atomic_load(&e->tags_not_pruned);
    /* issue 14, platforms */
    s->images_platform_filtered = atomic_load(&e->images_platform_filtered);
    s->images_platform_skipped = atomic_load(&e->images_platform_skipped);
    s->filtered.regex = atomic_load(&e->filtered_regex);
    s->filtered.exclude = atomic_load(&e->filtered_exclude);
    s->filtered.semver = atomic_load(&e->filtered_semver);
    s->filtered.latest = atomic_load(&e->filtered_latest);
    s->verify = e->o.verify;
    s->verify_identical =
        atomic_load(&e->verify_by_status[IT_VERIFY_IDENTICAL]);
    s->verify_missing = atomic_load(&e->verify_by_status[IT_VERIFY_MISSING]);
    s->verify_different =
        atomic_load(&e->verify_by_status[IT_VERIFY_DIFFERENT]);
    s->verify_incomplete =
        atomic_load(&e->verify_by_status[IT_VERIFY_INCOMPLETE]);
    s->verify_errors = atomic_load(&e->verify_by_status[IT_VERIFY_ERROR]);
}

void it_engine_live(it_engine *e, long *repos, long *images)
{
    pthread_mutex_lock(&e->lock);
    *repos = e->live_repos;
    *images = e->live_images;
    pthread_mutex_unlock(&e->lock);
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
    case IT_STATUS_PRUNED: /* --prune (14C) */
        return "pruned";
    case IT_STATUS_PRUNE_PLANNED:
        return "prune-planned";
    case IT_STATUS_NOT_PRUNED:
        return "not-pruned";
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
