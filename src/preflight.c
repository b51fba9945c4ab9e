/*
 * preflight.c - `--preflight` (issue 13 §3): the checklist model, its
 * rendering, and the checks. Nothing is created or deleted: the engine runs
 * as a dry run, the planner does not create namespaces, and the push check
 * opens an upload session and cancels it.
 */
#include "preflight.h"

#include <langinfo.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "ccr.h"
#include "clock.h"
#include "log.h"
#include "progress_fmt.h"
#include "registry.h"
#include "shard.h"
#include "tencentcloud.h"
#include "text.h"

/* ------------------------------------------------------------ the model */

int it_pf_add(it_pf_list *l, it_pf_state st, const char *name, const char *fix,
              const char *reason_fmt, ...)
{
    char reason[1024];
    va_list ap;
    va_start(ap, reason_fmt);
    vsnprintf(reason, sizeof(reason), reason_fmt, ap);
    va_end(ap);
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        it_pf_item *v = realloc(l->v, cap * sizeof(*v));
        if (!v)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    it_pf_item *it = &l->v[l->n];
    it->state = st;
    it->name = strdup(name ? name : "");
    it->reason = strdup(reason);
    it->fix = fix && st == IT_PF_FAIL ? strdup(fix) : NULL;
    if (!it->name || !it->reason || (fix && st == IT_PF_FAIL && !it->fix)) {
        free(it->name);
        free(it->reason);
        free(it->fix);
        return -1;
    }
    l->n++;
    return 0;
}

void it_pf_free(it_pf_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].name);
        free(l->v[i].reason);
        free(l->v[i].fix);
    }
    free(l->v);
    memset(l, 0, sizeof(*l));
}

size_t it_pf_failures(const it_pf_list *l)
{
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++)
        n += l->v[i].state == IT_PF_FAIL;
    return n;
}

int it_pf_exit_code(const it_pf_list *l)
{
    if (l->cloud_auth_failed)
        return 3;
    return it_pf_failures(l) > 0 ? 1 : 0;
}

static void put_clean(FILE *f, const char *s)
{
    char *c = it_sanitize_dup(s);
    fputs(c ? c : "(out of memory)", f);
    free(c);
}

void it_pf_render(FILE *f, const it_pf_list *l, bool utf8)
{
    static const char *const ascii[] = {"[ok]  ", "[FAIL]", "[info]"};
    static const char *const glyph[] = {"\u2713", "\u2717", "\u2022"};
    for (size_t i = 0; i < l->n; i++) {
        const it_pf_item *it = &l->v[i];
        fprintf(f, "%s ", utf8 ? glyph[it->state] : ascii[it->state]);
        put_clean(f, it->name);
        fputs(": ", f);
        put_clean(f, it->reason);
        fputc('\n', f);
        if (it->fix) {
            fputs(utf8 ? "    fix: " : "       fix: ", f);
            put_clean(f, it->fix);
            fputc('\n', f);
        }
    }
    size_t bad = it_pf_failures(l);
    if (bad)
        fprintf(f,
                "preflight: %zu problem%s found: fix %s before the run; "
                "nothing was created or deleted\n",
                bad, bad == 1 ? "" : "s", bad == 1 ? "it" : "them");
    else
        fprintf(f, "preflight: every check passed; nothing was created or "
                   "deleted\n");
}

bool it_pf_utf8_terminal(int fd)
{
    if (!isatty(fd))
        return false;
    const char *cs = nl_langinfo(CODESET);
    return cs && (strcasecmp(cs, "UTF-8") == 0 || strcasecmp(cs, "utf8") == 0);
}

/* ------------------------------------------------------ TCR rules */

