/*
 * engine.c - the transfer engine.
 *
 * Work is a tree of tasks taken by a pool of workers from a queue with four
 * priority levels (deepest work first, so bytes start moving early and
 * memory stays small):
 *
 *   REPO   list source tags (and the target's, to learn which tags exist
 *          and whether the repository is new), queue one IMAGE per tag
 *   IMAGE  compare digests (HEAD both sides), fetch the manifest, build the
 *          manifest tree (an index's children are nodes of their own)
 *   NODE   fetch one child manifest of an index, queue its blobs
 *   BLOB   make one blob present in the target repository: skip if known,
 *          wait if another worker is moving it, mount if it is in another
 *          repository of the same registry, else stream-copy it
 *
 * A node's manifest is pushed by the worker that finishes its last blob
 * (or its last child); the root is pushed to the tag last, so a failed
 * image never leaves the tag pointing at a partial image.
 */
#include "engine.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "limiter.h"
#include "log.h"
#include "registry.h"
#include "regops.h"
#include "strmap.h"
#include "text.h"

typedef enum { T_REPO = 0, T_IMAGE, T_NODE, T_BLOB, N_LEVELS } task_kind;

typedef struct task {
    task_kind kind;
    void *obj;
    size_t idx; /* blob index for T_BLOB */
    struct task *next;
} task;

typedef struct repo_ctx {
    it_engine *e;
    it_pair pair;
    char *src_name; /* "host/repo" */
    char *dst_name;
    int pid; /* progress id */
    it_regclient *src, *dst;
    bool dst_fresh;  /* the target repository did not exist: no blob HEADs */
    char **dst_tags; /* tags the target has, NULL when unknown */
    /* under e->lock: */
    int images_left, images_failed, images_copied;
    size_t queued;    /* images queued so far (tags listed) */
    bool listing;     /* tags are still being listed: not done yet */
    bool list_failed; /* the listing failed or hit a limit */
} repo_ctx;

struct node;

typedef struct image_ctx {
    repo_ctx *repo;
    char *tag;     /* source tag, NULL for a digest rule */
    char *dst_ref; /* tag (or digest) the root manifest is pushed to */
    char *src_str, *dst_str;
    int pid;
    size_t result;
    int attempt;
    it_regclient *dst; /* refreshed per attempt: credentials may expire */
    bool dst_expires;  /* its credentials are temporary: look up per task */
    atomic_int failed;
    atomic_llong bytes;
    atomic_llong expect; /* blob bytes of all its manifests (index: sum) */
    char digest[REG_DIGEST_LEN + 1];
    struct node *root;
} image_ctx;

typedef struct node {
    image_ctx *img;
    struct node *parent;
    char *digest;   /* child nodes: what to fetch */
    char *push_ref; /* where to push: tag for the root, digest otherwise */
    reg_manifest *m;
    atomic_int pending;
    atomic_int failed;
    struct node **kids;
    size_t nkids;
} node;

/* (target registry, digest) -> where the blob is known to be. */
typedef struct blob_entry {
    char **repos;   /* repositories of the target registry holding it */
    bool *verified; /* false: only the journal says so, HEAD before use */
    size_t nrepos;
    bool in_flight;
    task *waiters;
    /* The last copy of it that failed after its retries, in this pass:
     * images waiting for it from the same source fail at once (the final
     * retry pass tries again) instead of each repeating the backoff. */
    char *failed_src; /* "host/repo" it was copied from */
    char *failed_err;
    int failed_pass;
} blob_entry;

typedef struct client_entry {
    struct it_engine *e;
    it_regclient *client;
    int64_t expires_at;     /* Unix seconds; 0 = credentials never expire */
    struct hook_ctx *hooks; /* owned: the client's hook payload */
    struct client_entry *next_retired; /* replaced, freed at the end */
} client_entry;

struct it_engine {
    it_engine_opts o;
    it_errbuf *err;
    reg_global *global; /* NULL when opts.regops is given */
    it_regops ops;

    pthread_mutex_t lock; /* queue, counters, results, repos */
    pthread_cond_t cond;
    pthread_cond_t done_cv; /* broadcast once `finished` is set */
    task *head[N_LEVELS], *tail[N_LEVELS];
    long outstanding; /* queued + running + parked tasks */
    bool input_done;
    bool finished;
    atomic_int pass;     /* 0, then 1 during the final retry pass */
    size_t repos_listed; /* repositories whose tags are known */
    bool enum_reported;
    bool retry_pass_done;
    image_ctx **retry;
    size_t nretry, capretry;

    it_image_result *results;
    size_t nresults, capresults;
    repo_ctx **repos;
    size_t nrepos, caprepos;
    image_ctx **images;
    size_t nimages, capimages;

    pthread_mutex_t clients_lock; /* clients, buckets, refreshing */
    pthread_cond_t clients_cv;    /* a refresh finished */
    it_strmap *refreshing;        /* keys whose client a worker is making */
    it_strmap *clients;    /* "host\ncredkey\n(insecure|verify)" -> client */
    it_strmap *buckets;    /* host -> it_bucket */
    client_entry *retired; /* clients whose credentials expired */
    it_bucket *bandwidth;

    pthread_mutex_t blobs_lock;
    it_strmap *blobs;       /* "host digest" -> blob_entry */
    it_strmap *planned;     /* dry-run: "host digest" -> (void*)1 */
    it_strmap *done_images; /* journal: "src\ndst" -> source digest */

    atomic_long blobs_copied, blobs_mounted, blobs_skipped;
    atomic_llong bytes_copied;
    atomic_long http_requests;

    pthread_t *threads;
    int nthreads;
};

/* ------------------------------------------------------------ helpers */

static char *xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

static char *join2(const char *a, char sep, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 2);
    if (!s)
        return NULL;
    memcpy(s, a, la);
    s[la] = sep;
    memcpy(s + la + 1, b, lb + 1);
    return s;
}

/* *a += d, clamped to the int64 range; returns the new value. */
static int64_t atomic_add_sat(atomic_llong *a, int64_t d)
{
    long long old = atomic_load(a), sum;
    do {
        sum = it_add_sat(old, d);
    } while (!atomic_compare_exchange_weak(a, &old, sum));
    return sum;
}

static bool stopping(const it_engine *e)
{
    return (e->o.stop && *e->o.stop) || (e->o.abort && *e->o.abort) ||
           it_progress_stop_requested(e->o.progress);
}

static bool aborting(const it_engine *e)
{
    return e->o.abort && *e->o.abort;
}

/*
 * Retry policy for one request: transient errors are retried --retry
 * times with exponential backoff and jitter, honouring Retry-After.
 * Returns true when the caller should try again (after the sleep done
 * here).
 */
static bool again(it_engine *e, int rc, reg_error *err, int *attempt,
                  const char *what)
{
    if (rc == 0 || !reg_error_retryable(rc) || *attempt >= e->o.retry ||
        aborting(e))
        return false;
    double delay = 0.5 * (double)(1 << (*attempt < 6 ? *attempt : 6));
    delay *= 0.5 + (double)(rand() % 1000) / 1000.0; /* jitter */
    /* Retry-After counts only when this very answer was a 429 or 503: the
     * error struct is reused within a task. */
    if (err && err->retry_after > 0 &&
        (err->http_status == 429 || err->http_status == 503))
        delay = err->retry_after > 60 ? 60 : (double)err->retry_after;
    if (err) {
        /* consumed: a later transport error must not inherit it */
        err->retry_after = -1;
        err->http_status = 0;
    }
    (*attempt)++;
    log_warn("%s: %s; retry %d/%d in %.1fs", what, err ? err->msg : "",
             *attempt, e->o.retry, delay);
    if (e->o.sleep_fn)
        e->o.sleep_fn(e->o.sleep_payload, delay);
    else
        it_sleep(delay);
    return true;
}

/* ------------------------------------------------------------- queue */

static void push_locked(it_engine *e, task *t, bool count)
{
    t->next = NULL;
    if (e->tail[t->kind])
        e->tail[t->kind]->next = t;
    else
        e->head[t->kind] = t;
    e->tail[t->kind] = t;
    if (count)
        e->outstanding++;
    pthread_cond_signal(&e->cond);
}

