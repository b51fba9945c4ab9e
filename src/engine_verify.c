/*
 * engine_verify.c - --verify (issue 13): prove each selected tag identical on
 * the target, copying nothing. The listing and the image task are the copy
 * run's; where a copy would compare digests, a verify run decides a verdict:
 *
 *   missing     the target has no such tag
 *   different   the target tag has another manifest digest
 *   incomplete  same digest, but a child of an index (deep: a blob, a
 *               child or a referrer) is absent on the target
 *   error       could not be checked
 *   identical   none of the above
 *
 * Requests per tag are those of the copy's skip path: HEAD on the source
 * (with its media type) and HEAD on the target; an index is read once
 * (GET on the source) and each child is HEADed on the target by digest.
 * --verify=deep also reads every manifest from the target and HEADs each
 * blob there (once per target repository per run), and finds the source
 * referrers of the image's manifests as the copy does (the root and each
 * child of an index, then what refers to those; not with
 * --referrers=false) and HEADs each one on the target.
 *
 * With a platform filter (--platforms, a rule's `platforms:`) the source
 * manifest is read and filtered as a copy would: the target tag must have
 * the filtered index's digest (both digests go into the result) and the
 * kept children must be present. An image the filter does not select is
 * not verified: it ends skipped, "not selected (platform)", and counts in
 * no verdict.
 *
 * The digests compared are the ones the registries name
 * (Docker-Content-Digest). For a schema 1 signed manifest that is the
 * digest of its payload without the signatures, so a tag whose target
 * copy was signed again (by the registry or a push) is still identical
 * when its content is.
 */
#include "engine_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --verify=deep remembers at most this many blobs seen present. */
#define ENG_VERIFIED_MAX (1u << 20)
/* Referrers checked, as the copy walks them (engine_referrers.c). */
#define VREF_MAX_DEPTH 4
#define VREF_MAX       1024 /* referrers checked for one image */

void eng_verify_clear(image_ctx *img)
{
    for (size_t i = 0; i < img->nmissing; i++)
        free(img->missing[i]);
    free(img->missing);
    img->missing = NULL;
    img->nmissing = img->missing_more = 0;
    img->verify = IT_VERIFY_NONE;
    img->dst_digest[0] = '\0';
}

/* Notes that `what` ("blob sha256:...", "manifest sha256:...") is absent
 * on the target; past the cap only counted. */
static void add_missing(image_ctx *img, const char *kind, const char *digest)
{
    if (img->nmissing >= ENG_VERIFY_MISSING_MAX) {
        img->missing_more++;
        return;
    }
    char **v = img->missing;
    if (img->nmissing == 0 &&
        !(v = calloc(ENG_VERIFY_MISSING_MAX, sizeof(*v)))) {
        img->missing_more++;
        return;
    }
    img->missing = v;
    char *s = it_join2(kind, ' ', digest);
    if (!s) {
        img->missing_more++;
        return;
    }
    img->missing[img->nmissing++] = s;
}

static bool has_tag(char **tags, const char *tag)
{
    for (size_t i = 0; tags && tags[i]; i++)
        if (strcmp(tags[i], tag) == 0)
            return true;
    return false;
}

static bool index_type(const char *mt)
{
    return mt && (strcmp(mt, REG_MT_OCI_INDEX) == 0 ||
                  strcmp(mt, REG_MT_DOCKER_LIST) == 0);
}

/* HEAD (with retries), the media type too when mt_out is not NULL. */
static int head(it_engine *e, it_regclient *c, const char *repo,
                const char *ref, char digest[REG_DIGEST_LEN + 1], char **mt_out,
                const char *what, reg_error *err)
{
    int rc, attempt = 0;
    do {
        if (mt_out) {
            free(*mt_out);
            *mt_out = NULL;
        }
        if (mt_out && e->ops.manifest_head_mt)
            rc = e->ops.manifest_head_mt(e->ops.self, c, repo, ref, digest,
                                         mt_out, err);
        else
            rc = e->ops.manifest_head(e->ops.self, c, repo, ref, digest, err);
    } while (eng_again(e, rc, err, &attempt, what));
    return rc;
}

static int get(it_engine *e, it_regclient *c, const char *repo, const char *ref,
               reg_manifest **out, const char *what, reg_error *err)
{
    int rc, attempt = 0;
    do {
        reg_manifest_free(*out);
        *out = NULL;
        rc = e->ops.manifest_get(e->ops.self, out, c, repo, ref, err);
    } while (eng_again(e, rc, err, &attempt, what));
    return rc;
}

