/*
 * engine_clients.c - the client pool: one registry client per (host,
 * credentials, TLS setting), shared by all workers; temporary credentials
 * refreshed five minutes before they expire; a rate bucket per host.
 */
#include "engine_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void bucket_hook(void *payload, const char *host)
{
    (void)host;
    it_bucket_take((it_bucket *)payload, 1);
}

typedef struct hook_ctx {
    it_engine *e;
    it_bucket *bucket;
    eng_host *host; /* the host's request counters, NULL: not counted */
} hook_ctx;

/* The requests this worker thread has started and not seen answered (at
 * most two at once: the blob copier's GET and upload), and the host of
 * its last request, for eng_count_retry. Reset at the end of each task. */
#define OPEN_MAX 4
static _Thread_local eng_host *open_reqs[OPEN_MAX];
static _Thread_local int n_open;
static _Thread_local eng_host *last_host;
/* issue 15: the host of this thread's first request since the last retry
 * step that got no answer (or a 502/504): the one a retry step may find
 * down (a blob copy's other transfer, cancelled because of it, does not
 * count); and the host this thread is the probe of. */
static _Thread_local eng_host *failed_host;
static _Thread_local eng_host *probe_host;

static bool has_open(const eng_host *hs)
{
    for (int i = 0; i < n_open; i++)
        if (open_reqs[i] == hs)
            return true;
    return false;
}

/* Frees one of hs's in-flight slots and wakes a thread waiting for one. */
static void release_slot(eng_host *hs)
{
    atomic_fetch_sub(&hs->in_flight, 1);
    if (atomic_load(&hs->slot_waiters) > 0) {
        pthread_mutex_lock(&hs->lock);
        pthread_cond_signal(&hs->slot_cv);
        pthread_mutex_unlock(&hs->lock);
    }
}

static bool try_slot(eng_host *hs)
{
    long f = atomic_load(&hs->in_flight);
    while (f < atomic_load(&hs->limit_in_flight))
        if (atomic_compare_exchange_weak(&hs->in_flight, &f, f + 1))
            return true;
    return false;
}

/* Takes an in-flight slot of hs: at most --routines requests (fewer under
 * the adaptive limit, issue 15) are out to one host at once, whatever the
 * number of workers. A thread waits (woken when a slot frees) while the
 * host has as many out as it allows. A thread that has a request to hs
 * open already (the blob copier's two transfers to one host) never waits
 * for itself; one that holds another host's request (the copier's source
 * GET while its upload waits) waits at most a second, so two hosts' slots
 * held crosswise cannot stall the run. */
static void take_slot(it_engine *e, eng_host *hs)
{
    if (has_open(hs)) {
        atomic_fetch_add(&hs->in_flight, 1);
        return;
    }
    if (try_slot(hs))
        return;
    int64_t wait_ms = n_open > 0 ? 1000 : 60000; /* a safety valve */
    int64_t end = it_now_mono_ms() + wait_ms;
    pthread_mutex_lock(&hs->lock);
    atomic_fetch_add(&hs->slot_waiters, 1);
    while (!try_slot(hs)) {
        int64_t now = it_now_mono_ms();
        if (now >= end || eng_aborting(e)) {
            atomic_fetch_add(&hs->in_flight, 1);
            break;
        }
        /* in slices: a grown limit or an abort wakes nobody */
        int64_t until = now + 50 < end ? now + 50 : end;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = ts.tv_nsec + (until - now) * 1000000;
        ts.tv_sec += ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        pthread_cond_timedwait(&hs->slot_cv, &hs->lock, &ts);
    }
    atomic_fetch_sub(&hs->slot_waiters, 1);
    pthread_mutex_unlock(&hs->lock);
}

static void request_started(eng_host *hs)
{
    if (n_open == OPEN_MAX) { /* the oldest was never answered */
        release_slot(open_reqs[0]);
        memmove(open_reqs, open_reqs + 1, (OPEN_MAX - 1) * sizeof(*open_reqs));
        n_open--;
    }
    open_reqs[n_open++] = hs;
    last_host = hs;
}

static void request_answered(eng_host *hs)
{
    for (int i = n_open - 1; i >= 0; i--) {
        if (open_reqs[i] == hs) {
            release_slot(hs);
            memmove(open_reqs + i, open_reqs + i + 1,
                    (size_t)(n_open - i - 1) * sizeof(*open_reqs));
            n_open--;
            return;
        }
    }
}