static void enqueue(it_engine *e, task_kind kind, void *obj, size_t idx)
{
    task *t = calloc(1, sizeof(*t));
    if (!t) {
        log_error("out of memory queueing a task");
        abort();
    }
    t->kind = kind;
    t->obj = obj;
    t->idx = idx;
    pthread_mutex_lock(&e->lock);
    push_locked(e, t, true);
    pthread_mutex_unlock(&e->lock);
}

static task *pop_locked(it_engine *e)
{
    for (int k = N_LEVELS - 1; k >= 0; k--) {
        task *t = e->head[k];
        if (t) {
            e->head[k] = t->next;
            if (!e->head[k])
                e->tail[k] = NULL;
            return t;
        }
    }
    return NULL;
}

/* ---------------------------------------------------------- clients */

static void bucket_hook(void *payload, const char *host)
{
    (void)host;
    it_bucket_take((it_bucket *)payload, 1);
}

typedef struct hook_ctx {
    it_engine *e;
    it_bucket *bucket;
} hook_ctx;

static void before_request(void *payload, const char *host)
{
    hook_ctx *h = payload;
    atomic_fetch_add(&h->e->http_requests, 1);
    bucket_hook(h->bucket, host);
}

static void on_blob_bytes(void *payload, size_t n)
{
    hook_ctx *h = payload;
    if (h->e->bandwidth)
        it_bucket_take(h->e->bandwidth, (double)n);
}

static void on_http(void *payload, const char *method, const char *url,
                    long status)
{
    (void)payload;
    log_debug("http %s %s -> %ld", method, url, status);
}

/* Whether TLS checks are off for this repository: set by `insecure: true`
 * on its host's entry or on the entry of a namespace it is in (the host
 * matched without regard to case); never for other repositories of the
 * host when only a namespace says so. */
static bool repo_insecure(const it_secrets *s, const char *host,
                          const char *repo)
{
    const it_cred *best = it_secrets_find(s, host, repo);
    const it_cred *bare = it_secrets_find(s, host, NULL);
    return (best && best->insecure) || (bare && bare->insecure);
}

static void free_client(void *p)
{
    client_entry *ce = p;
    if (ce->client)
        ce->e->ops.client_free(ce->e->ops.self, ce->client);
    free(ce->hooks);
    free(ce);
}

/* The client for host with the credentials that apply to repo. Clients
 * are shared by all workers and live as long as the engine. */
static it_regclient *get_client(it_engine *e, const char *host,
                                const char *repo, bool *expires, reg_error *err)
{
    if (expires)
        *expires = false;
    const it_cred *cred = it_secrets_find(e->o.secrets, host, repo);
    char *user = NULL, *pass = NULL;
    const char *credkey = "anonymous";
    if (cred && cred->username) {
        credkey = cred->key;
    } else if (e->o.creds_fn) {
        credkey = "provided";
    }
    /* TLS checks are part of the key: a secure and an insecure client for
     * the same host and login are never mixed up. */
    bool insecure = repo_insecure(e->o.secrets, host, repo);
    char *hc = join2(host, '\n', credkey);
    char *key = hc ? join2(hc, '\n', insecure ? "insecure" : "verify") : NULL;
    free(hc);
    it_regclient *c = NULL;
    if (!key) {
        reg_error_set(err, REG_ENOMEM, "out of memory");
        return NULL;
    }
    int64_t expires_at = 0;
    client_entry *ce = NULL, *old = NULL;
    pthread_mutex_lock(&e->clients_lock);
    for (;;) {
        ce = it_strmap_get(e->clients, key);
        if (ce && (ce->expires_at == 0 || time(NULL) < ce->expires_at - 300)) {
            c = ce->client;
            if (expires)
                *expires = ce->expires_at != 0;
            pthread_mutex_unlock(&e->clients_lock);
            goto out;
        }
        if (!it_strmap_get(e->refreshing, key))
            break;
        /* Another worker is fetching fresh credentials: keep using the
         * old client while it is valid, else wait for the new one. */
        if (ce && time(NULL) < ce->expires_at) {
            c = ce->client;
            if (expires)
                *expires = true;
            pthread_mutex_unlock(&e->clients_lock);
            goto out;
        }
        pthread_cond_wait(&e->clients_cv, &e->clients_lock);
    }
    /* This worker makes the (new) client. Temporary credentials about to
     * expire: the old client may still be in use; it is retired (freed at
     * the end) only once its replacement is in the map. */
    it_strmap_put(e->refreshing, key, (void *)1);
    old = ce;
    ce = NULL;
    it_bucket *b = it_strmap_get(e->buckets, host);
    if (!b) {
        b = it_bucket_new(e->o.qps, e->o.qps, NULL, NULL);
        it_strmap_put(e->buckets, host, b);
    }
    pthread_mutex_unlock(&e->clients_lock);

    /* Fetching credentials may take API calls: no lock held meanwhile. */
    if (cred && cred->username) {
        user = xstrdup(cred->username);
        pass = xstrdup(cred->password);
    } else if (e->o.creds_fn && e->o.creds_fn(e->o.creds_payload, host, &user,
                                              &pass, &expires_at) != 0) {
        /* Nothing now (maybe a passing API failure): anonymous for a
         * little while, then ask again. */
        user = pass = NULL;
        expires_at = (int64_t)time(NULL) + 300 + 30;
    }
    /* Temporary credentials (an instance token) are secrets like any
     * other: hidden in every encoded form a registry may reflect. */
    if (pass)
        it_log_add_credential(user, pass);
    hook_ctx *h = calloc(1, sizeof(*h));
    ce = calloc(1, sizeof(*ce));
    if (h && ce) {
        ce->e = e;
        h->e = e;
        h->bucket = b;
        reg_client_opts co = {0};
        co.host = host;
        co.username = user;
        co.password = pass;
        co.insecure = insecure;
        co.ca_file = e->o.ca_file;
        co.hooks.before_request = before_request;
        co.hooks.on_blob_bytes = on_blob_bytes;
        co.hooks.on_http = on_http;
        co.hooks.payload = h;
        if (e->ops.client_new(e->ops.self, &ce->client, &co, err) != 0) {
            free(h);
            free(ce);
            h = NULL;
            ce = NULL;
        } else {
            ce->expires_at = expires_at;
            ce->hooks = h;
        }
    } else {
        free(h);
        free(ce);
        ce = NULL;
        reg_error_set(err, REG_ENOMEM, "out of memory");
    }

    pthread_mutex_lock(&e->clients_lock);
    if (ce && it_strmap_put(e->clients, key, ce) != 0) {
        free_client(ce);
        ce = NULL;
        reg_error_set(err, REG_ENOMEM, "out of memory");
    }
    if (ce) {
        c = ce->client;
        if (expires)
            *expires = ce->expires_at != 0;
        if (old) {
            old->next_retired = e->retired;
            e->retired = old;
        }
    } else if (old) {
        c = old->client; /* keep using the old client rather than none */
        if (expires)
            *expires = true;
    }
    it_strmap_put(e->refreshing, key, NULL);
    pthread_cond_broadcast(&e->clients_cv);
    pthread_mutex_unlock(&e->clients_lock);
out:
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
static it_regclient *dst_client(it_engine *e, image_ctx *img)
{
    if (!img->dst_expires)
        return img->dst; /* the common case: nothing to renew */
    reg_error err = {0};
    repo_ctx *r = img->repo;
    it_regclient *c =
        get_client(e, r->pair.dst_host, r->pair.dst_repo, NULL, &err);
    return c ? c : img->dst;
}

/* ---------------------------------------------------------- results */

static size_t add_result(it_engine *e, const char *src, const char *dst)
{
    pthread_mutex_lock(&e->lock);
    if (e->nresults == e->capresults) {
        size_t cap = e->capresults ? e->capresults * 2 : 64;
        it_image_result *r = realloc(e->results, cap * sizeof(*r));
        if (!r) {
            pthread_mutex_unlock(&e->lock);
            log_error("out of memory");
            abort();
        }
        e->results = r;
        e->capresults = cap;
    }
    size_t i = e->nresults++;
    it_image_result *r = &e->results[i];
    memset(r, 0, sizeof(*r));
    r->source = xstrdup(src);
    r->target = xstrdup(dst);
    r->status = IT_STATUS_FAILED;
    pthread_mutex_unlock(&e->lock);
    return i;
}

static void set_result(it_engine *e, size_t i, it_image_status st,
                       const char *digest, int64_t bytes, const char *error)
{
    char red[600];
    pthread_mutex_lock(&e->lock);
    it_image_result *r = &e->results[i];
    r->status = st;
    if (digest && *digest) {
        free(r->digest);
        r->digest = strdup(digest);
    }
    r->bytes = bytes;
    free(r->error);
    r->error = NULL;
    if (error) {
        it_sanitize(red, sizeof(red), error);
        r->error = strdup(red);
    }
    pthread_mutex_unlock(&e->lock);
}

/* ------------------------------------------------------------ images */

static void node_free(node *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->nkids; i++)
        node_free(n->kids[i]);
    free(n->kids);
    reg_manifest_free(n->m);
    free(n->digest);
    free(n->push_ref);
    free(n);
}

