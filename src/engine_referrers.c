/*
 * engine_referrers.c - referrers travel with their images (issue 13):
 * signatures, SBOMs and attestations that refer to an image's manifests
 * are copied byte for byte into the same target repository, with what
 * refers to them in turn; and the hint for a target that refuses foreign
 * layers.
 *
 * Referrers of a manifest on the source are found with the referrers API
 * (GET /v2/<name>/referrers/<digest>) and, where the registry answers 404,
 * with the referrers tag schema ("sha256-<hex>" holding an index of
 * referrers); the cosign tags ("sha256-<hex>.sig", ".att", ".sbom") are
 * always looked at (cosign's signatures carry no subject). On a target
 * that does not serve the API, the tag schema index is written (merged)
 * there, so clients find the referrers the same way.
 *
 * The walk runs in the worker that ends the image, before the image ends:
 * a referrer that fails fails its image (the retry pass, or a rerun, tries
 * it again).
 */
#include "engine_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REF_MAX_DEPTH        4    /* referrers of referrers of ... */
#define REF_MAX_PER_MANIFEST 128  /* referrers of one manifest */
#define REF_MAX_PER_IMAGE    1024 /* referrers walked for one image */

static const char *const cosign_suffixes[] = {".sig", ".att", ".sbom"};

typedef struct walk {
    it_engine *e;
    image_ctx *img;
    repo_ctx *r;
    it_regclient *dst;
    it_strmap *seen; /* "w digest" walked, "c digest tag" copied */
    size_t total;
    reg_error err;
} walk;

/* true when key was not in the set (and is now). */
static int seen_add(walk *w, char kind, const char *a, const char *b)
{
    char key[400];
    snprintf(key, sizeof(key), "%c %s %s", kind, a, b ? b : "");
    if (it_strmap_get(w->seen, key))
        return 0;
    if (it_strmap_put(w->seen, key, (void *)1) != 0)
        return reg_error_set(&w->err, REG_ENOMEM, "out of memory");
    return 1;
}

/* Whether this run copies every tag of r's source repository (no tag
 * list, no digest, no tag filter): then the fallback tags (the referrers
 * tag schema's "sha256-<hex>" index and cosign's ".sig", ".att", ".sbom")
 * are in its listing and copied as tags of their own, byte for byte (an
 * index tag with its children), so asking for them per manifest again
 * would only cost requests. */
static bool listing_covers_tags(const repo_ctx *r)
{
    return !r->pair.tags && !r->pair.src_digest && !r->filter;
}

/* Whether host serves the referrers API as this repository knows it (*mine:
 * 1, -1, 0 unknown), else as another repository of the host found out. */
static int api_known(it_engine *e, atomic_int *mine, const char *host)
{
    int v = atomic_load(mine);
    if (!v && (v = eng_host_referrers_api(e, host)) != 0)
        atomic_store(mine, v);
    return v;
}

/* What refers to digest on the source: the API, or the tag schema, and
 * the cosign tags (engine_int.h; --verify=deep uses it too). */
int eng_referrers_list(it_engine *e, repo_ctx *r, const char *digest,
                       reg_referrers **out, reg_error *err)
{
    reg_referrers *list = NULL;
    reg_manifest *m = NULL;
    char tag[REG_DIGEST_LEN + 16];
    int rc = 0, attempt = 0;

    if (api_known(e, &r->src_ref_api, r->pair.src_host) >= 0) {
        do {
            rc = e->ops.referrers_api(e->ops.self, &list, r->src,
                                      r->pair.src_repo, digest, err);
        } while (eng_again(e, rc, err, &attempt, "find referrers"));
        if (rc == REG_EUNSUPPORTED) {
            atomic_store(&r->src_ref_api, -1);
            rc = 0;
        } else if (rc != 0) {
            goto out;
        } else {
            atomic_store(&r->src_ref_api, 1);
        }
        eng_host_set_referrers_api(e, r->pair.src_host,
                                   atomic_load(&r->src_ref_api));
    }
    if (!list && !(list = calloc(1, sizeof(*list)))) {
        rc = reg_error_set(err, REG_ENOMEM, "out of memory");
        goto out;
    }
    if (atomic_load(&r->src_ref_api) < 0 && listing_covers_tags(r))
        goto out; /* the fallback tags are copied as tags */
    if (atomic_load(&r->src_ref_api) < 0) {
        /* The referrers tag schema. */
        if ((rc = reg_referrers_tag(tag, sizeof(tag), digest, "", err)))
            goto out;
        attempt = 0;
        do {
            rc = e->ops.manifest_get(e->ops.self, &m, r->src, r->pair.src_repo,
                                     tag, err);
        } while (eng_again(e, rc, err, &attempt, "get referrers tag"));
        if (rc == 0)
            rc = reg_referrers_parse_index(list, m->body, m->len,
                                           REF_MAX_PER_MANIFEST, err);
        else if (rc == REG_ENOTFOUND)
            rc = 0;
        if (rc != 0)
            goto out;
    }
    /* cosign's tags: ordinary manifests copied under the same tag */
    for (size_t i = 0; i < sizeof(cosign_suffixes) / sizeof(*cosign_suffixes);
         i++) {
        char d[REG_DIGEST_LEN + 1] = "";
        if ((rc = reg_referrers_tag(tag, sizeof(tag), digest,
                                    cosign_suffixes[i], err)))
            goto out;
        attempt = 0;
        do {
            rc = e->ops.manifest_head(e->ops.self, r->src, r->pair.src_repo,
                                      tag, d, err);
        } while (eng_again(e, rc, err, &attempt, "check cosign tag"));
        if (rc == REG_ENOTFOUND) {
            rc = 0;
            continue;
        }
        if (rc != 0)
            goto out;
        reg_referrer x = {.digest = d, .size = -1, .tag = tag};
        if ((rc = reg_referrers_add(list, &x, REF_MAX_PER_MANIFEST, err)))
            goto out;
    }
    if (list->n > REF_MAX_PER_MANIFEST)
        rc = reg_error_set(err, REG_ELIMIT, "more than %d referrers",
                           REF_MAX_PER_MANIFEST);
out:
    reg_manifest_free(m);
    if (rc != 0) {
        reg_error_prefix(err, "referrers of %.19s...: ", digest);
        reg_referrers_free(list);
        list = NULL;
    }
    *out = list;
    return rc;
}

