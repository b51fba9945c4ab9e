/* memreg.c - the in-memory registry of the engine's unit tests. */
#include "memreg.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct mr_manifest {
    char digest[72];
    char *media_type;
    char *body;
    size_t len;
} mr_manifest;

typedef struct mr_tag {
    char *name;
    char digest[72];
} mr_tag;

typedef struct mr_blob {
    char digest[72];
    int64_t size;
    char *bytes; /* its name, for blob_get (NULL for copies) */
} mr_blob;

typedef struct mr_repo {
    char *host, *name;
    mr_tag *tags;
    size_t ntags;
    mr_manifest *manifests;
    size_t nmanifests;
    mr_blob *blobs;
    size_t nblobs;
} mr_repo;

typedef struct mr_call {
    memreg_op op;
    char *host, *repo, *ref;
} mr_call;

typedef struct mr_fail {
    memreg_op op;
    char *host, *repo, *ref;
    int rc;
    long status;
    int times;
    int64_t partial; /* MR_BLOB_COPY: bytes reported moved before failing */
} mr_fail;

typedef struct mr_client {
    memreg *m;
    char *host;
    reg_hooks hooks;
} mr_client;

struct memreg {
    pthread_mutex_t lock;
    it_regops ops;
    mr_repo *repos;
    size_t nrepos;
    mr_call *calls;
    size_t ncalls;
    mr_fail *fails;
    size_t nfails;
    memreg_hook_fn hook;
    void *hook_payload;
    char **referrer_hosts; /* issue 13: hosts serving the referrers API */
    size_t nreferrer_hosts;
    /* issue 14: bytes of the blobs that have some (image configs) */
    struct mr_data {
        char digest[72];
        char *bytes;
        size_t len;
    } * data;
    size_t ndata;
    /* resume across restarts: the last resume_url a copy was given */
    char *last_resume_url;
};

static char *dup0(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Grows *v (of *n elements of size sz) by one zeroed element. Out of
 * memory aborts: this is a test double. */
static void *grow(void *v, size_t *n, size_t sz)
{
    char *nv = realloc(v, (*n + 1) * sz);
    if (!nv)
        abort();
    memset(nv + *n * sz, 0, sz);
    (*n)++;
    return nv;
}

static bool match(const char *want, const char *have)
{
    return !want || (have && strcmp(want, have) == 0);
}

/* Caller holds the lock. create: make it when missing. */
static mr_repo *repo_get(memreg *m, const char *host, const char *name,
                         bool create)
{
    for (size_t i = 0; i < m->nrepos; i++)
        if (strcmp(m->repos[i].host, host) == 0 &&
            strcmp(m->repos[i].name, name) == 0)
            return &m->repos[i];
    if (!create)
        return NULL;
    m->repos = grow(m->repos, &m->nrepos, sizeof(*m->repos));
    mr_repo *r = &m->repos[m->nrepos - 1];
    r->host = dup0(host);
    r->name = dup0(name);
    return r;
}

static mr_blob *blob_find(mr_repo *r, const char *digest)
{
    for (size_t i = 0; r && i < r->nblobs; i++)
        if (strcmp(r->blobs[i].digest, digest) == 0)
            return &r->blobs[i];
    return NULL;
}

static void blob_put(mr_repo *r, const char *digest, int64_t size)
{
    if (blob_find(r, digest))
        return;
    r->blobs = grow(r->blobs, &r->nblobs, sizeof(*r->blobs));
    snprintf(r->blobs[r->nblobs - 1].digest, 72, "%s", digest);
    r->blobs[r->nblobs - 1].size = size;
}

static mr_manifest *manifest_find(mr_repo *r, const char *digest)
{
    for (size_t i = 0; r && i < r->nmanifests; i++)
        if (strcmp(r->manifests[i].digest, digest) == 0)
            return &r->manifests[i];
    return NULL;
}

static const char *tag_find(mr_repo *r, const char *tag)
{
    for (size_t i = 0; r && i < r->ntags; i++)
        if (strcmp(r->tags[i].name, tag) == 0)
            return r->tags[i].digest;
    return NULL;
}

/* Caller holds the lock. */
static void store_manifest(mr_repo *r, const char *ref, const char *mt,
                           const void *body, size_t len, char digest[72])
{
    reg_sha256_digest(digest, body, len);
    if (!manifest_find(r, digest)) {
        r->manifests = grow(r->manifests, &r->nmanifests, sizeof(mr_manifest));
        mr_manifest *mm = &r->manifests[r->nmanifests - 1];
        snprintf(mm->digest, sizeof(mm->digest), "%s", digest);
        mm->media_type = dup0(mt);
        mm->body = malloc(len + 1);
        if (!mm->body)
            abort();
        memcpy(mm->body, body, len);
        mm->len = len;
    }
    if (!ref || strncmp(ref, "sha256:", 7) == 0)
        return;
    for (size_t i = 0; i < r->ntags; i++) {
        if (strcmp(r->tags[i].name, ref) == 0) {
            snprintf(r->tags[i].digest, 72, "%s", digest);
            return;
        }
    }
    r->tags = grow(r->tags, &r->ntags, sizeof(*r->tags));
    r->tags[r->ntags - 1].name = dup0(ref);
    snprintf(r->tags[r->ntags - 1].digest, 72, "%s", digest);
}

/* Logs the call, runs the hook, then returns an injected failure (or 0)
 * for it. */
static int enter_partial(memreg *m, memreg_op op, const mr_client *c,
                         const char *host, const char *repo, const char *ref,
                         int64_t *partial, reg_error *err)
{
    if (c && c->hooks.before_request)
        c->hooks.before_request(c->hooks.payload, host);
    pthread_mutex_lock(&m->lock);
    m->calls = grow(m->calls, &m->ncalls, sizeof(*m->calls));
    mr_call *call = &m->calls[m->ncalls - 1];
    call->op = op;
    call->host = dup0(host);
    call->repo = dup0(repo);
    call->ref = dup0(ref);
    memreg_hook_fn hook = m->hook;
    void *hp = m->hook_payload;
    pthread_mutex_unlock(&m->lock);
    if (hook)
        hook(hp, op, host, repo, ref);
    int rc = 0;
    long status = 0;
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->nfails; i++) {
        mr_fail *f = &m->fails[i];
        if (f->op != op || f->times == 0 || !match(f->host, host) ||
            !match(f->repo, repo) || !match(f->ref, ref))
            continue;
        if (f->times > 0)
            f->times--;
        rc = f->rc;
        status = f->status;
        if (partial)
            *partial = f->partial;
        break;
    }
    pthread_mutex_unlock(&m->lock);
    /* Answered like the real client's requests (status 0: no answer);
     * status -1: a request the hook never hears of again, as a transfer
     * cancelled mid-way. */
    if (c && c->hooks.on_http && status >= 0)
        c->hooks.on_http(c->hooks.payload, "GET", ref ? ref : "/",
                         rc ? status : 200);
    if (rc) {
        reg_error_set(err, rc, "memreg: injected failure (HTTP %ld)", status);
        if (err)
            err->http_status = status;
    }
    return rc;
}