/* Deep: the referrers of one image, walked like the copy walks them. */
typedef struct vref {
    it_strmap *seen; /* "w digest" walked, "c digest tag" checked */
    size_t total;
} vref;

/* 1 when key was not in the set (and is now), 0, or a negative code. */
static int vref_add(vref *v, char kind, const char *a, const char *b,
                    reg_error *err)
{
    char key[400];
    snprintf(key, sizeof(key), "%c %s %s", kind, a, b ? b : "");
    if (it_strmap_get(v->seen, key))
        return 0;
    if (it_strmap_put(v->seen, key, (void *)1) != 0)
        return reg_error_set(err, REG_ENOMEM, "out of memory");
    return 1;
}

/* Every source referrer of manifest `digest` present on the target (by
 * digest, a cosign one under its tag with the same digest), then what
 * refers to those in turn. Absent ones are noted; 0 or an error. */
static int verify_referrers(it_engine *e, image_ctx *img, vref *v,
                            const char *digest, int depth, reg_error *err)
{
    repo_ctx *r = img->repo;
    reg_referrers *list = NULL;
    int rc = vref_add(v, 'w', digest, NULL, err);
    if (rc <= 0 || depth >= VREF_MAX_DEPTH)
        return rc < 0 ? rc : 0;
    if ((rc = eng_referrers_list(e, r, digest, &list, err)) != 0)
        return rc;
    for (size_t i = 0; i < list->n && rc == 0; i++) {
        const reg_referrer *x = &list->v[i];
        int fresh = vref_add(v, 'c', x->digest, x->tag, err);
        if (fresh <= 0) {
            rc = fresh;
            continue;
        }
        if (++v->total > VREF_MAX) {
            rc =
                reg_error_set(err, REG_ELIMIT,
                              "more than %d referrers for one image", VREF_MAX);
            break;
        }
        char have[REG_DIGEST_LEN + 1] = "";
        rc = head(e, img->dst, r->pair.dst_repo, x->tag ? x->tag : x->digest,
                  have, NULL, "check referrer", err);
        if (rc == REG_ENOTFOUND || (rc == 0 && strcmp(have, x->digest) != 0)) {
            add_missing(img, "referrer", x->tag ? x->tag : x->digest);
            rc = 0;
        } else if (rc != 0) {
            reg_error_prefix(err, "referrer %.19s...: ", x->digest);
        }
    }
    for (size_t i = 0; i < list->n && rc == 0; i++)
        rc = verify_referrers(e, img, v, list->v[i].digest, depth + 1, err);
    reg_referrers_free(list);
    return rc;
}

/* Deep: the referrers of the image (source digest `digest`) and of each
 * child of its index m (NULL: a single image), as the copy walks them;
 * the image's own manifests are no one's referrers here. */
static int verify_image_referrers(it_engine *e, image_ctx *img,
                                  const char *digest, const reg_manifest *m,
                                  reg_error *err)
{
    vref v = {.seen = it_strmap_new()};
    int rc = v.seen ? 0 : reg_error_set(err, REG_ENOMEM, "out of memory");
    for (size_t i = 0; rc >= 0 && m && i < m->n_children; i++)
        rc = vref_add(&v, 'c', m->children[i].digest, NULL, err);
    if (rc >= 0)
        rc = vref_add(&v, 'c', digest, NULL, err);
    if (rc >= 0)
        rc = verify_referrers(e, img, &v, digest, 0, err);
    for (size_t i = 0; rc == 0 && m && i < m->n_children; i++)
        rc = verify_referrers(e, img, &v, m->children[i].digest, 0, err);
    it_strmap_free(v.seen, NULL);
    return rc < 0 ? rc : 0;
}

/* Deep: the blob answers HEAD in the target repository (each one asked
 * once per repository per run). 0 (absent ones noted) or an error. */