bool it_pf_tcr_namespace_valid(const char *name, char *why, size_t cap)
{
    size_t n = name ? strlen(name) : 0;
    const char *bad = NULL;
    if (n < 2 || n > 30)
        bad = "must be 2 to 30 characters long";
    for (size_t i = 0; !bad && i < n; i++) {
        char ch = name[i];
        bool sep = ch == '.' || ch == '_' || ch == '-';
        if (!sep && !(ch >= 'a' && ch <= 'z') && !(ch >= '0' && ch <= '9'))
            bad = "may hold only lowercase letters, digits and . _ -";
        else if (sep && (i == 0 || i == n - 1))
            bad = "must not start or end with . _ or -";
        else if (sep && i > 0 &&
                 (name[i - 1] == '.' || name[i - 1] == '_' ||
                  name[i - 1] == '-'))
            bad = "must not hold two separators (. _ -) in a row";
    }
    if (bad && why && cap)
        snprintf(why, cap, "%s", bad);
    return bad == NULL;
}

/* The spec limits of TCR Enterprise instances: namespaces and
 * repositories per instance by edition, as Tencent Cloud's "TCR Service
 * Levels and Capacity Limits" page lists them [unverified: not in the API
 * reference this client follows, and no documented API call reports them;
 * DescribeInstances gives only the edition, RegistryType]. */
bool it_pf_tcr_quota(const char *type, long *namespaces, long *repositories)
{
    static const struct {
        const char *type;
        long ns, repos;
    } spec[] = {
        {"basic", 50, 1000},
        {"standard", 100, 3000},
        {"premium", 500, 10000},
    };
    for (size_t i = 0; type && i < sizeof(spec) / sizeof(spec[0]); i++) {
        if (strcasecmp(type, spec[i].type) == 0) {
            *namespaces = spec[i].ns;
            *repositories = spec[i].repos;
            return true;
        }
    }
    return false;
}

void it_pf_estimate_text(char *out, size_t cap, double seconds)
{
    if (isnan(seconds) || seconds < 0) {
        snprintf(out, cap, "--");
        return;
    }
    if (seconds < 1) {
        snprintf(out, cap, "under 1s");
        return;
    }
    if (seconds > 99.0 * 86400) /* it_format_duration's cap */
        seconds = 99.0 * 86400;
    long s = (long)(seconds + 0.5);
    long m = (s + 30) / 60;
    if (s < 60) {
        snprintf(out, cap, "about %lds", s);
    } else if (m < 60) {
        snprintf(out, cap, "about %ldm", m);
    } else {
        char d[32];
        it_format_duration(d, sizeof(d), s < 3600 ? 3600.0 : seconds);
        snprintf(out, cap, "about %s", d);
    }
}

/* ------------------------------------------------------ registry checks */

/* The fix for a failed registry request. */
static const char *reg_fix(int code, const reg_error *e, bool push)
{
    switch (code) {
    case REG_ETLS:
        return "give the registry's CA bundle with --ca-file=FILE, or, for a "
               "registry without a valid certificate, set `insecure: true` "
               "for it in registry-secret.yaml (--securityFile)";
    case REG_ERETRY:
        if (e->http_status >= 500)
            return "the registry answers with server errors: check its "
                   "health and try again";
        if (e->http_status == 429)
            return "the registry throttles this client: lower --routines "
                   "or set --qps";
        return "check the host and port (the rule or --registry), DNS, "
               "firewalls and HTTPS_PROXY; is the registry running?";
    case REG_EAUTH:
        return "check the username and password for this registry in "
               "registry-secret.yaml (--securityFile) or `docker login` it";
    case REG_EDENIED:
        return push ? "the login may not push here: grant it push access "
                      "to this repository (or its namespace), or use "
                      "another login"
                    : "the login may not pull this repository: grant it "
                      "pull access, or use another login";
    case REG_ENOTFOUND:
        return push ? "the target namespace does not exist and this "
                      "registry does not create it on push: create it "
                      "first (or fix the rule's target)"
                    : "check the rule's source in --ruleFile: the "
                      "repository, its namespace, the tag";
    default:
        return "see the message; run with --log-level=debug for the HTTP "
               "exchange";
    }
}

/* Distinct hosts, with the role they play and the first repository seen
 * there (whose credentials the host check uses). */
