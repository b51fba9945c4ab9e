/*
 * test_engine.c - the transfer engine driven through its registry seam
 * against an in-memory registry (memreg.h), with a fake sleep so that the
 * retry backoff never waits. Every case checks what reached the registry
 * (calls counted by memreg) and the results the engine reports.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "engine.h"
#include "journal.h"
#include "log.h"
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
    atomic_int sleeps;
    it_engine *e;
    it_event_sub sub; /* an extra subscriber of the event stream, or none */
    pthread_mutex_t res_lock;
    it_image_result *res; /* copies of what on_result handed over */
    size_t nres, capres;
    bool dry_run, plan_quiet;
    FILE *plan_out;
    /* tag filters (issue 14): what on_filtered reported last */
    it_filter_counts fc;
    char order[32];
    long nfiltered;
    int verify;     /* --verify: 0 off, 1 shallow, 2 deep */
    bool overwrite; /* tag_exist_overridden */
    char **missing; /* per result: its missing list, joined by ' | ' */
    /* issue 15: --retry-window and the adaptive limits, on a fake clock
     * that the fake sleep advances */
    int64_t window_ms;
    bool adaptive;
    atomic_llong clock_ms;
    /* FA: --verify with --platforms (comma-separated specs, NULL = none) */
    const char *platforms;
} fx;

static char *dup0(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* The engine's on_result: the test keeps a copy of each final result. */
static void collect_result(void *payload, const it_image_result *r)
{
    fx *f = payload;
    pthread_mutex_lock(&f->res_lock);
    if (f->nres == f->capres) {
        f->capres = f->capres ? f->capres * 2 : 64;
        f->res = realloc(f->res, f->capres * sizeof(*f->res));
        assert_non_null(f->res);
        f->missing = realloc(f->missing, f->capres * sizeof(*f->missing));
        assert_non_null(f->missing);
    }
    char joined[2048] = "";
    for (size_t i = 0; i < r->nmissing; i++)
        snprintf(joined + strlen(joined), sizeof(joined) - strlen(joined),
                 "%s%s", i ? " | " : "", r->missing[i]);
    f->missing[f->nres] = strdup(joined);
    f->res[f->nres++] = (it_image_result){
        .source = dup0(r->source),
        .target = dup0(r->target),
        .digest = dup0(r->digest),
        .status = r->status,
        .bytes = r->bytes,
        .error = dup0(r->error),
        .verify = r->verify,
        .target_digest = dup0(r->target_digest),
    };
    pthread_mutex_unlock(&f->res_lock);
}

static void collect_filtered(void *payload, const char *source,
                             const char *target, const it_filter_counts *c,
                             const char *order)
{
    (void)source;
    (void)target;
    fx *f = payload;
    pthread_mutex_lock(&f->res_lock);
    f->fc = *c;
    snprintf(f->order, sizeof(f->order), "%s", order ? order : "-");
    f->nfiltered++;
    pthread_mutex_unlock(&f->res_lock);
}

static void fake_sleep(void *payload, int64_t ms)
{
    fx *f = payload;
    atomic_fetch_add(&f->sleeps, 1);
    atomic_fetch_add(&f->clock_ms, ms > 0 ? ms : 0);
}

static int64_t fake_now(void *payload)
{
    fx *f = payload;
    return 1000000 + atomic_load(&f->clock_ms);
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    pthread_mutex_init(&f->res_lock, NULL);
    f->m = memreg_new();
    f->progress = it_progress_new("generic", "src", "dst", NULL);
    if (!f->m || !f->progress)
        return -1;
    *state = f;
    return 0;
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
        free((char *)f->res[i].target_digest);
        free(f->missing[i]);
    }
    free(f->res);
    free(f->missing);
    pthread_mutex_destroy(&f->res_lock);
    free(f);
    return 0;
}

/* Starts the engine with `routines` workers (one per routine: the tests
 * here order their work by that; the default of twice as many is run by
 * the integration tests, against real registries). */
static void start(fx *f, int routines, int retry)
{
    it_engine_opts o = {0};
    o.routines = routines;
    o.workers = routines;
    o.retry = retry;
    o.progress = f->progress;
    o.journal = f->journal;
    o.ctl = &f->ctl;
    o.regops = memreg_ops(f->m);
    o.sleep_ms = fake_sleep;
    o.sleep_payload = f;
    o.on_result = collect_result;
    o.result_payload = f;
    o.on_filtered = collect_filtered;
    o.dry_run = f->dry_run;
    o.plan_quiet = f->plan_quiet;
    o.plan_out = f->plan_out;
    o.verify = f->verify;
    o.tag_exist_overridden = f->overwrite;
    o.retry_window_ms = f->window_ms;
    o.adaptive = f->adaptive;
    o.now_ms = fake_now;
    o.platforms = f->platforms; /* FA */
    if (f->sub.fn) {
        o.subscribers = &f->sub;
        o.nsubscribers = 1;
    }
    it_errbuf err = {{0}};
    assert_int_equal(it_engine_start(&f->e, &o, &err), 0);
}

/* No more input: waits for the end and takes the results. */
static void finish(fx *f)
{
    it_engine_input_done(f->e);
    it_engine_wait(f->e);
    /* Nothing per image or repository outlives the run's end. */
    long live_repos = -1, live_images = -1;
    it_engine_live(f->e, &live_repos, &live_images);
    assert_int_equal(live_repos, 0);
    assert_int_equal(live_images, 0);
}

/* Runs the engine over the given pairs ("src_repo dst_repo" strings, all
 * tags) to the end. */
static void run(fx *f, int routines, int retry, const char *const *pairs,
                size_t n)
{
    start(f, routines, retry);
    for (size_t i = 0; i < n; i++) {
        char src[64], dst[64];
        assert_int_equal(sscanf(pairs[i], "%63s %63s", src, dst), 2);
        it_pair p = {0};
        p.src_host = SRC;
        p.src_repo = src;
        p.dst_host = DST;
        p.dst_repo = dst;
        assert_int_equal(it_engine_add_pair(f->e, &p), 0);
    }
    finish(f);
}

/* The result whose source ends with `suffix`. */
static const it_image_result *result(fx *f, const char *suffix)
{
    for (size_t i = 0; i < f->nres; i++) {
        size_t ls = strlen(f->res[i].source), lx = strlen(suffix);
        if (ls >= lx && strcmp(f->res[i].source + ls - lx, suffix) == 0)
            return &f->res[i];
    }
    fail_msg("no result for %s", suffix);
    return NULL;
}

/* An image [blob `a`, blob `b`] tagged `tag` in SRC/repo. */
static void image2(fx *f, const char *repo, const char *tag, const char *a,
                   const char *b, char da[72], char db[72])
{
    memreg_blob(f->m, SRC, repo, a, 100, da);
    memreg_blob(f->m, SRC, repo, b, 1000, db);
    const char *blobs[] = {da, db};
    char dm[72];
    memreg_image(f->m, SRC, repo, tag, blobs, 2, dm);
}

/* Two repositories sharing one blob, run by one worker: the blob is
 * copied once into the target registry and mounted into the second
 * repository. */
static void test_dedup_across_repos(void **state)
{
    fx *f = *state;
    char s[72], ca[72], cb[72];
    image2(f, "a", "v1", "shared", "layer-a", s, ca);
    image2(f, "b", "v1", "shared", "layer-b", s, cb);
    const char *pairs[] = {"a a", "b b"};
    run(f, 1, 2, pairs, 2);
    assert_int_equal(result(f, "/a:v1")->status, IT_STATUS_COPIED);
    assert_int_equal(result(f, "/b:v1")->status, IT_STATUS_COPIED);
    assert_int_equal(memreg_calls(f->m, MR_BLOB_COPY, DST, NULL, s), 1);
    assert_int_equal(memreg_calls(f->m, MR_BLOB_MOUNT, DST, NULL, s), 1);
    assert_true(memreg_has_blob(f->m, DST, "a", s));
    assert_true(memreg_has_blob(f->m, DST, "b", s));
    it_engine_stats st;
    it_engine_stats_get(f->e, &st);
    assert_int_equal(st.blobs_copied, 3);
    assert_int_equal(st.blobs_mounted, 1);
}

/* The in-flight case, produced on purpose: the copy of the shared blob
 * is held until both images' other blobs are being copied, so the second
 * task for the shared blob has certainly found it in flight. It waits and
 * then mounts: one copy. */
typedef struct gate {
    pthread_mutex_t lock;
    pthread_cond_t cv;
    const char *hold;       /* digest whose copy is held */
    const char *release[2]; /* digests whose copies release it */
    int started;
    bool timed_out;
} gate;

static void gate_hook(void *payload, memreg_op op, const char *host,
                      const char *repo, const char *ref)
{
    (void)host;
    (void)repo;
    gate *g = payload;
    if (op != MR_BLOB_COPY)
        return;
    pthread_mutex_lock(&g->lock);
    if (strcmp(ref, g->release[0]) == 0 || strcmp(ref, g->release[1]) == 0) {
        g->started++;
        pthread_cond_broadcast(&g->cv);
    }
    if (strcmp(ref, g->hold) == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 20; /* a bound, not a timing assertion */
        while (g->started < 2 && !g->timed_out)
            if (pthread_cond_timedwait(&g->cv, &g->lock, &ts) != 0)
                g->timed_out = true;
    }
    pthread_mutex_unlock(&g->lock);
}

static void test_dedup_in_flight(void **state)
{
    fx *f = *state;
    char s[72], la[72], lb[72];
    /* the shared blob first, so each image's task for it is queued
     * before its own layer's */
    image2(f, "a", "v1", "shared", "layer-a", s, la);
    image2(f, "b", "v1", "shared", "layer-b", s, lb);
    gate g = {.hold = s, .release = {la, lb}};
    pthread_mutex_init(&g.lock, NULL);
    pthread_cond_init(&g.cv, NULL);
    memreg_set_hook(f->m, gate_hook, &g);
    const char *pairs[] = {"a a", "b b"};
    run(f, 2, 2, pairs, 2);
    memreg_set_hook(f->m, NULL, NULL);
    assert_false(g.timed_out);
    assert_int_equal(result(f, "/a:v1")->status, IT_STATUS_COPIED);
    assert_int_equal(result(f, "/b:v1")->status, IT_STATUS_COPIED);
    assert_int_equal(memreg_calls(f->m, MR_BLOB_COPY, DST, NULL, s), 1);
    assert_int_equal(memreg_calls(f->m, MR_BLOB_MOUNT, DST, NULL, s), 1);
    assert_true(memreg_has_blob(f->m, DST, "a", s));
    assert_true(memreg_has_blob(f->m, DST, "b", s));
    pthread_cond_destroy(&g.cv);
    pthread_mutex_destroy(&g.lock);
}

