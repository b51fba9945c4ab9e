/*
 * client.c - the signed API call: error mapping, per-action rate buckets,
 * retries with backoff and jitter, and the default libcurl transport
 * behind the tc_transport_fn seam, with its pool of reused handles
 * (docs/tencentcloud-api.md §1.6, §4).
 */
#include "tencentcloud.h"
#include "internal.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#define DEFAULT_ENDPOINT        "https://tcr.tencentcloudapi.com"
#define DEFAULT_VERSION         "2019-09-24"
#define DEFAULT_SERVICE         "tcr"
#define DEFAULT_RETRIES         4
#define DEFAULT_BACKOFF_BASE_MS 200L
#define DEFAULT_BACKOFF_MAX_MS  10000L
#define DEFAULT_TIMEOUT_MS      30000L
#define MAX_RESPONSE_BYTES      (64L * 1024 * 1024)
#define POOL_MAX_IDLE           32 /* idle handles kept (one per caller) */

/*
 * The default transport's pool. Each handle is used by one call at a time
 * and goes back to the pool after it, keeping its keep-alive connection
 * and its cached CA store (libcurl caches the parsed bundle in the
 * handle's own multi, CURLOPT_CA_CACHE_TIMEOUT). TLS sessions and DNS
 * answers are shared between the handles through a CURLSH with one mutex
 * per kind of data. The connection cache itself is not shared: libcurl
 * (7.88) does not support sharing connections between concurrent threads
 * (CURLSHOPT_SHARE), and one connection per handle is what a pool of
 * handles gives anyway.
 */
typedef struct pool {
    pthread_mutex_t lock; /* idle[], n_idle */
    CURL *idle[POOL_MAX_IDLE];
    size_t n_idle;
    CURLSH *share;
    pthread_mutex_t share_lock[CURL_LOCK_DATA_LAST];
    size_t n_share_locks; /* initialised so far */
    bool lock_ok;
} pool;

struct tc_client {
    char *url;  /* endpoint with a path, e.g. "https://host/" */
    char *host; /* authority: "host[:port]", signed as the Host header */
    char *region;
    char *secret_id;
    char *secret_key;
    char *token;
    char *version;
    char *service;
    char *language;
    char *ca_file;
    int max_retries;
    long backoff_base_ms;
    long backoff_max_ms;
    long timeout_ms;
    size_t max_items; /* listing caps, never 0 */
    size_t max_pages;
    int64_t (*clock)(void *payload);
    void (*sleep_ms)(void *payload, long ms);
    void (*before_request)(void *payload, const char *action);
    tc_transport_fn transport;
    void *payload;
    tc_credentials_fn credentials; /* NULL = the fixed keys above */
    void *credentials_payload;
    bool skip_sign;
    int64_t (*monotonic_ms)(void *payload);
    _Atomic uint64_t rng; /* splitmix64 state for jitter */
    tc__limiter *limiter;
    pool *pool;               /* the default transport's, else NULL */
    _Atomic long connections; /* opened by the default transport */
};

/* ------------------------------------------------------------------ errors */

int tc_error_set(tc_error *err, int code, const char *fmt, ...)
{
    if (err == NULL)
        return code;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return code;
}

void tc_error_clear(tc_error *err)
{
    if (err != NULL)
        memset(err, 0, sizeof(*err));
}

static bool has_prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

static bool has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

int tc_error_code_for(const char *c)
{
    if (c == NULL || *c == '\0')
        return TC_ERR;
    /* "Already exists" first: InternalError.ErrorTcrResourceConflict must
     * not be retried, InvalidParameter.ErrNamespaceExist is no bad input. */
    if (strstr(c, "Conflict") != NULL || has_suffix(c, "Exist") ||
        has_suffix(c, "Exists") || has_suffix(c, "ErrNamespaceReserved") ||
        has_prefix(c, "ResourceInUse"))
        return TC_ECONFLICT;
    if (has_prefix(c, "AuthFailure") || has_prefix(c, "UnauthorizedOperation"))
        return TC_EAUTH;
    if (has_prefix(c, "RequestLimitExceeded") ||
        has_prefix(c, "InternalError") || has_prefix(c, "ServiceUnavailable"))
        return TC_ERETRY;
    if (has_prefix(c, "ResourceNotFound"))
        return TC_ENOTFOUND;
    if (has_prefix(c, "InvalidParameter") ||
        has_prefix(c, "MissingParameter") ||
        has_prefix(c, "UnknownParameter") || has_prefix(c, "InvalidAction") ||
        has_prefix(c, "NoSuchVersion") || has_prefix(c, "NoSuchProduct") ||
        has_prefix(c, "UnsupportedRegion"))
        return TC_EINVAL;
    return TC_ERR;
}

