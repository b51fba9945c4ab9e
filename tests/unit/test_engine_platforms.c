/*
 * test_engine_platforms.c - the engine's platform filter (issue 14)
 * against the in-memory registry (memreg.h): an index keeps only its
 * matching children (a new index is pushed, only their blobs move), an
 * index without a match and a single image of another platform are
 * skipped and counted, a rerun with the same filter is settled by the
 * journal, a changed filter copies again, and a pair's own list wins over
 * --platforms.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "journal.h"
#include "memreg.h"
#include "progress.h"
#include "test_util.h"

#define SRC "src.test"
#define DST "dst.test"

typedef struct fx {
    memreg *m;
    it_progress *progress;
    it_journal *journal;
    it_runctl ctl;
    it_engine *e;
    pthread_mutex_t lock;
    it_image_result res[16]; /* copies of the last run's results */
    size_t nres;
    it_engine_stats stats; /* of the last run */
    bool override;
    bool dry_run;
    const char *platforms; /* --platforms */
    bool referrers;        /* issue 13: --referrers */
    /* the source index and its children */
    char index[72], child[4][72], blob[4][2][72];
} fx;

static char *dup0(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void clear_results(fx *f)
{
    for (size_t i = 0; i < f->nres; i++) {
        free((char *)f->res[i].source);
        free((char *)f->res[i].target);
        free((char *)f->res[i].digest);
        free((char *)f->res[i].error);
        free((char *)f->res[i].target_digest);
        free((char *)f->res[i].platforms);
    }
    f->nres = 0;
}

static void collect(void *payload, const it_image_result *r)
{
    fx *f = payload;
    pthread_mutex_lock(&f->lock);
    assert_true(f->nres < 16);
    f->res[f->nres++] = (it_image_result){
        .source = dup0(r->source),
        .target = dup0(r->target),
        .digest = dup0(r->digest),
        .status = r->status,
        .bytes = r->bytes,
        .error = dup0(r->error),
        .target_digest = dup0(r->target_digest),
        .platforms = dup0(r->platforms),
        .platform_state = r->platform_state,
    };
    pthread_mutex_unlock(&f->lock);
}

static void no_sleep(void *payload, int64_t ms)
{
    (void)payload;
    (void)ms;
}

static const char *const arch[4][3] = {{"linux", "amd64", NULL},
                                       {"linux", "arm", "v7"},
                                       {"linux", "arm64", "v8"},
                                       {"linux", "s390x", NULL}};

/* SRC/app:v1, an OCI index of four images (amd64, arm/v7, arm64/v8,
 * s390x), each of two blobs of its own. */
static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    pthread_mutex_init(&f->lock, NULL);
    f->m = memreg_new();
    char json[4096];
    size_t off = (size_t)snprintf(json, sizeof(json),
                                  "{\"schemaVersion\":2,\"mediaType\":\"%s\","
                                  "\"manifests\":[",
                                  REG_MT_OCI_INDEX);
    for (int i = 0; i < 4; i++) {
        char name[32];
        snprintf(name, sizeof(name), "cfg-%d", i);
        memreg_blob(f->m, SRC, "app", name, 10, f->blob[i][0]);
        snprintf(name, sizeof(name), "layer-%d", i);
        memreg_blob(f->m, SRC, "app", name, 1000, f->blob[i][1]);
        const char *blobs[] = {f->blob[i][0], f->blob[i][1]};
        memreg_image(f->m, SRC, "app", NULL, blobs, 2, f->child[i]);
        off += (size_t)snprintf(
            json + off, sizeof(json) - off,
            "%s{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":1,"
            "\"annotations\":{\"n\":\"%d\"},"
            "\"platform\":{\"os\":\"%s\",\"architecture\":\"%s\"%s%s%s}}",
            i ? "," : "", REG_MT_OCI_MANIFEST, f->child[i], i, arch[i][0],
            arch[i][1], arch[i][2] ? ",\"variant\":\"" : "",
            arch[i][2] ? arch[i][2] : "", arch[i][2] ? "\"" : "");
    }
    snprintf(json + off, sizeof(json) - off, "]}");
    memreg_manifest(f->m, SRC, "app", "v1", REG_MT_OCI_INDEX, json, f->index);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    it_engine_free(f->e);
    it_progress_free(f->progress);
    memreg_free(f->m);
    clear_results(f);
    pthread_mutex_destroy(&f->lock);
    free(f);
    return 0;
}

