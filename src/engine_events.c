/*
 * engine_events.c - the engine's one event stream: eng_emit redacts an
 * event's text once and hands the event to every subscriber in order. The
 * built-in subscribers are small adapters: the results (engine_results.c),
 * the journal, the progress model and the log (here).
 */
#include "engine_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void eng_emit(it_engine *e, it_event *ev)
{
    char text[600];
    if (ev->text) {
        /* the one redaction point for what the engine reports */
        it_sanitize(text, sizeof(text), ev->text);
        ev->text = text;
    }
    for (size_t i = 0; i < e->nsubs; i++)
        e->subs[i].fn(e->subs[i].payload, ev);
    ev->text = NULL; /* the buffer ends here */
}

/* ------------------------------------------------------------ journal */

static void journal_on_event(void *payload, const it_event *ev)
{
    it_journal *j = payload;
    switch (ev->kind) {
    case IT_EV_BLOB_DONE:
        if (ev->registry)
            it_journal_blob(j, ev->registry, ev->repo_path, ev->digest,
                            ev->size);
        break;
    case IT_EV_IMAGE_PRESENT:
    case IT_EV_IMAGE_FINISHED:
        /* --verify: a target that does not match is copied again by the
         * next run, which would otherwise trust the journal */
        if (ev->verify == IT_VERIFY_MISSING ||
            ev->verify == IT_VERIFY_DIFFERENT)
            it_journal_image_forget(j, ev->source, ev->target);
        else if (ev->verify == IT_VERIFY_INCOMPLETE)
            it_journal_image_repair(j, ev->source, ev->target);
        if (ev->kind == IT_EV_IMAGE_FINISHED && ev->status != IT_STATUS_COPIED)
            break;
        if (ev->platforms_key && ev->target_digest) {
            /* issue 14: filtered; the image record holds what the tag
             * got, so a run without the filter does not trust it */
            it_journal_image(j, ev->source, ev->target_digest, ev->target);
            it_journal_platform_image(j, ev->source, ev->target, ev->digest,
                                      ev->platforms_key, ev->target_digest,
                                      ev->platforms);
        } else {
            it_journal_image(j, ev->source, ev->digest, ev->target);
        }
        break;
    case IT_EV_IMAGE_CREATED: /* tag filters (issue 14) */
        it_journal_created_record(j, ev->registry, ev->repo_path, ev->digest,
                                  (long long)ev->size);
        break;
    default:
        break;
    }
}

/* ----------------------------------------------------------- progress */

/* The progress model's subscriber: it registers repositories and images
 * in the model as they are added and maps the engine's ids to the model's
 * (only this adapter knows the model's ids). */
typedef struct progress_sub {
    it_progress *p;
    pthread_mutex_t lock; /* the maps */
    int *repos, *images;  /* engine id -> model id, -1 = none */
    size_t nrepos, nimages, caprepos, capimages;
    it_filter_counts filtered; /* tag filters (issue 14), under lock */
} progress_sub;

/* map[id] = v, growing the map; negative ids are ignored. */
static void map_set(int **map, size_t *n, size_t *cap, int id, int v)
{
    if (id < 0)
        return;
    if ((size_t)id >= *cap) {
        size_t c = *cap ? *cap : 64;
        while (c <= (size_t)id)
            c *= 2;
        int *m = realloc(*map, c * sizeof(*m));
        if (!m)
            return; /* that row is not shown: the run goes on */
        *map = m;
        *cap = c;
    }
    while (*n <= (size_t)id)
        (*map)[(*n)++] = -1;
    (*map)[id] = v;
}

static int map_get(progress_sub *ps, bool image, int id)
{
    int v = -1;
    pthread_mutex_lock(&ps->lock);
    if (image && id >= 0 && (size_t)id < ps->nimages)
        v = ps->images[id];
    else if (!image && id >= 0 && (size_t)id < ps->nrepos)
        v = ps->repos[id];
    pthread_mutex_unlock(&ps->lock);
    return v;
}

