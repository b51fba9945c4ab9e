/*
 * test_tc_client.c - the TCR client without a network: a scripted transport
 * (the tc_transport_fn seam) checks every request's headers and signature,
 * serves generated pages with each action's Offset semantics, and injects
 * API errors. Covers pagination (0, 1, 100, 101, 250 items, short pages,
 * a server that ignores Offset), retries, error mapping and the typed
 * results.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "tencentcloud.h"

#define SECRET_ID  "AKIDunittest"
#define SECRET_KEY "unit-secret-key-do-not-print"
#define MAX_CALLS  64

typedef struct canned {
    const char *code; /* API error Code, NULL = none */
    const char *message;
    long http_status; /* 0 = 200 */
    bool transport_fail;
} canned;

typedef struct fake {
    /* dataset */
    int n_items;
    int page_cap;       /* server-side page size cap, 0 = none */
    bool omit_total;    /* leave the total count out of responses */
    bool ignore_offset; /* always serve the first page */
    int cycle;          /* >0: ignore Offset, serve pages 0..cycle-1 in turn */
    int fat;            /* >0: serve this many items a page, whatever Limit */
    /* errors served to the first n_errors calls, in order */
    canned errors[8];
    int n_errors;
    /* recorded */
    int n_calls;
    char actions[MAX_CALLS][64];
    long long offsets[MAX_CALLS];
    long long limits[MAX_CALLS];
    long long timestamps[MAX_CALLS];
    json_t *last_request;
    long sleeps[MAX_CALLS];
    int n_sleeps;
    int64_t now;
    int before_calls;
    /* hostile values: replace the total count / CreateInstanceToken's
     * ExpTime / every item's size with these (borrowed) when set */
    json_t *total;
    json_t *exp_time;
    json_t *size;
    bool omit_exp_time;
    const char *token; /* CreateInstanceToken's Token, NULL = a JWT */
} fake;

/* ------------------------------------------------------------ the fake */

static const char *header(const tc_http_request *r, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < r->n_headers; i++)
        if (strncasecmp(r->headers[i], name, n) == 0 && r->headers[i][n] == ':')
            return r->headers[i] + n + 2;
    return NULL;
}

/* Recomputes the signature from what was sent, as a server would. */
static void verify_signature(const tc_http_request *r)
{
    const char *auth = header(r, "Authorization");
    const char *host = header(r, "Host");
    const char *ctype = header(r, "Content-Type");
    const char *action = header(r, "X-TC-Action");
    const char *ts = header(r, "X-TC-Timestamp");
    const char *version = header(r, "X-TC-Version");
    assert_non_null(auth);
    assert_non_null(host);
    assert_non_null(ctype);
    assert_non_null(action);
    assert_non_null(ts);
    assert_non_null(version);
    assert_string_equal(header(r, "X-TC-Region"), "ap-guangzhou");
    assert_string_equal(host, "tcr.example.test:8443");
    assert_string_equal(ctype, "application/json");
    assert_string_equal(version, "2019-09-24");
    assert_string_equal(r->method, "POST");
    assert_string_equal(r->url, "https://tcr.example.test:8443/");
    char *end = NULL;
    long long t = strtoll(ts, &end, 10);
    assert_true(end != ts && *end == '\0');

    tc_sign_input in = {
        .secret_id = SECRET_ID,
        .secret_key = SECRET_KEY,
        .service = "tcr",
        .host = host,
        .content_type = ctype,
        .action = action,
        .version = version,
        .timestamp = t,
        .payload = r->body,
        .payload_len = r->body_len,
    };
    tc_signature sig;
    assert_int_equal(tc_sign(&sig, &in, NULL), TC_OK);
    assert_string_equal(auth, sig.authorization);
    tc_signature_clear(&sig);
    for (size_t i = 0; i < r->n_headers; i++)
        assert_null(strstr(r->headers[i], SECRET_KEY));
}

/* One generated item of `action`, number i. */
static json_t *make_item(const char *action, int i)
{
    char name[64], digest[80];
    snprintf(name, sizeof(name), "item-%04d", i);
    snprintf(digest, sizeof(digest), "sha256:%064d", i);
    if (strcmp(action, "DescribeNamespacePersonal") == 0)
        return json_pack("{s:s, s:s, s:i}", "Namespace", name, "CreationTime",
                         "2024-06-22 10:37:26", "RepoCount", i);
    if (strcmp(action, "DescribeRepositoryOwnerPersonal") == 0) {
        char rn[96];
        snprintf(rn, sizeof(rn), "ns%d/%s/sub", i % 3, name);
        return json_pack("{s:s, s:i, s:i, s:s}", "RepoName", rn, "TagCount", i,
                         "Public", i % 2, "UpdateTime", "2024-01-01");
    }
    if (strcmp(action, "DescribeImagePersonal") == 0)
        return json_pack("{s:s, s:s, s:I, s:s, s:s}", "TagName", name, "TagId",
                         digest, "SizeByte", (json_int_t)1000 + i, "PushTime",
                         "2024-01-02 03:04:05", "Kind", "docker");
    if (strcmp(action, "DescribeInstances") == 0) {
        char id[32];
        snprintf(id, sizeof(id), "tcr-%08d", i);
        return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "RegistryId", id,
                         "RegistryName", name, "Status", "Running",
                         "PublicDomain", "x.tencentcloudcr.com", "RegionName",
                         "ap-guangzhou", "RegistryType", "basic");
    }
    if (strcmp(action, "DescribeNamespaces") == 0)
        return json_pack("{s:s, s:s, s:b, s:i}", "Name", name, "CreationTime",
                         "2024-12-10T14:04:56Z", "Public", i % 2, "NamespaceId",
                         i);
    if (strcmp(action, "DescribeRepositories") == 0) {
        char rn[96];
        snprintf(rn, sizeof(rn), "team/%s", name);
        return json_pack("{s:s, s:s, s:b, s:s}", "Name", rn, "Namespace",
                         "team", "Public", 0, "UpdateTime", "2024");
    }
    if (strcmp(action, "DescribeImages") == 0)
        return json_pack("{s:s, s:s, s:I, s:s}", "ImageVersion", name, "Digest",
                         digest, "Size", (json_int_t)2000 + i, "UpdateTime",
                         "2022-08-06T07:31:01Z");
    return NULL;
}

