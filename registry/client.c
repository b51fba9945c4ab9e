/*
 * client.c - the HTTP transport of the registry library: the process-wide
 * curl share handle, one client per registry host, authentication
 * (anonymous, Basic, Bearer tokens cached per scope), http/https detection
 * for insecure registries, and redirects followed by hand so credentials
 * never reach another host.
 *
 * Locking: c->lock guards c->base_url, the auth state (c->challenge) and the
 * token cache (c->tokens). No network I/O happens under it except the
 * one-time probe of /v2/ (which every other thread has to wait for anyway).
 */
#include "internal.h"

#include <jansson.h>
#include <openssl/evp.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#ifndef IT_VERSION
#define IT_VERSION "0.1.0"
#endif

#define DEFAULT_MAX_RESPONSE ((size_t)16 * 1024 * 1024)
#define MAX_REDIRECTS        5
#define MAX_TOKENS           4096
#define TOKEN_MAX_BODY       ((size_t)1024 * 1024)

/* ------------------------------------------------------------ the global */

/* Idle easy handles kept for reuse. */
#define REG_IDLE_HANDLES 64

struct reg_global {
    CURLSH *share;
    pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
    /* Easy handles of finished requests, reset and used again: a handle
     * keeps the multi handle curl_easy_perform makes for it, so a request
     * costs no socketpair, fcntl and close of its own (about a tenth of
     * the program's CPU on a rerun). Freed before the share. */
    pthread_mutex_t idle_lock;
    CURL *idle[REG_IDLE_HANDLES];
    int n_idle;
};

/* A handle for one request: an idle one reset, or a new one. */
static CURL *handle_take(reg_global *g)
{
    CURL *h = NULL;
    pthread_mutex_lock(&g->idle_lock);
    if (g->n_idle > 0)
        h = g->idle[--g->n_idle];
    pthread_mutex_unlock(&g->idle_lock);
    if (h == NULL)
        return curl_easy_init();
    curl_easy_reset(h);
    return h;
}

