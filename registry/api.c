/*
 * api.c - the registry API calls over reg__request(): manifests (GET, HEAD,
 * PUT), tags and catalog with pagination, blob existence, cross-repository
 * mounts, in-memory uploads and downloads.
 */
#include "internal.h"

#include <jansson.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool is_ok(long status)
{
    return status >= 200 && status < 300;
}

/* Checks repo and ref (a tag or a digest; ref may be NULL). */
static int check_names(const char *repo, const char *ref, reg_error *err)
{
    if (repo == NULL || !reg_valid_path(repo))
        return reg_error_set(err, REG_EINVAL, "invalid repository name \"%s\"",
                             repo != NULL ? repo : "(null)");
    if (ref != NULL && !reg_valid_tag(ref) && !reg_valid_digest(ref))
        return reg_error_set(err, REG_EINVAL,
                             "invalid tag or digest \"%s\" for %s", ref, repo);
    return REG_OK;
}

static int check_digest(const char *digest, reg_error *err)
{
    if (digest == NULL || !reg_valid_digest(digest))
        return reg_error_set(err, REG_EINVAL, "invalid digest \"%s\"",
                             digest != NULL ? digest : "(null)");
    return REG_OK;
}

/* check_names() with a reference that must be present. */
static int check_ref(const char *repo, const char *ref, reg_error *err)
{
    int rc = check_names(repo, ref, err);
    if (rc == REG_OK && ref == NULL)
        rc = reg_error_set(err, REG_EINVAL, "no reference");
    return rc;
}

/* Checks repo and a blob digest in it. */
static int check_blob(const char *repo, const char *digest, reg_error *err)
{
    int rc = check_names(repo, NULL, err);
    if (rc == REG_OK)
        rc = check_digest(digest, err);
    return rc;
}

/* Concatenates the NULL-terminated list of strings into a malloc'd one. */
static char *join(const char *first, ...)
{
    va_list ap;
    size_t n = 1;
    va_start(ap, first);
    for (const char *s = first; s != NULL; s = va_arg(ap, const char *))
        n += strlen(s);
    va_end(ap);
    char *out = malloc(n);
    if (out == NULL)
        return NULL;
    size_t off = 0;
    va_start(ap, first);
    for (const char *s = first; s != NULL; s = va_arg(ap, const char *)) {
        size_t l = strlen(s);
        memcpy(out + off, s, l);
        off += l;
    }
    va_end(ap);
    out[off] = '\0';
    return out;
}

/* Maps a non-2xx answer: "WHAT repo:ref: HTTP ..." */
static int http_fail(reg_error *err, const reg_resp *r, const char *what)
{
    int rc =
        reg_error_from_http(err, r->status, r->body.data, r->body.len, what);
    if (err != NULL)
        err->retry_after = r->retry_after; /* -1 when absent */
    return rc;
}

/* What send_checked() accepts as a good answer, besides one exact status. */
#define ANY_2XX    0  /* any 2xx */
#define ANY_STATUS -1 /* every answer: the caller looks at the status */

/*
 * Sends req. A transport failure keeps its message with "what: " in front;
 * an answer whose status is not `want` (or ANY_2XX / ANY_STATUS) is mapped
 * by http_fail(). resp is filled whatever happens; the caller frees it.
 */
static int send_checked(reg_client *c, const reg_req *req, reg_resp *resp,
                        long want, const char *what, reg_error *err)
{
    int rc = reg__request(c, req, resp, err);
    if (rc != REG_OK) {
        reg_error_prefix(err, "%s", what);
        return rc;
    }
    if (want == ANY_STATUS)
        return REG_OK;
    if (want == ANY_2XX ? !is_ok(resp->status) : resp->status != want)
        return http_fail(err, resp, what);
    return REG_OK;
}

/*
 * send_checked() to "/v2/<req->repo><tail><ref>" (ref may be NULL); req->url
 * is set for the call only. Returns REG_ENOMEM when the path cannot be
 * built (resp is then untouched).
 */
static int repo_call(reg_client *c, reg_req *req, const char *tail,
                     const char *ref, long want, const char *what,
                     reg_resp *resp, reg_error *err)
{
    char *path = join("/v2/", req->repo, tail, ref, (char *)NULL);
    if (path == NULL)
        return reg_error_set(err, REG_ENOMEM, "out of memory");
    req->url = path;
    int rc = send_checked(c, req, resp, want, what, err);
    req->url = NULL;
    free(path);
    return rc;
}