static void image_fail(image_ctx *img, const char *prefix, const char *msg)
{
    /* The first error wins: it is the cause, later ones are fallout. */
    int expected = 0;
    if (atomic_compare_exchange_strong(&img->failed, &expected, 1)) {
        char buf[600];
        snprintf(buf, sizeof(buf), "%s%.500s", prefix, msg);
        it_engine *e = img->repo->e;
        set_result(e, img->result, IT_STATUS_FAILED, img->digest,
                   atomic_load(&img->bytes), buf);
    }
}

/* When a repository is listed and every image of it is done, its final
 * state in *st; false while it is still busy. Caller holds e->lock. */
static bool repo_settled_locked(const repo_ctx *r, it_repo_state *st)
{
    if (r->listing || r->images_left > 0)
        return false;
    *st = (r->images_failed || r->list_failed) ? IT_REPO_FAILED
          : r->images_copied                   ? IT_REPO_DONE
                                               : IT_REPO_SKIPPED;
    return true;
}

static void repo_image_done(it_engine *e, repo_ctx *r, it_image_status st)
{
    it_repo_state rs;
    pthread_mutex_lock(&e->lock);
    if (st == IT_STATUS_FAILED)
        r->images_failed++;
    if (st == IT_STATUS_COPIED)
        r->images_copied++;
    r->images_left--;
    bool settled = repo_settled_locked(r, &rs);
    pthread_mutex_unlock(&e->lock);
    if (settled)
        it_progress_repo_state(e->o.progress, r->pid, rs, NULL);
}

static void image_finish(it_engine *e, image_ctx *img, it_image_status st,
                         const char *why)
{
    int64_t bytes = atomic_load(&img->bytes);
    if (st == IT_STATUS_FAILED) {
        if (!atomic_load(&img->failed))
            image_fail(img, "", why ? why : "failed");
        const char *err = NULL;
        pthread_mutex_lock(&e->lock);
        err = e->results[img->result].error;
        char *copy = xstrdup(err);
        bool retry = img->attempt == 0 && !stopping(e);
        if (retry) {
            if (e->nretry == e->capretry) {
                size_t cap = e->capretry ? e->capretry * 2 : 16;
                image_ctx **v = realloc(e->retry, cap * sizeof(*v));
                if (v) {
                    e->retry = v;
                    e->capretry = cap;
                }
            }
            if (e->nretry < e->capretry)
                e->retry[e->nretry++] = img;
            else
                retry = false;
        }
        pthread_mutex_unlock(&e->lock);
        log_error("%s -> %s: %s%s", img->src_str, img->dst_str,
                  copy ? copy : "failed",
                  retry ? " (will retry at the end)" : "");
        it_progress_image_state(e->o.progress, img->pid, IT_IMG_FAILED,
                                img->digest, copy);
        free(copy);
        node_free(img->root);
        img->root = NULL;
        if (retry)
            return; /* the repo is not done until the retry pass */
    } else {
        set_result(e, img->result, st, img->digest, bytes, why);
        it_progress_image_state(e->o.progress, img->pid,
                                st == IT_STATUS_COPIED    ? IT_IMG_COPIED
                                : st == IT_STATUS_PLANNED ? IT_IMG_COPIED
                                                          : IT_IMG_SKIPPED,
                                img->digest, why);
        if (st == IT_STATUS_COPIED) {
            it_journal_image(e->o.journal, img->src_str, img->digest,
                             img->dst_str);
            log_info("copied %s -> %s (%s)", img->src_str, img->dst_str,
                     img->digest);
        } else if (st == IT_STATUS_SKIPPED) {
            log_info("skipped %s -> %s: %s", img->src_str, img->dst_str,
                     why ? why : "");
        }
        node_free(img->root);
        img->root = NULL;
    }
    repo_image_done(e, img->repo, st);
}

static void node_finish(it_engine *e, node *n, bool ok);

static void node_child_done(it_engine *e, node *n, bool ok)
{
    if (!ok)
        atomic_store(&n->failed, 1);
    if (atomic_fetch_sub(&n->pending, 1) != 1)
        return;
    /* Last child or blob: push this node's manifest, if all went well. */
    image_ctx *img = n->img;
    if (atomic_load(&n->failed) || atomic_load(&img->failed) || aborting(e)) {
        if (aborting(e))
            image_fail(img, "", "interrupted");
        node_finish(e, n, false);
        return;
    }
    repo_ctx *r = img->repo;
    it_regclient *dst = dst_client(e, img);
    reg_error err = {0};
    int rc, attempt = 0;
    do {
        rc = e->ops.manifest_put(e->ops.self, dst, r->pair.dst_repo,
                                 n->push_ref, n->m, &err);
    } while (again(e, rc, &err, &attempt, "push manifest"));
    if (rc != 0) {
        if (strstr(err.registry_code, "BLOB_UNKNOWN")) {
            /* The journal (or a mount) misled us: forget where these
             * blobs were thought to be so the retry pass copies them. */
            pthread_mutex_lock(&e->blobs_lock);
            for (size_t i = 0; i < n->m->n_blobs; i++) {
                char *key = join2(e->ops.client_host(e->ops.self, dst), ' ',
                                  n->m->blobs[i].digest);
                blob_entry *be = key ? it_strmap_get(e->blobs, key) : NULL;
                for (size_t j = 0; be && j < be->nrepos; j++)
                    if (strcmp(be->repos[j], r->pair.dst_repo) == 0)
                        be->verified[j] = false;
                free(key);
            }
            pthread_mutex_unlock(&e->blobs_lock);
        }
        image_fail(img, "push manifest: ", err.msg);
        node_finish(e, n, false);
        return;
    }
    node_finish(e, n, true);
}

static void node_finish(it_engine *e, node *n, bool ok)
{
    if (n->parent) {
        node_child_done(e, n->parent, ok);
        return;
    }
    image_ctx *img = n->img;
    image_finish(e, img, ok ? IT_STATUS_COPIED : IT_STATUS_FAILED, NULL);
}

/* Fans a node out: children of an index, or the blobs of an image. */
static void node_begin(it_engine *e, node *n)
{
    reg_manifest *m = n->m;
    if (reg_manifest_is_index(m)) {
        n->kids = calloc(m->n_children ? m->n_children : 1, sizeof(node *));
        if (!n->kids) {
            image_fail(n->img, "", "out of memory");
            atomic_store(&n->pending, 1);
            node_child_done(e, n, false);
            return;
        }
        n->nkids = m->n_children;
        atomic_store(&n->pending, (int)m->n_children + 1);
        for (size_t i = 0; i < m->n_children; i++) {
            node *k = calloc(1, sizeof(*k));
            n->kids[i] = k;
            if (!k) {
                atomic_store(&n->failed, 1);
                atomic_fetch_sub(&n->pending, 1);
                continue;
            }
            k->img = n->img;
            k->parent = n;
            k->digest = xstrdup(m->children[i].digest);
            k->push_ref = xstrdup(m->children[i].digest);
            enqueue(e, T_NODE, k, 0);
        }
    } else {
        /* Sizes a server wrote: the sums saturate, never wrap. */
        int64_t expect = 0;
        for (size_t i = 0; i < m->n_blobs; i++)
            if (m->blobs[i].size > 0)
                expect = it_add_sat(expect, m->blobs[i].size);
        /* An index's children add up: the expectation is the sum. */
        int64_t total = atomic_add_sat(&n->img->expect, expect);
        it_progress_image_expect(e->o.progress, n->img->pid, total);
        atomic_store(&n->pending, (int)m->n_blobs + 1);
        for (size_t i = 0; i < m->n_blobs; i++)
            enqueue(e, T_BLOB, n, i);
    }
    /* The extra count held while fanning out is dropped here, so the node
     * cannot complete before all its tasks are queued. */
    node_child_done(e, n, true);
}