/* One run over SRC/repo -> DST/repo (the pair's own platform list when
 * pair_platforms is not NULL). */
static void run(fx *f, const char *repo, char **pair_platforms)
{
    it_engine_free(f->e);
    it_progress_free(f->progress);
    clear_results(f);
    f->progress = it_progress_new("generic", "src", "dst", NULL);
    assert_non_null(f->progress);
    it_engine_opts o = {0};
    o.routines = 2;
    o.retry = 1;
    o.progress = f->progress;
    o.journal = f->journal;
    o.ctl = &f->ctl;
    o.regops = memreg_ops(f->m);
    o.sleep_ms = no_sleep;
    o.on_result = collect;
    o.result_payload = f;
    o.tag_exist_overridden = f->override;
    o.dry_run = f->dry_run;
    o.plan_quiet = true;
    o.platforms = f->platforms;
    o.referrers = f->referrers;
    it_errbuf err = {{0}};
    assert_int_equal(it_engine_start(&f->e, &o, &err), 0);
    it_pair p = {0};
    p.src_host = SRC;
    p.src_repo = (char *)repo;
    p.dst_host = DST;
    p.dst_repo = (char *)repo;
    p.platforms = pair_platforms;
    it_engine_add_pair(f->e, &p);
    it_engine_input_done(f->e);
    it_engine_wait(f->e);
    it_engine_stats_get(f->e, &f->stats);
}

/* The dashboard's counts (the progress model's snapshot): the totals and
 * the one repository's row. */
static void assert_marked(fx *f, int filtered, int skipped)
{
    it_snapshot *s = it_progress_snapshot(f->progress, NULL);
    assert_non_null(s);
    assert_int_equal(s->totals.images_platform_filtered, filtered);
    assert_int_equal(s->totals.images_platform_skipped, skipped);
    assert_int_equal(s->n_rows, 1);
    assert_int_equal(s->rows[0].images_platform_filtered, filtered);
    assert_int_equal(s->rows[0].images_platform_skipped, skipped);
    it_snapshot_free(s);
}

static reg_manifest *target_manifest(fx *f, const char *repo, const char *tag)
{
    char d[72];
    memreg_tag_digest(f->m, DST, repo, tag, d);
    if (!d[0])
        return NULL;
    const it_regops *ops = memreg_ops(f->m);
    it_regclient *c = NULL;
    reg_client_opts co = {0};
    co.host = DST;
    reg_error err = {0};
    assert_int_equal(ops->client_new(ops->self, &c, &co, &err), 0);
    reg_manifest *m = NULL;
    assert_int_equal(ops->manifest_get(ops->self, &m, c, repo, d, &err), 0);
    ops->client_free(ops->self, c);
    return m;
}

/* Only the matching children and their blobs reach the target, under a
 * new index with just those two (in the source's order); the report gets
 * both digests and the platforms copied. */