/* Gives back a handle whose request is over (kept idle, or freed). */
static void handle_give(reg_global *g, CURL *h)
{
    if (h == NULL)
        return;
    pthread_mutex_lock(&g->idle_lock);
    if (g->n_idle < REG_IDLE_HANDLES) {
        g->idle[g->n_idle++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&g->idle_lock);
    curl_easy_cleanup(h); /* no-op for NULL */
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access,
                       void *userptr)
{
    (void)h;
    (void)access;
    reg_global *g = userptr;
    if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
        pthread_mutex_lock(&g->locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *userptr)
{
    (void)h;
    reg_global *g = userptr;
    if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
        pthread_mutex_unlock(&g->locks[data]);
}

int reg_global_new(reg_global **out, reg_error *err)
{
    *out = NULL;
    reg_global *g = calloc(1, sizeof(*g));
    if (g == NULL)
        return reg_error_set(err, REG_ENOMEM, "out of memory");
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&g->locks[i], NULL);
    pthread_mutex_init(&g->idle_lock, NULL);
    g->share = curl_share_init();
    if (g->share == NULL) {
        reg_global_free(g);
        return reg_error_set(err, REG_ENOMEM, "curl_share_init failed");
    }
    curl_share_setopt(g->share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(g->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(g->share, CURLSHOPT_USERDATA, g);
    curl_share_setopt(g->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(g->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    if (curl_share_setopt(g->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT) !=
        CURLSHE_OK) {
        /* Older libcurl: connections are then reused per handle only. */
    }
    *out = g;
    return REG_OK;
}

void reg_global_free(reg_global *g)
{
    if (g == NULL)
        return;
    for (int i = 0; i < g->n_idle; i++) /* they use the share */
        curl_easy_cleanup(g->idle[i]);
    if (g->share != NULL)
        curl_share_cleanup(g->share);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&g->locks[i]);
    pthread_mutex_destroy(&g->idle_lock);
    free(g);
}

/* ------------------------------------------------------ the auth state */

typedef enum auth_kind {
    AUTH_NONE = 0, /* /v2/ answered without a challenge */
    AUTH_BASIC,
    AUTH_BEARER
} auth_kind;

/* What client.c hangs off c->challenge. */
typedef struct auth_state {
    bool probed; /* base_url decided and the /v2/ challenge recorded */
    auth_kind kind;
    char *realm;
    char *service;
} auth_state;

/* One cached token; a list hangs off c->tokens. */
typedef struct token_entry {
    char *scope;
    char *token;
    time_t refresh_at; /* use until then; fetch anew afterwards */
    struct token_entry *next;
} token_entry;

static char *xstrdup(const char *s)
{
    return s == NULL ? NULL : strdup(s);
}

static void tokens_free(token_entry *t)
{
    while (t != NULL) {
        token_entry *n = t->next;
        free(t->scope);
        if (t->token != NULL) {
            OPENSSL_cleanse(t->token, strlen(t->token));
            free(t->token);
        }
        free(t);
        t = n;
    }
}

/* Returns a malloc'd copy of the cached token for scope, or NULL. Caller
 * holds no lock. */
static char *token_lookup(reg_client *c, const char *scope)
{
    char *tok = NULL;
    time_t now = time(NULL);
    pthread_mutex_lock(&c->lock);
    for (token_entry *t = c->tokens; t != NULL; t = t->next) {
        if (strcmp(t->scope, scope) == 0 && now < t->refresh_at) {
            tok = strdup(t->token);
            break;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return tok;
}

/* Drops the cached token for scope (after the registry refused it). */
static void token_drop(reg_client *c, const char *scope)
{
    pthread_mutex_lock(&c->lock);
    token_entry **pp = (token_entry **)&c->tokens;
    while (*pp != NULL) {
        token_entry *t = *pp;
        if (strcmp(t->scope, scope) == 0) {
            *pp = t->next;
            t->next = NULL;
            tokens_free(t);
        } else {
            pp = &t->next;
        }
    }
    pthread_mutex_unlock(&c->lock);
}

/* Stores a token (copied); drops expired entries and bounds the cache. */
static void token_store(reg_client *c, const char *scope, const char *token,
                        time_t refresh_at)
{
    token_entry *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return;
    e->scope = strdup(scope);
    e->token = strdup(token);
    e->refresh_at = refresh_at;
    if (e->scope == NULL || e->token == NULL) {
        tokens_free(e);
        return;
    }
    time_t now = time(NULL);
    pthread_mutex_lock(&c->lock);
    token_entry **pp = (token_entry **)&c->tokens;
    size_t n = 0;
    while (*pp != NULL) {
        token_entry *t = *pp;
        if (now >= t->refresh_at || strcmp(t->scope, scope) == 0 ||
            n >= MAX_TOKENS - 1) {
            *pp = t->next;
            t->next = NULL;
            tokens_free(t);
        } else {
            pp = &t->next;
            n++;
        }
    }
    e->next = c->tokens;
    c->tokens = e;
    pthread_mutex_unlock(&c->lock);
}

/* ------------------------------------------------------------ helpers */

void reg__before_request(reg_client *c)
{
    if (c != NULL && c->hooks.before_request != NULL)
        c->hooks.before_request(c->hooks.payload, c->host);
}

/* A URL without its query: presigned storage URLs carry signatures
 * there, which must not reach logs or messages. */
static void url_for_humans(char *out, size_t cap, const char *url)
{
    size_t n = strcspn(url, "?");
    snprintf(out, cap, "%.*s", (int)n, url);
}

static void on_http(reg_client *c, const char *method, const char *url,
                    long status)
{
    char shown[1024];
    if (c->hooks.on_http == NULL)
        return;
    url_for_humans(shown, sizeof(shown), url);
    c->hooks.on_http(c->hooks.payload, method, shown, status);
}

int reg__curl_error(reg_error *err, CURLcode rc, const char *what,
                    const char *curl_errbuf)
{
    int code;
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SEND_FAIL_REWIND:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_HTTP3:
    case CURLE_AGAIN:
        code = REG_ERETRY;
        break;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
        code = REG_ETLS;
        break;
    case CURLE_ABORTED_BY_CALLBACK:
        code = REG_ECANCELED;
        break;
    case CURLE_OUT_OF_MEMORY:
        code = REG_ENOMEM;
        break;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        code = REG_EINVAL;
        break;
    default:
        code = REG_ERR;
        break;
    }
    const char *detail = (curl_errbuf != NULL && curl_errbuf[0] != '\0')
                             ? curl_errbuf
                             : curl_easy_strerror(rc);
    if (err != NULL)
        err->http_status = 0;
    return reg_error_set(err, code, "%s: %s (curl error %d)",
                         what != NULL ? what : "request", detail, (int)rc);
}

/* "scheme://host:port" of an absolute URL, lower-cased, default port
 * filled in. malloc'd, or NULL when the URL does not parse. The scheme is
 * part of it so credentials never follow a redirect from https to http. */
static char *url_hostport(const char *url)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *out = NULL;
    if (u == NULL)
        return NULL;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
        goto cleanup;
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK)
        goto cleanup;
    if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
        goto cleanup;
    if (curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
        goto cleanup;
    size_t n = strlen(scheme) + strlen(host) + strlen(port) + 5;
    out = malloc(n);
    if (out == NULL)
        goto cleanup;
    snprintf(out, n, "%s://%s:%s", scheme, host, port);
    for (char *p = out; *p != '\0'; p++)
        *p = (char)tolower((unsigned char)*p);
cleanup:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return out;
}

/* True when url points at the registry itself (same host and port as the
 * client's base URL): only then may credentials be sent. */
static bool same_registry(reg_client *c, const char *base, const char *url)
{
    (void)c;
    char *a = url_hostport(base);
    char *b = url_hostport(url);
    bool same = a != NULL && b != NULL && strcmp(a, b) == 0;
    free(a);
    free(b);
    return same;
}

/* The lower-cased host of an absolute URL, malloc'd, or NULL. */
static char *url_host(const char *url)
{
    CURLU *u = curl_url();
    char *host = NULL, *out = NULL;
    if (u == NULL)
        return NULL;
    if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
        out = strdup(host);
    for (char *p = out; p != NULL && *p != '\0'; p++)
        *p = (char)tolower((unsigned char)*p);
    curl_free(host);
    curl_url_cleanup(u);
    return out;
}

/*
 * True when url's host:port is the registry's own (c->host, whose port,
 * when absent, is the default of url's scheme). Only such URLs get the
 * client's `insecure` treatment: a token realm or a blob redirect to
 * another host (a CDN) is verified normally. Uses only c->host (immutable),
 * so it may run under c->lock.
 */
static bool is_registry_hostport(const reg_client *c, const char *url)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *own = NULL, *a = NULL, *b = NULL;
    bool same = false;
    if (u == NULL)
        return false;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK)
        goto cleanup;
    size_t n = strlen(scheme) + strlen(c->host) + 5;
    own = malloc(n);
    if (own == NULL)
        goto cleanup;
    snprintf(own, n, "%s://%s/", scheme, c->host);
    a = url_hostport(own);
    b = url_hostport(url);
    same = a != NULL && b != NULL && strcmp(a, b) == 0;
cleanup:
    free(a);
    free(b);
    free(own);
    curl_free(scheme);
    curl_url_cleanup(u);
    return same;
}

/* Applies the options every request of this client needs. */
static void setup_handle(reg_client *c, CURL *h, const char *url, char *errbuf)
{
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_SHARE, c->global->share);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    if (errbuf != NULL)
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, c->connect_timeout_s);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, c->low_speed_time_s);
    curl_easy_setopt(h, CURLOPT_USERAGENT, c->user_agent);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    /* The shared pool keeps this many idle connections. libcurl's default
     * (5) is below the number of workers: every request past it closed a
     * connection and the next opened one, which costs the registries CPU
     * (one TCP and HTTP set-up per request instead of per worker). */
    curl_easy_setopt(h, CURLOPT_MAXCONNECTS, (long)REG_POOL_CONNECTIONS);
    /* `insecure` is for the registry's own host:port only (issue 10). */
    if (c->insecure && is_registry_hostport(c, url)) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    } else {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    }
    /* NOTE: CURLOPT_CAINFO replaces the system bundle for this client: a
     * registry with a private CA is then trusted through that file only. */
    if (c->ca_file != NULL)
        curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
}

/* ------------------------------------------------------ one HTTP exchange */

typedef struct exchange {
    reg_resp *resp;
    bool too_large;
} exchange;

static size_t write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
    exchange *x = userp;
    size_t n = size * nmemb;
    int rc = reg_buf_append(&x->resp->body, data, n);
    if (rc == REG_EINVAL) {
        x->too_large = true;
        return 0;
    }
    return rc == REG_OK ? n : 0;
}

static void resp_reset_headers(reg_resp *r)
{
    free(r->content_type);
    free(r->location);
    free(r->docker_digest);
    free(r->link);
    free(r->www_authenticate);
    r->content_type = NULL;
    r->location = NULL;
    r->docker_digest = NULL;
    r->link = NULL;
    r->www_authenticate = NULL;
    r->content_length = -1;
    r->retry_after = -1;
    /* blob resume */
    free(r->range);
    r->range = NULL;
    r->rl_limit = r->rl_remaining = r->rl_reset = -1;
}

