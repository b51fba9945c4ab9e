/*
 * actions.c - typed wrappers over tc_call() for the CCR (personal) and TCR
 * (enterprise) actions, one pagination loop for all list calls, and the
 * region -> registry host map (docs/tencentcloud-api.md §3, §5).
 */
#include "tencentcloud.h"
#include "internal.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

/* ---------------------------------------------------------------- helpers */

/* strdup of a string member, "" when absent or not a string; NULL on OOM. */
static char *get_str(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return strdup(s ? s : "");
}

/* Largest integer a double (and so any JSON parser) holds exactly. */
#define EXACT_INT_MAX 9007199254740992LL /* 2^53 */

/* An integer-valued JSON number within +-2^53 into *out: a JSON integer,
 * or a real with no fractional part (1e300, 1.5 or a huge integer are
 * refused, so nothing is ever cast out of range). */
static bool exact_int(json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        json_int_t x = json_integer_value(v);
        if (x < -EXACT_INT_MAX || x > EXACT_INT_MAX)
            return false;
        *out = (int64_t)x;
        return true;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        /* NaN fails both comparisons */
        if (!(d >= (double)-EXACT_INT_MAX && d <= (double)EXACT_INT_MAX))
            return false;
        int64_t x = (int64_t)d;
        if ((double)x != d)
            return false;
        *out = x;
        return true;
    }
    return false;
}

/* A count, size or id member: an integer in 0..2^53, tolerating numbers
 * sent as decimal strings (the docs' examples do that); `dflt` when
 * absent, not a number, negative, fractional or out of range (a server
 * controls these numbers: nothing it sends may overflow). */
static int64_t get_int(json_t *obj, const char *key, int64_t dflt)
{
    json_t *v = json_object_get(obj, key);
    int64_t x = 0;
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end = NULL;
        errno = 0;
        long long l = strtoll(s, &end, 10);
        if (errno != 0 || end == s || *end != '\0')
            return dflt;
        x = (int64_t)l;
    } else if (!exact_int(v, &x)) {
        return dflt;
    }
    return (x >= 0 && x <= EXACT_INT_MAX) ? x : dflt;
}

/* Boolean member: true, 1, "true", "1" (CCR's Public is an int). */
static bool get_bool(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (json_is_boolean(v))
        return json_is_true(v);
    if (json_is_integer(v))
        return json_integer_value(v) != 0;
    if (json_is_string(v))
        return strcmp(json_string_value(v), "true") == 0 ||
               strcmp(json_string_value(v), "1") == 0;
    return false;
}

/* True when s holds a byte below 0x20 or 0x7f. */
static bool has_control(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
            return true;
    return false;
}

static int oom(tc_error *err, const char *action)
{
    return tc_error_set(err, TC_ENOMEM, "%s: out of memory", action);
}

/* ------------------------------------------------------------ pagination */

/* Converts one list element into *dst (zeroed). `data` is the object that
 * holds the list (for page-level fields such as CCR's Server). Returns
 * TC_OK or TC_ENOMEM. */
typedef int (*item_fn)(void *dst, json_t *item, json_t *data);

typedef struct pager {
    const char *action;
    bool page_numbers;     /* Offset = page number from 1; else record offset */
    const char *data_key;  /* "Data" for the personal calls, NULL = Response */
    const char *list_key;  /* "NamespaceInfo", "Registries", ... */
    const char *total_key; /* "NamespaceCount", "TotalCount", ... */
    size_t item_size;
    item_fn conv;
    void (*free_items)(void *v, size_t n);
} pager;

/* Gets each page's converted items, which it then owns (frees with the
 * pager's free_items, or keeps). Returns TC_OK to go on, PAGE_STOP to end
 * the listing early (not an error), or a negative TC_E* code with err
 * set. */
typedef int (*page_fn)(void *payload, void *items, size_t n, tc_error *err);
#define PAGE_STOP 1

/* The fingerprints of the pages a listing has received (the first 8
 * bytes of the SHA-256 of each page's list, canonically dumped): an
 * open-addressing set, at most one entry per page (so bounded by the
 * pages cap). */
typedef struct page_set {
    uint64_t *v; /* 0 = empty slot */
    size_t n, cap;
} page_set;

