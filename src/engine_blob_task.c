/*
 * engine_blob_task.c - the BLOB task: make one blob present in a target
 * repository: skip if known, wait if another worker is moving it, mount if it
 * is in another repository of the same registry, else stream-copy it.
 */
#include "engine_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct copy_progress {
    it_engine *e;
    image_ctx *img;
    int64_t moved; /* by this attempt (this task only) */
} copy_progress;

static void copy_progress_cb(void *payload, int64_t delta)
{
    copy_progress *cp = payload;
    cp->moved += delta;
    atomic_fetch_add(&cp->img->bytes, delta);
    atomic_fetch_add(&cp->e->bytes_copied, delta);
    it_progress_bytes(cp->e->o.progress, cp->img->pid, delta);
}

/* T_BLOB. Returns true when the task was parked (another eng_worker is moving
 * the same blob): it is queued eng_again when that finishes. */
bool eng_run_blob(it_engine *e, node *n, size_t i, task *t)
{
    image_ctx *img = n->img;
    repo_ctx *r = img->repo;
    const reg_descriptor *d = &n->m->blobs[i];
    const char *dst_repo = r->pair.dst_repo;
    reg_error err = {0};
    int rc = REG_ERR, attempt = 0;
    bool verified = false, present = false;
    it_blob_outcome outcome = IT_BLOB_SKIPPED;

    if (atomic_load(&img->failed) || eng_aborting(e)) {
        eng_node_child_done(e, n, false);
        return false;
    }
    it_regclient *dst = eng_dst_client(e, img);
    char *key = eng_join2(e->ops.client_host(e->ops.self, dst), ' ', d->digest);
    char *from = NULL;
    if (!key) {
        eng_image_fail(img, "", "out of memory");
        eng_node_child_done(e, n, false);
        return false;
    }
    pthread_mutex_lock(&e->blobs_lock);
    blob_entry *be = eng_entry_get(e, key);
    if (!be) {
        pthread_mutex_unlock(&e->blobs_lock);
        free(key);
        eng_image_fail(img, "", "out of memory");
        eng_node_child_done(e, n, false);
        return false;
    }
    bool known_here = eng_entry_has(be, dst_repo, &verified);
    if (known_here && verified) {
        pthread_mutex_unlock(&e->blobs_lock);
        free(key);
        atomic_fetch_add(&e->blobs_skipped, 1);
        it_progress_blob(e->o.progress, IT_BLOB_SKIPPED);
        eng_node_child_done(e, n, true);
        return false;
    }
    if (be->in_flight) {
        t->next = be->waiters;
        be->waiters = t;
        pthread_mutex_unlock(&e->blobs_lock);
        free(key);
        return true;
    }
    if (be->failed_src && be->failed_pass == atomic_load(&e->pass) &&
        strcmp(be->failed_src, r->src_name) == 0) {
        char msg[600];
        snprintf(msg, sizeof(msg),
                 "%.500s (same blob failed for another "
                 "image)",
                 be->failed_err ? be->failed_err : "failed");
        pthread_mutex_unlock(&e->blobs_lock);
        free(key);
        char what[200];
        snprintf(what, sizeof(what), "blob %.19s: ", d->digest);
        eng_image_fail(img, what, msg);
        eng_node_child_done(e, n, false);
        return false;
    }
    be->in_flight = true;
    /* A mount source: prefer a repository this run saw the blob in. */
    const char *pick = NULL;
    for (size_t k = 0; k < be->nrepos; k++) {
        if (strcmp(be->repos[k], dst_repo) == 0)
            continue;
        if (be->verified[k]) {
            pick = be->repos[k];
            break;
        }
        if (!pick)
            pick = be->repos[k];
    }
    from = pick ? strdup(pick) : NULL;
    pthread_mutex_unlock(&e->blobs_lock);

    /* 1. Already there? Only worth a request when the repository existed
     *    before this run, or the journal says the blob was put there. */
    if (known_here || !r->dst_fresh) {
        do {
            rc =
                e->ops.blob_exists(e->ops.self, dst, dst_repo, d->digest, &err);
        } while (eng_again(e, rc, &err, &attempt, "check blob"));
        present = rc == 0;
        outcome = IT_BLOB_SKIPPED;
    }
    /* 2. Mount from another repository of the same registry. */
    if (!present && from) {
        attempt = 0;
        do {
            rc = e->ops.blob_mount(e->ops.self, dst, dst_repo, d->digest, from,
                                   &err);
        } while (rc != REG_ENOTFOUND &&
                 eng_again(e, rc, &err, &attempt, "mount blob"));
        present = rc == 0;
        outcome = IT_BLOB_MOUNTED;
        if (!present)
            log_debug("mount %s from %s into %s failed (%s): copying",
                      d->digest, from, dst_repo, err.msg);
    }
    /* 3. Stream it across. */
    if (!present) {
        copy_progress cp = {e, img, 0};
        reg_copy_opts co = {0};
        co.progress = copy_progress_cb;
        co.payload = &cp;
        co.cancel = e->o.abort;
        attempt = 0;
        do {
            cp.moved = 0;
            rc = e->ops.blob_copy(e->ops.self, r->src, r->pair.src_repo, dst,
                                  dst_repo, d, &co, &err);
            if (rc != 0 && cp.moved) {
                /* bytes of a failed attempt do not count as moved */
                atomic_fetch_sub(&img->bytes, cp.moved);
                atomic_fetch_sub(&e->bytes_copied, cp.moved);
                it_progress_bytes(e->o.progress, img->pid, -cp.moved);
            }
        } while (eng_again(e, rc, &err, &attempt, "copy blob"));
        present = rc == 0;
        outcome = IT_BLOB_COPIED;
    }

    pthread_mutex_lock(&e->blobs_lock);
    be->in_flight = false;
    if (present) {
        eng_entry_add(be, dst_repo, true);
    } else if (!eng_aborting(e)) {
        free(be->failed_src);
        free(be->failed_err);
        be->failed_src = eng_xstrdup(r->src_name);
        be->failed_err = eng_xstrdup(err.msg);
        be->failed_pass = atomic_load(&e->pass);
    }
    task *w = be->waiters;
    be->waiters = NULL;
    pthread_mutex_unlock(&e->blobs_lock);
    if (w) {
        pthread_mutex_lock(&e->lock);
        while (w) {
            task *next = w->next;
            eng_push_locked(e, w, false);
            w = next;
        }
        pthread_mutex_unlock(&e->lock);
    }
    free(key);
    free(from);

    if (!present) {
        char what[200];
        snprintf(what, sizeof(what), "blob %.19s: ", d->digest);
        eng_image_fail(img, what, err.msg);
        eng_node_child_done(e, n, false);
        return false;
    }
    it_journal_blob(e->o.journal, e->ops.client_host(e->ops.self, dst),
                    dst_repo, d->digest, d->size);
    atomic_fetch_add(outcome == IT_BLOB_COPIED    ? &e->blobs_copied
                     : outcome == IT_BLOB_MOUNTED ? &e->blobs_mounted
                                                  : &e->blobs_skipped,
                     1);
    it_progress_blob(e->o.progress, outcome);
    eng_node_child_done(e, n, true);
    return false;
}