/* A mount the registry refuses (401, or 202 = not found) falls back to a
 * copy, once, without retrying the mount. */
static void mount_fallback(void **state, int rc, long status)
{
    fx *f = *state;
    char s[72], ca[72], cb[72];
    image2(f, "a", "v1", "shared", "layer-a", s, ca);
    image2(f, "b", "v1", "shared", "layer-b", s, cb);
    memreg_fail(f->m, MR_BLOB_MOUNT, DST, NULL, NULL, rc, status, -1);
    const char *pairs[] = {"a a", "b b"};
    run(f, 1, 3, pairs, 2);
    assert_int_equal(result(f, "/a:v1")->status, IT_STATUS_COPIED);
    assert_int_equal(result(f, "/b:v1")->status, IT_STATUS_COPIED);
    assert_int_equal(memreg_calls(f->m, MR_BLOB_MOUNT, DST, "b", s), 1);
    assert_int_equal(memreg_calls(f->m, MR_BLOB_COPY, DST, "b", s), 1);
    assert_true(memreg_has_blob(f->m, DST, "b", s));
    assert_int_equal(atomic_load(&f->sleeps), 0);
}

static void test_mount_401_falls_back(void **state)
{
    mount_fallback(state, REG_EAUTH, 401);
}

static void test_mount_404_falls_back(void **state)
{
    mount_fallback(state, REG_ENOTFOUND, 404);
}

/* An index: both children are pushed (by digest) before the index is
 * pushed to the tag. memreg also refuses an index whose children are not
 * there. */
static void test_index_children_first(void **state)
{
    fx *f = *state;
    char c1[72], l1[72], c2[72], l2[72], m1[72], m2[72], idx[72];
    memreg_blob(f->m, SRC, "multi", "cfg-1", 10, c1);
    memreg_blob(f->m, SRC, "multi", "layer-1", 10, l1);
    memreg_blob(f->m, SRC, "multi", "cfg-2", 10, c2);
    memreg_blob(f->m, SRC, "multi", "layer-2", 10, l2);
    const char *b1[] = {c1, l1}, *b2[] = {c2, l2};
    memreg_image(f->m, SRC, "multi", NULL, b1, 2, m1);
    memreg_image(f->m, SRC, "multi", NULL, b2, 2, m2);
    const char *kids[] = {m1, m2};
    memreg_index(f->m, SRC, "multi", "v1", kids, 2, idx);
    const char *pairs[] = {"multi multi"};
    run(f, 3, 2, pairs, 1);
    assert_int_equal(result(f, "/multi:v1")->status, IT_STATUS_COPIED);
    assert_string_equal(result(f, "/multi:v1")->digest, idx);
    long put_idx = memreg_first_call(f->m, MR_MANIFEST_PUT, DST, "multi", "v1");
    long put_1 = memreg_first_call(f->m, MR_MANIFEST_PUT, DST, "multi", m1);
    long put_2 = memreg_first_call(f->m, MR_MANIFEST_PUT, DST, "multi", m2);
    assert_true(put_1 >= 0 && put_2 >= 0 && put_idx >= 0);
    assert_true(put_1 < put_idx);
    assert_true(put_2 < put_idx);
    assert_int_equal(memreg_calls(f->m, MR_MANIFEST_PUT, DST, NULL, NULL), 3);
    char tagged[72];
    memreg_tag_digest(f->m, DST, "multi", "v1", tagged);
    assert_string_equal(tagged, idx);
}

/* An image that fails once (403, not retried at once) is tried again in
 * the final retry pass, and is copied. */
static void test_final_retry_pass(void **state)
{
    fx *f = *state;
    char c[72], l[72];
    image2(f, "a", "v1", "cfg", "layer", c, l);
    memreg_fail(f->m, MR_MANIFEST_GET, SRC, "a", "v1", REG_EDENIED, 403, 1);
    const char *pairs[] = {"a a"};
    run(f, 1, 2, pairs, 1);
    assert_int_equal(result(f, "/a:v1")->status, IT_STATUS_COPIED);
    assert_null(result(f, "/a:v1")->error);
    assert_int_equal(memreg_calls(f->m, MR_MANIFEST_GET, SRC, "a", "v1"), 2);
    assert_int_equal(atomic_load(&f->sleeps), 0);
    char tagged[72];
    memreg_tag_digest(f->m, DST, "a", "v1", tagged);
    assert_true(tagged[0] != '\0');
}

/* Transient errors are retried in place with backoff; the backoff goes
 * through the sleep seam (two sleeps, no real waiting). */
static void test_transient_retried_with_backoff(void **state)
{
    fx *f = *state;
    char c[72], l[72];
    image2(f, "a", "v1", "cfg", "layer", c, l);
    memreg_fail(f->m, MR_BLOB_COPY, DST, "a", l, REG_ERETRY, 503, 2);
    const char *pairs[] = {"a a"};
    run(f, 1, 3, pairs, 1);
    assert_int_equal(result(f, "/a:v1")->status, IT_STATUS_COPIED);
    assert_int_equal(memreg_calls(f->m, MR_BLOB_COPY, DST, "a", l), 3);
    assert_int_equal(atomic_load(&f->sleeps), 2);
}

/* The per-host request counters (--metrics-file): every request is
 * counted for its host and status class, retries for the host that failed,
 * and nothing stays in flight after the run, even a request whose answer
 * the hooks never saw (a transfer cancelled mid-way). */
static const it_host_stats *host_of(const it_host_stats *v, size_t n,
                                    const char *host)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].host, host) == 0)
            return &v[i];
    fail_msg("no counters for %s", host);
    return NULL;
}

static void test_host_request_counters(void **state)
{
    fx *f = *state;
    char c[72], l[72];
    image2(f, "a", "v1", "cfg", "layer", c, l);
    memreg_fail(f->m, MR_BLOB_COPY, DST, "a", l, REG_ERETRY, 503, 2);
    memreg_fail(f->m, MR_MANIFEST_GET, SRC, "a", "v1", REG_ERETRY, -1, 1);
    const char *pairs[] = {"a a"};
    run(f, 2, 3, pairs, 1);
    assert_int_equal(result(f, "/a:v1")->status, IT_STATUS_COPIED);
    size_t n = 0;
    it_host_stats *v = it_engine_host_stats(f->e, &n);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].host, DST); /* sorted */
    const it_host_stats *src = host_of(v, n, SRC), *dst = host_of(v, n, DST);
    assert_int_equal(dst->requests[IT_HTTP_5XX], 2);
    assert_int_equal(dst->retries, 2);
    assert_int_equal(src->retries, 1);
    assert_int_equal(src->requests[IT_HTTP_5XX], 0);
    assert_true(src->requests[IT_HTTP_2XX] > 0);
    assert_true(dst->requests[IT_HTTP_2XX] > 0);
    assert_int_equal(src->in_flight, 0);
    assert_int_equal(dst->in_flight, 0);
    /* every request counted once: answered ones by class, plus the one
     * never answered */
    it_engine_stats st;
    it_engine_stats_get(f->e, &st);
    long sum = 1;
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < IT_HTTP_NCLASS; k++)
            sum += v[i].requests[k];
    assert_int_equal(sum, st.http_requests);
    assert_string_equal(it_http_class_name(IT_HTTP_ERROR), "error");
    assert_string_equal(it_http_class_name(IT_HTTP_3XX), "3xx");
    free(v);
}

/* --dry-run --output=json: the plan per target registry, each distinct
 * blob counted once per registry (a blob two images share, once; the same
 * blob into another registry, again), and no plan lines when the caller
 * prints the plan itself. */
static void test_dry_run_plan_per_target(void **state)
{
    fx *f = *state;
    char s[72], ca[72], cb[72];
    image2(f, "a", "v1", "shared", "layer-a", s, ca);
    image2(f, "b", "v1", "shared", "layer-b", s, cb);
    f->dry_run = true;
    f->plan_quiet = true;
    f->plan_out = tmpfile();
    assert_non_null(f->plan_out);
    start(f, 2, 0);
    const char *const pairs[][2] = {{"a", DST}, {"b", DST}, {"a", "dst2.test"}};
    for (size_t i = 0; i < 3; i++) {
        it_pair p = {0};
        p.src_host = SRC;
        p.src_repo = (char *)pairs[i][0];
        p.dst_host = (char *)pairs[i][1];
        p.dst_repo = (char *)pairs[i][0];
        assert_int_equal(it_engine_add_pair(f->e, &p), 0);
    }
    finish(f);
    assert_int_equal(f->nres, 3);
    for (size_t i = 0; i < f->nres; i++)
        assert_int_equal(f->res[i].status, IT_STATUS_PLANNED);
    size_t n = 0;
    it_plan_target *t = it_engine_plan_targets(f->e, &n);
    assert_int_equal(n, 2);
    assert_string_equal(t[0].registry, DST); /* sorted */
    assert_int_equal(t[0].images, 2);
    assert_int_equal(t[0].blobs, 3);
    assert_int_equal(t[0].bytes, 100 + 1000 + 1000);
    assert_string_equal(t[1].registry, "dst2.test");
    assert_int_equal(t[1].images, 1);
    assert_int_equal(t[1].blobs, 2);
    assert_int_equal(t[1].bytes, 1100);
    free(t);
    /* The plan reads each distinct manifest once (the digest of a:v1 for
     * its second target comes from a HEAD). */
    assert_int_equal(memreg_calls(f->m, MR_MANIFEST_GET, SRC, "a", NULL), 1);
    assert_int_equal(memreg_calls(f->m, MR_BLOB_COPY, NULL, NULL, NULL), 0);
    fflush(f->plan_out);
    assert_int_equal(ftell(f->plan_out), 0); /* no plan lines */
    fclose(f->plan_out);
}

/* Stop raised while the first image's blob is copied: that image is
 * finished, nothing else is started, the rest are pending. */
static void stop_hook(void *payload, memreg_op op, const char *host,
                      const char *repo, const char *ref)
{
    (void)host;
    (void)repo;
    (void)ref;
    fx *f = payload;
    if (op == MR_BLOB_COPY)
        it_runctl_stop(&f->ctl);
}