const char *tc_strerror(int code)
{
    switch (code) {
    case TC_OK:
        return "success";
    case TC_EAUTH:
        return "authentication or authorisation failed";
    case TC_ERETRY:
        return "temporary failure (throttled, server or network error)";
    case TC_ENOTFOUND:
        return "not found";
    case TC_ECONFLICT:
        return "already exists";
    case TC_EINVAL:
        return "invalid argument";
    case TC_ENOMEM:
        return "out of memory";
    case TC_ELIMIT:
        return "limit exceeded";
    default:
        return "error";
    }
}

/* ------------------------------------------------------------------ client */

static char *dup_or_null(const char *s)
{
    return (s == NULL || *s == '\0') ? NULL : strdup(s);
}

static void free_secret(char *s)
{
    if (s != NULL) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

static void pool_free(pool *p);

void tc_client_free(tc_client *c)
{
    if (c == NULL)
        return;
    pool_free(c->pool);
    tc__limiter_free(c->limiter);
    free(c->url);
    free(c->host);
    free(c->region);
    free(c->secret_id);
    free_secret(c->secret_key);
    free_secret(c->token);
    free(c->version);
    free(c->service);
    free(c->language);
    free(c->ca_file);
    free(c);
}

const char *tc_client_secret_id(const tc_client *c)
{
    return c->secret_id;
}

const char *tc_client_region(const tc_client *c)
{
    return c->region;
}

long tc_client_connections(const tc_client *c)
{
    return atomic_load(&((tc_client *)c)->connections);
}

double tc__client_action_rate(tc_client *c, const char *action)
{
    return tc__limiter_rate(c->limiter, action, c->monotonic_ms(c->payload));
}

int64_t tc__client_now(tc_client *c)
{
    return c->clock(c->payload);
}

void tc__client_limits(const tc_client *c, const tc_list_limits *lim,
                       size_t *max_items, size_t *max_pages)
{
    *max_items = lim && lim->max_items ? lim->max_items : c->max_items;
    *max_pages = lim && lim->max_pages ? lim->max_pages : c->max_pages;
}

static int64_t default_clock(void *payload)
{
    (void)payload;
    return (int64_t)time(NULL);
}

static int64_t default_monotonic_ms(void *payload)
{
    (void)payload;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void default_sleep(void *payload, long ms)
{
    (void)payload;
    struct timespec ts = {.tv_sec = ms / 1000,
                          .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
        /* interrupted: sleep the remainder */
    }
}

static int curl_transport(void *payload, const tc_http_request *req,
                          long *status, char **body, size_t *body_len,
                          tc_error *err);
static int pool_new(pool **out);

/* A seed for the client's jitter generator: from getrandom(), else from
 * the clocks and the client's address (clients made at the same second
 * still differ). */
static uint64_t jitter_seed(const tc_client *c)
{
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) == (ssize_t)sizeof(seed))
        return seed;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)time(NULL) ^ ((uint64_t)ts.tv_nsec << 20) ^
           (uint64_t)(uintptr_t)c;
}