static void test_index_filtered(void **state)
{
    fx *f = *state;
    f->platforms = "linux/amd64,linux/aarch64";
    run(f, "app", NULL);
    assert_int_equal(f->nres, 1);
    const it_image_result *r = &f->res[0];
    assert_int_equal(r->status, IT_STATUS_COPIED);
    assert_string_equal(r->digest, f->index);
    assert_non_null(r->target_digest);
    assert_string_not_equal(r->target_digest, f->index);
    assert_string_equal(r->platforms, "linux/amd64,linux/arm64/v8");
    assert_int_equal(r->platform_state, IT_PLATFORM_FILTERED);
    assert_int_equal(f->stats.images_platform_filtered, 1);
    assert_int_equal(f->stats.images_platform_skipped, 0);
    assert_marked(f, 1, 0);

    reg_manifest *m = target_manifest(f, "app", "v1");
    assert_non_null(m);
    assert_string_equal(m->digest, r->target_digest);
    assert_int_equal(m->n_children, 2);
    assert_string_equal(m->children[0].digest, f->child[0]);
    assert_string_equal(m->children[1].digest, f->child[2]);
    assert_non_null(strstr((char *)m->body, "\"annotations\":{\"n\":\"2\"}"));
    reg_manifest_free(m);
    for (int i = 0; i < 4; i++) {
        bool want = i == 0 || i == 2;
        assert_int_equal(memreg_has_manifest(f->m, DST, "app", f->child[i]),
                         want);
        for (int b = 0; b < 2; b++) {
            assert_int_equal(memreg_has_blob(f->m, DST, "app", f->blob[i][b]),
                             want);
            assert_int_equal(
                memreg_calls(f->m, MR_BLOB_COPY, DST, "app", f->blob[i][b]),
                want ? 1 : 0);
        }
        /* the dropped children are not even read */
        assert_int_equal(
            memreg_calls(f->m, MR_MANIFEST_GET, SRC, "app", f->child[i]),
            want ? 1 : 0);
    }
}

/* Without a filter the index goes byte for byte (the same digest). */
static void test_no_filter_unchanged(void **state)
{
    fx *f = *state;
    run(f, "app", NULL);
    assert_int_equal(f->res[0].status, IT_STATUS_COPIED);
    char d[72];
    memreg_tag_digest(f->m, DST, "app", "v1", d);
    assert_string_equal(d, f->index);
    assert_null(f->res[0].target_digest);
    assert_int_equal(f->stats.images_platform_filtered, 0);
    assert_marked(f, 0, 0);
}

/* No child matches: skipped with the reason, counted, nothing pushed. */
static void test_index_no_match_skipped(void **state)
{
    fx *f = *state;
    f->platforms = "windows/amd64";
    run(f, "app", NULL);
    assert_int_equal(f->res[0].status, IT_STATUS_SKIPPED);
    assert_non_null(strstr(f->res[0].error, "no matching platform"));
    assert_int_equal(f->res[0].platform_state, IT_PLATFORM_NO_MATCH);
    assert_int_equal(f->stats.images_platform_skipped, 1);
    assert_int_equal(f->stats.images_skipped, 1);
    assert_marked(f, 0, 1);
    assert_int_equal(memreg_calls(f->m, MR_MANIFEST_PUT, DST, NULL, NULL), 0);
    assert_int_equal(memreg_calls(f->m, MR_BLOB_COPY, DST, NULL, NULL), 0);
}

/* A single image is checked by its config: another platform is skipped
 * and counted, a matching one copied as it is. */
static void test_single_platform(void **state)
{
    fx *f = *state;
    char cfg[72], layer[72], d390[72], damd[72];
    memreg_blob_data(f->m, SRC, "one",
                     "{\"os\":\"linux\",\"architecture\":\"s390x\"}", cfg);
    memreg_blob(f->m, SRC, "one", "l390", 100, layer);
    const char *b1[] = {cfg, layer};
    memreg_image(f->m, SRC, "one", "s390x", b1, 2, d390);
    memreg_blob_data(f->m, SRC, "one",
                     "{\"os\":\"linux\",\"architecture\":\"x86_64\"}", cfg);
    memreg_blob(f->m, SRC, "one", "lamd", 100, layer);
    const char *b2[] = {cfg, layer};
    memreg_image(f->m, SRC, "one", "amd", b2, 2, damd);
    f->platforms = "linux/amd64";
    run(f, "one", NULL);
    assert_int_equal(f->nres, 2);
    for (size_t i = 0; i < 2; i++) {
        const it_image_result *r = &f->res[i];
        if (strstr(r->source, ":s390x")) {
            assert_int_equal(r->status, IT_STATUS_SKIPPED);
            assert_non_null(strstr(r->error, "linux/s390x"));
            assert_int_equal(r->platform_state, IT_PLATFORM_NO_MATCH);
        } else {
            assert_int_equal(r->status, IT_STATUS_COPIED);
            assert_string_equal(r->target_digest, damd);
            assert_string_equal(r->platforms, "linux/amd64");
        }
    }
    char d[72];
    memreg_tag_digest(f->m, DST, "one", "amd", d);
    assert_string_equal(d, damd);
    memreg_tag_digest(f->m, DST, "one", "s390x", d);
    assert_string_equal(d, "");
    assert_int_equal(f->stats.images_platform_skipped, 1);
    assert_int_equal(memreg_calls(f->m, MR_BLOB_GET, SRC, "one", NULL), 2);
}