static int enter(memreg *m, memreg_op op, const mr_client *c, const char *host,
                 const char *repo, const char *ref, reg_error *err)
{
    return enter_partial(m, op, c, host, repo, ref, NULL, err);
}

/* ------------------------------------------------------------ the seam */

static int mr_client_new(void *self, it_regclient **out,
                         const reg_client_opts *o, reg_error *err)
{
    memreg *m = self;
    *out = NULL;
    int rc = enter(m, MR_CLIENT_NEW, NULL, o->host, NULL, NULL, err);
    if (rc)
        return rc;
    mr_client *c = calloc(1, sizeof(*c));
    if (!c || !(c->host = strdup(o->host))) {
        free(c);
        return reg_error_set(err, REG_ENOMEM, "out of memory");
    }
    c->m = m;
    c->hooks = o->hooks;
    *out = (it_regclient *)c;
    return 0;
}

static void mr_client_free(void *self, it_regclient *c)
{
    (void)self;
    mr_client *mc = (mr_client *)c;
    if (mc)
        free(mc->host);
    free(mc);
}

static const char *mr_client_host(void *self, const it_regclient *c)
{
    (void)self;
    return ((const mr_client *)c)->host;
}

static int mr_manifest_get(void *self, reg_manifest **out, it_regclient *c,
                           const char *repo, const char *ref, reg_error *err)
{
    memreg *m = self;
    mr_client *mc = (mr_client *)c;
    *out = NULL;
    int rc = enter(m, MR_MANIFEST_GET, mc, mc->host, repo, ref, err);
    if (rc)
        return rc;
    pthread_mutex_lock(&m->lock);
    mr_repo *r = repo_get(m, mc->host, repo, false);
    const char *d = strncmp(ref, "sha256:", 7) == 0 ? ref : tag_find(r, ref);
    mr_manifest *mm = d ? manifest_find(r, d) : NULL;
    if (mm)
        rc = reg_manifest_parse(out, mm->media_type, mm->body, mm->len, err);
    else
        rc = reg_error_set(err, REG_ENOTFOUND, "manifest unknown");
    pthread_mutex_unlock(&m->lock);
    return rc;
}

