/*
 * test_namespaces.c - whole namespaces and --prune (issue 14): wildcard
 * rules (parsing, target mapping), the prefix test, Harbor API pages
 * (hostile input), and the engine's expansion and prune decisions against
 * the in-memory registry (memreg.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "log.h"
#include "memreg.h"
#include "progress.h"
#include "registry.h"
#include "rules.h"

#include "test_util.h"

#define SRC "src.test"
#define DST "dst.test"

/* ------------------------------------------------------------ rules */

static int resolve(it_pair *p, const char *src, const char *dst,
                   const char *def_reg, const char *def_ns, char *msg)
{
    it_rule r = {.source = (char *)src, .target = (char *)dst, .line = 3};
    it_errbuf err = {{0}};
    int rc = it_rule_resolve(p, &r, "rules.yaml", def_reg, def_ns, &err);
    if (msg)
        strcpy(msg, err.msg);
    return rc;
}

static void test_wildcard_rules(void **state)
{
    (void)state;
    it_pair p;
    char msg[sizeof(((it_errbuf *)0)->msg)];

    assert_true(it_rule_is_wildcard("reg.example.com/team/*"));
    assert_true(it_rule_is_wildcard("reg.example.com/* "));
    assert_false(it_rule_is_wildcard("reg.example.com/team"));
    assert_false(it_rule_is_wildcard("reg.example.com/team*"));

    assert_int_equal(resolve(&p, "reg.example.com/team/*",
                             "tcr.example.com/mirror", NULL, NULL, msg),
                     0);
    assert_true(p.wildcard);
    assert_string_equal(p.src_host, "reg.example.com");
    assert_string_equal(p.src_repo, "team");
    assert_string_equal(p.dst_host, "tcr.example.com");
    assert_string_equal(p.dst_repo, "mirror");
    assert_null(p.tags);
    assert_null(p.src_digest);
    assert_null(p.dst_tag);
    char *t = it_wildcard_target(&p, "team/app");
    assert_string_equal(t, "mirror/app");
    free(t);
    t = it_wildcard_target(&p, "team/a/b");
    assert_string_equal(t, "mirror/a/b");
    free(t);
    assert_null(it_wildcard_target(&p, "teamx/app"));
    assert_null(it_wildcard_target(&p, "team"));
    it_pair_clear(&p);

    /* the whole registry, to a bare host: paths kept as they are */
    assert_int_equal(
        resolve(&p, "localhost:5000/*", "tcr.example.com", NULL, NULL, msg), 0);
    assert_string_equal(p.src_repo, "");
    assert_string_equal(p.dst_repo, "");
    t = it_wildcard_target(&p, "a/b");
    assert_string_equal(t, "a/b");
    free(t);
    it_pair_clear(&p);

    /* empty target: --registry/--ns, or the source prefix */
    assert_int_equal(resolve(&p, "reg.example.com/team/*", NULL,
                             "tcr.example.com", "ns", msg),
                     0);
    assert_string_equal(p.dst_host, "tcr.example.com");
    assert_string_equal(p.dst_repo, "ns");
    it_pair_clear(&p);
    assert_int_equal(
        resolve(&p, "reg.example.com/team/*", "", "tcr.example.com", NULL, msg),
        0);
    assert_string_equal(p.dst_repo, "team");
    it_pair_clear(&p);

    /* configuration errors, each naming the file and line */
    static const struct {
        const char *src, *dst, *want;
    } bad[] = {
        {"reg.example.com/team/*:v1", "tcr.example.com/m", "no tag"},
        {"reg.example.com/team:v1,v2/*", "tcr.example.com/m", "no tag"},
        {"reg.example.com/team@sha256:"
         "0000000000000000000000000000000000000000000000000000000000000000/*",
         "tcr.example.com/m", "no tag"},
        {"reg.example.com/te*m/*", "tcr.example.com/m", "only a final /*"},
        {"team/*", "tcr.example.com/m", "names its registry host"},
        {"reg.example.com/team/*", "tcr.example.com/m:v1", "no tag"},
        {"reg.example.com/team/*", "tcr.example.com/m/*", "without *"},
        {"reg.example.com/team/*", "reg.example.com/team/sub", "overlap"},
        {"reg.example.com/*", "reg.example.com/copy", "overlap"},
        {"reg.example.com/team/*", NULL, "no usable default registry"},
        /* a bare host target must be a host (a fuzz finding) */
        {"quay.io/a/*", "tags:0123!=2\"", "target"},
        {"quay.io/a/*", "reg.example.com:5000 x", "target"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        msg[0] = '\0';
        assert_int_equal(resolve(&p, bad[i].src, bad[i].dst, NULL, NULL, msg),
                         -1);
        assert_non_null(strstr(msg, "rules.yaml:3: "));
        if (!strstr(msg, bad[i].want))
            fail_msg("%s: got '%s', want '%s'", bad[i].src, msg, bad[i].want);
        assert_null(p.src_host);
    }
}

static void test_repo_below(void **state)
{
    (void)state;
    assert_true(reg_repo_below("team/app", "team"));
    assert_true(reg_repo_below("team/a/b", "team"));
    assert_true(reg_repo_below("team/a/b", "team/a"));
    assert_true(reg_repo_below("anything", ""));
    assert_false(reg_repo_below("team", "team"));
    assert_false(reg_repo_below("teamx/app", "team"));
    assert_false(reg_repo_below("team/", "team"));
    assert_false(reg_repo_below("", ""));
    assert_false(reg_repo_below("other/team/app", "team"));
}

/* ---------------------------------------------------- Harbor API pages */

static void test_harbor_page_parse(void **state)
{
    (void)state;
    char **v = NULL;
    size_t n = 0;
    reg_error err = {0};
    const char *good = "[{\"name\":\"team/app\",\"id\":1},"
                       "{\"name\":\"team/a/b\"},"
                       "{\"name\":\"Bad Name\"},"        /* not a path */
                       "{\"name\":\"x\\u001b[31m\"},"    /* escape bytes */
                       "{\"name\":\"../../etc\"},"       /* not a path */
                       "{\"name\":7},{\"id\":2},3,null," /* no name */
                       "{\"name\":\"tools/cli\"}]";
    assert_int_equal(reg_harbor_page_parse(&v, &n, good, strlen(good), 0, &err),
                     0);
    assert_int_equal(n, 3);
    assert_string_equal(v[0], "team/app");
    assert_string_equal(v[1], "team/a/b");
    assert_string_equal(v[2], "tools/cli");
    assert_null(v[3]);
    reg_strv_free(v);

    static const char *const hostile[] = {
        "",
        "not json",
        "{\"name\":\"team/app\"}",
        "\"team/app\"",
        "[{\"name\":\"a\"}",
        "{\"errors\":[]}",
    };
    for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
        v = (char **)1;
        assert_int_equal(reg_harbor_page_parse(&v, &n, hostile[i],
                                               strlen(hostile[i]), 0, &err),
                         REG_ERR);
        assert_null(v);
        assert_int_equal(n, 0);
    }
    /* an empty page is a page */
    assert_int_equal(reg_harbor_page_parse(&v, &n, "[]", 2, 0, &err), 0);
    assert_int_equal(n, 0);
    reg_strv_free(v);
    /* more items than a page may hold */
    assert_int_equal(reg_harbor_page_parse(&v, &n, "[1,2,3]", 7, 2, &err),
                     REG_ELIMIT);
    assert_null(v);
}