void reg_resp_free(reg_resp *r)
{
    if (r == NULL)
        return;
    resp_reset_headers(r);
    reg_buf_free(&r->body);
    r->status = 0;
}

/* Replaces *slot with a copy of v (first WWW-Authenticate wins, others last
 * one wins). */
static void set_header(char **slot, const char *v, size_t n)
{
    char *s = malloc(n + 1);
    if (s == NULL)
        return;
    memcpy(s, v, n);
    s[n] = '\0';
    free(*slot);
    *slot = s;
}

static size_t header_cb(char *data, size_t size, size_t nmemb, void *userp)
{
    exchange *x = userp;
    reg_resp *r = x->resp;
    size_t n = size * nmemb;
    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        /* A new response (after 100 Continue): forget earlier headers. */
        resp_reset_headers(r);
        return n;
    }
    const char *colon = memchr(data, ':', n);
    if (colon == NULL)
        return n;
    size_t nlen = (size_t)(colon - data);
    const char *v = colon + 1;
    const char *end = data + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' ||
                       end[-1] == '\t'))
        end--;
    size_t vlen = (size_t)(end - v);
#define IS(name)                                                               \
    (nlen == sizeof(name) - 1 && strncasecmp(data, name, nlen) == 0)
    if (IS("Content-Type")) {
        set_header(&r->content_type, v, vlen);
    } else if (IS("Location")) {
        set_header(&r->location, v, vlen);
    } else if (IS("Docker-Content-Digest")) {
        set_header(&r->docker_digest, v, vlen);
    } else if (IS("Link")) {
        set_header(&r->link, v, vlen);
    } else if (IS("Range")) { /* blob resume: an upload session's state */
        set_header(&r->range, v, vlen);
    } else if (IS("WWW-Authenticate")) {
        /* Prefer a Bearer challenge when several are offered. */
        if (r->www_authenticate == NULL ||
            (vlen >= 6 && strncasecmp(v, "Bearer", 6) == 0))
            set_header(&r->www_authenticate, v, vlen);
    } else if (IS("RateLimit-Limit") || IS("X-RateLimit-Limit")) {
        r->rl_limit = reg__parse_ratelimit(v, vlen, false, time(NULL));
    } else if (IS("RateLimit-Remaining") || IS("X-RateLimit-Remaining")) {
        r->rl_remaining = reg__parse_ratelimit(v, vlen, false, time(NULL));
    } else if (IS("RateLimit-Reset") || IS("X-RateLimit-Reset")) {
        r->rl_reset = reg__parse_ratelimit(v, vlen, true, time(NULL));
    } else if (IS("Content-Length") || IS("Retry-After")) {
        char tmp[128];
        if (vlen < sizeof(tmp)) {
            memcpy(tmp, v, vlen);
            tmp[vlen] = '\0';
            if (IS("Retry-After")) {
                r->retry_after = reg__parse_retry_after(tmp, time(NULL));
            } else {
                char *e = NULL;
                errno = 0;
                long long cl = strtoll(tmp, &e, 10);
                if (e != tmp && *e == '\0' && errno == 0 && cl >= 0)
                    r->content_length = (int64_t)cl;
            }
        }
    }
#undef IS
    return n;
}

/*
 * Performs exactly one HTTP request to an absolute url (no redirects, no
 * auth logic). auth is the value of the Authorization header ("Bearer x",
 * "Basic x") or NULL. Every header goes through reg__header_add().
 * Returns 0 when a response arrived (resp->status set), else a REG_E* code.
 */
static int perform_once(reg_client *c, const char *method, const char *url,
                        const char *auth, const char *accept,
                        const char *content_type, const char *if_none_match,
                        const void *body, size_t body_len, size_t max_response,
                        reg_resp *resp, reg_error *err)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdrs = NULL;
    int rc = REG_OK;
    exchange x = {.resp = resp, .too_large = false};

    reg_resp_free(resp);
    resp->body.max = max_response > 0 ? max_response : DEFAULT_MAX_RESPONSE;

    CURL *h = handle_take(c->global);
    if (h == NULL)
        return reg_error_set(err, REG_ENOMEM, "curl_easy_init failed");
    setup_handle(c, h, url, errbuf);

    if (accept != NULL)
        rc = reg__header_add(&hdrs, "Accept", accept, err);
    if (rc == REG_OK && content_type != NULL)
        rc = reg__header_add(&hdrs, "Content-Type", content_type, err);
    if (rc == REG_OK && if_none_match != NULL)
        rc = reg__header_add(&hdrs, "If-None-Match", if_none_match, err);
    if (rc == REG_OK) /* no "Expect: 100-continue" round trip */
        rc = reg__header_add(&hdrs, "Expect", "", err);
    if (rc == REG_OK && auth != NULL)
        rc = reg__header_add(&hdrs, "Authorization", auth, err);
    if (rc != REG_OK) {
        char shown[512];
        url_for_humans(shown, sizeof(shown), url);
        reg_error_prefix(err, "%s %s", method, shown);
        goto cleanup;
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);

    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else {
        /* POST/PUT/PATCH/DELETE with an in-memory body (possibly empty). */
        if (body != NULL || strcmp(method, "DELETE") != 0) {
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                             (curl_off_t)body_len);
            curl_easy_setopt(h, CURLOPT_POSTFIELDS,
                             body != NULL ? body : (const void *)"");
        }
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }

    reg__before_request(c);
    CURLcode cc = curl_easy_perform(h);
    if (cc != CURLE_OK) {
        on_http(c, method, url, 0);
        char shown[512];
        url_for_humans(shown, sizeof(shown), url);
        if (x.too_large) {
            rc = reg_error_set(err, REG_EINVAL,
                               "%s %s: response larger than %zu bytes", method,
                               shown, resp->body.max);
        } else {
            char what[600];
            snprintf(what, sizeof(what), "%s %s", method, shown);
            rc = reg__curl_error(err, cc, what, errbuf);
        }
        goto cleanup;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    on_http(c, method, url, resp->status);
    if (c->hooks.on_ratelimit != NULL &&
        (resp->rl_limit >= 0 || resp->rl_remaining >= 0 || resp->rl_reset >= 0))
        c->hooks.on_ratelimit(c->hooks.payload, resp->rl_limit,
                              resp->rl_remaining, resp->rl_reset);
    if (resp->body.data == NULL)
        reg_buf_append(&resp->body, "", 0);
    if (resp->location != NULL) {
        char *abs = reg_url_resolve(url, resp->location);
        if (abs != NULL) {
            free(resp->location);
            resp->location = abs;
        }
    }
cleanup:
    curl_slist_free_all(hdrs);
    handle_give(c->global, h);
    return rc;
}