typedef struct host_role {
    const char *host;
    const char *repo;
    bool source, target;
    bool ok;
    double rtt_ms; /* push probe round trip, target */
} host_role;

typedef struct checks {
    const it_preflight_in *in;
    it_pf_list *l;
    host_role hosts[64];
    size_t nhosts;
    size_t hosts_left_out;
    /* throughput probe */
    double src_rate; /* bytes/s, 0 = not measured */
    char rate_host[264];
    int64_t probe_bytes;
} checks;

static host_role *host_of(checks *c, const char *host, const char *repo)
{
    for (size_t i = 0; i < c->nhosts; i++)
        if (strcmp(c->hosts[i].host, host) == 0)
            return &c->hosts[i];
    if (c->nhosts == sizeof(c->hosts) / sizeof(c->hosts[0])) {
        c->hosts_left_out++;
        return NULL;
    }
    host_role *h = &c->hosts[c->nhosts++];
    memset(h, 0, sizeof(*h));
    h->host = host;
    h->repo = repo;
    return h;
}

static reg_client *client_for(checks *c, const char *host, const char *repo,
                              const char *name)
{
    reg_client *rc = NULL;
    reg_error err = {0};
    if (it_engine_reg_client(c->in->engine, host, repo, &rc, &err) != 0) {
        it_pf_add(c->l, IT_PF_FAIL, name, reg_fix(err.code, &err, false), "%s",
                  err.msg);
        return NULL;
    }
    return rc;
}

static void check_host(checks *c, host_role *h)
{
    char name[400];
    snprintf(name, sizeof(name), "registry %s (%s)", h->host,
             h->source && h->target ? "source and target"
             : h->source            ? "source"
                                    : "target");
    reg_client *rc = client_for(c, h->host, h->repo, name);
    if (!rc)
        return;
    reg_error err = {0};
    int code = reg_ping(rc, &err);
    if (code == 0) {
        h->ok = true;
        it_pf_add(c->l, IT_PF_OK, name, NULL,
                  "reachable, TLS as configured, login accepted (GET /v2/)");
    } else {
        it_pf_add(c->l, IT_PF_FAIL, name, reg_fix(code, &err, false), "%s",
                  err.msg);
    }
    reg_client_free(rc);
}

typedef struct first_page {
    char tag[256];
    size_t n;
} first_page;

static int take_first_page(void *payload, char *const *items, size_t n)
{
    first_page *fp = payload;
    fp->n = n;
    if (n > 0)
        snprintf(fp->tag, sizeof(fp->tag), "%s", items[0]);
    return 1; /* one page is enough */
}

/* Downloads one blob of at most 4 MiB of the manifest at repo@ref (the
 * first child of an index) and records the rate, once per run. */
static void probe_throughput(checks *c, reg_client *rc, const char *host,
                             const char *repo, const char *ref)
{
    if (c->src_rate > 0)
        return;
    reg_manifest *m = NULL, *child = NULL;
    reg_error err = {0};
    if (reg_manifest_get(&m, rc, repo, ref, &err) != 0)
        return;
    const reg_manifest *img = m;
    if (reg_manifest_is_index(m) && m->n_children > 0 &&
        reg_manifest_get(&child, rc, repo, m->children[0].digest, &err) == 0)
        img = child;
    const reg_descriptor *best = NULL;
    for (size_t i = 0; i < img->n_blobs; i++) {
        const reg_descriptor *d = &img->blobs[i];
        if (d->size > 0 && d->size <= 4 << 20 && !reg_descriptor_foreign(d) &&
            (!best || d->size > best->size))
            best = d;
    }
    if (best) {
        unsigned char *buf = NULL;
        size_t len = 0;
        double t0 = it_now_mono();
        if (reg_blob_get(&buf, &len, rc, repo, best->digest, (size_t)best->size,
                         &err) == 0) {
            double dt = it_now_mono() - t0;
            c->src_rate = (double)len / (dt > 1e-4 ? dt : 1e-4);
            c->probe_bytes = (int64_t)len;
            snprintf(c->rate_host, sizeof(c->rate_host), "%s", host);
        }
        free(buf);
    }
    reg_manifest_free(child);
    reg_manifest_free(m);
}