static int dump_to_digest(const char *buffer, size_t size, void *data)
{
    return EVP_DigestUpdate(data, buffer, size) == 1 ? 0 : -1;
}

/* Fingerprint of a page's list into *out; false on failure. */
static bool page_fingerprint(json_t *list, uint64_t *out)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    bool ok = false;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
        json_dump_callback(list, dump_to_digest, ctx,
                           JSON_COMPACT | JSON_SORT_KEYS) == 0 &&
        EVP_DigestFinal_ex(ctx, md, &len) == 1 && len >= 8) {
        uint64_t h = 0;
        for (int i = 0; i < 8; i++)
            h = (h << 8) | md[i];
        *out = h ? h : 1;
        ok = true;
    }
    EVP_MD_CTX_free(ctx);
    return ok;
}

/* Adds h to the set; *seen tells whether it was there. TC_OK/TC_ENOMEM. */
static int page_set_add(page_set *s, uint64_t h, bool *seen)
{
    *seen = false;
    if (2 * (s->n + 1) > s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        uint64_t *v = calloc(cap, sizeof(*v));
        if (v == NULL)
            return TC_ENOMEM;
        for (size_t i = 0; i < s->cap; i++) {
            if (s->v[i] == 0)
                continue;
            size_t k = (size_t)(s->v[i] % cap);
            while (v[k] != 0)
                k = (k + 1) % cap;
            v[k] = s->v[i];
        }
        free(s->v);
        s->v = v;
        s->cap = cap;
    }
    size_t k = (size_t)(h % s->cap);
    for (; s->v[k] != 0; k = (k + 1) % s->cap) {
        if (s->v[k] == h) {
            *seen = true;
            return TC_OK;
        }
    }
    s->v[k] = h;
    s->n++;
    return TC_OK;
}

/*
 * Runs `req` (borrowed, modified: Offset/Limit set) page after page until
 * an empty page, the total is reached, or a short page when the response
 * has no total; each page's items go to on_page as they arrive (one page
 * in memory at a time). A short page below a known total (a server
 * capping Limit lower than asked) goes on at the next offset. Caps (lim,
 * else the client's): more than max_items items or max_pages pages is
 * TC_ELIMIT; a page already received is TC_ERR.
 */
