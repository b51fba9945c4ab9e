/*
 * engine_blobs.c - the blob table: (target registry, digest) -> repositories of
 * that registry known to hold the blob, whether it is in flight, and the last
 * failure of a copy of it.
 */
#include "engine_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool eng_entry_has(const blob_entry *be, const char *repo, bool *verified)
{
    for (size_t i = 0; i < be->nrepos; i++) {
        if (strcmp(be->repos[i], repo) == 0) {
            *verified = be->verified[i];
            return true;
        }
    }
    return false;
}

void eng_entry_add(blob_entry *be, const char *repo, bool verified)
{
    for (size_t i = 0; i < be->nrepos; i++) {
        if (strcmp(be->repos[i], repo) == 0) {
            be->verified[i] = be->verified[i] || verified;
            return;
        }
    }
    char **r = realloc(be->repos, (be->nrepos + 1) * sizeof(*r));
    if (!r)
        return;
    be->repos = r;
    bool *v = realloc(be->verified, (be->nrepos + 1) * sizeof(*v));
    if (!v)
        return;
    be->verified = v;
    be->repos[be->nrepos] = strdup(repo);
    if (!be->repos[be->nrepos])
        return;
    be->verified[be->nrepos++] = verified;
}

blob_entry *eng_entry_get(it_engine *e, const char *key)
{
    blob_entry *be = it_strmap_get(e->blobs, key);
    if (!be) {
        be = calloc(1, sizeof(*be));
        if (be && it_strmap_put(e->blobs, key, be) != 0) {
            free(be);
            be = NULL;
        }
    }
    return be;
}

void eng_entry_free(void *p)
{
    blob_entry *be = p;
    for (size_t i = 0; i < be->nrepos; i++)
        free(be->repos[i]);
    free(be->repos);
    free(be->verified);
    free(be->failed_src);
    free(be->failed_err);
    free(be);
}

void it_engine_seed_blob(it_engine *e, const char *registry, const char *repo,
                         const char *digest)
{
    char *key = it_join2(registry, ' ', digest);
    if (!key)
        return;
    pthread_mutex_lock(&e->blobs_lock);
    blob_entry *be = eng_entry_get(e, key);
    if (be)
        eng_entry_add(be, repo, false);
    pthread_mutex_unlock(&e->blobs_lock);
    free(key);
}

/* A mount source for dst_repo: another repository of the registry holding
 * the blob, preferring one this run saw it in. Caller holds blobs_lock. */
static const char *mount_source(const blob_entry *be, const char *dst_repo)
{
    const char *pick = NULL;
    for (size_t k = 0; k < be->nrepos; k++) {
        if (strcmp(be->repos[k], dst_repo) == 0)
            continue;
        if (be->verified[k])
            return be->repos[k];
        if (!pick)
            pick = be->repos[k];
    }
    return pick;
}

eng_claim eng_blob_claim(it_engine *e, const char *key, const char *dst_repo,
                         const char *src_name, task *t, blob_claim_out *out)
{
    eng_claim c = ENG_CLAIM_MOVE;
    bool verified = false;
    pthread_mutex_lock(&e->blobs_lock);
    blob_entry *be = eng_entry_get(e, key);
    out->entry = be;
    if (!be) {
        c = ENG_CLAIM_NOMEM;
        goto out;
    }
    out->known_here = eng_entry_has(be, dst_repo, &verified);
    if (out->known_here && verified) {
        c = ENG_CLAIM_PRESENT;
    } else if (be->in_flight) {
        t->next = be->waiters;
        be->waiters = t;
        c = ENG_CLAIM_PARKED;
    } else if (be->failed_src && be->failed_pass == atomic_load(&e->pass) &&
               strcmp(be->failed_src, src_name) == 0) {
        snprintf(out->why, sizeof(out->why),
                 "%.500s (same blob failed for another image)",
                 be->failed_err ? be->failed_err : "failed");
        c = ENG_CLAIM_FAILED;
    } else {
        const char *from = mount_source(be, dst_repo);
        out->from = it_strdup0(from);
        be->in_flight = true;
    }
out:
    pthread_mutex_unlock(&e->blobs_lock);
    return c;
}

void eng_blob_release(it_engine *e, blob_entry *be, const char *dst_repo,
                      bool present, const char *src_name, const char *error)
{
    pthread_mutex_lock(&e->blobs_lock);
    be->in_flight = false;
    if (present) {
        eng_entry_add(be, dst_repo, true);
    } else if (!eng_aborting(e)) {
        free(be->failed_src);
        free(be->failed_err);
        be->failed_src = it_strdup0(src_name);
        be->failed_err = it_strdup0(error);
        be->failed_pass = atomic_load(&e->pass);
    }
    task *w = be->waiters;
    be->waiters = NULL;
    pthread_mutex_unlock(&e->blobs_lock);
    if (!w)
        return;
    pthread_mutex_lock(&e->lock);
    while (w) {
        task *next = w->next;
        eng_push_locked(e, w, false);
        w = next;
    }
    pthread_mutex_unlock(&e->lock);
}

void eng_blobs_forget(it_engine *e, const char *host, const char *repo,
                      const reg_manifest *m)
{
    pthread_mutex_lock(&e->blobs_lock);
    for (size_t i = 0; i < m->n_blobs; i++) {
        char *key = it_join2(host, ' ', m->blobs[i].digest);
        blob_entry *be = key ? it_strmap_get(e->blobs, key) : NULL;
        for (size_t j = 0; be && j < be->nrepos; j++)
            if (strcmp(be->repos[j], repo) == 0)
                be->verified[j] = false;
        free(key);
    }
    pthread_mutex_unlock(&e->blobs_lock);
}
