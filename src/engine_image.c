/*
 * engine_image.c - the IMAGE and NODE tasks: compare digests, fetch the
 * manifest tree (an index's children are nodes of their own), push each node's
 * manifest once its blobs/children are done, the root to the tag last.
 */
#include "engine_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void eng_node_free(node *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->nkids; i++)
        eng_node_free(n->kids[i]);
    free(n->kids);
    free(n->blob_tasks);
    reg_manifest_free(n->m);
    free(n->digest);
    free(n->push_ref);
    free(n);
}

static void node_finish(it_engine *e, node *n, bool ok);

void eng_node_child_done(it_engine *e, node *n, bool ok)
{
    if (!ok)
        atomic_store(&n->failed, 1);
    if (atomic_fetch_sub(&n->pending, 1) != 1)
        return;
    /* Last child or blob: push this node's manifest, if all went well. */
    image_ctx *img = n->img;
    bool pushed = false;
    if (atomic_load(&n->failed) || atomic_load(&img->failed) ||
        eng_aborting(e)) {
        if (eng_aborting(e))
            eng_image_fail(img, "", "interrupted");
    } else {
        repo_ctx *r = img->repo;
        it_regclient *dst = eng_dst_client(e, img);
        reg_error err = {0};
        int rc, attempt = 0;
        do {
            rc = e->ops.manifest_put(e->ops.self, dst, r->pair.dst_repo,
                                     n->push_ref, n->m, &err);
        } while (eng_again(e, rc, &err, &attempt, "push manifest"));
        /* The journal (or a mount) misled us: forget where these blobs
         * were thought to be so the retry pass copies them. */
        if (rc != 0 && strstr(err.registry_code, "BLOB_UNKNOWN"))
            eng_blobs_forget(e, e->ops.client_host(e->ops.self, dst),
                             r->pair.dst_repo, n->m);
        /* issue 13: a target that refuses foreign layers says so */
        const char *hint = rc != 0 ? eng_foreign_refused(n->m, &err) : NULL;
        if (hint)
            reg_error_prefix(&err, "%s: ", hint);
        if (rc != 0)
            eng_image_fail(img, "push manifest: ", err.msg);
        pushed = rc == 0;
    }
    node_finish(e, n, pushed);
}

static void node_finish(it_engine *e, node *n, bool ok)
{
    if (n->parent) {
        eng_node_child_done(e, n->parent, ok);
        return;
    }
    image_ctx *img = n->img;
    /* issue 13: the image is not done until its referrers are */
    if (ok && !eng_referrers_run(e, img, NULL))
        ok = false;
    eng_image_finish(e, img, ok ? IT_STATUS_COPIED : IT_STATUS_FAILED, NULL);
}

/* Fans a node out: children of an index, or the blobs of an image. */
static void node_begin(it_engine *e, node *n)
{
    reg_manifest *m = n->m;
    if (reg_manifest_is_index(m)) {
        n->kids = calloc(m->n_children ? m->n_children : 1, sizeof(node *));
        if (!n->kids) {
            eng_image_fail(n->img, "", "out of memory");
            atomic_store(&n->pending, 1);
            eng_node_child_done(e, n, false);
            return;
        }
        n->nkids = m->n_children;
        atomic_store(&n->pending, (int)m->n_children + 1);
        for (size_t i = 0; i < m->n_children; i++) {
            node *k = calloc(1, sizeof(*k));
            n->kids[i] = k;
            if (!k) {
                atomic_store(&n->failed, 1);
                atomic_fetch_sub(&n->pending, 1);
                continue;
            }
            k->img = n->img;
            k->parent = n;
            k->digest = it_strdup0(m->children[i].digest);
            k->push_ref = it_strdup0(m->children[i].digest);
            if (!k->digest || !k->push_ref) {
                eng_node_free(k);
                n->kids[i] = NULL;
                atomic_store(&n->failed, 1);
                atomic_fetch_sub(&n->pending, 1);
                continue;
            }
            eng_enqueue(e, &k->task, T_NODE, k, 0);
        }
    } else {
        /* Sizes a server wrote: the sums saturate, never wrap. */
        int64_t expect = 0;
        for (size_t i = 0; i < m->n_blobs; i++)
            if (m->blobs[i].size > 0 && !reg_descriptor_foreign(&m->blobs[i]))
                expect = it_add_sat(expect, m->blobs[i].size);
        /* An index's children add up: the expectation is the sum. */
        int64_t total = eng_add_sat(&n->img->expect, expect);
        eng_emit(e, &(it_event){.kind = IT_EV_IMAGE_EXPECT,
                                .image = n->img->id,
                                .bytes = total});
        n->blob_tasks = calloc(m->n_blobs ? m->n_blobs : 1, sizeof(task));
        if (!n->blob_tasks) {
            eng_image_fail(n->img, "", "out of memory");
            atomic_store(&n->pending, 1);
            eng_node_child_done(e, n, false);
            return;
        }
        atomic_store(&n->pending, (int)m->n_blobs + 1);
        for (size_t i = 0; i < m->n_blobs; i++)
            eng_enqueue(e, &n->blob_tasks[i], T_BLOB, n, i);
    }
    /* The extra count held while fanning out is dropped here, so the node
     * cannot complete before all its tasks are queued. */
    eng_node_child_done(e, n, true);
}

