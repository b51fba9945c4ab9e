/*
 * test_referrers.c - issue 13: referrers travel with their images, and
 * foreign layers are never fetched. The engine is driven against the
 * in-memory registry (memreg.h): referrers found through the referrers API
 * or, where it is not served, the referrers tag schema and cosign's tags;
 * chains, the depth cap, a rerun that finds everything present,
 * --referrers=false, a failing referrer.
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

#define SRC  "src.test"
#define DST  "dst.test"
#define REPO "app"

typedef struct fx {
    memreg *m;
    it_progress *progress;
    it_engine *e;
    bool no_referrers;
    bool all_tags;       /* run() copies every tag of SRC/app */
    bool dry_run;        /* --dry-run, plan lines not printed */
    it_journal *journal; /* NULL: a run without a state dir */
    void *dir;           /* the state dir's temporary parent */
    pthread_mutex_t lock;
    it_image_result res[16]; /* strings not kept: status and counts */
    char error[16][600];
    size_t nres;
    int verify;            /* FA: --verify (0 off, 1 shallow, 2 deep) */
    char missing[16][600]; /* FA: each result's missing, joined by ' | ' */
    /* more repositories of SRC, copied like REPO (issue 15), and the
     * worker threads (0: the engine's default) */
    const char *const *more;
    int workers;
} fx;

static void collect(void *payload, const it_image_result *r)
{
    fx *f = payload;
    pthread_mutex_lock(&f->lock);
    if (f->nres < 16) {
        f->res[f->nres] = *r;
        snprintf(f->error[f->nres], sizeof(f->error[0]), "%s",
                 r->error ? r->error : "");
        f->res[f->nres].source = f->res[f->nres].target = NULL;
        f->res[f->nres].digest = f->res[f->nres].error = NULL;
        f->missing[f->nres][0] = '\0'; /* FA */
        for (size_t i = 0; i < r->nmissing; i++)
            snprintf(f->missing[f->nres] + strlen(f->missing[f->nres]),
                     sizeof(f->missing[0]) - strlen(f->missing[f->nres]),
                     "%s%s", i ? " | " : "", r->missing[i]);
        f->res[f->nres].missing = NULL;
        f->res[f->nres].target_digest = f->res[f->nres].platforms = NULL;
        f->nres++;
    }
    pthread_mutex_unlock(&f->lock);
}

static void no_sleep(void *payload, int64_t ms)
{
    (void)payload;
    (void)ms;
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
    if (f->journal)
        it_journal_close(f->journal);
    if (f->dir)
        tu_tmpdir_drop(&f->dir);
    it_progress_free(f->progress);
    memreg_free(f->m);
    pthread_mutex_destroy(&f->lock);
    free(f);
    return 0;
}

/* Copies SRC/app:1 to DST/app:1 (one tag, so the referrer tags are not
 * copied as images of their own) to the end. */
static void run(fx *f)
{
    if (f->e) {
        it_engine_free(f->e);
        f->e = NULL;
        f->nres = 0;
    }
    it_engine_opts o = {0};
    o.routines = 2;
    o.workers = f->workers;
    o.retry = 1;
    o.tag_exist_overridden = true;
    o.progress = f->progress;
    o.regops = memreg_ops(f->m);
    o.sleep_ms = no_sleep;
    o.on_result = collect;
    o.result_payload = f;
    o.referrers = !f->no_referrers;
    o.journal = f->journal;
    o.verify = f->verify; /* FA */
    o.dry_run = f->dry_run;
    o.plan_quiet = f->dry_run;
    it_errbuf err = {{0}};
    assert_int_equal(it_engine_start(&f->e, &o, &err), 0);
    char *tags[] = {"1", NULL};
    it_pair p = {0};
    p.src_host = SRC;
    p.src_repo = REPO;
    p.tags = f->all_tags ? NULL : tags;
    p.dst_host = DST;
    p.dst_repo = REPO;
    assert_int_equal(it_engine_add_pair(f->e, &p), 0);
    for (const char *const *r = f->more; r && *r; r++) {
        p.src_repo = p.dst_repo = (char *)*r;
        assert_int_equal(it_engine_add_pair(f->e, &p), 0);
    }
    it_engine_input_done(f->e);
    it_engine_wait(f->e);
    if (!f->all_tags && !f->more)
        assert_int_equal(f->nres, 1);
}