typedef struct shape {
    const char *action;
    bool page_numbers;
    const char *data_key;
    const char *list_key;
    const char *total_key;
} shape;

static const shape shapes[] = {
    {"DescribeNamespacePersonal", false, "Data", "NamespaceInfo",
     "NamespaceCount"},
    {"DescribeRepositoryOwnerPersonal", false, "Data", "RepoInfo",
     "TotalCount"},
    {"DescribeImagePersonal", false, "Data", "TagInfo", "TagCount"},
    {"DescribeInstances", false, NULL, "Registries", "TotalCount"},
    {"DescribeNamespaces", true, NULL, "NamespaceList", "TotalCount"},
    {"DescribeRepositories", true, NULL, "RepositoryList", "TotalCount"},
    {"DescribeImages", true, NULL, "ImageInfoList", "TotalCount"},
};

static const shape *find_shape(const char *action)
{
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
        if (strcmp(shapes[i].action, action) == 0)
            return &shapes[i];
    return NULL;
}

static char *envelope(json_t *resp)
{
    json_object_set_new(resp, "RequestId",
                        json_string("11111111-2222-3333-4444-555555555555"));
    json_t *root = json_pack("{s:o}", "Response", resp);
    char *s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return s;
}

static int fake_transport(void *payload, const tc_http_request *r, long *status,
                          char **body, size_t *body_len, tc_error *err)
{
    fake *f = payload;
    verify_signature(r);
    /* calls after the first MAX_CALLS are served, not recorded */
    int call = f->n_calls++;
    int k = call < MAX_CALLS ? call : MAX_CALLS - 1;
    const char *action = header(r, "X-TC-Action");
    snprintf(f->actions[k], sizeof(f->actions[k]), "%s", action);
    f->timestamps[k] = strtoll(header(r, "X-TC-Timestamp"), NULL, 10);

    json_error_t jerr;
    json_t *req = json_loadb(r->body, r->body_len, 0, &jerr);
    assert_non_null(req);
    json_decref(f->last_request);
    f->last_request = req;
    json_t *jo = json_object_get(req, "Offset");
    json_t *jl = json_object_get(req, "Limit");
    f->offsets[k] = jo ? json_integer_value(jo) : -1;
    f->limits[k] = jl ? json_integer_value(jl) : -1;

    *status = 200;
    if (call < f->n_errors) {
        const canned *c = &f->errors[call];
        if (c->transport_fail)
            return tc_error_set(err, TC_ERETRY,
                                "HTTP request failed: Couldn't connect");
        if (c->http_status != 0)
            *status = c->http_status;
        if (c->code != NULL) {
            json_t *e = json_pack("{s:{s:s, s:s}}", "Error", "Code", c->code,
                                  "Message", c->message ? c->message : "x");
            *body = envelope(e);
        } else {
            *body = strdup("<html>busy</html>");
        }
        *body_len = strlen(*body);
        return TC_OK;
    }

    const shape *sh = find_shape(action);
    json_t *resp = json_object();
    if (strcmp(action, "CreateInstanceToken") == 0) {
        json_object_set_new(resp, "Username", json_string("100036950234"));
        json_object_set_new(
            resp, "Token",
            json_string(f->token ? f->token : "jwt.token.value"));
        if (f->exp_time != NULL)
            json_object_set(resp, "ExpTime", f->exp_time);
        else if (!f->omit_exp_time)
            /* an hour after the fake clock's start */
            json_object_set_new(resp, "ExpTime", json_integer(1700003600000LL));
        json_object_set_new(resp, "TokenId", json_string(""));
    } else if (sh != NULL) {
        /* Limit maxima from the reference: never more than 100. */
        assert_true(f->limits[k] >= 1 && f->limits[k] <= 100);
        long long limit = f->limits[k];
        if (f->page_cap > 0 && limit > f->page_cap)
            limit = f->page_cap;
        if (f->fat > 0)
            limit = f->fat;
        long long start;
        if (sh->page_numbers) {
            assert_true(f->offsets[k] >= 1); /* clients start at page 1 */
            start = (f->offsets[k] - 1) * limit;
        } else {
            assert_true(f->offsets[k] >= 0);
            start = f->offsets[k];
        }
        if (f->ignore_offset)
            start = 0;
        if (f->cycle > 0)
            start = (call % f->cycle) * limit;
        json_t *list = json_array();
        for (long long i = start; i < start + limit && i < f->n_items; i++) {
            json_t *item = make_item(action, (int)i);
            if (f->size != NULL) {
                json_object_set(item, "SizeByte", f->size);
                json_object_set(item, "Size", f->size);
            }
            json_array_append_new(list, item);
        }
        json_t *data = sh->data_key ? json_object() : json_incref(resp);
        json_object_set_new(data, sh->list_key, list);
        if (f->total != NULL)
            json_object_set(data, sh->total_key, f->total);
        else if (!f->omit_total)
            json_object_set_new(data, sh->total_key, json_integer(f->n_items));
        if (sh->data_key != NULL) {
            json_object_set_new(data, "Server", json_string("ccr.example"));
            json_object_set_new(resp, sh->data_key, data);
        } else {
            json_decref(data);
        }
    }
    *body = envelope(resp);
    *body_len = strlen(*body);
    return TC_OK;
}

static int64_t fake_clock(void *payload)
{
    fake *f = payload;
    return f->now++;
}

static void fake_sleep(void *payload, long ms)
{
    fake *f = payload;
    if (f->n_sleeps < MAX_CALLS)
        f->sleeps[f->n_sleeps++] = ms;
}

static void fake_before(void *payload, const char *action)
{
    fake *f = payload;
    assert_non_null(action);
    f->before_calls++;
}

