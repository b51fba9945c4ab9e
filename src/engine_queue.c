/*
 * engine_queue.c - the task queue (four priority levels, deepest work first)
 * and the worker threads; the final retry pass is started here when the queue
 * runs dry.
 */
#include "engine_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void eng_push_locked(it_engine *e, task *t, bool count)
{
    t->next = NULL;
    if (e->tail[t->kind])
        e->tail[t->kind]->next = t;
    else
        e->head[t->kind] = t;
    e->tail[t->kind] = t;
    e->nqueued[t->kind]++;
    if (count)
        e->outstanding++;
    pthread_cond_signal(&e->cond);
}

void eng_enqueue(it_engine *e, task *t, task_kind kind, void *obj, size_t idx)
{
    t->kind = kind;
    t->obj = obj;
    t->idx = idx;
    pthread_mutex_lock(&e->lock);
    eng_push_locked(e, t, true);
    pthread_mutex_unlock(&e->lock);
}

static task *take_locked(it_engine *e, int k)
{
    task *t = e->head[k];
    if (t) {
        e->head[k] = t->next;
        if (!e->head[k])
            e->tail[k] = NULL;
        e->nqueued[k]--;
    }
    return t;
}

/* Deepest work first (bytes move early, memory stays small), except that
 * listing runs ahead while few images wait (ENG_LOOKAHEAD_IMAGES), in at
 * most half of the workers, so the first images start at once. */
static task *pop_locked(it_engine *e)
{
    int listers = e->nthreads > 1 ? e->nthreads / 2 : 1;
    if (e->head[T_REPO] && e->nqueued[T_IMAGE] < ENG_LOOKAHEAD_IMAGES &&
        (e->listing_now < listers || !e->head[T_IMAGE]))
        return take_locked(e, T_REPO);
    for (int k = N_LEVELS - 1; k >= 0; k--) {
        task *t = take_locked(e, k);
        if (t)
            return t;
    }
    return NULL;
}

static void run_task(it_engine *e, task *t, bool *parked)
{
    *parked = false;
    switch (t->kind) {
    case T_REPO:
        eng_run_repo(e, t->obj);
        break;
    case T_IMAGE:
        eng_run_image(e, t->obj);
        break;
    case T_NODE:
        eng_run_node(e, t->obj);
        break;
    case T_BLOB:
        *parked = eng_run_blob(e, t->obj, t->idx, t);
        break;
    default:
        break;
    }
}

/* Called with e->lock held when no task is left: starts the final retry
 * pass once, or declares the run finished. */
void eng_idle_locked(it_engine *e)
{
    if (!e->input_done || e->outstanding > 0 || e->finished)
        return;
    if (!e->retry_pass_done && (e->nretry > 0 || e->nrelist > 0) &&
        !eng_stopping(e)) {
        e->retry_pass_done = true;
        atomic_store(&e->pass, 1);
        eng_emit(e, &(it_event){.kind = IT_EV_PHASE,
                                .phase = IT_PHASE_RETRYING,
                                .count = (long)e->nretry,
                                .size = (int64_t)e->nrelist});
        /* Listings that failed first: their new images join this pass. */
        for (size_t i = 0; i < e->nrelist; i++) {
            repo_ctx *r = e->relist[i];
            r->relisted = true;
            r->task.kind = T_REPO;
            r->task.obj = r;
            eng_push_locked(e, &r->task, true);
        }
        e->nrelist = 0;
        for (size_t i = 0; i < e->nretry; i++) {
            image_ctx *img = e->retry[i];
            img->attempt = 1;
            atomic_store(&img->failed, 0);
            atomic_store(&img->bytes, 0);
            free(img->last_error);
            img->last_error = img->error;
            img->error = NULL;
            atomic_store(&img->expect, 0);
            img->task.kind = T_IMAGE;
            img->task.obj = img;
            eng_push_locked(e, &img->task, true);
        }
        e->nretry = 0;
        return;
    }
    /* Images queued for a retry that never came (stop requested) stay
     * failed: count them as done in their repository. */
    for (size_t i = 0; i < e->nrelist; i++)
        eng_relist_abandon_locked(e, e->relist[i]);
    e->nrelist = 0;
    for (size_t i = 0; i < e->nretry; i++) {
        image_ctx *img = e->retry[i];
        repo_ctx *r = img->repo;
        it_repo_state rs;
        r->images_failed++;
        r->images_left--;
        if (eng_repo_settled_locked(r, &rs))
            eng_repo_settled(e, r, rs, NULL);
        free(img->last_error);
        img->last_error = img->error;
        img->error = NULL;
        eng_image_final_failure(e, img);
        eng_image_done_free_locked(e, img);
    }
    e->nretry = 0;
    e->finished = true;
    pthread_cond_broadcast(&e->cond);
    pthread_cond_broadcast(&e->done_cv);
}

void *eng_worker(void *arg)
{
    it_engine *e = arg;
    pthread_mutex_lock(&e->lock);
    for (;;) {
        task *t = pop_locked(e);
        if (t) {
            bool listing = t->kind == T_REPO;
            e->listing_now += listing;
            pthread_mutex_unlock(&e->lock);
            bool parked = false;
            /* t lives in the object it works on: not touched after */
            run_task(e, t, &parked);
            eng_clients_task_end();
            pthread_mutex_lock(&e->lock);
            e->listing_now -= listing;
            if (!parked)
                e->outstanding--;
            eng_idle_locked(e);
            continue;
        }
        if (e->finished)
            break;
        eng_idle_locked(e);
        if (e->finished)
            break;
        pthread_cond_wait(&e->cond, &e->lock);
    }
    pthread_mutex_unlock(&e->lock);
    return NULL;
}