static int paginate(tc_client *c, const pager *p, json_t *req,
                    const tc_list_limits *lim, page_fn on_page, void *payload,
                    tc_error *err)
{
    int rc = TC_OK;
    json_t *resp = NULL;
    char *items = NULL; /* the page being converted */
    size_t built = 0;   /* its items converted so far (to free) */
    size_t n = 0;       /* items delivered */
    size_t max_items, max_pages;
    page_set seen = {0};

    tc__client_limits(c, lim, &max_items, &max_pages);
    for (size_t page = 0;; page++) {
        if (page >= max_pages) {
            rc = tc_error_set(err, TC_ELIMIT,
                              "%s: more than %zu pages (the limit); "
                              "stopping (does the server honour Offset?)",
                              p->action, max_pages);
            goto cleanup;
        }
        json_int_t offset =
            p->page_numbers ? (json_int_t)page + 1 : (json_int_t)n;
        if (json_object_set_new(req, "Offset", json_integer(offset)) != 0 ||
            json_object_set_new(req, "Limit", json_integer(TC_PAGE_LIMIT)) !=
                0) {
            rc = oom(err, p->action);
            goto cleanup;
        }
        rc = tc_call(c, p->action, req, &resp, err);
        if (rc != TC_OK)
            goto cleanup;

        json_t *data = p->data_key ? json_object_get(resp, p->data_key) : resp;
        json_t *list = json_object_get(data, p->list_key);
        json_t *jtotal = json_object_get(data, p->total_key);
        int64_t total = get_int(data, p->total_key, -1);
        if (!json_is_object(data) ||
            (list != NULL && !json_is_array(list) && !json_is_null(list))) {
            rc = tc_error_set(err, TC_ERR,
                              "%s: malformed response: no %s%s%s list",
                              p->action, p->data_key ? p->data_key : "",
                              p->data_key ? "." : "", p->list_key);
            goto cleanup;
        }
        size_t got = json_is_array(list) ? json_array_size(list) : 0;
        if (got > 0) {
            /* A server that ignores Offset, or cycles through a few
             * pages, sends a page again: stop instead of collecting
             * duplicates until a cap. */
            uint64_t h = 0;
            bool again = false;
            if (!page_fingerprint(list, &h) ||
                page_set_add(&seen, h, &again) != TC_OK) {
                rc = oom(err, p->action);
                goto cleanup;
            }
            if (again) {
                rc = tc_error_set(err, TC_ERR,
                                  "%s: the server sent the same page again "
                                  "(Offset %lld ignored?); stopping",
                                  p->action, (long long)offset);
                goto cleanup;
            }
        }
        if (got > max_items - n) {
            rc = tc_error_set(err, TC_ELIMIT,
                              "%s: more than %zu items (the limit); "
                              "stopping",
                              p->action, max_items);
            goto cleanup;
        }
        if (got > 0) {
            items = calloc(got, p->item_size);
            if (items == NULL) {
                rc = oom(err, p->action);
                goto cleanup;
            }
        }
        for (size_t i = 0; i < got; i++) {
            json_t *it = json_array_get(list, i);
            if (!json_is_object(it)) {
                rc = tc_error_set(err, TC_ERR,
                                  "%s: malformed response: item %zu of %s "
                                  "is not an object",
                                  p->action, n + i, p->list_key);
                goto cleanup;
            }
            rc = p->conv(items + i * p->item_size, it, data);
            built++; /* a partly filled item is still freed */
            if (rc != TC_OK) {
                oom(err, p->action);
                goto cleanup;
            }
        }
        json_decref(resp);
        resp = NULL;
        n += got;

        if (got == 0)
            break;
        int r = on_page(payload, items, got, err);
        items = NULL; /* on_page owns them now */
        built = 0;
        if (r < 0) {
            rc = r;
            goto cleanup;
        }
        if (r == PAGE_STOP)
            break;
        if (jtotal != NULL && total >= 0) {
            if ((int64_t)n >= total)
                break;
        } else if (got < TC_PAGE_LIMIT) {
            break;
        }
    }

cleanup:
    if (items != NULL)
        p->free_items(items, built);
    json_decref(resp);
    free(seen.v);
    return rc;
}

/* Collects every item of a listing (the list calls). */
typedef struct collector {
    const pager *p;
    char *items;
    size_t n, cap;
} collector;

static int collect_page(void *payload, void *items, size_t n, tc_error *err)
{
    collector *col = payload;
    size_t size = col->p->item_size;
    if (n > col->cap - col->n) {
        size_t cap = col->cap ? col->cap : 64;
        while (cap - col->n < n && cap <= SIZE_MAX / 2)
            cap *= 2;
        char *tmp = cap - col->n >= n && cap <= SIZE_MAX / size
                        ? realloc(col->items, cap * size)
                        : NULL;
        if (tmp == NULL) {
            col->p->free_items(items, n);
            return oom(err, col->p->action);
        }
        col->items = tmp;
        col->cap = cap;
    }
    memcpy(col->items + col->n * size, items, n * size);
    col->n += n;
    free(items); /* the strings now belong to col->items */
    return TC_OK;
}

/* paginate() collecting everything into *out / *n_out (NULL / 0 on
 * failure), with the client's caps. */
static int paginate_all(void **out, size_t *n_out, tc_client *c, const pager *p,
                        json_t *req, tc_error *err)
{
    collector col = {p, NULL, 0, 0};
    int rc = paginate(c, p, req, NULL, collect_page, &col, err);
    if (rc != TC_OK) {
        p->free_items(col.items, col.n);
        col.items = NULL;
        col.n = 0;
    }
    *out = col.items;
    *n_out = col.n;
    return rc;
}

/* ------------------------------------------------------------ conversions */

static int split_repo(tc_repo *r, const char *ns_field)
{
    const char *slash = strchr(r->full_name, '/');
    if (ns_field != NULL && ns_field[0] != '\0') {
        size_t l = strlen(ns_field);
        r->namespace_name = strdup(ns_field);
        if (strncmp(r->full_name, ns_field, l) == 0 && r->full_name[l] == '/')
            r->name = strdup(r->full_name + l + 1);
        else
            r->name = strdup(r->full_name);
    } else if (slash != NULL) {
        r->namespace_name =
            strndup(r->full_name, (size_t)(slash - r->full_name));
        r->name = strdup(slash + 1);
    } else {
        r->namespace_name = strdup("");
        r->name = strdup(r->full_name);
    }
    return (r->namespace_name && r->name) ? TC_OK : TC_ENOMEM;
}