/* HEAD, with the media type when media_type_out is not NULL. */
static int head_mt(memreg *m, it_regclient *c, const char *repo,
                   const char *ref, char digest_out[REG_DIGEST_LEN + 1],
                   char **media_type_out, reg_error *err)
{
    mr_client *mc = (mr_client *)c;
    if (media_type_out)
        *media_type_out = NULL;
    int rc = enter(m, MR_MANIFEST_HEAD, mc, mc->host, repo, ref, err);
    if (rc)
        return rc;
    pthread_mutex_lock(&m->lock);
    mr_repo *r = repo_get(m, mc->host, repo, false);
    const char *d = strncmp(ref, "sha256:", 7) == 0 ? ref : tag_find(r, ref);
    mr_manifest *mm = d ? manifest_find(r, d) : NULL;
    if (mm && digest_out)
        memcpy(digest_out, mm->digest, REG_DIGEST_LEN + 1);
    if (mm && media_type_out)
        *media_type_out = dup0(mm->media_type);
    if (!mm)
        rc = reg_error_set(err, REG_ENOTFOUND, "manifest unknown");
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static int mr_manifest_head(void *self, it_regclient *c, const char *repo,
                            const char *ref,
                            char digest_out[REG_DIGEST_LEN + 1], reg_error *err)
{
    return head_mt(self, c, repo, ref, digest_out, NULL, err);
}

/* --verify: the same, with the media type (counted as MR_MANIFEST_HEAD). */
static int mr_manifest_head_mt(void *self, it_regclient *c, const char *repo,
                               const char *ref,
                               char digest_out[REG_DIGEST_LEN + 1],
                               char **media_type_out, reg_error *err)
{
    return head_mt(self, c, repo, ref, digest_out, media_type_out, err);
}

/* Like a registry: refused unless every blob and child is there. */
static int mr_manifest_put(void *self, it_regclient *c, const char *repo,
                           const char *ref, const reg_manifest *man,
                           reg_error *err)
{
    memreg *m = self;
    mr_client *mc = (mr_client *)c;
    int rc = enter(m, MR_MANIFEST_PUT, mc, mc->host, repo, ref, err);
    if (rc)
        return rc;
    pthread_mutex_lock(&m->lock);
    mr_repo *r = repo_get(m, mc->host, repo, true);
    for (size_t i = 0; i < man->n_blobs && !rc; i++)
        if (!reg_descriptor_foreign(&man->blobs[i]) &&
            !blob_find(r, man->blobs[i].digest))
            rc = reg_error_set(err, REG_ENOTFOUND, "blob unknown");
    for (size_t i = 0; i < man->n_children && !rc; i++)
        if (!manifest_find(r, man->children[i].digest))
            rc = reg_error_set(err, REG_ENOTFOUND, "child manifest unknown");
    if (rc && err)
        snprintf(err->registry_code, sizeof(err->registry_code),
                 "MANIFEST_BLOB_UNKNOWN");
    char digest[72];
    if (!rc)
        store_manifest(r, ref, man->media_type, man->body, man->len, digest);
    pthread_mutex_unlock(&m->lock);
    return rc;
}

/* Caller holds the lock: a copy of the tags of host/repo, or NULL when
 * the repository does not exist. */
static char **tags_copy(memreg *m, const char *host, const char *repo,
                        size_t *n)
{
    mr_repo *r = repo_get(m, host, repo, false);
    if (!r)
        return NULL;
    char **v = calloc(r->ntags + 1, sizeof(char *));
    if (!v)
        abort();
    for (size_t i = 0; i < r->ntags; i++)
        v[i] = dup0(r->tags[i].name);
    *n = r->ntags;
    return v;
}

static int mr_tags_each(void *self, it_regclient *c, const char *repo,
                        const reg_list_limits *lim, reg_list_fn fn,
                        void *payload, reg_error *err)
{
    (void)lim;
    memreg *m = self;
    mr_client *mc = (mr_client *)c;
    int rc = enter(m, MR_TAGS_EACH, mc, mc->host, repo, NULL, err);
    if (rc)
        return rc;
    size_t n = 0;
    pthread_mutex_lock(&m->lock);
    char **v = tags_copy(m, mc->host, repo, &n);
    pthread_mutex_unlock(&m->lock);
    if (!v)
        return reg_error_set(err, REG_ENOTFOUND, "name unknown");
    /* pages of two tags, called without the lock */
    for (size_t i = 0; i < n && !rc; i += 2)
        if (fn(payload, v + i, n - i < 2 ? n - i : 2) != 0)
            rc = reg_error_set(err, REG_ECANCELED, "listing stopped");
    reg_strv_free(v);
    return rc;
}

static int mr_tags_list(void *self, char ***out, it_regclient *c,
                        const char *repo, reg_error *err)
{
    memreg *m = self;
    mr_client *mc = (mr_client *)c;
    *out = NULL;
    int rc = enter(m, MR_TAGS_LIST, mc, mc->host, repo, NULL, err);
    if (rc)
        return rc;
    size_t n = 0;
    pthread_mutex_lock(&m->lock);
    *out = tags_copy(m, mc->host, repo, &n);
    pthread_mutex_unlock(&m->lock);
    return *out ? 0 : reg_error_set(err, REG_ENOTFOUND, "name unknown");
}

static int mr_blob_exists(void *self, it_regclient *c, const char *repo,
                          const char *digest, reg_error *err)
{
    memreg *m = self;
    mr_client *mc = (mr_client *)c;
    int rc = enter(m, MR_BLOB_EXISTS, mc, mc->host, repo, digest, err);
    if (rc)
        return rc;
    pthread_mutex_lock(&m->lock);
    bool has = blob_find(repo_get(m, mc->host, repo, false), digest) != NULL;
    pthread_mutex_unlock(&m->lock);
    return has ? 0 : reg_error_set(err, REG_ENOTFOUND, "blob unknown");
}

static int mr_blob_mount(void *self, it_regclient *c, const char *repo,
                         const char *digest, const char *from_repo,
                         reg_error *err)
{
    memreg *m = self;
    mr_client *mc = (mr_client *)c;
    int rc = enter(m, MR_BLOB_MOUNT, mc, mc->host, repo, digest, err);
    if (rc)
        return rc;
    pthread_mutex_lock(&m->lock);
    mr_blob *b = blob_find(repo_get(m, mc->host, from_repo, false), digest);
    if (b)
        blob_put(repo_get(m, mc->host, repo, true), digest, b->size);
    pthread_mutex_unlock(&m->lock);
    return b ? 0 : reg_error_set(err, REG_ENOTFOUND, "not mounted (202)");
}

static int mr_blob_get(void *self, unsigned char **out, size_t *len_out,
                       it_regclient *c, const char *repo, const char *digest,
                       size_t max_len, reg_error *err)
{
    memreg *m = self;
    mr_client *mc = (mr_client *)c;
    *out = NULL;
    *len_out = 0;
    int rc = enter(m, MR_BLOB_GET, mc, mc->host, repo, digest, err);
    if (rc)
        return rc;
    pthread_mutex_lock(&m->lock);
    mr_blob *b = blob_find(repo_get(m, mc->host, repo, false), digest);
    /* bytes given with memreg_blob_data, else the blob's name (memreg_blob),
     * else "{}" */
    const char *data = b && b->bytes ? b->bytes : "{}";
    for (size_t i = 0; b && i < m->ndata; i++)
        if (strcmp(m->data[i].digest, digest) == 0)
            data = m->data[i].bytes;
    char *bytes = b ? strdup(data) : NULL;
    pthread_mutex_unlock(&m->lock);
    if (!bytes)
        return reg_error_set(err, REG_ENOTFOUND, "blob unknown");
    if (strlen(bytes) > max_len) {
        free(bytes);
        return reg_error_set(err, REG_EINVAL, "blob too large");
    }
    *len_out = strlen(bytes);
    *out = (unsigned char *)bytes;
    return 0;
}

static int mr_blob_copy(void *self, it_regclient *src, const char *src_repo,
                        it_regclient *dst, const char *dst_repo,
                        const reg_descriptor *d, const reg_copy_opts *opts,
                        reg_error *err)
{
    memreg *m = self;
    mr_client *sc = (mr_client *)src, *dc = (mr_client *)dst;
    int64_t partial = 0;
    /* fewer round trips: the mount (counted as MR_BLOB_MOUNT) is the
     * upload start; a refused one falls back to the copy, a transient
     * failure fails the call (reg_copy_opts.mount_from) */
    if (opts && opts->mount_from) {
        int mrc = mr_blob_mount(self, dst, dst_repo, d->digest,
                                opts->mount_from, err);
        if (mrc == 0 && opts->mounted)
            *opts->mounted = true;
        if (mrc == 0 || mrc == REG_ERETRY || mrc == REG_ECANCELED)
            return mrc;
        reg_error_clear(err);
    }
    /* resume across restarts: the session handed in is remembered, and a
     * session of this copy reported (held: half the blob) before the
     * outcome, like one confirmed PATCH; over when the blob lands */
    if (opts && opts->resume_url) {
        pthread_mutex_lock(&m->lock);
        free(m->last_resume_url);
        m->last_resume_url = dup0(opts->resume_url);
        pthread_mutex_unlock(&m->lock);
    }
    if (opts && opts->on_session) {
        char url[512];
        snprintf(url, sizeof(url), "http://%s/v2/%s/blobs/uploads/mem",
                 dc->host, dst_repo);
        opts->on_session(opts->payload, url, d->size / 2);
    }
    int rc = enter_partial(m, MR_BLOB_COPY, dc, dc->host, dst_repo, d->digest,
                           &partial, err);
    if (rc && partial > 0 && opts && opts->progress)
        opts->progress(opts->payload, partial); /* then the copy breaks */
    if (rc)
        return rc;
    pthread_mutex_lock(&m->lock);
    mr_blob *b = blob_find(repo_get(m, sc->host, src_repo, false), d->digest);
    int64_t size = b ? b->size : 0;
    pthread_mutex_unlock(&m->lock);
    if (!b)
        return reg_error_set(err, REG_ENOTFOUND, "source blob unknown");
    if (opts && opts->cancel && *opts->cancel)
        return reg_error_set(err, REG_ECANCELED, "canceled");
    if (opts && opts->progress)
        opts->progress(opts->payload, size);
    pthread_mutex_lock(&m->lock);
    blob_put(repo_get(m, dc->host, dst_repo, true), d->digest, size);
    pthread_mutex_unlock(&m->lock);
    if (opts && opts->on_session)
        opts->on_session(opts->payload, NULL, 0);
    return 0;
}

/* issue 13: the referrers API, answered from the manifests of host/repo
 * whose subject is digest. */
static int mr_referrers_api(void *self, reg_referrers **out, it_regclient *c,
                            const char *repo, const char *digest,
                            reg_error *err)
{
    memreg *m = self;
    mr_client *mc = (mr_client *)c;
    *out = NULL;
    int rc = enter(m, MR_REFERRERS, mc, mc->host, repo, digest, err);
    if (rc)
        return rc;
    pthread_mutex_lock(&m->lock);
    bool serves = false;
    for (size_t i = 0; i < m->nreferrer_hosts; i++)
        serves |= strcmp(m->referrer_hosts[i], mc->host) == 0;
    reg_referrers *list = serves ? calloc(1, sizeof(*list)) : NULL;
    mr_repo *r = repo_get(m, mc->host, repo, false);
    for (size_t i = 0; list && r && i < r->nmanifests && !rc; i++) {
        mr_manifest *mm = &r->manifests[i];
        reg_manifest *pm = NULL;
        if (reg_manifest_parse(&pm, mm->media_type, mm->body, mm->len, NULL) ==
                0 &&
            pm->subject && strcmp(pm->subject->digest, digest) == 0) {
            reg_referrer x = {.digest = mm->digest,
                              .media_type = mm->media_type,
                              .size = (int64_t)mm->len};
            rc = reg_referrers_add(list, &x, REG_REFERRERS_MAX, err);
        }
        reg_manifest_free(pm);
    }
    pthread_mutex_unlock(&m->lock);
    if (!serves) {
        rc = reg_error_set(err, REG_EUNSUPPORTED, "referrers API: 404");
        if (err)
            err->http_status = 404;
    }
    if (rc)
        reg_referrers_free(list);
    else
        *out = list;
    return rc;
}

/* whole namespaces and pruning (14C) */
static int mr_repos_each(void *self, it_regclient *c, const char *prefix,
                         const reg_list_limits *lim, reg_list_fn fn,
                         void *payload, bool *used_harbor, reg_error *err)
{
    (void)lim;
    memreg *m = self;
    mr_client *mc = (mr_client *)c;
    if (used_harbor)
        *used_harbor = false;
    int rc = enter(m, MR_REPOS_EACH, mc, mc->host, NULL, prefix, err);
    if (rc)
        return rc;
    pthread_mutex_lock(&m->lock);
    char **v = calloc(m->nrepos + 1, sizeof(char *));
    size_t n = 0;
    if (!v)
        abort();
    for (size_t i = 0; i < m->nrepos; i++)
        if (strcmp(m->repos[i].host, mc->host) == 0 &&
            reg_repo_below(m->repos[i].name, prefix))
            v[n++] = dup0(m->repos[i].name);
    pthread_mutex_unlock(&m->lock);
    /* pages of two names, called without the lock */
    for (size_t i = 0; i < n && !rc; i += 2)
        if (fn(payload, v + i, n - i < 2 ? n - i : 2) != 0)
            rc = reg_error_set(err, REG_ECANCELED, "listing stopped");
    reg_strv_free(v);
    return rc;
}

static int mr_manifest_delete(void *self, it_regclient *c, const char *repo,
                              const char *ref, reg_error *err)
{
    memreg *m = self;
    mr_client *mc = (mr_client *)c;
    int rc = enter(m, MR_MANIFEST_DELETE, mc, mc->host, repo, ref, err);
    if (rc)
        return rc;
    pthread_mutex_lock(&m->lock);
    mr_repo *r = repo_get(m, mc->host, repo, false);
    bool by_digest = strncmp(ref, "sha256:", 7) == 0;
    bool found =
        by_digest ? manifest_find(r, ref) != NULL : tag_find(r, ref) != NULL;
    for (size_t i = 0; found && i < r->ntags;) {
        if (by_digest ? strcmp(r->tags[i].digest, ref) == 0
                      : strcmp(r->tags[i].name, ref) == 0) {
            free(r->tags[i].name);
            r->tags[i] = r->tags[--r->ntags];
        } else {
            i++;
        }
    }
    pthread_mutex_unlock(&m->lock);
    return found ? 0 : reg_error_set(err, REG_ENOTFOUND, "manifest unknown");
}

void memreg_repo(memreg *m, const char *host, const char *repo)
{
    pthread_mutex_lock(&m->lock);
    repo_get(m, host, repo, true);
    pthread_mutex_unlock(&m->lock);
}

static void put_json(memreg *m, const char *host, const char *repo,
                     const char *tag, const char *mt, const char *json,
                     char digest_out[72]);

void memreg_blob_data(memreg *m, const char *host, const char *repo,
                      const char *bytes, char digest_out[72])
{
    size_t len = strlen(bytes);
    reg_sha256_digest(digest_out, bytes, len);
    pthread_mutex_lock(&m->lock);
    blob_put(repo_get(m, host, repo, true), digest_out, (int64_t)len);
    m->data = grow(m->data, &m->ndata, sizeof(*m->data));
    snprintf(m->data[m->ndata - 1].digest, 72, "%s", digest_out);
    m->data[m->ndata - 1].bytes = dup0(bytes);
    m->data[m->ndata - 1].len = len;
    pthread_mutex_unlock(&m->lock);
}

void memreg_manifest(memreg *m, const char *host, const char *repo,
                     const char *tag, const char *media_type, const char *json,
                     char digest_out[72])
{
    put_json(m, host, repo, tag, media_type, json, digest_out);
}

char *memreg_last_resume_url(memreg *m)
{
    pthread_mutex_lock(&m->lock);
    char *u = m->last_resume_url ? dup0(m->last_resume_url) : NULL;
    pthread_mutex_unlock(&m->lock);
    return u;
}

/* ----------------------------------------------------------- the test API */

memreg *memreg_new(void)
{
    memreg *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    pthread_mutex_init(&m->lock, NULL);
    m->ops.self = m;
    m->ops.client_new = mr_client_new;
    m->ops.client_free = mr_client_free;
    m->ops.client_host = mr_client_host;
    m->ops.manifest_get = mr_manifest_get;
    m->ops.manifest_head = mr_manifest_head;
    m->ops.manifest_put = mr_manifest_put;
    m->ops.tags_each = mr_tags_each;
    m->ops.tags_list = mr_tags_list;
    m->ops.blob_exists = mr_blob_exists;
    m->ops.blob_mount = mr_blob_mount;
    m->ops.blob_copy = mr_blob_copy;
    m->ops.referrers_api = mr_referrers_api;
    m->ops.repos_each = mr_repos_each;             /* 14C */
    m->ops.manifest_delete = mr_manifest_delete;   /* 14C */
    m->ops.blob_get = mr_blob_get;                 /* issue 14 */
    m->ops.manifest_head_mt = mr_manifest_head_mt; /* --verify */
    return m;
}

void memreg_free(memreg *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nrepos; i++) {
        mr_repo *r = &m->repos[i];
        for (size_t j = 0; j < r->ntags; j++)
            free(r->tags[j].name);
        for (size_t j = 0; j < r->nmanifests; j++) {
            free(r->manifests[j].media_type);
            free(r->manifests[j].body);
        }
        for (size_t j = 0; j < r->nblobs; j++)
            free(r->blobs[j].bytes);
        free(r->tags);
        free(r->manifests);
        free(r->blobs);
        free(r->host);
        free(r->name);
    }
    free(m->repos);
    free(m->last_resume_url);
    for (size_t i = 0; i < m->ncalls; i++) {
        free(m->calls[i].host);
        free(m->calls[i].repo);
        free(m->calls[i].ref);
    }
    free(m->calls);
    for (size_t i = 0; i < m->nfails; i++) {
        free(m->fails[i].host);
        free(m->fails[i].repo);
        free(m->fails[i].ref);
    }
    free(m->fails);
    for (size_t i = 0; i < m->nreferrer_hosts; i++)
        free(m->referrer_hosts[i]);
    free(m->referrer_hosts);
    for (size_t i = 0; i < m->ndata; i++)
        free(m->data[i].bytes);
    free(m->data);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

const it_regops *memreg_ops(memreg *m)
{
    return &m->ops;
}

void memreg_blob(memreg *m, const char *host, const char *repo,
                 const char *name, int64_t size, char digest_out[72])
{
    reg_sha256_digest(digest_out, name, strlen(name));
    pthread_mutex_lock(&m->lock);
    mr_repo *r = repo_get(m, host, repo, true);
    blob_put(r, digest_out, size);
    mr_blob *b = blob_find(r, digest_out);
    if (!b->bytes && !(b->bytes = strdup(name)))
        abort();
    pthread_mutex_unlock(&m->lock);
}

static void put_json(memreg *m, const char *host, const char *repo,
                     const char *tag, const char *mt, const char *json,
                     char digest_out[72])
{
    pthread_mutex_lock(&m->lock);
    store_manifest(repo_get(m, host, repo, true), tag, mt, json, strlen(json),
                   digest_out);
    pthread_mutex_unlock(&m->lock);
}

static int64_t blob_size(memreg *m, const char *host, const char *repo,
                         const char *digest)
{
    pthread_mutex_lock(&m->lock);
    mr_blob *b = blob_find(repo_get(m, host, repo, false), digest);
    int64_t size = b ? b->size : 0;
    pthread_mutex_unlock(&m->lock);
    return size;
}

void memreg_image(memreg *m, const char *host, const char *repo,
                  const char *tag, const char *const *blobs, size_t n,
                  char digest_out[72])
{
    char json[8192];
    size_t off = (size_t)snprintf(
        json, sizeof(json),
        "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{\"mediaType\":"
        "\"application/vnd.oci.image.config.v1+json\",\"digest\":\"%s\","
        "\"size\":%lld},\"layers\":[",
        REG_MT_OCI_MANIFEST, blobs[0],
        (long long)blob_size(m, host, repo, blobs[0]));
    for (size_t i = 1; i < n && off < sizeof(json); i++)
        off += (size_t)snprintf(
            json + off, sizeof(json) - off,
            "%s{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\","
            "\"digest\":\"%s\",\"size\":%lld}",
            i > 1 ? "," : "", blobs[i],
            (long long)blob_size(m, host, repo, blobs[i]));
    if (off < sizeof(json))
        snprintf(json + off, sizeof(json) - off, "]}");
    put_json(m, host, repo, tag, REG_MT_OCI_MANIFEST, json, digest_out);
}

void memreg_index(memreg *m, const char *host, const char *repo,
                  const char *tag, const char *const *children, size_t n,
                  char digest_out[72])
{
    static const char *const arch[] = {"amd64", "arm64", "s390x", "ppc64le"};
    char json[8192];
    size_t off = (size_t)snprintf(json, sizeof(json),
                                  "{\"schemaVersion\":2,\"mediaType\":\"%s\","
                                  "\"manifests\":[",
                                  REG_MT_OCI_INDEX);
    for (size_t i = 0; i < n && off < sizeof(json); i++) {
        pthread_mutex_lock(&m->lock);
        mr_manifest *mm =
            manifest_find(repo_get(m, host, repo, false), children[i]);
        size_t len = mm ? mm->len : 0;
        pthread_mutex_unlock(&m->lock);
        off += (size_t)snprintf(
            json + off, sizeof(json) - off,
            "%s{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu,"
            "\"platform\":{\"os\":\"linux\",\"architecture\":\"%s\"}}",
            i ? "," : "", REG_MT_OCI_MANIFEST, children[i], len, arch[i % 4]);
    }
    if (off < sizeof(json))
        snprintf(json + off, sizeof(json) - off, "]}");
    put_json(m, host, repo, tag, REG_MT_OCI_INDEX, json, digest_out);
}

bool memreg_has_blob(memreg *m, const char *host, const char *repo,
                     const char *digest)
{
    pthread_mutex_lock(&m->lock);
    bool has = blob_find(repo_get(m, host, repo, false), digest) != NULL;
    pthread_mutex_unlock(&m->lock);
    return has;
}

bool memreg_has_manifest(memreg *m, const char *host, const char *repo,
                         const char *digest)
{
    pthread_mutex_lock(&m->lock);
    bool has = manifest_find(repo_get(m, host, repo, false), digest) != NULL;
    pthread_mutex_unlock(&m->lock);
    return has;
}

void memreg_tag_digest(memreg *m, const char *host, const char *repo,
                       const char *tag, char out[72])
{
    pthread_mutex_lock(&m->lock);
    const char *d = tag_find(repo_get(m, host, repo, false), tag);
    snprintf(out, 72, "%s", d ? d : "");
    pthread_mutex_unlock(&m->lock);
}

static bool call_matches(const mr_call *c, memreg_op op, const char *host,
                         const char *repo, const char *ref)
{
    return c->op == op && match(host, c->host) && match(repo, c->repo) &&
           match(ref, c->ref);
}

long memreg_calls(memreg *m, memreg_op op, const char *host, const char *repo,
                  const char *ref)
{
    long n = 0;
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->ncalls; i++)
        n += call_matches(&m->calls[i], op, host, repo, ref);
    pthread_mutex_unlock(&m->lock);
    return n;
}

