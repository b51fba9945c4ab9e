/*
 * engine.c - the transfer engine's lifecycle and public API (engine.h). The
 * engine is split by concern: see engine_int.h for the files.
 */
#include "engine.h"
#include "engine_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int it_engine_start(it_engine **out, const it_engine_opts *o, it_errbuf *err)
{
    reg_error rerr = {0};
    *out = NULL;
    it_engine *e = calloc(1, sizeof(*e));
    if (!e) {
        snprintf(err->msg, sizeof(err->msg), "out of memory");
        return -1;
    }
    e->o = *o;
    if (e->o.routines < 1)
        e->o.routines = 1;
    if (e->o.workers < 1)
        e->o.workers = e->o.routines > ENG_MAX_WORKERS / 2 ? ENG_MAX_WORKERS
                                                           : 2 * e->o.routines;
    e->policy = it_retry_default(e->o.retry);
    e->policy.sleep_ms = o->sleep_ms;
    e->policy.sleep_ctx = o->sleep_payload;
    e->policy.window_ms = o->retry_window_ms; /* issue 15 */
    pthread_mutex_init(&e->lock, NULL);
    pthread_cond_init(&e->cond, NULL);
    pthread_cond_init(&e->done_cv, NULL);
    pthread_mutex_init(&e->clients_lock, NULL);
    pthread_cond_init(&e->clients_cv, NULL);
    pthread_mutex_init(&e->blobs_lock, NULL);
    pthread_cond_init(&e->plan_cv, NULL);
    e->clients = it_strmap_new();
    e->buckets = it_strmap_new();
    e->hosts = it_strmap_new();
    e->refreshing = it_strmap_new();
    e->blobs = it_strmap_new();
    e->planned = it_strmap_new();
    e->plan_cache = it_strmap_new();
    if (o->bandwidth > 0)
        e->bandwidth = it_bucket_new((double)o->bandwidth,
                                     (double)o->bandwidth / 4, NULL, NULL);
    if (!e->clients || !e->buckets || !e->hosts || !e->refreshing ||
        !e->blobs || !e->planned || !e->plan_cache || eng_events_init(e) != 0 ||
        (!o->regops && reg_global_new(&e->global, &rerr) != 0)) {
        snprintf(err->msg, sizeof(err->msg), "engine setup: %s",
                 rerr.msg[0] ? rerr.msg : "out of memory");
        it_engine_free(e);
        return -1;
    }
    if (o->regops)
        e->ops = *o->regops;
    else
        it_regops_default(&e->ops, e->global);
    e->threads = calloc((size_t)e->o.workers, sizeof(pthread_t));
    for (int i = 0; e->threads && i < e->o.workers; i++) {
        if (pthread_create(&e->threads[i], NULL, eng_worker, e) != 0)
            break;
        e->nthreads++;
    }
    if (e->nthreads == 0) {
        snprintf(err->msg, sizeof(err->msg), "cannot start worker threads");
        it_engine_free(e);
        return -1;
    }
    *out = e;
    return 0;
}

static char **strv_dup(char **v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    char **c = calloc(n + 1, sizeof(char *));
    for (size_t i = 0; c && i < n; i++)
        c[i] = strdup(v[i]);
    return c;
}

