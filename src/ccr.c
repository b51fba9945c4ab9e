/* ccr.c - the CCR -> TCR planner. */
#include "ccr.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "log.h"
#include "tencentcloud.h"

struct it_ccr {
    const it_options *o;
    it_tc_secrets *keys;
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
    pthread_mutex_t lock; /* dst_host, registry_id, first_token */
};

static int new_client(tc_client **out, const it_options *o, const it_tc_key *k,
                      const char *region, tc_error *err)
{
    tc_client_opts co = {0};
    co.endpoint = o->tc_endpoint;
    co.region = region;
    co.secret_id = k->secret_id;
    co.secret_key = k->secret_key;
    co.token = k->token;
    co.max_retries = -1;
    co.ca_file = o->ca_file;
    return tc_client_new(out, &co, err);
}

int it_ccr_new(it_ccr **out, const it_options *o, const it_secrets *logins,
               it_errbuf *err)
{
    tc_error terr = {0};
    *out = NULL;
    if (!o->tcr_name || !*o->tcr_name) {
        snprintf(err->msg, sizeof(err->msg),
                 "--tcrName is required with --ccrToTcr=true");
        return IT_EXIT_USAGE;
    }
    it_ccr *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err->msg, sizeof(err->msg), "out of memory");
        return IT_EXIT_USAGE;
    }
    pthread_mutex_init(&c->lock, NULL);
    c->o = o;
    c->logins = logins;
    if (it_tc_secrets_load(&c->keys, o->secret_file, err) != 0)
        goto fail;
    it_log_add_secret(c->keys->ccr.secret_key);
    it_log_add_secret(c->keys->tcr.secret_key);
    if (c->keys->ccr.token)
        it_log_add_secret(c->keys->ccr.token);
    if (c->keys->tcr.token)
        it_log_add_secret(c->keys->tcr.token);
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
    if (new_client(&c->ccr, o, &c->keys->ccr, o->ccr_region, &terr) != 0 ||
        new_client(&c->tcr, o, &c->keys->tcr, o->tcr_region, &terr) != 0) {
        snprintf(err->msg, sizeof(err->msg), "Tencent Cloud API client: %s",
                 terr.message);
        goto fail;
    }
    *out = c;
    return 0;
fail:
    it_ccr_free(c);
    return IT_EXIT_USAGE;
}