/* ------------------------------------------------------------ engine */

typedef struct fx {
    memreg *m;
    it_progress *progress;
    it_engine *e;
    pthread_mutex_t lock;
    it_image_result res[64]; /* copies of what on_result handed over */
    size_t nres;
    bool dry_run, prune, shard_odd;
} fx;

static void collect(void *payload, const it_image_result *r)
{
    fx *f = payload;
    pthread_mutex_lock(&f->lock);
    assert_true(f->nres < 64);
    f->res[f->nres++] = (it_image_result){
        .source = strdup(r->source),
        .target = strdup(r->target),
        .digest = r->digest ? strdup(r->digest) : NULL,
        .status = r->status,
        .error = r->error ? strdup(r->error) : NULL,
    };
    pthread_mutex_unlock(&f->lock);
}

static void no_sleep(void *payload, int64_t ms)
{
    (void)payload;
    (void)ms;
}

/* --shard for found repositories: this "shard" takes all but team/a. */
static bool takes(void *payload, const char *repo)
{
    (void)payload;
    return strcmp(repo, "team/a") != 0;
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    pthread_mutex_init(&f->lock, NULL);
    f->m = memreg_new();
    f->progress = it_progress_new("generic", "src", "dst", NULL);
    *state = f;
    return f->m && f->progress ? 0 : -1;
}