static tc_client *new_client(fake *f, int max_retries)
{
    tc_client_opts o = {
        .endpoint = "https://tcr.example.test:8443",
        .region = "ap-guangzhou",
        .secret_id = SECRET_ID,
        .secret_key = SECRET_KEY,
        .max_retries = max_retries,
        .backoff_base_ms = 100,
        .backoff_max_ms = 1000,
        .clock = fake_clock,
        .sleep_ms = fake_sleep,
        .before_request = fake_before,
        .transport = fake_transport,
        .payload = f,
    };
    tc_client *c = NULL;
    tc_error err = {0};
    f->now = 1700000000;
    assert_int_equal(tc_client_new(&c, &o, &err), TC_OK);
    return c;
}

static void fake_done(fake *f)
{
    json_decref(f->last_request);
    f->last_request = NULL;
}

/* ------------------------------------------------------- pagination */

/* Runs the list call for `action` and returns the names it produced
 * (malloc'd array of malloc'd strings) in *names. */
static int run_list(tc_client *c, const char *action, char ***names, size_t *n,
                    tc_error *err)
{
    int rc;
    *names = NULL;
    *n = 0;
    if (strcmp(action, "DescribeNamespacePersonal") == 0 ||
        strcmp(action, "DescribeNamespaces") == 0) {
        tc_namespace *v = NULL;
        rc = strcmp(action, "DescribeNamespacePersonal") == 0
                 ? tc_ccr_list_namespaces(&v, n, c, err)
                 : tc_tcr_list_namespaces(&v, n, c, "tcr-1", NULL, err);
        *names = calloc(*n + 1, sizeof(char *));
        for (size_t i = 0; i < *n; i++)
            (*names)[i] = strdup(v[i].name);
        tc_namespaces_free(v, *n);
    } else if (strcmp(action, "DescribeRepositoryOwnerPersonal") == 0 ||
               strcmp(action, "DescribeRepositories") == 0) {
        tc_repo *v = NULL;
        rc = strcmp(action, "DescribeRepositoryOwnerPersonal") == 0
                 ? tc_ccr_list_repos(&v, n, c, err)
                 : tc_tcr_list_repos(&v, n, c, "tcr-1", NULL, err);
        *names = calloc(*n + 1, sizeof(char *));
        for (size_t i = 0; i < *n; i++) {
            /* "ns0/item-0000/sub" -> "item-0000" */
            const char *p = strstr(v[i].full_name, "item-");
            (*names)[i] = strndup(p, 9);
        }
        tc_repos_free(v, *n);
    } else if (strcmp(action, "DescribeImagePersonal") == 0 ||
               strcmp(action, "DescribeImages") == 0) {
        tc_image *v = NULL;
        rc = strcmp(action, "DescribeImagePersonal") == 0
                 ? tc_ccr_list_tags(&v, n, c, "ns/repo", err)
                 : tc_tcr_list_images(&v, n, c, "tcr-1", "ns", "repo", err);
        *names = calloc(*n + 1, sizeof(char *));
        for (size_t i = 0; i < *n; i++)
            (*names)[i] = strdup(v[i].tag);
        tc_images_free(v, *n);
    } else {
        tc_instance *v = NULL;
        rc = tc_tcr_list_instances(&v, n, c, "image-transfer", err);
        *names = calloc(*n + 1, sizeof(char *));
        for (size_t i = 0; i < *n; i++)
            (*names)[i] = strdup(v[i].name);
        tc_instances_free(v, *n);
    }
    return rc;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static void check_pages(const shape *sh, int n_items, int page_cap,
                        bool omit_total, int want_items, int want_calls)
{
    fake f = {
        .n_items = n_items, .page_cap = page_cap, .omit_total = omit_total};
    tc_client *c = new_client(&f, 0);
    tc_error err = {0};
    char **names = NULL;
    size_t n = 0;
    int rc = run_list(c, sh->action, &names, &n, &err);
    if (rc != TC_OK)
        fail_msg("%s n=%d: %s", sh->action, n_items, err.message);
    if ((int)n != want_items || f.n_calls != want_calls)
        fail_msg("%s n=%d cap=%d omit_total=%d: got %zu items in %d calls, "
                 "want %d in %d",
                 sh->action, n_items, page_cap, omit_total, n, f.n_calls,
                 want_items, want_calls);
    for (size_t i = 0; i < n; i++) {
        char want[32];
        snprintf(want, sizeof(want), "item-%04zu", i);
        assert_string_equal(names[i], want);
    }
    /* Offset semantics per call. */
    long long step = page_cap > 0 && page_cap < 100 ? page_cap : 100;
    for (int k = 0; k < f.n_calls; k++) {
        assert_string_equal(f.actions[k], sh->action);
        assert_int_equal(f.limits[k], 100);
        long long want_off = sh->page_numbers ? k + 1 : k * step;
        if (f.offsets[k] != want_off)
            fail_msg("%s call %d: Offset %lld, want %lld", sh->action, k,
                     f.offsets[k], want_off);
    }
    assert_int_equal(f.before_calls, f.n_calls);
    free_names(names, n);
    tc_client_free(c);
    fake_done(&f);
}

static void test_pagination_sizes(void **state)
{
    (void)state;
    static const int sizes[][2] = {
        {0, 1}, {1, 1}, {100, 1}, {101, 2}, {250, 3}};
    for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++)
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
            check_pages(&shapes[s], sizes[i][0], 0, false, sizes[i][0],
                        sizes[i][1]);
}

/* A server whose pages are shorter than asked (caps Limit at 30): with a
 * total the client goes on; without one a short page ends the listing. */
static void test_pagination_short_pages(void **state)
{
    (void)state;
    for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
        check_pages(&shapes[s], 250, 30, false, 250, 9);
        check_pages(&shapes[s], 250, 0, true, 250, 3); /* 100,100,50 */
        check_pages(&shapes[s], 200, 0, true, 200, 3); /* 100,100,0 */
        check_pages(&shapes[s], 250, 30, true, 30, 1); /* no total */
    }
}