void eng_clients_task_end(void)
{
    for (int i = 0; i < n_open; i++)
        release_slot(open_reqs[i]);
    n_open = 0;
    last_host = NULL;
    failed_host = NULL;
    if (probe_host) { /* a probe that never saw an answer */
        pthread_mutex_lock(&probe_host->lock);
        probe_host->st.probing = false;
        pthread_mutex_unlock(&probe_host->lock);
        probe_host = NULL;
    }
}

void eng_count_retry(void)
{
    if (last_host)
        atomic_fetch_add(&last_host->retries, 1);
}

static void before_request(void *payload, const char *host)
{
    hook_ctx *h = payload;
    atomic_fetch_add(&h->e->http_requests, 1);
    if (h->host) {
        take_slot(h->e, h->host);
        pthread_mutex_lock(&h->host->lock);
        it_host_request(&h->host->st, eng_now_ms(h->e));
        pthread_mutex_unlock(&h->host->lock);
        request_started(h->host);
    }
    bucket_hook(h->bucket, host);
}

static it_http_class http_class(long status)
{
    if (status < 200 || status > 599)
        return IT_HTTP_ERROR;
    return (it_http_class)(status / 100 - 2);
}

const char *it_http_class_name(it_http_class c)
{
    static const char *const names[] = {"2xx", "3xx", "4xx", "5xx", "error"};
    return c >= 0 && c < IT_HTTP_NCLASS ? names[c] : "error";
}

static void on_blob_bytes(void *payload, size_t n)
{
    hook_ctx *h = payload;
    if (h->e->bandwidth)
        it_bucket_take(h->e->bandwidth, (double)n);
}

int64_t eng_now_ms(const it_engine *e)
{
    return e->o.now_ms ? e->o.now_ms(e->o.sleep_payload) : it_now_mono_ms();
}

/* Tells the subscribers the state and limits of hs (caller holds no
 * lock; down_since/next_try as read under it). */
static void emit_host(it_engine *e, const eng_host *hs, bool down,
                      int64_t since_unix, int64_t next_try_unix_ms,
                      long limit_in_flight, double limit_rps)
{
    it_event ev = {.kind = IT_EV_HOST_STATE,
                   .repo = -1,
                   .image = -1,
                   .registry = hs->host,
                   .count = down ? 1 : 0,
                   .bytes = since_unix,
                   .size = next_try_unix_ms,
                   .limit_in_flight = limit_in_flight,
                   .limit_rps = limit_rps};
    eng_emit(e, &ev);
}

static int64_t unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* issue 15: what an answer (or its absence) tells of the host: no
 * answer, 502 or 504 may mean it is down (the retry step decides); any
 * other answer means it is up; 429/503 halve its limits, a success grows
 * them. */
static void host_answer(it_engine *e, eng_host *hs, long status)
{
    if (status == 0 || status == 502 || status == 504) {
        if (!failed_host)
            failed_host = hs;
        return;
    }
    if (failed_host == hs)
        failed_host = NULL;
    if (probe_host == hs)
        probe_host = NULL;
    int64_t now = eng_now_ms(e);
    pthread_mutex_lock(&hs->lock);
    bool was_down = it_host_answered(&hs->st);
    int old_lim = hs->st.limit_in_flight;
    double old_rps = hs->st.limit_rps;
    bool emit = was_down;
    if (e->o.adaptive && (status == 429 || status == 503)) {
        it_host_throttled(&hs->st, now);
    } else if (e->o.adaptive && status < 500) {
        it_host_success(&hs->st, now);
    }
    bool changed =
        old_lim != hs->st.limit_in_flight || old_rps != hs->st.limit_rps;
    if (changed) {
        atomic_store(&hs->limit_in_flight, hs->st.limit_in_flight);
        it_bucket_set_rate(hs->bucket, hs->st.limit_rps);
        /* a cut at once, growth at most once a second */
        if (hs->st.limit_in_flight < old_lim ||
            (hs->st.limit_rps > 0 &&
             (old_rps <= 0 || hs->st.limit_rps < old_rps)) ||
            now - hs->last_emit_ms >= 1000)
            emit = true;
    }
    if (emit)
        hs->last_emit_ms = now;
    long lim = hs->st.limit_in_flight;
    double rps = hs->st.limit_rps;
    pthread_mutex_unlock(&hs->lock);
    if (emit)
        emit_host(e, hs, false, 0, 0, lim, rps);
}

