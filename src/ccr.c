/* ccr.c - the CCR -> TCR planner. */
#include "ccr.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "registry.h"
#include "retry.h"
#include "shard.h"
#include "tc_creds.h"
#include "tencentcloud.h"
#include "text.h"

struct it_ccr {
    it_ccr_opts o;     /* copied; strings borrowed */
    FILE *plan_out;    /* --dry-run lines (the program's stdout writer) */
    it_tc_creds *keys; /* where the API keys came from (tc_creds.h) */
    tc_client *ccr;
    tc_client *tcr;
    char *src_host;    /* CCR registry host */
    char *dst_host;    /* TCR registry host, known after the lookup */
    char *registry_id; /* TCR instance id, known after the lookup */
    char target_desc[256];
    const it_secrets
        *logins; /* borrowed: registry-secret.yaml + Docker config, to know */
                 /* whether the TCR host needs an instance token */
    /* The token the planner fetched up front (to fail fast with exit 3),
     * handed to the engine's first credential request; NULL after. */
    tc_instance_token *first_token;
    pthread_mutex_t lock;  /* dst_host, registry_id, first_token, counts */
    it_progress *progress; /* set by it_ccr_feed, for the prep lines */
    long repos_listed, repos_tagged, tags_total;
    long repos_seen;      /* listed by the API, this shard's or not */
    int listing_error;    /* IT_CCR_EAUTH met while listing tags */
    bool warned_exp_time; /* the implausible-ExpTime warning was given */
};

/* The engine asks for new credentials this long before the expiry it
 * was given (engine.h, it_creds_fn). */
#define ENGINE_RENEW_MARGIN_S 300

/* A TCR instance id as the API shows them ("tcr-dg284imq"): 1 to 64
 * letters, digits, '-' or '_'. */
static bool valid_registry_id(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    return n > 0 && n <= 64 &&
           strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                      "0123456789-_") == n;
}

/* A registry host[:port] (the reference grammar's domain), checked by
 * parsing "host/x" as an image reference. */
static bool valid_host(const char *host)
{
    if (!host || !*host || strlen(host) > 255 || strchr(host, '/'))
        return false;
    char ref[300];
    snprintf(ref, sizeof(ref), "%s/x", host);
    reg_ref *r = NULL;
    reg_error rerr = {0};
    bool ok = reg_ref_parse(&r, ref, &rerr) == 0 &&
              strcmp(r->domain, reg_canonical_host(host)) == 0;
    reg_ref_free(r);
    return ok;
}

/* A CCR namespace name the registries accept: one path component. */
static bool valid_namespace(const char *ns)
{
    return ns && strchr(ns, '/') == NULL && reg_valid_path(ns);
}

static int new_client(tc_client **out, const it_ccr_opts *o, it_tc_creds *k,
                      bool tcr_side, const char *region, tc_error *err)
{
    tc_client_opts co = {0};
    co.endpoint = o->tc_endpoint;
    co.region = region;
    it_tc_creds_client_opts(k, tcr_side, &co);
    co.max_retries = -1;
    co.ca_file = o->ca_file;
    co.max_items = (size_t)o->max_tags;
    co.max_pages = (size_t)o->max_pages;
    return tc_client_new(out, &co, err);
}

int it_ccr_new(it_ccr **out, const it_ccr_opts *o, const it_secrets *logins,
               it_errbuf *err)
{
    tc_error terr = {0};
    *out = NULL;
    if (!o->tcr_name || !*o->tcr_name) {
        snprintf(err->msg, sizeof(err->msg),
                 "--tcrName is required with --ccrToTcr=true");
        return IT_CCR_ECONFIG;
    }
    it_ccr *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err->msg, sizeof(err->msg), "out of memory");
        return IT_CCR_ECONFIG;
    }
    pthread_mutex_init(&c->lock, NULL);
    c->o = *o;
    c->logins = logins;
    it_tc_creds_opts ko = {
        .secret_file = o->secret_file,
        .profile = o->tc_profile,
        .ca_file = o->ca_file,
    };
    int krc = it_tc_creds_resolve(&c->keys, &ko, err);
    if (krc != 0) {
        it_ccr_free(c);
        return krc == IT_TC_CREDS_EAUTH ? IT_CCR_EAUTH : IT_CCR_ECONFIG;
    }
    log_info("Tencent Cloud credentials: %s", it_tc_creds_describe(c->keys));
    const char *src = o->ccr_registry;
    if (!src || !*src)
        src = tc_ccr_registry_host(o->ccr_region);
    if (!src) {
        snprintf(err->msg, sizeof(err->msg),
                 "--ccrRegion %s: unknown region (expected e.g. ap-guangzhou, "
                 "ap-hongkong, ap-singapore; or give --ccr-registry=HOST)",
                 o->ccr_region);
        goto fail;
    }
    c->src_host = strdup(src);
    snprintf(c->target_desc, sizeof(c->target_desc), "TCR %s (%s)", o->tcr_name,
             o->tcr_region);
    if (new_client(&c->ccr, o, c->keys, false, o->ccr_region, &terr) != 0 ||
        new_client(&c->tcr, o, c->keys, true, o->tcr_region, &terr) != 0) {
        snprintf(err->msg, sizeof(err->msg), "Tencent Cloud API client: %s",
                 terr.message);
        goto fail;
    }
    *out = c;
    return 0;