/* A rerun with the same filter (spelled differently) is settled by the
 * journal and a HEAD of each side; a changed filter copies again (with
 * --tag-exist-overridden; without it the tag is left alone). */
static void test_rerun_and_filter_change(void **state)
{
    fx *f = *state;
    void *dir = NULL;
    char statedir[512];
    it_errbuf err = {{0}};
    assert_int_equal(tu_tmpdir_new(&dir, "platforms"), 0);
    tu_path_in(statedir, sizeof(statedir), dir, "state");
    assert_int_equal(it_journal_open(&f->journal, statedir, NULL, &err), 0);

    f->platforms = "linux/amd64,linux/arm64";
    run(f, "app", NULL);
    assert_int_equal(f->res[0].status, IT_STATUS_COPIED);
    char first[72];
    snprintf(first, sizeof(first), "%s", f->res[0].target_digest);

    long gets = memreg_calls(f->m, MR_MANIFEST_GET, SRC, "app", NULL);
    long puts = memreg_calls(f->m, MR_MANIFEST_PUT, DST, "app", NULL);
    f->platforms = "linux/arm64/v8,linux/x86_64";
    run(f, "app", NULL);
    assert_int_equal(f->res[0].status, IT_STATUS_SKIPPED);
    assert_non_null(strstr(f->res[0].error, "journal"));
    assert_string_equal(f->res[0].target_digest, first);
    assert_int_equal(f->stats.images_platform_filtered, 1);
    assert_int_equal(memreg_calls(f->m, MR_MANIFEST_GET, SRC, "app", NULL),
                     gets);
    assert_int_equal(memreg_calls(f->m, MR_MANIFEST_PUT, DST, "app", NULL),
                     puts);

    /* another filter, the tag left alone without the override */
    f->platforms = "linux/amd64,linux/arm/v7";
    run(f, "app", NULL);
    assert_int_equal(f->res[0].status, IT_STATUS_SKIPPED);
    assert_non_null(strstr(f->res[0].error, "--tag-exist-overridden"));
    f->override = true;
    run(f, "app", NULL);
    assert_int_equal(f->res[0].status, IT_STATUS_COPIED);
    assert_string_not_equal(f->res[0].target_digest, first);
    assert_string_equal(f->res[0].platforms, "linux/amd64,linux/arm/v7");
    assert_true(memreg_has_manifest(f->m, DST, "app", f->child[1]));
    char d[72];
    memreg_tag_digest(f->m, DST, "app", "v1", d);
    assert_string_equal(d, f->res[0].target_digest);

    /* without any filter: the whole index, not trusted to the journal */
    f->platforms = NULL;
    run(f, "app", NULL);
    assert_int_equal(f->res[0].status, IT_STATUS_COPIED);
    memreg_tag_digest(f->m, DST, "app", "v1", d);
    assert_string_equal(d, f->index);

    assert_int_equal(it_journal_close(f->journal), 0);
    f->journal = NULL;
    tu_tmpdir_drop(&dir);
}

/* A pair's own list wins over --platforms; an invalid one fails the
 * pair, naming what is wrong. */
static void test_pair_platforms(void **state)
{
    fx *f = *state;
    f->platforms = "windows/amd64";
    char *own[] = {"linux/s390x", NULL};
    run(f, "app", own);
    assert_int_equal(f->res[0].status, IT_STATUS_COPIED);
    assert_string_equal(f->res[0].platforms, "linux/s390x");
    assert_true(memreg_has_manifest(f->m, DST, "app", f->child[3]));
    assert_false(memreg_has_manifest(f->m, DST, "app", f->child[0]));

    char *bad[] = {"linux/amd46", NULL};
    run(f, "app", bad);
    assert_int_equal(f->nres, 1);
    assert_int_equal(f->res[0].status, IT_STATUS_FAILED);
    assert_non_null(strstr(f->res[0].error, "unknown architecture"));
}