/* The image SRC/app:1 (config + one layer); its digest in d. */
static void image(fx *f, char d[72])
{
    char c[72], l[72];
    memreg_blob(f->m, SRC, REPO, "config", 10, c);
    memreg_blob(f->m, SRC, REPO, "layer", 100, l);
    const char *blobs[] = {c, l};
    memreg_image(f->m, SRC, REPO, "1", blobs, 2, d);
}

/* An OCI artifact in SRC/app: empty config, one layer named `name`,
 * artifactType `at`, subject `subject` (NULL: none), under tag (NULL: by
 * digest only). */
static void artifact(fx *f, const char *name, const char *at,
                     const char *subject, const char *tag, char d[72])
{
    char empty[72], l[72], json[2048];
    memreg_blob(f->m, SRC, REPO, "{}", 2, empty);
    memreg_blob(f->m, SRC, REPO, name, 20, l);
    int n = snprintf(
        json, sizeof(json),
        "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"artifactType\":\"%s\","
        "\"config\":{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":2},"
        "\"layers\":[{\"mediaType\":\"application/octet-stream\","
        "\"digest\":\"%s\",\"size\":20}]",
        REG_MT_OCI_MANIFEST, at, REG_MT_OCI_EMPTY, empty, l);
    if (subject)
        n += snprintf(json + n, sizeof(json) - (size_t)n,
                      ",\"subject\":{\"mediaType\":\"%s\",\"digest\":\"%s\","
                      "\"size\":100}",
                      REG_MT_OCI_MANIFEST, subject);
    snprintf(json + n, sizeof(json) - (size_t)n, "}");
    memreg_put(f->m, SRC, REPO, tag, REG_MT_OCI_MANIFEST, json, d);
}

/* The referrers tag schema index of subject in SRC/app, listing one
 * referrer. */
static void tag_schema(fx *f, const char *subject, const char *ref,
                       const char *at)
{
    char tag[128], json[1024], d[72];
    assert_int_equal(reg_referrers_tag(tag, sizeof(tag), subject, "", NULL), 0);
    snprintf(json, sizeof(json),
             "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"manifests\":[{"
             "\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":300,"
             "\"artifactType\":\"%s\"}]}",
             REG_MT_OCI_INDEX, REG_MT_OCI_MANIFEST, ref, at);
    memreg_put(f->m, SRC, REPO, tag, REG_MT_OCI_INDEX, json, d);
}

/* A source without the referrers API: an SBOM pushed by digest only and
 * found through the tag schema, a signature on the SBOM (two levels), a
 * cosign signature tag. All land on a target without the API, byte for
 * byte, and the target gets the tag schema index. */
static void test_tag_schema_and_cosign(void **state)
{
    fx *f = *state;
    char img[72], sbom[72], sig2[72], cosign[72], tag[128], got[72];
    image(f, img);
    artifact(f, "sbom", "application/spdx+json", img, NULL, sbom);
    tag_schema(f, img, sbom, "application/spdx+json");
    artifact(f, "sig2", "application/vnd.dev.sigstore.bundle+json", sbom, NULL,
             sig2);
    tag_schema(f, sbom, sig2, "application/vnd.dev.sigstore.bundle+json");
    assert_int_equal(reg_referrers_tag(tag, sizeof(tag), img, ".sig", NULL), 0);
    artifact(f, "cosign", "application/vnd.dev.cosign.simplesigning.v1+json",
             NULL, tag, cosign);
    run(f);
    assert_int_equal(f->res[0].status, IT_STATUS_COPIED);
    assert_int_equal(f->res[0].referrers_copied, 3);
    assert_int_equal(f->res[0].referrers_skipped, 0);
    assert_true(memreg_has_manifest(f->m, DST, REPO, sbom));
    assert_true(memreg_has_manifest(f->m, DST, REPO, sig2));
    memreg_tag_digest(f->m, DST, REPO, tag, got);
    assert_string_equal(got, cosign);
    /* the tag schema index written on the target */
    assert_int_equal(reg_referrers_tag(tag, sizeof(tag), img, "", NULL), 0);
    memreg_tag_digest(f->m, DST, REPO, tag, got);
    assert_true(got[0] != '\0');
    /* the referrers' blobs went along; the API was asked once a side */
    char l[72];
    memreg_blob(f->m, SRC, REPO, "sig2", 20, l);
    assert_true(memreg_has_blob(f->m, DST, REPO, l));
    assert_int_equal(memreg_calls(f->m, MR_REFERRERS, SRC, NULL, NULL), 1);
    assert_int_equal(memreg_calls(f->m, MR_REFERRERS, DST, NULL, NULL), 1);
}