static int src_find(walk *w, const char *digest, reg_referrers **out)
{
    return eng_referrers_list(w->e, w->r, digest, out, &w->err);
}

typedef struct ref_progress {
    it_engine *e;
    image_ctx *img;
    int64_t moved;
} ref_progress;

static void ref_progress_cb(void *payload, int64_t delta)
{
    ref_progress *p = payload;
    p->moved += delta;
    atomic_fetch_add(&p->img->bytes, delta);
    eng_emit(
        p->e,
        &(it_event){.kind = IT_EV_BYTES, .image = p->img->id, .bytes = delta});
}

/* Makes one blob of a referrer present in the target repository. */
static int copy_blob(walk *w, const reg_descriptor *d)
{
    it_engine *e = w->e;
    repo_ctx *r = w->r;
    int rc, attempt = 0;
    if (reg_descriptor_foreign(d))
        return 0;
    do {
        rc = e->ops.blob_exists(e->ops.self, w->dst, r->pair.dst_repo,
                                d->digest, &w->err);
    } while (eng_again(e, rc, &w->err, &attempt, "check blob"));
    if (rc != REG_ENOTFOUND)
        return rc;
    ref_progress p = {e, w->img, 0};
    reg_copy_opts co = {.progress = ref_progress_cb,
                        .payload = &p,
                        .cancel = e->o.ctl ? &e->o.ctl->abort : NULL};
    attempt = 0;
    do {
        p.moved = 0;
        rc = e->ops.blob_copy(e->ops.self, r->src, r->pair.src_repo, w->dst,
                              r->pair.dst_repo, d, &co, &w->err);
        if (rc != 0 && p.moved) {
            atomic_fetch_sub(&w->img->bytes, p.moved);
            eng_emit(e, &(it_event){.kind = IT_EV_BYTES,
                                    .image = w->img->id,
                                    .bytes = -p.moved});
        }
    } while (eng_again(e, rc, &w->err, &attempt, "copy blob"));
    if (rc == 0)
        eng_emit(
            e, &(it_event){.kind = IT_EV_BLOB_DONE,
                           .image = w->img->id,
                           .registry = e->ops.client_host(e->ops.self, w->dst),
                           .repo_path = r->pair.dst_repo,
                           .digest = d->digest,
                           .size = d->size,
                           .outcome = IT_BLOB_COPIED});
    return rc;
}

static int put_manifest(walk *w, const char *ref, const reg_manifest *m)
{
    it_engine *e = w->e;
    int rc, attempt = 0;
    do {
        rc = e->ops.manifest_put(e->ops.self, w->dst, w->r->pair.dst_repo, ref,
                                 m, &w->err);
    } while (eng_again(e, rc, &w->err, &attempt, "push referrer"));
    const char *hint = rc ? eng_foreign_refused(m, &w->err) : NULL;
    if (hint)
        reg_error_prefix(&w->err, "%s: ", hint);
    return rc;
}

/* Copies manifest `digest` (and its blobs, or its children) from the
 * source and pushes it to ref (a tag, or the digest). */