long memreg_first_call(memreg *m, memreg_op op, const char *host,
                       const char *repo, const char *ref)
{
    long pos = -1;
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->ncalls && pos < 0; i++)
        if (call_matches(&m->calls[i], op, host, repo, ref))
            pos = (long)i;
    pthread_mutex_unlock(&m->lock);
    return pos;
}

void memreg_fail(memreg *m, memreg_op op, const char *host, const char *repo,
                 const char *ref, int rc, long status, int times)
{
    memreg_fail_partial(m, op, host, repo, ref, rc, status, times, 0);
}

void memreg_fail_partial(memreg *m, memreg_op op, const char *host,
                         const char *repo, const char *ref, int rc, long status,
                         int times, int64_t partial)
{
    pthread_mutex_lock(&m->lock);
    m->fails = grow(m->fails, &m->nfails, sizeof(*m->fails));
    mr_fail *f = &m->fails[m->nfails - 1];
    f->op = op;
    f->host = dup0(host);
    f->repo = dup0(repo);
    f->ref = dup0(ref);
    f->rc = rc;
    f->status = status;
    f->times = times;
    f->partial = partial;
    pthread_mutex_unlock(&m->lock);
}

void memreg_set_hook(memreg *m, memreg_hook_fn fn, void *payload)
{
    pthread_mutex_lock(&m->lock);
    m->hook = fn;
    m->hook_payload = payload;
    pthread_mutex_unlock(&m->lock);
}