static void progress_added(progress_sub *ps, const it_event *ev)
{
    if (ev->kind == IT_EV_REPO_ADDED) {
        int pid = it_progress_repo_add(ps->p, ev->source, ev->target);
        if (ev->count > 0)
            it_progress_repo_hint(ps->p, pid, (int)ev->count);
        if (ev->wildcard) /* 14C: counts the repositories it finds */
            it_progress_repo_wildcard(ps->p, pid);
        pthread_mutex_lock(&ps->lock);
        map_set(&ps->repos, &ps->nrepos, &ps->caprepos, ev->repo, pid);
        pthread_mutex_unlock(&ps->lock);
    } else {
        int pid =
            it_progress_image_add(ps->p, map_get(ps, false, ev->repo), ev->tag);
        pthread_mutex_lock(&ps->lock);
        map_set(&ps->images, &ps->nimages, &ps->capimages, ev->image, pid);
        pthread_mutex_unlock(&ps->lock);
    }
}

static void progress_image_finished(it_progress *p, int image,
                                    const it_event *ev)
{
    switch (ev->status) {
    case IT_STATUS_FAILED:
        it_progress_image_state(p, image, IT_IMG_FAILED, ev->digest, ev->text);
        break;
    case IT_STATUS_COPIED:
    case IT_STATUS_PLANNED:
        it_progress_image_state(p, image, IT_IMG_COPIED, ev->digest, ev->text);
        break;
    case IT_STATUS_SKIPPED:
        it_progress_image_state(p, image, IT_IMG_SKIPPED, ev->digest, ev->text);
        break;
    case IT_STATUS_PENDING:
        break; /* never started: stays pending */
    /* --prune (14C): not an image's status */
    case IT_STATUS_PRUNED:
    case IT_STATUS_PRUNE_PLANNED:
    case IT_STATUS_NOT_PRUNED:
        break;
    }
    /* issue 13 */
    if (ev->status != IT_STATUS_FAILED && (ev->ref_copied || ev->ref_skipped))
        it_progress_referrers(p, ev->ref_copied, ev->ref_skipped);
}

/* A pair added as failed counts as one failed image, so the dashboard's
 * totals agree with the report and the exit code. */
static void progress_pair_failed(it_progress *p, const it_event *ev)
{
    int pid = it_progress_repo_add(p, ev->source, ev->target);
    it_progress_repo_tags(p, pid, 1);
    int img = it_progress_image_add(p, pid, "(all tags)");
    it_progress_image_state(p, img, IT_IMG_FAILED, NULL, ev->text);
    it_progress_repo_state(p, pid, IT_REPO_FAILED, ev->text);
}

/* Tag filters (issue 14): what they left out so far, as a line under
 * the preparation lines ("Filtered   54 tags: 30 by regex, 4 by
 * exclude, 2 by semver, 18 older than the newest N"), as --ccrTagNums
 * cuts were shown. */
static void progress_filtered(progress_sub *ps, const it_filter_counts *c)
{
    char line[256];
    pthread_mutex_lock(&ps->lock);
    it_filter_counts *t = &ps->filtered;
    t->regex += c->regex;
    t->exclude += c->exclude;
    t->semver += c->semver;
    t->latest += c->latest;
    long all = t->regex + t->exclude + t->semver + t->latest;
    snprintf(line, sizeof(line),
             "%ld tags: %ld by regex, %ld by exclude, %ld by semver, %ld "
             "older than the newest N",
             all, t->regex, t->exclude, t->semver, t->latest);
    pthread_mutex_unlock(&ps->lock);
    if (all > 0)
        it_progress_prep(ps->p, "filtered", line);
}