static int copy_manifest(walk *w, const char *digest, const char *ref,
                         int depth)
{
    it_engine *e = w->e;
    repo_ctx *r = w->r;
    reg_manifest *m = NULL;
    int rc, attempt = 0;
    if (depth > REF_MAX_DEPTH)
        return reg_error_set(&w->err, REG_ELIMIT,
                             "referrer %.19s...: nested deeper than %d", digest,
                             REF_MAX_DEPTH);
    do {
        rc = e->ops.manifest_get(e->ops.self, &m, r->src, r->pair.src_repo,
                                 digest, &w->err);
    } while (eng_again(e, rc, &w->err, &attempt, "get referrer"));
    for (size_t i = 0; rc == 0 && m && i < m->n_children; i++) {
        const char *cd = m->children[i].digest;
        attempt = 0;
        do {
            rc = e->ops.manifest_head(e->ops.self, w->dst, r->pair.dst_repo, cd,
                                      NULL, &w->err);
        } while (eng_again(e, rc, &w->err, &attempt, "check referrer"));
        if (rc == REG_ENOTFOUND)
            rc = copy_manifest(w, cd, cd, depth + 1);
    }
    for (size_t i = 0; rc == 0 && m && i < m->n_blobs; i++)
        rc = copy_blob(w, &m->blobs[i]);
    if (rc == 0)
        rc = put_manifest(w, ref, m);
    reg_manifest_free(m);
    return rc;
}

/* One referrer: skipped when the target has it (by digest, or its cosign
 * tag at the same digest), else copied. */
static int copy_referrer(walk *w, const reg_referrer *x)
{
    it_engine *e = w->e;
    const char *ref = x->tag ? x->tag : x->digest;
    char have[REG_DIGEST_LEN + 1] = "";
    int rc, attempt = 0;
    do {
        rc = e->ops.manifest_head(e->ops.self, w->dst, w->r->pair.dst_repo, ref,
                                  have, &w->err);
    } while (eng_again(e, rc, &w->err, &attempt, "check referrer"));
    if (rc == 0 && (strcmp(have, x->digest) == 0 ||
                    (x->tag && !e->o.tag_exist_overridden))) {
        atomic_fetch_add(&w->img->ref_skipped, 1);
        return 0;
    }
    if (rc != 0 && rc != REG_ENOTFOUND)
        return rc;
    rc = copy_manifest(w, x->digest, ref, 0);
    if (rc == 0)
        atomic_fetch_add(&w->img->ref_copied, 1);
    else
        reg_error_prefix(&w->err,
                         "referrer %s%s%.19s...: ", x->tag ? x->tag : "",
                         x->tag ? " " : "", x->digest);
    return rc;
}

/* Whether the target serves the referrers API (asked once per
 * repository): 1, 0, or a negative code. */
static int dst_serves_api(walk *w, const char *digest)
{
    it_engine *e = w->e;
    repo_ctx *r = w->r;
    int known = api_known(e, &r->dst_ref_api, r->pair.dst_host);
    if (known)
        return known > 0;
    reg_referrers *list = NULL;
    int rc, attempt = 0;
    do {
        rc = e->ops.referrers_api(e->ops.self, &list, w->dst, r->pair.dst_repo,
                                  digest, &w->err);
    } while (eng_again(e, rc, &w->err, &attempt, "find target referrers"));
    reg_referrers_free(list);
    if (rc != 0 && rc != REG_EUNSUPPORTED)
        return rc;
    atomic_store(&r->dst_ref_api, rc == 0 ? 1 : -1);
    eng_host_set_referrers_api(e, r->pair.dst_host, rc == 0 ? 1 : -1);
    return rc == 0;
}

/* The referrers tag schema index of digest on the target, merged with
 * the referrers of list (those without a cosign tag). */
static int write_tag_schema(walk *w, const char *digest,
                            const reg_referrers *list)
{
    it_engine *e = w->e;
    repo_ctx *r = w->r;
    char tag[REG_DIGEST_LEN + 16];
    reg_manifest *old = NULL, *idx = NULL;
    unsigned char *body = NULL;
    size_t len = 0;
    bool changed = false;
    int rc, attempt = 0;
    if ((rc = reg_referrers_tag(tag, sizeof(tag), digest, "", &w->err)))
        return rc;
    do {
        rc = e->ops.manifest_get(e->ops.self, &old, w->dst, r->pair.dst_repo,
                                 tag, &w->err);
    } while (eng_again(e, rc, &w->err, &attempt, "get referrers tag"));
    if (rc != 0 && rc != REG_ENOTFOUND)
        goto out;
    rc =
        reg_referrers_index_merge(&body, &len, &changed, old ? old->body : NULL,
                                  old ? old->len : 0, list, &w->err);
    if (rc == 0 && changed)
        rc = reg_manifest_parse(&idx, REG_MT_OCI_INDEX, body, len, &w->err);
    if (rc == 0 && changed)
        rc = put_manifest(w, tag, idx);
out:
    if (rc)
        reg_error_prefix(&w->err, "referrers tag %.20s...: ", tag);
    free(body);
    reg_manifest_free(idx);
    reg_manifest_free(old);
    return rc;
}