/* ------------------------------------------------------------ manifests */

/*
 * GET or HEAD of repo:ref's manifest (`verb` is "get" or "head", for
 * messages), expecting 200. Fills what[what_cap] with "VERB manifest
 * repo:ref" for the caller's own messages and resp with the answer (the
 * caller frees it whatever is returned).
 */
static int manifest_call(reg_resp *resp, char *what, size_t what_cap,
                         reg_client *c, const char *method, const char *verb,
                         const char *repo, const char *ref, reg_error *err)
{
    int rc = check_ref(repo, ref, err);
    if (rc != REG_OK)
        return rc;
    snprintf(what, what_cap, "%s manifest %s:%s", verb, repo, ref);
    reg_req req = {.method = method,
                   .repo = repo,
                   .actions = "pull",
                   .accept = REG_MANIFEST_ACCEPT};
    return repo_call(c, &req, "/manifests/", ref, 200, what, resp, err);
}

int reg_manifest_head_if(reg_client *c, const char *repo, const char *ref,
                         const char *expect,
                         char digest_out[REG_DIGEST_LEN + 1], reg_error *err)
{
    if (expect == NULL || !reg_valid_digest(expect))
        return reg_manifest_head(c, repo, ref, digest_out, NULL, NULL, err);
    int rc = check_ref(repo, ref, err);
    if (rc != REG_OK)
        return rc;
    char what[512], etag[REG_DIGEST_LEN + 3];
    reg_resp resp = {0};
    snprintf(what, sizeof(what), "head manifest %s:%s", repo, ref);
    snprintf(etag, sizeof(etag), "\"%s\"", expect);
    reg_req req = {.method = "HEAD",
                   .repo = repo,
                   .actions = "pull",
                   .accept = REG_MANIFEST_ACCEPT,
                   .if_none_match = etag};
    rc = repo_call(c, &req, "/manifests/", ref, ANY_STATUS, what, &resp, err);
    if (rc == REG_OK && resp.status == 304) {
        snprintf(digest_out, REG_DIGEST_LEN + 1, "%s", expect);
    } else if (rc == REG_OK && resp.status != 200) {
        rc = http_fail(err, &resp, what);
    } else if (rc == REG_OK && resp.docker_digest != NULL &&
               reg_valid_digest(resp.docker_digest)) {
        /* the tag moved, or the registry ignores If-None-Match */
        snprintf(digest_out, REG_DIGEST_LEN + 1, "%s", resp.docker_digest);
    } else if (rc == REG_OK) { /* no usable digest header: as HEAD does */
        reg_resp_free(&resp);
        rc = reg_manifest_head(c, repo, ref, digest_out, NULL, NULL, err);
    }
    reg_resp_free(&resp);
    return rc;
}

int reg_manifest_get(reg_manifest **out, reg_client *c, const char *repo,
                     const char *ref, reg_error *err)
{
    reg_resp resp = {0};
    char what[512];

    *out = NULL;
    int rc = manifest_call(&resp, what, sizeof(what), c, "GET", "get", repo,
                           ref, err);
    if (rc != REG_OK)
        goto cleanup;
    rc = reg_manifest_parse(out, resp.content_type, resp.body.data,
                            resp.body.len, err);
    if (rc != REG_OK) {
        reg_error_prefix(err, "%s", what);
        goto cleanup;
    }
    /* A schema 1 signed manifest is named by the digest of its payload
     * (without the signatures, which a registry may make anew on every
     * GET): recorded and compared as the registry names it. */
    char payload[REG_DIGEST_LEN + 1];
    if ((*out)->kind == REG_KIND_V2S1 &&
        reg_schema1_payload_digest(payload, resp.body.data, resp.body.len) == 0)
        memcpy((*out)->digest, payload, sizeof(payload));
    if (reg_valid_digest(ref) && strcmp((*out)->digest, ref) != 0) {
        rc = reg_error_set(err, REG_EDIGEST,
                           "%s: the registry sent bytes with digest %s", what,
                           (*out)->digest);
        reg_manifest_free(*out);
        *out = NULL;
        goto cleanup;
    }
cleanup:
    reg_resp_free(&resp);
    return rc;
}