static int conv_ccr_ns(void *dst, json_t *it, json_t *data)
{
    (void)data;
    tc_namespace *ns = dst;
    ns->name = get_str(it, "Namespace");
    ns->creation_time = get_str(it, "CreationTime");
    ns->repo_count = get_int(it, "RepoCount", -1);
    ns->is_public = false;
    ns->id = -1;
    return (ns->name && ns->creation_time) ? TC_OK : TC_ENOMEM;
}

static int conv_tcr_ns(void *dst, json_t *it, json_t *data)
{
    (void)data;
    tc_namespace *ns = dst;
    ns->name = get_str(it, "Name");
    ns->creation_time = get_str(it, "CreationTime");
    ns->repo_count = -1;
    ns->is_public = get_bool(it, "Public");
    ns->id = get_int(it, "NamespaceId", -1);
    return (ns->name && ns->creation_time) ? TC_OK : TC_ENOMEM;
}

static int conv_ccr_repo(void *dst, json_t *it, json_t *data)
{
    tc_repo *r = dst;
    r->full_name = get_str(it, "RepoName");
    r->server = get_str(data, "Server");
    r->update_time = get_str(it, "UpdateTime");
    r->is_public = get_bool(it, "Public");
    r->tag_count = get_int(it, "TagCount", -1);
    if (!r->full_name || !r->server || !r->update_time)
        return TC_ENOMEM;
    return split_repo(r, NULL);
}

static int conv_tcr_repo(void *dst, json_t *it, json_t *data)
{
    (void)data;
    tc_repo *r = dst;
    r->full_name = get_str(it, "Name");
    r->server = strdup("");
    r->update_time = get_str(it, "UpdateTime");
    r->is_public = get_bool(it, "Public");
    r->tag_count = -1;
    if (!r->full_name || !r->server || !r->update_time)
        return TC_ENOMEM;
    return split_repo(r, json_string_value(json_object_get(it, "Namespace")));
}

static int conv_ccr_tag(void *dst, json_t *it, json_t *data)
{
    (void)data;
    tc_image *im = dst;
    im->tag = get_str(it, "TagName");
    im->digest = get_str(it, "TagId");
    im->size = get_int(it, "SizeByte", -1);
    im->push_time = get_str(it, "PushTime");
    im->kind = get_str(it, "Kind");
    return (im->tag && im->digest && im->push_time && im->kind) ? TC_OK
                                                                : TC_ENOMEM;
}

static int conv_tcr_image(void *dst, json_t *it, json_t *data)
{
    (void)data;
    tc_image *im = dst;
    im->tag = get_str(it, "ImageVersion");
    im->digest = get_str(it, "Digest");
    im->size = get_int(it, "Size", -1);
    im->push_time = get_str(it, "UpdateTime");
    im->kind = get_str(it, "Kind");
    return (im->tag && im->digest && im->push_time && im->kind) ? TC_OK
                                                                : TC_ENOMEM;
}

static int conv_instance(void *dst, json_t *it, json_t *data)
{
    (void)data;
    tc_instance *in = dst;
    in->registry_id = get_str(it, "RegistryId");
    in->name = get_str(it, "RegistryName");
    in->status = get_str(it, "Status");
    in->public_domain = get_str(it, "PublicDomain");
    in->region = get_str(it, "RegionName");
    in->type = get_str(it, "RegistryType");
    return (in->registry_id && in->name && in->status && in->public_domain &&
            in->region && in->type)
               ? TC_OK
               : TC_ENOMEM;
}

/* ------------------------------------------------------------------ frees */

void tc_namespaces_free(tc_namespace *v, size_t n)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        free(v[i].name);
        free(v[i].creation_time);
    }
    free(v);
}

void tc_repos_free(tc_repo *v, size_t n)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        free(v[i].full_name);
        free(v[i].namespace_name);
        free(v[i].name);
        free(v[i].server);
        free(v[i].update_time);
    }
    free(v);
}

