/*
 * engine_platforms.c - the platform filter of an image (issue 14:
 * --platforms, a rule's `platforms:`).
 *
 * Without a filter nothing here runs: an index is copied byte for byte.
 * With one, the IMAGE task asks eng_platforms_start instead of comparing
 * digests: it reads the source manifest; an index keeps only its matching
 * children (a new index, platform.h says how it is written: its digest
 * differs from the source's), a single image is checked by the os,
 * architecture and variant of its config. No match: skipped, counted.
 * The target is then compared with what would be pushed (the filtered
 * digest), and the journal remembers (source digest, filter, target
 * digest), so a rerun with the same filter settles an unchanged image with
 * two HEADs, and a changed filter copies again.
 */
#include "engine_int.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform.h"

/* An image config larger than this is not read (real ones are a few KiB;
 * a hostile registry cannot make us hold more). */
#define MAX_CONFIG_BYTES ((size_t)4 << 20)

static char **strv_dup0(char *const *v)
{
    size_t n = 0;
    while (v[n])
        n++;
    char **c = calloc(n + 1, sizeof(*c));
    for (size_t i = 0; c && i < n; i++) {
        if (!(c[i] = strdup(v[i]))) {
            reg_strv_free(c);
            return NULL;
        }
    }
    return c;
}

bool eng_platforms_init(it_engine *e, repo_ctx *r, char *const *specs,
                        char *why, size_t cap)
{
    char *global[] = {(char *)e->o.platforms, NULL};
    const char *what = "--platforms";
    if (specs) {
        if (!(r->pair.platforms = strv_dup0(specs))) {
            snprintf(why, cap, "out of memory");
            return false;
        }
        what = "platforms";
    } else if (e->o.platforms) {
        specs = global;
    } else {
        return true; /* no filter */
    }
    it_errbuf err = {{0}};
    r->platforms = calloc(1, sizeof(*r->platforms));
    if (!r->platforms ||
        it_platform_set_parse(r->platforms, specs, what, &err) != 0 ||
        !(r->platforms_key = it_platform_set_key(r->platforms))) {
        snprintf(why, cap, "%s", err.msg[0] ? err.msg : "out of memory");
        return false;
    }
    return true;
}

void eng_platforms_free(repo_ctx *r)
{
    if (r->platforms)
        it_platform_set_free(r->platforms);
    free(r->platforms);
    free(r->platforms_key);
    r->platforms = NULL;
    r->platforms_key = NULL;
}

/* The platform of a single image: its config's os, architecture, variant
 * and os.version (Docker schema 1 names its architecture in the manifest
 * itself). 1 with *have, 0 when the manifest has no platform to check
 * (an artifact: copied as it is), or a negative code. */
static int image_platform(it_engine *e, image_ctx *img, const reg_manifest *m,
                          it_platform *have, reg_error *err)
{
    repo_ctx *r = img->repo;
    json_t *cfg = NULL;
    unsigned char *bytes = NULL;
    size_t len = 0;
    int rc = 0, attempt = 0;
    if (m->kind == REG_KIND_V2S1) {
        cfg = json_loadb((const char *)m->body, m->len, 0, NULL);
        json_t *a = json_object_get(cfg, "architecture");
        it_platform_from(have, "linux", json_string_value(a), NULL, NULL);
        rc = 1;
        goto out;
    }
    if ((m->kind != REG_KIND_V2S2 && m->kind != REG_KIND_OCI_MANIFEST) ||
        m->n_blobs == 0)
        goto out;
    do {
        rc =
            e->ops.blob_get(e->ops.self, &bytes, &len, r->src, r->pair.src_repo,
                            m->blobs[0].digest, MAX_CONFIG_BYTES, err);
    } while (eng_again(e, rc, err, &attempt, "get image config"));
    if (rc != 0)
        goto out;
    cfg = json_loadb((const char *)bytes, len, 0, NULL);
    if (!json_is_object(cfg)) {
        rc = reg_error_set(err, REG_EINVAL,
                           "image config is not a JSON object: its platform "
                           "cannot be checked");
        goto out;
    }
    it_platform_from(have, json_string_value(json_object_get(cfg, "os")),
                     json_string_value(json_object_get(cfg, "architecture")),
                     json_string_value(json_object_get(cfg, "variant")),
                     json_string_value(json_object_get(cfg, "os.version")));
    rc = 1;
out:
    json_decref(cfg);
    free(bytes);
    return rc;
}