static void test_stop_mid_run(void **state)
{
    fx *f = *state;
    char c[72], l[72];
    image2(f, "a", "t1", "cfg-1", "layer-1", c, l);
    image2(f, "a", "t2", "cfg-2", "layer-2", c, l);
    image2(f, "a", "t3", "cfg-3", "layer-3", c, l);
    memreg_set_hook(f->m, stop_hook, f);
    const char *pairs[] = {"a a"};
    run(f, 1, 2, pairs, 1);
    assert_int_equal(result(f, "/a:t1")->status, IT_STATUS_COPIED);
    assert_int_equal(result(f, "/a:t2")->status, IT_STATUS_PENDING);
    assert_int_equal(result(f, "/a:t3")->status, IT_STATUS_PENDING);
    assert_non_null(strstr(result(f, "/a:t2")->error, "stopped"));
    assert_int_equal(memreg_calls(f->m, MR_MANIFEST_GET, SRC, "a", "t2"), 0);
    assert_int_equal(memreg_calls(f->m, MR_MANIFEST_GET, SRC, "a", "t3"), 0);
    assert_int_equal(memreg_calls(f->m, MR_MANIFEST_HEAD, NULL, "a", "t2"), 0);
    it_engine_stats st;
    it_engine_stats_get(f->e, &st);
    assert_int_equal(st.images_copied, 1);
    assert_int_equal(st.images_pending, 2);
}

/* A blob whose copy fails fails every image that needs it from the same
 * source, at once (no second copy in the same pass), in both passes; no
 * tag is pushed. */
static void test_failed_blob_fails_waiters(void **state)
{
    fx *f = *state;
    char s[72], c1[72], c2[72];
    image2(f, "a", "t1", "bad", "layer-1", s, c1);
    image2(f, "a", "t2", "bad", "layer-2", s, c2);
    memreg_fail(f->m, MR_BLOB_COPY, DST, NULL, s, REG_EDIGEST, 0, -1);
    const char *pairs[] = {"a a"};
    run(f, 1, 2, pairs, 1);
    const it_image_result *r1 = result(f, "/a:t1"), *r2 = result(f, "/a:t2");
    assert_int_equal(r1->status, IT_STATUS_FAILED);
    assert_int_equal(r2->status, IT_STATUS_FAILED);
    assert_non_null(strstr(r1->error, "injected failure"));
    assert_non_null(strstr(r2->error, "same blob failed for another image"));
    /* one copy per pass, not one per image */
    assert_int_equal(memreg_calls(f->m, MR_BLOB_COPY, DST, "a", s), 2);
    assert_int_equal(memreg_calls(f->m, MR_MANIFEST_PUT, NULL, NULL, NULL), 0);
    it_engine_stats st;
    it_engine_stats_get(f->e, &st);
    assert_int_equal(st.images_failed, 2);
}

/* The same with the second image parked on the blob while its copy is
 * held in flight (then fails): woken, it fails at once, without a copy of
 * its own. */
static void test_failed_blob_fails_parked_waiter(void **state)
{
    fx *f = *state;
    char s[72], l1[72], l2[72];
    image2(f, "a", "t1", "bad", "layer-1", s, l1);
    image2(f, "a", "t2", "bad", "layer-2", s, l2);
    memreg_fail(f->m, MR_BLOB_COPY, DST, NULL, s, REG_EDIGEST, 0, -1);
    gate g = {.hold = s, .release = {l1, l2}};
    pthread_mutex_init(&g.lock, NULL);
    pthread_cond_init(&g.cv, NULL);
    memreg_set_hook(f->m, gate_hook, &g);
    const char *pairs[] = {"a a"};
    run(f, 2, 2, pairs, 1);
    memreg_set_hook(f->m, NULL, NULL);
    assert_false(g.timed_out);
    const it_image_result *r1 = result(f, "/a:t1"), *r2 = result(f, "/a:t2");
    assert_int_equal(r1->status, IT_STATUS_FAILED);
    assert_int_equal(r2->status, IT_STATUS_FAILED);
    /* one of them copied (and failed), the other one waited */
    assert_true((strstr(r1->error, "same blob failed") != NULL) !=
                (strstr(r2->error, "same blob failed") != NULL));
    assert_int_equal(memreg_calls(f->m, MR_BLOB_COPY, DST, "a", s), 2);
    assert_int_equal(memreg_calls(f->m, MR_MANIFEST_PUT, NULL, NULL, NULL), 0);
    pthread_cond_destroy(&g.cv);
    pthread_mutex_destroy(&g.lock);
}

/* The journal gets a record per blob put into the target and one per
 * image copied. */
typedef struct seen {
    int blobs, images;
    char image_src[256], image_dst[256], image_digest[72];
    char blob_repo[64];
} seen;

static void seen_blob(void *p, const char *registry, const char *repo,
                      const char *digest, int64_t size)
{
    (void)digest;
    (void)size;
    seen *s = p;
    if (strcmp(registry, DST) == 0)
        s->blobs++;
    snprintf(s->blob_repo, sizeof(s->blob_repo), "%s", repo);
}

static void seen_image(void *p, const char *source, const char *digest,
                       const char *target)
{
    seen *s = p;
    s->images++;
    snprintf(s->image_src, sizeof(s->image_src), "%s", source);
    snprintf(s->image_dst, sizeof(s->image_dst), "%s", target);
    snprintf(s->image_digest, sizeof(s->image_digest), "%s", digest);
}

/* A state dir in a fresh temporary dir (*dir: drop it at the end), its
 * journal open in f, and image a:v1 in the source. */
static void journal_and_image(fx *f, void **dir, char *statedir, size_t cap)
{
    assert_int_equal(tu_tmpdir_new(dir, "engine"), 0);
    tu_path_in(statedir, cap, *dir, "state");
    it_errbuf err = {{0}};
    assert_int_equal(it_journal_open(&f->journal, statedir, NULL, &err), 0);
    char c[72], l[72];
    image2(f, "a", "v1", "cfg", "layer", c, l);
}

static void test_journal_records(void **state)
{
    fx *f = *state;
    void *dir = NULL;
    char statedir[512];
    journal_and_image(f, &dir, statedir, sizeof(statedir));
    it_errbuf err = {{0}};
    const char *pairs[] = {"a a"};
    run(f, 1, 2, pairs, 1);
    assert_int_equal(it_journal_close(f->journal), 0);
    f->journal = NULL;
    seen s = {0};
    it_journal_visitor v = {seen_blob, seen_image, &s};
    it_journal *j = NULL;
    assert_int_equal(it_journal_open(&j, statedir, &v, &err), 0);
    assert_int_equal(it_journal_close(j), 0);
    assert_int_equal(s.blobs, 2);
    assert_string_equal(s.blob_repo, "a");
    assert_int_equal(s.images, 1);
    assert_string_equal(s.image_src, SRC "/a:v1");
    assert_string_equal(s.image_dst, DST "/a:v1");
    assert_string_equal(s.image_digest, result(f, "/a:v1")->digest);
    tu_tmpdir_drop(&dir);
}

/* Resume across restarts: a blob at or above IT_RESUME_MIN_BYTES gets
 * the upload session the journal recorded for it (a smaller one does
 * not), its own session is recorded while it moves, and the row is gone
 * once it landed; a copy that breaks leaves its session recorded. */
static void test_journal_upload_session(void **state)
{
    fx *f = *state;
    void *dir = NULL;
    char statedir[512], c[72], l[72], *url = NULL;
    int64_t held = 0;
    const char *old = "http://" DST "/v2/a/blobs/uploads/old?_state=y";
    journal_and_image(f, &dir, statedir, sizeof(statedir));
    image2(f, "a", "v1", "cfg", "layer", c, l);
    assert_int_equal(setenv("IT_RESUME_MIN_BYTES", "500", 1), 0);
    it_journal_upload_put(f->journal, DST, "a", l, old, 400);
    it_journal_upload_put(f->journal, DST, "a", c, old, 40);
    const char *pairs[] = {"a a"};
    run(f, 1, 2, pairs, 1);
    char *given = memreg_last_resume_url(f->m);
    assert_non_null(given);
    assert_string_equal(given, old);
    free(given);
    assert_int_equal(
        it_journal_upload_get(f->journal, DST, "a", l, &url, &held), 0);
    /* below the threshold: neither handed over nor touched */
    assert_int_equal(
        it_journal_upload_get(f->journal, DST, "a", c, &url, &held), 1);
    assert_int_equal(held, 40);
    free(url);
    assert_int_equal(unsetenv("IT_RESUME_MIN_BYTES"), 0);
    tu_tmpdir_drop(&dir);
}

/* A rerun asks the journal (it is not read into memory): an image an
 * earlier run copied is settled with one HEAD on the source, and a blob an
 * earlier run put into one repository is mounted from there into another
 * (the new engine's blob table starts empty). */
static void test_journal_rerun_lookups(void **state)
{
    fx *f = *state;
    void *dir = NULL;
    char statedir[512];
    journal_and_image(f, &dir, statedir, sizeof(statedir));
    it_errbuf err = {{0}};
    const char *first[] = {"a a"};
    run(f, 1, 2, first, 1);
    assert_int_equal(it_journal_close(f->journal), 0);
    it_engine_free(f->e);
    f->e = NULL;
    assert_int_equal(it_journal_open(&f->journal, statedir, NULL, &err), 0);
    long gets = memreg_calls(f->m, MR_MANIFEST_GET, SRC, "a", NULL);
    long heads = memreg_calls(f->m, MR_MANIFEST_HEAD, SRC, "a", NULL);
    const char *second[] = {"a a", "a b"};
    run(f, 1, 2, second, 2);
    assert_int_equal(it_journal_close(f->journal), 0);
    f->journal = NULL;
    /* a -> a: settled by the journal and one HEAD on the source */
    const it_image_result *ra = NULL, *rb = NULL;
    for (size_t i = 1; i < f->nres; i++) { /* [0] is the first run's */
        if (strcmp(f->res[i].target, DST "/a:v1") == 0)
            ra = &f->res[i];
        if (strcmp(f->res[i].target, DST "/b:v1") == 0)
            rb = &f->res[i];
    }
    assert_non_null(ra);
    assert_non_null(rb);
    assert_int_equal(ra->status, IT_STATUS_SKIPPED);
    assert_non_null(strstr(ra->error, "journal"));
    /* a -> b: both blobs mounted from a, as the journal says */
    assert_int_equal(rb->status, IT_STATUS_COPIED);
    assert_int_equal(memreg_calls(f->m, MR_BLOB_MOUNT, DST, "b", NULL), 2);
    assert_int_equal(memreg_calls(f->m, MR_BLOB_COPY, DST, "b", NULL), 0);
    /* one manifest GET (for b), HEADs: a's check, b's compare */
    assert_int_equal(memreg_calls(f->m, MR_MANIFEST_GET, SRC, "a", NULL),
                     gets + 1);
    assert_true(memreg_calls(f->m, MR_MANIFEST_HEAD, SRC, "a", NULL) >=
                heads + 1);
    tu_tmpdir_drop(&dir);
}