void tc_images_free(tc_image *v, size_t n)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        free(v[i].tag);
        free(v[i].digest);
        free(v[i].push_time);
        free(v[i].kind);
    }
    free(v);
}

void tc_instances_free(tc_instance *v, size_t n)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        free(v[i].registry_id);
        free(v[i].name);
        free(v[i].status);
        free(v[i].public_domain);
        free(v[i].region);
        free(v[i].type);
    }
    free(v);
}

void tc_instance_token_free(tc_instance_token *t)
{
    if (t == NULL)
        return;
    free(t->username);
    if (t->token != NULL) {
        OPENSSL_cleanse(t->token, strlen(t->token));
        free(t->token);
    }
    free(t->token_id);
    free(t);
}

/* Adapters so paginate() can free any item array. */
static void free_ns_v(void *v, size_t n)
{
    tc_namespaces_free(v, n);
}
static void free_repo_v(void *v, size_t n)
{
    tc_repos_free(v, n);
}
static void free_image_v(void *v, size_t n)
{
    tc_images_free(v, n);
}
static void free_instance_v(void *v, size_t n)
{
    tc_instances_free(v, n);
}

/* ---------------------------------------------------------- the wrappers */

/* Sets a string member; false on OOM. */
static bool set_str(json_t *o, const char *k, const char *v)
{
    return json_object_set_new(o, k, json_string(v)) == 0;
}

static bool empty(const char *s)
{
    return s == NULL || s[0] == '\0';
}

int tc_ccr_list_namespaces(tc_namespace **out, size_t *n, tc_client *c,
                           tc_error *err)
{
    static const pager p = {"DescribeNamespacePersonal",
                            false,
                            "Data",
                            "NamespaceInfo",
                            "NamespaceCount",
                            sizeof(tc_namespace),
                            conv_ccr_ns,
                            free_ns_v};
    *out = NULL;
    *n = 0;
    json_t *req = json_object();
    /* Namespace is required and fuzzy: "" lists all. */
    if (req == NULL || !set_str(req, "Namespace", "")) {
        json_decref(req);
        return oom(err, p.action);
    }
    int rc = paginate_all((void **)out, n, c, &p, req, err);
    json_decref(req);
    return rc;
}

static const pager ccr_repos_pager = {"DescribeRepositoryOwnerPersonal",
                                      false,
                                      "Data",
                                      "RepoInfo",
                                      "TotalCount",
                                      sizeof(tc_repo),
                                      conv_ccr_repo,
                                      free_repo_v};

static const pager ccr_tags_pager = {
    "DescribeImagePersonal", false,        "Data",      "TagInfo", "TagCount",
    sizeof(tc_image),        conv_ccr_tag, free_image_v};

int tc_ccr_list_repos(tc_repo **out, size_t *n, tc_client *c, tc_error *err)
{
    const pager *p = &ccr_repos_pager;
    *out = NULL;
    *n = 0;
    json_t *req = json_object();
    if (req == NULL)
        return oom(err, p->action);
    int rc = paginate_all((void **)out, n, c, p, req, err);
    json_decref(req);
    return rc;
}

typedef struct repo_stream {
    int (*fn)(void *payload, const tc_repo *page, size_t n);
    void *payload;
} repo_stream;

static int on_repo_page(void *payload, void *items, size_t n, tc_error *err)
{
    (void)err;
    const repo_stream *rs = payload;
    int r = rs->fn(rs->payload, items, n);
    tc_repos_free(items, n);
    return r != 0 ? PAGE_STOP : TC_OK;
}

int tc_ccr_each_repo(tc_client *c, const tc_list_limits *lim,
                     int (*fn)(void *payload, const tc_repo *page, size_t n),
                     void *payload, tc_error *err)
{
    const pager *p = &ccr_repos_pager;
    repo_stream rs = {fn, payload};
    json_t *req = json_object();
    if (req == NULL)
        return oom(err, p->action);
    int rc = paginate(c, p, req, lim, on_repo_page, &rs, err);
    json_decref(req);
    return rc;
}