/* Both sides serve the API: the referrer is found through it, and no tag
 * schema index is written on the target. */
static void test_api_both_sides(void **state)
{
    fx *f = *state;
    char img[72], sbom[72], tag[128], got[72];
    memreg_serve_referrers(f->m, SRC);
    memreg_serve_referrers(f->m, DST);
    image(f, img);
    artifact(f, "sbom", "application/spdx+json", img, NULL, sbom);
    run(f);
    assert_int_equal(f->res[0].status, IT_STATUS_COPIED);
    assert_int_equal(f->res[0].referrers_copied, 1);
    assert_true(memreg_has_manifest(f->m, DST, REPO, sbom));
    assert_int_equal(reg_referrers_tag(tag, sizeof(tag), img, "", NULL), 0);
    memreg_tag_digest(f->m, DST, REPO, tag, got);
    assert_string_equal(got, "");
    /* no tag schema lookup on a source that serves the API */
    assert_int_equal(memreg_calls(f->m, MR_MANIFEST_GET, SRC, REPO, tag), 0);
}

/* A rerun: the image and its referrers are present; each referrer is
 * skipped after a HEAD, nothing is pushed. */
static void test_rerun_skips_present(void **state)
{
    fx *f = *state;
    char img[72], sbom[72];
    memreg_serve_referrers(f->m, SRC);
    image(f, img);
    artifact(f, "sbom", "application/spdx+json", img, NULL, sbom);
    run(f);
    assert_int_equal(f->res[0].referrers_copied, 1);
    long puts = memreg_calls(f->m, MR_MANIFEST_PUT, DST, NULL, NULL);
    run(f);
    assert_int_equal(f->res[0].status, IT_STATUS_SKIPPED);
    assert_int_equal(f->res[0].referrers_copied, 0);
    assert_int_equal(f->res[0].referrers_skipped, 1);
    assert_int_equal(memreg_calls(f->m, MR_MANIFEST_PUT, DST, NULL, NULL),
                     puts);
    /* a referrer added since the first run is copied by the rerun */
    char sig[72];
    artifact(f, "sig", "application/vnd.dev.sigstore.bundle+json", img, NULL,
             sig);
    run(f);
    assert_int_equal(f->res[0].status, IT_STATUS_SKIPPED);
    assert_int_equal(f->res[0].referrers_copied, 1);
    assert_int_equal(f->res[0].referrers_skipped, 1);
    assert_true(memreg_has_manifest(f->m, DST, REPO, sig));
}

/* A state dir (journal) in a fresh temporary dir, its path in statedir. */
static void open_journal(fx *f, char *statedir, size_t cap)
{
    if (!f->dir)
        assert_int_equal(tu_tmpdir_new(&f->dir, "referrers"), 0);
    tu_path_in(statedir, cap, f->dir, "state");
    it_errbuf err = {{0}};
    assert_int_equal(it_journal_open(&f->journal, statedir, NULL, &err), 0);
}

/* 1 when the journal holds the image record of SRC/app:1 -> DST/app:1. */
static int journaled(fx *f)
{
    char d[80];
    return it_journal_image_digest(f->journal, SRC "/" REPO ":1",
                                   DST "/" REPO ":1", d, sizeof(d));
}

/* A journal rerun (issue 15 5: <= 2 requests per unchanged tag): the
 * journal's image record was written after the image's referrers were
 * done, so they are not looked for again: no referrers API, no tag schema
 * GET, no cosign HEAD, no manifest GET at all. A referrer added since is
 * picked up by a run without the journal (a fresh state dir). */