/* T_NODE: a child manifest of an index. */
static void run_node(it_engine *e, node *n)
{
    image_ctx *img = n->img;
    repo_ctx *r = img->repo;
    reg_error err = {0};
    int rc, attempt = 0;
    if (atomic_load(&img->failed) || aborting(e)) {
        node_finish(e, n, false);
        return;
    }
    if (!r->dst_fresh) {
        /* Already on the target (shared by another index)? */
        do {
            rc = e->ops.manifest_head(e->ops.self, dst_client(e, img),
                                      r->pair.dst_repo, n->digest, NULL, &err);
        } while (again(e, rc, &err, &attempt, "check child manifest"));
        if (rc == 0) {
            node_finish(e, n, true);
            return;
        }
        attempt = 0;
    }
    do {
        rc = e->ops.manifest_get(e->ops.self, &n->m, r->src, r->pair.src_repo,
                                 n->digest, &err);
    } while (again(e, rc, &err, &attempt, "get child manifest"));
    if (rc != 0) {
        image_fail(img, "get child manifest: ", err.msg);
        node_finish(e, n, false);
        return;
    }
    node_begin(e, n);
}

/* ------------------------------------------------------------- blobs */

static bool entry_has(const blob_entry *be, const char *repo, bool *verified)
{
    for (size_t i = 0; i < be->nrepos; i++) {
        if (strcmp(be->repos[i], repo) == 0) {
            *verified = be->verified[i];
            return true;
        }
    }
    return false;
}

static void entry_add(blob_entry *be, const char *repo, bool verified)
{
    for (size_t i = 0; i < be->nrepos; i++) {
        if (strcmp(be->repos[i], repo) == 0) {
            be->verified[i] = be->verified[i] || verified;
            return;
        }
    }
    char **r = realloc(be->repos, (be->nrepos + 1) * sizeof(*r));
    if (!r)
        return;
    be->repos = r;
    bool *v = realloc(be->verified, (be->nrepos + 1) * sizeof(*v));
    if (!v)
        return;
    be->verified = v;
    be->repos[be->nrepos] = strdup(repo);
    if (!be->repos[be->nrepos])
        return;
    be->verified[be->nrepos++] = verified;
}

static blob_entry *entry_get(it_engine *e, const char *key)
{
    blob_entry *be = it_strmap_get(e->blobs, key);
    if (!be) {
        be = calloc(1, sizeof(*be));
        if (be)
            it_strmap_put(e->blobs, key, be);
    }
    return be;
}

static void entry_free(void *p)
{
    blob_entry *be = p;
    for (size_t i = 0; i < be->nrepos; i++)
        free(be->repos[i]);
    free(be->repos);
    free(be->verified);
    free(be->failed_src);
    free(be->failed_err);
    free(be);
}

typedef struct copy_progress {
    it_engine *e;
    image_ctx *img;
    int64_t moved; /* by this attempt (this task only) */
} copy_progress;

static void copy_progress_cb(void *payload, int64_t delta)
{
    copy_progress *cp = payload;
    cp->moved += delta;
    atomic_fetch_add(&cp->img->bytes, delta);
    atomic_fetch_add(&cp->e->bytes_copied, delta);
    it_progress_bytes(cp->e->o.progress, cp->img->pid, delta);
}

/* T_BLOB. Returns true when the task was parked (another worker is moving
 * the same blob): it is queued again when that finishes. */
static bool run_blob(it_engine *e, node *n, size_t i, task *t)
{
    image_ctx *img = n->img;
    repo_ctx *r = img->repo;
    const reg_descriptor *d = &n->m->blobs[i];
    const char *dst_repo = r->pair.dst_repo;
    reg_error err = {0};
    int rc = REG_ERR, attempt = 0;
    bool verified = false, present = false;
    it_blob_outcome outcome = IT_BLOB_SKIPPED;

    if (atomic_load(&img->failed) || aborting(e)) {
        node_child_done(e, n, false);
        return false;
    }
    it_regclient *dst = dst_client(e, img);
    char *key = join2(e->ops.client_host(e->ops.self, dst), ' ', d->digest);
    char *from = NULL;
    if (!key) {
        image_fail(img, "", "out of memory");
        node_child_done(e, n, false);
        return false;
    }
    pthread_mutex_lock(&e->blobs_lock);
    blob_entry *be = entry_get(e, key);
    if (!be) {
        pthread_mutex_unlock(&e->blobs_lock);
        free(key);
        image_fail(img, "", "out of memory");
        node_child_done(e, n, false);
        return false;
    }
    bool known_here = entry_has(be, dst_repo, &verified);
    if (known_here && verified) {
        pthread_mutex_unlock(&e->blobs_lock);
        free(key);
        atomic_fetch_add(&e->blobs_skipped, 1);
        it_progress_blob(e->o.progress, IT_BLOB_SKIPPED);
        node_child_done(e, n, true);
        return false;
    }
    if (be->in_flight) {
        t->next = be->waiters;
        be->waiters = t;
        pthread_mutex_unlock(&e->blobs_lock);
        free(key);
        return true;
    }
    if (be->failed_src && be->failed_pass == atomic_load(&e->pass) &&
        strcmp(be->failed_src, r->src_name) == 0) {
        char msg[600];
        snprintf(msg, sizeof(msg),
                 "%.500s (same blob failed for another "
                 "image)",
                 be->failed_err ? be->failed_err : "failed");
        pthread_mutex_unlock(&e->blobs_lock);
        free(key);
        char what[200];
        snprintf(what, sizeof(what), "blob %.19s: ", d->digest);
        image_fail(img, what, msg);
        node_child_done(e, n, false);
        return false;
    }
    be->in_flight = true;
    /* A mount source: prefer a repository this run saw the blob in. */
    const char *pick = NULL;
    for (size_t k = 0; k < be->nrepos; k++) {
        if (strcmp(be->repos[k], dst_repo) == 0)
            continue;
        if (be->verified[k]) {
            pick = be->repos[k];
            break;
        }
        if (!pick)
            pick = be->repos[k];
    }
    from = pick ? strdup(pick) : NULL;
    pthread_mutex_unlock(&e->blobs_lock);

    /* 1. Already there? Only worth a request when the repository existed
     *    before this run, or the journal says the blob was put there. */
    if (known_here || !r->dst_fresh) {
        do {
            rc =
                e->ops.blob_exists(e->ops.self, dst, dst_repo, d->digest, &err);
        } while (again(e, rc, &err, &attempt, "check blob"));
        present = rc == 0;
        outcome = IT_BLOB_SKIPPED;
    }
    /* 2. Mount from another repository of the same registry. */
    if (!present && from) {
        attempt = 0;
        do {
            rc = e->ops.blob_mount(e->ops.self, dst, dst_repo, d->digest, from,
                                   &err);
        } while (rc != REG_ENOTFOUND &&
                 again(e, rc, &err, &attempt, "mount blob"));
        present = rc == 0;
        outcome = IT_BLOB_MOUNTED;
        if (!present)
            log_debug("mount %s from %s into %s failed (%s): copying",
                      d->digest, from, dst_repo, err.msg);
    }
    /* 3. Stream it across. */
    if (!present) {
        copy_progress cp = {e, img, 0};
        reg_copy_opts co = {0};
        co.progress = copy_progress_cb;
        co.payload = &cp;
        co.cancel = e->o.abort;
        attempt = 0;
        do {
            cp.moved = 0;
            rc = e->ops.blob_copy(e->ops.self, r->src, r->pair.src_repo, dst,
                                  dst_repo, d, &co, &err);
            if (rc != 0 && cp.moved) {
                /* bytes of a failed attempt do not count as moved */
                atomic_fetch_sub(&img->bytes, cp.moved);
                atomic_fetch_sub(&e->bytes_copied, cp.moved);
                it_progress_bytes(e->o.progress, img->pid, -cp.moved);
            }
        } while (again(e, rc, &err, &attempt, "copy blob"));
        present = rc == 0;
        outcome = IT_BLOB_COPIED;
    }

    pthread_mutex_lock(&e->blobs_lock);
    be->in_flight = false;
    if (present) {
        entry_add(be, dst_repo, true);
    } else if (!aborting(e)) {
        free(be->failed_src);
        free(be->failed_err);
        be->failed_src = xstrdup(r->src_name);
        be->failed_err = xstrdup(err.msg);
        be->failed_pass = atomic_load(&e->pass);
    }
    task *w = be->waiters;
    be->waiters = NULL;
    pthread_mutex_unlock(&e->blobs_lock);
    if (w) {
        pthread_mutex_lock(&e->lock);
        while (w) {
            task *next = w->next;
            push_locked(e, w, false);
            w = next;
        }
        pthread_mutex_unlock(&e->lock);
    }
    free(key);
    free(from);

    if (!present) {
        char what[200];
        snprintf(what, sizeof(what), "blob %.19s: ", d->digest);
        image_fail(img, what, err.msg);
        node_child_done(e, n, false);
        return false;
    }
    it_journal_blob(e->o.journal, e->ops.client_host(e->ops.self, dst),
                    dst_repo, d->digest, d->size);
    atomic_fetch_add(outcome == IT_BLOB_COPIED    ? &e->blobs_copied
                     : outcome == IT_BLOB_MOUNTED ? &e->blobs_mounted
                                                  : &e->blobs_skipped,
                     1);
    it_progress_blob(e->o.progress, outcome);
    node_child_done(e, n, true);
    return false;
}