/* The DescribeImagePersonal request for "ns/repo", or NULL with err set. */
static json_t *ccr_tags_request(const char *repo_name, tc_error *err)
{
    const char *action = ccr_tags_pager.action;
    if (empty(repo_name) || strchr(repo_name, '/') == NULL) {
        tc_error_set(err, TC_EINVAL,
                     "%s: repository name must be namespace/repo", action);
        return NULL;
    }
    json_t *req = json_object();
    if (req == NULL || !set_str(req, "RepoName", repo_name)) {
        json_decref(req);
        oom(err, action);
        return NULL;
    }
    return req;
}

int tc_ccr_list_tags(tc_image **out, size_t *n, tc_client *c,
                     const char *repo_name, tc_error *err)
{
    *out = NULL;
    *n = 0;
    json_t *req = ccr_tags_request(repo_name, err);
    if (req == NULL)
        return err ? err->code : TC_EINVAL;
    int rc = paginate_all((void **)out, n, c, &ccr_tags_pager, req, err);
    json_decref(req);
    return rc;
}

typedef struct tag_stream {
    int (*fn)(void *payload, const tc_image *page, size_t n);
    void *payload;
} tag_stream;

static int on_tag_page(void *payload, void *items, size_t n, tc_error *err)
{
    (void)err;
    const tag_stream *ts = payload;
    int r = ts->fn(ts->payload, items, n);
    tc_images_free(items, n);
    return r != 0 ? PAGE_STOP : TC_OK;
}

int tc_ccr_each_tag(tc_client *c, const char *repo_name,
                    const tc_list_limits *lim,
                    int (*fn)(void *payload, const tc_image *page, size_t n),
                    void *payload, tc_error *err)
{
    tag_stream ts = {fn, payload};
    json_t *req = ccr_tags_request(repo_name, err);
    if (req == NULL)
        return err ? err->code : TC_EINVAL;
    int rc = paginate(c, &ccr_tags_pager, req, lim, on_tag_page, &ts, err);
    json_decref(req);
    return rc;
}

int tc_tcr_list_instances(tc_instance **out, size_t *n, tc_client *c,
                          const char *name, tc_error *err)
{
    static const pager p = {
        "DescribeInstances", false,          NULL,
        "Registries",        "TotalCount",   sizeof(tc_instance),
        conv_instance,       free_instance_v};
    int rc = TC_OK;
    *out = NULL;
    *n = 0;
    json_t *req = json_object();
    if (req == NULL) {
        rc = oom(err, p.action);
        goto cleanup;
    }
    if (!empty(name)) {
        /* Undocumented filter name used by image-transfer and Terraform;
         * the match may be fuzzy, hence tc_instance_find(). */
        json_t *f =
            json_pack("[{s:s, s:[s]}]", "Name", "RegistryName", "Values", name);
        if (f == NULL || json_object_set_new(req, "Filters", f) != 0) {
            rc = oom(err, p.action);
            goto cleanup;
        }
    }
    rc = paginate_all((void **)out, n, c, &p, req, err);

cleanup:
    json_decref(req);
    return rc;
}

const tc_instance *tc_instance_find(const tc_instance *v, size_t n,
                                    const char *name)
{
    for (size_t i = 0; name != NULL && i < n; i++)
        if (v[i].name != NULL && strcmp(v[i].name, name) == 0)
            return &v[i];
    return NULL;
}

int tc_tcr_list_namespaces(tc_namespace **out, size_t *n, tc_client *c,
                           const char *registry_id, const char *name,
                           tc_error *err)
{
    static const pager p = {
        "DescribeNamespaces", true,         NULL,
        "NamespaceList",      "TotalCount", sizeof(tc_namespace),
        conv_tcr_ns,          free_ns_v};
    *out = NULL;
    *n = 0;
    if (empty(registry_id))
        return tc_error_set(err, TC_EINVAL, "%s: RegistryId is required",
                            p.action);
    json_t *req = json_object();
    if (req == NULL || !set_str(req, "RegistryId", registry_id) ||
        (!empty(name) && !set_str(req, "NamespaceName", name))) {
        json_decref(req);
        return oom(err, p.action);
    }
    int rc = paginate_all((void **)out, n, c, &p, req, err);
    json_decref(req);
    return rc;
}