/* Requests of each kind since `base` (memreg counts them all). */
typedef struct counts {
    long src_list, dst_list, src_head, dst_head, src_get, blob_head, put;
} counts;

static counts count_now(fx *f)
{
    return (counts){
        .src_list = memreg_calls(f->m, MR_TAGS_EACH, SRC, NULL, NULL),
        .dst_list = memreg_calls(f->m, MR_TAGS_LIST, DST, NULL, NULL),
        .src_head = memreg_calls(f->m, MR_MANIFEST_HEAD, SRC, NULL, NULL),
        .dst_head = memreg_calls(f->m, MR_MANIFEST_HEAD, DST, NULL, NULL),
        .src_get = memreg_calls(f->m, MR_MANIFEST_GET, SRC, NULL, NULL),
        .blob_head = memreg_calls(f->m, MR_BLOB_EXISTS, DST, NULL, NULL),
        .put = memreg_calls(f->m, MR_MANIFEST_PUT, DST, NULL, NULL),
    };
}

static void assert_counts(fx *f, const counts *base, counts want)
{
    counts c = count_now(f);
    assert_int_equal(c.src_list - base->src_list, want.src_list);
    assert_int_equal(c.dst_list - base->dst_list, want.dst_list);
    assert_int_equal(c.src_head - base->src_head, want.src_head);
    assert_int_equal(c.dst_head - base->dst_head, want.dst_head);
    assert_int_equal(c.src_get - base->src_get, want.src_get);
    assert_int_equal(c.blob_head - base->blob_head, want.blob_head);
    assert_int_equal(c.put - base->put, want.put);
}

/* A second run of the engine over the same registries. */
static void rerun(fx *f, const char *const *pairs, size_t n)
{
    it_engine_free(f->e);
    f->e = NULL;
    run(f, 2, 2, pairs, n);
}

/* The requests per image on the critical path, in each case (issue 15 §4):
 * a fresh target: one manifest GET per image, no HEAD anywhere, no blob
 * HEAD; a rerun with the journal: one source HEAD per tag; a rerun
 * without it: a HEAD on each side per tag; a new tag in a repository the
 * target has: the GET straight away, no HEAD (the target's tag list says
 * it lacks the tag). Each repository: one listing per side. */
static void test_requests_per_image(void **state)
{
    fx *f = *state;
    void *dir = NULL;
    char statedir[512];
    journal_and_image(f, &dir, statedir, sizeof(statedir)); /* a:v1 */
    char c[72], l2[72], l3[72];
    image2(f, "a", "v2", "cfg", "layer-2", c, l2);
    it_errbuf err = {{0}};
    const char *pairs[] = {"a a"};

    counts base = count_now(f);
    run(f, 2, 2, pairs, 1);
    assert_int_equal(result(f, "/a:v1")->status, IT_STATUS_COPIED);
    assert_int_equal(result(f, "/a:v2")->status, IT_STATUS_COPIED);
    assert_counts(
        f, &base,
        (counts){.src_list = 1, .dst_list = 1, .src_get = 2, .put = 2});

    /* rerun with the journal: one HEAD on the source per tag */
    assert_int_equal(it_journal_close(f->journal), 0);
    assert_int_equal(it_journal_open(&f->journal, statedir, NULL, &err), 0);
    base = count_now(f);
    size_t before = f->nres;
    rerun(f, pairs, 1);
    assert_int_equal(f->nres, before + 2);
    for (size_t i = before; i < f->nres; i++) {
        assert_int_equal(f->res[i].status, IT_STATUS_SKIPPED);
        assert_non_null(strstr(f->res[i].error, "journal"));
    }
    assert_counts(f, &base,
                  (counts){.src_list = 1, .dst_list = 1, .src_head = 2});

    /* rerun without a journal: a HEAD on each side per tag */
    assert_int_equal(it_journal_close(f->journal), 0);
    f->journal = NULL;
    base = count_now(f);
    rerun(f, pairs, 1);
    assert_counts(
        f, &base,
        (counts){.src_list = 1, .dst_list = 1, .src_head = 2, .dst_head = 2});

    /* a new tag: GET at once; its new layer is HEADed (the repository
     * existed), the config it shares is too */
    image2(f, "a", "v3", "cfg", "layer-3", c, l3);
    base = count_now(f);
    before = f->nres;
    rerun(f, pairs, 1);
    assert_int_equal(f->nres, before + 3);
    assert_int_equal(result(f, "/a:v3")->status, IT_STATUS_COPIED);
    assert_counts(f, &base,
                  (counts){.src_list = 1,
                           .dst_list = 1,
                           .src_head = 2,
                           .dst_head = 2,
                           .src_get = 1,
                           .blob_head = 2,
                           .put = 1});
    tu_tmpdir_drop(&dir);
}

/* The target's tag listing runs while the source's is on its way (it is
 * held until the source listing has started: in sequence, that never
 * happens and the hold times out), and no image is compared before the
 * target's answer is in: the new tag is fetched without a target HEAD
 * even though the target answers late. */
typedef struct overlap {
    pthread_mutex_t lock;
    pthread_cond_t cv;
    bool src_started;
    bool timed_out;
} overlap;

static void overlap_hook(void *payload, memreg_op op, const char *host,
                         const char *repo, const char *ref)
{
    (void)repo;
    (void)ref;
    overlap *o = payload;
    if (op == MR_TAGS_EACH && strcmp(host, SRC) == 0) {
        pthread_mutex_lock(&o->lock);
        o->src_started = true;
        pthread_cond_broadcast(&o->cv);
        pthread_mutex_unlock(&o->lock);
    } else if (op == MR_TAGS_LIST && strcmp(host, DST) == 0) {
        pthread_mutex_lock(&o->lock);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 3; /* a bound, not a timing assertion */
        while (!o->src_started && !o->timed_out)
            if (pthread_cond_timedwait(&o->cv, &o->lock, &ts) != 0)
                o->timed_out = true;
        pthread_mutex_unlock(&o->lock);
        /* answer late: the source's page is delivered meanwhile */
        struct timespec late = {0, 30 * 1000 * 1000};
        nanosleep(&late, NULL);
    }
}

static void test_listings_overlap(void **state)
{
    fx *f = *state;
    char c[72], l[72], o1[72], o2[72];
    image2(f, "a", "v1", "cfg", "layer", c, l);
    /* the target repository exists, without v1 */
    memreg_blob(f->m, DST, "a", "old-cfg", 10, o1);
    memreg_blob(f->m, DST, "a", "old-layer", 10, o2);
    const char *old[] = {o1, o2};
    char dm[72];
    memreg_image(f->m, DST, "a", "old", old, 2, dm);
    overlap o = {0};
    pthread_mutex_init(&o.lock, NULL);
    pthread_cond_init(&o.cv, NULL);
    memreg_set_hook(f->m, overlap_hook, &o);
    const char *pairs[] = {"a a"};
    run(f, 2, 2, pairs, 1);
    memreg_set_hook(f->m, NULL, NULL);
    assert_false(o.timed_out);
    assert_int_equal(result(f, "/a:v1")->status, IT_STATUS_COPIED);
    assert_int_equal(memreg_calls(f->m, MR_MANIFEST_HEAD, NULL, NULL, NULL), 0);
    assert_int_equal(memreg_calls(f->m, MR_TAGS_LIST, DST, "a", NULL), 1);
    pthread_cond_destroy(&o.cv);
    pthread_mutex_destroy(&o.lock);
}

/* A subscriber that records the stream. */
typedef struct recorder {
    pthread_mutex_t lock;
    long n[IT_EV_IMAGE_CREATED + 1];
    int64_t bytes, taken_back;
    long blobs_copied;
    long copied_images;
    char text[600]; /* of the last IT_EV_PAIR_FAILED */
} recorder;

static void record(void *payload, const it_event *ev)
{
    recorder *r = payload;
    pthread_mutex_lock(&r->lock);
    r->n[ev->kind]++;
    if (ev->kind == IT_EV_BYTES) {
        r->bytes += ev->bytes;
        if (ev->bytes < 0)
            r->taken_back += ev->bytes;
    }
    if (ev->kind == IT_EV_BLOB_DONE && ev->outcome == IT_BLOB_COPIED)
        r->blobs_copied++;
    if (ev->kind == IT_EV_IMAGE_FINISHED && ev->status == IT_STATUS_COPIED)
        r->copied_images++;
    if (ev->kind == IT_EV_PAIR_FAILED)
        snprintf(r->text, sizeof(r->text), "%s", ev->text ? ev->text : "");
    pthread_mutex_unlock(&r->lock);
}

/* One stream, one source: a copy that breaks after 400 bytes and is then
 * retried takes those bytes back with one event; the stats (report), the
 * progress model (printed summary) and a subscriber all agree. */
static void test_events_one_source(void **state)
{
    fx *f = *state;
    recorder rec = {.lock = PTHREAD_MUTEX_INITIALIZER};
    f->sub = (it_event_sub){record, &rec};
    char c[72], l[72];
    image2(f, "a", "v1", "cfg", "layer", c, l); /* 100 + 1000 bytes */
    memreg_fail_partial(f->m, MR_BLOB_COPY, DST, "a", l, REG_ERETRY, 503, 1,
                        400);
    const char *pairs[] = {"a a"};
    run(f, 1, 2, pairs, 1);
    assert_int_equal(result(f, "/a:v1")->status, IT_STATUS_COPIED);
    assert_int_equal(result(f, "/a:v1")->bytes, 1100);
    assert_int_equal(rec.taken_back, -400);
    assert_int_equal(rec.bytes, 1100);
    assert_int_equal(rec.n[IT_EV_IMAGE_STARTED], 1);
    assert_int_equal(rec.n[IT_EV_IMAGE_FINISHED], 1);
    assert_int_equal(rec.copied_images, 1);
    it_engine_stats st;
    it_engine_stats_get(f->e, &st);
    assert_int_equal(st.bytes_copied, rec.bytes);
    assert_int_equal(st.blobs_copied, rec.blobs_copied);
    it_snapshot *snap = it_progress_snapshot(f->progress, NULL);
    assert_non_null(snap);
    assert_int_equal(snap->totals.bytes_done, st.bytes_copied);
    assert_int_equal(snap->totals.blobs_copied, st.blobs_copied);
    assert_int_equal(snap->totals.images_copied, st.images_copied);
    it_snapshot_free(snap);
}