/* Pull: the first page of the tags, HEAD of one manifest. */
static void check_pull(checks *c, const char *host, const char *repo,
                       const it_pair *p)
{
    char name[600];
    snprintf(name, sizeof(name), "pull from %s/%s", host, repo);
    reg_client *rc = client_for(c, host, repo, name);
    if (!rc)
        return;
    reg_error err = {0};
    first_page fp = {{0}, 0};
    int code = REG_OK;
    if (!p || !p->list_tags) {
        code = reg_tags_each(rc, repo, 0, NULL, take_first_page, &fp, &err);
        if (code == REG_ECANCELED)
            code = REG_OK;
        if (code != REG_OK) {
            it_pf_add(
                c->l, IT_PF_FAIL, name, reg_fix(code, &err, false), "%s%s",
                code == REG_ENOTFOUND ? "the source repository does not exist: "
                                      : "",
                err.msg);
            goto out;
        }
    }
    const char *ref = p && p->src_digest           ? p->src_digest
                      : p && p->tags && p->tags[0] ? p->tags[0]
                      : fp.n > 0                   ? fp.tag
                                                   : NULL;
    if (!ref) {
        it_pf_add(c->l, IT_PF_FAIL, name,
                  "check the rule's source: nothing would be copied from it",
                  "the repository lists no tags");
        goto out;
    }
    char digest[REG_DIGEST_LEN + 1] = "";
    code = reg_manifest_head(rc, repo, ref, digest, NULL, NULL, &err);
    if (code != REG_OK) {
        it_pf_add(c->l, IT_PF_FAIL, name, reg_fix(code, &err, false), "%s",
                  err.msg);
        goto out;
    }
    if (fp.n > 0)
        it_pf_add(c->l, IT_PF_OK, name, NULL,
                  "tags listed (%zu on the first page), manifest %s found",
                  fp.n, ref);
    else
        it_pf_add(c->l, IT_PF_OK, name, NULL, "manifest %s found", ref);
    probe_throughput(c, rc, host, repo, ref);
out:
    reg_client_free(rc);
}

/* Push: an upload session opened and cancelled. */
static void check_push(checks *c, host_role *h, const char *repo)
{
    char name[600];
    snprintf(name, sizeof(name), "push to %s/%s", h->host, repo);
    reg_client *rc = client_for(c, h->host, repo, name);
    if (!rc)
        return;
    reg_error err = {0};
    bool cancelled = false;
    double t0 = it_now_mono();
    int code = reg_upload_probe(rc, repo, &cancelled, &err);
    double ms = (it_now_mono() - t0) * 1000.0;
    if (code == REG_OK) {
        h->rtt_ms = ms;
        it_pf_add(c->l, IT_PF_OK, name, NULL,
                  "upload session opened and %s (%.0f ms)",
                  cancelled ? "cancelled"
                            : "left to expire (the registry refused to "
                              "cancel it)",
                  ms);
    } else {
        bool ns_missing = code == REG_ENOTFOUND ||
                          strcmp(err.registry_code, "NAME_UNKNOWN") == 0;
        /* The same login passed GET /v2/ (check_host): a 401 now is a
         * token without push (insufficient_scope), not a wrong password. */
        bool no_push = code == REG_EAUTH || code == REG_EDENIED;
        it_pf_add(c->l, IT_PF_FAIL, name,
                  reg_fix(ns_missing ? REG_ENOTFOUND
                          : no_push  ? REG_EDENIED
                                     : code,
                          &err, true),
                  "%s%s",
                  ns_missing ? "the target namespace does not exist or "
                               "refuses new repositories: "
                  : no_push  ? "the login was accepted, but not for push: "
                             : "",
                  err.msg);
    }
    reg_client_free(rc);
}