void it_ccr_free(it_ccr *c)
{
    if (!c)
        return;
    tc_client_free(c->ccr);
    tc_client_free(c->tcr);
    it_tc_secrets_free(c->keys);
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

/* Hands the token in *tok to the engine: malloc'd copies, expiry in
 * seconds. Returns 0 or -1 (out of memory). */
static int give_token(const tc_instance_token *tok, char **username,
                      char **password, int64_t *expires_at)
{
    *username = strdup(tok->username ? tok->username : "");
    *password = strdup(tok->token ? tok->token : "");
    *expires_at = tok->exp_time_ms / 1000;
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
        /* The planner's token serves the first request, unless it is
         * already inside the engine's renewal margin (5 minutes). */
        tok = c->first_token;
        c->first_token = NULL;
    }
    pthread_mutex_unlock(&c->lock);
    if (!id) {
        tc_instance_token_free(tok);
        return -1;
    }
    if (tok && tok->exp_time_ms / 1000 - (int64_t)time(NULL) <= 600) {
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
    rc = give_token(tok, username, password, expires_at);
    if (rc == 0)
        log_info("obtained a temporary login for %s (user %s)", host,
                 *username);
    tc_instance_token_free(tok);
    return rc;
}

/* Turns an API failure into a message and an exit code: authentication
 * problems name the key and say what to check. The client's message
 * already carries the API code, the RequestId and (for auth failures)
 * the SecretId; they are added here only when it does not. */
static int api_failure(const it_ccr *c, const char *what, const char *side,
                       const tc_client *client, const tc_error *terr)
{
    const char *id = tc_client_secret_id(client);
    bool has_rid = terr->request_id[0] == '\0' ||
                   strstr(terr->message, terr->request_id) != NULL;
    if (terr->code == TC_EAUTH) {
        bool has_id = id && strstr(terr->message, id) != NULL;
        const char *hint =
            strstr(terr->api_code, "SignatureExpire")
                ? " and that this machine's clock is right (the API allows "
                  "5 minutes of difference)"
                : "";
        log_error("%s: the %s key%s%s%s was refused: %s%s%s%s. Check the "
                  "`%s:` secretId/secretKey in %s%s, that the key may use "
                  "TCR in region %s%s.",
                  what, side, has_id ? "" : " (SecretId ",
                  has_id ? "" : (id ? id : "?"), has_id ? "" : ")",
                  terr->message, has_rid ? "" : " (RequestId ",
                  has_rid ? "" : terr->request_id, has_rid ? "" : ")", side,
                  c->o->secret_file ? c->o->secret_file
                                    : "the --secretFile file",
                  c->o->secret_file ? ""
                                    : " (or TENCENTCLOUD_SECRET_ID / "
                                      "TENCENTCLOUD_SECRET_KEY)",
                  tc_client_region(client), hint);
        return IT_EXIT_CLOUD_AUTH;
    }
    log_error("%s: %s%s%s%s", what, terr->message,
              has_rid ? "" : " (RequestId ", has_rid ? "" : terr->request_id,
              has_rid ? "" : ")");
    return IT_EXIT_FAILED;
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

/* The namespaces to have on TCR: every CCR namespace, plus any namespace
 * a listed repository is in that the namespace list missed (a push into
 * a missing namespace fails). Borrowed pointers; *out freed with free(). */
static int wanted_namespaces(const char ***out, size_t *n,
                             const tc_namespace *cn, size_t ncn,
                             const tc_repo *repos, size_t nrepos)
{
    const char **v = calloc(ncn + nrepos + 1, sizeof(char *));
    size_t k = 0;
    *out = NULL;
    *n = 0;
    if (!v)
        return -1;
    for (size_t i = 0; i < ncn + nrepos; i++) {
        const char *name = i < ncn ? cn[i].name : repos[i - ncn].namespace_name;
        bool seen = !name || !*name;
        for (size_t j = 0; j < k && !seen; j++)
            seen = strcmp(v[j], name) == 0;
        if (!seen)
            v[k++] = name;
    }
    *out = v;
    *n = k;
    return 0;
}

/* Creates the namespaces the instance lacks (see wanted_namespaces).
 * A namespace that cannot be created goes into st; the others go on.
 * Returns 0 or an exit code for a failure that stops the run (auth,
 * listing). */
static int sync_namespaces(it_ccr *c, it_progress *p, const char *reg_id,
                           const tc_repo *repos, size_t nrepos, ns_state *st)
{
    tc_error terr = {0};
    tc_namespace *cn = NULL, *tn = NULL;
    size_t ncn = 0, ntn = 0, nwant = 0;
    const char **want = NULL;
    int rc = 0;
    char line[256];

    if (tc_ccr_list_namespaces(&cn, &ncn, c->ccr, &terr) != 0) {
        rc = api_failure(c, "list CCR namespaces", "ccr", c->ccr, &terr);
        goto out;
    }
    if (tc_tcr_list_namespaces(&tn, &ntn, c->tcr, reg_id, NULL, &terr) != 0) {
        rc = api_failure(c, "list TCR namespaces", "tcr", c->tcr, &terr);
        goto out;
    }
    if (wanted_namespaces(&want, &nwant, cn, ncn, repos, nrepos) != 0) {
        log_error("out of memory");
        rc = IT_EXIT_FAILED;
        goto out;
    }
    size_t created = 0, present = 0;
    for (size_t i = 0; i < nwant; i++) {
        const char *ns = want[i];
        if (has_ns(tn, ntn, ns)) {
            present++;
            continue;
        }
        if (c->o->dry_run) {
            printf("create namespace %s (%s)\n", ns,
                   c->o->tcr_namespace_public ? "public" : "private");
            created++;
            continue;
        }
        int r = tc_tcr_create_namespace(c->tcr, reg_id, ns,
                                        c->o->tcr_namespace_public, &terr);
        if (r == TC_ECONFLICT) {
            /* Someone (or an earlier run) made it meanwhile: confirm. */
            tc_namespace *one = NULL;
            size_t n1 = 0;
            tc_error e2 = {0};
            if (tc_tcr_list_namespaces(&one, &n1, c->tcr, reg_id, ns, &e2) ==
                    0 &&
                has_ns(one, n1, ns))
                r = 0;
            tc_namespaces_free(one, n1);
            if (r == 0) {
                log_info("TCR namespace %s already exists", ns);
                present++;
                continue;
            }
        }
        if (r == TC_EAUTH) {
            rc = api_failure(c, "create TCR namespace", "tcr", c->tcr, &terr);
            goto out;
        }
        if (r != 0) {
            log_error("namespace %s could not be created: %s", ns,
                      terr.message);
            ns_fail(st, ns, terr.message);
            continue;
        }
        log_info("created TCR namespace %s (%s)", ns,
                 c->o->tcr_namespace_public ? "public" : "private");
        created++;
    }
    snprintf(line, sizeof(line),
             "%zu in CCR: %zu already in TCR, %zu %s, %zu failed", nwant,
             present, created, c->o->dry_run ? "to create" : "created",
             st->nfailed);
    it_progress_prep(p, "namespaces", line);
    log_info("namespaces: %s", line);
out:
    free(want);
    tc_namespaces_free(cn, ncn);
    tc_namespaces_free(tn, ntn);
    return rc;
}

/* Lists the tags of each repository and feeds the pairs into e. Returns
 * 0 or an exit code for a failure that stops the run (auth). */
static int feed_repos(it_ccr *c, it_engine *e, it_progress *p,
                      const tc_repo *repos, size_t nrepos, const ns_state *st,
                      volatile int *stop)
{
    tc_error terr = {0};
    int rc = 0;
    char line[256];
    long tags_total = 0, tags_left_out = 0;

    for (size_t i = 0;
         i < nrepos && !(stop && *stop) && !it_progress_stop_requested(p);
         i++) {
        const tc_repo *r = &repos[i];
        char src[1024], dst[1024];
        snprintf(src, sizeof(src), "%s/%s", c->src_host, r->full_name);
        snprintf(dst, sizeof(dst), "%s/%s", c->dst_host, r->full_name);
        const char *why = ns_failure(st, r->namespace_name);
        if (why) {
            char reason[700];
            snprintf(reason, sizeof(reason),
                     "namespace %s could not be created on TCR: %.600s",
                     r->namespace_name, why);
            it_engine_add_failed(e, src, dst, reason);
            continue;
        }
        tc_image *tags = NULL;
        size_t ntags = 0;
        if (tc_ccr_list_tags(&tags, &ntags, c->ccr, r->full_name, &terr) != 0) {
            if (terr.code == TC_EAUTH) {
                rc = api_failure(c, "list CCR tags", "ccr", c->ccr, &terr);
                break;
            }
            char reason[700];
            snprintf(reason, sizeof(reason), "list tags: %.600s", terr.message);
            it_engine_add_failed(e, src, dst, reason);
            continue;
        }
        size_t keep = ntags;
        if (c->o->ccr_tag_nums > 0 && ntags > (size_t)c->o->ccr_tag_nums) {
            qsort(tags, ntags, sizeof(*tags), by_push_time_desc);
            keep = (size_t)c->o->ccr_tag_nums;
            tags_left_out += (long)(ntags - keep);
            log_info("%s: keeping the %zu most recently pushed of %zu tags "
                     "(--ccrTagNums)",
                     src, keep, ntags);
        }
        tags_total += (long)keep;
        if (keep == 0) {
            log_info("%s: no tags", src);
            tc_images_free(tags, ntags);
            continue;
        }
        char **tv = calloc(keep + 1, sizeof(char *));
        for (size_t k = 0; tv && k < keep; k++)
            tv[k] = tags[k].tag;
        it_pair pair = {0};
        pair.src_host = c->src_host;
        pair.src_repo = r->full_name;
        pair.tags = tv;
        pair.dst_host = c->dst_host;
        pair.dst_repo = r->full_name;
        /* it_engine_add_pair copies everything it keeps. */
        if (!tv || it_engine_add_pair(e, &pair) != 0)
            it_engine_add_failed(e, src, dst, "out of memory");
        free(tv);
        tc_images_free(tags, ntags);
        snprintf(line, sizeof(line), "%zu of %zu listed, %ld tags%s", i + 1,
                 nrepos, tags_total, tags_left_out ? " (some left out)" : "");
        it_progress_prep(p, "repositories", line);
    }
    if (tags_left_out) {
        snprintf(line, sizeof(line),
                 "%zu listed, %ld tags; %ld older tags left out by "
                 "--ccrTagNums=%d",
                 nrepos, tags_total, tags_left_out, c->o->ccr_tag_nums);
        it_progress_prep(p, "repositories", line);
        log_warn("%ld older tags left out by --ccrTagNums=%d", tags_left_out,
                 c->o->ccr_tag_nums);
    }
    return rc;
}

/* When no registry login covers the TCR host, fetches the first
 * instance token now, so that a key without CreateInstanceToken rights
 * stops the run (exit 3) before anything is created or copied. The
 * token is kept for the engine's first request. Any other failure is
 * only a warning: the engine asks again when it needs the login.
 * Returns 0 or IT_EXIT_CLOUD_AUTH. */
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
        return api_failure(c, what, "tcr", c->tcr, &terr);
    }
    it_log_add_secret(tok->token);
    pthread_mutex_lock(&c->lock);
    tc_instance_token_free(c->first_token);
    c->first_token = tok;
    pthread_mutex_unlock(&c->lock);
    return 0;
}

