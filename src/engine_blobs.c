/*
 * engine_blobs.c - the blob table: (target registry, digest) -> repositories of
 * that registry known to hold the blob, the repositories it is being put into
 * now, the tasks waiting for such a move, and the last failure of a copy of it.
 * Every check is a hash lookup; a waiting task is queued again once per move
 * that ends.
 */
#include "engine_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void eng_entry_add(blob_entry *be, const char *repo)
{
    if (!be->verified_from)
        be->verified_from = it_strdup0(repo); /* the mount source */
    if (!be->holders && !(be->holders = it_strmap_new_sized(4)))
        return;
    if (it_strmap_get(be->holders, repo) ||
        it_strmap_count(be->holders) >= ENG_HOLDERS_MAX)
        return; /* known, or past the cap: the journal knows the rest */
    it_strmap_put(be->holders, repo, (void *)1);
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
    it_strmap_free(be->holders, NULL);
    it_strmap_free(be->moving, NULL);
    free(be->verified_from);
    free(be->failed_src);
    free(be->failed_err);
    free(be);
}

/* A mount source for dst_repo: the first repository of the registry this
 * run saw the blob in (the journal may know others). Caller holds
 * blobs_lock. */
static const char *mount_source(const blob_entry *be, const char *dst_repo)
{
    if (be->verified_from && strcmp(be->verified_from, dst_repo) != 0)
        return be->verified_from;
    return NULL;
}

static void park(blob_entry *be, task *t)
{
    t->next = be->waiters;
    be->waiters = t;
}

eng_claim eng_blob_claim(it_engine *e, const char *key, const char *dst_repo,
                         const char *src_name, task *t, blob_claim_out *out)
{
    eng_claim c = ENG_CLAIM_MOVE;
    pthread_mutex_lock(&e->blobs_lock);
    blob_entry *be = eng_entry_get(e, key);
    out->entry = be;
    if (!be) {
        c = ENG_CLAIM_NOMEM;
        goto out;
    }
    bool here = be->holders && it_strmap_get(be->holders, dst_repo);
    out->known_here = here;
    const char *from = mount_source(be, dst_repo);
    bool moving_here = be->moving && it_strmap_get(be->moving, dst_repo);
    bool moving_any = be->moving && it_strmap_count(be->moving) > 0;
    if (here) {
        c = ENG_CLAIM_PRESENT;
    } else if (moving_here || (!from && moving_any)) {
        /* Being put here now, or the first copy into this registry is on
         * its way: wait for it (then mount, not copy again). */
        park(be, t);
        c = ENG_CLAIM_PARKED;
    } else if (be->failed_src && be->failed_pass == atomic_load(&e->pass) &&
               strcmp(be->failed_src, src_name) == 0) {
        snprintf(out->why, sizeof(out->why),
                 "%.500s (same blob failed for another image)",
                 be->failed_err ? be->failed_err : "failed");
        c = ENG_CLAIM_FAILED;
    } else if ((!be->moving && !(be->moving = it_strmap_new_sized(4))) ||
               it_strmap_put(be->moving, dst_repo, (void *)1) != 0) {
        c = ENG_CLAIM_NOMEM;
    } else {
        /* Moves into different repositories run side by side. */
        out->from = it_strdup0(from);
    }
out:
    pthread_mutex_unlock(&e->blobs_lock);
    return c;
}

void eng_blob_release(it_engine *e, blob_entry *be, const char *dst_repo,
                      bool present, const char *src_name, const char *error)
{
    pthread_mutex_lock(&e->blobs_lock);
    if (be->moving)
        it_strmap_del(be->moving, dst_repo);
    if (present) {
        eng_entry_add(be, dst_repo);
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
        if (be && be->holders)
            it_strmap_del(be->holders, repo);
        if (be && be->verified_from && strcmp(be->verified_from, repo) == 0) {
            free(be->verified_from);
            be->verified_from = NULL;
        }
        free(key);
    }
    pthread_mutex_unlock(&e->blobs_lock);
}