int reg_manifest_head(reg_client *c, const char *repo, const char *ref,
                      char digest_out[REG_DIGEST_LEN + 1],
                      char **media_type_out, int64_t *size_out, reg_error *err)
{
    reg_resp resp = {0};
    reg_manifest *m = NULL;
    char what[512];

    if (media_type_out != NULL)
        *media_type_out = NULL;
    int rc = manifest_call(&resp, what, sizeof(what), c, "HEAD", "head", repo,
                           ref, err);
    if (rc != REG_OK)
        goto cleanup;
    if (resp.docker_digest == NULL || !reg_valid_digest(resp.docker_digest)) {
        /* No usable digest header: fetch the bytes and hash them. */
        rc = reg_manifest_get(&m, c, repo, ref, err);
        if (rc != REG_OK)
            goto cleanup;
        if (digest_out != NULL)
            snprintf(digest_out, REG_DIGEST_LEN + 1, "%s", m->digest);
        if (media_type_out != NULL && m->media_type != NULL) {
            *media_type_out = strdup(m->media_type);
            if (*media_type_out == NULL) {
                rc = reg_error_set(err, REG_ENOMEM, "out of memory");
                goto cleanup;
            }
        }
        if (size_out != NULL)
            *size_out = (int64_t)m->len;
        goto cleanup;
    }
    if (digest_out != NULL)
        snprintf(digest_out, REG_DIGEST_LEN + 1, "%s", resp.docker_digest);
    if (media_type_out != NULL && resp.content_type != NULL) {
        /* Drop parameters ("; charset=utf-8") and whitespace. */
        const char *ct = resp.content_type + strspn(resp.content_type, " \t");
        size_t n = strcspn(ct, ";");
        while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
            n--;
        *media_type_out = strndup(ct, n);
        if (*media_type_out == NULL) {
            rc = reg_error_set(err, REG_ENOMEM, "out of memory");
            goto cleanup;
        }
        if (n == 0) {
            free(*media_type_out);
            *media_type_out = NULL;
        } else if (!reg_media_type_valid(*media_type_out)) {
            free(*media_type_out);
            *media_type_out = NULL;
            rc = reg_error_set(err, REG_EINVAL,
                               "%s: the Content-Type is not a valid media "
                               "type",
                               what);
            goto cleanup;
        }
    }
    if (size_out != NULL)
        *size_out = resp.content_length;
cleanup:
    reg_manifest_free(m);
    reg_resp_free(&resp);
    return rc;
}

/* True when the error body of resp lists `code` among its errors. */
static bool has_error_code(const reg_resp *resp, const char *code)
{
    json_t *root = json_loadb(resp->body.data ? resp->body.data : "",
                              resp->body.len, 0, NULL);
    json_t *errs = json_object_get(root, "errors");
    bool found = false;
    for (size_t i = 0; i < json_array_size(errs) && !found; i++) {
        json_t *c = json_object_get(json_array_get(errs, i), "code");
        found = json_is_string(c) && strcmp(json_string_value(c), code) == 0;
    }
    json_decref(root);
    return found;
}