/* issue 15: RateLimit headers set the host's rate directly. */
static void on_ratelimit(void *payload, long limit, long remaining,
                         long reset_s)
{
    hook_ctx *h = payload;
    double rps = it_ratelimit_rps(limit, remaining, reset_s);
    if (!h || !h->host || !h->e->o.adaptive || rps <= 0)
        return;
    eng_host *hs = h->host;
    pthread_mutex_lock(&hs->lock);
    it_host_set_rate(&hs->st, rps);
    it_bucket_set_rate(hs->bucket, hs->st.limit_rps);
    pthread_mutex_unlock(&hs->lock);
}

void eng_host_forget(void)
{
    failed_host = NULL;
}

int64_t eng_host_down_for(it_engine *e)
{
    eng_host *hs = failed_host;
    if (!hs || e->o.retry_window_ms <= 0)
        return 0;
    int64_t now = eng_now_ms(e);
    pthread_mutex_lock(&hs->lock);
    int64_t d = hs->st.down_since_ms ? now - hs->st.down_since_ms : 0;
    pthread_mutex_unlock(&hs->lock);
    return d > 0 ? d : 0;
}

int eng_host_wait(it_engine *e, const reg_error *err, int64_t deadline_ms,
                  char *host, size_t host_cap, int64_t *down_ms)
{
    (void)err;
    eng_host *hs = failed_host;
    failed_host = NULL;
    if (!hs || e->o.retry_window_ms <= 0)
        return 0;
    int64_t now = eng_now_ms(e);
    int rc = -1;
    pthread_mutex_lock(&hs->lock);
    if (hs->st.down_since_ms == 0 || probe_host == hs) {
        /* it went down, or this thread's probe failed: next try after
         * the host's own backoff (not each worker's failure: one outage
         * is one backoff) */
        int64_t delay = it_retry_backoff_ms(&e->policy, hs->st.fails + 1);
        if (it_host_failed(&hs->st, now, delay))
            hs->down_since_unix = (int64_t)time(NULL);
        int64_t since = hs->down_since_unix;
        int64_t next = unix_ms() + (hs->st.next_try_ms - now);
        long lim = hs->st.limit_in_flight;
        double rps = hs->st.limit_rps;
        pthread_mutex_unlock(&hs->lock);
        emit_host(e, hs, true, since, next, lim, rps);
        pthread_mutex_lock(&hs->lock);
    }
    probe_host = NULL;
    for (;;) {
        int64_t wait = 0;
        if (it_host_may_send(&hs->st, now, 120000, &wait)) {
            if (hs->st.down_since_ms != 0)
                probe_host = hs;
            rc = 1;
            break;
        }
        if (now >= deadline_ms || eng_aborting(e))
            break;
        pthread_mutex_unlock(&hs->lock);
        if (wait > deadline_ms - now)
            wait = deadline_ms - now;
        it_retry_sleep(&e->policy, wait);
        now = eng_now_ms(e);
        pthread_mutex_lock(&hs->lock);
    }
    if (rc < 0) {
        snprintf(host, host_cap, "%s", hs->host);
        *down_ms = hs->st.down_since_ms ? now - hs->st.down_since_ms : 0;
    }
    pthread_mutex_unlock(&hs->lock);
    return rc;
}

static void on_http(void *payload, const char *method, const char *url,
                    long status)
{
    hook_ctx *h = payload;
    if (h && h->host) {
        atomic_fetch_add(&h->host->requests[http_class(status)], 1);
        request_answered(h->host);
        if (h->e->o.retry_window_ms > 0 || h->e->o.adaptive)
            host_answer(h->e, h->host, status);
    }
    log_debug("http %s %s -> %ld", method, url, status);
}

void eng_free_client(void *p)
{
    client_entry *ce = p;
    if (ce->client)
        ce->e->ops.client_free(ce->e->ops.self, ce->client);
    free(ce->hooks);
    free(ce);
}

/* The pool key of host/repo: "host\ncredkey\n(insecure|verify)". TLS
 * checks are part of the key: a secure and an insecure client for the same
 * host and login are never mixed up. */
static char *client_key(it_engine *e, const char *host, const char *repo,
                        const it_cred *cred, bool *insecure)
{
    const char *credkey = "anonymous";
    if (cred && cred->username)
        credkey = cred->key;
    else if (e->o.creds_fn)
        credkey = "provided";
    *insecure = it_secrets_insecure(e->o.secrets, host, repo);
    char *hc = it_join2(host, '\n', credkey);
    char *key =
        hc ? it_join2(hc, '\n', *insecure ? "insecure" : "verify") : NULL;
    free(hc);
    return key;
}