/* ------------------------------------------------------------ dry run */

/* Counts the blobs (and bytes) of m and its children not yet planned for
 * the target registry. */
static int plan_manifest(it_engine *e, image_ctx *img, reg_manifest *m,
                         long *nblobs, int64_t *bytes, reg_error *err)
{
    repo_ctx *r = img->repo;
    if (reg_manifest_is_index(m)) {
        for (size_t i = 0; i < m->n_children; i++) {
            reg_manifest *c = NULL;
            int rc, attempt = 0;
            do {
                rc = e->ops.manifest_get(e->ops.self, &c, r->src,
                                         r->pair.src_repo,
                                         m->children[i].digest, err);
            } while (again(e, rc, err, &attempt, "get child manifest"));
            if (rc != 0)
                return rc;
            rc = plan_manifest(e, img, c, nblobs, bytes, err);
            reg_manifest_free(c);
            if (rc != 0)
                return rc;
        }
        return 0;
    }
    pthread_mutex_lock(&e->blobs_lock);
    for (size_t i = 0; i < m->n_blobs; i++) {
        char *key = join2(e->ops.client_host(e->ops.self, img->dst), ' ',
                          m->blobs[i].digest);
        if (key && !it_strmap_get(e->planned, key)) {
            it_strmap_put(e->planned, key, (void *)1);
            (*nblobs)++;
            if (m->blobs[i].size > 0)
                *bytes = it_add_sat(*bytes, m->blobs[i].size);
        }
        free(key);
    }
    pthread_mutex_unlock(&e->blobs_lock);
    return 0;
}

/* ----------------------------------------------------------- T_IMAGE */

static bool has_tag(char **tags, const char *tag)
{
    for (size_t i = 0; tags && tags[i]; i++)
        if (strcmp(tags[i], tag) == 0)
            return true;
    return false;
}

/* The source manifest's digest by HEAD (no download), into img->digest. */
static int head_source(it_engine *e, image_ctx *img, const char *src_ref,
                       reg_error *err)
{
    repo_ctx *r = img->repo;
    int rc, attempt = 0;
    do {
        rc = e->ops.manifest_head(e->ops.self, r->src, r->pair.src_repo,
                                  src_ref, img->digest, err);
    } while (again(e, rc, err, &attempt, "check source"));
    return rc;
}

/* The source digest an earlier run copied to this target, or NULL. */
static char *journal_digest(it_engine *e, const image_ctx *img)
{
    char *key = join2(img->src_str, '\n', img->dst_str);
    char *d = NULL;
    if (!key)
        return NULL;
    pthread_mutex_lock(&e->blobs_lock);
    const char *v = it_strmap_get(e->done_images, key);
    d = xstrdup(v);
    pthread_mutex_unlock(&e->blobs_lock);
    free(key);
    return d;
}

static void run_image(it_engine *e, image_ctx *img)
{
    repo_ctx *r = img->repo;
    reg_error err = {0};
    int rc, attempt = 0;
    const char *src_ref = img->tag ? img->tag : r->pair.src_digest;
    char dst_digest[REG_DIGEST_LEN + 1] = "";
    reg_manifest *m = NULL;

    if (stopping(e) && img->attempt > 0) {
        /* Queued for the final retry pass: it stays failed, with the
         * error it failed with. */
        repo_image_done(e, r, IT_STATUS_FAILED);
        return;
    }
    if (stopping(e)) {
        /* Never started: it stays pending (not done) everywhere. */
        set_result(e, img->result, IT_STATUS_PENDING, NULL, 0,
                   "not started: the run was stopped");
        return;
    }
    img->dst = get_client(e, r->pair.dst_host, r->pair.dst_repo,
                          &img->dst_expires, &err);
    if (!img->dst) {
        image_finish(e, img, IT_STATUS_FAILED, err.msg);
        return;
    }
    it_progress_image_state(e->o.progress, img->pid, IT_IMG_COPYING, NULL,
                            NULL);
    /* Does the target have this tag? Known from its tag list, else HEAD. */
    bool dst_has = has_tag(r->dst_tags, img->dst_ref);
    bool dst_maybe = !(r->dst_tags || r->dst_fresh) || dst_has;
    bool src_known = false;
    /* Incremental rerun: the journal says this source digest was copied to
     * this target tag, and the tag is still listed there. If the source
     * still has that digest, one HEAD settles it. */
    char *journaled = dst_has ? journal_digest(e, img) : NULL;
    if (journaled) {
        rc = head_source(e, img, src_ref, &err);
        if (rc != 0) {
            free(journaled);
            image_finish(e, img, IT_STATUS_FAILED, err.msg);
            return;
        }
        src_known = true;
        bool same = strcmp(img->digest, journaled) == 0;
        free(journaled);
        if (same) {
            image_finish(e, img, IT_STATUS_SKIPPED,
                         "already present (same digest, journal)");
            return;
        }
    }
    if (dst_maybe) {
        attempt = 0;
        do {
            rc = e->ops.manifest_head(e->ops.self, img->dst, r->pair.dst_repo,
                                      img->dst_ref, dst_digest, &err);
        } while (again(e, rc, &err, &attempt, "check target"));
        if (rc != 0 && rc != REG_ENOTFOUND) {
            image_finish(e, img, IT_STATUS_FAILED, err.msg);
            return;
        }
        if (rc == REG_ENOTFOUND)
            dst_digest[0] = '\0';
    }
    if (dst_digest[0]) {
        /* Compare by HEAD on the source: no manifest download if same. */
        if (!src_known && (rc = head_source(e, img, src_ref, &err)) != 0) {
            image_finish(e, img, IT_STATUS_FAILED, err.msg);
            return;
        }
        src_known = true;
        if (strcmp(img->digest, dst_digest) == 0) {
            /* Journaled too, so the next rerun settles it with one HEAD. */
            if (!e->o.dry_run)
                it_journal_image(e->o.journal, img->src_str, img->digest,
                                 img->dst_str);
            image_finish(e, img, IT_STATUS_SKIPPED,
                         "already present (same digest)");
            return;
        }
        if (!e->o.tag_exist_overridden) {
            char why[200];
            snprintf(why, sizeof(why),
                     "target tag exists with another digest %.19s... and "
                     "--tag-exist-overridden=false",
                     dst_digest);
            image_finish(e, img, IT_STATUS_SKIPPED, why);
            return;
        }
    }
    if (src_known)
        src_ref = img->digest;
    attempt = 0;
    do {
        rc = e->ops.manifest_get(e->ops.self, &m, r->src, r->pair.src_repo,
                                 src_ref, &err);
    } while (again(e, rc, &err, &attempt, "get manifest"));
    if (rc != 0) {
        image_finish(e, img, IT_STATUS_FAILED, err.msg);
        return;
    }
    memcpy(img->digest, m->digest, sizeof(img->digest));
    if (e->o.dry_run) {
        long nblobs = 0;
        int64_t bytes = 0;
        rc = plan_manifest(e, img, m, &nblobs, &bytes, &err);
        reg_manifest_free(m);
        if (rc != 0) {
            image_finish(e, img, IT_STATUS_FAILED, err.msg);
            return;
        }
        atomic_store(&img->bytes, bytes);
        char *src = it_sanitize_dup(img->src_str);
        char *dst = it_sanitize_dup(img->dst_str);
        fprintf(e->o.plan_out ? e->o.plan_out : stdout,
                "copy %s -> %s (%ld new blobs, %lld bytes)\n", src ? src : "?",
                dst ? dst : "?", nblobs, (long long)bytes);
        free(src);
        free(dst);
        image_finish(e, img, IT_STATUS_PLANNED, NULL);
        return;
    }
    node *root = calloc(1, sizeof(*root));
    if (!root || !(root->push_ref = strdup(img->dst_ref))) {
        free(root);
        reg_manifest_free(m);
        image_finish(e, img, IT_STATUS_FAILED, "out of memory");
        return;
    }
    root->img = img;
    root->m = m;
    img->root = root;
    node_begin(e, root);
}