int reg_manifest_put(reg_client *c, const char *repo, const char *ref,
                     const reg_manifest *m, reg_error *err)
{
    reg_resp resp = {0};
    char what[512];

    int rc = check_names(repo, ref, err);
    if (rc != REG_OK)
        return rc;
    if (ref == NULL || m == NULL || m->body == NULL || m->media_type == NULL)
        return reg_error_set(err, REG_EINVAL,
                             "put manifest: missing reference or manifest");
    snprintf(what, sizeof(what), "put manifest %s:%s", repo, ref);
    if (reg_valid_digest(ref) && strcmp(ref, m->digest) != 0)
        return reg_error_set(err, REG_EINVAL, "%s: the manifest's digest is %s",
                             what, m->digest);
    reg_req req = {.method = "PUT",
                   .repo = repo,
                   .actions = "pull,push",
                   .content_type = m->media_type,
                   .body = m->body,
                   .body_len = m->len,
                   .max_response = 1024 * 1024};
    rc = repo_call(c, &req, "/manifests/", ref, ANY_2XX, what, &resp, err);
    if (rc != REG_OK && resp.status >= 500 &&
        has_error_code(&resp, "MANIFEST_BLOB_UNKNOWN")) {
        /* Distribution answers 500 when it refuses a manifest's foreign
         * layer URLs (issue 13): not transient, a blob it will not take. */
        rc = REG_ENOTFOUND;
        if (err != NULL) {
            err->code = rc;
            snprintf(err->registry_code, sizeof(err->registry_code), "%s",
                     "MANIFEST_BLOB_UNKNOWN");
        }
    }
    if (rc != REG_OK)
        goto cleanup;
    /* Schema 1 signed manifests are digested without their signatures, so
     * the registry's digest legitimately differs for them. */
    if (resp.docker_digest != NULL && m->kind != REG_KIND_V2S1 &&
        strcmp(resp.docker_digest, m->digest) != 0) {
        rc = reg_error_set(
            err, REG_EDIGEST, "%s: the registry stored digest %s, expected %s",
            what,
            reg_valid_digest(resp.docker_digest) ? resp.docker_digest
                                                 : "(not a digest)",
            m->digest);
        goto cleanup;
    }
cleanup:
    reg_resp_free(&resp);
    return rc;
}

/* ------------------------------------------------------- tags and catalog */

void reg_strv_free(char **v)
{
    if (v == NULL)
        return;
    for (char **p = v; *p != NULL; p++)
        free(*p);
    free(v);
}

/* A small open-addressing set of 64-bit hashes of the page URLs seen, so a
 * server that loops its Link headers is caught at once. */
typedef struct seen_set {
    uint64_t *slots;
    size_t cap, n;
} seen_set;

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h != 0 ? h : 1;
}

/* Returns 1 when added, 0 when already present, -1 on OOM. */
static int seen_add(seen_set *s, const char *url)
{
    if (s->n * 2 >= s->cap) {
        size_t ncap = s->cap > 0 ? s->cap * 2 : 64;
        uint64_t *ns = calloc(ncap, sizeof(*ns));
        if (ns == NULL)
            return -1;
        for (size_t i = 0; i < s->cap; i++) {
            if (s->slots[i] == 0)
                continue;
            size_t j = s->slots[i] & (ncap - 1);
            while (ns[j] != 0)
                j = (j + 1) & (ncap - 1);
            ns[j] = s->slots[i];
        }
        free(s->slots);
        s->slots = ns;
        s->cap = ncap;
    }
    uint64_t h = fnv1a(url);
    size_t j = h & (s->cap - 1);
    while (s->slots[j] != 0) {
        if (s->slots[j] == h)
            return 0;
        j = (j + 1) & (s->cap - 1);
    }
    s->slots[j] = h;
    s->n++;
    return 1;
}

/* One listing: where it starts, what it collects, its limits. */
typedef struct listing {
    const char *repo;       /* scope (NULL for the catalog) */
    const char *first_path; /* "/v2/.../tags/list?n=..." */
    const char *key;        /* "tags" or "repositories" */
    const char *noun;       /* "tags" or "repositories", for messages */
    const char *what;       /* "list tags of x", for messages */
    size_t max_items;
    size_t max_pages;
    reg_list_fn fn;
    void *payload;
} listing;

/*
 * Hands the strings of array `key` of one page to the callback: the
 * strings are borrowed from root for the call. *total counts the items of
 * all pages so far; a page that would take it past max_items is not
 * delivered (REG_ELIMIT).
 */