/* Splits "scheme://authority[/path]" into url-with-path and authority. */
static int parse_endpoint(tc_client *c, const char *endpoint, tc_error *err)
{
    const char *rest;
    if (has_prefix(endpoint, "https://"))
        rest = endpoint + 8;
    else if (has_prefix(endpoint, "http://"))
        rest = endpoint + 7;
    else
        return tc_error_set(err, TC_EINVAL,
                            "endpoint must start with https:// or http://");
    size_t n = strcspn(rest, "/?#");
    if (n == 0 || strpbrk(endpoint, "\r\n @") != NULL)
        return tc_error_set(err, TC_EINVAL, "endpoint has no valid host");
    c->host = strndup(rest, n);
    if (rest[n] == '\0') {
        size_t len = strlen(endpoint) + 2;
        c->url = malloc(len);
        if (c->url != NULL)
            snprintf(c->url, len, "%s/", endpoint);
    } else {
        c->url = strdup(endpoint);
    }
    if (c->host == NULL || c->url == NULL)
        return tc_error_set(err, TC_ENOMEM, "out of memory");
    return TC_OK;
}

/* Values that become header values (from a file, the environment, a
 * flag): a control byte is refused up front, with the field's name and
 * never its value (it may be a secret). tc_sign() checks again where the
 * header lines are built. */
static int check_header_fields(const tc_client_opts *o, tc_error *err)
{
    const struct {
        const char *what;
        const char *value;
    } f[] = {{"SecretId", o->secret_id},  {"region", o->region},
             {"session token", o->token}, {"API version", o->version},
             {"service", o->service},     {"language", o->language}};
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        for (const char *p = f[i].value; p != NULL && *p != '\0'; p++)
            if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
                return tc_error_set(err, TC_EINVAL,
                                    "Tencent Cloud %s holds a control "
                                    "character (byte 0x%02x at offset %zu)",
                                    f[i].what, (unsigned)(unsigned char)*p,
                                    (size_t)(p - f[i].value));
    }
    return TC_OK;
}

int tc_client_new(tc_client **out, const tc_client_opts *o, tc_error *err)
{
    int rc = TC_OK;
    tc_client *c = NULL;

    *out = NULL;
    if (o == NULL || (o->credentials == NULL && !o->skip_sign &&
                      (o->secret_id == NULL || o->secret_id[0] == '\0' ||
                       o->secret_key == NULL || o->secret_key[0] == '\0')))
        return tc_error_set(
            err, TC_EINVAL,
            "Tencent Cloud SecretId and SecretKey are required");
    if (o->region == NULL || o->region[0] == '\0')
        return tc_error_set(err, TC_EINVAL, "Tencent Cloud region is required");
    rc = check_header_fields(o, err);
    if (rc != TC_OK)
        return rc;

    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return tc_error_set(err, TC_ENOMEM, "out of memory");
    rc = parse_endpoint(c, o->endpoint ? o->endpoint : DEFAULT_ENDPOINT, err);
    if (rc != TC_OK)
        goto cleanup;
    c->region = strdup(o->region);
    c->secret_id = dup_or_null(o->secret_id);
    c->secret_key = dup_or_null(o->secret_key);
    c->token = dup_or_null(o->token);
    c->version = strdup(o->version ? o->version : DEFAULT_VERSION);
    c->service = strdup(o->service ? o->service : DEFAULT_SERVICE);
    c->language = dup_or_null(o->language);
    c->ca_file = dup_or_null(o->ca_file);
    if (c->region == NULL ||
        (o->secret_id && o->secret_id[0] && c->secret_id == NULL) ||
        (o->secret_key && o->secret_key[0] && c->secret_key == NULL) ||
        c->version == NULL || c->service == NULL ||
        (o->token && o->token[0] && c->token == NULL) ||
        (o->language && o->language[0] && c->language == NULL) ||
        (o->ca_file && o->ca_file[0] && c->ca_file == NULL)) {
        rc = tc_error_set(err, TC_ENOMEM, "out of memory");
        goto cleanup;
    }
    c->max_retries = o->max_retries < 0 ? DEFAULT_RETRIES : o->max_retries;
    c->backoff_base_ms =
        o->backoff_base_ms > 0 ? o->backoff_base_ms : DEFAULT_BACKOFF_BASE_MS;
    c->backoff_max_ms =
        o->backoff_max_ms > 0 ? o->backoff_max_ms : DEFAULT_BACKOFF_MAX_MS;
    c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
    c->max_items = o->max_items > 0 ? o->max_items : TC_DEFAULT_MAX_ITEMS;
    c->max_pages = o->max_pages > 0 ? o->max_pages : TC_DEFAULT_MAX_PAGES;
    c->clock = o->clock ? o->clock : default_clock;
    c->sleep_ms = o->sleep_ms ? o->sleep_ms : default_sleep;
    c->before_request = o->before_request;
    c->transport = o->transport ? o->transport : curl_transport;
    c->payload = o->payload;
    c->credentials = o->credentials;
    c->credentials_payload = o->credentials_payload;
    c->skip_sign = o->skip_sign;
    c->monotonic_ms = o->monotonic_ms ? o->monotonic_ms : default_monotonic_ms;
    atomic_init(&c->rng, jitter_seed(c));
    atomic_init(&c->connections, 0);
    if (tc__limiter_new(&c->limiter) != TC_OK ||
        (c->transport == curl_transport && pool_new(&c->pool) != TC_OK)) {
        rc = tc_error_set(err, TC_ENOMEM,
                          "out of memory (or libcurl could not make its "
                          "shared cache)");
        goto cleanup;
    }
    *out = c;
    c = NULL;

cleanup:
    tc_client_free(c);
    return rc;
}