/* A server that ignores Offset must not make the client loop. */
static void test_pagination_repeated_page(void **state)
{
    (void)state;
    for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
        fake f = {.n_items = 250, .ignore_offset = true, .omit_total = true};
        tc_client *c = new_client(&f, 0);
        tc_error err = {0};
        char **names = NULL;
        size_t n = 0;
        assert_int_equal(run_list(c, shapes[s].action, &names, &n, &err),
                         TC_ERR);
        assert_int_equal(f.n_calls, 2);
        assert_int_equal(n, 0);
        assert_non_null(strstr(err.message, "same page"));
        free_names(names, n);
        tc_client_free(c);
        fake_done(&f);
    }
}

/* ------------------------------------------------------ errors, retries */

static void test_error_code_table(void **state)
{
    (void)state;
    const char *dir = getenv("FIXTURES");
    char path[4096];
    snprintf(path, sizeof(path), "%s/tc-error-codes.json",
             dir ? dir : "tests/fixtures");
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (root == NULL)
        fail_msg("cannot load %s: %s", path, jerr.text);
    static const struct {
        const char *name;
        int code;
    } names[] = {{"OK", TC_OK},
                 {"ERR", TC_ERR},
                 {"EAUTH", TC_EAUTH},
                 {"ERETRY", TC_ERETRY},
                 {"ENOTFOUND", TC_ENOTFOUND},
                 {"ECONFLICT", TC_ECONFLICT},
                 {"EINVAL", TC_EINVAL}};
    size_t i;
    json_t *row;
    json_t *cases = json_object_get(root, "cases");
    assert_true(json_array_size(cases) > 20);
    json_array_foreach(cases, i, row)
    {
        const char *api = json_string_value(json_object_get(row, "code"));
        const char *want = json_string_value(json_object_get(row, "expect"));
        int wc = 1;
        for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++)
            if (strcmp(names[k].name, want) == 0)
                wc = names[k].code;
        assert_int_not_equal(wc, 1);
        if (tc_error_code_for(api) != wc)
            fail_msg("%s: mapped to %d, want %s", api, tc_error_code_for(api),
                     want);
    }
    json_decref(root);
}

static void test_auth_failure_not_retried(void **state)
{
    (void)state;
    const char *codes[] = {"AuthFailure.SignatureFailure",
                           "AuthFailure.SecretIdNotFound",
                           "UnauthorizedOperation"};
    for (size_t i = 0; i < 3; i++) {
        fake f = {.n_errors = 1};
        /* the server echoes the key: it must be scrubbed */
        f.errors[0] = (canned){.code = codes[i],
                               .message = "bad key " SECRET_KEY " here"};
        tc_client *c = new_client(&f, 3);
        tc_error err = {0};
        tc_namespace *v = NULL;
        size_t n = 0;
        assert_int_equal(tc_ccr_list_namespaces(&v, &n, c, &err), TC_EAUTH);
        assert_null(v);
        assert_int_equal(f.n_calls, 1);
        assert_int_equal(f.n_sleeps, 0);
        assert_string_equal(err.api_code, codes[i]);
        assert_string_equal(err.request_id,
                            "11111111-2222-3333-4444-555555555555");
        assert_int_equal(err.http_status, 200);
        assert_non_null(strstr(err.message, SECRET_ID));
        assert_non_null(strstr(err.message, codes[i]));
        assert_non_null(strstr(err.message, "DescribeNamespacePersonal"));
        assert_null(strstr(err.message, SECRET_KEY));
        tc_client_free(c);
        fake_done(&f);
    }
}

static void test_throttle_retried_then_success(void **state)
{
    (void)state;
    fake f = {.n_items = 150, .n_errors = 4};
    f.errors[0] = (canned){.code = "RequestLimitExceeded"};
    f.errors[1] = (canned){.code = "RequestLimitExceeded.UinLimitExceeded"};
    f.errors[2] = (canned){.code = "InternalError.DbError"};
    f.errors[3] = (canned){.transport_fail = true};
    tc_client *c = new_client(&f, 4);
    tc_error err = {0};
    tc_image *v = NULL;
    size_t n = 0;
    int rc = tc_tcr_list_images(&v, &n, c, "tcr-1", "ns", "repo", &err);
    if (rc != TC_OK)
        fail_msg("%s", err.message);
    assert_int_equal(n, 150);
    assert_int_equal(f.n_calls, 6); /* 4 failures + 2 pages */
    assert_int_equal(f.offsets[4], 1);
    assert_int_equal(f.offsets[5], 2);
    /* backoff: 4 sleeps, each within [d/2, d] of d = min(1000, 100*2^k) */
    assert_int_equal(f.n_sleeps, 4);
    long caps[] = {100, 200, 400, 800};
    for (int k = 0; k < 4; k++) {
        assert_true(f.sleeps[k] >= caps[k] / 2);
        assert_true(f.sleeps[k] <= caps[k]);
    }
    /* each attempt is signed afresh with the clock's time */
    for (int k = 1; k < f.n_calls; k++)
        assert_true(f.timestamps[k] > f.timestamps[k - 1]);
    tc_images_free(v, n);
    tc_client_free(c);
    fake_done(&f);
}

/* The one backoff of tencentcloud/ has the program's shape (src/retry.c):
 * equal jitter over d = min(max, base * 2^(n-1)), and d never overflows
 * however large the options (each sleep within [d/2, d], never negative). */