static int teardown(void **state)
{
    fx *f = *state;
    it_engine_free(f->e);
    it_progress_free(f->progress);
    memreg_free(f->m);
    for (size_t i = 0; i < f->nres; i++) {
        free((char *)f->res[i].source);
        free((char *)f->res[i].target);
        free((char *)f->res[i].digest);
        free((char *)f->res[i].error);
    }
    pthread_mutex_destroy(&f->lock);
    free(f);
    return 0;
}

/* Runs the engine over one pair to the end. */
static void run_pair(fx *f, const it_pair *p)
{
    FILE *plan = fopen("/dev/null", "w");
    assert_non_null(plan);
    it_engine_opts o = {0};
    o.routines = 2;
    o.retry = 1;
    o.progress = f->progress;
    o.regops = memreg_ops(f->m);
    o.sleep_ms = no_sleep;
    o.on_result = collect;
    o.result_payload = f;
    o.dry_run = f->dry_run;
    o.plan_out = plan;
    o.prune = f->prune;
    if (f->shard_odd)
        o.takes_repo = takes;
    it_errbuf err = {{0}};
    assert_int_equal(it_engine_start(&f->e, &o, &err), 0);
    assert_int_equal(it_engine_add_pair(f->e, p), 0);
    it_engine_input_done(f->e);
    it_engine_wait(f->e);
    long repos = -1, images = -1;
    it_engine_live(f->e, &repos, &images);
    assert_int_equal(repos, 0);
    assert_int_equal(images, 0);
    fclose(plan);
}

static void run_all_tags(fx *f, const char *repo)
{
    it_pair p = {.src_host = SRC,
                 .src_repo = (char *)repo,
                 .dst_host = DST,
                 .dst_repo = (char *)repo};
    run_pair(f, &p);
}

/* An image named `name` (same name: same digest) tagged host/repo:tag. */
static void image(fx *f, const char *host, const char *repo, const char *tag,
                  const char *name)
{
    char c[72], l[72], cfg[64], layer[64], d[72];
    snprintf(cfg, sizeof(cfg), "%s-config", name);
    snprintf(layer, sizeof(layer), "%s-layer", name);
    memreg_blob(f->m, host, repo, cfg, 10, c);
    memreg_blob(f->m, host, repo, layer, 100, l);
    const char *blobs[] = {c, l};
    memreg_image(f->m, host, repo, tag, blobs, 2, d);
}

static bool has_tag(fx *f, const char *host, const char *repo, const char *tag)
{
    char d[72];
    memreg_tag_digest(f->m, host, repo, tag, d);
    return d[0] != '\0';
}

/* The snapshot's row of source src, or NULL. */
static const it_repo_row *row(const it_snapshot *s, const char *src)
{
    for (size_t i = 0; i < s->n_rows; i++)
        if (strcmp(s->rows[i].src_repo, src) == 0)
            return &s->rows[i];
    return NULL;
}

static const it_image_result *find(fx *f, const char *target_suffix)
{
    for (size_t i = 0; i < f->nres; i++) {
        size_t lt = strlen(f->res[i].target), lx = strlen(target_suffix);
        if (lt >= lx && strcmp(f->res[i].target + lt - lx, target_suffix) == 0)
            return &f->res[i];
    }
    return NULL;
}

/* The source has t1, t2; the target t1, t2 and t3 (gone at the source). */
static void prune_world(fx *f)
{
    image(f, SRC, "app", "t1", "A");
    image(f, SRC, "app", "t2", "B");
    image(f, DST, "app", "t1", "A");
    image(f, DST, "app", "t2", "B");
    image(f, DST, "app", "t3", "C");
}