/* ------------------------------------------------------------------- call */

static uint64_t next_random(tc_client *c)
{
    uint64_t z = atomic_fetch_add(&c->rng, 0x9e3779b97f4a7c15ULL) +
                 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/*
 * The one backoff of tencentcloud/. One retry policy per layer: the program
 * (src/) has its own in src/retry.c and this library may not depend on it,
 * so this is a private copy of the same shape, and there is no other in
 * the library. Delay before retry number `retry` (1-based): equal jitter,
 * a random value between half and all of d = min(max, base * 2^(retry-1)),
 * d computed without overflow. The generator is the client's (thread-safe,
 * seeded at tc_client_new), never rand().
 */
static long backoff_ms(tc_client *c, int retry)
{
    long max = c->backoff_max_ms;
    long d = c->backoff_base_ms < max ? c->backoff_base_ms : max;
    for (int i = 1; i < retry && d < max; i++)
        d = d > max / 2 ? max : d * 2;
    long half = d / 2;
    uint64_t span = (uint64_t)(d - half) + 1;
    uint64_t limit = UINT64_MAX - UINT64_MAX % span; /* no modulo bias */
    uint64_t v;
    do {
        v = next_random(c);
    } while (v >= limit);
    return half + (long)(v % span);
}

/* Replaces every occurrence of `secret` in s (in place) with '*'. */
static void scrub(char *s, const char *secret)
{
    if (secret == NULL || secret[0] == '\0')
        return;
    size_t n = strlen(secret);
    for (char *p = strstr(s, secret); p != NULL; p = strstr(p + n, secret))
        memset(p, '*', n);
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

/* A malloc'd copy of server text with both secrets (of the credentials
 * the request was signed with) scrubbed, or NULL (when s is NULL or out of
 * memory). */
static char *scrubbed_dup(const tc_credentials *k, const char *s)
{
    char *d = s != NULL ? strdup(s) : NULL;
    if (d != NULL) {
        scrub(d, k->secret_key);
        scrub(d, k->token);
    }
    return d;
}

/*
 * Interprets one HTTP response. Returns TC_OK with *response set, or an
 * error with err filled (api_code, request_id, message).
 */
static int handle_response(tc_client *c, const tc_credentials *k,
                           const char *action, long status, const char *body,
                           size_t len, json_t **response, tc_error *err)
{
    int rc;
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr);
    json_t *resp = json_object_get(root, "Response");
    json_t *error = json_object_get(resp, "Error");
    /* Every piece of server text is scrubbed of both secrets, the Code and
     * the RequestId too (tests/fuzz found a Code echoing the token). */
    char *rid =
        scrubbed_dup(k, json_string_value(json_object_get(resp, "RequestId")));
    char *code = NULL;
    char msg[384];

    if (err != NULL) {
        err->http_status = status;
        copy_str(err->request_id, sizeof(err->request_id), rid);
        err->api_code[0] = '\0';
    }
    if (json_is_object(error)) {
        const char *jcode = json_string_value(json_object_get(error, "Code"));
        const char *m = json_string_value(json_object_get(error, "Message"));
        copy_str(msg, sizeof(msg), m);
        scrub(msg, k->secret_key);
        scrub(msg, k->token);
        code = scrubbed_dup(k, jcode);
        rc = tc_error_code_for(jcode);
        if (err != NULL)
            copy_str(err->api_code, sizeof(err->api_code), code);
        if (rc == TC_EAUTH)
            tc_error_set(err, rc,
                         "%s failed: %s: %s (SecretId %s, region %s, "
                         "RequestId %s)",
                         action, code ? code : "?", msg,
                         k->secret_id ? k->secret_id : "-", c->region,
                         rid ? rid : "-");
        else
            tc_error_set(err, rc, "%s failed: %s: %s (RequestId %s)", action,
                         code ? code : "?", msg, rid ? rid : "-");
        goto cleanup;
    }
    if (status != 200) {
        rc = (status == 429 || status >= 500) ? TC_ERETRY : TC_ERR;
        tc_error_set(err, rc, "%s failed: HTTP status %ld from %s", action,
                     status, c->host);
        goto cleanup;
    }
    if (!json_is_object(resp)) {
        rc = tc_error_set(err, TC_ERR,
                          "%s failed: malformed response from %s (no "
                          "Response "
                          "object)",
                          action, c->host);
        goto cleanup;
    }
    *response = json_incref(resp);
    rc = TC_OK;

cleanup:
    free(code);
    free(rid);
    json_decref(root);
    return rc;
}

int tc_call(tc_client *c, const char *action, json_t *request,
            json_t **response, tc_error *err)
{
    int rc = TC_ERR;
    char *body = NULL;
    tc_signature sig;
    tc_credentials cur = {0};
    tc_error local; /* the answer's Code is needed even when err is NULL */

    if (err == NULL)
        err = &local;
    memset(&sig, 0, sizeof(sig));
    *response = NULL;
    tc_error_clear(err);
    if (action == NULL || action[0] == '\0' ||
        (request != NULL && !json_is_object(request)))
        return tc_error_set(err, TC_EINVAL,
                            "tc_call: an action and a JSON object request "
                            "are required");
    if (request != NULL)
        body = json_dumps(request, JSON_COMPACT);
    else
        body = strdup("{}");
    if (body == NULL)
        return tc_error_set(err, TC_ENOMEM, "%s: cannot encode request",
                            action);

    int attempts = 0;
    for (int attempt = 0; attempt <= c->max_retries; attempt++) {
        char *resp_body = NULL;
        size_t resp_len = 0;
        long status = 0;

        if (attempt > 0)
            c->sleep_ms(c->payload, backoff_ms(c, attempt));
        long wait = tc__limiter_reserve(c->limiter, action,
                                        c->monotonic_ms(c->payload));
        if (wait > 0)
            c->sleep_ms(c->payload, wait);
        if (c->before_request != NULL)
            c->before_request(c->payload, action);
        attempts++;

        /* The credentials of this attempt: the provider's current ones
         * (renewed there before they expire), else the fixed keys. */
        tc_credentials_clear(&cur);
        if (c->credentials != NULL) {
            rc = c->credentials(c->credentials_payload, &cur, err);
            if (rc != TC_OK)
                break;
        }
        const tc_credentials k =
            c->credentials != NULL
                ? cur
                : (tc_credentials){c->secret_id, c->secret_key, c->token};
        tc_sign_input in = {
            .secret_id = k.secret_id,
            .secret_key = k.secret_key,
            .service = c->service,
            .host = c->host,
            .action = action,
            .version = c->version,
            .region = c->region,
            .token = k.token,
            .language = c->language,
            .timestamp = c->clock(c->payload),
            .payload = body,
            .payload_len = strlen(body),
            .skip_sign = c->skip_sign,
        };
        rc = tc_sign(&sig, &in, err);
        if (rc != TC_OK)
            break;
        tc_http_request req = {
            .method = "POST",
            .url = c->url,
            .headers = (const char *const *)sig.headers,
            .n_headers = sig.n_headers,
            .body = body,
            .body_len = strlen(body),
            .timeout_ms = c->timeout_ms,
        };
        if (err != NULL) {
            err->api_code[0] = '\0';
            err->request_id[0] = '\0';
            err->http_status = 0;
        }
        void *tp = c->transport == curl_transport ? (void *)c : c->payload;
        rc = c->transport(tp, &req, &status, &resp_body, &resp_len, err);
        tc_signature_clear(&sig);
        if (rc == TC_OK) {
            rc = handle_response(c, &k, action, status,
                                 resp_body ? resp_body : "", resp_len, response,
                                 err);
            if (rc == TC_ERETRY && err != NULL &&
                has_prefix(err->api_code, "RequestLimitExceeded"))
                tc__limiter_throttled(c->limiter, action,
                                      c->monotonic_ms(c->payload));
        } else if (err != NULL && err->message[0] != '\0') {
            char tmp[sizeof(err->message)];
            copy_str(tmp, sizeof(tmp), err->message);
            tc_error_set(err, rc, "%s failed: %s", action, tmp);
        } else {
            tc_error_set(err, rc, "%s failed: transport failed", action);
        }
        free(resp_body);
        if (rc != TC_ERETRY)
            break;
    }
    if (rc == TC_ERETRY && attempts > 1 && err != NULL) {
        char tmp[sizeof(err->message)];
        copy_str(tmp, sizeof(tmp), err->message);
        tc_error_set(err, rc, "%s (gave up after %d attempts)", tmp, attempts);
    }
    tc_credentials_clear(&cur);
    free(body);
    return rc;
}

/* ---------------------------------------------------- libcurl transport */

typedef struct buf {
    char *data;
    size_t len, cap;
    bool too_big;
} buf;

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    buf *b = userdata;
    size_t n = size * nmemb;
    if (b->len + n + 1 > (size_t)MAX_RESPONSE_BYTES) {
        b->too_big = true;
        return 0;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->data, cap);
        if (p == NULL)
            return 0;
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

/* ------------------------------------------------------------ the pool */

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access,
                       void *userptr)
{
    (void)h;
    (void)access;
    pool *p = userptr;
    if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
        pthread_mutex_lock(&p->share_lock[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *userptr)
{
    (void)h;
    pool *p = userptr;
    if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
        pthread_mutex_unlock(&p->share_lock[data]);
}

static void pool_free(pool *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n_idle; i++)
        curl_easy_cleanup(p->idle[i]);
    if (p->share != NULL)
        curl_share_cleanup(p->share);
    for (size_t i = 0; i < p->n_share_locks; i++)
        pthread_mutex_destroy(&p->share_lock[i]);
    if (p->lock_ok)
        pthread_mutex_destroy(&p->lock);
    free(p);
}

static int pool_new(pool **out)
{
    int rc = TC_ENOMEM;
    pool *p = calloc(1, sizeof(*p));

    *out = NULL;
    if (p == NULL)
        return TC_ENOMEM;
    if (pthread_mutex_init(&p->lock, NULL) != 0)
        goto cleanup;
    p->lock_ok = true;
    for (; p->n_share_locks < CURL_LOCK_DATA_LAST; p->n_share_locks++)
        if (pthread_mutex_init(&p->share_lock[p->n_share_locks], NULL) != 0)
            goto cleanup;
    p->share = curl_share_init();
    if (p->share == NULL ||
        curl_share_setopt(p->share, CURLSHOPT_LOCKFUNC, share_lock) !=
            CURLSHE_OK ||
        curl_share_setopt(p->share, CURLSHOPT_UNLOCKFUNC, share_unlock) !=
            CURLSHE_OK ||
        curl_share_setopt(p->share, CURLSHOPT_USERDATA, p) != CURLSHE_OK ||
        curl_share_setopt(p->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) !=
            CURLSHE_OK ||
        curl_share_setopt(p->share, CURLSHOPT_SHARE,
                          CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK)
        goto cleanup;
    *out = p;
    p = NULL;
    rc = TC_OK;

cleanup:
    pool_free(p);
    return rc;
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata);

/* An idle handle of the pool, or a new one with the options every call
 * shares; NULL when out of memory. */
static CURL *pool_get(const tc_client *c)
{
    pool *p = c->pool;
    CURL *h = NULL;

    pthread_mutex_lock(&p->lock);
    if (p->n_idle > 0)
        h = p->idle[--p->n_idle];
    pthread_mutex_unlock(&p->lock);
    if (h != NULL)
        return h;
    h = curl_easy_init();
    if (h == NULL)
        return NULL;
    curl_easy_setopt(h, CURLOPT_SHARE, p->share);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "image-transfer-tencentcloud");
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, 30L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, 15L);
#if LIBCURL_VERSION_NUM >= 0x075700 /* 7.87.0 */
    curl_easy_setopt(h, CURLOPT_CA_CACHE_TIMEOUT, 86400L);
#endif
    if (c->ca_file != NULL)
        curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
    return h;
}