static void test_backoff_huge_options(void **state)
{
    (void)state;
    fake f = {.n_errors = 6};
    for (int i = 0; i < 6; i++)
        f.errors[i] = (canned){.code = "InternalError"};
    tc_client_opts o = {
        .endpoint = "https://tcr.example.test:8443",
        .region = "ap-guangzhou",
        .secret_id = SECRET_ID,
        .secret_key = SECRET_KEY,
        .max_retries = 5,
        .backoff_base_ms = LONG_MAX / 4 + 1,
        .backoff_max_ms = LONG_MAX,
        .clock = fake_clock,
        .sleep_ms = fake_sleep,
        .transport = fake_transport,
        .payload = &f,
    };
    tc_client *c = NULL;
    tc_error err = {0};
    f.now = 1700000000;
    assert_int_equal(tc_client_new(&c, &o, &err), TC_OK);
    json_t *resp = NULL;
    assert_int_equal(tc_call(c, "DescribeInstances", NULL, &resp, &err),
                     TC_ERETRY);
    assert_int_equal(f.n_sleeps, 5);
    long d = LONG_MAX / 4 + 1;
    for (int k = 0; k < 5; k++) {
        assert_true(f.sleeps[k] >= d / 2);
        assert_true(f.sleeps[k] <= d);
        d = d > LONG_MAX / 2 ? LONG_MAX : d * 2;
    }
    tc_client_free(c);
    fake_done(&f);
}

static void test_retries_are_bounded(void **state)
{
    (void)state;
    fake f = {.n_errors = 8};
    for (int i = 0; i < 8; i++)
        f.errors[i] = (canned){.code = "InternalError"};
    tc_client *c = new_client(&f, 2);
    tc_error err = {0};
    json_t *resp = NULL;
    assert_int_equal(tc_call(c, "DescribeInstances", NULL, &resp, &err),
                     TC_ERETRY);
    assert_null(resp);
    assert_int_equal(f.n_calls, 3);
    assert_int_equal(f.n_sleeps, 2);
    assert_non_null(strstr(err.message, "gave up after 3 attempts"));
    assert_string_equal(err.api_code, "InternalError");
    tc_client_free(c);
    fake_done(&f);

    /* HTTP 503 with a non-JSON body is retried, 400 is not */
    fake g = {.n_errors = 2};
    g.errors[0] = (canned){.http_status = 503};
    g.errors[1] = (canned){.http_status = 400};
    c = new_client(&g, 5);
    assert_int_equal(tc_call(c, "DescribeInstances", NULL, &resp, &err),
                     TC_ERR);
    assert_int_equal(g.n_calls, 2);
    assert_int_equal(err.http_status, 400);
    tc_client_free(c);
    fake_done(&g);
}

static void test_not_found_conflict_invalid(void **state)
{
    (void)state;
    static const struct {
        const char *code;
        int want;
    } cases[] = {
        {"ResourceNotFound.TcrResourceNotFound", TC_ENOTFOUND},
        {"ResourceNotFound", TC_ENOTFOUND},
        {"FailedOperation.ErrorTcrResourceConflict", TC_ECONFLICT},
        {"InternalError.ErrorTcrResourceConflict", TC_ECONFLICT},
        {"InvalidParameter.ErrorTcrInvalidParameter", TC_EINVAL},
        {"LimitExceeded.ErrNamespaceMaxLimit", TC_ERR},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fake f = {.n_errors = 1};
        f.errors[0] = (canned){.code = cases[i].code, .message = "m"};
        tc_client *c = new_client(&f, 3);
        tc_error err = {0};
        assert_int_equal(
            tc_tcr_create_namespace(c, "tcr-1", "team", true, &err),
            cases[i].want);
        assert_int_equal(f.n_calls, 1); /* none of these is retried */
        assert_string_equal(err.api_code, cases[i].code);
        tc_client_free(c);
        fake_done(&f);
    }
}

/* ------------------------------------------------- request bodies, results */

static void test_request_fields(void **state)
{
    (void)state;
    fake f = {.n_items = 3};
    tc_client *c = new_client(&f, 0);
    tc_error err = {0};

    assert_int_equal(tc_tcr_create_namespace(c, "tcr-1", "team", true, &err),
                     TC_OK);
    json_t *r = f.last_request;
    assert_string_equal(json_string_value(json_object_get(r, "RegistryId")),
                        "tcr-1");
    assert_string_equal(json_string_value(json_object_get(r, "NamespaceName")),
                        "team");
    assert_true(json_is_true(json_object_get(r, "IsPublic")));

    tc_instance *iv = NULL;
    size_t n = 0;
    assert_int_equal(tc_tcr_list_instances(&iv, &n, c, "image-transfer", &err),
                     TC_OK);
    json_t *flt = json_array_get(json_object_get(f.last_request, "Filters"), 0);
    assert_string_equal(json_string_value(json_object_get(flt, "Name")),
                        "RegistryName");
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(flt, "Values"), 0)),
        "image-transfer");
    assert_int_equal(n, 3);
    assert_string_equal(iv[1].registry_id, "tcr-00000001");
    assert_string_equal(iv[1].status, "Running");
    assert_ptr_equal(tc_instance_find(iv, n, "item-0002"), &iv[2]);
    assert_null(tc_instance_find(iv, n, "item-000"));
    tc_instances_free(iv, n);

    tc_namespace *nv = NULL;
    assert_int_equal(tc_ccr_list_namespaces(&nv, &n, c, &err), TC_OK);
    assert_string_equal(
        json_string_value(json_object_get(f.last_request, "Namespace")), "");
    assert_int_equal(nv[2].repo_count, 2);
    tc_namespaces_free(nv, n);

    tc_repo *rv = NULL;
    assert_int_equal(tc_ccr_list_repos(&rv, &n, c, &err), TC_OK);
    assert_string_equal(rv[1].full_name, "ns1/item-0001/sub");
    assert_string_equal(rv[1].namespace_name, "ns1");
    assert_string_equal(rv[1].name, "item-0001/sub");
    assert_string_equal(rv[1].server, "ccr.example");
    assert_true(rv[1].is_public);
    tc_repos_free(rv, n);
    assert_int_equal(tc_tcr_list_repos(&rv, &n, c, "tcr-1", "team", &err),
                     TC_OK);
    assert_string_equal(rv[0].namespace_name, "team");
    assert_string_equal(rv[0].name, "item-0000");
    tc_repos_free(rv, n);

    tc_image *im = NULL;
    assert_int_equal(tc_ccr_list_tags(&im, &n, c, "ns/repo", &err), TC_OK);
    assert_string_equal(
        json_string_value(json_object_get(f.last_request, "RepoName")),
        "ns/repo");
    assert_int_equal(im[2].size, 1002);
    assert_string_equal(im[2].push_time, "2024-01-02 03:04:05");
    assert_int_equal(strncmp(im[2].digest, "sha256:", 7), 0);
    tc_images_free(im, n);
    assert_int_equal(tc_ccr_list_tags(&im, &n, c, "norepo", &err), TC_EINVAL);

    tc_instance_token *t = NULL;
    assert_int_equal(tc_tcr_create_instance_token(&t, c, "tcr-1", &err), TC_OK);
    assert_string_equal(t->username, "100036950234");
    assert_string_equal(t->token, "jwt.token.value");
    assert_true(t->exp_time_ms == 1700003600000LL);
    assert_false(t->exp_time_assumed);
    tc_instance_token_free(t);

    tc_client_free(c);
    fake_done(&f);
}