static void test_prune_deletes_what_the_source_lost(void **state)
{
    fx *f = *state;
    prune_world(f);
    f->prune = true;
    run_all_tags(f, "app");
    assert_false(has_tag(f, DST, "app", "t3"));
    assert_true(has_tag(f, DST, "app", "t1"));
    assert_true(has_tag(f, DST, "app", "t2"));
    assert_true(has_tag(f, SRC, "app", "t1"));
    const it_image_result *r = find(f, "/app:t3");
    assert_non_null(r);
    assert_int_equal(r->status, IT_STATUS_PRUNED);
    assert_string_equal(it_image_status_name(r->status), "pruned");
    it_engine_stats st;
    it_engine_stats_get(f->e, &st);
    assert_int_equal(st.tags_pruned, 1);
    assert_int_equal(st.images_failed, 0);
    /* deleted by tag: one DELETE, for t3 only */
    assert_int_equal(memreg_calls(f->m, MR_MANIFEST_DELETE, NULL, NULL, NULL),
                     1);
    assert_int_equal(memreg_calls(f->m, MR_MANIFEST_DELETE, DST, "app", "t3"),
                     1);
}

static void test_prune_off_by_default(void **state)
{
    fx *f = *state;
    prune_world(f);
    run_all_tags(f, "app");
    assert_true(has_tag(f, DST, "app", "t3"));
    assert_int_equal(memreg_calls(f->m, MR_MANIFEST_DELETE, NULL, NULL, NULL),
                     0);
}

/* A registry that deletes by digest only: a tag whose manifest a kept tag
 * shares is kept and reported; another is deleted by its digest. */
static void test_prune_by_digest_keeps_shared(void **state)
{
    fx *f = *state;
    prune_world(f);
    image(f, DST, "app", "old", "A"); /* the same manifest as kept t1 */
    memreg_fail(f->m, MR_MANIFEST_DELETE, DST, "app", "t3", REG_EUNSUPPORTED,
                405, -1);
    memreg_fail(f->m, MR_MANIFEST_DELETE, DST, "app", "old", REG_EUNSUPPORTED,
                405, -1);
    f->prune = true;
    run_all_tags(f, "app");
    assert_false(has_tag(f, DST, "app", "t3"));
    assert_true(has_tag(f, DST, "app", "old"));
    assert_true(has_tag(f, DST, "app", "t1"));
    assert_true(has_tag(f, DST, "app", "t2"));
    const it_image_result *r = find(f, "/app:old");
    assert_non_null(r);
    assert_int_equal(r->status, IT_STATUS_NOT_PRUNED);
    assert_non_null(strstr(r->error, "deletes by digest only"));
    assert_non_null(strstr(r->error, "'t1'"));
    r = find(f, "/app:t3");
    assert_non_null(r);
    assert_int_equal(r->status, IT_STATUS_PRUNED);
    assert_non_null(r->digest);
    it_engine_stats st;
    it_engine_stats_get(f->e, &st);
    assert_int_equal(st.tags_pruned, 1);
    assert_int_equal(st.tags_not_pruned, 1);
}

/* Deletes disabled (405 for tags and digests): a failure naming the
 * registry setting. */
static void test_prune_deletes_disabled(void **state)
{
    fx *f = *state;
    prune_world(f);
    memreg_fail(f->m, MR_MANIFEST_DELETE, DST, NULL, NULL, REG_EUNSUPPORTED,
                405, -1);
    f->prune = true;
    run_all_tags(f, "app");
    assert_true(has_tag(f, DST, "app", "t3"));
    const it_image_result *r = find(f, "/app:t3");
    assert_non_null(r);
    assert_int_equal(r->status, IT_STATUS_FAILED);
    assert_non_null(strstr(r->error, "storage.delete.enabled"));
}