/* --dry-run plans only the matching children's blobs. */
static void test_dry_run_counts_matching_only(void **state)
{
    fx *f = *state;
    f->dry_run = true;
    f->platforms = "linux/arm64,linux/s390x";
    run(f, "app", NULL);
    assert_int_equal(f->res[0].status, IT_STATUS_PLANNED);
    assert_int_equal(f->res[0].bytes, 2 * (10 + 1000));
    for (int i = 0; i < 4; i++)
        assert_int_equal(
            memreg_calls(f->m, MR_MANIFEST_GET, SRC, "app", f->child[i]),
            i >= 2 ? 1 : 0);
    assert_int_equal(memreg_calls(f->m, MR_MANIFEST_PUT, DST, NULL, NULL), 0);
}

/* SRC/buildx:v1, a buildx index: amd64 and arm64 images (the fixture's
 * children 0 and 2, pushed into "buildx" too) and an attestation
 * manifest for each (platform unknown/unknown, annotations naming the
 * child), attestation i's statement blob in att_blob[i]. */
static void buildx_index(fx *f, char att[2][72], char att_blob[2][72])
{
    char json[4096];
    size_t off = (size_t)snprintf(json, sizeof(json),
                                  "{\"schemaVersion\":2,\"mediaType\":\"%s\","
                                  "\"manifests\":[",
                                  REG_MT_OCI_INDEX);
    const int kid[2] = {0, 2};
    for (int i = 0; i < 2; i++) {
        char d[72];
        const char *blobs[] = {f->blob[kid[i]][0], f->blob[kid[i]][1]};
        memreg_blob(f->m, SRC, "buildx", i ? "cfg-2" : "cfg-0", 10, d);
        memreg_blob(f->m, SRC, "buildx", i ? "layer-2" : "layer-0", 1000, d);
        memreg_image(f->m, SRC, "buildx", NULL, blobs, 2, d);
        assert_string_equal(d, f->child[kid[i]]);
        off += (size_t)snprintf(
            json + off, sizeof(json) - off,
            "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":1,"
            "\"platform\":{\"os\":\"linux\",\"architecture\":\"%s\"}},",
            REG_MT_OCI_MANIFEST, d, i ? "arm64" : "amd64");
    }
    for (int i = 0; i < 2; i++) {
        char c[72];
        memreg_blob(f->m, SRC, "buildx", "att-cfg", 5, c);
        memreg_blob(f->m, SRC, "buildx", i ? "stmt-1" : "stmt-0", 100,
                    att_blob[i]);
        const char *blobs[] = {c, att_blob[i]};
        memreg_image(f->m, SRC, "buildx", NULL, blobs, 2, att[i]);
        off += (size_t)snprintf(
            json + off, sizeof(json) - off,
            "%s{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":1,"
            "\"annotations\":{\"vnd.docker.reference.digest\":\"%s\","
            "\"vnd.docker.reference.type\":\"attestation-manifest\"},"
            "\"platform\":{\"os\":\"unknown\",\"architecture\":"
            "\"unknown\"}}",
            i ? "," : "", REG_MT_OCI_MANIFEST, att[i], f->child[kid[i]]);
    }
    snprintf(json + off, sizeof(json) - off, "]}");
    char d[72];
    memreg_manifest(f->m, SRC, "buildx", "v1", REG_MT_OCI_INDEX, json, d);
}

/* buildx's attestation manifests go with the child they describe: the
 * target index holds the amd64 image and its attestation, the report one
 * platform; a dry run plans the attestation's blobs too. */
/* A signature (an OCI artifact whose subject is `subject`) in SRC/app, by
 * digest only; its digest in d. */