static void test_journal_rerun_no_referrer_requests(void **state)
{
    fx *f = *state;
    char img[72], sbom[72], cosign[72], sig[72], tag[128], statedir[512];
    image(f, img);
    artifact(f, "sbom", "application/spdx+json", img, NULL, sbom);
    tag_schema(f, img, sbom, "application/spdx+json");
    assert_int_equal(reg_referrers_tag(tag, sizeof(tag), img, ".sig", NULL), 0);
    artifact(f, "cosign", "application/vnd.dev.cosign.simplesigning.v1+json",
             NULL, tag, cosign);
    open_journal(f, statedir, sizeof(statedir));
    run(f);
    assert_int_equal(f->res[0].status, IT_STATUS_COPIED);
    assert_int_equal(f->res[0].referrers_copied, 2);
    assert_int_equal(journaled(f), 1);
    assert_int_equal(it_journal_close(f->journal), 0);
    open_journal(f, statedir, sizeof(statedir));
    /* a signature added after the first run */
    artifact(f, "sig", "application/vnd.dev.sigstore.bundle+json", img, NULL,
             sig);
    memreg_serve_referrers(f->m, SRC);
    long refs = memreg_calls(f->m, MR_REFERRERS, NULL, NULL, NULL);
    long gets = memreg_calls(f->m, MR_MANIFEST_GET, NULL, NULL, NULL);
    long src_heads = memreg_calls(f->m, MR_MANIFEST_HEAD, SRC, NULL, NULL);
    long dst_heads = memreg_calls(f->m, MR_MANIFEST_HEAD, DST, NULL, NULL);
    run(f);
    assert_int_equal(f->res[0].status, IT_STATUS_SKIPPED);
    assert_non_null(strstr(f->error[0], "journal"));
    assert_int_equal(f->res[0].referrers_copied, 0);
    assert_int_equal(f->res[0].referrers_skipped, 0);
    assert_int_equal(memreg_calls(f->m, MR_REFERRERS, NULL, NULL, NULL), refs);
    assert_int_equal(memreg_calls(f->m, MR_MANIFEST_GET, NULL, NULL, NULL),
                     gets);
    /* the source's digest by one HEAD, nothing asked of the target's */
    assert_int_equal(memreg_calls(f->m, MR_MANIFEST_HEAD, SRC, NULL, NULL),
                     src_heads + 1);
    assert_int_equal(memreg_calls(f->m, MR_MANIFEST_HEAD, DST, NULL, NULL),
                     dst_heads);
    assert_false(memreg_has_manifest(f->m, DST, REPO, sig));
    /* a fresh state dir: present by HEAD, its referrers walked again */
    assert_int_equal(it_journal_close(f->journal), 0);
    f->journal = NULL;
    run(f);
    assert_int_equal(f->res[0].status, IT_STATUS_SKIPPED);
    assert_int_equal(f->res[0].referrers_copied, 1);
    assert_int_equal(f->res[0].referrers_skipped, 2);
    assert_true(memreg_has_manifest(f->m, DST, REPO, sig));
}

/* An image found present by HEAD (no journal record) is journaled only
 * once its referrers are copied: when one fails, no record is written
 * (a kill in between must not lose the referrers), and the next run
 * copies them. */
/* A rule copying every tag of a repository without the referrers API: the
 * fallback tags (here cosign's) are in the listing and copied as tags of
 * their own, so no image asks for them again: one API probe per
 * repository, no cosign HEAD, and no manifest read for a present image. */
static void test_all_tags_listing_carries_fallback_tags(void **state)
{
    fx *f = *state;
    char img[72], cosign[72], tag[128];
    image(f, img);
    assert_int_equal(reg_referrers_tag(tag, sizeof(tag), img, ".sig", NULL), 0);
    artifact(f, "cosign", "application/vnd.dev.cosign.simplesigning.v1+json",
             NULL, tag, cosign);
    f->all_tags = true;
    run(f);
    assert_int_equal(f->nres, 2);
    for (size_t i = 0; i < f->nres; i++)
        assert_int_equal(f->res[i].status, IT_STATUS_COPIED);
    assert_true(memreg_has_manifest(f->m, DST, REPO, cosign));
    /* two workers may both ask before the first answer is remembered */
    long probes = memreg_calls(f->m, MR_REFERRERS, SRC, NULL, NULL);
    assert_in_range(probes, 1, 2);
    assert_int_equal(memreg_calls(f->m, MR_MANIFEST_HEAD, SRC, REPO, tag), 0);
    /* a rerun without a journal: both present, no referrer walk */
    long gets = memreg_calls(f->m, MR_MANIFEST_GET, SRC, NULL, NULL);
    run(f);
    assert_int_equal(f->nres, 2);
    for (size_t i = 0; i < f->nres; i++)
        assert_int_equal(f->res[i].status, IT_STATUS_SKIPPED);
    assert_int_equal(memreg_calls(f->m, MR_MANIFEST_GET, SRC, NULL, NULL),
                     gets);
    assert_in_range(memreg_calls(f->m, MR_REFERRERS, SRC, NULL, NULL) - probes,
                    1, 2);
}

