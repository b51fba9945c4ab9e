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
    /* resume across restarts: where the open upload session is recorded */
    const char *host;
    const char *repo;
    const char *digest;
} copy_progress;

/* Resume across restarts (issue 15): blobs of at least this size record
 * their open upload session in the journal (a rerun continues it), sent in
 * confirmed PATCHes of IT_RESUME_CHUNK_BYTES. Both are test seams of the
 * environment; 64 MiB and 16 MiB by default. */
static int64_t env_bytes(const char *name, int64_t dflt)
{
    const char *v = getenv(name);
    char *end = NULL;
    long long n = v ? strtoll(v, &end, 10) : -1;
    return v && end != v && *end == '\0' && n > 0 ? (int64_t)n : dflt;
}

static void copy_session_cb(void *payload, const char *url, int64_t held)
{
    copy_progress *cp = payload;
    if (url)
        it_journal_upload_put(cp->e->o.journal, cp->host, cp->repo, cp->digest,
                              url, held);
    else
        it_journal_upload_forget(cp->e->o.journal, cp->host, cp->repo,
                                 cp->digest);
}

static void copy_progress_cb(void *payload, int64_t delta)
{
    copy_progress *cp = payload;
    cp->moved += delta;
    atomic_fetch_add(&cp->img->bytes, delta);
    eng_emit(
        cp->e,
        &(it_event){.kind = IT_EV_BYTES, .image = cp->img->id, .bytes = delta});
}

/* Makes the blob present in the target repository: a HEAD when it may be
 * there already, else a mount from `from` that falls back to a stream copy
 * in the same call (reg_copy_opts.mount_from). Returns
 * true when present, with the way it got there in *outcome; else the
 * error is in err. */
static bool blob_move(it_engine *e, image_ctx *img, it_regclient *dst,
                      const reg_descriptor *d, bool known_here,
                      const char *from, it_blob_outcome *outcome,
                      reg_error *err)
{
    repo_ctx *r = img->repo;
    const char *dst_repo = r->pair.dst_repo;
    int rc = REG_ERR, attempt = 0;
    bool present = false;
    /* 1. Already there? Only worth a request when the repository existed
     *    before this run, or the journal says the blob was put there. */
    if (known_here || !r->dst_fresh) {
        do {
            rc = e->ops.blob_exists(e->ops.self, dst, dst_repo, d->digest, err);
        } while (eng_again(e, rc, err, &attempt, "check blob"));
        present = rc == 0;
        *outcome = IT_BLOB_SKIPPED;
    }
    /* 2. Mount from another repository of the same registry, else 3.
     *    stream it across: one call, the mount request being the upload
     *    start, so a refused mount costs no extra round trip. */
    if (!present) {
        copy_progress cp = {e, img, 0, NULL, NULL, NULL};
        reg_copy_opts co = {0};
        char *resume_url = NULL;
        bool mounted = false;
        co.progress = copy_progress_cb;
        co.payload = &cp;
        co.cancel = e->o.ctl ? &e->o.ctl->abort : NULL;
        co.mount_from = from;
        co.mounted = &mounted;
        if (e->o.journal &&
            d->size >= env_bytes("IT_RESUME_MIN_BYTES", (int64_t)64 << 20)) {
            int64_t held = 0;
            cp.host = e->ops.client_host(e->ops.self, dst);
            cp.repo = dst_repo;
            cp.digest = d->digest;
            co.on_session = copy_session_cb;
            co.session_chunk =
                env_bytes("IT_RESUME_CHUNK_BYTES", (int64_t)16 << 20);
            if (it_journal_upload_get(e->o.journal, cp.host, dst_repo,
                                      d->digest, &resume_url, &held) == 1)
                log_info("blob %.19s: continuing the upload session of an "
                         "earlier run (%lld bytes recorded)",
                         d->digest, (long long)held);
        }
        attempt = 0;
        do {
            /* a mount, when possible, is cheaper than a recorded session */
            co.resume_url = attempt == 0 && !from ? resume_url : NULL;
            cp.moved = 0;
            mounted = false;
            rc = e->ops.blob_copy(e->ops.self, r->src, r->pair.src_repo, dst,
                                  dst_repo, d, &co, err);
            if (rc != 0 && cp.moved) {
                /* bytes of a failed attempt do not count as moved */
                atomic_fetch_sub(&img->bytes, cp.moved);
                eng_emit(e, &(it_event){.kind = IT_EV_BYTES,
                                        .image = img->id,
                                        .bytes = -cp.moved});
            }
        } while (eng_again(e, rc, err, &attempt, "copy blob"));
        present = rc == 0;
        *outcome = mounted ? IT_BLOB_MOUNTED : IT_BLOB_COPIED;
        if (present && resume_url) /* mounted, or landed another way */
            it_journal_upload_forget(e->o.journal, cp.host, dst_repo,
                                     d->digest);
        free(resume_url);
    }
    return present;
}