/* Events about one repository or image. */
static void progress_item(progress_sub *ps, const it_event *ev)
{
    it_progress *p = ps->p;
    int repo = map_get(ps, false, ev->repo);
    int image = map_get(ps, true, ev->image);
    switch (ev->kind) {
    case IT_EV_REPO_STATE:
        it_progress_repo_state(p, repo, ev->repo_state, ev->text);
        break;
    case IT_EV_REPO_LISTED:
        it_progress_repo_tags(p, repo, (int)ev->count);
        if (ev->filtered && ev->status == IT_STATUS_COPIED)
            progress_filtered(ps, ev->filtered);
        break;
    case IT_EV_REPO_FAILED:
        if (ev->status == IT_STATUS_FAILED)
            it_progress_repo_state(p, repo, IT_REPO_FAILED, ev->text);
        break;
    case IT_EV_IMAGE_STARTED:
        it_progress_image_state(p, image, IT_IMG_COPYING, NULL, NULL);
        break;
    case IT_EV_IMAGE_EXPECT:
        it_progress_image_expect(p, image, ev->bytes);
        break;
    case IT_EV_BYTES:
        it_progress_bytes(p, image, ev->bytes);
        break;
    case IT_EV_IMAGE_FINISHED:
        /* issue 14: counted before the final state retires the image */
        if (!ev->will_retry &&
            (ev->status == IT_STATUS_COPIED || ev->status == IT_STATUS_SKIPPED))
            it_progress_image_platform(p, image, ev->platform_state);
        progress_image_finished(p, image, ev);
        /* An image that ended well leaves the model (its slot is reused):
         * the engine's id no longer points at it. */
        if (ev->status == IT_STATUS_COPIED || ev->status == IT_STATUS_SKIPPED ||
            ev->status == IT_STATUS_PLANNED) {
            pthread_mutex_lock(&ps->lock);
            if (ev->image >= 0 && (size_t)ev->image < ps->nimages)
                ps->images[ev->image] = -1;
            pthread_mutex_unlock(&ps->lock);
        }
        break;
    default:
        break;
    }
}

static void progress_on_event(void *payload, const it_event *ev)
{
    progress_sub *ps = payload;
    if (ev->again && ev->kind == IT_EV_IMAGE_FINISHED)
        return; /* shown before */
    switch (ev->kind) {
    case IT_EV_PHASE:
        it_progress_phase(ps->p, ev->phase);
        break;
    case IT_EV_ENUMERATED:
        it_progress_enumeration_done(ps->p);
        break;
    case IT_EV_REPO_ADDED:
    case IT_EV_IMAGE_ADDED:
        progress_added(ps, ev);
        break;
    case IT_EV_PAIR_FAILED:
        progress_pair_failed(ps->p, ev);
        break;
    case IT_EV_BLOB_DONE:
        it_progress_blob(ps->p, ev->outcome);
        break;
    case IT_EV_HOST_STATE: /* issue 15 */
        it_progress_host(ps->p, ev->registry, ev->count == 1, ev->bytes,
                         ev->size, ev->limit_in_flight, ev->limit_rps);
        break;
    default:
        progress_item(ps, ev);
        break;
    }
}

static progress_sub *progress_sub_new(it_progress *p)
{
    progress_sub *ps = calloc(1, sizeof(*ps));
    if (ps) {
        ps->p = p;
        pthread_mutex_init(&ps->lock, NULL);
    }
    return ps;
}

static void progress_sub_free(progress_sub *ps)
{
    if (!ps)
        return;
    pthread_mutex_destroy(&ps->lock);
    free(ps->repos);
    free(ps->images);
    free(ps);
}

/* ---------------------------------------------------------------- log */

static void log_image_finished(const it_event *ev)
{
    switch (ev->status) {
    case IT_STATUS_FAILED:
        log_error("%s -> %s: %s%s", ev->source, ev->target,
                  ev->text ? ev->text : "failed",
                  ev->will_retry ? " (will retry at the end)" : "");
        break;
    case IT_STATUS_COPIED:
        log_info("copied %s -> %s (%s)", ev->source, ev->target, ev->digest);
        break;
    case IT_STATUS_SKIPPED:
        if (ev->verify == IT_VERIFY_IDENTICAL) /* --verify */
            log_info("identical %s -> %s (%s)", ev->source, ev->target,
                     ev->digest);
        else
            log_info("skipped %s -> %s: %s", ev->source, ev->target,
                     ev->text ? ev->text : "");
        break;
    default:
        break;
    }
}