/* ------------------------------------------ base URL and auth discovery */

/* Records a challenge header in the auth state; caller holds the lock. */
static void learn_challenge(auth_state *st, const char *header)
{
    if (header == NULL) {
        return;
    }
    reg_challenge *ch = NULL;
    if (reg_challenge_parse(&ch, header, NULL) != REG_OK || ch == NULL)
        return;
    if (ch->scheme != NULL && strcasecmp(ch->scheme, "Bearer") == 0 &&
        ch->realm != NULL) {
        char *realm = strdup(ch->realm);
        char *service = xstrdup(ch->service);
        if (realm != NULL) {
            free(st->realm);
            free(st->service);
            st->realm = realm;
            st->service = service;
            st->kind = AUTH_BEARER;
        } else {
            free(service);
        }
    } else if (ch->scheme != NULL && strcasecmp(ch->scheme, "Basic") == 0) {
        st->kind = AUTH_BASIC;
    }
    reg_challenge_free(ch);
}

/* Failures that mean "this port may not speak TLS": a handshake error
 * ("wrong version number") or garbage instead of a TLS record. */
static bool is_tls_mismatch(int rc)
{
    return rc == REG_ETLS || rc == REG_ERR;
}

/*
 * Makes sure the base URL and the registry's auth scheme are known: a GET of
 * /v2/ (once per client). For insecure clients a failed TLS handshake
 * switches to plain http:// when the registry answers there.
 */
static int ensure_probed(reg_client *c, reg_error *err)
{
    auth_state *st = c->challenge;
    int rc = REG_OK;
    char *url = NULL;
    reg_resp resp = {0};

    pthread_mutex_lock(&c->lock);
    if (st->probed)
        goto cleanup;
    size_t n = strlen(c->base_url) + 8;
    url = malloc(n);
    if (url == NULL) {
        rc = reg_error_set(err, REG_ENOMEM, "out of memory");
        goto cleanup;
    }
    snprintf(url, n, "%s/v2/", c->base_url);
    reg_error e1 = {0};
    rc = perform_once(c, "GET", url, NULL, NULL, NULL, NULL, NULL, 0, 64 * 1024,
                      &resp, &e1);
    if (rc != REG_OK && c->insecure && strncmp(url, "https://", 8) == 0 &&
        is_tls_mismatch(rc)) {
        /* Not TLS on that port? Try plain HTTP. */
        char *http_base = NULL, *http_url = NULL;
        size_t hn = strlen(c->host) + 8;
        http_base = malloc(hn);
        http_url = malloc(hn + 4);
        if (http_base == NULL || http_url == NULL) {
            free(http_base);
            free(http_url);
            rc = reg_error_set(err, REG_ENOMEM, "out of memory");
            goto cleanup;
        }
        snprintf(http_base, hn, "http://%s", c->host);
        snprintf(http_url, hn + 4, "%s/v2/", http_base);
        reg_error e2 = {0};
        int rc2 = perform_once(c, "GET", http_url, NULL, NULL, NULL, NULL, NULL,
                               0, 64 * 1024, &resp, &e2);
        free(http_url);
        if (rc2 == REG_OK) {
            free(c->base_url);
            c->base_url = http_base;
            rc = REG_OK;
        } else {
            free(http_base);
        }
    }
    if (rc != REG_OK) {
        if (err != NULL)
            *err = e1;
        goto cleanup;
    }
    if (resp.status == 401)
        learn_challenge(st, resp.www_authenticate);
    else
        st->kind = AUTH_NONE;
    st->probed = true;
cleanup:
    pthread_mutex_unlock(&c->lock);
    reg_resp_free(&resp);
    free(url);
    return rc;
}

char *reg__url(reg_client *c, const char *path, reg_error *err)
{
    if (path == NULL) {
        reg_error_set(err, REG_EINVAL, "no URL");
        return NULL;
    }
    /* Absolute URLs come from Location headers (redirects, upload
     * sessions): checked, any-case scheme, http(s) only. */
    if (reg__scheme_len(path) > 0) {
        char *out = NULL;
        reg__url_check(&out, path, "redirect", err);
        return out;
    }
    for (const unsigned char *p = (const unsigned char *)path; *p != '\0';
         p++) {
        if (*p <= 0x20 || *p == 0x7f) {
            reg_error_set(err, REG_EINVAL,
                          "URL path holds a control character or space");
            return NULL;
        }
    }
    if (ensure_probed(c, err) != REG_OK)
        return NULL;
    pthread_mutex_lock(&c->lock);
    size_t n = strlen(c->base_url) + strlen(path) + 2;
    char *out = malloc(n);
    if (out != NULL)
        snprintf(out, n, "%s%s%s", c->base_url, path[0] == '/' ? "" : "/",
                 path);
    pthread_mutex_unlock(&c->lock);
    if (out == NULL)
        reg_error_set(err, REG_ENOMEM, "out of memory");
    return out;
}

/* ----------------------------------------------------------- credentials */

static bool has_user(const reg_client *c)
{
    return c->username != NULL && c->username[0] != '\0';
}

/* An identity token (set only when there is no username). */
static bool has_idtok(const reg_client *c)
{
    return c->identity_token != NULL;
}

/* "Basic <b64(user:pass)>" (an Authorization value), malloc'd. */
static char *basic_header(const reg_client *c)
{
    size_t ul = strlen(c->username);
    size_t pl = c->password != NULL ? strlen(c->password) : 0;
    size_t rawlen = ul + 1 + pl;
    unsigned char *raw = malloc(rawlen + 1);
    size_t b64cap = 4 * ((rawlen + 2) / 3) + 1;
    size_t cap = b64cap + 8;
    char *out = malloc(cap);
    if (raw == NULL || out == NULL) {
        free(raw);
        free(out);
        return NULL;
    }
    memcpy(raw, c->username, ul);
    raw[ul] = ':';
    if (pl > 0)
        memcpy(raw + ul + 1, c->password, pl);
    int off = snprintf(out, cap, "Basic ");
    EVP_EncodeBlock((unsigned char *)out + off, raw, (int)rawlen);
    OPENSSL_cleanse(raw, rawlen);
    free(raw);
    return out;
}

static void free_secret(char *s)
{
    if (s != NULL) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

/* Parses an RFC 3339 time ("2024-05-01T10:00:00Z", fractions and offsets
 * allowed). Returns (time_t)-1 when it does not parse. */
static time_t parse_rfc3339(const char *s)
{
    int y, mo, d, h, mi, sec;
    int used = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec,
               &used) != 6)
        return (time_t)-1;
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    const char *p = s + used;
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if ((*p == '+' || *p == '-') && strlen(p) >= 6) {
        int oh = (p[1] - '0') * 10 + (p[2] - '0');
        int om = (p[4] - '0') * 10 + (p[5] - '0');
        long off = (long)oh * 3600 + (long)om * 60;
        t = *p == '+' ? t - off : t + off;
    }
    return t;
}