/* ------------------------------------------------------------ T_REPO */

static void repo_fail(it_engine *e, repo_ctx *r, const char *msg)
{
    size_t i = add_result(e, r->src_name, r->dst_name);
    set_result(e, i, IT_STATUS_FAILED, NULL, 0, msg);
    log_error("%s -> %s: %s", r->src_name, r->dst_name, msg);
    it_progress_repo_state(e->o.progress, r->pid, IT_REPO_FAILED, msg);
}

static char *image_name(const char *host, const char *repo, const char *ref)
{
    size_t n = strlen(host) + strlen(repo) + strlen(ref) + 3;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s/%s%c%s", host, repo,
                 strncmp(ref, "sha256:", 7) == 0 ? '@' : ':', ref);
    return s;
}

/* Called once per repository when its tags are known (or it failed):
 * when every repository of a finished input is listed, the totals stop
 * growing and the progress model can estimate the end. */
static void repo_listed(it_engine *e)
{
    bool report = false;
    pthread_mutex_lock(&e->lock);
    e->repos_listed++;
    if (e->input_done && e->repos_listed == e->nrepos && !e->enum_reported)
        report = e->enum_reported = true;
    pthread_mutex_unlock(&e->lock);
    if (report) {
        it_progress_enumeration_done(e->o.progress);
        it_progress_phase(e->o.progress, IT_PHASE_COPYING);
    }
}

static void list_repo(it_engine *e, repo_ctx *r);
static void image_free(image_ctx *img);

static void run_repo(it_engine *e, repo_ctx *r)
{
    list_repo(e, r);
    repo_listed(e);
}

/* Queues one image of r: the source tag `tag`, or the pair's digest when
 * tag is NULL. Counted in the repository before it is queued, so the
 * repository cannot be declared done while its listing goes on. Returns 0,
 * or -1 when out of memory. */
static int queue_image(it_engine *e, repo_ctx *r, const char *tag)
{
    image_ctx *img = calloc(1, sizeof(*img));
    if (!img)
        return -1;
    img->repo = r;
    const char *src_ref = tag ? tag : r->pair.src_digest;
    img->tag = xstrdup(tag);
    img->dst_ref = xstrdup(r->pair.dst_tag ? r->pair.dst_tag : src_ref);
    img->src_str = img->dst_ref
                       ? image_name(r->pair.src_host, r->pair.src_repo, src_ref)
                       : NULL;
    img->dst_str = img->src_str ? image_name(r->pair.dst_host, r->pair.dst_repo,
                                             img->dst_ref)
                                : NULL;
    if ((tag && !img->tag) || !img->dst_str) {
        image_free(img);
        return -1;
    }
    pthread_mutex_lock(&e->lock);
    if (e->nimages == e->capimages) {
        size_t cap = e->capimages ? e->capimages * 2 : 64;
        image_ctx **v = realloc(e->images, cap * sizeof(*v));
        if (!v) {
            pthread_mutex_unlock(&e->lock);
            image_free(img);
            return -1;
        }
        e->images = v;
        e->capimages = cap;
    }
    e->images[e->nimages++] = img;
    r->images_left++;
    r->queued++;
    pthread_mutex_unlock(&e->lock);
    img->pid = it_progress_image_add(e->o.progress, r->pid,
                                     img->tag ? img->tag : img->dst_ref);
    img->result = add_result(e, img->src_str, img->dst_str);
    enqueue(e, T_IMAGE, img, 0);
    return 0;
}

/* One listing attempt's state: pages re-delivered by a retried listing
 * are skipped up to what was queued before. */
typedef struct list_ctx {
    it_engine *e;
    repo_ctx *r;
    size_t seen;  /* tags delivered in this attempt */
    bool stopped; /* the run was stopped */
    bool oom;
} list_ctx;

/* reg_list_fn: queues each tag of a page as it arrives, so a listing of
 * any length holds one page in memory. */
static int on_tags_page(void *payload, char *const *tags, size_t n)
{
    list_ctx *lc = payload;
    size_t queued;
    pthread_mutex_lock(&lc->e->lock);
    queued = lc->r->queued;
    pthread_mutex_unlock(&lc->e->lock);
    for (size_t i = 0; i < n; i++, lc->seen++) {
        if (lc->seen < queued)
            continue; /* queued by an earlier attempt */
        if (stopping(lc->e)) {
            lc->stopped = true;
            return 1;
        }
        if (queue_image(lc->e, lc->r, tags[i]) != 0) {
            lc->oom = true;
            return 1;
        }
    }
    return 0;
}

/* Lists the source tags page by page into the queue. Returns 0, or an
 * error in err (the repository's listing failed or hit a limit). */
static int list_source(it_engine *e, repo_ctx *r, list_ctx *lc, reg_error *err)
{
    if (r->pair.list_tags) {
        char **tags = NULL;
        it_errbuf lerr = {{0}};
        if (r->pair.list_tags(r->pair.list_payload, r->pair.src_repo, &tags,
                              &lerr) != 0)
            return reg_error_set(err, REG_ERR, "%s", lerr.msg);
        size_t n = 0;
        while (tags && tags[n])
            n++;
        on_tags_page(lc, tags, n);
        reg_strv_free(tags);
        return 0;
    }
    if (r->pair.tags) {
        size_t n = 0;
        while (r->pair.tags[n])
            n++;
        on_tags_page(lc, r->pair.tags, n);
        return 0;
    }
    if (r->pair.src_digest) {
        if (queue_image(e, r, NULL) != 0)
            lc->oom = true;
        return 0;
    }
    reg_list_limits lim = {.max_items = e->o.max_tags,
                           .max_pages = e->o.max_pages};
    int rc, attempt = 0;
    do {
        lc->seen = 0;
        rc = e->ops.tags_each(e->ops.self, r->src, r->pair.src_repo, &lim,
                              on_tags_page, lc, err);
    } while (!lc->stopped && !lc->oom &&
             again(e, rc, err, &attempt, "list source tags"));
    if (rc == REG_ELIMIT)
        reg_error_prefix(err, "list tags (raise the limit with %s)",
                         strstr(err->msg, "pages") ? "--max-pages"
                                                   : "--max-tags");
    else if (rc != 0 && !lc->stopped && !lc->oom)
        reg_error_prefix(err, "list tags");
    return lc->stopped || lc->oom ? 0 : rc;
}