static void log_on_event(void *payload, const it_event *ev)
{
    (void)payload;
    if (ev->again)
        return; /* said before */
    switch (ev->kind) {
    case IT_EV_PHASE:
        if (ev->phase == IT_PHASE_RETRYING && ev->size > 0)
            log_info("retrying %ld failed image(s) and %lld failed "
                     "listing(s)",
                     ev->count, (long long)ev->size);
        else if (ev->phase == IT_PHASE_RETRYING)
            log_info("retrying %ld failed image(s)", ev->count);
        break;
    case IT_EV_REPO_LISTED:
        if (ev->status == IT_STATUS_FAILED)
            log_error("%s -> %s: %s%s%s", ev->source, ev->target, ev->text,
                      ev->count ? " (the tags listed before it are copied)"
                                : "",
                      ev->will_retry ? " (will list again at the end)" : "");
        else if (ev->status == IT_STATUS_COPIED && ev->count == 0)
            log_warn("%s: no tags to copy", ev->source);
        break;
    case IT_EV_REPO_FAILED:
    case IT_EV_PAIR_FAILED:
        if (ev->status == IT_STATUS_FAILED)
            log_error("%s -> %s: %s", ev->source, ev->target, ev->text);
        break;
    case IT_EV_IMAGE_FINISHED:
        log_image_finished(ev);
        break;
    case IT_EV_TAG_PRUNED: /* --prune (14C) */
        if (ev->status == IT_STATUS_FAILED)
            log_error("prune %s: %s", ev->target, ev->text);
        else if (ev->status == IT_STATUS_NOT_PRUNED)
            log_warn("not pruned %s: %s", ev->target, ev->text);
        else
            log_info("%s %s (the source %s no longer has it)",
                     ev->status == IT_STATUS_PRUNED ? "pruned" : "would prune",
                     ev->target, ev->source);
        break;
    case IT_EV_HOST_STATE: /* issue 15 */
        if (ev->count == 1)
            log_warn("registry %s unreachable: waiting for it (one probe "
                     "at a time)",
                     ev->registry);
        else
            log_debug("registry %s: limits %ld in flight, %.1f requests/s "
                      "(0 = no cap)",
                      ev->registry, ev->limit_in_flight, ev->limit_rps);
        break;
    default:
        break;
    }
}

/* ------------------------------------------------------------- set-up */

int eng_events_init(it_engine *e)
{
    size_t n = 4 + e->o.nsubscribers;
    e->subs = calloc(n, sizeof(*e->subs));
    if (e->subs && e->o.progress)
        e->progress_sub = progress_sub_new(e->o.progress);
    if (!e->subs || (e->o.progress && !e->progress_sub))
        return -1;
    e->subs[e->nsubs++] = (it_event_sub){eng_results_on_event, e};
    if (e->o.journal)
        e->subs[e->nsubs++] = (it_event_sub){journal_on_event, e->o.journal};
    if (e->progress_sub)
        e->subs[e->nsubs++] =
            (it_event_sub){progress_on_event, e->progress_sub};
    e->subs[e->nsubs++] = (it_event_sub){log_on_event, NULL};
    for (size_t i = 0; i < e->o.nsubscribers; i++)
        e->subs[e->nsubs++] = e->o.subscribers[i];
    e->o.subscribers = NULL; /* copied */
    return 0;
}

void eng_events_free(it_engine *e)
{
    progress_sub_free(e->progress_sub);
    e->progress_sub = NULL;
    free(e->subs);
    e->subs = NULL;
    e->nsubs = 0;
}
