/*
 * referrers.c - what refers to a manifest (OCI distribution 1.1): the
 * referrers API (GET /v2/<name>/referrers/<digest>, an image index paged
 * by Link), and the pieces of the fallbacks a client uses where a
 * registry does not serve it: the referrers tag schema ("sha256-<hex>"
 * holding an index of referrers) and the cosign tag convention
 * ("sha256-<hex>.sig", ".att", ".sbom").
 */
#include "internal.h"

#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REFERRERS_MAX_PAGES 64
#define REFERRERS_PAGE_MAX  (4u * 1024 * 1024)

static void referrer_clear(reg_referrer *x)
{
    free(x->digest);
    free(x->media_type);
    free(x->artifact_type);
    free(x->annotations);
    free(x->tag);
    memset(x, 0, sizeof(*x));
}

void reg_referrers_free(reg_referrers *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n; i++)
        referrer_clear(&r->v[i]);
    free(r->v);
    free(r);
}

static bool same0(const char *a, const char *b)
{
    return (a == NULL && b == NULL) ||
           (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static char *dup0(const char *s, bool *oom)
{
    if (s == NULL)
        return NULL;
    char *d = strdup(s);
    if (d == NULL)
        *oom = true;
    return d;
}

int reg_referrers_add(reg_referrers *r, const reg_referrer *x, size_t max,
                      reg_error *err)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->v[i].digest, x->digest) == 0 &&
            same0(r->v[i].tag, x->tag))
            return REG_OK;
    if (r->n >= max)
        return reg_error_set(err, REG_ELIMIT, "more than %zu referrers", max);
    reg_referrer *nv = realloc(r->v, (r->n + 1) * sizeof(*nv));
    if (nv == NULL)
        return reg_error_set(err, REG_ENOMEM, "out of memory");
    r->v = nv;
    bool oom = false;
    reg_referrer *y = &r->v[r->n];
    memset(y, 0, sizeof(*y));
    y->digest = dup0(x->digest, &oom);
    y->media_type = dup0(x->media_type, &oom);
    y->artifact_type = dup0(x->artifact_type, &oom);
    y->annotations = dup0(x->annotations, &oom);
    y->tag = dup0(x->tag, &oom);
    y->size = x->size;
    if (oom || y->digest == NULL) {
        referrer_clear(y);
        return reg_error_set(err, REG_ENOMEM, "out of memory");
    }
    r->n++;
    return REG_OK;
}

/* An optional string member that must be a valid media type. */
static int media_member(const char **out, json_t *o, const char *key, size_t i,
                        reg_error *err)
{
    json_t *v = json_object_get(o, key);
    *out = NULL;
    if (v == NULL)
        return REG_OK;
    if (!json_is_string(v) ||
        strlen(json_string_value(v)) != json_string_length(v) ||
        !reg_media_type_valid(json_string_value(v)))
        return reg_error_set(err, REG_EINVAL,
                             "referrers index: manifests[%zu].%s is not a "
                             "valid media type",
                             i, key);
    *out = json_string_value(v);
    return REG_OK;
}

/* One descriptor of manifests[i] into r. */
static int add_descriptor(reg_referrers *r, json_t *o, size_t i, size_t max,
                          reg_error *err)
{
    reg_referrer x = {0};
    char *ann = NULL;
    int rc = REG_OK;
    if (!json_is_object(o))
        return reg_error_set(err, REG_EINVAL,
                             "referrers index: manifests[%zu] is not an "
                             "object",
                             i);
    json_t *dg = json_object_get(o, "digest");
    json_t *sz = json_object_get(o, "size");
    if (!json_is_string(dg) || !reg_valid_digest(json_string_value(dg)))
        return reg_error_set(err, REG_EINVAL,
                             "referrers index: manifests[%zu].digest is not "
                             "sha256:<64 lowercase hex>",
                             i);
    if (!json_is_integer(sz) || json_integer_value(sz) < 0 ||
        json_integer_value(sz) > ((json_int_t)1 << 53))
        return reg_error_set(err, REG_EINVAL,
                             "referrers index: manifests[%zu].size out of "
                             "range",
                             i);
    const char *mt = NULL, *at = NULL;
    if ((rc = media_member(&mt, o, "mediaType", i, err)) != REG_OK ||
        (rc = media_member(&at, o, "artifactType", i, err)) != REG_OK)
        return rc;
    json_t *an = json_object_get(o, "annotations");
    if (an != NULL && !json_is_object(an))
        return reg_error_set(err, REG_EINVAL,
                             "referrers index: manifests[%zu].annotations is "
                             "not an object",
                             i);
    if (json_is_object(an) && json_object_size(an) > 0) {
        ann = json_dumps(an, JSON_COMPACT | JSON_SORT_KEYS);
        if (ann == NULL)
            return reg_error_set(err, REG_ENOMEM, "out of memory");
    }
    x.digest = (char *)json_string_value(dg);
    x.media_type = (char *)mt;
    x.artifact_type = (char *)at;
    x.size = (int64_t)json_integer_value(sz);
    x.annotations = ann;
    rc = reg_referrers_add(r, &x, max, err);
    free(ann);
    return rc;
}