int tc_tcr_create_namespace(tc_client *c, const char *registry_id,
                            const char *name, bool is_public, tc_error *err)
{
    const char *action = "CreateNamespace";
    json_t *resp = NULL;
    if (empty(registry_id) || empty(name))
        return tc_error_set(err, TC_EINVAL,
                            "%s: RegistryId and NamespaceName are required",
                            action);
    json_t *req = json_pack("{s:s, s:s, s:b}", "RegistryId", registry_id,
                            "NamespaceName", name, "IsPublic", is_public);
    if (req == NULL)
        return oom(err, action);
    int rc = tc_call(c, action, req, &resp, err);
    json_decref(resp);
    json_decref(req);
    return rc;
}

int tc_tcr_list_repos(tc_repo **out, size_t *n, tc_client *c,
                      const char *registry_id, const char *namespace_name,
                      tc_error *err)
{
    static const pager p = {
        "DescribeRepositories", true,         NULL,
        "RepositoryList",       "TotalCount", sizeof(tc_repo),
        conv_tcr_repo,          free_repo_v};
    *out = NULL;
    *n = 0;
    if (empty(registry_id))
        return tc_error_set(err, TC_EINVAL, "%s: RegistryId is required",
                            p.action);
    json_t *req = json_object();
    if (req == NULL || !set_str(req, "RegistryId", registry_id) ||
        (!empty(namespace_name) &&
         !set_str(req, "NamespaceName", namespace_name))) {
        json_decref(req);
        return oom(err, p.action);
    }
    int rc = paginate_all((void **)out, n, c, &p, req, err);
    json_decref(req);
    return rc;
}

int tc_tcr_list_images(tc_image **out, size_t *n, tc_client *c,
                       const char *registry_id, const char *namespace_name,
                       const char *repo_name, tc_error *err)
{
    static const pager p = {"DescribeImages", true,         NULL,
                            "ImageInfoList",  "TotalCount", sizeof(tc_image),
                            conv_tcr_image,   free_image_v};
    *out = NULL;
    *n = 0;
    if (empty(registry_id) || empty(namespace_name) || empty(repo_name))
        return tc_error_set(err, TC_EINVAL,
                            "%s: RegistryId, NamespaceName and "
                            "RepositoryName are required",
                            p.action);
    json_t *req =
        json_pack("{s:s, s:s, s:s}", "RegistryId", registry_id, "NamespaceName",
                  namespace_name, "RepositoryName", repo_name);
    if (req == NULL)
        return oom(err, p.action);
    int rc = paginate_all((void **)out, n, c, &p, req, err);
    json_decref(req);
    return rc;
}

/* How long a token whose ExpTime makes no sense is taken to be valid. */
#define ASSUMED_TOKEN_LIFE_S 300
/* The latest plausible ExpTime: a temporary token lives an hour. */
#define MAX_TOKEN_LIFE_S (366LL * 24 * 3600)

/* CreateInstanceToken's ExpTime (Unix milliseconds [3.2]). Anything that
 * is not an integer-valued number in (now, now + 366 days] in
 * milliseconds (seconds, 1e300, a string, negative, in the past) is
 * replaced by now + 5 minutes, and *assumed set. */
static int64_t exp_time(tc_client *c, json_t *v, bool *assumed)
{
    int64_t now_ms = tc__client_now(c) * 1000;
    int64_t x = 0;
    *assumed = false;
    if (exact_int(v, &x) && x > now_ms && x - now_ms <= MAX_TOKEN_LIFE_S * 1000)
        return x;
    *assumed = true;
    return now_ms + ASSUMED_TOKEN_LIFE_S * 1000;
}