static bool seen_pair(const it_pair *v, size_t i, bool src)
{
    for (size_t j = 0; j < i; j++) {
        if (src && strcmp(v[j].src_host, v[i].src_host) == 0 &&
            strcmp(v[j].src_repo, v[i].src_repo) == 0)
            return true;
        if (!src && strcmp(v[j].dst_host, v[i].dst_host) == 0 &&
            strcmp(v[j].dst_repo, v[i].dst_repo) == 0)
            return true;
    }
    return false;
}

static void registry_checks(checks *c, const it_pair *pairs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        host_role *s = host_of(c, pairs[i].src_host, pairs[i].src_repo);
        if (s)
            s->source = true;
        host_role *t = host_of(c, pairs[i].dst_host, pairs[i].dst_repo);
        if (t)
            t->target = true;
    }
    for (size_t i = 0; i < c->nhosts; i++)
        check_host(c, &c->hosts[i]);
    if (c->hosts_left_out)
        it_pf_add(c->l, IT_PF_INFO, "registries", NULL,
                  "%zu more registries were not checked (the first 64 were)",
                  c->hosts_left_out);
    for (size_t i = 0; i < n; i++) {
        host_role *s = host_of(c, pairs[i].src_host, pairs[i].src_repo);
        if (s && s->ok && !seen_pair(pairs, i, true))
            check_pull(c, pairs[i].src_host, pairs[i].src_repo, &pairs[i]);
    }
    for (size_t i = 0; i < n; i++) {
        host_role *t = host_of(c, pairs[i].dst_host, pairs[i].dst_repo);
        if (t && t->ok && !seen_pair(pairs, i, false))
            check_push(c, t, pairs[i].dst_repo);
    }
}

/* ------------------------------------------------------ the plan */

static void plan_lines(checks *c)
{
    it_engine_stats st = {0};
    it_engine_stats_get(c->in->engine, &st);
    size_t nt = 0;
    it_plan_target *t = it_engine_plan_targets(c->in->engine, &nt);
    int64_t bytes = 0;
    long blobs = 0;
    for (size_t i = 0; i < nt; i++) {
        char b[32];
        it_format_bytes(b, sizeof(b), (double)t[i].bytes);
        char name[300];
        snprintf(name, sizeof(name), "plan into %s", t[i].registry);
        it_pf_add(c->l, IT_PF_INFO, name, NULL,
                  "%ld image(s), %ld new blob(s), %s after de-duplication",
                  t[i].images, t[i].blobs, b);
        bytes = it_add_sat(bytes, t[i].bytes);
        blobs += t[i].blobs;
    }
    free(t);
    it_pf_add(c->l, IT_PF_INFO, "plan", NULL,
              "%ld image(s) to copy, %ld already there, %ld blob(s), %lld "
              "bytes",
              st.images_planned, st.images_skipped, blobs, (long long)bytes);
    if (st.images_failed > 0)
        it_pf_add(c->l, IT_PF_FAIL, "plan",
                  "see the errors in the log (stderr or --log-file); they "
                  "would fail the run the same way",
                  "%ld image(s) or listing(s) could not be planned",
                  st.images_failed);
    if (bytes > 0 && c->src_rate > 0) {
        char d[48], r[32], pb[32];
        it_pf_estimate_text(d, sizeof(d), (double)bytes / c->src_rate);
        it_format_bytes(r, sizeof(r), c->src_rate);
        it_format_bytes(pb, sizeof(pb), (double)c->probe_bytes);
        it_pf_add(c->l, IT_PF_INFO, "estimate", NULL,
                  "%s to move the bytes above at %s/s (one %s blob "
                  "from %s; an estimate of the bytes only: request round "
                  "trips add to it, --routines=%d streams may be faster)",
                  d, r, pb, c->rate_host, c->in->o->routines);
    } else if (bytes > 0) {
        it_pf_add(c->l, IT_PF_INFO, "estimate", NULL,
                  "no throughput measured (no blob of at most 4 MiB found "
                  "to probe)");
    }
}