int reg_referrers_parse_index(reg_referrers *r, const void *body, size_t len,
                              size_t max, reg_error *err)
{
    json_error_t jerr;
    int rc = REG_OK;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    json_t *arr =
        json_is_object(root) ? json_object_get(root, "manifests") : NULL;
    if (arr != NULL && json_is_null(arr))
        goto cleanup; /* some registries send null for none */
    if (!json_is_array(arr)) {
        rc = reg_error_set(err, REG_EINVAL,
                           "referrers index: not an image index");
        goto cleanup;
    }
    for (size_t i = 0; i < json_array_size(arr) && rc == REG_OK; i++)
        rc = add_descriptor(r, json_array_get(arr, i), i, max, err);
cleanup:
    json_decref(root);
    return rc;
}

int reg_referrers_tag(char *out, size_t cap, const char *digest,
                      const char *suffix, reg_error *err)
{
    if (digest == NULL || !reg_valid_digest(digest))
        return reg_error_set(err, REG_EINVAL, "invalid digest");
    int n = snprintf(out, cap, "sha256-%s%s", digest + strlen("sha256:"),
                     suffix != NULL ? suffix : "");
    if (n < 0 || (size_t)n >= cap)
        return reg_error_set(err, REG_EINVAL, "tag buffer too small");
    return REG_OK;
}

int reg_referrers_api(reg_referrers **out, reg_client *c, const char *repo,
                      const char *digest, reg_error *err)
{
    reg_referrers *r = NULL;
    reg_resp resp = {0};
    char *url = NULL, *first = NULL;
    char what[400];
    int rc = REG_OK;

    *out = NULL;
    if (repo == NULL || !reg_valid_path(repo))
        return reg_error_set(err, REG_EINVAL, "invalid repository name");
    if (digest == NULL || !reg_valid_digest(digest))
        return reg_error_set(err, REG_EINVAL, "invalid digest");
    snprintf(what, sizeof(what), "referrers of %s@%.19s...", repo, digest);
    size_t n = strlen("/v2//referrers/") + strlen(repo) + strlen(digest) + 1;
    first = malloc(n);
    r = calloc(1, sizeof(*r));
    if (first == NULL || r == NULL) {
        rc = reg_error_set(err, REG_ENOMEM, "out of memory");
        goto cleanup;
    }
    snprintf(first, n, "/v2/%s/referrers/%s", repo, digest);
    url = reg__url(c, first, err);
    if (url == NULL) {
        rc = err != NULL && err->code != 0 ? err->code : REG_ENOMEM;
        goto cleanup;
    }
    for (size_t page = 0;; page++) {
        if (page >= REFERRERS_MAX_PAGES) {
            rc = reg_error_set(err, REG_ELIMIT, "%s: more than %d pages", what,
                               REFERRERS_MAX_PAGES);
            goto cleanup;
        }
        reg_req req = {.method = "GET",
                       .url = url,
                       .repo = repo,
                       .actions = "pull",
                       .accept = REG_MT_OCI_INDEX,
                       .max_response = REFERRERS_PAGE_MAX};
        rc = reg__request(c, &req, &resp, err);
        if (rc != REG_OK) {
            reg_error_prefix(err, "%s: ", what);
            goto cleanup;
        }
        if (resp.status == 404 || resp.status == 405) {
            rc = reg_error_set(err, REG_EUNSUPPORTED,
                               "%s: the registry does not serve the "
                               "referrers API (HTTP %ld)",
                               what, resp.status);
            if (err != NULL)
                err->http_status = resp.status;
            goto cleanup;
        }
        if (resp.status != 200) {
            rc = reg_error_from_http(err, resp.status, resp.body.data,
                                     resp.body.len, what);
            goto cleanup;
        }
        rc = reg_referrers_parse_index(r, resp.body.data, resp.body.len,
                                       REG_REFERRERS_MAX, err);
        if (rc != REG_OK) {
            reg_error_prefix(err, "%s: ", what);
            goto cleanup;
        }
        char *next = NULL;
        rc = reg__next_page(&next, url, resp.link, err);
        reg_resp_free(&resp);
        memset(&resp, 0, sizeof(resp));
        if (rc != REG_OK) {
            reg_error_prefix(err, "%s: ", what);
            goto cleanup;
        }
        if (next == NULL)
            break;
        bool same = strcmp(next, url) == 0;
        free(url);
        url = next;
        if (same)
            break; /* a Link to the page just read */
    }
    *out = r;
    r = NULL;
cleanup:
    reg_resp_free(&resp);
    reg_referrers_free(r);
    free(url);
    free(first);
    return rc;
}