void memreg_put(memreg *m, const char *host, const char *repo, const char *tag,
                const char *mt, const char *json, char digest_out[72])
{
    put_json(m, host, repo, tag, mt, json, digest_out);
}

void memreg_serve_referrers(memreg *m, const char *host)
{
    pthread_mutex_lock(&m->lock);
    m->referrer_hosts =
        grow(m->referrer_hosts, &m->nreferrer_hosts, sizeof(char *));
    m->referrer_hosts[m->nreferrer_hosts - 1] = dup0(host);
    pthread_mutex_unlock(&m->lock);
}

/* --verify tests (issue 13): damage a registry behind the engine's back. */
void memreg_drop_blob(memreg *m, const char *host, const char *repo,
                      const char *digest)
{
    pthread_mutex_lock(&m->lock);
    mr_repo *r = repo_get(m, host, repo, false);
    mr_blob *b = blob_find(r, digest);
    if (b) {
        *b = r->blobs[r->nblobs - 1];
        r->nblobs--;
    }
    pthread_mutex_unlock(&m->lock);
}

void memreg_drop_manifest(memreg *m, const char *host, const char *repo,
                          const char *digest)
{
    pthread_mutex_lock(&m->lock);
    mr_repo *r = repo_get(m, host, repo, false);
    mr_manifest *mm = manifest_find(r, digest);
    if (mm) {
        free(mm->media_type);
        free(mm->body);
        *mm = r->manifests[r->nmanifests - 1];
        r->nmanifests--;
    }
    pthread_mutex_unlock(&m->lock);
}