int it_ccr_feed(it_ccr *c, it_engine *e, it_progress *p, volatile int *stop)
{
    tc_error terr = {0};
    tc_instance *inst = NULL;
    tc_repo *repos = NULL;
    size_t ninst = 0, nrepos = 0;
    ns_state st = {0};
    int rc = 0;
    char line[512];
    const it_options *o = c->o;

    it_progress_phase(p, IT_PHASE_PREPARING);
    snprintf(line, sizeof(line), "looking up %s in %s", o->tcr_name,
             o->tcr_region);
    it_progress_prep(p, "instance", line);
    if (tc_tcr_list_instances(&inst, &ninst, c->tcr, o->tcr_name, &terr) != 0) {
        rc = api_failure(c, "find the TCR instance", "tcr", c->tcr, &terr);
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
        rc = IT_EXIT_USAGE;
        goto out;
    }
    if (strcmp(in->status, "Running") != 0) {
        log_error("TCR instance '%s' is %s, not Running: wait until it is",
                  in->name, in->status);
        rc = IT_EXIT_USAGE;
        goto out;
    }
    pthread_mutex_lock(&c->lock);
    c->registry_id = strdup(in->registry_id);
    c->dst_host =
        strdup(o->tcr_registry && *o->tcr_registry ? o->tcr_registry
                                                   : in->public_domain);
    pthread_mutex_unlock(&c->lock);
    snprintf(line, sizeof(line), "%s (%s, %s) at %s", in->name, in->registry_id,
             in->status, c->dst_host);
    it_progress_prep(p, "instance", line);
    log_info("TCR instance: %s", line);

    rc = check_token(c, in->registry_id);
    if (rc != 0)
        goto out;
    /* Repositories first: their namespaces must exist on TCR too. */
    if (tc_ccr_list_repos(&repos, &nrepos, c->ccr, &terr) != 0) {
        rc = api_failure(c, "list CCR repositories", "ccr", c->ccr, &terr);
        goto out;
    }
    snprintf(line, sizeof(line), "%zu listed", nrepos);
    it_progress_prep(p, "repositories", line);
    rc = sync_namespaces(c, p, in->registry_id, repos, nrepos, &st);
    if (rc != 0)
        goto out;
    it_progress_phase(p, IT_PHASE_DISCOVERING);
    rc = feed_repos(c, e, p, repos, nrepos, &st, stop);
out:
    tc_repos_free(repos, nrepos);
    tc_instances_free(inst, ninst);
    ns_state_clear(&st);
    it_engine_input_done(e);
    return rc;
}