static void test_client_options(void **state)
{
    (void)state;
    tc_client *c = NULL;
    tc_error err = {0};
    tc_client_opts o = {.region = "ap-guangzhou", .secret_id = "id"};
    assert_int_equal(tc_client_new(&c, &o, &err), TC_EINVAL);
    o.secret_key = "k";
    o.endpoint = "ftp://x";
    assert_int_equal(tc_client_new(&c, &o, &err), TC_EINVAL);
    assert_null(c);
    o.endpoint = "http://127.0.0.1:9/";
    assert_int_equal(tc_client_new(&c, &o, &err), TC_OK);
    assert_string_equal(tc_client_secret_id(c), "id");
    tc_client_free(c);
}

static void test_region_hosts(void **state)
{
    (void)state;
    assert_string_equal(tc_ccr_registry_host("ap-guangzhou"),
                        "ccr.ccs.tencentyun.com");
    assert_string_equal(tc_ccr_registry_host("ap-shanghai"),
                        "ccr.ccs.tencentyun.com");
    assert_string_equal(tc_ccr_registry_host("ap-hongkong"),
                        "hkccr.ccs.tencentyun.com");
    assert_string_equal(tc_ccr_registry_host("na-siliconvalley"),
                        "uswccr.ccs.tencentyun.com");
    assert_string_equal(tc_ccr_registry_host("ap-shenzhen-fsi"),
                        "szjrccr.ccs.tencentyun.com");
    assert_null(tc_ccr_registry_host("xx-nowhere"));
    assert_null(tc_ccr_registry_host(NULL));
    char h[128];
    assert_int_equal(tc_tcr_registry_host(h, sizeof(h), "image-transfer"),
                     TC_OK);
    assert_string_equal(h, "image-transfer.tencentcloudcr.com");
    assert_int_equal(tc_tcr_registry_host(h, 8, "image-transfer"), TC_EINVAL);
    assert_int_equal(tc_tcr_registry_host(h, sizeof(h), "a/b"), TC_EINVAL);
}

/* A header value holding a control byte (a region or token from a file,
 * say) is refused where the headers are built: nothing is sent. */
static void test_header_control_bytes_refused(void **state)
{
    (void)state;
    static const char *bad[] = {"ap-guangzhou\r\nX-Evil: 1", "ap-\x1b[2J",
                                "ap-guangzhou\t", "ap-\x7f", "ap\x01"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        /* tc_sign, the one place that builds the header lines */
        tc_sign_input in = {.secret_id = SECRET_ID,
                            .secret_key = SECRET_KEY,
                            .service = "tcr",
                            .host = "tcr.example.test",
                            .action = "DescribeInstances",
                            .version = "2019-09-24",
                            .region = "ap-guangzhou",
                            .token = bad[i],
                            .timestamp = 1700000000};
        tc_signature sig;
        tc_error err = {0};
        assert_int_equal(tc_sign(&sig, &in, &err), TC_EINVAL);
        assert_non_null(strstr(err.message, "control character"));
        assert_non_null(strstr(err.message, "X-TC-Token"));
        assert_null(strstr(err.message, bad[i])); /* the value is secret */
        assert_int_equal(sig.n_headers, 0);
        in.token = NULL;
        in.region = bad[i];
        assert_int_equal(tc_sign(&sig, &in, &err), TC_EINVAL);
        assert_non_null(strstr(err.message, "X-TC-Region"));

        /* through the client: refused before any request is sent */
        fake f = {.n_items = 1};
        tc_client_opts o = {.endpoint = "https://tcr.example.test:8443",
                            .region = "ap-guangzhou",
                            .secret_id = SECRET_ID,
                            .secret_key = SECRET_KEY,
                            .token = bad[i],
                            .max_retries = 2,
                            .clock = fake_clock,
                            .sleep_ms = fake_sleep,
                            .transport = fake_transport,
                            .payload = &f};
        tc_client *c = NULL;
        int rc = tc_client_new(&c, &o, &err);
        if (rc == TC_OK) {
            json_t *resp = NULL;
            rc = tc_call(c, "DescribeInstances", NULL, &resp, &err);
            assert_null(resp);
        }
        assert_int_equal(rc, TC_EINVAL);
        assert_non_null(strstr(err.message, "control character"));
        assert_int_equal(f.n_calls, 0);
        tc_client_free(c);
        fake_done(&f);
    }
}

/* ExpTime must be a plausible millisecond timestamp in the future (an
 * integer-valued number, at most a year ahead); anything else means
 * "valid for 5 minutes", flagged for the caller. */