/* issue 15: whether a registry serves the referrers API is asked once per
 * registry, not once per repository (a registry that serves it never
 * answers 404): four repositories without it, one probe on each side. */
static void test_api_probed_once_per_registry(void **state)
{
    fx *f = *state;
    static const char *const more[] = {"b", "c", "d", NULL};
    char img[72], c[72], l[72];
    image(f, img);
    for (const char *const *r = more; *r; r++) {
        memreg_blob(f->m, SRC, *r, "config", 10, c);
        memreg_blob(f->m, SRC, *r, "layer", 100, l);
        const char *blobs[] = {c, l};
        memreg_image(f->m, SRC, *r, "1", blobs, 2, img);
    }
    f->more = more;
    f->workers = 1; /* one at a time: no two probes racing */
    f->all_tags = true;
    run(f);
    assert_int_equal(f->nres, 4);
    for (size_t i = 0; i < f->nres; i++)
        assert_int_equal(f->res[i].status, IT_STATUS_COPIED);
    assert_int_equal(memreg_calls(f->m, MR_REFERRERS, SRC, NULL, NULL), 1);
    assert_int_equal(memreg_calls(f->m, MR_REFERRERS, DST, NULL, NULL), 0);
    /* with explicit tags the target's tag schema is written: the target
     * is asked once too */
    f->all_tags = false;
    run(f);
    assert_int_equal(memreg_calls(f->m, MR_REFERRERS, SRC, NULL, NULL), 2);
    assert_in_range(memreg_calls(f->m, MR_REFERRERS, DST, NULL, NULL), 0, 1);
}

static void test_present_journaled_after_referrers(void **state)
{
    fx *f = *state;
    char img[72], sbom[72], statedir[512];
    memreg_serve_referrers(f->m, SRC);
    image(f, img);
    artifact(f, "sbom", "application/spdx+json", img, NULL, sbom);
    f->no_referrers = true; /* a target filled by another tool */
    run(f);
    assert_int_equal(f->res[0].status, IT_STATUS_COPIED);
    f->no_referrers = false;
    open_journal(f, statedir, sizeof(statedir));
    /* refused in both passes (the first and the retry pass) */
    memreg_fail(f->m, MR_MANIFEST_PUT, DST, REPO, sbom, REG_EDENIED, 403, 2);
    run(f);
    assert_int_equal(f->res[0].status, IT_STATUS_FAILED);
    assert_non_null(strstr(f->error[0], "referrers: "));
    assert_int_equal(memreg_calls(f->m, MR_MANIFEST_PUT, DST, REPO, sbom), 2);
    assert_int_equal(journaled(f), 0);
    run(f);
    assert_int_equal(f->res[0].status, IT_STATUS_SKIPPED);
    assert_int_equal(f->res[0].referrers_copied, 1);
    assert_true(memreg_has_manifest(f->m, DST, REPO, sbom));
    assert_int_equal(journaled(f), 1);
}

/* --referrers=false: nothing is looked up, nothing copied. */
static void test_referrers_off(void **state)
{
    fx *f = *state;
    char img[72], sbom[72];
    memreg_serve_referrers(f->m, SRC);
    image(f, img);
    artifact(f, "sbom", "application/spdx+json", img, NULL, sbom);
    f->no_referrers = true;
    run(f);
    assert_int_equal(f->res[0].status, IT_STATUS_COPIED);
    assert_int_equal(memreg_calls(f->m, MR_REFERRERS, NULL, NULL, NULL), 0);
    assert_false(memreg_has_manifest(f->m, DST, REPO, sbom));
}