int reg__token_parse(char **token_out, time_t *refresh_at_out, const char *body,
                     size_t len, time_t now, reg_error *err)
{
    json_t *root = NULL;
    int rc = REG_OK;

    *token_out = NULL;
    *refresh_at_out = now;
    if (body == NULL)
        len = 0;
    json_error_t jerr;
    root = len > 0 ? json_loadb(body, len, 0, &jerr) : NULL;
    const char *tok = NULL;
    if (json_is_object(root)) {
        tok = json_string_value(json_object_get(root, "token"));
        if (tok == NULL || tok[0] == '\0')
            tok = json_string_value(json_object_get(root, "access_token"));
    }
    if (tok == NULL || tok[0] == '\0') {
        rc = reg_error_set(err, REG_EAUTH,
                           "the token server answered without a token");
        goto cleanup;
    }
    /* It becomes an Authorization header: printable ASCII only. */
    for (const unsigned char *p = (const unsigned char *)tok; *p != '\0'; p++) {
        if (*p <= 0x20 || *p >= 0x7f) {
            rc = reg_error_set(err, REG_EINVAL,
                               "the token server sent a token holding a "
                               "control character, space or non-ASCII byte");
            goto cleanup;
        }
    }
    /* expires_in: absent or not a number = 60 s (the spec's default);
     * anything else clamped to 10 s .. 24 h before any arithmetic, so
     * neither a huge nor a negative value can overflow or be trusted. */
    json_int_t expires_in = 60;
    json_t *ei = json_object_get(root, "expires_in");
    if (json_is_integer(ei)) {
        json_int_t v = json_integer_value(ei);
        expires_in = v < REG_TOKEN_MIN_LIFETIME   ? REG_TOKEN_MIN_LIFETIME
                     : v > REG_TOKEN_MAX_LIFETIME ? REG_TOKEN_MAX_LIFETIME
                                                  : v;
    } else if (json_is_real(ei)) {
        double v = json_real_value(ei);
        expires_in = !(v >= REG_TOKEN_MIN_LIFETIME) ? REG_TOKEN_MIN_LIFETIME
                     : v > REG_TOKEN_MAX_LIFETIME   ? REG_TOKEN_MAX_LIFETIME
                                                    : (json_int_t)v;
    }
    time_t issued = now;
    const char *ia = json_string_value(json_object_get(root, "issued_at"));
    if (ia != NULL) {
        time_t t = parse_rfc3339(ia);
        /* A server clock ahead of ours must not extend the lifetime; one
         * far behind is believed (the token is then fetched anew). */
        if (t != (time_t)-1 && t < now && t > now - REG_TOKEN_MAX_LIFETIME)
            issued = t;
        else if (t != (time_t)-1 && t <= now - REG_TOKEN_MAX_LIFETIME)
            issued = now - REG_TOKEN_MAX_LIFETIME;
    }
    json_int_t margin = expires_in >= 120 ? 30 : expires_in / 4;
    *refresh_at_out = issued + (time_t)(expires_in - margin);
    *token_out = strdup(tok);
    if (*token_out == NULL)
        rc = reg_error_set(err, REG_ENOMEM, "out of memory");
cleanup:
    json_decref(root);
    return rc;
}

/*
 * Checks the token realm the registry named before anything is sent to it
 * (issue 10): a valid http(s) URL without control bytes (*realm is replaced
 * by its normalised form), no downgrade from an https registry to an http
 * realm, and basic credentials to a realm on another host only over https.
 */
static int check_realm(reg_client *c, char **realm, reg_error *err)
{
    char *norm = NULL, *base = NULL, *rhost = NULL, *ohost = NULL;
    char shown[512];
    int rc = reg__url_check(&norm, *realm, "token realm", err);
    if (rc != REG_OK) {
        reg_error_prefix(err, "%s", c->host);
        if (err != NULL && rc == REG_EINVAL)
            err->code = rc = REG_EAUTH;
        return rc;
    }
    free(*realm);
    *realm = norm;
    url_for_humans(shown, sizeof(shown), norm);
    bool realm_https = strncmp(norm, "https://", 8) == 0;
    pthread_mutex_lock(&c->lock);
    base = strdup(c->base_url);
    pthread_mutex_unlock(&c->lock);
    if (base == NULL)
        return reg_error_set(err, REG_ENOMEM, "out of memory");
    if (strncasecmp(base, "https://", 8) == 0 && !realm_https) {
        rc = reg_error_set(err, REG_EAUTH,
                           "%s: the token realm %s would downgrade https to "
                           "http; refused",
                           c->host, shown);
        goto cleanup;
    }
    if ((has_user(c) || has_idtok(c)) && !realm_https) {
        rhost = url_host(norm);
        ohost = url_host(base);
        if (rhost == NULL || ohost == NULL || strcmp(rhost, ohost) != 0) {
            if (has_user(c))
                rc = reg_error_set(err, REG_EAUTH,
                                   "%s: not sending the credentials of user "
                                   "\"%s\" to the token realm %s: another "
                                   "host over plain http (https required)",
                                   c->host, c->username, shown);
            else
                rc = reg_error_set(err, REG_EAUTH,
                                   "%s: not sending the identity token to the "
                                   "token realm %s: another host over plain "
                                   "http (https required)",
                                   c->host, shown);
            goto cleanup;
        }
    }
cleanup:
    free(rhost);
    free(ohost);
    free(base);
    return rc;
}

/*
 * The body of the OAuth2 refresh-token grant (what docker's registry client
 * posts for an identity token):
 * grant_type=refresh_token&refresh_token=T&service=S&scope=A B&client_id=C,
 * each value URL-encoded by libcurl. service is left out when the challenge
 * named none. Sized once and never reallocated, so no copy of the token is
 * left behind in freed memory; the caller wipes it (free_secret). NULL when
 * out of memory.
 */