fail:
    it_ccr_free(c);
    return IT_CCR_ECONFIG;
}

void it_ccr_set_plan_out(it_ccr *c, FILE *f)
{
    c->plan_out = f;
}

void it_ccr_free(it_ccr *c)
{
    if (!c)
        return;
    tc_client_free(c->ccr);
    tc_client_free(c->tcr);
    it_tc_creds_free(c->keys);
    tc_instance_token_free(c->first_token);
    free(c->src_host);
    free(c->dst_host);
    free(c->registry_id);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

const char *it_ccr_source_desc(const it_ccr *c)
{
    return c->src_host;
}

const char *it_ccr_target_desc(const it_ccr *c)
{
    return c->target_desc;
}

/* The expiry (Unix seconds) the engine is given for a token. A lifetime
 * that was assumed (the API's ExpTime made no sense: 5 minutes from the
 * fetch) is when to renew, so the engine, which renews
 * ENGINE_RENEW_MARGIN_S before the expiry it is given, is given that much
 * more: it uses the token for those 5 minutes, then asks again (instead
 * of asking for every task). */
static int64_t engine_expiry(const tc_instance_token *tok)
{
    int64_t exp = tok->exp_time_ms / 1000;
    return tok->exp_time_assumed ? exp + ENGINE_RENEW_MARGIN_S : exp;
}

/* One warning per run for a token whose ExpTime made no sense. */
static void note_token(it_ccr *c, const tc_instance_token *tok,
                       const char *host)
{
    pthread_mutex_lock(&c->lock);
    bool warn = tok->exp_time_assumed && !c->warned_exp_time;
    if (warn)
        c->warned_exp_time = true;
    pthread_mutex_unlock(&c->lock);
    if (warn)
        log_warn("CreateInstanceToken for %s: the API's ExpTime is not a "
                 "plausible time in the future in milliseconds; taking the "
                 "login as valid for 5 minutes (a new one is fetched every "
                 "5 minutes)",
                 host);
}

/* Hands the token in *tok to the engine: malloc'd copies, expiry in
 * seconds. Returns 0 or -1 (out of memory). */
static int give_token(const tc_instance_token *tok, char **username,
                      char **password, int64_t *expires_at)
{
    *username = strdup(tok->username ? tok->username : "");
    *password = strdup(tok->token ? tok->token : "");
    *expires_at = engine_expiry(tok);
    if (!*username || !*password) {
        free(*username);
        free(*password);
        *username = *password = NULL;
        return -1;
    }
    return 0;
}

int it_ccr_creds(void *payload, const char *host, char **username,
                 char **password, int64_t *expires_at)
{
    it_ccr *c = payload;
    tc_error terr = {0};
    tc_instance_token *tok = NULL;
    pthread_mutex_lock(&c->lock);
    bool ours = c->dst_host && strcmp(host, c->dst_host) == 0;
    char *id = ours && c->registry_id ? strdup(c->registry_id) : NULL;
    if (ours) {
        /* The planner's token serves the first request, unless the
         * engine would renew it within a minute. */
        tok = c->first_token;
        c->first_token = NULL;
    }
    pthread_mutex_unlock(&c->lock);
    if (!id) {
        tc_instance_token_free(tok);
        return -1;
    }
    if (tok && engine_expiry(tok) - (int64_t)time(NULL) <=
                   ENGINE_RENEW_MARGIN_S + 60) {
        tc_instance_token_free(tok);
        tok = NULL;
    }
    int rc = 0;
    if (!tok)
        rc = tc_tcr_create_instance_token(&tok, c->tcr, id, &terr);
    free(id);
    if (rc != 0) {
        log_error("CreateInstanceToken for %s: %s", host, terr.message);
        return -1;
    }
    it_log_add_secret(tok->token);
    note_token(c, tok, host);
    rc = give_token(tok, username, password, expires_at);
    if (rc == 0)
        log_info("obtained a temporary login for %s (user %s)", host,
                 *username);
    tc_instance_token_free(tok);
    return rc;
}

/* Turns an API failure into a message and a typed error (IT_CCR_EAUTH or
 * IT_CCR_EAPI): authentication
 * problems name the key and say what to check; other ones add `check`
 * (NULL = nothing). The client's message already carries the action, the
 * API code, the RequestId and (for auth failures) the SecretId; they are
 * added here only when it does not. */
static int api_failure(const it_ccr *c, const char *what, const char *side,
                       const tc_client *client, const tc_error *terr,
                       const char *check)
{
    const char *id = tc_client_secret_id(client);
    bool has_rid = terr->request_id[0] == '\0' ||
                   strstr(terr->message, terr->request_id) != NULL;
    if (terr->code == TC_EAUTH) {
        /* a role's temporary SecretId (id NULL) is in the message */
        bool has_id = id == NULL || strstr(terr->message, id) != NULL;
        const char *hint =
            strstr(terr->api_code, "SignatureExpire")
                ? " and that this machine's clock is right (the API allows "
                  "5 minutes of difference)"
                : "";
        char where[700];
        it_tc_source src = it_tc_creds_source(c->keys);
        if (src == IT_TC_SRC_SECRET_FILE || src == IT_TC_SRC_ENV)
            snprintf(where, sizeof where,
                     "the `%s:` secretId/secretKey in %s%s", side,
                     c->o.secret_file ? c->o.secret_file
                                      : "the --secretFile file",
                     c->o.secret_file ? ""
                                      : " (or TENCENTCLOUD_SECRET_ID / "
                                        "TENCENTCLOUD_SECRET_KEY)");
        else
            snprintf(where, sizeof where, "the credentials of the %s",
                     it_tc_creds_describe(c->keys));
        log_error("%s: the %s key%s%s%s was refused: %s%s%s%s. Check %s, "
                  "that the key may use TCR in region %s%s.",
                  what, side, has_id ? "" : " (SecretId ",
                  has_id ? "" : (id ? id : "?"), has_id ? "" : ")",
                  terr->message, has_rid ? "" : " (RequestId ",
                  has_rid ? "" : terr->request_id, has_rid ? "" : ")", where,
                  tc_client_region(client), hint);
        return IT_CCR_EAUTH;
    }
    log_error("%s: %s%s%s%s%s%s", what, terr->message,
              has_rid ? "" : " (RequestId ", has_rid ? "" : terr->request_id,
              has_rid ? "" : ")", check ? ". " : "", check ? check : "");
    return IT_CCR_EAPI;
}

/* An API failure that stops the planner: logged as api_failure() does
 * and, unless the key was refused (IT_CCR_EAUTH, which the run's result
 * line states), also entered as a failed entry (CCR host -> TCR instance,
 * with the reason) so that the summary and the report say what failed
 * instead of "nothing to copy". Returns the typed error. */
static int planner_failure(const it_ccr *c, it_engine *e, const char *what,
                           const char *side, const tc_client *client,
                           const tc_error *terr, const char *check)
{
    int code = api_failure(c, what, side, client, terr, check);
    if (code != IT_CCR_EAUTH) {
        char reason[900];
        snprintf(reason, sizeof(reason), "%s: %.700s", what, terr->message);
        it_engine_add_failed(e, c->src_host, c->target_desc, reason);
    }
    return code;
}

static bool has_ns(const tc_namespace *v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].name, name) == 0)
            return true;
    return false;
}