/* A chain of six signatures, each on the one before: the walk stops at
 * depth 4. A cosign tag pointing back at the image (a cycle) ends too. */
static void test_chain_depth_and_cycle(void **state)
{
    fx *f = *state;
    char img[72], chain[6][72], tag[128];
    memreg_serve_referrers(f->m, SRC);
    image(f, img);
    const char *subject = img;
    for (int i = 0; i < 6; i++) {
        char name[16];
        snprintf(name, sizeof(name), "sig%d", i);
        artifact(f, name, "application/vnd.dev.sigstore.bundle+json", subject,
                 NULL, chain[i]);
        subject = chain[i];
    }
    /* sha256-<chain[0]>.sig is the image itself: a loop back */
    assert_int_equal(
        reg_referrers_tag(tag, sizeof(tag), chain[0], ".sig", NULL), 0);
    char c[72], l[72], d[72];
    memreg_blob(f->m, SRC, REPO, "config", 10, c);
    memreg_blob(f->m, SRC, REPO, "layer", 100, l);
    const char *blobs[] = {c, l};
    memreg_image(f->m, SRC, REPO, tag, blobs, 2, d);
    assert_string_equal(d, img);
    run(f);
    assert_int_equal(f->res[0].status, IT_STATUS_COPIED);
    for (int i = 0; i < 4; i++)
        assert_true(memreg_has_manifest(f->m, DST, REPO, chain[i]));
    assert_false(memreg_has_manifest(f->m, DST, REPO, chain[4]));
    assert_false(memreg_has_manifest(f->m, DST, REPO, chain[5]));
    /* the loop back: the image under the cosign tag, copied once */
    assert_int_equal(f->res[0].referrers_copied, 5);
}

/* A referrer the target refuses fails its image, with a clear error. */
static void test_failing_referrer_fails_image(void **state)
{
    fx *f = *state;
    char img[72], sbom[72];
    memreg_serve_referrers(f->m, SRC);
    image(f, img);
    artifact(f, "sbom", "application/spdx+json", img, NULL, sbom);
    memreg_fail(f->m, MR_MANIFEST_PUT, DST, REPO, sbom, REG_EDENIED, 403, -1);
    run(f);
    assert_int_equal(f->res[0].status, IT_STATUS_FAILED);
    assert_non_null(strstr(f->error[0], "referrers: "));
    assert_non_null(strstr(f->error[0], "referrer sha256:"));
}

/* SRC/app:1, a Docker v2 image whose one layer is foreign (urls, not in
 * the source registry): its config in c, the layer's digest in foreign,
 * the manifest's in d. */
static void foreign_image(fx *f, char c[72], char foreign[72], char d[72])
{
    char json[1024];
    memreg_blob(f->m, SRC, REPO, "config", 10, c);
    reg_sha256_digest(foreign, "windows-base", 12);
    snprintf(json, sizeof(json),
             "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{"
             "\"mediaType\":\"application/vnd.docker.container.image.v1+json\","
             "\"digest\":\"%s\",\"size\":10},\"layers\":[{\"mediaType\":\"%s\","
             "\"digest\":\"%s\",\"size\":1000000,\"urls\":["
             "\"https://mcr.example/layer\"]}]}",
             REG_MT_DOCKER_V2S2, c, REG_MT_DOCKER_FOREIGN, foreign);
    memreg_put(f->m, SRC, REPO, "1", REG_MT_DOCKER_V2S2, json, d);
}

/* A foreign layer (urls, not in the source registry) is never fetched or
 * checked; the manifest is pushed as is. */
static void test_foreign_layer_not_fetched(void **state)
{
    fx *f = *state;
    char c[72], foreign[72], d[72], got[72];
    foreign_image(f, c, foreign, d);
    f->no_referrers = true;
    run(f);
    assert_int_equal(f->res[0].status, IT_STATUS_COPIED);
    memreg_tag_digest(f->m, DST, REPO, "1", got);
    assert_string_equal(got, d);
    assert_int_equal(memreg_calls(f->m, MR_BLOB_COPY, NULL, NULL, foreign), 0);
    assert_int_equal(memreg_calls(f->m, MR_BLOB_EXISTS, NULL, NULL, foreign),
                     0);
    assert_int_equal(f->res[0].bytes, 10);
}

