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
        it_journal_image(j, ev->source, ev->digest, ev->target);
        break;
    case IT_EV_IMAGE_FINISHED:
        if (ev->status == IT_STATUS_COPIED)
            it_journal_image(j, ev->source, ev->digest, ev->target);
        break;
    default:
        break;
    }
}

/* ----------------------------------------------------------- progress */

static void progress_image_finished(it_progress *p, const it_event *ev)
{
    switch (ev->status) {
    case IT_STATUS_FAILED:
        it_progress_image_state(p, ev->image, IT_IMG_FAILED, ev->digest,
                                ev->text);
        break;
    case IT_STATUS_COPIED:
    case IT_STATUS_PLANNED:
        it_progress_image_state(p, ev->image, IT_IMG_COPIED, ev->digest,
                                ev->text);
        break;
    case IT_STATUS_SKIPPED:
        it_progress_image_state(p, ev->image, IT_IMG_SKIPPED, ev->digest,
                                ev->text);
        break;
    case IT_STATUS_PENDING:
        break; /* never started: stays pending */
    }
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

static void progress_on_event(void *payload, const it_event *ev)
{
    it_progress *p = payload;
    switch (ev->kind) {
    case IT_EV_PHASE:
        it_progress_phase(p, ev->phase);
        break;
    case IT_EV_ENUMERATED:
        it_progress_enumeration_done(p);
        break;
    case IT_EV_REPO_STATE:
        it_progress_repo_state(p, ev->repo, ev->repo_state, ev->text);
        break;
    case IT_EV_REPO_LISTED:
        it_progress_repo_tags(p, ev->repo, (int)ev->count);
        break;
    case IT_EV_REPO_FAILED:
        if (ev->status == IT_STATUS_FAILED)
            it_progress_repo_state(p, ev->repo, IT_REPO_FAILED, ev->text);
        break;
    case IT_EV_PAIR_FAILED:
        progress_pair_failed(p, ev);
        break;
    case IT_EV_IMAGE_STARTED:
        it_progress_image_state(p, ev->image, IT_IMG_COPYING, NULL, NULL);
        break;
    case IT_EV_IMAGE_EXPECT:
        it_progress_image_expect(p, ev->image, ev->bytes);
        break;
    case IT_EV_BYTES:
        it_progress_bytes(p, ev->image, ev->bytes);
        break;
    case IT_EV_BLOB_DONE:
        it_progress_blob(p, ev->outcome);
        break;
    case IT_EV_IMAGE_FINISHED:
        progress_image_finished(p, ev);
        break;
    case IT_EV_IMAGE_PRESENT:
        break;
    }
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
    switch (ev->kind) {
    case IT_EV_PHASE:
        if (ev->phase == IT_PHASE_RETRYING)
            log_info("retrying %ld failed image(s)", ev->count);
        break;
    case IT_EV_REPO_LISTED:
        if (ev->status == IT_STATUS_FAILED)
            log_error("%s -> %s: %s%s", ev->source, ev->target, ev->text,
                      ev->count ? " (the tags listed before it are copied)"
                                : "");
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
    default:
        break;
    }
}

/* ------------------------------------------------------------- set-up */

int eng_events_init(it_engine *e)
{
    size_t n = 4 + e->o.nsubscribers;
    e->subs = calloc(n, sizeof(*e->subs));
    if (!e->subs)
        return -1;
    e->subs[e->nsubs++] = (it_event_sub){eng_results_on_event, e};
    if (e->o.journal)
        e->subs[e->nsubs++] = (it_event_sub){journal_on_event, e->o.journal};
    if (e->o.progress)
        e->subs[e->nsubs++] = (it_event_sub){progress_on_event, e->o.progress};
    e->subs[e->nsubs++] = (it_event_sub){log_on_event, NULL};
    for (size_t i = 0; i < e->o.nsubscribers; i++)
        e->subs[e->nsubs++] = e->o.subscribers[i];
    e->o.subscribers = NULL; /* copied */
    return 0;
}