int it_engine_add_pair(it_engine *e, const it_pair *p)
{
    repo_ctx *r = calloc(1, sizeof(*r));
    if (!r)
        return -1;
    r->e = e;
    r->pair.src_host = it_strdup0(p->src_host);
    r->pair.src_repo = it_strdup0(p->src_repo);
    r->pair.tags = p->tags ? strv_dup(p->tags) : NULL;
    r->pair.src_digest = it_strdup0(p->src_digest);
    r->pair.dst_host = it_strdup0(p->dst_host);
    r->pair.dst_repo = it_strdup0(p->dst_repo);
    r->pair.dst_tag = it_strdup0(p->dst_tag);
    r->pair.list_tags = p->list_tags;
    r->pair.list_payload = p->list_payload;
    r->pair.tags_hint = p->tags_hint > 0 ? p->tags_hint : 0;
    r->pair.wildcard = p->wildcard; /* whole namespaces (14C) */
    r->pair.tags_newest_first = p->tags_newest_first;
    /* tag filters (issue 14): compiled once; a bad one fails the pair */
    it_errbuf ferr = {{0}};
    if (it_tagfilter_new(&r->filter, p->filter_tags, p->filter_exclude,
                         p->filter_semver, p->filter_latest, &ferr) != 0) {
        char src[600], dst[600];
        snprintf(src, sizeof(src), "%s/%s", p->src_host, p->src_repo);
        snprintf(dst, sizeof(dst), "%s/%s", p->dst_host, p->dst_repo);
        eng_repo_free(r);
        it_engine_add_failed(e, src, dst, ferr.msg); /* added, as failed */
        return 0;
    }
    if (!it_tagfilter_active(r->filter)) {
        it_tagfilter_free(r->filter);
        r->filter = NULL;
    }
    r->src_name = it_join2(p->src_host, '/', p->src_repo);
    if (p->wildcard && r->src_name) { /* shown as host/prefix/<star> */
        char *w = it_join2(r->src_name, p->src_repo[0] ? '/' : '*',
                           p->src_repo[0] ? "*" : "");
        free(r->src_name);
        r->src_name = w;
    }
    r->dst_name = it_join2(p->dst_host, '/', p->dst_repo);
    /* issue 14: the platform filter (the pair's, else --platforms) */
    char why[400] = "";
    bool plat_ok = eng_platforms_init(e, r, p->platforms, why, sizeof(why));
    bool added = r->src_name && r->dst_name && r->pair.src_repo &&
                 r->pair.dst_repo && (!p->tags || r->pair.tags) && plat_ok;
    pthread_mutex_lock(&e->lock);
    if (added) {
        r->id = (int)e->nrepos++;
        r->refs = 1; /* the listing */
        e->live_repos++;
        if (!r->pair.tags_hint)
            e->repos_unhinted++;
    }
    pthread_mutex_unlock(&e->lock);
    if (!added) {
        eng_repo_free(r);
        it_engine_add_failed(e, p->src_repo, p->dst_repo,
                             why[0] ? why : "out of memory");
        return -1;
    }
    eng_emit(e, &(it_event){.kind = IT_EV_REPO_ADDED,
                            .repo = r->id,
                            .source = r->src_name,
                            .target = r->dst_name,
                            .count = r->pair.tags_hint,
                            .wildcard = r->pair.wildcard});
    eng_enqueue(e, &r->task, T_REPO, r, 0);
    return 0;
}

void it_engine_input_done(it_engine *e)
{
    /* Told before the run can be declared finished, so the phases go in
     * order (copying, then done). */
    eng_enumeration_step(e, true, false, false);
    pthread_mutex_lock(&e->lock);
    eng_idle_locked(e);
    pthread_cond_broadcast(&e->cond);
    pthread_mutex_unlock(&e->lock);
}

bool it_engine_wait_finished(it_engine *e, double timeout_s)
{
    struct timespec ts = it_deadline(timeout_s);
    pthread_mutex_lock(&e->lock);
    while (!e->finished) {
        if (pthread_cond_timedwait(&e->done_cv, &e->lock, &ts) != 0)
            break;
    }
    bool done = e->finished;
    pthread_mutex_unlock(&e->lock);
    return done;
}

void it_engine_wait(it_engine *e)
{
    for (int i = 0; i < e->nthreads; i++)
        pthread_join(e->threads[i], NULL);
    e->nthreads = 0;
}

void it_engine_free(it_engine *e)
{
    if (!e)
        return;
    if (e->nthreads) {
        pthread_mutex_lock(&e->lock);
        e->input_done = true;
        pthread_cond_broadcast(&e->cond);
        pthread_mutex_unlock(&e->lock);
        it_engine_wait(e);
    }
    free(e->threads);
    /* Everything ended (the workers only stop when the run finished), so
     * images and repositories have freed themselves; what a finished run
     * still holds is only on these two lists, which it emptied. */
    for (size_t i = 0; i < e->nretry; i++)
        eng_image_done_free(e, e->retry[i]);
    for (size_t i = 0; i < e->nrelist; i++)
        eng_repo_unref(e, e->relist[i], false);
    eng_events_free(e);
    free(e->retry);
    free(e->relist);
    if (e->clients)
        it_strmap_free(e->clients, eng_free_client);
    while (e->retired) {
        client_entry *next = e->retired->next_retired;
        eng_free_client(e->retired);
        e->retired = next;
    }
    if (e->buckets)
        it_strmap_free(e->buckets, eng_free_bucket);
    if (e->hosts)
        it_strmap_free(e->hosts, eng_free_host);
    if (e->refreshing)
        it_strmap_free(e->refreshing, NULL);
    if (e->blobs)
        it_strmap_free(e->blobs, eng_entry_free);
    if (e->planned)
        it_strmap_free(e->planned, NULL);
    if (e->plan_cache)
        it_strmap_free(e->plan_cache, eng_plan_cache_free);
    if (e->plan_targets)
        it_strmap_free(e->plan_targets, free);
    if (e->verified) /* --verify=deep */
        it_strmap_free(e->verified, NULL);
    it_bucket_free(e->bandwidth);
    reg_global_free(e->global);
    pthread_mutex_destroy(&e->lock);
    pthread_cond_destroy(&e->cond);
    pthread_cond_destroy(&e->done_cv);
    pthread_mutex_destroy(&e->clients_lock);
    pthread_cond_destroy(&e->clients_cv);
    pthread_mutex_destroy(&e->blobs_lock);
    pthread_cond_destroy(&e->plan_cv);
    free(e);
}