/* Feeds the generic plan (this shard's pairs) and waits for it. */
static void generic_plan(checks *c)
{
    const it_preflight_in *in = c->in;
    for (size_t i = 0; i < in->npairs; i++)
        if (it_shard_takes(&in->o->shard, in->pairs[i].src_repo))
            it_engine_add_pair(in->engine, &in->pairs[i]);
    it_engine_input_done(in->engine);
    it_engine_wait(in->engine);
}

/* ------------------------------------------------------ CCR -> TCR */

static void cloud_fail(checks *c, const char *name, const char *side,
                       const tc_error *terr)
{
    char fix[600];
    if (terr->code == TC_EAUTH) {
        c->l->cloud_auth_failed = true;
        snprintf(fix, sizeof(fix),
                 "check the `%s:` secretId/secretKey in --secretFile (or the "
                 "key source named in the log), that the key may use TCR, "
                 "and this machine's clock",
                 side);
    } else {
        snprintf(fix, sizeof(fix),
                 "check --%sRegion and --tc-endpoint, then try again", side);
    }
    it_pf_add(c->l, IT_PF_FAIL, name, fix, "%s", terr->message);
}

static bool ns_in(const tc_namespace *v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].name, name) == 0)
            return true;
    return false;
}

static bool repo_in(const tc_repo *v, size_t n, const char *full)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].full_name, full) == 0)
            return true;
    return false;
}

/* The API checks; returns true when the plan can run (the instance is
 * there and Running, both keys work). *probe_repo gets a CCR repository
 * to probe (malloc'd) and *ns_exists whether its namespace exists in TCR
 * already. */