/* T_BLOB. Returns true when the task was parked (another worker is moving
 * the same blob): it is queued again when that finishes. */
bool eng_run_blob(it_engine *e, node *n, size_t i, task *t)
{
    image_ctx *img = n->img;
    repo_ctx *r = img->repo;
    const reg_descriptor *d = &n->m->blobs[i];
    reg_error err = {0};
    blob_claim_out claim = {0};
    bool ok = false, parked = false;
    const char *why = NULL; /* why the image fails, NULL: fallout */
    char what[200];
    snprintf(what, sizeof(what), "blob %.19s: ", d->digest);
    const char *prefix = what;
    char *key = NULL;

    if (atomic_load(&img->failed) || eng_aborting(e))
        goto done;
    /* issue 13: a foreign layer is not in the registry (clients fetch it
     * from its urls): never fetched, the manifest is pushed as is */
    if (reg_descriptor_foreign(d)) {
        eng_emit(e, &(it_event){.kind = IT_EV_BLOB_DONE,
                                .image = img->id,
                                .digest = d->digest,
                                .outcome = IT_BLOB_SKIPPED});
        ok = true;
        goto done;
    }
    it_regclient *dst = eng_dst_client(e, img);
    key = it_join2(e->ops.client_host(e->ops.self, dst), ' ', d->digest);
    eng_claim c =
        key ? eng_blob_claim(e, key, r->pair.dst_repo, r->src_name, t, &claim)
            : ENG_CLAIM_NOMEM;
    switch (c) {
    case ENG_CLAIM_NOMEM:
        prefix = "";
        why = "out of memory";
        goto done;
    case ENG_CLAIM_PRESENT:
        eng_emit(e, &(it_event){.kind = IT_EV_BLOB_DONE,
                                .image = img->id,
                                .digest = d->digest,
                                .outcome = IT_BLOB_SKIPPED});
        ok = true;
        goto done;
    case ENG_CLAIM_PARKED:
        parked = true;
        goto done;
    case ENG_CLAIM_FAILED:
        why = claim.why;
        goto done;
    case ENG_CLAIM_MOVE:
        break;
    }
    /* What this run has not seen, the journal may know (asked outside the
     * table's lock): the blob put into this repository by an earlier run
     * (a HEAD before it is trusted), or a repository to mount it from. */
    if (e->o.journal) {
        const char *host = e->ops.client_host(e->ops.self, dst);
        if (!claim.known_here &&
            it_journal_blob_in(e->o.journal, host, r->pair.dst_repo,
                               d->digest) == 1)
            claim.known_here = true;
        char *from = NULL;
        if (!claim.from && it_journal_blob_any(e->o.journal, host, d->digest,
                                               r->pair.dst_repo, &from) == 1)
            claim.from = from;
    }
    it_blob_outcome outcome = IT_BLOB_SKIPPED;
    ok =
        blob_move(e, img, dst, d, claim.known_here, claim.from, &outcome, &err);
    eng_blob_release(e, claim.entry, r->pair.dst_repo, ok, r->src_name,
                     err.msg);
    if (!ok) {
        why = err.msg;
        goto done;
    }
    /* put (or verified) in the target repository by this task */
    eng_emit(e, &(it_event){.kind = IT_EV_BLOB_DONE,
                            .image = img->id,
                            .registry = e->ops.client_host(e->ops.self, dst),
                            .repo_path = r->pair.dst_repo,
                            .digest = d->digest,
                            .size = d->size,
                            .outcome = outcome});
done:
    if (why)
        eng_image_fail(img, prefix, why);
    if (!parked)
        eng_node_child_done(e, n, ok);
    free(key);
    free(claim.from);
    return parked;
}