static int deliver_page(const listing *ls, json_t *root, size_t *total,
                        reg_error *err)
{
    json_t *arr = json_is_object(root) ? json_object_get(root, ls->key) : NULL;
    size_t cap = json_is_array(arr) ? json_array_size(arr) : 0;
    size_t n = 0;
    char **items = NULL;
    int rc = REG_OK;

    if (root == NULL ||
        (arr != NULL && !json_is_array(arr) && !json_is_null(arr)))
        return reg_error_set(err, REG_ERR,
                             "%s: the registry sent malformed JSON", ls->what);
    if (cap > ls->max_items || *total > ls->max_items - cap) {
        /* Count the strings only: other items are skipped below. */
        size_t strings = 0;
        for (size_t i = 0; i < cap; i++)
            strings += json_is_string(json_array_get(arr, i)) ? 1 : 0;
        if (strings > ls->max_items || *total > ls->max_items - strings)
            return reg_error_set(err, REG_ELIMIT, "%s: more than %zu %s",
                                 ls->what, ls->max_items, ls->noun);
    }
    if (cap > 0) {
        items = calloc(cap, sizeof(*items));
        if (items == NULL)
            return reg_error_set(err, REG_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < cap; i++) {
        const char *s = json_string_value(json_array_get(arr, i));
        if (s != NULL)
            items[n++] = (char *)(uintptr_t)s; /* borrowed, see reg_list_fn */
    }
    *total += n;
    if (ls->fn(ls->payload, items, n) != 0)
        rc = reg_error_set(err, REG_ECANCELED, "%s: stopped by the caller",
                           ls->what);
    free(items);
    return rc;
}

/*
 * GETs a paginated list: first_path, then each Link rel="next", handing
 * every page to ls->fn and freeing it before the next request. The set of
 * page URLs seen (loop detection) holds at most max_pages entries.
 */
static int list_pages(reg_client *c, const listing *ls, reg_error *err)
{
    reg_resp resp = {0};
    seen_set seen = {0};
    size_t total = 0;
    int rc = REG_OK;

    /* Absolute from the start, so a Link back to the first page is seen
     * as a repeat. */
    char *url = reg__url(c, ls->first_path, err);
    if (url == NULL)
        return err != NULL && err->code != 0 ? err->code : REG_ENOMEM;
    for (size_t page = 0;; page++) {
        if (page >= ls->max_pages) {
            rc = reg_error_set(err, REG_ELIMIT, "%s: more than %zu pages",
                               ls->what, ls->max_pages);
            goto cleanup;
        }
        int added = seen_add(&seen, url);
        if (added < 0) {
            rc = reg_error_set(err, REG_ENOMEM, "out of memory");
            goto cleanup;
        }
        if (added == 0)
            break; /* the server sent a page we already read: stop */
        reg_req req = {.method = "GET",
                       .url = url,
                       .repo = ls->repo,
                       .actions = "pull",
                       .accept = "application/json"};
        rc = send_checked(c, &req, &resp, 200, ls->what, err);
        if (rc != REG_OK)
            goto cleanup;
        json_error_t jerr;
        json_t *root = json_loadb(resp.body.data, resp.body.len, 0, &jerr);
        /* The raw page is not needed any more: free it before the
         * callback runs (it may take long, e.g. queue work). */
        reg_buf_free(&resp.body);
        rc = deliver_page(ls, root, &total, err);
        json_decref(root);
        if (rc != REG_OK)
            goto cleanup;

        char *next = NULL;
        rc = reg__next_page(&next, url, resp.link, err);
        reg_resp_free(&resp);
        if (rc != REG_OK) {
            reg_error_prefix(err, "%s: ", ls->what);
            goto cleanup;
        }
        if (next == NULL)
            break;
        free(url);
        url = next;
    }
cleanup:
    free(seen.slots);
    reg_resp_free(&resp);
    free(url);
    return rc;
}

static void apply_limits(listing *ls, const reg_list_limits *lim)
{
    ls->max_items = lim != NULL && lim->max_items > 0 ? lim->max_items
                                                      : REG_DEFAULT_MAX_TAGS;
    ls->max_pages = lim != NULL && lim->max_pages > 0 ? lim->max_pages
                                                      : REG_DEFAULT_MAX_PAGES;
}

int reg_tags_each(reg_client *c, const char *repo, int page_size,
                  const reg_list_limits *lim, reg_list_fn fn, void *payload,
                  reg_error *err)
{
    char path[1024];
    char what[512];
    int rc = check_names(repo, NULL, err);
    if (rc != REG_OK)
        return rc;
    if (c == NULL || fn == NULL)
        return reg_error_set(err, REG_EINVAL,
                             "list tags: no client or "
                             "callback");
    snprintf(what, sizeof(what), "list tags of %s", repo);
    if (page_size > 0)
        snprintf(path, sizeof(path), "/v2/%s/tags/list?n=%d", repo, page_size);
    else
        snprintf(path, sizeof(path), "/v2/%s/tags/list", repo);
    listing ls = {.repo = repo,
                  .first_path = path,
                  .key = "tags",
                  .noun = "tags",
                  .what = what,
                  .fn = fn,
                  .payload = payload};
    apply_limits(&ls, lim);
    return list_pages(c, &ls, err);
}

int reg_catalog_each(reg_client *c, int page_size, const reg_list_limits *lim,
                     reg_list_fn fn, void *payload, reg_error *err)
{
    char path[64];
    if (c == NULL || fn == NULL)
        return reg_error_set(err, REG_EINVAL,
                             "list catalog: no client or "
                             "callback");
    if (page_size > 0)
        snprintf(path, sizeof(path), "/v2/_catalog?n=%d", page_size);
    else
        snprintf(path, sizeof(path), "/v2/_catalog");
    listing ls = {.repo = NULL,
                  .first_path = path,
                  .key = "repositories",
                  .noun = "repositories",
                  .what = "list catalog",
                  .fn = fn,
                  .payload = payload};
    apply_limits(&ls, lim);
    return list_pages(c, &ls, err);
}

/* What reg_tags_list / reg_catalog collect into. */
typedef struct strv_collect {
    char **v; /* NULL-terminated once non-NULL */
    size_t n, cap;
} strv_collect;

static int collect_page(void *payload, char *const *items, size_t n)
{
    strv_collect *sc = payload;
    for (size_t i = 0; i < n; i++) {
        if (sc->n + 2 > sc->cap) {
            size_t ncap = sc->cap > 0 ? sc->cap * 2 : 64;
            char **nv = realloc(sc->v, ncap * sizeof(*nv));
            if (nv == NULL)
                return -1;
            sc->v = nv;
            sc->cap = ncap;
        }
        sc->v[sc->n] = strdup(items[i]);
        if (sc->v[sc->n] == NULL)
            return -1;
        sc->n++;
        sc->v[sc->n] = NULL;
    }
    return 0;
}

/* Hands the collected array to the caller (an empty one when nothing came). */
static int collect_finish(char ***out, size_t *n_out, strv_collect *sc, int rc,
                          reg_error *err)
{
    if (rc == REG_ECANCELED) /* only collect_page stops: it ran out */
        rc = reg_error_set(err, REG_ENOMEM, "out of memory");
    if (rc == REG_OK && sc->v == NULL) {
        sc->v = calloc(1, sizeof(*sc->v));
        if (sc->v == NULL)
            rc = reg_error_set(err, REG_ENOMEM, "out of memory");
    }
    if (rc != REG_OK) {
        reg_strv_free(sc->v);
        return rc;
    }
    *out = sc->v;
    if (n_out != NULL)
        *n_out = sc->n;
    return REG_OK;
}

int reg_tags_list(char ***out, size_t *n_out, reg_client *c, const char *repo,
                  int page_size, reg_error *err)
{
    strv_collect sc = {0};
    *out = NULL;
    if (n_out != NULL)
        *n_out = 0;
    int rc = reg_tags_each(c, repo, page_size, NULL, collect_page, &sc, err);
    return collect_finish(out, n_out, &sc, rc, err);
}

int reg_catalog(char ***out, size_t *n_out, reg_client *c, int page_size,
                reg_error *err)
{
    strv_collect sc = {0};
    *out = NULL;
    if (n_out != NULL)
        *n_out = 0;
    int rc = reg_catalog_each(c, page_size, NULL, collect_page, &sc, err);
    return collect_finish(out, n_out, &sc, rc, err);
}

/* ---------------------------------------------------------------- blobs */

int reg_blob_exists(reg_client *c, const char *repo, const char *digest,
                    int64_t *size_out, reg_error *err)
{
    reg_resp resp = {0};
    char what[512];
    int rc = check_blob(repo, digest, err);
    if (rc != REG_OK)
        return rc;
    snprintf(what, sizeof(what), "check blob %s in %s", digest, repo);
    reg_req req = {.method = "HEAD", .repo = repo, .actions = "pull"};
    rc = repo_call(c, &req, "/blobs/", digest, 200, what, &resp, err);
    if (rc == REG_OK && size_out != NULL)
        *size_out = resp.content_length;
    reg_resp_free(&resp);
    return rc;
}

/* Cancels an upload session (best effort; errors are ignored). */
static void cancel_upload(reg_client *c, const char *repo, const char *location)
{
    reg_resp resp = {0};
    reg_req req = {.method = "DELETE",
                   .url = location,
                   .repo = repo,
                   .actions = "pull,push"};
    reg__request(c, &req, &resp, NULL);
    reg_resp_free(&resp);
}

int reg_blob_mount(reg_client *c, const char *repo, const char *digest,
                   const char *from_repo, reg_error *err)
{
    reg_resp resp = {0};
    char what[512];
    char *q = NULL;
    int rc = check_names(repo, NULL, err);
    if (rc == REG_OK)
        rc = check_blob(from_repo, digest, err);
    if (rc != REG_OK)
        return rc;
    snprintf(what, sizeof(what), "mount blob %s from %s into %s", digest,
             from_repo, repo);
    char *ed = reg__escape(digest);
    char *ef = reg__escape(from_repo);
    if (ed != NULL && ef != NULL)
        q = join("?mount=", ed, "&from=", ef, (char *)NULL);
    free(ed);
    free(ef);
    if (q == NULL)
        return reg_error_set(err, REG_ENOMEM, "out of memory");
    reg_req req = {.method = "POST",
                   .repo = repo,
                   .actions = "pull,push",
                   .from_repo = from_repo,
                   .max_response = 64 * 1024};
    rc = repo_call(c, &req, "/blobs/uploads/", q, ANY_STATUS, what, &resp, err);
    free(q);
    if (rc != REG_OK)
        goto cleanup;
    if (resp.status == 201)
        goto cleanup;
    if (resp.status == 202) {
        if (resp.location != NULL)
            cancel_upload(c, repo, resp.location);
        rc = reg_error_set(err, REG_ENOTFOUND,
                           "%s: the registry did not mount (HTTP 202)", what);
        if (err != NULL)
            err->http_status = 202;
        goto cleanup;
    }
    rc = http_fail(err, &resp, what);
cleanup:
    reg_resp_free(&resp);
    return rc;
}

/* POST /v2/<repo>/blobs/uploads/: an upload session, its URL in
 * resp->location (202 with a Location), or an error naming `what`. */
static int open_upload(reg_client *c, const char *repo, const char *what,
                       reg_resp *resp, reg_error *err)
{
    reg_req post = {.method = "POST",
                    .repo = repo,
                    .actions = "pull,push",
                    .max_response = 64 * 1024};
    int rc = repo_call(c, &post, "/blobs/uploads/", NULL, ANY_STATUS, what,
                       resp, err);
    if (rc != REG_OK)
        return rc;
    if (resp->status == 202 && resp->location != NULL)
        return REG_OK;
    if (resp->status == 202)
        return reg_error_set(err, REG_ERR,
                             "%s: upload started without a Location", what);
    return http_fail(err, resp, what);
}

int reg_blob_upload(reg_client *c, const char *repo, const void *data,
                    size_t len, const char *expect_digest, reg_error *err)
{
    reg_resp resp = {0};
    char digest[REG_DIGEST_LEN + 1];
    char what[512];
    char *put_url = NULL, *location = NULL;
    int rc = check_names(repo, NULL, err);
    if (rc != REG_OK)
        return rc;
    if (data == NULL && len > 0)
        return reg_error_set(err, REG_EINVAL, "upload: no data");
    reg_sha256_digest(digest, data != NULL ? data : (const void *)"", len);
    snprintf(what, sizeof(what), "upload blob %s to %s", digest, repo);
    if (expect_digest != NULL && strcmp(expect_digest, digest) != 0)
        return reg_error_set(err, REG_EDIGEST, "%s: expected digest %s", what,
                             expect_digest);
    rc = open_upload(c, repo, what, &resp, err);
    if (rc != REG_OK)
        goto cleanup;
    location = strdup(resp.location);
    char *ed = reg__escape(digest);
    if (location == NULL || ed == NULL) {
        free(ed);
        rc = reg_error_set(err, REG_ENOMEM, "out of memory");
        goto cleanup;
    }
    put_url = join(location, strchr(location, '?') != NULL ? "&" : "?",
                   "digest=", ed, (char *)NULL);
    free(ed);
    if (put_url == NULL) {
        rc = reg_error_set(err, REG_ENOMEM, "out of memory");
        goto cleanup;
    }
    reg_req put = {.method = "PUT",
                   .url = put_url,
                   .repo = repo,
                   .actions = "pull,push",
                   .content_type = "application/octet-stream",
                   .body = data != NULL ? data : (const void *)"",
                   .body_len = len,
                   .max_response = 64 * 1024};
    rc = send_checked(c, &put, &resp, ANY_2XX, what, err);
    if (rc != REG_OK) {
        cancel_upload(c, repo, location);
        goto cleanup;
    }
    if (resp.docker_digest != NULL && strcmp(resp.docker_digest, digest) != 0) {
        rc = reg_error_set(
            err, REG_EDIGEST, "%s: the registry stored digest %s", what,
            reg_valid_digest(resp.docker_digest) ? resp.docker_digest
                                                 : "(not a digest)");
        goto cleanup;
    }
cleanup:
    reg_resp_free(&resp);
    free(put_url);
    free(location);
    return rc;
}

int reg_blob_get(unsigned char **out, size_t *len_out, reg_client *c,
                 const char *repo, const char *digest, size_t max_len,
                 reg_error *err)
{
    reg_resp resp = {0};
    char what[512];
    char got[REG_DIGEST_LEN + 1];
    *out = NULL;
    if (len_out != NULL)
        *len_out = 0;
    int rc = check_blob(repo, digest, err);
    if (rc != REG_OK)
        return rc;
    snprintf(what, sizeof(what), "get blob %s from %s", digest, repo);
    reg_req req = {.method = "GET",
                   .repo = repo,
                   .actions = "pull",
                   .max_response = max_len > 0 ? max_len : 1};
    rc = repo_call(c, &req, "/blobs/", digest, 200, what, &resp, err);
    if (rc != REG_OK)
        goto cleanup;
    reg_sha256_digest(got, resp.body.data, resp.body.len);
    if (strcmp(got, digest) != 0) {
        rc = reg_error_set(err, REG_EDIGEST, "%s: received bytes hash to %s",
                           what, got);
        goto cleanup;
    }
    *out = (unsigned char *)resp.body.data;
    if (len_out != NULL)
        *len_out = resp.body.len;
    resp.body.data = NULL;
    resp.body.len = 0;
    resp.body.cap = 0;
cleanup:
    reg_resp_free(&resp);
    return rc;
}

/* ------------------------------------------- probes (--preflight, issue 13) */

int reg_ping(reg_client *c, reg_error *err)
{
    reg_resp resp = {0};
    char what[300];
    snprintf(what, sizeof(what), "GET /v2/ of %s", reg_client_host(c));
    reg_req req = {.method = "GET", .url = "/v2/", .max_response = 64 * 1024};
    int rc = send_checked(c, &req, &resp, ANY_2XX, what, err);
    reg_resp_free(&resp);
    return rc;
}

int reg_upload_probe(reg_client *c, const char *repo, bool *cancelled_out,
                     reg_error *err)
{
    reg_resp resp = {0}, del = {0};
    char what[512];
    if (cancelled_out != NULL)
        *cancelled_out = false;
    int rc = check_names(repo, NULL, err);
    if (rc != REG_OK)
        return rc;
    snprintf(what, sizeof(what), "open an upload session in %s", repo);
    rc = open_upload(c, repo, what, &resp, err);
    if (rc != REG_OK)
        goto cleanup;
    /* docker-registry authorises the DELETE of an upload session as a
     * "delete" action: a token scoped pull,push is refused, so ask again
     * with delete (granted or not, nothing but the session goes). */
    static const char *const actions[] = {"pull,push", "pull,push,delete"};
    for (int i = 0; i < 2; i++) {
        reg_req req = {.method = "DELETE",
                       .url = resp.location,
                       .repo = repo,
                       .actions = actions[i]};
        reg_resp_free(&del);
        memset(&del, 0, sizeof(del));
        int drc = reg__request(c, &req, &del, NULL);
        if (drc == REG_OK && (is_ok(del.status) || del.status == 404)) {
            if (cancelled_out != NULL)
                *cancelled_out = true;
            break;
        }
        if (drc != REG_EAUTH && del.status != 401 && del.status != 403)
            break;
    }
cleanup:
    reg_resp_free(&del);
    reg_resp_free(&resp);
    return rc;
}