static bool ccr_api_checks(checks *c, char **probe_repo, bool *ns_exists)
{
    const it_options *o = c->in->o;
    tc_client *ccr = it_ccr_api(c->in->ccr, false);
    tc_client *tcr = it_ccr_api(c->in->ccr, true);
    tc_error terr = {0};
    tc_namespace *cns = NULL, *tns = NULL;
    tc_repo *crepos = NULL, *trepos = NULL;
    tc_instance *inst = NULL;
    size_t ncns = 0, ntns = 0, ncrepos = 0, ntrepos = 0, ninst = 0;
    bool go = false;
    char name[300];

    snprintf(name, sizeof(name), "CCR API key (%s)", o->ccr_region);
    if (tc_ccr_list_namespaces(&cns, &ncns, ccr, &terr) != 0 ||
        tc_ccr_list_repos(&crepos, &ncrepos, ccr, &terr) != 0) {
        cloud_fail(c, name, "ccr", &terr);
        goto out;
    }
    it_pf_add(c->l, IT_PF_OK, name, NULL,
              "accepted: %zu namespace(s), %zu repositories in CCR", ncns,
              ncrepos);

    snprintf(name, sizeof(name), "TCR API key (%s)", o->tcr_region);
    if (tc_tcr_list_instances(&inst, &ninst, tcr, o->tcr_name, &terr) != 0) {
        cloud_fail(c, name, "tcr", &terr);
        goto out;
    }
    it_pf_add(c->l, IT_PF_OK, name, NULL, "accepted (DescribeInstances)");
    snprintf(name, sizeof(name), "TCR instance %s", o->tcr_name);
    const tc_instance *in = tc_instance_find(inst, ninst, o->tcr_name);
    if (!in) {
        it_pf_add(c->l, IT_PF_FAIL, name,
                  "check --tcrName and --tcrRegion (the instance's region)",
                  "not found in %s (%zu instance(s) matched the name "
                  "loosely)",
                  o->tcr_region, ninst);
        goto out;
    }
    if (strcmp(in->status, "Running") != 0) {
        it_pf_add(c->l, IT_PF_FAIL, name,
                  "wait until the instance is Running (TCR console); an "
                  "isolated instance needs its bill paid",
                  "is %s, not Running", in->status);
        goto out;
    }
    it_pf_add(c->l, IT_PF_OK, name, NULL, "%s, %s, type %s", in->registry_id,
              in->status, in->type ? in->type : "?");

    /* namespace names */
    size_t bad = 0;
    for (size_t i = 0; i < ncns; i++) {
        char why[120];
        if (it_pf_tcr_namespace_valid(cns[i].name, why, sizeof(why)))
            continue;
        if (++bad > 20)
            continue;
        snprintf(name, sizeof(name), "namespace %s", cns[i].name);
        it_pf_add(c->l, IT_PF_FAIL, name,
                  "TCR cannot hold this name: rename the namespace in CCR "
                  "(move its repositories), or leave it out with --shard or "
                  "a rule file",
                  "not a valid TCR namespace name: %s", why);
    }
    if (bad > 20)
        it_pf_add(c->l, IT_PF_FAIL, "namespaces", "as above for each of them",
                  "%zu more namespace names TCR does not accept", bad - 20);
    else if (bad == 0)
        it_pf_add(c->l, IT_PF_OK, "namespace names", NULL,
                  "all %zu valid for TCR", ncns);

    /* quotas */
    if (tc_tcr_list_namespaces(&tns, &ntns, tcr, in->registry_id, NULL,
                               &terr) != 0 ||
        tc_tcr_list_repos(&trepos, &ntrepos, tcr, in->registry_id, NULL,
                          &terr) != 0) {
        cloud_fail(c, "TCR quotas", "tcr", &terr);
        goto out;
    }
    long new_ns = 0, new_repos = 0;
    for (size_t i = 0; i < ncns; i++)
        new_ns += !ns_in(tns, ntns, cns[i].name);
    for (size_t i = 0; i < ncrepos; i++)
        new_repos += !repo_in(trepos, ntrepos, crepos[i].full_name);
    long qns = 0, qrepos = 0;
    if (!it_pf_tcr_quota(in->type, &qns, &qrepos)) {
        it_pf_add(c->l, IT_PF_INFO, "TCR quotas", NULL,
                  "instance type %s: quotas unknown; the plan needs %ld new "
                  "namespace(s) and %ld new repositories",
                  in->type ? in->type : "?", new_ns, new_repos);
    } else {
        long need_ns = (long)ntns + new_ns,
             need_repos = (long)ntrepos + new_repos;
        it_pf_state s = need_ns <= qns ? IT_PF_OK : IT_PF_FAIL;
        it_pf_add(c->l, s, "TCR namespace quota",
                  "delete unused namespaces in the instance, move to a larger "
                  "edition, or migrate in parts (--shard)",
                  "%zu existing + %ld to create = %ld of %ld (%s edition)",
                  ntns, new_ns, need_ns, qns, in->type);
        s = need_repos <= qrepos ? IT_PF_OK : IT_PF_FAIL;
        it_pf_add(c->l, s, "TCR repository quota",
                  "delete unused repositories in the instance, move to a "
                  "larger edition, or migrate in parts (--shard)",
                  "%zu existing + %ld new = %ld of %ld (%s edition)", ntrepos,
                  new_repos, need_repos, qrepos, in->type);
    }

    /* API rate limits: each action has its own bucket, so the slowest
     * action bounds the listing time. */
    struct {
        const char *action;
        long calls;
    } calls[] = {
        {"DescribeRepositoryOwnerPersonal", 1 + ((long)ncrepos + 99) / 100},
        {"DescribeImagePersonal", 0},
        {"CreateNamespace", new_ns},
        {"CreateInstanceToken", 1},
    };
    for (size_t i = 0; i < ncrepos; i++) /* pages of 100 tags, at least 1 */
        calls[1].calls += crepos[i].tag_count > 100
                              ? (long)((crepos[i].tag_count + 99) / 100)
                              : 1;
    double worst = 0;
    const char *worst_action = calls[0].action;
    long total = 0;
    for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
        double rate = tc_action_rate(calls[i].action);
        total += calls[i].calls;
        if (rate > 0 && calls[i].calls / rate > worst) {
            worst = calls[i].calls / rate;
            worst_action = calls[i].action;
        }
    }
    char d[40] = "under 1s";
    if (worst >= 1) {
        memcpy(d, "at least ", 9);
        it_format_duration(d + 9, sizeof(d) - 9, worst);
    }
    it_pf_add(c->l, IT_PF_INFO, "API rate limits", NULL,
              "about %ld API calls; at the documented rates the listing "
              "takes %s (%s, %.0f/s)",
              total, d, worst_action, tc_action_rate(worst_action));

    if (ncrepos > 0) {
        *probe_repo = strdup(crepos[0].full_name);
        *ns_exists = ns_in(tns, ntns, crepos[0].namespace_name);
    }
    go = true;