/* Newest first by push time ("YYYY-MM-DD hh:mm:ss" sorts as text). */
static int by_push_time_desc(const void *a, const void *b)
{
    const tc_image *x = a, *y = b;
    return strcmp(y->push_time ? y->push_time : "",
                  x->push_time ? x->push_time : "");
}

typedef struct ns_state {
    char **failed; /* namespaces that could not be created */
    char **reasons;
    size_t nfailed;
} ns_state;

static const char *ns_failure(const ns_state *s, const char *ns)
{
    for (size_t i = 0; i < s->nfailed; i++)
        if (strcmp(s->failed[i], ns) == 0)
            return s->reasons[i];
    return NULL;
}

static void ns_fail(ns_state *s, const char *ns, const char *reason)
{
    char **f = realloc(s->failed, (s->nfailed + 1) * sizeof(char *));
    if (!f)
        return;
    s->failed = f;
    char **r = realloc(s->reasons, (s->nfailed + 1) * sizeof(char *));
    if (!r)
        return;
    s->reasons = r;
    char *fn = strdup(ns), *rn = strdup(reason);
    if (!fn || !rn) {
        free(fn);
        free(rn);
        return;
    }
    s->failed[s->nfailed] = fn;
    s->reasons[s->nfailed] = rn;
    s->nfailed++;
}