/* Hands h back (keeping its connection), or cleans it up when the pool
 * already keeps POOL_MAX_IDLE. */
static void pool_put(const tc_client *c, CURL *h)
{
    pool *p = c->pool;
    bool kept = false;

    /* nothing of the finished call stays referenced */
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, NULL);
    pthread_mutex_lock(&p->lock);
    if (p->n_idle < POOL_MAX_IDLE) {
        p->idle[p->n_idle++] = h;
        kept = true;
    }
    pthread_mutex_unlock(&p->lock);
    if (!kept)
        curl_easy_cleanup(h);
}

static int curl_transport(void *payload, const tc_http_request *req,
                          long *status, char **body, size_t *body_len,
                          tc_error *err)
{
    int rc = TC_OK;
    tc_client *c = payload; /* the default transport gets the client */
    struct curl_slist *hdrs = NULL;
    buf b = {0};
    CURL *h = pool_get(c);

    *status = 0;
    *body = NULL;
    *body_len = 0;
    if (h == NULL)
        return tc_error_set(err, TC_ENOMEM, "curl_easy_init failed");
    for (size_t i = 0; i < req->n_headers; i++) {
        struct curl_slist *n = curl_slist_append(hdrs, req->headers[i]);
        if (n == NULL) {
            rc = tc_error_set(err, TC_ENOMEM, "out of memory");
            goto cleanup;
        }
        hdrs = n;
    }
    struct curl_slist *n = curl_slist_append(hdrs, "Expect:");
    if (n == NULL) {
        rc = tc_error_set(err, TC_ENOMEM, "out of memory");
        goto cleanup;
    }
    hdrs = n;

    curl_easy_setopt(h, CURLOPT_URL, req->url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, req->timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     req->timeout_ms < 10000 ? req->timeout_ms : 10000L);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);

    CURLcode cc = curl_easy_perform(h);
    long opened = 0;
    if (curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &opened) == CURLE_OK &&
        opened > 0)
        atomic_fetch_add(&c->connections, opened);
    if (cc != CURLE_OK) {
        if (b.too_big) {
            rc = tc_error_set(err, TC_ERR, "response larger than %ld bytes",
                              MAX_RESPONSE_BYTES);
        } else {
            bool tls = cc == CURLE_PEER_FAILED_VERIFICATION ||
                       cc == CURLE_SSL_CACERT_BADFILE ||
                       cc == CURLE_SSL_CERTPROBLEM;
            rc =
                tc_error_set(err, tls ? TC_ERR : TC_ERETRY,
                             "HTTP request failed: %s", curl_easy_strerror(cc));
        }
        goto cleanup;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    if (b.data == NULL) {
        b.data = strdup("");
        if (b.data == NULL) {
            rc = tc_error_set(err, TC_ENOMEM, "out of memory");
            goto cleanup;
        }
    }
    *body = b.data;
    *body_len = b.len;
    b.data = NULL;

cleanup:
    free(b.data);
    pool_put(c, h);
    curl_slist_free_all(hdrs);
    return rc;
}