int tc_tcr_create_instance_token(tc_instance_token **out, tc_client *c,
                                 const char *registry_id, tc_error *err)
{
    const char *action = "CreateInstanceToken";
    int rc = TC_OK;
    json_t *resp = NULL;
    json_t *req = NULL;
    tc_instance_token *t = NULL;

    *out = NULL;
    if (empty(registry_id))
        return tc_error_set(err, TC_EINVAL, "%s: RegistryId is required",
                            action);
    req =
        json_pack("{s:s, s:s}", "RegistryId", registry_id, "TokenType", "temp");
    if (req == NULL) {
        rc = oom(err, action);
        goto cleanup;
    }
    rc = tc_call(c, action, req, &resp, err);
    if (rc != TC_OK)
        goto cleanup;
    const char *token = json_string_value(json_object_get(resp, "Token"));
    if (empty(token)) {
        rc = tc_error_set(err, TC_ERR, "%s: response has no Token", action);
        goto cleanup;
    }
    const char *user = json_string_value(json_object_get(resp, "Username"));
    if (has_control(token) || (user != NULL && has_control(user))) {
        /* They become a Basic login: never a header line break. */
        rc = tc_error_set(err, TC_ERR,
                          "%s: the response's %s holds a control character",
                          action, has_control(token) ? "Token" : "Username");
        goto cleanup;
    }
    t = calloc(1, sizeof(*t));
    if (t == NULL) {
        rc = oom(err, action);
        goto cleanup;
    }
    t->username = get_str(resp, "Username");
    t->token = strdup(token);
    t->token_id = get_str(resp, "TokenId");
    t->exp_time_ms =
        exp_time(c, json_object_get(resp, "ExpTime"), &t->exp_time_assumed);
    if (!t->username || !t->token || !t->token_id) {
        rc = oom(err, action);
        goto cleanup;
    }
    *out = t;
    t = NULL;

cleanup:
    tc_instance_token_free(t);
    json_decref(resp); /* the token text in it is freed with it */
    json_decref(req);
    return rc;
}

/* ---------------------------------------------------------------- regions */

/* tkestack/image-transfer ccrapi.go RegionPrefix, then the additions a
 * third-party chart agrees on (marked unverified in the reference). */
static const struct {
    const char *region;
    const char *host;
} ccr_hosts[] = {
    {"ap-guangzhou", "ccr.ccs.tencentyun.com"},
    {"ap-shanghai", "ccr.ccs.tencentyun.com"},
    {"ap-nanjing", "ccr.ccs.tencentyun.com"},
    {"ap-beijing", "ccr.ccs.tencentyun.com"},
    {"ap-shenzhen", "ccr.ccs.tencentyun.com"},
    {"ap-chongqing", "ccr.ccs.tencentyun.com"},
    {"ap-chengdu", "ccr.ccs.tencentyun.com"},
    {"ap-tianjin", "ccr.ccs.tencentyun.com"},
    {"ap-hongkong", "hkccr.ccs.tencentyun.com"},
    {"ap-shenzhen-fsi", "szjrccr.ccs.tencentyun.com"},
    {"ap-shanghai-fsi", "shjrccr.ccs.tencentyun.com"},
    {"ap-beijing-fsi", "bjjrccr.ccs.tencentyun.com"},
    {"ap-singapore", "sgccr.ccs.tencentyun.com"},
    {"ap-seoul", "krccr.ccs.tencentyun.com"},
    {"ap-tokyo", "jpccr.ccs.tencentyun.com"},
    {"ap-mumbai", "inccr.ccs.tencentyun.com"},
    {"ap-bangkok", "thccr.ccs.tencentyun.com"},
    {"na-toronto", "caccr.ccs.tencentyun.com"},
    {"na-siliconvalley", "uswccr.ccs.tencentyun.com"},
    {"na-ashburn", "useccr.ccs.tencentyun.com"},
    {"eu-frankfurt", "deccr.ccs.tencentyun.com"},
    {"eu-moscow", "ruccr.ccs.tencentyun.com"},
    /* unverified additions */
    {"sa-saopaulo", "saoccr.ccs.tencentyun.com"},
    {"ap-jakarta", "jktccr.ccs.tencentyun.com"},
    {"ap-taipei", "tpeccr.ccs.tencentyun.com"},
};

const char *tc_ccr_registry_host(const char *region)
{
    for (size_t i = 0;
         region != NULL && i < sizeof(ccr_hosts) / sizeof(ccr_hosts[0]); i++)
        if (strcmp(ccr_hosts[i].region, region) == 0)
            return ccr_hosts[i].host;
    return NULL;
}

int tc_tcr_registry_host(char *out, size_t cap, const char *instance_name)
{
    if (empty(instance_name) || strpbrk(instance_name, "/:@ \r\n") != NULL)
        return TC_EINVAL;
    int w = snprintf(out, cap, "%s.tencentcloudcr.com", instance_name);
    return (w < 0 || (size_t)w >= cap) ? TC_EINVAL : TC_OK;
}