static void ns_state_clear(ns_state *s)
{
    for (size_t i = 0; i < s->nfailed; i++) {
        free(s->failed[i]);
        free(s->reasons[i]);
    }
    free(s->failed);
    free(s->reasons);
}

/* The namespaces known to exist on TCR (or to be created by a dry run),
 * and those that could not be created. Used by the feeder thread only. */
typedef struct ns_known {
    char **names;
    size_t n, cap;
    size_t created, present;
} ns_known;

static bool known_has(const ns_known *k, const char *ns)
{
    for (size_t i = 0; i < k->n; i++)
        if (strcmp(k->names[i], ns) == 0)
            return true;
    return false;
}

static void known_add(ns_known *k, const char *ns)
{
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 32;
        char **v = realloc(k->names, cap * sizeof(char *));
        if (!v)
            return; /* forgetting only costs a conflict re-check later */
        k->names = v;
        k->cap = cap;
    }
    char *d = strdup(ns);
    if (d)
        k->names[k->n++] = d;
}

static void known_clear(ns_known *k)
{
    for (size_t i = 0; i < k->n; i++)
        free(k->names[i]);
    free(k->names);
    memset(k, 0, sizeof(*k));
}

typedef struct feed_ctx {
    it_ccr *c;
    it_engine *e;
    it_progress *p;
    const it_runctl *ctl;
    const char *reg_id;
    ns_known known;
    ns_state st;
    int rc;       /* it_ccr_err of a failure that stops the run */
    bool stopped; /* the run control stopped the listing */
} feed_ctx;

static void prep_namespaces(feed_ctx *f)
{
    char line[256];
    snprintf(line, sizeof(line), "%zu already in TCR, %zu %s, %zu failed",
             f->known.present, f->known.created,
             f->c->o.dry_run ? "to create" : "created", f->st.nfailed);
    it_progress_prep(f->p, "namespaces", line);
}

/* Confirming a namespace the API says exists: two more listings, about 1
 * and 2 s apart (equal jitter, so parallel shards do not ask in step). */
static const it_retry_policy ns_confirm_policy = {
    .max_retries = 2, .base_ms = 1000, .cap_ms = 2000};

/* Makes sure namespace ns exists on TCR, creating it (private unless
 * --tcr-namespace-public) when it does not. A namespace that cannot be
 * created goes into f->st and its repositories fail; an auth failure
 * stops the run (f->rc). */
static void ensure_namespace(feed_ctx *f, const char *ns)
{
    it_ccr *c = f->c;
    tc_error terr = {0};
    if (!ns || !*ns || known_has(&f->known, ns) || ns_failure(&f->st, ns))
        return;
    if (!valid_namespace(ns))
        return; /* never printed, created or used: see feed_page */
    if (c->o.dry_run) {
        if (c->plan_out)
            fprintf(c->plan_out, "create namespace %s (%s)\n", ns,
                    c->o.tcr_namespace_public ? "public" : "private");
        known_add(&f->known, ns);
        f->known.created++;
        prep_namespaces(f);
        return;
    }
    int r = tc_tcr_create_namespace(c->tcr, f->reg_id, ns,
                                    c->o.tcr_namespace_public, &terr);
    if (r == TC_ECONFLICT) {
        /* Someone (another shard, an earlier run) made it meanwhile:
         * confirm, giving a namespace created a moment ago a few seconds to
         * show in the listing. The API said it exists, so an unconfirmed
         * one is still taken as existing (a push into a namespace that
         * really is missing fails, and says so). */
        bool listed = false;
        int64_t delay_ms = 0;
        for (int retries = 0;; retries++) {
            if (retries > 0)
                it_retry_sleep(&ns_confirm_policy, delay_ms);
            tc_namespace *one = NULL;
            size_t n1 = 0;
            tc_error e2 = {0};
            if (tc_tcr_list_namespaces(&one, &n1, c->tcr, f->reg_id, ns, &e2) ==
                0)
                listed = has_ns(one, n1, ns);
            tc_namespaces_free(one, n1);
            /* not listed yet counts as transient, whatever the call said */
            if (listed || !it_retry_next(&ns_confirm_policy, retries, true, 0,
                                         -1, &delay_ms))
                break;
        }
        if (listed)
            log_info("TCR namespace %s already exists", ns);
        else
            log_warn("TCR says namespace %s already exists (%s) but does "
                     "not list it yet; going on as if it does",
                     ns, terr.api_code);
        known_add(&f->known, ns);
        f->known.present++;
        prep_namespaces(f);
        return;
    }
    if (r == TC_EAUTH) {
        f->rc =
            api_failure(c, "create TCR namespace", "tcr", c->tcr, &terr, NULL);
        return;
    }
    if (r != 0) {
        log_error("namespace %s could not be created: %s", ns, terr.message);
        ns_fail(&f->st, ns, terr.message);
    } else {
        log_info("created TCR namespace %s (%s)", ns,
                 c->o.tcr_namespace_public ? "public" : "private");
        known_add(&f->known, ns);
        f->known.created++;
    }
    prep_namespaces(f);
}