/* T_NODE: a child manifest of an index. */
void eng_run_node(it_engine *e, node *n)
{
    image_ctx *img = n->img;
    repo_ctx *r = img->repo;
    reg_error err = {0};
    int rc = REG_ERR, attempt = 0;
    if (atomic_load(&img->failed) || eng_aborting(e)) {
        node_finish(e, n, false);
        return;
    }
    if (!r->dst_fresh) {
        /* Already on the target (shared by another index)? */
        do {
            rc = e->ops.manifest_head(e->ops.self, eng_dst_client(e, img),
                                      r->pair.dst_repo, n->digest, NULL, &err);
        } while (eng_again(e, rc, &err, &attempt, "check child manifest"));
        attempt = 0;
    }
    if (rc == 0) {
        node_finish(e, n, true);
        return;
    }
    do {
        rc = e->ops.manifest_get(e->ops.self, &n->m, r->src, r->pair.src_repo,
                                 n->digest, &err);
    } while (eng_again(e, rc, &err, &attempt, "get child manifest"));
    if (rc != 0) {
        eng_image_fail(img, "get child manifest: ", err.msg);
        node_finish(e, n, false);
    } else {
        node_begin(e, n);
    }
}

static bool has_tag(char **tags, const char *tag)
{
    for (size_t i = 0; tags && tags[i]; i++)
        if (strcmp(tags[i], tag) == 0)
            return true;
    return false;
}

/* The source manifest's digest by HEAD (no download), into img->digest. */
static int head_source(it_engine *e, image_ctx *img, const char *src_ref,
                       const char *expect, reg_error *err)
{
    repo_ctx *r = img->repo;
    return eng_head_source(e, r->src, r->pair.src_repo, src_ref, expect,
                           img->digest, err);
}

/* The source digest an earlier run copied to this target (asked of the
 * journal), or NULL. */
static char *journal_digest(it_engine *e, const image_ctx *img)
{
    char d[REG_DIGEST_LEN + 1];
    if (!e->o.journal ||
        it_journal_image_digest(e->o.journal, img->src_str, img->dst_str, d,
                                sizeof(d)) != 1)
        return NULL;
    return strdup(d);
}

/* Decides from digests alone whether the image must be copied: 0 = copy
 * (*src_ref may become the source digest), 1 = settled as skipped (the
 * reason in why), or a negative code (err). */
static int compare_target(it_engine *e, image_ctx *img, const char **src_ref,
                          char *why, size_t cap, reg_error *err)
{
    repo_ctx *r = img->repo;
    char dst_digest[REG_DIGEST_LEN + 1] = "";
    int rc = 0, attempt = 0;
    /* Does the target have this tag? Known from its tag list, else HEAD. */
    bool dst_has = has_tag(r->dst_tags, img->dst_ref);
    bool dst_maybe = !(r->dst_tags || r->dst_fresh) || dst_has;
    bool src_known = false;
    /* Incremental rerun: the journal says this source digest was copied to
     * this target tag, and the tag is still listed there. If the source
     * still has that digest, one HEAD settles it. */
    char *journaled = dst_has ? journal_digest(e, img) : NULL;
    if (journaled) {
        if ((rc = head_source(e, img, *src_ref, journaled, err)) != 0)
            goto out;
        src_known = true;
        if (strcmp(img->digest, journaled) == 0) {
            /* issue 13: no referrer walk; the record was written once the
             * referrers were done (a new one: fresh state dir, or
             * --verify=deep) */
            snprintf(why, cap, "already present (same digest, journal)");
            rc = 1;
            goto out;
        }
    }
    if (dst_maybe) {
        do {
            rc = e->ops.manifest_head(e->ops.self, img->dst, r->pair.dst_repo,
                                      img->dst_ref, dst_digest, err);
        } while (eng_again(e, rc, err, &attempt, "check target"));
        if (rc == REG_ENOTFOUND) {
            dst_digest[0] = '\0';
            rc = 0;
        }
        if (rc != 0)
            goto out;
    }
    if (dst_digest[0]) {
        /* Compare by HEAD on the source: no manifest download if same. */
        if (!src_known && (rc = head_source(e, img, *src_ref, NULL, err)) != 0)
            goto out;
        src_known = true;
        /* --verify found something under this tag absent: copy it
         * again (what is there is skipped blob by blob) */
        bool repair = e->o.journal && !e->o.dry_run &&
                      it_journal_image_needs_repair(e->o.journal, img->src_str,
                                                    img->dst_str) == 1;
        if (strcmp(img->digest, dst_digest) == 0 && !repair) {
            /* Journaled too (by start_image, once the referrers are
             * copied), so the next rerun settles it with one HEAD. */
            snprintf(why, cap, "already present (same digest)");
            img->ref_present = true; /* issue 13: referrers still copied */
            rc = 1;
            goto out;
        }
        if (!e->o.tag_exist_overridden && !repair) {
            snprintf(why, cap,
                     "target tag exists with another digest %.19s... and "
                     "--tag-exist-overridden=false",
                     dst_digest);
            rc = 1;
            goto out;
        }
    }
    if (src_known)
        *src_ref = img->digest;
out:
    free(journaled);
    return rc;
}