static void list_repo(it_engine *e, repo_ctx *r)
{
    reg_error err = {0};
    int rc, attempt = 0;
    list_ctx lc = {.e = e, .r = r};

    if (stopping(e)) {
        size_t i = add_result(e, r->src_name, r->dst_name);
        set_result(e, i, IT_STATUS_PENDING, NULL, 0,
                   "not listed: the run was stopped");
        return;
    }
    r->src = get_client(e, r->pair.src_host, r->pair.src_repo, NULL, &err);
    if (r->src)
        r->dst = get_client(e, r->pair.dst_host, r->pair.dst_repo, NULL, &err);
    if (!r->src || !r->dst) {
        repo_fail(e, r, err.msg);
        return;
    }
    it_progress_repo_state(e->o.progress, r->pid, IT_REPO_LISTING, NULL);
    /* The target's tags tell which images may already be there, and
     * whether the repository is new (then no blob can be there yet); known
     * before the first image is queued. */
    do {
        rc = e->ops.tags_list(e->ops.self, &r->dst_tags, r->dst,
                              r->pair.dst_repo, &err);
    } while (again(e, rc, &err, &attempt, "list target tags"));
    if (rc == REG_ENOTFOUND) {
        r->dst_fresh = true;
        r->dst_tags = NULL;
    } else if (rc != 0) {
        log_debug("list tags of %s: %s (checking each tag instead)",
                  r->dst_name, err.msg);
        r->dst_tags = NULL;
    }
    reg_error_clear(&err);

    pthread_mutex_lock(&e->lock);
    r->listing = true;
    pthread_mutex_unlock(&e->lock);
    rc = list_source(e, r, &lc, &err);
    if (lc.oom)
        reg_error_set(&err, REG_ENOMEM, "list tags: out of memory");
    bool failed = rc != 0 || lc.oom;
    const char *why = failed ? err.msg : NULL;

    it_repo_state rs;
    pthread_mutex_lock(&e->lock);
    r->listing = false;
    r->list_failed = failed;
    size_t queued = r->queued;
    bool settled = repo_settled_locked(r, &rs);
    /* Under the lock: the worker that finishes the last image settles the
     * repository after this. */
    if (!settled)
        it_progress_repo_state(e->o.progress, r->pid, IT_REPO_COPYING, why);
    pthread_mutex_unlock(&e->lock);

    it_progress_repo_tags(e->o.progress, r->pid, (int)queued);
    if (failed) {
        size_t i = add_result(e, r->src_name, r->dst_name);
        set_result(e, i, IT_STATUS_FAILED, NULL, 0, err.msg);
        log_error("%s -> %s: %s%s", r->src_name, r->dst_name, err.msg,
                  queued ? " (the tags listed before it are copied)" : "");
    } else if (lc.stopped) {
        size_t i = add_result(e, r->src_name, r->dst_name);
        set_result(e, i, IT_STATUS_PENDING, NULL, 0,
                   "listing not finished: the run was stopped");
    } else if (queued == 0) {
        log_warn("%s: no tags to copy", r->src_name);
    }
    if (settled)
        it_progress_repo_state(e->o.progress, r->pid, rs,
                               failed        ? why
                               : queued == 0 ? "no tags"
                                             : NULL);
}

/* ----------------------------------------------------------- workers */

static void run_task(it_engine *e, task *t, bool *parked)
{
    *parked = false;
    switch (t->kind) {
    case T_REPO:
        run_repo(e, t->obj);
        break;
    case T_IMAGE:
        run_image(e, t->obj);
        break;
    case T_NODE:
        run_node(e, t->obj);
        break;
    case T_BLOB:
        *parked = run_blob(e, t->obj, t->idx, t);
        break;
    default:
        break;
    }
}

/* Called with e->lock held when no task is left: starts the final retry
 * pass once, or declares the run finished. */
static void idle_locked(it_engine *e)
{
    if (!e->input_done || e->outstanding > 0 || e->finished)
        return;
    if (!e->retry_pass_done && e->nretry > 0 && !stopping(e)) {
        e->retry_pass_done = true;
        atomic_store(&e->pass, 1);
        it_progress_phase(e->o.progress, IT_PHASE_RETRYING);
        log_info("retrying %zu failed image(s)", e->nretry);
        for (size_t i = 0; i < e->nretry; i++) {
            image_ctx *img = e->retry[i];
            img->attempt = 1;
            atomic_store(&img->failed, 0);
            atomic_store(&img->bytes, 0);
            atomic_store(&img->expect, 0);
            task *t = calloc(1, sizeof(*t));
            if (!t)
                abort();
            t->kind = T_IMAGE;
            t->obj = img;
            push_locked(e, t, true);
        }
        e->nretry = 0;
        return;
    }
    /* Images queued for a retry that never came (stop requested) stay
     * failed: count them as done in their repository. */
    for (size_t i = 0; i < e->nretry; i++) {
        repo_ctx *r = e->retry[i]->repo;
        it_repo_state rs;
        r->images_failed++;
        r->images_left--;
        if (repo_settled_locked(r, &rs))
            it_progress_repo_state(e->o.progress, r->pid, rs, NULL);
    }
    e->nretry = 0;
    e->finished = true;
    pthread_cond_broadcast(&e->cond);
    pthread_cond_broadcast(&e->done_cv);
}

static void *worker(void *arg)
{
    it_engine *e = arg;
    pthread_mutex_lock(&e->lock);
    for (;;) {
        task *t = pop_locked(e);
        if (t) {
            pthread_mutex_unlock(&e->lock);
            bool parked = false;
            run_task(e, t, &parked);
            if (!parked)
                free(t);
            pthread_mutex_lock(&e->lock);
            if (!parked)
                e->outstanding--;
            idle_locked(e);
            continue;
        }
        if (e->finished)
            break;
        idle_locked(e);
        if (e->finished)
            break;
        pthread_cond_wait(&e->cond, &e->lock);
    }
    pthread_mutex_unlock(&e->lock);
    return NULL;
}

/* ------------------------------------------------------------- public */

int it_engine_start(it_engine **out, const it_engine_opts *o, it_errbuf *err)
{
    reg_error rerr = {0};
    *out = NULL;
    it_engine *e = calloc(1, sizeof(*e));
    if (!e) {
        snprintf(err->msg, sizeof(err->msg), "out of memory");
        return -1;
    }
    e->o = *o;
    if (e->o.routines < 1)
        e->o.routines = 1;
    pthread_mutex_init(&e->lock, NULL);
    pthread_cond_init(&e->cond, NULL);
    pthread_cond_init(&e->done_cv, NULL);
    pthread_mutex_init(&e->clients_lock, NULL);
    pthread_cond_init(&e->clients_cv, NULL);
    pthread_mutex_init(&e->blobs_lock, NULL);
    e->clients = it_strmap_new();
    e->buckets = it_strmap_new();
    e->refreshing = it_strmap_new();
    e->blobs = it_strmap_new();
    e->planned = it_strmap_new();
    e->done_images = it_strmap_new();
    if (o->bandwidth > 0)
        e->bandwidth = it_bucket_new((double)o->bandwidth,
                                     (double)o->bandwidth / 4, NULL, NULL);
    if (!e->clients || !e->buckets || !e->refreshing || !e->blobs ||
        !e->planned || !e->done_images ||
        (!o->regops && reg_global_new(&e->global, &rerr) != 0)) {
        snprintf(err->msg, sizeof(err->msg), "engine setup: %s",
                 rerr.msg[0] ? rerr.msg : "out of memory");
        it_engine_free(e);
        return -1;
    }
    if (o->regops)
        e->ops = *o->regops;
    else
        it_regops_default(&e->ops, e->global);
    e->threads = calloc((size_t)e->o.routines, sizeof(pthread_t));
    for (int i = 0; e->threads && i < e->o.routines; i++) {
        if (pthread_create(&e->threads[i], NULL, worker, e) != 0)
            break;
        e->nthreads++;
    }
    if (e->nthreads == 0) {
        snprintf(err->msg, sizeof(err->msg), "cannot start worker threads");
        it_engine_free(e);
        return -1;
    }
    *out = e;
    return 0;
}

void it_engine_seed_blob(it_engine *e, const char *registry, const char *repo,
                         const char *digest)
{
    char *key = join2(registry, ' ', digest);
    if (!key)
        return;
    pthread_mutex_lock(&e->blobs_lock);
    blob_entry *be = entry_get(e, key);
    if (be)
        entry_add(be, repo, false);
    pthread_mutex_unlock(&e->blobs_lock);
    free(key);
}