/* The namespaces the TCR instance has, then every CCR namespace created
 * where missing. With --shard=I/N only the namespaces whose name hashes to
 * shard I are created here (so every namespace, even an empty one, has
 * exactly one shard that creates it up front); a shard whose repositories
 * live in a namespace it does not own creates that one on demand in
 * feed_page, and a conflict with a shard running in parallel is re-checked
 * and accepted by ensure_namespace. Returns 0 or the it_ccr_err that stops
 * the run. */
static int sync_namespaces(feed_ctx *f)
{
    it_ccr *c = f->c;
    tc_error terr = {0};
    tc_namespace *cn = NULL, *tn = NULL;
    size_t ncn = 0, ntn = 0;
    int rc = 0;

    if (tc_ccr_list_namespaces(&cn, &ncn, c->ccr, &terr) != 0) {
        rc = planner_failure(c, f->e, "list CCR namespaces", "ccr", c->ccr,
                             &terr, NULL);
        goto out;
    }
    if (tc_tcr_list_namespaces(&tn, &ntn, c->tcr, f->reg_id, NULL, &terr) !=
        0) {
        rc = planner_failure(c, f->e, "list TCR namespaces", "tcr", c->tcr,
                             &terr, NULL);
        goto out;
    }
    for (size_t i = 0; i < ntn; i++)
        known_add(&f->known, tn[i].name);
    size_t owned = 0;
    for (size_t i = 0; i < ncn && f->rc == 0; i++) {
        if (!valid_namespace(cn[i].name)) {
            char name[400];
            it_escape(name, sizeof(name), cn[i].name);
            log_warn("DescribeNamespacePersonal listed \"%s\", which is "
                     "not a valid namespace name: not created (its "
                     "repositories fail)",
                     name);
            continue;
        }
        if (!it_shard_takes(&c->o.shard, cn[i].name))
            continue; /* another shard's, or created on demand */
        owned++;
        if (known_has(&f->known, cn[i].name) && has_ns(tn, ntn, cn[i].name))
            f->known.present++;
        else
            ensure_namespace(f, cn[i].name);
    }
    prep_namespaces(f);
    char shard_note[128] = "";
    if (c->o.shard.count > 0)
        snprintf(shard_note, sizeof(shard_note),
                 " (shard %u/%u looks after %zu of them, and any other "
                 "one its repositories need)",
                 c->o.shard.index, c->o.shard.count, owned);
    log_info("namespaces: %zu in CCR%s, %zu already in TCR, %zu %s, %zu "
             "failed",
             ncn, shard_note, f->known.present, f->known.created,
             c->o.dry_run ? "to create" : "created", f->st.nfailed);
    rc = f->rc;
out:
    tc_namespaces_free(cn, ncn);
    tc_namespaces_free(tn, ntn);
    return rc;
}

static void prep_repositories(it_ccr *c)
{
    char line[256];
    pthread_mutex_lock(&c->lock);
    long listed = c->repos_listed, tagged = c->repos_tagged;
    long tags = c->tags_total;
    long seen = c->repos_seen;
    pthread_mutex_unlock(&c->lock);
    /* Shown under the namespaces line: "Listed     120 repositories,
     * tags of 80: 950" (before the tag filters, whose cuts the dashboard
     * shows per repository); sharded:
     * "Listed     40 of 120 repositories in shard 1/3, tags of ...". */
    char repos[96];
    if (c->o.shard.count > 0)
        snprintf(repos, sizeof(repos), "%ld of %ld repositories in shard %u/%u",
                 listed, seen, c->o.shard.index, c->o.shard.count);
    else
        snprintf(repos, sizeof(repos), "%ld repositories", listed);
    snprintf(line, sizeof(line), "%s, tags of %ld: %ld", repos, tagged, tags);
    it_progress_prep(c->progress, "listed", line);
}

/* The tags of one repository as they stream in: names (and push times,
 * for --ccrTagNums), checked one by one. */
typedef struct tag_list {
    tc_image *v; /* only tag and push_time are set */
    size_t n, cap;
    char bad[400]; /* a tag name that is no valid tag, shown escaped */
    bool oom;
} tag_list;