out:
    tc_namespaces_free(cns, ncns);
    tc_namespaces_free(tns, ntns);
    tc_repos_free(crepos, ncrepos);
    tc_repos_free(trepos, ntrepos);
    tc_instances_free(inst, ninst);
    return go;
}

static int ccr_run(checks *c)
{
    const it_preflight_in *in = c->in;
    char *repo = NULL, *dst = NULL;
    bool ns_exists = false;
    if (!ccr_api_checks(c, &repo, &ns_exists)) {
        it_engine_input_done(in->engine);
        it_engine_wait(in->engine);
        it_pf_add(c->l, IT_PF_INFO, "plan", NULL,
                  "not made: fix the failures above first");
        goto out;
    }
    /* The planner in dry-run: lists, creates nothing, gets the login. */
    it_ccr_set_plan_out(in->ccr, NULL);
    int rc = it_ccr_feed(in->ccr, in->engine, in->progress, in->ctl);
    it_engine_wait(in->engine);
    if (rc == IT_CCR_EAUTH)
        c->l->cloud_auth_failed = true;
    if (rc != 0)
        it_pf_add(c->l, IT_PF_FAIL, "CCR planner",
                  "see the error in the log (stderr or --log-file)",
                  "stopped before the plan was complete");
    const char *src = it_ccr_source_host(in->ccr);
    dst = it_ccr_target_host(in->ccr);
    host_role *s = src ? host_of(c, src, repo) : NULL;
    if (s) {
        s->source = true;
        check_host(c, s);
    }
    host_role *t = dst ? host_of(c, dst, repo) : NULL;
    if (t) {
        t->target = true;
        check_host(c, t);
    }
    if (s && s->ok && repo)
        check_pull(c, src, repo, NULL);
    if (t && t->ok && repo) {
        if (ns_exists)
            check_push(c, t, repo);
        else
            it_pf_add(c->l, IT_PF_INFO, "push", NULL,
                      "not probed: the namespace of %s does not exist in "
                      "TCR yet (the run creates it)",
                      repo);
    }
    plan_lines(c);
out:
    free(repo);
    free(dst);
    return 0;
}

/* ------------------------------------------------------ the run */

int it_preflight_run(const it_preflight_in *in)
{
    it_pf_list l = {0};
    checks c = {.in = in, .l = &l};
    if (in->ccr) {
        ccr_run(&c);
    } else {
        it_pf_add(&l, IT_PF_OK, "rules", NULL, "%zu rule(s) parsed",
                  in->npairs);
        registry_checks(&c, in->pairs, in->npairs);
        bool hosts_ok = true;
        for (size_t i = 0; i < c.nhosts; i++)
            hosts_ok = hosts_ok && c.hosts[i].ok;
        if (hosts_ok) {
            generic_plan(&c);
            plan_lines(&c);
        } else {
            it_engine_input_done(in->engine);
            it_engine_wait(in->engine);
            it_pf_add(&l, IT_PF_INFO, "plan", NULL,
                      "not made: a registry above cannot be used");
        }
    }
    it_pf_render(in->out, &l, it_pf_utf8_terminal(STDOUT_FILENO));
    fflush(in->out);
    int code = it_pf_exit_code(&l);
    it_pf_free(&l);
    return code;
}