/* Looks key up with clients_lock held: a usable client (NULL when this
 * worker is to make one: the key is then marked refreshing and *old is
 * the entry it replaces, if any). Waits while another worker makes it. */
static it_regclient *lookup_locked(it_engine *e, const char *key, bool *expires,
                                   client_entry **old)
{
    for (;;) {
        client_entry *ce = it_strmap_get(e->clients, key);
        if (ce && (ce->expires_at == 0 || time(NULL) < ce->expires_at - 300)) {
            *expires = ce->expires_at != 0;
            return ce->client;
        }
        if (!it_strmap_get(e->refreshing, key)) {
            /* This worker makes the (new) client. Temporary credentials
             * about to expire: the old client may still be in use; it is
             * retired (freed at the end) only once its replacement is in
             * the map. */
            it_strmap_put(e->refreshing, key, (void *)1);
            *old = ce;
            return NULL;
        }
        /* Another worker is fetching fresh credentials: keep using the
         * old client while it is valid, else wait for the new one. */
        if (ce && time(NULL) < ce->expires_at) {
            *expires = true;
            return ce->client;
        }
        pthread_cond_wait(&e->clients_cv, &e->clients_lock);
    }
}

/* The rate bucket of host, made on first use. Caller holds clients_lock. */
static it_bucket *bucket_locked(it_engine *e, const char *host)
{
    it_bucket *b = it_strmap_get(e->buckets, host);
    if (!b) {
        b = it_bucket_new(e->o.qps, e->o.qps, NULL, NULL);
        if (b && it_strmap_put(e->buckets, host, b) != 0) {
            it_bucket_free(b);
            b = NULL; /* unlimited rather than none */
        }
    }
    return b;
}

/* The request counters of host, made on first use (NULL when out of
 * memory: that host is not counted). Caller holds clients_lock. */
static eng_host *host_locked(it_engine *e, const char *host, it_bucket *b)
{
    eng_host *hs = it_strmap_get(e->hosts, host);
    if (!hs && (hs = calloc(1, sizeof(*hs))) != NULL) {
        snprintf(hs->host, sizeof(hs->host), "%s", host);
        pthread_mutex_init(&hs->lock, NULL);
        pthread_cond_init(&hs->slot_cv, NULL);
        it_host_init(&hs->st, e->o.routines, e->o.qps);
        atomic_store(&hs->limit_in_flight, hs->st.limit_in_flight);
        hs->bucket = b;
        if (it_strmap_put(e->hosts, host, hs) != 0) {
            eng_free_host(hs);
            hs = NULL;
        }
    }
    return hs;
}

static eng_host *find_host(it_engine *e, const char *host)
{
    pthread_mutex_lock(&e->clients_lock);
    eng_host *hs = host ? it_strmap_get(e->hosts, host) : NULL;
    pthread_mutex_unlock(&e->clients_lock); /* hosts live as long as e */
    return hs;
}

int eng_host_referrers_api(it_engine *e, const char *host)
{
    eng_host *hs = find_host(e, host);
    return hs ? atomic_load(&hs->ref_api) : 0;
}

void eng_host_set_referrers_api(it_engine *e, const char *host, int api)
{
    eng_host *hs = find_host(e, host);
    if (hs)
        atomic_store(&hs->ref_api, api);
}

void eng_free_host(void *p)
{
    eng_host *hs = p;
    if (hs) {
        pthread_mutex_destroy(&hs->lock);
        pthread_cond_destroy(&hs->slot_cv);
    }
    free(hs);
}

typedef struct host_copy {
    it_host_stats *v;
    size_t n;
} host_copy;

static void copy_host(void *payload, const char *key, void *value)
{
    (void)key;
    host_copy *c = payload;
    const eng_host *hs = value;
    it_host_stats *o = &c->v[c->n++];
    memset(o, 0, sizeof(*o));
    snprintf(o->host, sizeof(o->host), "%s", hs->host);
    for (int i = 0; i < IT_HTTP_NCLASS; i++)
        o->requests[i] = atomic_load(&hs->requests[i]);
    o->retries = atomic_load(&hs->retries);
    long f = atomic_load(&hs->in_flight);
    o->in_flight = f > 0 ? f : 0;
    eng_host *m = (eng_host *)value; /* its lock: not the counters' const */
    pthread_mutex_lock(&m->lock);
    o->limit_in_flight = m->st.limit_in_flight;
    o->limit_rps = m->st.limit_rps;
    o->throttled = m->st.throttled;
    o->down_since = m->st.down_since_ms ? m->down_since_unix : 0;
    pthread_mutex_unlock(&m->lock);
}