static char *oauth_form(const reg_client *c, const char *service,
                        const char *scope)
{
    char *tok = curl_easy_escape(NULL, c->identity_token, 0);
    char *svc = service != NULL ? curl_easy_escape(NULL, service, 0) : NULL;
    char *scp = curl_easy_escape(NULL, scope, 0);
    char *cid = curl_easy_escape(NULL, REG_OAUTH_CLIENT_ID, 0);
    char *out = NULL;
    if (tok == NULL || (service != NULL && svc == NULL) || scp == NULL ||
        cid == NULL)
        goto cleanup;
    size_t n = strlen(tok) + (svc != NULL ? strlen(svc) : 0) + strlen(scp) +
               strlen(cid) + 96;
    out = malloc(n);
    if (out == NULL)
        goto cleanup;
    snprintf(out, n,
             "grant_type=refresh_token&refresh_token=%s%s%s&scope=%s"
             "&client_id=%s",
             tok, svc != NULL ? "&service=" : "", svc != NULL ? svc : "", scp,
             cid);
cleanup:
    if (tok != NULL)
        OPENSSL_cleanse(tok, strlen(tok));
    curl_free(tok);
    curl_free(svc);
    curl_free(scp);
    curl_free(cid);
    return out;
}

/*
 * Fetches a Bearer token for scope from the realm the registry named.
 * With an identity token: an OAuth2 POST (oauth_form), and only when the
 * realm answers 404 the GET below, anonymously. Otherwise a GET, with
 * basic credentials when the client has them. Returns the token (malloc'd)
 * in *out and caches it.
 */
static int fetch_token(char **out, reg_client *c, const char *scope,
                       reg_error *err)
{
    auth_state *st = c->challenge;
    char *realm = NULL, *service = NULL, *url = NULL, *auth = NULL;
    char *scopes_q = NULL, *form = NULL;
    reg_resp resp = {0};
    int rc = REG_OK;
    bool oauth = has_idtok(c);

    *out = NULL;
    pthread_mutex_lock(&c->lock);
    realm = xstrdup(st->realm);
    service = xstrdup(st->service);
    pthread_mutex_unlock(&c->lock);
    if (realm == NULL) {
        rc = reg_error_set(err, REG_EAUTH,
                           "%s: bearer challenge without a realm", c->host);
        goto cleanup;
    }
    rc = check_realm(c, &realm, err);
    if (rc != REG_OK)
        goto cleanup;
    /* scope may hold several space-separated scopes: one &scope= each. */
    size_t qcap = 16 + strlen(scope) * 3 + 16 * 8;
    scopes_q = calloc(1, qcap);
    if (scopes_q == NULL)
        goto oom;
    size_t qlen = 0;
    const char *p = scope;
    while (*p != '\0') {
        const char *sp = strchr(p, ' ');
        size_t len = sp != NULL ? (size_t)(sp - p) : strlen(p);
        char piece[1024];
        if (len > 0 && len < sizeof(piece)) {
            memcpy(piece, p, len);
            piece[len] = '\0';
            char *esc = reg__escape(piece);
            if (esc == NULL)
                goto oom;
            int w = snprintf(scopes_q + qlen, qcap - qlen, "&scope=%s", esc);
            free(esc);
            if (w < 0 || (size_t)w >= qcap - qlen)
                break;
            qlen += (size_t)w;
        }
        p += len;
        while (*p == ' ')
            p++;
    }
    char *esc_service = service != NULL ? reg__escape(service) : NULL;
    if (service != NULL && esc_service == NULL)
        goto oom;
    size_t ulen = strlen(realm) + qlen + 32 +
                  (esc_service != NULL ? strlen(esc_service) : 0);
    url = malloc(ulen);
    if (url == NULL) {
        free(esc_service);
        goto oom;
    }
    const char *sep = strchr(realm, '?') != NULL ? "&" : "?";
    if (esc_service != NULL)
        snprintf(url, ulen, "%s%sservice=%s%s", realm, sep, esc_service,
                 scopes_q);
    else
        snprintf(url, ulen, "%s%s%s", realm, sep, qlen > 0 ? scopes_q + 1 : "");
    free(esc_service);

    reg_error e = {0};
    if (oauth) {
        form = oauth_form(c, service, scope);
        if (form == NULL)
            goto oom;
        rc = perform_once(c, "POST", realm, NULL, "application/json",
                          "application/x-www-form-urlencoded", NULL, form,
                          strlen(form), TOKEN_MAX_BODY, &resp, &e);
        /* 404: a token server without the OAuth2 endpoint. Ask with the
         * GET, which never carries the identity token. */
        if (rc == REG_OK && resp.status == 404) {
            oauth = false;
            reg_resp_free(&resp);
            rc = perform_once(c, "GET", url, NULL, "application/json", NULL,
                              NULL, NULL, 0, TOKEN_MAX_BODY, &resp, &e);
        }
    } else {
        if (has_user(c)) {
            auth = basic_header(c);
            if (auth == NULL)
                goto oom;
        }
        rc = perform_once(c, "GET", url, auth, "application/json", NULL, NULL,
                          NULL, 0, TOKEN_MAX_BODY, &resp, &e);
    }
    if (rc != REG_OK) {
        if (err != NULL)
            *err = e;
        reg_error_prefix(err, "%s: token request", c->host);
        goto cleanup;
    }
    if (oauth &&
        (resp.status == 400 || resp.status == 401 || resp.status == 403)) {
        /* OAuth2 answers a bad refresh token with 400 invalid_grant. */
        rc = reg_error_set(err, REG_EAUTH,
                           "%s: authentication failed: the token server "
                           "refused the identity token (HTTP %ld)",
                           c->host, resp.status);
        if (err != NULL)
            err->http_status = resp.status;
        goto cleanup;
    }
    if (resp.status == 401 || resp.status == 403) {
        if (has_user(c))
            rc = reg_error_set(err, REG_EAUTH,
                               "%s: authentication failed for user \"%s\": "
                               "the token server refused the credentials "
                               "(HTTP %ld)",
                               c->host, c->username, resp.status);
        else
            rc = reg_error_set(err, REG_EAUTH,
                               "%s: the token server refused anonymous "
                               "access (HTTP %ld); configure credentials",
                               c->host, resp.status);
        if (err != NULL)
            err->http_status = resp.status;
        goto cleanup;
    }
    if (resp.status != 200) {
        rc = reg_error_from_http(err, resp.status, resp.body.data,
                                 resp.body.len, "token request");
        reg_error_prefix(err, "%s", c->host);
        goto cleanup;
    }
    time_t refresh_at = 0;
    rc = reg__token_parse(out, &refresh_at, resp.body.data, resp.body.len,
                          time(NULL), err);
    if (rc != REG_OK) {
        reg_error_prefix(err, "%s", c->host);
        goto cleanup;
    }
    token_store(c, scope, *out, refresh_at);
    goto cleanup;
oom:
    rc = reg_error_set(err, REG_ENOMEM, "out of memory");
cleanup:
    /* The body held the token: wipe it. */
    if (resp.body.data != NULL)
        OPENSSL_cleanse(resp.body.data, resp.body.len);
    reg_resp_free(&resp);
    free_secret(auth);
    free_secret(form);
    free(realm);
    free(service);
    free(url);
    free(scopes_q);
    return rc;
}