static int blob_present(it_engine *e, image_ctx *img, const char *digest,
                        reg_error *err)
{
    repo_ctx *r = img->repo;
    const char *host = e->ops.client_host(e->ops.self, img->dst);
    size_t n = strlen(host) + strlen(r->pair.dst_repo) + strlen(digest) + 3;
    char *key = malloc(n);
    if (!key)
        return reg_error_set(err, REG_ENOMEM, "out of memory");
    snprintf(key, n, "%s %s %s", host, r->pair.dst_repo, digest);
    pthread_mutex_lock(&e->blobs_lock);
    bool known = e->verified && it_strmap_get(e->verified, key);
    pthread_mutex_unlock(&e->blobs_lock);
    int rc = 0, attempt = 0;
    if (!known) {
        do {
            rc = e->ops.blob_exists(e->ops.self, img->dst, r->pair.dst_repo,
                                    digest, err);
        } while (eng_again(e, rc, err, &attempt, "check blob"));
        if (rc == REG_ENOTFOUND) {
            add_missing(img, "blob", digest);
            rc = 0;
        } else if (rc == 0) {
            pthread_mutex_lock(&e->blobs_lock);
            /* bounded: past the cap, blobs are asked again */
            if ((e->verified || (e->verified = it_strmap_new()) != NULL) &&
                it_strmap_count(e->verified) < ENG_VERIFIED_MAX)
                it_strmap_put(e->verified, key, (void *)1);
            pthread_mutex_unlock(&e->blobs_lock);
        }
    }
    free(key);
    return rc;
}

/* Deep: manifest `digest` read from the target, its blobs present there.
 * For an index, the children (and the referrers) are the caller's. */
static int deep_manifest(it_engine *e, image_ctx *img, const char *digest,
                         reg_manifest **out, reg_error *err)
{
    repo_ctx *r = img->repo;
    reg_manifest *m = NULL;
    int rc = get(e, img->dst, r->pair.dst_repo, digest, &m,
                 "get target manifest", err);
    if (rc == REG_ENOTFOUND) {
        add_missing(img, "manifest", digest);
        return 0;
    }
    for (size_t i = 0; rc == 0 && m && i < m->n_blobs; i++)
        if (!reg_descriptor_foreign(&m->blobs[i])) /* in no registry */
            rc = blob_present(e, img, m->blobs[i].digest, err);
    if (rc == 0 && out) {
        *out = m;
        m = NULL;
    }
    reg_manifest_free(m);
    return rc;
}

/* The children of index m on the target: each by HEAD (deep: read and
 * checked like the root). */