/* Never after a failed, cut or empty listing. */
static void test_prune_never_on_bad_listing(void **state)
{
    fx *f = *state;
    static const int codes[] = {REG_ERR, REG_ELIMIT, REG_EDENIED};
    prune_world(f);
    f->prune = true;
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        memreg_fail(f->m, MR_TAGS_EACH, SRC, "app", NULL, codes[i], 500, 1);
        run_all_tags(f, "app");
        it_engine_free(f->e);
        f->e = NULL;
        assert_true(has_tag(f, DST, "app", "t3"));
    }
    /* an empty source repository */
    memreg_repo(f->m, SRC, "empty");
    image(f, DST, "empty", "x", "X");
    run_all_tags(f, "empty");
    assert_true(has_tag(f, DST, "empty", "x"));
    assert_int_equal(memreg_calls(f->m, MR_MANIFEST_DELETE, NULL, NULL, NULL),
                     0);
}

/* Never for a rule naming tags or a digest. */
static void test_prune_never_for_tags_or_digest(void **state)
{
    fx *f = *state;
    prune_world(f);
    f->prune = true;
    char *tags[] = {"t1", NULL};
    it_pair p = {.src_host = SRC,
                 .src_repo = "app",
                 .tags = tags,
                 .dst_host = DST,
                 .dst_repo = "app"};
    run_pair(f, &p);
    it_engine_free(f->e);
    f->e = NULL;
    char d[72];
    memreg_tag_digest(f->m, SRC, "app", "t1", d);
    it_pair q = {.src_host = SRC,
                 .src_repo = "app",
                 .src_digest = d,
                 .dst_host = DST,
                 .dst_repo = "app"};
    run_pair(f, &q);
    assert_true(has_tag(f, DST, "app", "t3"));
    assert_true(has_tag(f, DST, "app", "t2"));
    assert_int_equal(memreg_calls(f->m, MR_MANIFEST_DELETE, NULL, NULL, NULL),
                     0);
}

static void test_prune_dry_run(void **state)
{
    fx *f = *state;
    prune_world(f);
    f->prune = true;
    f->dry_run = true;
    run_all_tags(f, "app");
    assert_true(has_tag(f, DST, "app", "t3"));
    assert_int_equal(memreg_calls(f->m, MR_MANIFEST_DELETE, NULL, NULL, NULL),
                     0);
    const it_image_result *r = find(f, "/app:t3");
    assert_non_null(r);
    assert_int_equal(r->status, IT_STATUS_PRUNE_PLANNED);
    it_engine_stats st;
    it_engine_stats_get(f->e, &st);
    assert_int_equal(st.tags_prune_planned, 1);
    assert_int_equal(st.tags_pruned, 0);
}

/* team/<star>: every repository below team, paths kept, nothing else. */
static void test_wildcard_expansion(void **state)
{
    fx *f = *state;
    image(f, SRC, "team/a", "v1", "A");
    image(f, SRC, "team/b/c", "v1", "B");
    image(f, SRC, "team", "v1", "T");
    image(f, SRC, "teamx/d", "v1", "D");
    it_pair p = {.src_host = SRC,
                 .src_repo = "team",
                 .dst_host = DST,
                 .dst_repo = "mirror",
                 .wildcard = true};
    run_pair(f, &p);
    assert_true(has_tag(f, DST, "mirror/a", "v1"));
    assert_true(has_tag(f, DST, "mirror/b/c", "v1"));
    assert_false(has_tag(f, DST, "mirror", "v1"));
    assert_false(has_tag(f, DST, "mirror/teamx/d", "v1"));
    assert_false(has_tag(f, DST, "mirror/x/d", "v1"));
    it_engine_stats st;
    it_engine_stats_get(f->e, &st);
    assert_int_equal(st.repos_found, 2);
    assert_int_equal(st.images_copied, 2);
    assert_int_equal(st.images_failed, 0);
    assert_int_equal(memreg_calls(f->m, MR_REPOS_EACH, SRC, NULL, "team"), 1);
    /* the totals count the repositories found, not the rule's own row
     * (which stays a row: "team/<star>", "2 repositories found") */
    it_snapshot *snap = it_progress_snapshot(f->progress, NULL);
    assert_non_null(snap);
    assert_int_equal(snap->totals.repos_total, 2);
    assert_int_equal(snap->totals.repos_done, 2);
    assert_int_equal(snap->n_rows, 3);
    const it_repo_row *w = row(snap, SRC "/team/*");
    assert_non_null(w);
    assert_int_equal(w->state, IT_REPO_DONE);
    assert_non_null(strstr(w->error, "2 repositories found"));
    it_snapshot_free(snap);
}