static int collect_tags(void *payload, const tc_image *page, size_t n)
{
    tag_list *l = payload;
    for (size_t i = 0; i < n; i++) {
        if (!reg_valid_tag(page[i].tag)) {
            /* never part of a reference or a URL */
            it_escape(l->bad, sizeof(l->bad), page[i].tag);
            return 1;
        }
        if (l->n == l->cap) {
            size_t cap = l->cap ? 2 * l->cap : 64;
            tc_image *v = realloc(l->v, cap * sizeof(*v));
            if (!v) {
                l->oom = true;
                return 1;
            }
            l->v = v;
            l->cap = cap;
        }
        tc_image *t = &l->v[l->n];
        memset(t, 0, sizeof(*t));
        t->tag = strdup(page[i].tag);
        t->push_time = strdup(page[i].push_time ? page[i].push_time : "");
        l->n++; /* freed below even when a copy failed */
        if (!t->tag || !t->push_time) {
            l->oom = true;
            return 1;
        }
    }
    return 0;
}

/* The engine's tag lister for a CCR repository (runs in its workers):
 * DescribeImagePersonal page by page (capped, like every listing), each
 * tag name checked; with --latest (--ccrTagNums) sorted newest pushed
 * first, so that the engine keeps the first N survivors of the tag
 * filters (the pair says tags_newest_first). A failure (the API's, a cap,
 * an invalid tag name) fails this repository only. */
static int list_ccr_tags(void *payload, const char *repo, char ***out,
                         it_errbuf *err)
{
    it_ccr *c = payload;
    tc_error terr = {0};
    tag_list l = {0};
    char **v = NULL;
    int rc = -1;
    *out = NULL;
    if (tc_ccr_each_tag(c->ccr, repo, NULL, collect_tags, &l, &terr) != 0) {
        if (terr.code == TC_EAUTH) {
            int code =
                api_failure(c, "list CCR tags", "ccr", c->ccr, &terr, NULL);
            pthread_mutex_lock(&c->lock);
            c->listing_error = code;
            pthread_mutex_unlock(&c->lock);
        }
        snprintf(err->msg, sizeof(err->msg), "list tags: %.900s", terr.message);
        /* throttled or unreachable: worth a try in the final pass */
        rc = terr.code == TC_ERETRY ? IT_LIST_AGAIN : IT_LIST_FINAL;
        goto out;
    }
    rc = IT_LIST_FINAL; /* the failures below stay failures */
    if (l.oom) {
        snprintf(err->msg, sizeof(err->msg), "list tags: out of memory");
        goto out;
    }
    if (l.bad[0]) {
        snprintf(err->msg, sizeof(err->msg),
                 "list tags: DescribeImagePersonal listed \"%s\", which is "
                 "not a valid tag name: repository not copied",
                 l.bad);
        goto out;
    }
    size_t keep = l.n;
    if (c->o.ccr_tag_nums > 0 && l.n > 1)
        qsort(l.v, l.n, sizeof(*l.v), by_push_time_desc);
    v = calloc(keep + 1, sizeof(char *));
    if (!v) {
        snprintf(err->msg, sizeof(err->msg), "out of memory");
        goto out;
    }
    for (size_t k = 0; k < keep; k++) {
        v[k] = l.v[k].tag; /* moved */
        l.v[k].tag = NULL;
    }
    pthread_mutex_lock(&c->lock);
    c->repos_tagged++;
    c->tags_total += (long)keep;
    pthread_mutex_unlock(&c->lock);
    prep_repositories(c);
    *out = v;
    rc = 0;
out:
    tc_images_free(l.v, l.n);
    return rc;
}

/* One page of CCR repositories: queued at once (their tags are listed by
 * the engine's workers, in parallel with copying). Returns non-zero to
 * stop listing. */