/* FA: writes to any registry so far. */
static long writes(fx *f)
{
    return memreg_calls(f->m, MR_MANIFEST_PUT, NULL, NULL, NULL) +
           memreg_calls(f->m, MR_BLOB_MOUNT, NULL, NULL, NULL) +
           memreg_calls(f->m, MR_BLOB_COPY, NULL, NULL, NULL) +
           memreg_calls(f->m, MR_MANIFEST_DELETE, NULL, NULL, NULL);
}

/* FA: SRC/app:1 with an SBOM pushed by digest (tag schema), a signature
 * on the SBOM, and a cosign signature tag, copied to DST. */
static void referrers_fixture(fx *f, char sbom[72], char sig2[72],
                              char cosign_tag[128])
{
    char img[72], cosign[72];
    image(f, img);
    artifact(f, "sbom", "application/spdx+json", img, NULL, sbom);
    tag_schema(f, img, sbom, "application/spdx+json");
    artifact(f, "sig2", "application/vnd.dev.sigstore.bundle+json", sbom, NULL,
             sig2);
    tag_schema(f, sbom, sig2, "application/vnd.dev.sigstore.bundle+json");
    assert_int_equal(reg_referrers_tag(cosign_tag, 128, img, ".sig", NULL), 0);
    artifact(f, "cosign", "application/vnd.dev.cosign.simplesigning.v1+json",
             NULL, cosign_tag, cosign);
    run(f);
    assert_int_equal(f->res[0].status, IT_STATUS_COPIED);
    assert_int_equal(f->res[0].referrers_copied, 3);
}

/* FA: --verify=deep finds every referrer present (identical), then one
 * deleted on the target (incomplete, named), then the cosign tag deleted
 * (named by its tag); shallow verify does not look at referrers; nothing
 * is written. */
static void test_verify_deep_referrers(void **state)
{
    fx *f = *state;
    char sbom[72], sig2[72], cosign_tag[128], want[800];
    referrers_fixture(f, sbom, sig2, cosign_tag);
    long w = writes(f);
    long h_sbom = memreg_calls(f->m, MR_MANIFEST_HEAD, DST, REPO, sbom);
    long h_sig2 = memreg_calls(f->m, MR_MANIFEST_HEAD, DST, REPO, sig2);
    long h_cosign = memreg_calls(f->m, MR_MANIFEST_HEAD, DST, REPO, cosign_tag);
    f->verify = 2;
    run(f);
    assert_int_equal(f->res[0].verify, IT_VERIFY_IDENTICAL);
    assert_int_equal(f->res[0].status, IT_STATUS_SKIPPED);
    /* each referrer asked on the target, once */
    assert_int_equal(memreg_calls(f->m, MR_MANIFEST_HEAD, DST, REPO, sbom),
                     h_sbom + 1);
    assert_int_equal(memreg_calls(f->m, MR_MANIFEST_HEAD, DST, REPO, sig2),
                     h_sig2 + 1);
    assert_int_equal(
        memreg_calls(f->m, MR_MANIFEST_HEAD, DST, REPO, cosign_tag),
        h_cosign + 1);
    memreg_drop_manifest(f->m, DST, REPO, sbom);
    run(f);
    assert_int_equal(f->res[0].verify, IT_VERIFY_INCOMPLETE);
    assert_int_equal(f->res[0].status, IT_STATUS_FAILED);
    snprintf(want, sizeof(want), "referrer %s", sbom);
    assert_string_equal(f->missing[0], want);
    assert_non_null(strstr(f->error[0], "incomplete"));
    /* shallow: referrers not checked */
    f->verify = 1;
    run(f);
    assert_int_equal(f->res[0].verify, IT_VERIFY_IDENTICAL);
    /* the cosign signature gone: named by its tag */
    char cd[72];
    memreg_tag_digest(f->m, DST, REPO, cosign_tag, cd);
    memreg_drop_manifest(f->m, DST, REPO, cd);
    f->verify = 2;
    run(f);
    assert_int_equal(f->res[0].verify, IT_VERIFY_INCOMPLETE);
    snprintf(want, sizeof(want), "referrer %s | referrer %s", sbom, cosign_tag);
    assert_string_equal(f->missing[0], want);
    assert_int_equal(writes(f), w);
}

