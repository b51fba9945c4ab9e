/*
 * engine_plan.c - the dry run: the blobs and bytes an image would move (each
 * distinct blob counted once per target registry), one plan line per image.
 * The source digest comes from a HEAD; each distinct manifest is read once
 * per run (kept without its bytes), so a plan of many tags sharing a few
 * images costs about one request per tag.
 */
#include "engine_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A plan-cache value while one worker fetches that manifest: the others
 * wait for it (plan_cv), so each distinct manifest is read once. */
static char fetching;
#define FETCHING ((void *)&fetching)

void eng_plan_cache_free(void *p)
{
    if (p != FETCHING)
        reg_manifest_free(p);
}

/* The manifest `digest` of the image's source repository: from the cache,
 * else fetched (by digest) and kept. The result is borrowed (it lives as
 * long as the engine). */
static int plan_get(it_engine *e, image_ctx *img, const char *digest,
                    const reg_manifest **out, reg_error *err)
{
    repo_ctx *r = img->repo;
    void *v;
    pthread_mutex_lock(&e->blobs_lock);
    while ((v = it_strmap_get(e->plan_cache, digest)) == FETCHING)
        pthread_cond_wait(&e->plan_cv, &e->blobs_lock);
    bool mine = !v && it_strmap_put(e->plan_cache, digest, FETCHING) == 0;
    pthread_mutex_unlock(&e->blobs_lock);
    *out = v;
    if (v)
        return 0;
    reg_manifest *m = NULL;
    int rc, attempt = 0;
    do {
        rc = e->ops.manifest_get(e->ops.self, &m, r->src, r->pair.src_repo,
                                 digest, err);
    } while (eng_again(e, rc, err, &attempt, "get manifest"));
    if (rc == 0 && !reg_manifest_is_index(m)) {
        /* The plan needs the descriptors, not the bytes (an index keeps
         * them: the platform filter reads its annotations, issue 14). */
        free(m->body);
        m->body = NULL;
        m->len = 0;
    }
    pthread_mutex_lock(&e->blobs_lock);
    if (mine) {
        if (rc == 0)
            it_strmap_put(e->plan_cache, digest, m); /* replaces FETCHING */
        else
            it_strmap_del(e->plan_cache, digest); /* the next one tries */
        pthread_cond_broadcast(&e->plan_cv);
    }
    pthread_mutex_unlock(&e->blobs_lock);
    if (rc != 0)
        return rc;
    if (!mine) { /* out of memory for the marker: used once, not kept */
        reg_manifest_free(m);
        return reg_error_set(err, REG_ENOMEM, "plan: out of memory");
    }
    *out = m;
    return 0;
}

/* The plan's totals for target registry host (made on first use; NULL
 * when out of memory). Caller holds blobs_lock. */
static it_plan_target *target_locked(it_engine *e, const char *host)
{
    if (!e->plan_targets && !(e->plan_targets = it_strmap_new()))
        return NULL;
    it_plan_target *t = it_strmap_get(e->plan_targets, host);
    if (!t && (t = calloc(1, sizeof(*t))) != NULL) {
        snprintf(t->registry, sizeof(t->registry), "%s", host);
        if (it_strmap_put(e->plan_targets, host, t) != 0) {
            free(t);
            t = NULL;
        }
    }
    return t;
}

/* Counts the blobs (and bytes) of image manifest m not yet planned for the
 * target registry, in the image's counts and the registry's. */