void it_engine_seed_image(it_engine *e, const char *source, const char *digest,
                          const char *target)
{
    char *key = join2(source, '\n', target);
    char *d = xstrdup(digest);
    if (!key || !d) {
        free(key);
        free(d);
        return;
    }
    pthread_mutex_lock(&e->blobs_lock);
    free(it_strmap_get(e->done_images, key)); /* the later record wins */
    if (it_strmap_put(e->done_images, key, d) != 0)
        free(d);
    pthread_mutex_unlock(&e->blobs_lock);
    free(key);
}

static char **strv_dup(char **v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    char **c = calloc(n + 1, sizeof(char *));
    for (size_t i = 0; c && i < n; i++)
        c[i] = strdup(v[i]);
    return c;
}

int it_engine_add_pair(it_engine *e, const it_pair *p)
{
    repo_ctx *r = calloc(1, sizeof(*r));
    if (!r)
        return -1;
    r->e = e;
    r->pair.src_host = xstrdup(p->src_host);
    r->pair.src_repo = xstrdup(p->src_repo);
    r->pair.tags = p->tags ? strv_dup(p->tags) : NULL;
    r->pair.src_digest = xstrdup(p->src_digest);
    r->pair.dst_host = xstrdup(p->dst_host);
    r->pair.dst_repo = xstrdup(p->dst_repo);
    r->pair.dst_tag = xstrdup(p->dst_tag);
    r->pair.list_tags = p->list_tags;
    r->pair.list_payload = p->list_payload;
    r->src_name = join2(p->src_host, '/', p->src_repo);
    r->dst_name = join2(p->dst_host, '/', p->dst_repo);
    r->pid = it_progress_repo_add(e->o.progress, r->src_name, r->dst_name);
    pthread_mutex_lock(&e->lock);
    if (e->nrepos == e->caprepos) {
        size_t cap = e->caprepos ? e->caprepos * 2 : 32;
        repo_ctx **v = realloc(e->repos, cap * sizeof(*v));
        if (!v) {
            pthread_mutex_unlock(&e->lock);
            return -1;
        }
        e->repos = v;
        e->caprepos = cap;
    }
    e->repos[e->nrepos++] = r;
    pthread_mutex_unlock(&e->lock);
    enqueue(e, T_REPO, r, 0);
    return 0;
}

void it_engine_add_failed(it_engine *e, const char *source, const char *target,
                          const char *reason)
{
    size_t i = add_result(e, source, target);
    set_result(e, i, IT_STATUS_FAILED, NULL, 0, reason);
    /* Counted as one failed image, so the dashboard's totals agree with
     * the report and the exit code. */
    int pid = it_progress_repo_add(e->o.progress, source, target);
    it_progress_repo_tags(e->o.progress, pid, 1);
    int img = it_progress_image_add(e->o.progress, pid, "(all tags)");
    it_progress_image_state(e->o.progress, img, IT_IMG_FAILED, NULL, reason);
    it_progress_repo_state(e->o.progress, pid, IT_REPO_FAILED, reason);
    log_error("%s -> %s: %s", source, target, reason);
}

void it_engine_input_done(it_engine *e)
{
    bool report = false;
    pthread_mutex_lock(&e->lock);
    e->input_done = true;
    if (e->repos_listed == e->nrepos && !e->enum_reported)
        report = e->enum_reported = true;
    pthread_mutex_unlock(&e->lock);
    /* Told before the run can be declared finished, so the phases go in
     * order (copying, then done). */
    if (report) {
        it_progress_enumeration_done(e->o.progress);
        it_progress_phase(e->o.progress, IT_PHASE_COPYING);
    }
    pthread_mutex_lock(&e->lock);
    idle_locked(e);
    pthread_cond_broadcast(&e->cond);
    pthread_mutex_unlock(&e->lock);
}

bool it_engine_wait_finished(it_engine *e, double timeout_s)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long ns = ts.tv_nsec + (long)((timeout_s - (double)(long)timeout_s) * 1e9);
    ts.tv_sec += (time_t)timeout_s + ns / 1000000000L;
    ts.tv_nsec = ns % 1000000000L;
    pthread_mutex_lock(&e->lock);
    while (!e->finished) {
        if (pthread_cond_timedwait(&e->done_cv, &e->lock, &ts) != 0)
            break;
    }
    bool done = e->finished;
    pthread_mutex_unlock(&e->lock);
    return done;
}

void it_engine_wait(it_engine *e)
{
    for (int i = 0; i < e->nthreads; i++)
        pthread_join(e->threads[i], NULL);
    e->nthreads = 0;
}

const it_image_result *it_engine_results(const it_engine *e, size_t *n)
{
    *n = e->nresults;
    return e->results;
}

void it_engine_stats_get(const it_engine *e, it_engine_stats *s)
{
    memset(s, 0, sizeof(*s));
    for (size_t i = 0; i < e->nresults; i++) {
        s->images_total++;
        switch (e->results[i].status) {
        case IT_STATUS_COPIED:
            s->images_copied++;
            break;
        case IT_STATUS_SKIPPED:
            s->images_skipped++;
            break;
        case IT_STATUS_FAILED:
            s->images_failed++;
            break;
        case IT_STATUS_PLANNED:
            s->images_planned++;
            break;
        case IT_STATUS_PENDING:
            s->images_pending++;
            break;
        }
    }
    s->blobs_copied = atomic_load(&e->blobs_copied);
    s->blobs_mounted = atomic_load(&e->blobs_mounted);
    s->blobs_skipped = atomic_load(&e->blobs_skipped);
    s->bytes_copied = atomic_load(&e->bytes_copied);
    s->http_requests = atomic_load(&e->http_requests);
}

const char *it_image_status_name(it_image_status s)
{
    switch (s) {
    case IT_STATUS_COPIED:
        return "copied";
    case IT_STATUS_SKIPPED:
        return "skipped";
    case IT_STATUS_FAILED:
        return "failed";
    case IT_STATUS_PLANNED:
        return "planned";
    case IT_STATUS_PENDING:
        return "pending";
    }
    return "unknown";
}

static void free_bucket(void *p)
{
    it_bucket_free(p);
}

static void image_free(image_ctx *img)
{
    node_free(img->root);
    free(img->tag);
    free(img->dst_ref);
    free(img->src_str);
    free(img->dst_str);
    free(img);
}

static void repo_free(repo_ctx *r)
{
    it_pair_clear(&r->pair);
    free(r->src_name);
    free(r->dst_name);
    reg_strv_free(r->dst_tags);
    free(r);
}

void it_engine_free(it_engine *e)
{
    if (!e)
        return;
    if (e->nthreads) {
        pthread_mutex_lock(&e->lock);
        e->input_done = true;
        pthread_cond_broadcast(&e->cond);
        pthread_mutex_unlock(&e->lock);
        it_engine_wait(e);
    }
    free(e->threads);
    for (size_t i = 0; i < e->nresults; i++) {
        free(e->results[i].source);
        free(e->results[i].target);
        free(e->results[i].digest);
        free(e->results[i].error);
    }
    free(e->results);
    for (size_t i = 0; i < e->nrepos; i++)
        repo_free(e->repos[i]);
    free(e->repos);
    for (size_t i = 0; i < e->nimages; i++)
        image_free(e->images[i]);
    free(e->images);
    free(e->retry);
    if (e->clients)
        it_strmap_free(e->clients, free_client);
    while (e->retired) {
        client_entry *next = e->retired->next_retired;
        free_client(e->retired);
        e->retired = next;
    }
    if (e->buckets)
        it_strmap_free(e->buckets, free_bucket);
    if (e->refreshing)
        it_strmap_free(e->refreshing, NULL);
    if (e->blobs)
        it_strmap_free(e->blobs, entry_free);
    if (e->planned)
        it_strmap_free(e->planned, NULL);
    if (e->done_images)
        it_strmap_free(e->done_images, free);
    it_bucket_free(e->bandwidth);
    reg_global_free(e->global);
    pthread_mutex_destroy(&e->lock);
    pthread_cond_destroy(&e->cond);
    pthread_cond_destroy(&e->done_cv);
    pthread_mutex_destroy(&e->clients_lock);
    pthread_cond_destroy(&e->clients_cv);
    pthread_mutex_destroy(&e->blobs_lock);
    free(e);
}