/* Event text is redacted and escaped once, before any subscriber: the
 * results and every subscriber see the same clean text. */
static void test_event_text_redacted(void **state)
{
    fx *f = *state;
    recorder rec = {.lock = PTHREAD_MUTEX_INITIALIZER};
    f->sub = (it_event_sub){record, &rec};
    it_log_add_secret("hunter2-engine-secret");
    start(f, 1, 0);
    it_engine_add_failed(f->e, SRC "/x", DST "/x",
                         "denied: token hunter2-engine-secret\x1b[2J");
    finish(f);
    assert_int_equal(rec.n[IT_EV_PAIR_FAILED], 1);
    assert_null(strstr(rec.text, "hunter2"));
    assert_null(strchr(rec.text, '\x1b'));
    assert_non_null(strstr(rec.text, "denied: token"));
    assert_int_equal(result(f, "/x")->status, IT_STATUS_FAILED);
    assert_string_equal(result(f, "/x")->error, rec.text);
}

/* Mounts of one blob into different repositories run side by side: the
 * first mount is held until a second mount of the same blob (into another
 * repository) has started. When mounts ran one at a time, the hold timed
 * out. */
typedef struct mount_gate {
    pthread_mutex_t lock;
    pthread_cond_t cv;
    const char *digest;
    int started;
    bool timed_out;
} mount_gate;

static void mount_gate_hook(void *payload, memreg_op op, const char *host,
                            const char *repo, const char *ref)
{
    (void)host;
    (void)repo;
    mount_gate *g = payload;
    if (op != MR_BLOB_MOUNT || strcmp(ref, g->digest) != 0)
        return;
    pthread_mutex_lock(&g->lock);
    g->started++;
    pthread_cond_broadcast(&g->cv);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 20; /* a bound, not a timing assertion */
    while (g->started < 2 && !g->timed_out)
        if (pthread_cond_timedwait(&g->cv, &g->lock, &ts) != 0)
            g->timed_out = true;
    pthread_mutex_unlock(&g->lock);
}

static void test_mounts_in_parallel(void **state)
{
    fx *f = *state;
    char s[72], l[3][72];
    image2(f, "a", "v1", "shared", "layer-a", s, l[0]);
    image2(f, "b", "v1", "shared", "layer-b", s, l[1]);
    image2(f, "c", "v1", "shared", "layer-c", s, l[2]);
    mount_gate g = {.digest = s};
    pthread_mutex_init(&g.lock, NULL);
    pthread_cond_init(&g.cv, NULL);
    memreg_set_hook(f->m, mount_gate_hook, &g);
    const char *pairs[] = {"a a", "b b", "c c"};
    run(f, 4, 2, pairs, 3);
    memreg_set_hook(f->m, NULL, NULL);
    assert_false(g.timed_out);
    assert_int_equal(memreg_calls(f->m, MR_BLOB_COPY, DST, NULL, s), 1);
    assert_int_equal(memreg_calls(f->m, MR_BLOB_MOUNT, DST, NULL, s), 2);
    for (int i = 0; i < 3; i++) {
        char suffix[16];
        snprintf(suffix, sizeof(suffix), "/%c:v1", 'a' + i);
        assert_int_equal(result(f, suffix)->status, IT_STATUS_COPIED);
    }
    pthread_cond_destroy(&g.cv);
    pthread_mutex_destroy(&g.lock);
}

/* A repository whose tag listing fails (every attempt of the first pass)
 * is listed again in the final retry pass, like a failed image: its image
 * is copied and no failure is reported. */
static void test_listing_retried_at_end(void **state)
{
    fx *f = *state;
    char c[72], l[72];
    image2(f, "a", "v1", "cfg", "layer", c, l);
    /* --retry=2: three attempts in the first pass, all refused */
    memreg_fail(f->m, MR_TAGS_EACH, SRC, "a", NULL, REG_ERETRY, 503, 3);
    const char *pairs[] = {"a a"};
    run(f, 2, 2, pairs, 1);
    assert_int_equal(memreg_calls(f->m, MR_TAGS_EACH, SRC, "a", NULL), 4);
    assert_int_equal(f->nres, 1);
    assert_int_equal(result(f, "/a:v1")->status, IT_STATUS_COPIED);
    char tagged[72];
    memreg_tag_digest(f->m, DST, "a", "v1", tagged);
    assert_true(tagged[0] != '\0');
}

/* A listing that fails in the retry pass too is reported once, failed. */
static void test_listing_fails_twice(void **state)
{
    fx *f = *state;
    char c[72], l[72];
    image2(f, "a", "v1", "cfg", "layer", c, l);
    memreg_fail(f->m, MR_TAGS_EACH, SRC, "a", NULL, REG_ERETRY, 503, -1);
    const char *pairs[] = {"a a"};
    run(f, 2, 1, pairs, 1);
    assert_int_equal(memreg_calls(f->m, MR_TAGS_EACH, SRC, "a", NULL), 4);
    assert_int_equal(f->nres, 1);
    assert_int_equal(f->res[0].status, IT_STATUS_FAILED);
    assert_non_null(strstr(f->res[0].error, "list tags"));
}

/* ------------------------------------------------ tag filters (#14) */

/* An image of one config blob (`config`: its bytes, so its `created`) and
 * one layer, tagged `tag` in SRC/repo. */
static void image_cfg(fx *f, const char *repo, const char *tag,
                      const char *config, const char *layer)
{
    char dc[72], dl[72], dm[72];
    memreg_blob(f->m, SRC, repo, config, 10, dc);
    memreg_blob(f->m, SRC, repo, layer, 100, dl);
    const char *blobs[] = {dc, dl};
    memreg_image(f->m, SRC, repo, tag, blobs, 2, dm);
}

static bool dst_has_tag(fx *f, const char *repo, const char *tag)
{
    char d[72];
    memreg_tag_digest(f->m, DST, repo, tag, d);
    return d[0] != '\0';
}

/* Runs one pair SRC/repo -> DST/repo with the given filters. */
static void run_filtered(fx *f, const char *repo, char **tags, char **exclude,
                         const char *semver, int latest)
{
    start(f, 2, 1);
    it_pair p = {0};
    p.src_host = SRC;
    p.src_repo = (char *)repo;
    p.dst_host = DST;
    p.dst_repo = (char *)repo;
    p.filter_tags = tags;
    p.filter_exclude = exclude;
    p.filter_semver = (char *)semver;
    p.filter_latest = latest;
    assert_int_equal(it_engine_add_pair(f->e, &p), 0);
    finish(f);
}

/* include, exclude (wins), semver: what each left out is counted. */
static void test_filters_counted(void **state)
{
    fx *f = *state;
    static const char *const tags[] = {"v1.3.0", "v1.5.0",    "v1.5.0-rc1",
                                       "dev-1",  "v2.0.0",    "latest",
                                       "v3.1.0", "v2.1.0-dev"};
    for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
        char cfg[64], layer[64];
        snprintf(cfg, sizeof(cfg), "{\"n\":%zu}", i);
        snprintf(layer, sizeof(layer), "layer-%zu", i);
        image_cfg(f, "f", tags[i], cfg, layer);
    }
    char *inc[] = {"^v\\d", NULL};
    char *exc[] = {"-rc", "^dev-", "-dev$", NULL};
    run_filtered(f, "f", inc, exc, ">=1.4 <3", 0);
    assert_true(dst_has_tag(f, "f", "v1.5.0"));
    assert_true(dst_has_tag(f, "f", "v2.0.0"));
    assert_int_equal(f->nres, 2);
    it_engine_stats st;
    it_engine_stats_get(f->e, &st);
    assert_int_equal(st.filtered.regex, 2);   /* dev-1, latest */
    assert_int_equal(st.filtered.exclude, 2); /* v1.5.0-rc1, v2.1.0-dev */
    assert_int_equal(st.filtered.semver, 2);  /* v1.3.0, v3.1.0 */
    assert_int_equal(st.filtered.latest, 0);
    assert_int_equal(f->nfiltered, 1);
    assert_int_equal(f->fc.exclude, 2);
    assert_string_equal(f->order, "-");
    /* the dashboard's "Filtered" line */
    it_snapshot *snap = it_progress_snapshot(f->progress, NULL);
    const char *line = NULL;
    for (size_t i = 0; i < snap->n_prep; i++)
        if (strcmp(snap->prep_keys[i], "filtered") == 0)
            line = snap->prep_values[i];
    assert_non_null(line);
    assert_string_equal(line, "6 tags: 2 by regex, 2 by exclude, 2 by "
                              "semver, 0 older than the newest N");
    it_snapshot_free(snap);
}

/* Newest N by semver when every candidate is a version: no config read. */
static void test_latest_by_semver(void **state)
{
    fx *f = *state;
    static const char *const tags[] = {"1.2.0", "1.10.0", "1.9.0", "2.0.0-rc.1",
                                       "1.10.0-rc.1"};
    for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
        char cfg[64], layer[64];
        snprintf(cfg, sizeof(cfg), "{\"n\":%zu}", i);
        snprintf(layer, sizeof(layer), "layer-%zu", i);
        image_cfg(f, "s", tags[i], cfg, layer);
    }
    run_filtered(f, "s", NULL, NULL, NULL, 2);
    assert_true(dst_has_tag(f, "s", "2.0.0-rc.1"));
    assert_true(dst_has_tag(f, "s", "1.10.0"));
    assert_false(dst_has_tag(f, "s", "1.9.0"));
    assert_int_equal(f->nres, 2);
    assert_string_equal(f->order, "semver");
    assert_int_equal(f->fc.latest, 3);
    assert_int_equal(memreg_calls(f->m, MR_BLOB_GET, NULL, NULL, NULL), 0);
}

/* Newest N by creation time when a candidate is no version: the configs
 * of the candidates only are read, once; a rerun takes the times from the
 * journal, and a tag moved to another image is read again. */