static void plan_blobs(it_engine *e, image_ctx *img, const reg_manifest *m,
                       long *nblobs, int64_t *bytes)
{
    const char *host = e->ops.client_host(e->ops.self, img->dst);
    pthread_mutex_lock(&e->blobs_lock);
    it_plan_target *t = target_locked(e, host);
    for (size_t i = 0; i < m->n_blobs; i++) {
        /* issue 13: a foreign layer is never copied */
        if (reg_descriptor_foreign(&m->blobs[i]))
            continue;
        char *key = it_join2(host, ' ', m->blobs[i].digest);
        if (key && !it_strmap_get(e->planned, key)) {
            it_strmap_put(e->planned, key, (void *)1);
            (*nblobs)++;
            if (m->blobs[i].size > 0)
                *bytes = it_add_sat(*bytes, m->blobs[i].size);
            if (t) {
                t->blobs++;
                if (m->blobs[i].size > 0)
                    t->bytes = it_add_sat(t->bytes, m->blobs[i].size);
            }
        }
        free(key);
    }
    pthread_mutex_unlock(&e->blobs_lock);
}

/* The same for manifest `digest` and, for an index, each of its children. */
static int plan_manifest(it_engine *e, image_ctx *img, const char *digest,
                         int depth, long *nblobs, int64_t *bytes,
                         reg_error *err)
{
    const reg_manifest *m = NULL;
    int rc = plan_get(e, img, digest, &m, err);
    if (rc != 0)
        return rc;
    if (!reg_manifest_is_index(m)) {
        plan_blobs(e, img, m, nblobs, bytes);
        return 0;
    }
    if (depth > 8)
        return reg_error_set(err, REG_EINVAL, "indexes nested too deep");
    /* issue 14: the image's index as the platform filter leaves it */
    reg_manifest *fm = NULL;
    if (depth == 0 && (rc = eng_platforms_plan_index(img, m, &fm, err)) != 0)
        return rc > 0 ? 0 : rc;
    const reg_manifest *walk = fm ? fm : m;
    for (size_t i = 0; i < walk->n_children && rc == 0; i++)
        rc = plan_manifest(e, img, walk->children[i].digest, depth + 1, nblobs,
                           bytes, err);
    reg_manifest_free(fm);
    return rc;
}

int eng_plan_image(it_engine *e, image_ctx *img, reg_error *err)
{
    long nblobs = 0;
    int64_t bytes = 0;
    int rc = plan_manifest(e, img, img->digest, 0, &nblobs, &bytes, err);
    if (rc != 0)
        return rc;
    atomic_store(&img->bytes, bytes);
    const char *host = e->ops.client_host(e->ops.self, img->dst);
    pthread_mutex_lock(&e->blobs_lock);
    it_plan_target *t = target_locked(e, host);
    if (t)
        t->images++;
    pthread_mutex_unlock(&e->blobs_lock);
    if (e->o.plan_quiet)
        return 0;
    char *src = it_sanitize_dup(img->src_str);
    char *dst = it_sanitize_dup(img->dst_str);
    fprintf(e->o.plan_out ? e->o.plan_out : stdout,
            "copy %s -> %s (%ld new blobs, %lld bytes)\n", src ? src : "?",
            dst ? dst : "?", nblobs, (long long)bytes);
    free(src);
    free(dst);
    return 0;
}

typedef struct target_copy {
    it_plan_target *v;
    size_t n;
} target_copy;

static void copy_target(void *payload, const char *key, void *value)
{
    (void)key;
    target_copy *c = payload;
    c->v[c->n++] = *(const it_plan_target *)value;
}

static int target_cmp(const void *a, const void *b)
{
    return strcmp(((const it_plan_target *)a)->registry,
                  ((const it_plan_target *)b)->registry);
}

it_plan_target *it_engine_plan_targets(it_engine *e, size_t *n)
{
    target_copy c = {0};
    pthread_mutex_lock(&e->blobs_lock);
    size_t count = e->plan_targets ? it_strmap_count(e->plan_targets) : 0;
    if (count > 0 && (c.v = malloc(count * sizeof(*c.v))) != NULL)
        it_strmap_each(e->plan_targets, copy_target, &c);
    pthread_mutex_unlock(&e->blobs_lock);
    if (c.n > 1)
        qsort(c.v, c.n, sizeof(*c.v), target_cmp);
    *n = c.n;
    return c.v;
}