/* FA: with --referrers=false, --verify=deep does not look for referrers:
 * one deleted on the target goes unnoticed, and the source's referrers
 * API, tag schema and cosign tags are not asked. */
static void test_verify_deep_referrers_off(void **state)
{
    fx *f = *state;
    char sbom[72], sig2[72], cosign_tag[128], schema_tag[128], img[72];
    referrers_fixture(f, sbom, sig2, cosign_tag);
    memreg_drop_manifest(f->m, DST, REPO, sbom);
    memreg_tag_digest(f->m, SRC, REPO, "1", img);
    assert_int_equal(
        reg_referrers_tag(schema_tag, sizeof(schema_tag), img, "", NULL), 0);
    long w = writes(f);
    long refs = memreg_calls(f->m, MR_REFERRERS, NULL, NULL, NULL);
    long schema = memreg_calls(f->m, MR_MANIFEST_GET, SRC, REPO, schema_tag);
    long cosign = memreg_calls(f->m, MR_MANIFEST_HEAD, SRC, REPO, cosign_tag);
    f->no_referrers = true;
    f->verify = 2;
    run(f);
    assert_int_equal(f->res[0].verify, IT_VERIFY_IDENTICAL);
    assert_int_equal(memreg_calls(f->m, MR_REFERRERS, NULL, NULL, NULL), refs);
    assert_int_equal(memreg_calls(f->m, MR_MANIFEST_GET, SRC, REPO, schema_tag),
                     schema);
    assert_int_equal(
        memreg_calls(f->m, MR_MANIFEST_HEAD, SRC, REPO, cosign_tag), cosign);
    assert_int_equal(writes(f), w);
    /* the same with referrers on: noticed */
    f->no_referrers = false;
    run(f);
    assert_int_equal(f->res[0].verify, IT_VERIFY_INCOMPLETE);
}

/* FA: the source serves the referrers API: deep verify finds the
 * referrer through it. */
static void test_verify_deep_referrers_api(void **state)
{
    fx *f = *state;
    char img[72], sbom[72], want[200];
    memreg_serve_referrers(f->m, SRC);
    image(f, img);
    artifact(f, "sbom", "application/spdx+json", img, NULL, sbom);
    run(f);
    assert_int_equal(f->res[0].referrers_copied, 1);
    f->verify = 2;
    run(f);
    assert_int_equal(f->res[0].verify, IT_VERIFY_IDENTICAL);
    memreg_drop_manifest(f->m, DST, REPO, sbom);
    run(f);
    assert_int_equal(f->res[0].verify, IT_VERIFY_INCOMPLETE);
    snprintf(want, sizeof(want), "referrer %s", sbom);
    assert_string_equal(f->missing[0], want);
}

/* A foreign layer is not in the target either: --verify=deep finds the
 * image identical without asking for it, and --dry-run plans no bytes for
 * it. */
static void test_foreign_layer_verify_and_plan(void **state)
{
    fx *f = *state;
    char c[72], foreign[72], d[72];
    foreign_image(f, c, foreign, d);
    f->no_referrers = true;
    f->dry_run = true;
    run(f);
    it_engine_stats st;
    it_engine_stats_get(f->e, &st);
    assert_int_equal(st.images_planned, 1);
    assert_int_equal(st.bytes_planned, 10);
    f->dry_run = false;
    run(f);
    assert_int_equal(f->res[0].status, IT_STATUS_COPIED);
    f->verify = 2;
    run(f);
    assert_int_equal(f->res[0].verify, IT_VERIFY_IDENTICAL);
    assert_int_equal(memreg_calls(f->m, MR_BLOB_EXISTS, DST, NULL, foreign), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_tag_schema_and_cosign, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_api_both_sides, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rerun_skips_present, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_referrers_off, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal_rerun_no_referrer_requests,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_present_journaled_after_referrers,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_all_tags_listing_carries_fallback_tags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_api_probed_once_per_registry,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_chain_depth_and_cycle, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_failing_referrer_fails_image,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_layer_not_fetched, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_foreign_layer_verify_and_plan,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_deep_referrers, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_verify_deep_referrers_off, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_verify_deep_referrers_api, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