static int host_cmp(const void *a, const void *b)
{
    return strcmp(((const it_host_stats *)a)->host,
                  ((const it_host_stats *)b)->host);
}

it_host_stats *it_engine_host_stats(it_engine *e, size_t *n)
{
    host_copy c = {0};
    pthread_mutex_lock(&e->clients_lock);
    size_t count = it_strmap_count(e->hosts);
    if (count > 0)
        c.v = malloc(count * sizeof(*c.v));
    if (c.v)
        it_strmap_each(e->hosts, copy_host, &c);
    pthread_mutex_unlock(&e->clients_lock);
    if (c.n > 1)
        qsort(c.v, c.n, sizeof(*c.v), host_cmp);
    *n = c.n;
    return c.v;
}

/* Credentials for host: the secrets file's, else the Docker config's
 * credential helper's (a login, or an identity token: *idtok true, *user
 * NULL, *pass the token), else the provider's (with their expiry), else
 * none for a little while. -1 with err when the credential helper fails. */
static int fetch_creds(it_engine *e, const it_cred *cred, const char *host,
                       char **user, char **pass, bool *idtok,
                       int64_t *expires_at, reg_error *err)
{
    it_errbuf herr = {{0}};
    int hr = 0;
    *expires_at = 0;
    *idtok = false;
    if (cred && cred->username) {
        *user = it_strdup0(cred->username);
        *pass = it_strdup0(cred->password);
    } else if ((hr = it_secrets_helper_login(e->o.secrets, host, user, pass,
                                             &herr)) != 0) {
        if (hr < 0)
            return reg_error_set(err, REG_EAUTH, "%s", herr.msg);
        *idtok = hr == 2;
    } else if (e->o.creds_fn && e->o.creds_fn(e->o.creds_payload, host, user,
                                              pass, expires_at) != 0) {
        /* Nothing now (maybe a passing API failure): anonymous for a
         * little while, then ask again. */
        *user = *pass = NULL;
        *expires_at = (int64_t)time(NULL) + 300 + 30;
    }
    /* Temporary credentials (an instance token) are secrets like any
     * other: hidden in every encoded form a registry may reflect. */
    if (*pass)
        it_log_add_credential(*user, *pass);
    return 0;
}

/* A new pool entry: a client for host with these credentials, its hooks
 * counting requests (into hs) and taking from bucket b. NULL with err on
 * failure. */
static client_entry *entry_new(it_engine *e, const char *host, const char *user,
                               const char *pass, bool idtok, bool insecure,
                               it_bucket *b, eng_host *hs, reg_error *err)
{
    hook_ctx *h = calloc(1, sizeof(*h));
    client_entry *ce = calloc(1, sizeof(*ce));
    if (!h || !ce) {
        reg_error_set(err, REG_ENOMEM, "out of memory");
        goto fail;
    }
    ce->e = e;
    h->e = e;
    h->bucket = b;
    h->host = hs;
    reg_client_opts co = {0};
    co.host = host;
    co.username = idtok ? NULL : user;
    co.password = idtok ? NULL : pass;
    co.identity_token = idtok ? pass : NULL;
    co.insecure = insecure;
    co.ca_file = e->o.ca_file;
    co.hooks.before_request = before_request;
    co.hooks.on_blob_bytes = on_blob_bytes;
    co.hooks.on_http = on_http;
    co.hooks.on_ratelimit = on_ratelimit;
    co.hooks.payload = h;
    if (e->ops.client_new(e->ops.self, &ce->client, &co, err) != 0)
        goto fail;
    ce->hooks = h;
    return ce;
fail:
    free(h);
    free(ce);
    return NULL;
}

/* Puts the new entry ce (may be NULL: making it failed) in the pool in
 * place of old, and ends the refresh of key. Returns the client to use:
 * the new one, else the old one rather than none. */