static void test_latest_by_created_cached(void **state)
{
    fx *f = *state;
    void *dir = NULL;
    char statedir[512];
    it_errbuf err = {{0}};
    assert_int_equal(tu_tmpdir_new(&dir, "engine"), 0);
    tu_path_in(statedir, sizeof(statedir), dir, "state");
    assert_int_equal(it_journal_open(&f->journal, statedir, NULL, &err), 0);
    image_cfg(f, "c", "old", "{\"created\":\"2021-01-01T00:00:00Z\"}", "l1");
    image_cfg(f, "c", "new",
              "{\"created\":\"2024-03-01T10:00:00.123456789+02:00\"}", "l2");
    image_cfg(f, "c", "mid", "{\"created\":\"2023-06-01T00:00:00Z\"}", "l3");
    image_cfg(f, "c", "nodate", "{\"architecture\":\"amd64\"}", "l4");
    image_cfg(f, "c", "skip-me", "{\"created\":\"2025-01-01T00:00:00Z\"}",
              "l5");
    char *exc[] = {"^skip", NULL};
    run_filtered(f, "c", NULL, exc, NULL, 2);
    assert_true(dst_has_tag(f, "c", "new"));
    assert_true(dst_has_tag(f, "c", "mid"));
    assert_false(dst_has_tag(f, "c", "old"));
    assert_false(dst_has_tag(f, "c", "nodate"));
    assert_false(dst_has_tag(f, "c", "skip-me"));
    assert_string_equal(f->order, "created");
    assert_int_equal(f->fc.latest, 2);
    assert_int_equal(f->fc.exclude, 1);
    /* one config GET per candidate, none for the excluded tag */
    assert_int_equal(memreg_calls(f->m, MR_BLOB_GET, SRC, "c", NULL), 4);

    /* a rerun: every time from the journal */
    assert_int_equal(it_journal_close(f->journal), 0);
    it_engine_free(f->e);
    f->e = NULL;
    assert_int_equal(it_journal_open(&f->journal, statedir, NULL, &err), 0);
    run_filtered(f, "c", NULL, exc, NULL, 2);
    assert_int_equal(memreg_calls(f->m, MR_BLOB_GET, SRC, "c", NULL), 4);
    assert_string_equal(f->order, "created");

    /* "old" moves to a newer image: read again, and now among the two */
    it_engine_free(f->e);
    f->e = NULL;
    image_cfg(f, "c", "old", "{\"created\":\"2026-01-01T00:00:00Z\"}", "l6");
    run_filtered(f, "c", NULL, exc, NULL, 2);
    assert_int_equal(memreg_calls(f->m, MR_BLOB_GET, SRC, "c", NULL), 5);
    assert_true(dst_has_tag(f, "c", "old"));
    assert_int_equal(it_journal_close(f->journal), 0);
    f->journal = NULL;
    tu_tmpdir_drop(&dir);
}

/* ------------------------------------------------------------ --verify */

/* The index of the last result whose source ends with `suffix`. */
static size_t last_result(fx *f, const char *suffix)
{
    for (size_t i = f->nres; i-- > 0;) {
        size_t ls = strlen(f->res[i].source), lx = strlen(suffix);
        if (ls >= lx && strcmp(f->res[i].source + ls - lx, suffix) == 0)
            return i;
    }
    fail_msg("no result for %s", suffix);
    return 0;
}

/* Writes to the target registries so far: manifest PUTs, mounts, copies. */
static long writes(fx *f)
{
    return memreg_calls(f->m, MR_MANIFEST_PUT, NULL, NULL, NULL) +
           memreg_calls(f->m, MR_BLOB_MOUNT, NULL, NULL, NULL) +
           memreg_calls(f->m, MR_BLOB_COPY, NULL, NULL, NULL) +
           memreg_calls(f->m, MR_MANIFEST_DELETE, NULL, NULL, NULL);
}

/* Copies repository a (tags same, also, other, multi, broken), then
 * damages the target: other pointed at another image, multi's second
 * child deleted. */
static void verify_fixture(fx *f, char child2[72], char other_digest[72])
{
    char c[72], l[72], x[72], y[72], d1[72];
    image2(f, "a", "same", "cfg", "layer", c, l);
    image2(f, "a", "also", "cfg", "layer2", c, l);
    image2(f, "a", "other", "cfg", "layer3", c, l);
    image2(f, "a", "broken", "cfg", "layer4", c, l);
    /* an index of two images */
    memreg_blob(f->m, SRC, "a", "k1", 10, x);
    memreg_blob(f->m, SRC, "a", "k2", 20, y);
    const char *b1[] = {c, x}, *b2[] = {c, y};
    memreg_image(f->m, SRC, "a", NULL, b1, 2, d1);
    memreg_image(f->m, SRC, "a", NULL, b2, 2, child2);
    const char *kids[] = {d1, child2};
    char di[72];
    memreg_index(f->m, SRC, "a", "multi", kids, 2, di);
    const char *pairs[] = {"a a"};
    run(f, 2, 1, pairs, 1);
    for (size_t i = 0; i < f->nres; i++)
        assert_int_equal(f->res[i].status, IT_STATUS_COPIED);
    it_engine_free(f->e);
    f->e = NULL;
    /* someone else's image under the target tag "other" */
    char z[72];
    memreg_blob(f->m, DST, "a", "intruder", 5, z);
    const char *bz[] = {z};
    memreg_image(f->m, DST, "a", "other", bz, 1, other_digest);
    memreg_drop_manifest(f->m, DST, "a", child2);
}

/* Each verdict once, and nothing written: identical, missing (a target
 * repository without the tag), different (both digests), incomplete (an
 * index child deleted, named), error (the source does not answer). */
static void test_verify_statuses(void **state)
{
    fx *f = *state;
    char child2[72], other[72];
    verify_fixture(f, child2, other);
    size_t before = f->nres;
    long w = writes(f);
    /* "gone": a source tag the target never got; "broken": a source tag
     * that cannot be asked */
    char c[72], l[72];
    image2(f, "a", "gone", "cfg", "layer5", c, l);
    memreg_fail(f->m, MR_MANIFEST_HEAD, SRC, "a", "broken", REG_EDENIED, 403,
                -1);
    f->verify = 1;
    const char *pairs[] = {"a a"};
    run(f, 2, 1, pairs, 1);
    assert_int_equal(writes(f), w);
    assert_int_equal(f->res[last_result(f, "a:same")].verify,
                     IT_VERIFY_IDENTICAL);
    assert_int_equal(f->res[last_result(f, "a:same")].status,
                     IT_STATUS_SKIPPED);
    assert_int_equal(f->res[last_result(f, "a:also")].verify,
                     IT_VERIFY_IDENTICAL);
    /* identical is no error: no text; the other verdicts explain */
    assert_null(f->res[last_result(f, "a:same")].error);
    assert_null(f->res[last_result(f, "a:also")].error);
    size_t mi = last_result(f, "a:gone");
    assert_int_equal(f->res[mi].verify, IT_VERIFY_MISSING);
    assert_int_equal(f->res[mi].status, IT_STATUS_FAILED);
    assert_null(f->res[mi].target_digest);
    assert_non_null(strstr(f->res[mi].error, "missing: the target has no"));
    size_t di = last_result(f, "a:other");
    assert_int_equal(f->res[di].verify, IT_VERIFY_DIFFERENT);
    assert_non_null(strstr(f->res[di].error, "different: the target has"));
    assert_string_equal(f->res[di].target_digest, other);
    assert_non_null(f->res[di].digest);
    assert_string_not_equal(f->res[di].digest, other);
    size_t ii = last_result(f, "a:multi");
    assert_int_equal(f->res[ii].verify, IT_VERIFY_INCOMPLETE);
    char want[128];
    snprintf(want, sizeof(want), "manifest %s", child2);
    assert_string_equal(f->missing[ii], want);
    assert_non_null(strstr(f->res[ii].error, "incomplete: 1 absent"));
    size_t ei = last_result(f, "a:broken");
    assert_int_equal(f->res[ei].verify, IT_VERIFY_ERROR);
    assert_non_null(strstr(f->res[ei].error, "check source"));
    assert_true(f->nres - before == 6);
    it_engine_stats st;
    it_engine_stats_get(f->e, &st);
    assert_int_equal(st.verify, 1);
    assert_int_equal(st.verify_identical, 2);
    assert_int_equal(st.verify_missing, 1);
    assert_int_equal(st.verify_different, 1);
    assert_int_equal(st.verify_incomplete, 1);
    assert_int_equal(st.verify_errors, 1);
    /* an index is read once from the source; the other tags not at all */
    assert_int_equal(memreg_calls(f->m, MR_MANIFEST_GET, SRC, "a", "same"), 1);
}

/* Shallow verify asks no blob; deep finds a blob deleted on the target
 * and names it, asking each blob once per repository. */
static void test_verify_deep_blob(void **state)
{
    fx *f = *state;
    char c[72], l[72], l2[72];
    image2(f, "a", "v1", "cfg", "layer", c, l);
    image2(f, "a", "v2", "cfg", "layer2", c, l2);
    const char *pairs[] = {"a a"};
    run(f, 1, 1, pairs, 1);
    it_engine_free(f->e);
    f->e = NULL;
    memreg_drop_blob(f->m, DST, "a", l);
    long exists = memreg_calls(f->m, MR_BLOB_EXISTS, DST, "a", NULL);
    f->verify = 1;
    run(f, 1, 1, pairs, 1);
    assert_int_equal(f->res[last_result(f, "a:v1")].verify,
                     IT_VERIFY_IDENTICAL);
    assert_int_equal(memreg_calls(f->m, MR_BLOB_EXISTS, DST, "a", NULL),
                     exists);
    it_engine_free(f->e);
    f->e = NULL;
    f->verify = 2;
    long w = writes(f);
    run(f, 1, 1, pairs, 1);
    assert_int_equal(writes(f), w);
    size_t i1 = last_result(f, "a:v1");
    assert_int_equal(f->res[i1].verify, IT_VERIFY_INCOMPLETE);
    char want[128];
    snprintf(want, sizeof(want), "blob %s", l);
    assert_string_equal(f->missing[i1], want);
    assert_int_equal(f->res[last_result(f, "a:v2")].verify,
                     IT_VERIFY_IDENTICAL);
    /* cfg is shared: asked once */
    assert_int_equal(memreg_calls(f->m, MR_BLOB_EXISTS, DST, "a", c), 1);
}

/* A tag verify finds not identical is dropped from the journal, so the
 * next copy run checks the target instead of trusting the record. */