static void signature(fx *f, const char *subject, const char *name, char d[72])
{
    char empty[72], l[72], json[1024];
    memreg_blob(f->m, SRC, "app", "{}", 2, empty);
    memreg_blob(f->m, SRC, "app", name, 20, l);
    snprintf(json, sizeof(json),
             "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"artifactType\":"
             "\"application/vnd.test.sig\",\"config\":{\"mediaType\":\"%s\","
             "\"digest\":\"%s\",\"size\":2},\"layers\":[{\"mediaType\":"
             "\"application/octet-stream\",\"digest\":\"%s\",\"size\":20}],"
             "\"subject\":{\"mediaType\":\"%s\",\"digest\":\"%s\","
             "\"size\":1}}",
             REG_MT_OCI_MANIFEST, REG_MT_OCI_EMPTY, empty, l,
             REG_MT_OCI_MANIFEST, subject);
    memreg_put(f->m, SRC, "app", NULL, REG_MT_OCI_MANIFEST, json, d);
}

/* A filtered index found present on the target (by HEAD, no journal)
 * still has its referrers copied: those of the kept children, not those
 * of the children left out (issue 13 with issue 14's filter). */
static void test_present_filtered_gets_referrers(void **state)
{
    fx *f = *state;
    char kept[72], dropped[72];
    memreg_serve_referrers(f->m, SRC);
    signature(f, f->child[0], "sig-amd64", kept);
    signature(f, f->child[3], "sig-s390x", dropped);
    f->platforms = "linux/amd64,linux/arm64/v8";
    f->referrers = true;
    run(f, "app", NULL);
    assert_int_equal(f->res[0].status, IT_STATUS_COPIED);
    assert_true(memreg_has_manifest(f->m, DST, "app", kept));
    assert_false(memreg_has_manifest(f->m, DST, "app", dropped));

    /* the signature lost on the target; the image is there: present */
    memreg_drop_manifest(f->m, DST, "app", kept);
    run(f, "app", NULL);
    assert_int_equal(f->nres, 1);
    assert_int_equal(f->res[0].status, IT_STATUS_SKIPPED);
    assert_non_null(strstr(f->res[0].error, "already present"));
    assert_true(memreg_has_manifest(f->m, DST, "app", kept));
    assert_false(memreg_has_manifest(f->m, DST, "app", dropped));

    /* a referrer that cannot be read fails the present image */
    memreg_drop_manifest(f->m, DST, "app", kept);
    memreg_fail(f->m, MR_MANIFEST_GET, SRC, "app", kept, REG_EAUTH, 403, -1);
    run(f, "app", NULL);
    assert_int_equal(f->res[0].status, IT_STATUS_FAILED);
    assert_non_null(strstr(f->res[0].error, "referrers"));
}

static void test_buildx_attestations(void **state)
{
    fx *f = *state;
    char att[2][72], att_blob[2][72];
    buildx_index(f, att, att_blob);
    f->platforms = "linux/amd64";
    f->dry_run = true;
    run(f, "buildx", NULL);
    assert_int_equal(f->res[0].status, IT_STATUS_PLANNED);
    assert_int_equal(f->res[0].bytes, (10 + 1000) + (5 + 100));
    f->dry_run = false;
    run(f, "buildx", NULL);
    assert_int_equal(f->nres, 1);
    assert_int_equal(f->res[0].status, IT_STATUS_COPIED);
    assert_string_equal(f->res[0].platforms, "linux/amd64");
    reg_manifest *m = target_manifest(f, "buildx", "v1");
    assert_non_null(m);
    assert_int_equal(m->n_children, 2);
    assert_string_equal(m->children[0].digest, f->child[0]);
    assert_string_equal(m->children[1].digest, att[0]);
    reg_manifest_free(m);
    assert_true(memreg_has_manifest(f->m, DST, "buildx", att[0]));
    assert_true(memreg_has_blob(f->m, DST, "buildx", att_blob[0]));
    assert_false(memreg_has_manifest(f->m, DST, "buildx", f->child[2]));
    assert_false(memreg_has_manifest(f->m, DST, "buildx", att[1]));
    assert_false(memreg_has_blob(f->m, DST, "buildx", att_blob[1]));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_index_filtered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_filter_unchanged, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_index_no_match_skipped, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_single_platform, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rerun_and_filter_change, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pair_platforms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dry_run_counts_matching_only,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_present_filtered_gets_referrers,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_buildx_attestations, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