/* Applies the filter to m (the source manifest): *m may be replaced by
 * the filtered index. 0 = copy, 1 = no matching platform (why), or a
 * negative code. Sets img->target_digest, ->platforms, ->platform_state. */
static int apply_filter(it_engine *e, image_ctx *img, reg_manifest **m,
                        char *why, size_t cap, reg_error *err)
{
    repo_ctx *r = img->repo;
    if (reg_manifest_is_index(*m)) {
        it_platform_filtered f;
        it_errbuf perr = {{0}};
        if (it_platform_filter_index(&f, (*m)->body, (*m)->len, r->platforms,
                                     &perr) != 0)
            return reg_error_set(err, REG_EINVAL, "%s", perr.msg);
        int rc = 0;
        if (f.kept == 0) {
            snprintf(why, cap,
                     "no matching platform: none of the index's %zu "
                     "children is %.300s",
                     f.total, r->platforms_key);
            img->platform_state = IT_PLATFORM_NO_MATCH;
            rc = 1;
        } else if (f.body) {
            reg_manifest *fm = NULL;
            rc = reg_manifest_parse(&fm, (*m)->media_type, f.body, f.len, err);
            if (rc == 0) {
                reg_manifest_free(*m);
                *m = fm;
                img->platform_state = IT_PLATFORM_FILTERED;
            }
        }
        if (rc == 0) {
            memcpy(img->target_digest, (*m)->digest,
                   sizeof(img->target_digest));
            img->platforms = f.platforms;
            f.platforms = NULL;
        }
        it_platform_filtered_clear(&f);
        return rc;
    }
    it_platform have;
    int rc = image_platform(e, img, *m, &have, err);
    if (rc < 0)
        return rc;
    memcpy(img->target_digest, (*m)->digest, sizeof(img->target_digest));
    if (rc == 0)
        return 0; /* nothing to check: copied as it is */
    char name[160];
    it_platform_format(&have, name, sizeof(name));
    if (!have.os[0] || !have.arch[0] ||
        !it_platform_set_match(r->platforms, &have)) {
        snprintf(why, cap,
                 "no matching platform: the image is %.150s, not %.300s",
                 have.os[0] && have.arch[0] ? name : "of no known platform",
                 r->platforms_key);
        img->platform_state = IT_PLATFORM_NO_MATCH;
        img->target_digest[0] = '\0';
        return 1;
    }
    img->platforms = strdup(name);
    return 0;
}

/* The digest the target tag has ("" when none), by HEAD. */
static int head_target(it_engine *e, image_ctx *img, char *digest,
                       reg_error *err)
{
    repo_ctx *r = img->repo;
    int rc, attempt = 0;
    digest[0] = '\0';
    if (r->dst_fresh)
        return 0;
    do {
        rc = e->ops.manifest_head(e->ops.self, img->dst, r->pair.dst_repo,
                                  img->dst_ref, digest, err);
    } while (eng_again(e, rc, err, &attempt, "check target"));
    if (rc == REG_ENOTFOUND) {
        digest[0] = '\0';
        rc = 0;
    }
    return rc;
}

static void present(it_engine *e, image_ctx *img)
{
    eng_emit(e, &(it_event){.kind = IT_EV_IMAGE_PRESENT,
                            .image = img->id,
                            .source = img->src_str,
                            .target = img->dst_str,
                            .digest = img->digest,
                            .target_digest = img->target_digest,
                            .platforms = img->platforms,
                            .platforms_key = img->repo->platforms_key,
                            .platform_state = img->platform_state});
}

/* The journal's record of this image copied with this filter: settled by
 * a HEAD of each side when neither changed. 1 = settled, 0 = not known,
 * or a negative code. */