/* An image that is not stopped: compare, fetch its manifest, then plan it
 * (dry run) or fan its tree out. */
static void start_image(it_engine *e, image_ctx *img)
{
    repo_ctx *r = img->repo;
    reg_error err = {0};
    int rc, attempt = 0;
    const char *src_ref = img->tag ? img->tag : r->pair.src_digest;
    reg_manifest *m = NULL;
    node *root = NULL;
    bool begun = false;
    it_image_status st = IT_STATUS_FAILED;
    char skip[200];
    const char *why = err.msg;

    img->ref_present = false; /* issue 13: set again by the compare */
    img->dst = eng_get_client(e, r->pair.dst_host, r->pair.dst_repo,
                              &img->dst_expires, &err);
    if (!img->dst)
        goto finish;
    eng_emit(e, &(it_event){.kind = IT_EV_IMAGE_STARTED,
                            .repo = r->id,
                            .image = img->id,
                            .source = img->src_str,
                            .target = img->dst_str});
    if (e->o.verify) { /* --verify: a verdict instead of a copy */
        eng_verify_image(e, img, src_ref);
        return;
    }
    if (img->repo->platforms && !e->o.dry_run) {
        /* issue 14: a platform filter decides (engine_platforms.c) */
        rc = eng_platforms_start(e, img, src_ref, &m, skip, sizeof(skip), &err);
        if (rc > 0) {
            st = IT_STATUS_SKIPPED;
            why = skip;
        }
        if (rc != 0)
            goto finish;
        goto tree;
    }
    rc = compare_target(e, img, &src_ref, skip, sizeof(skip), &err);
    if (rc != 0) {
        if (rc > 0) {
            st = IT_STATUS_SKIPPED;
            why = skip;
        }
        /* issue 13: a present image's referrers are copied all the same,
         * and only then is it journaled (a kill in between must not leave
         * a record that a rerun trusts) */
        if (rc > 0 && img->ref_present && !eng_referrers_run(e, img, NULL)) {
            st = IT_STATUS_FAILED;
            why = img->error;
        } else if (rc > 0 && img->ref_present && !e->o.dry_run) {
            eng_emit(e, &(it_event){.kind = IT_EV_IMAGE_PRESENT,
                                    .image = img->id,
                                    .source = img->src_str,
                                    .target = img->dst_str,
                                    .digest = img->digest});
        }
        goto finish;
    }
    if (e->o.dry_run) {
        /* The digest by HEAD, the manifests from the plan's cache. */
        if (src_ref != img->digest &&
            (rc = head_source(e, img, src_ref, NULL, &err)) != 0)
            goto finish;
        if (eng_plan_image(e, img, &err) == 0) {
            st = IT_STATUS_PLANNED;
            why = NULL;
        }
        goto finish;
    }
    do {
        rc = e->ops.manifest_get(e->ops.self, &m, r->src, r->pair.src_repo,
                                 src_ref, &err);
    } while (eng_again(e, rc, &err, &attempt, "get manifest"));
    if (rc != 0)
        goto finish;
    memcpy(img->digest, m->digest, sizeof(img->digest));
tree:
    root = calloc(1, sizeof(*root));
    if (!root || !(root->push_ref = strdup(img->dst_ref))) {
        why = "out of memory";
        goto finish;
    }
    root->img = img;
    root->m = m;
    img->root = root;
    root = NULL; /* the image owns the tree, the tree the manifest */
    m = NULL;
    begun = true;
    /* The tree finishes the image (maybe before node_begin returns). */
    node_begin(e, img->root);
finish:
    if (root)
        free(root->push_ref);
    free(root);
    reg_manifest_free(m);
    if (!begun)
        eng_image_finish(e, img, st, why);
}

void eng_run_image(it_engine *e, image_ctx *img)
{
    if (!eng_stopping(e)) {
        start_image(e, img);
        return;
    }
    if (img->attempt > 0) {
        /* Queued for the final retry pass: it stays failed, with the
         * error it failed with. */
        eng_repo_image_done(e, img->repo, IT_STATUS_FAILED);
        eng_image_final_failure(e, img);
    } else {
        /* Never started: it stays pending (not done) everywhere. */
        eng_emit(e, &(it_event){.kind = IT_EV_IMAGE_FINISHED,
                                .repo = img->repo->id,
                                .image = img->id,
                                .source = img->src_str,
                                .target = img->dst_str,
                                .status = IT_STATUS_PENDING,
                                .text = "not started: the run was stopped"});
    }
    eng_image_done_free(e, img);
}

void eng_image_free(image_ctx *img)
{
    eng_node_free(img->root);
    free(img->tag);
    free(img->dst_ref);
    free(img->src_str);
    free(img->dst_str);
    free(img->error);
    free(img->last_error);
    free(img->platforms); /* issue 14 */
    eng_verify_clear(img);
    free(img);
}