static int feed_page(void *payload, const tc_repo *repos, size_t n)
{
    feed_ctx *f = payload;
    it_ccr *c = f->c;
    for (size_t i = 0; i < n; i++) {
        if (it_runctl_stopping(f->ctl)) {
            f->stopped = true;
            return 1;
        }
        if (f->rc != 0)
            return 1;
        const tc_repo *r = &repos[i];
        pthread_mutex_lock(&c->lock);
        c->repos_seen++;
        pthread_mutex_unlock(&c->lock);
        /* --shard: another shard's repository costs nothing more here, not
         * even the listing of its tags. */
        if (!it_shard_takes(&c->o.shard, r->full_name))
            continue;
        char src[1024], dst[1024];
        if (!reg_valid_path(r->full_name) ||
            !valid_namespace(r->namespace_name)) {
            /* A name no registry accepts (a control character, "..", too
             * long): never part of a request, a URL or a namespace; shown
             * escaped. */
            char name[400], reason[600];
            it_escape(name, sizeof(name), r->full_name);
            snprintf(src, sizeof(src), "%s/%s", c->src_host, name);
            snprintf(dst, sizeof(dst), "%s/%s", c->dst_host, name);
            snprintf(reason, sizeof(reason),
                     "DescribeRepositoryOwnerPersonal listed \"%s\", which "
                     "is not a valid repository name: not copied",
                     name);
            pthread_mutex_lock(&c->lock);
            c->repos_listed++;
            pthread_mutex_unlock(&c->lock);
            it_engine_add_failed(f->e, src, dst, reason);
            continue;
        }
        snprintf(src, sizeof(src), "%s/%s", c->src_host, r->full_name);
        snprintf(dst, sizeof(dst), "%s/%s", c->dst_host, r->full_name);
        /* A namespace the namespace list missed: create it now. */
        ensure_namespace(f, r->namespace_name);
        if (f->rc != 0)
            return 1;
        const char *why = ns_failure(&f->st, r->namespace_name);
        pthread_mutex_lock(&c->lock);
        c->repos_listed++;
        pthread_mutex_unlock(&c->lock);
        if (why) {
            char reason[700];
            snprintf(reason, sizeof(reason),
                     "namespace %s could not be created on TCR: %.600s",
                     r->namespace_name, why);
            it_engine_add_failed(f->e, src, dst, reason);
            continue;
        }
        it_pair pair = {0};
        pair.src_host = c->src_host;
        pair.src_repo = r->full_name;
        pair.dst_host = c->dst_host;
        pair.dst_repo = r->full_name;
        pair.list_tags = list_ccr_tags;
        pair.list_payload = c;
        /* the tag filters (issue 14): --latest by push time */
        pair.filter_tags = c->o.filter_tags;
        pair.filter_exclude = c->o.filter_exclude;
        pair.filter_semver = (char *)c->o.filter_semver;
        pair.filter_latest = c->o.ccr_tag_nums;
        pair.tags_newest_first = c->o.ccr_tag_nums > 0;
        /* TagCount, as --ccrTagNums will cut it: totals before listing */
        if (r->tag_count > 0 && r->tag_count < 1000000000)
            pair.tags_hint =
                c->o.ccr_tag_nums > 0 && r->tag_count > c->o.ccr_tag_nums
                    ? c->o.ccr_tag_nums
                    : (long)r->tag_count;
        /* it_engine_add_pair copies everything it keeps. */
        if (it_engine_add_pair(f->e, &pair) != 0)
            it_engine_add_failed(f->e, src, dst, "out of memory");
    }
    prep_repositories(c);
    return 0;
}

/* When no registry login covers the TCR host, fetches the first
 * instance token now, so that a key without CreateInstanceToken rights
 * stops the run (IT_CCR_EAUTH: exit 3) before anything is created or copied.
 * The token is kept for the engine's first request. Any other failure is only a
 * warning: the engine asks again when it needs the login. Returns 0 or
 * IT_CCR_EAUTH. */
static int check_token(it_ccr *c, const char *reg_id)
{
    tc_error terr = {0};
    tc_instance_token *tok = NULL;
    const it_cred *cred = it_secrets_find(c->logins, c->dst_host, NULL);
    if (cred && cred->username)
        return 0;
    if (tc_tcr_create_instance_token(&tok, c->tcr, reg_id, &terr) != 0) {
        if (terr.code != TC_EAUTH) {
            log_warn("no login for %s yet (will retry): %s", c->dst_host,
                     terr.message);
            return 0;
        }
        char what[300];
        snprintf(what, sizeof(what),
                 "get a login for %s (no username/password for it in "
                 "registry-secret.yaml)",
                 c->dst_host);
        return api_failure(c, what, "tcr", c->tcr, &terr, NULL);
    }
    it_log_add_secret(tok->token);
    note_token(c, tok, c->dst_host);
    pthread_mutex_lock(&c->lock);
    tc_instance_token_free(c->first_token);
    c->first_token = tok;
    pthread_mutex_unlock(&c->lock);
    return 0;
}