static void test_verify_forgets_journal(void **state)
{
    fx *f = *state;
    void *dir = NULL;
    char statedir[512];
    journal_and_image(f, &dir, statedir, sizeof(statedir));
    const char *pairs[] = {"a a"};
    run(f, 1, 1, pairs, 1);
    it_engine_free(f->e);
    f->e = NULL;
    char d[72];
    assert_int_equal(it_journal_image_digest(f->journal, SRC "/a:v1",
                                             DST "/a:v1", d, sizeof(d)),
                     1);
    char z[72], other[72];
    memreg_blob(f->m, DST, "a", "intruder", 5, z);
    const char *bz[] = {z};
    memreg_image(f->m, DST, "a", "v1", bz, 1, other);
    f->verify = 1;
    run(f, 1, 1, pairs, 1);
    assert_int_equal(f->res[last_result(f, "a:v1")].verify,
                     IT_VERIFY_DIFFERENT);
    assert_int_equal(it_journal_image_digest(f->journal, SRC "/a:v1",
                                             DST "/a:v1", d, sizeof(d)),
                     0);
    it_engine_free(f->e);
    f->e = NULL;
    /* the copy run repairs it (the default --tag-exist-overridden=true) */
    f->verify = 0;
    f->overwrite = true;
    run(f, 1, 1, pairs, 1);
    assert_int_equal(f->res[last_result(f, "a:v1")].status, IT_STATUS_COPIED);
    assert_int_equal(it_journal_close(f->journal), 0);
    f->journal = NULL;
    tu_tmpdir_drop(&dir);
}

/* An index's creation time is its linux/amd64 child's (memreg's first
 * child is linux/amd64, its second linux/arm64). */
static void test_latest_created_of_index(void **state)
{
    fx *f = *state;
    char c0[72], l0[72], c1[72], l1[72], m0[72], m1[72], idx[72];
    memreg_blob(f->m, SRC, "i", "{\"created\":\"2030-01-01T00:00:00Z\"}", 10,
                c0);
    memreg_blob(f->m, SRC, "i", "il0", 100, l0);
    memreg_blob(f->m, SRC, "i", "{\"created\":\"2000-01-01T00:00:00Z\"}", 10,
                c1);
    memreg_blob(f->m, SRC, "i", "il1", 100, l1);
    const char *b0[] = {c0, l0}, *b1[] = {c1, l1};
    memreg_image(f->m, SRC, "i", NULL, b0, 2, m0);
    memreg_image(f->m, SRC, "i", NULL, b1, 2, m1);
    const char *kids[] = {m0, m1};
    memreg_index(f->m, SRC, "i", "multi", kids, 2, idx);
    image_cfg(f, "i", "plain", "{\"created\":\"2029-01-01T00:00:00Z\"}", "l2");
    run_filtered(f, "i", NULL, NULL, NULL, 1);
    assert_true(dst_has_tag(f, "i", "multi"));
    assert_false(dst_has_tag(f, "i", "plain"));
    assert_string_equal(f->order, "created");
    /* the amd64 child's config only */
    assert_int_equal(memreg_calls(f->m, MR_BLOB_GET, SRC, "i", c0), 1);
    assert_int_equal(memreg_calls(f->m, MR_BLOB_GET, SRC, "i", c1), 0);
}

/* A filter that cannot compile fails its pair (the rule loader checks
 * first; this is the engine's own guard). */
static void test_bad_filter_fails_pair(void **state)
{
    fx *f = *state;
    image_cfg(f, "b", "v1", "{}", "l");
    start(f, 1, 0);
    char *inc[] = {"(", NULL};
    it_pair p = {0};
    p.src_host = SRC;
    p.src_repo = "b";
    p.dst_host = DST;
    p.dst_repo = "b";
    p.filter_tags = inc;
    assert_int_equal(it_engine_add_pair(f->e, &p), 0); /* added as failed */
    finish(f);
    assert_int_equal(f->nres, 1);
    assert_int_equal(f->res[0].status, IT_STATUS_FAILED);
    assert_non_null(strstr(f->res[0].error, "regex '('"));
}

/* An index verify finds incomplete (a child deleted on the target) is
 * marked for repair: the next copy run copies it again although the tag
 * has the source digest, putting back only what is absent. */
static void test_verify_repairs_incomplete(void **state)
{
    fx *f = *state;
    void *dir = NULL;
    char statedir[512];
    assert_int_equal(tu_tmpdir_new(&dir, "engine"), 0);
    tu_path_in(statedir, sizeof(statedir), dir, "state");
    it_errbuf err = {{0}};
    assert_int_equal(it_journal_open(&f->journal, statedir, NULL, &err), 0);
    char c[72], x[72], y[72], d1[72], d2[72], di[72];
    memreg_blob(f->m, SRC, "a", "cfg", 10, c);
    memreg_blob(f->m, SRC, "a", "k1", 10, x);
    memreg_blob(f->m, SRC, "a", "k2", 20, y);
    const char *b1[] = {c, x}, *b2[] = {c, y};
    memreg_image(f->m, SRC, "a", NULL, b1, 2, d1);
    memreg_image(f->m, SRC, "a", NULL, b2, 2, d2);
    const char *kids[] = {d1, d2};
    memreg_index(f->m, SRC, "a", "multi", kids, 2, di);
    const char *pairs[] = {"a a"};
    run(f, 1, 1, pairs, 1);
    it_engine_free(f->e);
    f->e = NULL;
    memreg_drop_manifest(f->m, DST, "a", d2);
    /* a plain rerun trusts the journal: nothing noticed */
    run(f, 1, 1, pairs, 1);
    assert_int_equal(f->res[last_result(f, "a:multi")].status,
                     IT_STATUS_SKIPPED);
    assert_false(memreg_has_manifest(f->m, DST, "a", d2));
    it_engine_free(f->e);
    f->e = NULL;
    f->verify = 1;
    run(f, 1, 1, pairs, 1);
    assert_int_equal(f->res[last_result(f, "a:multi")].verify,
                     IT_VERIFY_INCOMPLETE);
    assert_int_equal(it_journal_image_needs_repair(f->journal, SRC "/a:multi",
                                                   DST "/a:multi"),
                     1);
    it_engine_free(f->e);
    f->e = NULL;
    f->verify = 0;
    long copies = memreg_calls(f->m, MR_BLOB_COPY, DST, "a", NULL);
    run(f, 1, 1, pairs, 1);
    assert_int_equal(f->res[last_result(f, "a:multi")].status,
                     IT_STATUS_COPIED);
    assert_true(memreg_has_manifest(f->m, DST, "a", d2));
    /* the blobs were all there: none copied again */
    assert_int_equal(memreg_calls(f->m, MR_BLOB_COPY, DST, "a", NULL), copies);
    assert_int_equal(it_journal_image_needs_repair(f->journal, SRC "/a:multi",
                                                   DST "/a:multi"),
                     0);
    assert_int_equal(it_journal_close(f->journal), 0);
    f->journal = NULL;
    tu_tmpdir_drop(&dir);
}

/* FA: repository "p" copied with --platforms=linux/amd64,linux/arm64: an
 * index of three images (amd64, arm64, s390x; the arm64 one's digest in
 * arm64) becomes a filtered index on the target; a single s390x image is
 * not selected, a single amd64 one is copied. The filtered index's digest
 * in filtered. */
static void platforms_fixture(fx *f, char arm64[72], char filtered[72])
{
    char c[72], k[3][72], kid[3][72], idx[72];
    memreg_blob(f->m, SRC, "p", "cfg", 10, c);
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof(name), "pk%d", i);
        memreg_blob(f->m, SRC, "p", name, 100, k[i]);
        const char *b[] = {c, k[i]};
        memreg_image(f->m, SRC, "p", NULL, b, 2, kid[i]);
    }
    memcpy(arm64, kid[1], 72);
    const char *kids[] = {kid[0], kid[1], kid[2]};
    memreg_index(f->m, SRC, "p", "multi", kids, 3, idx);
    image_cfg(f, "p", "s390x", "{\"os\":\"linux\",\"architecture\":\"s390x\"}",
              "ps");
    image_cfg(f, "p", "amd64", "{\"os\":\"linux\",\"architecture\":\"amd64\"}",
              "pa");
    f->platforms = "linux/amd64,linux/arm64";
    const char *pairs[] = {"p p"};
    run(f, 2, 1, pairs, 1);
    assert_int_equal(result(f, "p:multi")->status, IT_STATUS_COPIED);
    assert_int_equal(result(f, "p:amd64")->status, IT_STATUS_COPIED);
    assert_int_equal(result(f, "p:s390x")->status, IT_STATUS_SKIPPED);
    assert_false(dst_has_tag(f, "p", "s390x"));
    memreg_tag_digest(f->m, DST, "p", "multi", filtered);
    assert_string_not_equal(filtered, idx);
    it_engine_free(f->e);
    f->e = NULL;
}

/* --verify with the copy's --platforms: the filtered index is identical
 * (both digests in the result), the image the filter does not select is
 * skipped as "not selected (platform)" and counts in no verdict; shallow
 * and deep; nothing written. Without the filter the same target tag is
 * different. */
static void test_verify_platforms_filtered(void **state)
{
    fx *f = *state;
    char arm64[72], filtered[72];
    platforms_fixture(f, arm64, filtered);
    const char *pairs[] = {"p p"};
    long w = writes(f);
    for (int deep = 1; deep <= 2; deep++) {
        f->verify = deep;
        run(f, 2, 1, pairs, 1);
        const it_image_result *m = &f->res[last_result(f, "p:multi")];
        assert_int_equal(m->verify, IT_VERIFY_IDENTICAL);
        assert_int_equal(m->status, IT_STATUS_SKIPPED);
        assert_string_equal(m->target_digest, filtered);
        assert_string_not_equal(m->digest, filtered);
        assert_null(m->error); /* identical: no error text */
        assert_int_equal(f->res[last_result(f, "p:amd64")].verify,
                         IT_VERIFY_IDENTICAL);
        const it_image_result *s = &f->res[last_result(f, "p:s390x")];
        assert_int_equal(s->verify, IT_VERIFY_NONE);
        assert_int_equal(s->status, IT_STATUS_SKIPPED);
        assert_non_null(strstr(s->error, "not selected (platform)"));
        it_engine_stats st;
        it_engine_stats_get(f->e, &st);
        assert_int_equal(st.verify_identical, 2);
        assert_int_equal(st.verify_missing + st.verify_different +
                             st.verify_incomplete + st.verify_errors,
                         0);
        assert_int_equal(st.images_failed, 0);
        assert_int_equal(st.images_platform_skipped, 1);
        it_engine_free(f->e);
        f->e = NULL;
    }
    assert_int_equal(writes(f), w);
    /* the filter is what makes the index identical */
    f->platforms = NULL;
    f->verify = 1;
    run(f, 2, 1, pairs, 1);
    assert_int_equal(f->res[last_result(f, "p:multi")].verify,
                     IT_VERIFY_DIFFERENT);
}