static it_regclient *install(it_engine *e, const char *key, client_entry *ce,
                             client_entry *old, bool *expires, reg_error *err)
{
    it_regclient *c = NULL;
    pthread_mutex_lock(&e->clients_lock);
    if (ce && it_strmap_put(e->clients, key, ce) != 0) {
        eng_free_client(ce);
        ce = NULL;
        reg_error_set(err, REG_ENOMEM, "out of memory");
    }
    if (ce) {
        c = ce->client;
        *expires = ce->expires_at != 0;
        if (old) {
            old->next_retired = e->retired;
            e->retired = old;
        }
    } else if (old) {
        c = old->client;
        *expires = true;
    }
    it_strmap_put(e->refreshing, key, NULL);
    pthread_cond_broadcast(&e->clients_cv);
    pthread_mutex_unlock(&e->clients_lock);
    return c;
}

/* The client for host with the credentials that apply to repo. Clients
 * are shared by all workers and live as long as the engine. */
it_regclient *eng_get_client(it_engine *e, const char *host, const char *repo,
                             bool *expires, reg_error *err)
{
    bool exp = false, insecure = false, idtok = false;
    const it_cred *cred = it_secrets_find(e->o.secrets, host, repo);
    char *user = NULL, *pass = NULL;
    int64_t expires_at = 0;
    client_entry *old = NULL;
    it_regclient *c = NULL;
    char *key = client_key(e, host, repo, cred, &insecure);
    if (!key) {
        reg_error_set(err, REG_ENOMEM, "out of memory");
        goto out;
    }
    pthread_mutex_lock(&e->clients_lock);
    c = lookup_locked(e, key, &exp, &old);
    it_bucket *b = c ? NULL : bucket_locked(e, host);
    eng_host *hs = c ? NULL : host_locked(e, host, b);
    pthread_mutex_unlock(&e->clients_lock);
    if (c)
        goto out;
    /* Fetching credentials may take API calls: no lock held meanwhile. */
    client_entry *ce = NULL;
    if (fetch_creds(e, cred, host, &user, &pass, &idtok, &expires_at, err) == 0)
        ce = entry_new(e, host, user, pass, idtok, insecure, b, hs, err);
    if (ce)
        ce->expires_at = expires_at;
    c = install(e, key, ce, old, &exp, err);
out:
    if (expires)
        *expires = exp;
    if (pass) {
        memset(pass, 0, strlen(pass));
        free(pass);
    }
    free(user);
    free(key);
    return c;
}

/* The target client for an image, looked up afresh for each task so that
 * temporary credentials are renewed during a long image; falls back to
 * the one the image started with. */
it_regclient *eng_dst_client(it_engine *e, image_ctx *img)
{
    if (!img->dst_expires)
        return img->dst; /* the common case: nothing to renew */
    reg_error err = {0};
    repo_ctx *r = img->repo;
    it_regclient *c =
        eng_get_client(e, r->pair.dst_host, r->pair.dst_repo, NULL, &err);
    return c ? c : img->dst;
}

void eng_free_bucket(void *p)
{
    it_bucket_free(p);
}

/* --preflight (issue 13): the pool's credential lookup, for one fresh
 * client outside the pool (its requests in the debug log). */
static void probe_http(void *payload, const char *method, const char *url,
                       long status)
{
    (void)payload;
    log_debug("http %s %s -> %ld (preflight)", method, url, status);
}

int it_engine_reg_client(it_engine *e, const char *host, const char *repo,
                         reg_client **out, reg_error *err)
{
    char *user = NULL, *pass = NULL;
    bool idtok = false;
    int64_t expires_at = 0;
    *out = NULL;
    if (!e->global)
        return reg_error_set(err, REG_EUNSUPPORTED,
                             "no registry library behind a test seam");
    const it_cred *cred = it_secrets_find(e->o.secrets, host, repo);
    int rc = fetch_creds(e, cred, host, &user, &pass, &idtok, &expires_at, err);
    if (rc == 0) {
        reg_client_opts co = {0};
        co.host = host;
        co.username = idtok ? NULL : user;
        co.password = idtok ? NULL : pass;
        co.identity_token = idtok ? pass : NULL;
        co.insecure = it_secrets_insecure(e->o.secrets, host, repo);
        co.ca_file = e->o.ca_file;
        co.connect_timeout_s = 10;
        co.hooks.on_http = probe_http;
        rc = reg_client_new(out, e->global, &co, err);
    }
    if (pass) {
        memset(pass, 0, strlen(pass));
        free(pass);
    }
    free(user);
    return rc;
}