static int walk_subject(walk *w, const char *digest, int depth)
{
    reg_referrers *list = NULL;
    int rc = seen_add(w, 'w', digest, NULL);
    if (rc <= 0 || depth >= REF_MAX_DEPTH)
        return rc < 0 ? rc : 0;
    if ((rc = src_find(w, digest, &list)) != 0)
        return rc;
    bool schema = false;
    for (size_t i = 0; i < list->n && rc == 0; i++) {
        const reg_referrer *x = &list->v[i];
        schema |= x->tag == NULL;
        int fresh = seen_add(w, 'c', x->digest, x->tag);
        if (fresh < 0) {
            rc = fresh;
            break;
        }
        if (!fresh)
            continue;
        if (++w->total > REF_MAX_PER_IMAGE) {
            rc = reg_error_set(&w->err, REG_ELIMIT,
                               "more than %d referrers for one image",
                               REF_MAX_PER_IMAGE);
            break;
        }
        rc = copy_referrer(w, x);
    }
    if (rc == 0 && schema) {
        int api = dst_serves_api(w, digest);
        rc = api < 0 ? api : api == 0 ? write_tag_schema(w, digest, list) : 0;
    }
    /* then what refers to them */
    for (size_t i = 0; i < list->n && rc == 0; i++)
        rc = walk_subject(w, list->v[i].digest, depth + 1);
    reg_referrers_free(list);
    return rc;
}

bool eng_referrers_run(it_engine *e, image_ctx *img, const reg_manifest *m)
{
    if (!e->o.referrers || e->o.dry_run)
        return true;
    repo_ctx *r = img->repo;
    walk w = {.e = e, .img = img, .r = r};
    reg_manifest *fetched = NULL;
    if (!m)
        m = img->root ? img->root->m : NULL;
    int rc = 0, attempt = 0;
    atomic_store(&img->ref_copied, 0);
    atomic_store(&img->ref_skipped, 0);
    w.dst = eng_dst_client(e, img);
    w.seen = it_strmap_new();
    if (!w.dst || !w.seen) {
        rc = reg_error_set(&w.err, REG_ENOMEM, "out of memory");
        goto out;
    }
    api_known(e, &r->src_ref_api, r->pair.src_host);
    if (!m && listing_covers_tags(r) && atomic_load(&r->src_ref_api) >= 0) {
        /* Without the referrers API (asked once per registry) the
         * listing holds every referrer tag: nothing to walk, and no
         * manifest to read for a present image. */
        reg_referrers *probe = NULL;
        rc = eng_referrers_list(e, r, img->digest, &probe, &w.err);
        reg_referrers_free(probe);
        if (rc != 0)
            goto out;
    }
    if (!m && listing_covers_tags(r) && atomic_load(&r->src_ref_api) < 0)
        goto out;
    if (!m) {
        /* A skipped image: its children are known from its manifest. */
        do {
            rc = e->ops.manifest_get(e->ops.self, &fetched, r->src,
                                     r->pair.src_repo, img->digest, &w.err);
        } while (eng_again(e, rc, &w.err, &attempt, "get manifest"));
        if (rc != 0)
            goto out;
        m = fetched;
    }
    /* The image's own manifests are no one's referrers here. */
    for (size_t i = 0; m && i < m->n_children && rc >= 0; i++)
        rc = seen_add(&w, 'c', m->children[i].digest, NULL);
    if (rc >= 0)
        rc = seen_add(&w, 'c', img->digest, NULL);
    if (rc >= 0)
        rc = walk_subject(&w, img->digest, 0);
    for (size_t i = 0; m && i < m->n_children && rc == 0; i++)
        rc = walk_subject(&w, m->children[i].digest, 0);
out:
    reg_manifest_free(fetched);
    it_strmap_free(w.seen, NULL);
    if (rc < 0) {
        eng_image_fail(img, "referrers: ", w.err.msg);
        return false;
    }
    return true;
}

const char *eng_foreign_refused(const reg_manifest *m, const reg_error *err)
{
    bool foreign = false;
    for (size_t i = 0; m && i < m->n_blobs; i++)
        foreign |= reg_descriptor_foreign(&m->blobs[i]);
    if (!foreign || !err)
        return NULL;
    if (err->http_status != 400 &&
        strcmp(err->registry_code, "MANIFEST_BLOB_UNKNOWN") != 0 &&
        strcmp(err->registry_code, "MANIFEST_INVALID") != 0)
        return NULL;
    return "the target refused a manifest with foreign (non-distributable) "
           "layers; allow their URLs in the target registry's settings "
           "(Distribution: validation.manifests.urls.allow)";
}