/* A wildcard that finds nothing: no repository in the totals, its row
 * says so, and a warning says the rule copies nothing. */
static void test_wildcard_finds_none(void **state)
{
    fx *f = *state;
    image(f, SRC, "team/a", "v1", "A");
    it_pair p = {.src_host = SRC,
                 .src_repo = "nothing",
                 .dst_host = DST,
                 .dst_repo = "mirror",
                 .wildcard = true};
    void *dir = NULL;
    assert_int_equal(tu_tmpdir_new(&dir, "namespaces"), 0);
    char logp[4096];
    tu_path_in(logp, sizeof(logp), dir, "log");
    assert_int_equal(it_log_open(logp, IT_LOG_WARN), 0);
    run_pair(f, &p);
    it_log_close();
    it_engine_stats st;
    it_engine_stats_get(f->e, &st);
    assert_int_equal(st.repos_found, 0);
    assert_int_equal(st.images_total, 0);
    it_snapshot *snap = it_progress_snapshot(f->progress, NULL);
    assert_non_null(snap);
    assert_int_equal(snap->totals.repos_total, 0);
    assert_int_equal(snap->totals.repos_done, 0);
    assert_int_equal(snap->n_rows, 1);
    assert_non_null(strstr(snap->rows[0].error, "0 repositories found"));
    it_snapshot_free(snap);
    FILE *lf = fopen(logp, "r");
    assert_non_null(lf);
    char buf[4096] = "";
    size_t n = fread(buf, 1, sizeof(buf) - 1, lf);
    buf[n] = '\0';
    fclose(lf);
    if (!strstr(buf, SRC "/nothing/*: no repositories found below nothing"))
        fail_msg("no warning in the log: '%s'", buf);
    tu_tmpdir_drop(&dir);
}

static void test_wildcard_shard_and_failure(void **state)
{
    fx *f = *state;
    image(f, SRC, "team/a", "v1", "A");
    image(f, SRC, "team/b", "v1", "B");
    it_pair p = {.src_host = SRC,
                 .src_repo = "team",
                 .dst_host = DST,
                 .dst_repo = "",
                 .wildcard = true};
    f->shard_odd = true; /* takes every repository but team/a */
    run_pair(f, &p);
    assert_false(has_tag(f, DST, "a", "v1"));
    assert_true(has_tag(f, DST, "b", "v1"));
    it_engine_free(f->e);
    f->e = NULL;

    /* a refused listing fails the rule as one failed result */
    memreg_fail(f->m, MR_REPOS_EACH, SRC, NULL, NULL, REG_EDENIED, 403, -1);
    size_t before = f->nres;
    it_progress_free(f->progress); /* a fresh model: this run's totals */
    f->progress = it_progress_new("generic", "src", "dst", NULL);
    assert_non_null(f->progress);
    run_pair(f, &p);
    it_engine_stats st;
    it_engine_stats_get(f->e, &st);
    assert_int_equal(st.images_failed, 1);
    assert_int_equal(st.repos_found, 0);
    assert_int_equal(f->nres, before + 1);
    assert_int_equal(f->res[before].status, IT_STATUS_FAILED);
    assert_non_null(strstr(f->res[before].error, "list repositories"));
    /* the rule's row is the one failed repository of the totals */
    it_snapshot *snap = it_progress_snapshot(f->progress, NULL);
    assert_non_null(snap);
    assert_int_equal(snap->totals.repos_total, 1);
    assert_int_equal(snap->totals.repos_done, 1);
    assert_int_equal(snap->n_rows, 1);
    assert_int_equal(snap->rows[0].state, IT_REPO_FAILED);
    it_snapshot_free(snap);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wildcard_rules),
        cmocka_unit_test(test_repo_below),
        cmocka_unit_test(test_harbor_page_parse),
        cmocka_unit_test_setup_teardown(test_prune_deletes_what_the_source_lost,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_off_by_default, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_prune_by_digest_keeps_shared,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_deletes_disabled, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_prune_never_on_bad_listing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_prune_never_for_tags_or_digest,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_dry_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wildcard_expansion, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_wildcard_shard_and_failure, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_wildcard_finds_none, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