/* A filtered index whose kept child was deleted on the target is
 * incomplete, naming the child (shallow and deep), and marked for repair:
 * the next copy run with the filter copies it again although the journal
 * and the target tag say the filtered index is there. */
static void test_verify_platforms_child_deleted(void **state)
{
    fx *f = *state;
    void *dir = NULL;
    char statedir[512];
    assert_int_equal(tu_tmpdir_new(&dir, "engine"), 0);
    tu_path_in(statedir, sizeof(statedir), dir, "state");
    it_errbuf err = {{0}};
    assert_int_equal(it_journal_open(&f->journal, statedir, NULL, &err), 0);
    char arm64[72], filtered[72], want[128];
    platforms_fixture(f, arm64, filtered);
    memreg_drop_manifest(f->m, DST, "p", arm64);
    snprintf(want, sizeof(want), "manifest %s", arm64);
    const char *pairs[] = {"p p"};
    long w = writes(f);
    for (int deep = 1; deep <= 2; deep++) {
        f->verify = deep;
        run(f, 2, 1, pairs, 1);
        size_t i = last_result(f, "p:multi");
        assert_int_equal(f->res[i].verify, IT_VERIFY_INCOMPLETE);
        assert_string_equal(f->missing[i], want);
        assert_string_equal(f->res[i].target_digest, filtered);
        it_engine_free(f->e);
        f->e = NULL;
    }
    assert_int_equal(writes(f), w);
    assert_int_equal(it_journal_image_needs_repair(f->journal, SRC "/p:multi",
                                                   DST "/p:multi"),
                     1);
    /* the copy run with the filter repairs it */
    f->verify = 0;
    run(f, 2, 1, pairs, 1);
    assert_int_equal(f->res[last_result(f, "p:multi")].status,
                     IT_STATUS_COPIED);
    assert_true(memreg_has_manifest(f->m, DST, "p", arm64));
    assert_int_equal(it_journal_image_needs_repair(f->journal, SRC "/p:multi",
                                                   DST "/p:multi"),
                     0);
    it_engine_free(f->e);
    f->e = NULL;
    f->verify = 1;
    run(f, 2, 1, pairs, 1);
    assert_int_equal(f->res[last_result(f, "p:multi")].verify,
                     IT_VERIFY_IDENTICAL);
    assert_int_equal(it_journal_close(f->journal), 0);
    f->journal = NULL;
    tu_tmpdir_drop(&dir);
}

/* What is absent is listed up to a cap (the rest only counted), however
 * many children a (hostile) index names. */
static void test_verify_missing_capped(void **state)
{
    fx *f = *state;
    char c[72], kids[20][72];
    const char *kp[20];
    memreg_blob(f->m, SRC, "a", "cfg", 10, c);
    for (int i = 0; i < 20; i++) {
        char name[16], b[72];
        snprintf(name, sizeof(name), "k%d", i);
        memreg_blob(f->m, SRC, "a", name, 10, b);
        const char *bl[] = {c, b};
        memreg_image(f->m, SRC, "a", NULL, bl, 2, kids[i]);
        kp[i] = kids[i];
    }
    char di[72];
    memreg_index(f->m, SRC, "a", "wide", kp, 20, di);
    const char *pairs[] = {"a a"};
    run(f, 2, 1, pairs, 1);
    it_engine_free(f->e);
    f->e = NULL;
    for (int i = 0; i < 20; i++)
        memreg_drop_manifest(f->m, DST, "a", kids[i]);
    f->verify = 1;
    run(f, 2, 1, pairs, 1);
    size_t i = last_result(f, "a:wide");
    assert_int_equal(f->res[i].verify, IT_VERIFY_INCOMPLETE);
    assert_non_null(strstr(f->res[i].error, "20 absent"));
    size_t shown = 1;
    for (const char *p = f->missing[i]; (p = strstr(p, " | ")); p++)
        shown++;
    assert_int_equal(shown, 16);
}

/* ---- issue 15: outages waited out, adaptive limits */

typedef struct host_events {
    pthread_mutex_t lock;
    int down, up;
    bool up_after_down;
    char host[64];
} host_events;

static void on_host_event(void *payload, const it_event *ev)
{
    host_events *h = payload;
    if (ev->kind != IT_EV_HOST_STATE)
        return;
    pthread_mutex_lock(&h->lock);
    if (ev->count == 1) {
        h->down++;
        snprintf(h->host, sizeof(h->host), "%s", ev->registry);
        assert_true(ev->bytes > 0); /* down since, Unix s */
        assert_true(ev->size > 0);  /* next try, Unix ms */
    } else {
        h->up++;
        if (h->down > 0)
            h->up_after_down = true;
    }
    pthread_mutex_unlock(&h->lock);
}

/* A target that refuses connections for six tries: with --retry=1 alone
 * the image would fail; within the window it is waited out (the host
 * marked down, then up again) and copied. */
static void test_window_rides_out_outage(void **state)
{
    fx *f = *state;
    host_events he = {.lock = PTHREAD_MUTEX_INITIALIZER};
    f->sub = (it_event_sub){on_host_event, &he};
    f->window_ms = 300000;
    char c[72], l[72];
    image2(f, "a", "v1", "cfg", "layer", c, l);
    memreg_fail(f->m, MR_BLOB_COPY, DST, "a", l, REG_ERETRY, 0, 6);
    const char *pairs[] = {"a a"};
    run(f, 2, 1, pairs, 1);
    assert_int_equal(result(f, "/a:v1")->status, IT_STATUS_COPIED);
    assert_int_equal(memreg_calls(f->m, MR_BLOB_COPY, DST, "a", l), 7);
    assert_true(he.down >= 1);
    assert_string_equal(he.host, DST);
    assert_true(he.up_after_down);
    assert_true(atomic_load(&f->clock_ms) < 300000);
    size_t n = 0;
    it_host_stats *v = it_engine_host_stats(f->e, &n);
    assert_int_equal(host_of(v, n, DST)->down_since, 0); /* up again */
    free(v);
}

/* A target that stays down past the window: the image fails, saying so;
 * the waits add up to the window, the tries stay few (backoff). */
static void test_window_host_stays_down(void **state)
{
    fx *f = *state;
    host_events he = {.lock = PTHREAD_MUTEX_INITIALIZER};
    f->sub = (it_event_sub){on_host_event, &he};
    f->window_ms = 10000;
    char c[72], l[72];
    image2(f, "a", "v1", "cfg", "layer", c, l);
    memreg_fail(f->m, MR_BLOB_COPY, DST, "a", l, REG_ERETRY, 0, -1);
    const char *pairs[] = {"a a"};
    run(f, 1, 1, pairs, 1);
    const it_image_result *r = result(f, "/a:v1");
    assert_int_equal(r->status, IT_STATUS_FAILED);
    assert_non_null(r->error);
    assert_non_null(strstr(r->error, "registry dst.test unreachable for 10s "
                                     "(--retry-window)"));
    assert_true(atomic_load(&f->clock_ms) >= 10000);
    long calls = memreg_calls(f->m, MR_BLOB_COPY, DST, "a", l);
    assert_true(calls >= 3 && calls <= 30);
    assert_true(he.down >= 1);
    size_t n = 0;
    it_host_stats *v = it_engine_host_stats(f->e, &n);
    assert_true(host_of(v, n, DST)->down_since > 0);
    free(v);
}

/* --retry-window=0: the count alone, and no host is ever marked down. */
static void test_window_zero_is_count_only(void **state)
{
    fx *f = *state;
    host_events he = {.lock = PTHREAD_MUTEX_INITIALIZER};
    f->sub = (it_event_sub){on_host_event, &he};
    char c[72], l[72];
    image2(f, "a", "v1", "cfg", "layer", c, l);
    memreg_fail(f->m, MR_BLOB_COPY, DST, "a", l, REG_ERETRY, 0, -1);
    const char *pairs[] = {"a a"};
    run(f, 1, 2, pairs, 1);
    assert_int_equal(result(f, "/a:v1")->status, IT_STATUS_FAILED);
    /* 1 + 2 retries, then the final pass: 1 + 2 again */
    assert_int_equal(memreg_calls(f->m, MR_BLOB_COPY, DST, "a", l), 6);
    assert_int_equal(he.down, 0);
}

/* A 429 halves the host's in-flight limit and sets a rate; the host
 * stats (report, metrics) show it. */
static void test_adaptive_429_halves(void **state)
{
    fx *f = *state;
    f->adaptive = true;
    char c[72], l[72];
    image2(f, "a", "v1", "cfg", "layer", c, l);
    memreg_fail(f->m, MR_BLOB_COPY, DST, "a", l, REG_ERETRY, 429, 1);
    const char *pairs[] = {"a a"};
    run(f, 4, 2, pairs, 1);
    assert_int_equal(result(f, "/a:v1")->status, IT_STATUS_COPIED);
    size_t n = 0;
    it_host_stats *v = it_engine_host_stats(f->e, &n);
    const it_host_stats *dst = host_of(v, n, DST), *src = host_of(v, n, SRC);
    assert_int_equal(dst->throttled, 1);
    assert_int_equal(dst->limit_in_flight, 2);
    assert_true(dst->limit_rps >= 1);
    assert_int_equal(src->throttled, 0);
    assert_int_equal(src->limit_in_flight, 4);
    assert_true(src->limit_rps == 0); /* --qps=0: no cap until a 429 */
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dedup_across_repos, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dedup_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mounts_in_parallel, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_listing_retried_at_end, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_listing_fails_twice, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_mount_401_falls_back, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_mount_404_falls_back, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_index_children_first, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_final_retry_pass, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transient_retried_with_backoff,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_host_request_counters, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dry_run_plan_per_target, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_stop_mid_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_blob_fails_waiters, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_failed_blob_fails_parked_waiter,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal_upload_session, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_journal_rerun_lookups, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_requests_per_image, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_listings_overlap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_one_source, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_window_rides_out_outage, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_window_host_stays_down, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_window_zero_is_count_only, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_adaptive_429_halves, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_event_text_redacted, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_filters_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_latest_by_semver, setup, teardown),
        cmocka_unit_test_setup_teardown(test_latest_by_created_cached, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bad_filter_fails_pair, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_latest_created_of_index, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_verify_statuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_deep_blob, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_forgets_journal, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_verify_repairs_incomplete, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_verify_missing_capped, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_verify_platforms_filtered, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_verify_platforms_child_deleted,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