int it_ccr_feed(it_ccr *c, it_engine *e, it_progress *p, const it_runctl *ctl)
{
    tc_error terr = {0};
    tc_instance *inst = NULL;
    size_t ninst = 0;
    int rc = 0;
    char line[512];
    const it_ccr_opts *o = &c->o;

    c->progress = p;
    it_progress_phase(p, IT_PHASE_PREPARING);
    snprintf(line, sizeof(line), "looking up %s in %s", o->tcr_name,
             o->tcr_region);
    it_progress_prep(p, "instance", line);
    if (tc_tcr_list_instances(&inst, &ninst, c->tcr, o->tcr_name, &terr) != 0) {
        char check[400];
        snprintf(check, sizeof(check),
                 "Check --tcrRegion (%s) and --tcrName (%s), and that %s "
                 "is the Tencent Cloud API",
                 o->tcr_region, o->tcr_name,
                 o->tc_endpoint && *o->tc_endpoint
                     ? "--tc-endpoint"
                     : "https://tcr.tencentcloudapi.com");
        rc = planner_failure(c, e, "find the TCR instance", "tcr", c->tcr,
                             &terr, check);
        goto out;
    }
    const tc_instance *in = tc_instance_find(inst, ninst, o->tcr_name);
    if (!in) {
        char found[300] = "";
        size_t len = 0;
        for (size_t i = 0; i < ninst && len < sizeof(found) - 64; i++)
            len += (size_t)snprintf(found + len, sizeof(found) - len, "%s%s",
                                    i ? ", " : "", inst[i].name);
        log_error("TCR instance '%s' not found in %s (instances found: %s)",
                  o->tcr_name, o->tcr_region, ninst ? found : "none");
        it_progress_prep(p, "instance", "not found");
        rc = IT_CCR_EINSTANCE;
        goto out;
    }
    if (strcmp(in->status, "Running") != 0) {
        log_error("TCR instance '%s' is %s, not Running: wait until it is",
                  in->name, in->status);
        rc = IT_CCR_EINSTANCE;
        goto out;
    }
    const char *dst_host = o->tcr_registry && *o->tcr_registry
                               ? o->tcr_registry
                               : in->public_domain;
    const char *bad = !valid_registry_id(in->registry_id) ? "RegistryId"
                      : dst_host == in->public_domain && !valid_host(dst_host)
                          ? "PublicDomain"
                          : NULL;
    if (bad) {
        char value[400];
        it_escape(value, sizeof(value),
                  bad[0] == 'R' ? in->registry_id : in->public_domain);
        tc_error_clear(&terr);
        tc_error_set(&terr, TC_ERR,
                     "DescribeInstances: instance '%s' has %s \"%s\", which "
                     "is not a valid %s",
                     o->tcr_name, bad, value,
                     bad[0] == 'R' ? "instance id" : "registry host");
        rc =
            planner_failure(c, e, "find the TCR instance", "tcr", c->tcr, &terr,
                            bad[0] == 'P' ? "Give the instance's registry "
                                            "host with --tcr-registry=HOST"
                                          : NULL);
        goto out;
    }
    pthread_mutex_lock(&c->lock);
    c->registry_id = strdup(in->registry_id);
    c->dst_host = strdup(dst_host);
    pthread_mutex_unlock(&c->lock);
    snprintf(line, sizeof(line), "%s (%s, %s) at %s", in->name, in->registry_id,
             in->status, c->dst_host);
    it_progress_prep(p, "instance", line);
    log_info("TCR instance: %s", line);

    rc = check_token(c, in->registry_id);
    if (rc != 0)
        goto out;
    feed_ctx f = {
        .c = c, .e = e, .p = p, .ctl = ctl, .reg_id = in->registry_id};
    rc = sync_namespaces(&f);
    if (rc == 0) {
        it_progress_phase(p, IT_PHASE_DISCOVERING);
        /* Repositories stream in page by page: copying starts with the
         * first page, whatever the size of the account. */
        if (tc_ccr_each_repo(c->ccr, NULL, feed_page, &f, &terr) != 0) {
            char what[160];
            pthread_mutex_lock(&c->lock);
            long seen = c->repos_seen;
            pthread_mutex_unlock(&c->lock);
            snprintf(what, sizeof(what),
                     "list CCR repositories (the %ld listed before were "
                     "queued)",
                     seen);
            rc = planner_failure(c, e, what, "ccr", c->ccr, &terr, NULL);
        } else {
            rc = f.rc != 0 ? f.rc : f.stopped ? IT_CCR_ESTOPPED : 0;
        }
    }
    known_clear(&f.known);
    ns_state_clear(&f.st);
out:
    tc_instances_free(inst, ninst);
    it_engine_input_done(e);
    return rc;
}

int it_ccr_listing_error(it_ccr *c)
{
    pthread_mutex_lock(&c->lock);
    int code = c->listing_error;
    pthread_mutex_unlock(&c->lock);
    return code;
}

/* --preflight (issue 13) */
struct tc_client *it_ccr_api(it_ccr *c, bool tcr_side)
{
    return tcr_side ? c->tcr : c->ccr;
}

const char *it_ccr_source_host(const it_ccr *c)
{
    return c->src_host;
}

char *it_ccr_target_host(it_ccr *c)
{
    pthread_mutex_lock(&c->lock);
    char *h = c->dst_host ? strdup(c->dst_host) : NULL;
    pthread_mutex_unlock(&c->lock);
    return h;
}