/*
 * Builds the Authorization header value for scope according to what the
 * registry asked for. *fresh tells whether it was just obtained (so a 401
 * with it is final). *out is NULL for anonymous access.
 */
static int auth_header(char **out, bool *fresh, reg_client *c,
                       const char *scope, bool force_fresh, reg_error *err)
{
    auth_state *st = c->challenge;
    *out = NULL;
    *fresh = false;
    pthread_mutex_lock(&c->lock);
    auth_kind kind = st->kind;
    pthread_mutex_unlock(&c->lock);

    if (kind == AUTH_BASIC) {
        if (!has_user(c))
            return REG_OK;
        *out = basic_header(c);
        *fresh = true;
        return *out != NULL ? REG_OK
                            : reg_error_set(err, REG_ENOMEM, "out of memory");
    }
    if (kind != AUTH_BEARER)
        return REG_OK;
    char *tok = force_fresh ? NULL : token_lookup(c, scope);
    if (tok == NULL) {
        int rc = fetch_token(&tok, c, scope, err);
        if (rc != REG_OK)
            return rc;
        *fresh = true;
    }
    size_t n = strlen(tok) + 8;
    *out = malloc(n);
    if (*out != NULL)
        snprintf(*out, n, "Bearer %s", tok);
    free_secret(tok);
    return *out != NULL ? REG_OK
                        : reg_error_set(err, REG_ENOMEM, "out of memory");
}

/* "repository:<repo>:<actions>[ repository:<from>:pull]" or the catalog
 * scope. malloc'd. */
static char *make_scope(const char *repo, const char *actions,
                        const char *from_repo)
{
    char buf[2048];
    if (repo == NULL)
        snprintf(buf, sizeof(buf), "registry:catalog:*");
    else if (from_repo != NULL && strcmp(from_repo, repo) != 0)
        snprintf(buf, sizeof(buf), "repository:%s:%s repository:%s:pull", repo,
                 actions != NULL ? actions : "pull", from_repo);
    else
        snprintf(buf, sizeof(buf), "repository:%s:%s", repo,
                 actions != NULL ? actions : "pull");
    return strdup(buf);
}

static int auth_failed(reg_client *c, reg_error *err)
{
    int rc;
    if (has_user(c))
        rc = reg_error_set(err, REG_EAUTH,
                           "%s: authentication failed for user \"%s\" "
                           "(HTTP 401)",
                           c->host, c->username);
    else if (has_idtok(c))
        rc = reg_error_set(err, REG_EAUTH,
                           "%s: authentication failed with the identity "
                           "token (HTTP 401)",
                           c->host);
    else
        rc = reg_error_set(err, REG_EAUTH,
                           "%s: authentication required (HTTP 401) and no "
                           "credentials are configured",
                           c->host);
    if (err != NULL)
        err->http_status = 401;
    return rc;
}

/* ------------------------------------------------------------ requests */

/* One request with manual redirects (GET/HEAD only); auth is sent only to
 * the registry's own host:port. */
static int perform_redirects(reg_client *c, const reg_req *req, const char *url,
                             const char *auth, reg_resp *resp,
                             bool *from_registry, reg_error *err)
{
    char *base = NULL, *cur = strdup(url);
    int rc = REG_OK;
    bool follow =
        strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    if (cur == NULL)
        return reg_error_set(err, REG_ENOMEM, "out of memory");
    pthread_mutex_lock(&c->lock);
    base = strdup(c->base_url);
    pthread_mutex_unlock(&c->lock);
    if (base == NULL) {
        free(cur);
        return reg_error_set(err, REG_ENOMEM, "out of memory");
    }
    for (int hop = 0;; hop++) {
        bool mine = same_registry(c, base, cur);
        *from_registry = mine;
        rc = perform_once(c, req->method, cur, mine ? auth : NULL, req->accept,
                          req->content_type, mine ? req->if_none_match : NULL,
                          req->body, req->body_len, req->max_response, resp,
                          err);
        if (rc != REG_OK || !follow)
            break;
        long s = resp->status;
        if (!(s == 301 || s == 302 || s == 303 || s == 307 || s == 308) ||
            resp->location == NULL)
            break;
        if (hop >= MAX_REDIRECTS) {
            rc = reg_error_set(err, REG_ERR, "%s %s: more than %d redirects",
                               req->method, url, MAX_REDIRECTS);
            break;
        }
        /* Any-case scheme, http(s) only, no control bytes (issue 10). */
        char *next = NULL;
        rc = reg__url_check(&next, resp->location, "redirect", err);
        if (rc != REG_OK) {
            char shown[512];
            url_for_humans(shown, sizeof(shown), cur);
            reg_error_prefix(err, "%s %s", req->method, shown);
            break;
        }
        free(cur);
        cur = next;
    }
    free(cur);
    free(base);
    return rc;
}

int reg__request(reg_client *c, const reg_req *req, reg_resp *resp,
                 reg_error *err)
{
    char *url = NULL, *scope = NULL, *auth = NULL;
    int rc;

    if (c == NULL || req == NULL || req->method == NULL || req->url == NULL)
        return reg_error_set(err, REG_EINVAL, "bad request arguments");
    rc = ensure_probed(c, err);
    if (rc != REG_OK)
        return rc;
    url = reg__url(c, req->url, err);
    if (url == NULL)
        return err != NULL && err->code != 0 ? err->code : REG_ENOMEM;
    scope = make_scope(req->repo, req->actions, req->from_repo);
    if (scope == NULL) {
        rc = reg_error_set(err, REG_ENOMEM, "out of memory");
        goto cleanup;
    }

    if (req->basic_auth) { /* whole namespaces (14C): the Harbor API */
        bool from_registry = false;
        if (has_user(c) && (auth = basic_header(c)) == NULL) {
            rc = reg_error_set(err, REG_ENOMEM, "out of memory");
            goto cleanup;
        }
        rc = perform_redirects(c, req, url, auth, resp, &from_registry, err);
        goto cleanup;
    }
    bool force_fresh = false;
    for (int attempt = 0; attempt < 3; attempt++) {
        bool fresh = false, from_registry = false;
        free_secret(auth);
        auth = NULL;
        rc = auth_header(&auth, &fresh, c, scope, force_fresh, err);
        if (rc != REG_OK)
            goto cleanup;
        rc = perform_redirects(c, req, url, auth, resp, &from_registry, err);
        if (rc != REG_OK || resp->status != 401 || !from_registry)
            goto cleanup;
        /* 401 from the registry: learn its challenge and retry once. */
        if (fresh) {
            rc = auth_failed(c, err);
            goto cleanup;
        }
        auth_state *st = c->challenge;
        pthread_mutex_lock(&c->lock);
        learn_challenge(st, resp->www_authenticate);
        auth_kind now = st->kind;
        pthread_mutex_unlock(&c->lock);
        if (now == AUTH_BEARER) {
            token_drop(c, scope);
            force_fresh = true;
        } else if (now == AUTH_BASIC && has_user(c)) {
            /* retry with basic credentials */
        } else if (now == AUTH_BASIC && has_idtok(c)) {
            rc = reg_error_set(err, REG_EAUTH,
                               "%s: the registry asks for Basic "
                               "authentication, which an identity token "
                               "cannot answer; give a username and password",
                               c->host);
            if (err != NULL)
                err->http_status = 401;
            goto cleanup;
        } else {
            rc = auth_failed(c, err);
            goto cleanup;
        }
    }
    rc = auth_failed(c, err);
cleanup:
    free_secret(auth);
    free(scope);
    free(url);
    return rc;
}