static void test_instance_token_exp_time(void **state)
{
    (void)state;
    const int64_t now = 1700000000; /* the fake clock's start */
    static const struct {
        const char *json; /* NULL = ExpTime absent */
        bool assumed;
    } cases[] = {
        {"1e300", true},
        {"-1e300", true},
        {"1700003600", true},          /* seconds, not milliseconds */
        {"-1", true},                  /* negative */
        {"0", true},                   /* epoch */
        {"\"1700003600000\"", true},   /* a string, even a numeric one */
        {"\"NaN\"", true},             /* NaN-like */
        {"\"Infinity\"", true},        /* NaN-like */
        {"1700003600000.5", true},     /* not an integer */
        {"1699999990000", true},       /* in the past */
        {"1763072000000", true},       /* two years ahead */
        {"9223372036854775807", true}, /* INT64_MAX */
        {"null", true},
        {"true", true},
        {"[1700003600000]", true},
        {NULL, true},
        {"1700003600000", false}, /* an hour ahead: as sent */
        {"1.7000036e12", false},  /* integer-valued real */
        {"1731536000000", false}, /* 365 days ahead */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fake f = {.n_items = 1};
        if (cases[i].json == NULL) {
            f.omit_exp_time = true;
        } else {
            json_error_t jerr;
            f.exp_time = json_loads(cases[i].json, JSON_DECODE_ANY, &jerr);
            assert_non_null(f.exp_time);
        }
        tc_client *c = new_client(&f, 0);
        tc_error err = {0};
        tc_instance_token *t = NULL;
        int rc = tc_tcr_create_instance_token(&t, c, "tcr-1", &err);
        if (rc != TC_OK)
            fail_msg("ExpTime %s: %s", cases[i].json, err.message);
        if (t->exp_time_assumed != cases[i].assumed)
            fail_msg("ExpTime %s: assumed %d, want %d", cases[i].json,
                     t->exp_time_assumed, cases[i].assumed);
        if (cases[i].assumed) {
            /* now (the client's clock) + 5 minutes */
            assert_true(t->exp_time_ms >= (now + 300) * 1000);
            assert_true(t->exp_time_ms <= (f.now + 300) * 1000);
        } else {
            assert_true(t->exp_time_ms ==
                        (int64_t)json_number_value(f.exp_time));
        }
        assert_string_equal(t->token, "jwt.token.value");
        tc_instance_token_free(t);
        tc_client_free(c);
        json_decref(f.exp_time);
        fake_done(&f);
    }
    /* A token that would break the Basic login header is refused. */
    fake f = {.n_items = 1, .token = "jwt\r\nX-Evil: 1"};
    tc_client *c = new_client(&f, 0);
    tc_error err = {0};
    tc_instance_token *t = NULL;
    assert_int_equal(tc_tcr_create_instance_token(&t, c, "tcr-1", &err),
                     TC_ERR);
    assert_null(t);
    assert_non_null(strstr(err.message, "control character"));
    tc_client_free(c);
    fake_done(&f);
}

/* Numbers a server controls never overflow: a total or size that is not
 * an integer in 0..2^53 counts as absent. */
static void test_hostile_numbers(void **state)
{
    (void)state;
    static const char *totals[] = {"1e300",
                                   "-1e300",
                                   "1.5",
                                   "-7",
                                   "\"99999999999999999999999\"",
                                   "\"NaN\"",
                                   "9007199254740993"};
    for (size_t i = 0; i < sizeof(totals) / sizeof(totals[0]); i++) {
        json_error_t jerr;
        /* 250 items served; the total is garbage: like no total, a short
         * page ends the listing */
        fake f = {.n_items = 250, .page_cap = 30};
        f.total = json_loads(totals[i], JSON_DECODE_ANY, &jerr);
        f.size = json_loads(totals[i], JSON_DECODE_ANY, &jerr);
        assert_non_null(f.total);
        tc_client *c = new_client(&f, 0);
        tc_error err = {0};
        tc_image *v = NULL;
        size_t n = 0;
        int rc = tc_ccr_list_tags(&v, &n, c, "ns/repo", &err);
        if (rc != TC_OK)
            fail_msg("total %s: %s", totals[i], err.message);
        if (n != 30 || f.n_calls != 1)
            fail_msg("total %s: %zu items in %d calls", totals[i], n,
                     f.n_calls);
        assert_int_equal(v[0].size, -1);
        tc_images_free(v, n);
        tc_client_free(c);
        json_decref(f.total);
        json_decref(f.size);
        fake_done(&f);
    }
}

/* ----------------------------------------------------- listing caps */

typedef struct page_log {
    size_t pages, items;
    size_t max_page;
    int stop_after; /* >0: stop after that many pages */
    char last[32];
} page_log;

static int on_tags(void *payload, const tc_image *page, size_t n)
{
    page_log *l = payload;
    l->pages++;
    l->items += n;
    if (n > l->max_page)
        l->max_page = n;
    snprintf(l->last, sizeof(l->last), "%s", page[n - 1].tag);
    return l->stop_after > 0 && (int)l->pages >= l->stop_after;
}

static int on_repos(void *payload, const tc_repo *page, size_t n)
{
    page_log *l = payload;
    (void)page;
    l->pages++;
    l->items += n;
    return 0;
}

/* A cap on items per listing: set in the client options (return-all
 * calls) or per call (streaming calls); a hit is TC_ELIMIT naming the
 * limit, after the pages before it were delivered. */