static int journal_settles(it_engine *e, image_ctx *img, const char *src_ref,
                           char *why, size_t cap, reg_error *err)
{
    repo_ctx *r = img->repo;
    char d[IT_JOURNAL_DIGEST_CAP], t[IT_JOURNAL_DIGEST_CAP];
    char *plats = NULL;
    char dst[REG_DIGEST_LEN + 1];
    int rc = 0;
    if (!e->o.journal ||
        it_journal_platform_get(e->o.journal, img->src_str, img->dst_str,
                                r->platforms_key, d, t, &plats) != 1)
        return 0;
    rc = eng_head_source(e, r->src, r->pair.src_repo, src_ref, d, img->digest,
                         err);
    if (rc != 0 || strcmp(img->digest, d) != 0)
        goto out;
    if ((rc = head_target(e, img, dst, err)) != 0 || strcmp(dst, t) != 0)
        goto out;
    memcpy(img->target_digest, t, sizeof(img->target_digest));
    img->platforms = plats;
    plats = NULL;
    img->platform_state =
        strcmp(d, t) != 0 ? IT_PLATFORM_FILTERED : IT_PLATFORM_NONE;
    snprintf(why, cap, "already present (same %sdigest, journal)",
             img->platform_state ? "filtered " : "");
    rc = 1;
out:
    free(plats);
    return rc;
}

int eng_platforms_plan_index(const image_ctx *img, const reg_manifest *m,
                             reg_manifest **out, reg_error *err)
{
    const it_platform_set *s = img->repo->platforms;
    it_platform_filtered f;
    it_errbuf perr = {{0}};
    int rc = 0;
    *out = NULL;
    if (!s)
        return 0;
    if (it_platform_filter_index(&f, m->body, m->len, s, &perr) != 0)
        return reg_error_set(err, REG_EINVAL, "%s", perr.msg);
    if (f.kept == 0)
        rc = 1;
    else if (f.body)
        rc = reg_manifest_parse(out, m->media_type, f.body, f.len, err);
    it_platform_filtered_clear(&f);
    return rc;
}

int eng_platforms_start(it_engine *e, image_ctx *img, const char *src_ref,
                        reg_manifest **out, char *why, size_t cap,
                        reg_error *err)
{
    repo_ctx *r = img->repo;
    reg_manifest *m = NULL;
    char dst[REG_DIGEST_LEN + 1];
    int rc, attempt = 0;
    *out = NULL;
    /* a try of the final retry pass starts afresh */
    free(img->platforms);
    img->platforms = NULL;
    img->target_digest[0] = '\0';
    img->platform_state = IT_PLATFORM_NONE;
    /* FA: --verify found something under this tag absent: neither the
     * journal nor the target tag's digest settles it (copied again, what
     * is there skipped blob by blob) */
    bool repair = e->o.journal &&
                  it_journal_image_needs_repair(e->o.journal, img->src_str,
                                                img->dst_str) == 1;
    if (!repair && (rc = journal_settles(e, img, src_ref, why, cap, err)) != 0)
        goto out;
    do {
        rc = e->ops.manifest_get(e->ops.self, &m, r->src, r->pair.src_repo,
                                 src_ref, err);
    } while (eng_again(e, rc, err, &attempt, "get manifest"));
    if (rc != 0)
        goto out;
    memcpy(img->digest, m->digest, sizeof(img->digest));
    if ((rc = apply_filter(e, img, &m, why, cap, err)) != 0)
        goto out;
    if ((rc = head_target(e, img, dst, err)) != 0)
        goto out;
    if (strcmp(dst, img->target_digest) == 0 && !repair) {
        /* issue 13: its referrers (of the kept children) are copied all
         * the same, and only then is it journaled */
        if (!eng_referrers_run(e, img, m)) {
            rc = reg_error_set(err, REG_ERR, "%s",
                               img->error ? img->error : "referrers failed");
            goto out;
        }
        present(e, img);
        snprintf(why, cap, "already present (same %sdigest)",
                 img->platform_state ? "filtered " : "");
        rc = 1;
    } else if (dst[0] && !e->o.tag_exist_overridden && !repair) {
        img->platform_state = IT_PLATFORM_NONE; /* nothing was filtered */
        snprintf(why, cap,
                 "target tag exists with another digest %.19s... and "
                 "--tag-exist-overridden=false",
                 dst);
        rc = 1;
    } else {
        *out = m;
        m = NULL;
    }
out:
    reg_manifest_free(m);
    return rc;
}

/* --verify (FA): the copy's selection, reading nothing but a single
 * image's config. */
int eng_platforms_select(it_engine *e, image_ctx *img, reg_manifest **m,
                         char *why, size_t cap, reg_error *err)
{
    free(img->platforms);
    img->platforms = NULL;
    img->target_digest[0] = '\0';
    img->platform_state = IT_PLATFORM_NONE;
    return apply_filter(e, img, m, why, cap, err);
}