/* A descriptor object for an index's manifests[] from x. */
static json_t *descriptor_json(const reg_referrer *x)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    int bad = json_object_set_new(o, "mediaType",
                                  json_string(x->media_type != NULL
                                                  ? x->media_type
                                                  : REG_MT_OCI_MANIFEST));
    bad |= json_object_set_new(o, "digest", json_string(x->digest));
    bad |= json_object_set_new(o, "size",
                               json_integer(x->size >= 0 ? x->size : 0));
    if (x->artifact_type != NULL)
        bad |= json_object_set_new(o, "artifactType",
                                   json_string(x->artifact_type));
    if (x->annotations != NULL) {
        json_t *an = json_loads(x->annotations, 0, NULL);
        bad |= an == NULL || json_object_set_new(o, "annotations", an) != 0;
    }
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static bool listed(json_t *arr, const char *digest)
{
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *d = json_object_get(json_array_get(arr, i), "digest");
        if (json_is_string(d) && strcmp(json_string_value(d), digest) == 0)
            return true;
    }
    return false;
}

int reg_referrers_index_merge(unsigned char **out, size_t *len_out,
                              bool *changed, const void *existing,
                              size_t existing_len, const reg_referrers *add,
                              reg_error *err)
{
    json_t *root = NULL;
    int rc = REG_OK;
    *out = NULL;
    *len_out = 0;
    *changed = false;
    if (existing != NULL) {
        /* Check it the way a reader would, then keep it as it is. */
        reg_referrers tmp = {0};
        rc = reg_referrers_parse_index(&tmp, existing, existing_len,
                                       REG_REFERRERS_MAX, err);
        for (size_t i = 0; i < tmp.n; i++)
            referrer_clear(&tmp.v[i]);
        free(tmp.v);
        if (rc != REG_OK)
            return rc;
        root = json_loadb(existing, existing_len, 0, NULL);
    } else {
        root = json_pack("{s:i, s:s, s:[]}", "schemaVersion", 2, "mediaType",
                         REG_MT_OCI_INDEX, "manifests");
    }
    json_t *arr = json_object_get(root, "manifests");
    if (root != NULL && !json_is_array(arr)) {
        arr = json_array();
        if (arr == NULL || json_object_set_new(root, "manifests", arr) != 0)
            arr = NULL;
    }
    if (arr == NULL) {
        rc = reg_error_set(err, REG_ENOMEM, "out of memory");
        goto cleanup;
    }
    for (size_t i = 0; i < add->n; i++) {
        const reg_referrer *x = &add->v[i];
        if (x->tag != NULL || listed(arr, x->digest))
            continue;
        if (json_array_size(arr) >= REG_REFERRERS_MAX) {
            rc = reg_error_set(err, REG_ELIMIT, "more than %d referrers",
                               REG_REFERRERS_MAX);
            goto cleanup;
        }
        json_t *d = descriptor_json(x);
        if (d == NULL || json_array_append_new(arr, d) != 0) {
            rc = reg_error_set(err, REG_ENOMEM, "out of memory");
            goto cleanup;
        }
        *changed = true;
    }
    char *s = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (s == NULL) {
        rc = reg_error_set(err, REG_ENOMEM, "out of memory");
        goto cleanup;
    }
    *out = (unsigned char *)s;
    *len_out = strlen(s);
cleanup:
    json_decref(root);
    return rc;
}