static void test_pagination_item_cap(void **state)
{
    (void)state;
    fake f = {.n_items = 1000};
    tc_client_opts o = {.endpoint = "https://tcr.example.test:8443",
                        .region = "ap-guangzhou",
                        .secret_id = SECRET_ID,
                        .secret_key = SECRET_KEY,
                        .max_items = 250,
                        .clock = fake_clock,
                        .sleep_ms = fake_sleep,
                        .transport = fake_transport,
                        .payload = &f};
    f.now = 1700000000;
    tc_client *c = NULL;
    tc_error err = {0};
    assert_int_equal(tc_client_new(&c, &o, &err), TC_OK);
    tc_image *v = NULL;
    size_t n = 7;
    assert_int_equal(tc_ccr_list_tags(&v, &n, c, "ns/repo", &err), TC_ELIMIT);
    assert_null(v);
    assert_int_equal(n, 0);
    assert_int_equal(f.n_calls, 3); /* the third page would pass 250 */
    assert_non_null(strstr(err.message, "more than 250 items"));
    assert_non_null(strstr(err.message, "DescribeImagePersonal"));
    assert_string_equal(tc_strerror(TC_ELIMIT), "limit exceeded");

    /* streaming: the pages before the cap arrive, one page at a time */
    page_log l = {0};
    f.n_calls = 0;
    assert_int_equal(tc_ccr_each_tag(c, "ns/repo", NULL, on_tags, &l, &err),
                     TC_ELIMIT);
    assert_int_equal(l.pages, 2);
    assert_int_equal(l.items, 200);
    assert_int_equal(l.max_page, 100);
    /* per call: a higher cap than the client's */
    tc_list_limits lim = {.max_items = 1000};
    memset(&l, 0, sizeof(l));
    assert_int_equal(tc_ccr_each_tag(c, "ns/repo", &lim, on_tags, &l, &err),
                     TC_OK);
    assert_int_equal(l.items, 1000);
    assert_string_equal(l.last, "item-0999");
    /* exactly at the cap is fine */
    lim.max_items = 1000;
    lim.max_pages = 10;
    memset(&l, 0, sizeof(l));
    assert_int_equal(tc_ccr_each_repo(c, &lim, on_repos, &l, &err), TC_OK);
    assert_int_equal(l.items, 1000);
    /* stopping early is no error */
    memset(&l, 0, sizeof(l));
    l.stop_after = 2;
    f.n_calls = 0;
    assert_int_equal(tc_ccr_each_tag(c, "ns/repo", &lim, on_tags, &l, &err),
                     TC_OK);
    assert_int_equal(f.n_calls, 2);
    tc_client_free(c);
    fake_done(&f);
}

/* A cap on pages per listing (a server that sends one item a page and a
 * total that never ends). */
static void test_pagination_page_cap(void **state)
{
    (void)state;
    for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
        fake f = {.n_items = 100000, .page_cap = 1};
        tc_client_opts o = {.endpoint = "https://tcr.example.test:8443",
                            .region = "ap-guangzhou",
                            .secret_id = SECRET_ID,
                            .secret_key = SECRET_KEY,
                            .max_pages = 5,
                            .clock = fake_clock,
                            .sleep_ms = fake_sleep,
                            .transport = fake_transport,
                            .payload = &f};
        f.now = 1700000000;
        tc_client *c = NULL;
        tc_error err = {0};
        assert_int_equal(tc_client_new(&c, &o, &err), TC_OK);
        char **names = NULL;
        size_t n = 0;
        assert_int_equal(run_list(c, shapes[s].action, &names, &n, &err),
                         TC_ELIMIT);
        assert_int_equal(f.n_calls, 5);
        assert_int_equal(n, 0);
        if (strstr(err.message, "more than 5 pages") == NULL)
            fail_msg("%s: %s", shapes[s].action, err.message);
        free_names(names, n);
        tc_client_free(c);
        fake_done(&f);
    }
}

/* The default caps are far above a real account: 50,000 tags in pages
 * of 10,000 (more than asked: a server that ignores Limit) stream through,
 * one page in memory at a time. */
static void test_pagination_default_caps(void **state)
{
    (void)state;
    assert_int_equal(TC_DEFAULT_MAX_ITEMS, 1000000);
    assert_int_equal(TC_DEFAULT_MAX_PAGES, 100000);
    fake f = {.n_items = 50000, .fat = 10000};
    tc_client *c = new_client(&f, 0);
    tc_error err = {0};
    page_log l = {0};
    assert_int_equal(tc_ccr_each_tag(c, "ns/repo", NULL, on_tags, &l, &err),
                     TC_OK);
    assert_int_equal(l.items, 50000);
    assert_int_equal(l.pages, 5);
    assert_int_equal(l.max_page, 10000);
    assert_string_equal(l.last, "item-49999");
    tc_client_free(c);
    fake_done(&f);
}

/* A server that cycles through the same few pages with a total that
 * never ends is caught at the first page it sends again. */
static void test_pagination_cycling_pages(void **state)
{
    (void)state;
    for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
        fake f = {.n_items = 1000, .cycle = 3};
        f.total = json_integer(1000000000000LL);
        tc_client *c = new_client(&f, 0);
        tc_error err = {0};
        char **names = NULL;
        size_t n = 0;
        assert_int_equal(run_list(c, shapes[s].action, &names, &n, &err),
                         TC_ERR);
        assert_int_equal(f.n_calls, 4);
        if (strstr(err.message, "same page") == NULL)
            fail_msg("%s: %s", shapes[s].action, err.message);
        free_names(names, n);
        tc_client_free(c);
        json_decref(f.total);
        fake_done(&f);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pagination_sizes),
        cmocka_unit_test(test_pagination_short_pages),
        cmocka_unit_test(test_pagination_repeated_page),
        cmocka_unit_test(test_pagination_item_cap),
        cmocka_unit_test(test_pagination_page_cap),
        cmocka_unit_test(test_pagination_default_caps),
        cmocka_unit_test(test_pagination_cycling_pages),
        cmocka_unit_test(test_error_code_table),
        cmocka_unit_test(test_auth_failure_not_retried),
        cmocka_unit_test(test_throttle_retried_then_success),
        cmocka_unit_test(test_retries_are_bounded),
        cmocka_unit_test(test_backoff_huge_options),
        cmocka_unit_test(test_not_found_conflict_invalid),
        cmocka_unit_test(test_request_fields),
        cmocka_unit_test(test_client_options),
        cmocka_unit_test(test_region_hosts),
        cmocka_unit_test(test_header_control_bytes_refused),
        cmocka_unit_test(test_instance_token_exp_time),
        cmocka_unit_test(test_hostile_numbers),
    };
    if (getenv("TEST_FILTER") != NULL) /* e.g. TEST_FILTER='*cap*' */
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    /* test_client_options makes a client with the libcurl transport: the
     * process-wide setup the library leaves to its caller */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return 1;
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