static int verify_children(it_engine *e, image_ctx *img, const reg_manifest *m,
                           int depth, reg_error *err)
{
    repo_ctx *r = img->repo;
    if (depth > 8)
        return reg_error_set(err, REG_EINVAL, "indexes nested too deep");
    for (size_t i = 0; i < m->n_children; i++) {
        const char *d = m->children[i].digest;
        int rc;
        if (e->o.verify < 2) {
            rc = head(e, img->dst, r->pair.dst_repo, d, NULL, NULL,
                      "check child manifest", err);
            if (rc == REG_ENOTFOUND) {
                add_missing(img, "manifest", d);
                rc = 0;
            }
        } else {
            reg_manifest *k = NULL;
            rc = deep_manifest(e, img, d, &k, err);
            if (rc == 0 && k && reg_manifest_is_index(k))
                rc = verify_children(e, img, k, depth + 1, err);
            reg_manifest_free(k);
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* With a platform filter: reads the source manifest into *m and filters
 * it as a copy would; want gets the digest the target tag should have.
 * 0 = selected, 1 = not selected (why), or a negative code. */
static int select_platforms(it_engine *e, image_ctx *img, reg_manifest **m,
                            char want[REG_DIGEST_LEN + 1], char *why,
                            size_t cap, reg_error *err)
{
    repo_ctx *r = img->repo;
    char no[400] = "";
    int rc = get(e, r->src, r->pair.src_repo, img->digest, m,
                 "get source manifest", err);
    if (rc != 0) {
        reg_error_prefix(err, "get source manifest: ");
        return rc;
    }
    rc = eng_platforms_select(e, img, m, no, sizeof(no), err);
    if (rc == 1) {
        snprintf(why, cap, "not selected (platform): %s", no);
        return 1;
    }
    if (rc != 0)
        return rc;
    memcpy(want, img->target_digest, REG_DIGEST_LEN + 1);
    /* the result names what the target has (want when identical) */
    img->target_digest[0] = '\0';
    return 0;
}

/* The verdict (img->verify; IT_VERIFY_NONE for an image the platform
 * filter does not select), or a negative code (err) for `error`. */
static int verdict(it_engine *e, image_ctx *img, const char *src_ref, char *why,
                   size_t cap, reg_error *err)
{
    repo_ctx *r = img->repo;
    char *mt = NULL;
    reg_manifest *m = NULL;
    char want[REG_DIGEST_LEN + 1];
    int rc = head(e, r->src, r->pair.src_repo, src_ref, img->digest, &mt,
                  "check source", err);
    if (rc != 0) {
        reg_error_prefix(err, "check source");
        goto out;
    }
    memcpy(want, img->digest, sizeof(want));
    if (r->platforms &&
        (rc = select_platforms(e, img, &m, want, why, cap, err)) != 0) {
        if (rc > 0)
            rc = 0; /* not selected: no verdict */
        goto out;
    }
    bool filtered = strcmp(want, img->digest) != 0;
    /* A tag the target's listing does not have is missing without a
     * request; a digest (or an unlisted target) is asked. */
    bool by_digest = strncmp(img->dst_ref, "sha256:", 7) == 0;
    bool absent = r->dst_fresh || (!by_digest && r->dst_tags &&
                                   !has_tag(r->dst_tags, img->dst_ref));
    if (!absent) {
        rc = head(e, img->dst, r->pair.dst_repo, img->dst_ref, img->dst_digest,
                  NULL, "check target", err);
        absent = rc == REG_ENOTFOUND;
        if (rc != 0 && !absent) {
            reg_error_prefix(err, "check target");
            goto out;
        }
        rc = 0;
    }
    if (absent) {
        img->dst_digest[0] = '\0';
        img->verify = IT_VERIFY_MISSING;
        snprintf(why, cap, "missing: the target has no %s",
                 by_digest ? "such manifest" : "such tag");
        goto out;
    }
    if (strcmp(want, img->dst_digest) != 0) {
        img->verify = IT_VERIFY_DIFFERENT;
        if (filtered)
            snprintf(why, cap,
                     "different: the target has %s, the source index "
                     "filtered by platform %s (the source %s)",
                     img->dst_digest, want, img->digest);
        else
            snprintf(why, cap, "different: the target has %s, the source %s",
                     img->dst_digest, img->digest);
        goto out;
    }
    /* Same digest. An index's children (and, deep, every manifest's
     * blobs and the referrers) must be there too. The source is read
     * only for an index (or when its HEAD named no media type), or for
     * a platform filter (read above). */
    bool index = index_type(mt);
    if (e->o.verify >= 2) {
        reg_manifest_free(m);
        m = NULL;
        rc = deep_manifest(e, img, want, &m, err);
        index = m && reg_manifest_is_index(m);
    } else if (m) {
        index = reg_manifest_is_index(m);
    } else if (index || !mt) {
        rc = get(e, r->src, r->pair.src_repo, img->digest, &m,
                 "get source index", err);
        index = rc == 0 && reg_manifest_is_index(m);
    }
    if (rc == 0 && index)
        rc = verify_children(e, img, m, 0, err);
    /* Deep: the referrers (issue 13 §2), unless --referrers=false */
    if (rc == 0 && e->o.verify >= 2 && e->o.referrers)
        rc = verify_image_referrers(e, img, img->digest, index ? m : NULL, err);
    if (rc != 0)
        goto out;
    if (img->nmissing || img->missing_more) {
        img->verify = IT_VERIFY_INCOMPLETE;
        snprintf(why, cap, "incomplete: %zu absent on the target (%s%s)",
                 img->nmissing + img->missing_more, img->missing[0],
                 img->nmissing + img->missing_more > 1 ? ", ..." : "");
    } else {
        /* no text: identical is no error (the verdict says it; the
         * report's "filtered" says a platform filter made it so) */
        img->verify = IT_VERIFY_IDENTICAL;
    }
out:
    free(mt);
    reg_manifest_free(m);
    return rc;
}

void eng_verify_image(it_engine *e, image_ctx *img, const char *src_ref)
{
    reg_error err = {0};
    char why[600];
    eng_verify_clear(img);
    int rc = verdict(e, img, src_ref, why, sizeof(why), &err);
    if (rc != 0) {
        img->verify = IT_VERIFY_ERROR;
        snprintf(why, sizeof(why), "%s", err.msg);
    }
    /* identical (no text: not an error), or not selected by the platform
     * filter (no verdict, the reason) */
    bool fine =
        img->verify == IT_VERIFY_IDENTICAL || img->verify == IT_VERIFY_NONE;
    eng_image_finish(e, img, fine ? IT_STATUS_SKIPPED : IT_STATUS_FAILED,
                     img->verify == IT_VERIFY_IDENTICAL ? NULL : why);
}

const char *it_verify_status_name(it_verify_status s)
{
    switch (s) {
    case IT_VERIFY_NONE:
        return "";
    case IT_VERIFY_IDENTICAL:
        return "identical";
    case IT_VERIFY_MISSING:
        return "missing";
    case IT_VERIFY_DIFFERENT:
        return "different";
    case IT_VERIFY_INCOMPLETE:
        return "incomplete";
    case IT_VERIFY_ERROR:
        return "error";
    }
    return "error";
}