int reg__prepare_stream(CURL **out, struct curl_slist **headers, reg_client *c,
                        const char *method, const char *url, const char *repo,
                        const char *actions, reg_error *err)
{
    char *abs = NULL, *scope = NULL, *auth = NULL, *base = NULL;
    int rc = REG_OK;
    bool fresh = false;
    CURL *h = NULL;

    *out = NULL;
    (void)method;
    rc = ensure_probed(c, err);
    if (rc != REG_OK)
        return rc;
    abs = reg__url(c, url, err);
    if (abs == NULL)
        return err != NULL && err->code != 0 ? err->code : REG_ENOMEM;
    scope = make_scope(repo, actions, NULL);
    if (scope == NULL)
        goto oom;
    pthread_mutex_lock(&c->lock);
    base = strdup(c->base_url);
    pthread_mutex_unlock(&c->lock);
    if (base == NULL)
        goto oom;
    if (same_registry(c, base, abs)) {
        rc = auth_header(&auth, &fresh, c, scope, false, err);
        if (rc != REG_OK)
            goto cleanup;
    }
    h = curl_easy_init();
    if (h == NULL)
        goto oom;
    /* No error buffer: the caller owns the handle and may set its own. */
    setup_handle(c, h, abs, NULL);
    if (auth != NULL) {
        rc = reg__header_add(headers, "Authorization", auth, err);
        if (rc != REG_OK)
            goto cleanup;
    }
    *out = h;
    h = NULL;
    goto cleanup;
oom:
    rc = reg_error_set(err, REG_ENOMEM, "out of memory");
cleanup:
    if (h != NULL)
        curl_easy_cleanup(h);
    free_secret(auth);
    free(scope);
    free(base);
    free(abs);
    return rc;
}

/* ------------------------------------------------------------ the client */

int reg_client_new(reg_client **out, reg_global *g, const reg_client_opts *o,
                   reg_error *err)
{
    *out = NULL;
    if (g == NULL || o == NULL || o->host == NULL || o->host[0] == '\0')
        return reg_error_set(err, REG_EINVAL, "client: no registry host");
    for (const char *p = o->host; *p != '\0'; p++) {
        if (*p == '/' || *p == '@' || isspace((unsigned char)*p))
            return reg_error_set(err, REG_EINVAL,
                                 "client: bad registry host \"%s\"", o->host);
    }
    reg_client *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return reg_error_set(err, REG_ENOMEM, "out of memory");
    pthread_mutex_init(&c->lock, NULL);
    c->global = g;
    c->host = strdup(o->host);
    size_t n = strlen(o->host) + 9;
    c->base_url = malloc(n);
    if (c->base_url != NULL)
        snprintf(c->base_url, n, "https://%s", o->host);
    if (o->username != NULL && o->username[0] != '\0') {
        c->username = strdup(o->username);
        c->password = strdup(o->password != NULL ? o->password : "");
        if (c->username == NULL || c->password == NULL)
            goto oom;
    } else if (o->identity_token != NULL && o->identity_token[0] != '\0') {
        c->identity_token = strdup(o->identity_token);
        if (c->identity_token == NULL)
            goto oom;
    }
    c->insecure = o->insecure;
    if (o->ca_file != NULL && o->ca_file[0] != '\0') {
        c->ca_file = strdup(o->ca_file);
        if (c->ca_file == NULL)
            goto oom;
        FILE *f = fopen(o->ca_file, "r");
        if (f == NULL) {
            int rc = reg_error_set(err, REG_EINVAL,
                                   "client: cannot read CA file %s: %s",
                                   o->ca_file, strerror(errno));
            reg_client_free(c);
            return rc;
        }
        fclose(f);
    }
    if (o->user_agent != NULL) {
        for (const char *p = o->user_agent; *p != '\0'; p++) {
            if ((unsigned char)*p < 0x20 || *p == 0x7f) {
                reg_client_free(c);
                return reg_error_set(err, REG_EINVAL,
                                     "client: the user agent holds a control "
                                     "character");
            }
        }
        c->user_agent = strdup(o->user_agent);
    } else {
        c->user_agent = strdup("image-transfer/" IT_VERSION);
    }
    c->connect_timeout_s = o->connect_timeout_s > 0 ? o->connect_timeout_s : 30;
    c->low_speed_time_s = o->low_speed_time_s > 0 ? o->low_speed_time_s : 60;
    c->chunk_threshold = o->chunk_threshold != 0 ? o->chunk_threshold
                                                 : (int64_t)512 * 1024 * 1024;
    c->chunk_size =
        o->chunk_size > 0 ? o->chunk_size : (int64_t)64 * 1024 * 1024;
    c->hooks = o->hooks;
    c->challenge = calloc(1, sizeof(auth_state));
    if (c->host == NULL || c->base_url == NULL || c->user_agent == NULL ||
        c->challenge == NULL)
        goto oom;
    *out = c;
    return REG_OK;
oom:
    reg_client_free(c);
    return reg_error_set(err, REG_ENOMEM, "out of memory");
}

void reg_client_free(reg_client *c)
{
    if (c == NULL)
        return;
    tokens_free(c->tokens);
    auth_state *st = c->challenge;
    if (st != NULL) {
        free(st->realm);
        free(st->service);
        free(st);
    }
    free(c->host);
    free(c->base_url);
    free(c->username);
    free_secret(c->password);
    free_secret(c->identity_token);
    free(c->ca_file);
    free(c->user_agent);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

const char *reg_client_host(const reg_client *c)
{
    return c != NULL ? c->host : NULL;
}
