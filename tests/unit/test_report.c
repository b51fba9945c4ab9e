/*
 * test_report.c - the JSON report: written, parsed back with jansson, and
 * checked against the exact schema (version, mode, UTC timestamps,
 * interrupted flag, summary keys and values, per-image fields including
 * nulls; the "shard" object of a --shard run); written atomically (no temp file
 * left, an old report replaced by rename, not rewritten in place); errors name
 * the path.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "report.h"
#include "test_util.h"

/* 2023-11-14T22:13:20Z and 1 h 2 min 3 s later. */
#define T_START 1700000000
#define T_END   (1700000000 + 3723)

static int make_tmpdir(void **state)
{
    return tu_tmpdir_new(state, "report");
}

/* Names in dir other than . and .., as a count; *only is set to the single
 * name when there is exactly one. */
static int dir_entries(const char *dir, char *only, size_t cap)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        n++;
        if (only)
            snprintf(only, cap, "%s", de->d_name);
    }
    closedir(d);
    return n;
}

static json_t *load(const char *path)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root)
        print_error("%s:%d: %s\n", path, jerr.line, jerr.text);
    assert_non_null(root);
    assert_true(json_is_object(root));
    return root;
}

/* The object has exactly these keys (no more, no fewer). */
static void assert_keys(json_t *o, const char *const *keys, size_t n)
{
    assert_true(json_is_object(o));
    for (size_t i = 0; i < n; i++) {
        if (!json_object_get(o, keys[i]))
            print_error("missing key %s\n", keys[i]);
        assert_non_null(json_object_get(o, keys[i]));
    }
    assert_int_equal(json_object_size(o), n);
}

static void assert_str(json_t *o, const char *key, const char *want)
{
    json_t *v = json_object_get(o, key);
    assert_true(json_is_string(v));
    assert_string_equal(json_string_value(v), want);
}

static void assert_int_key(json_t *o, const char *key, json_int_t want)
{
    json_t *v = json_object_get(o, key);
    assert_true(json_is_integer(v));
    assert_int_equal(json_integer_value(v), want);
}

static void write_shard(const char *path, const char *mode,
                        const it_shard *shard, time_t t0, time_t t1,
                        const it_engine_stats *s, const it_image_result *r,
                        size_t n, bool interrupted)
{
    it_errbuf err = {{0}};
    int rc =
        it_report_write(path, mode, shard, t0, t1, s, r, n, interrupted, &err);
    if (rc != 0)
        print_error("it_report_write: %s\n", err.msg);
    assert_int_equal(rc, 0);
}

static void write_ok(const char *path, const char *mode, time_t t0, time_t t1,
                     const it_engine_stats *s, const it_image_result *r,
                     size_t n, bool interrupted)
{
    it_errbuf err = {{0}};
    int rc =
        it_report_write(path, mode, NULL, t0, t1, s, r, n, interrupted, &err);
    if (rc != 0)
        print_error("it_report_write: %s\n", err.msg);
    assert_int_equal(rc, 0);
}

#define DG_A                                                                   \
    "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define DG_B                                                                   \
    "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static void test_schema(void **state)
{
    const char *dir = *state;
    char path[4096];
    tu_path_in(path, sizeof(path), dir, "report.json");

    it_image_result r[5] = {
        {.source = "src.example/lib/a:1",
         .target = "dst.example/ns/a:1",
         .digest = DG_A,
         .status = IT_STATUS_COPIED,
         .bytes = (int64_t)5 * 1024 * 1024 * 1024,
         .error = NULL},
        {.source = "src.example/lib/b:2",
         .target = "dst.example/ns/b:2",
         .digest = DG_B,
         .status = IT_STATUS_SKIPPED,
         .bytes = 0,
         .error = "target has the same digest",
         .referrers_copied = 2,
         .referrers_skipped = 1},
        {.source = "src.example/lib/c:3",
         .target = "dst.example/ns/c:3",
         .digest = NULL,
         .status = IT_STATUS_FAILED,
         .bytes = 17,
         .error = "manifest unknown: \"c:3\"\nsecond line"},
        {.source = "src.example/lib/d:4",
         .target = "dst.example/ns/d:4",
         .digest = DG_A,
         .status = IT_STATUS_PLANNED,
         .bytes = 999,
         .error = NULL},
        {.source = NULL,
         .target = NULL,
         .digest = NULL,
         .status = IT_STATUS_FAILED,
         .bytes = 0,
         .error = "no reference"},
    };
    it_engine_stats s = {0};
    s.images_total = 5;
    s.images_copied = 1;
    s.images_skipped = 1;
    s.images_failed = 2;
    s.images_planned = 1;
    s.blobs_copied = 11;
    s.blobs_mounted = 12;
    s.blobs_skipped = 13;
    s.bytes_copied = (int64_t)5 * 1024 * 1024 * 1024 + 17;
    s.http_requests = 4242;
    s.referrers_copied = 3;
    s.referrers_skipped = 4;

    /* A local time zone far from UTC: the timestamps must still be UTC. */
    char *old_tz = getenv("TZ") ? strdup(getenv("TZ")) : NULL;
    setenv("TZ", "XYZ-8", 1); /* POSIX form: no tzdata needed */
    tzset();
    write_ok(path, "generic", T_START, T_END, &s, r, 5, false);
    if (old_tz)
        setenv("TZ", old_tz, 1);
    else
        unsetenv("TZ");
    tzset();
    free(old_tz);

    json_t *root = load(path);
    static const char *const top[] = {"version",  "mode",        "started",
                                      "finished", "interrupted", "summary",
                                      "images"};
    assert_keys(root, top, 7);
    assert_int_key(root, "version", 1);
    assert_str(root, "mode", "generic");
    assert_str(root, "started", "2023-11-14T22:13:20Z");
    assert_str(root, "finished", "2023-11-14T23:15:23Z");
    assert_true(json_is_false(json_object_get(root, "interrupted")));

    json_t *sum = json_object_get(root, "summary");
    static const char *const skeys[] = {
        "images_total",  "images_copied",    "images_skipped",
        "images_failed", "images_planned",   "images_pending",
        "blobs_copied",  "blobs_mounted",    "blobs_skipped",
        "bytes_copied",  "referrers_copied", "referrers_skipped"};
    assert_keys(sum, skeys, 12);
    assert_int_key(sum, "referrers_copied", 3); /* issue 13 */
    assert_int_key(sum, "referrers_skipped", 4);
    assert_int_key(sum, "images_total", 5);
    assert_int_key(sum, "images_copied", 1);
    assert_int_key(sum, "images_skipped", 1);
    assert_int_key(sum, "images_failed", 2);
    assert_int_key(sum, "images_planned", 1);
    assert_int_key(sum, "images_pending", 0);
    assert_int_key(sum, "blobs_copied", 11);
    assert_int_key(sum, "blobs_mounted", 12);
    assert_int_key(sum, "blobs_skipped", 13);
    assert_int_key(sum, "bytes_copied",
                   (json_int_t)5 * 1024 * 1024 * 1024 + 17);

    json_t *images = json_object_get(root, "images");
    assert_true(json_is_array(images));
    assert_int_equal(json_array_size(images), 5);
    static const char *const ikeys[] = {"source", "target", "digest",
                                        "status", "bytes",  "error"};
    static const char *const status[] = {"copied", "skipped", "failed",
                                         "planned", "failed"};
    for (size_t i = 0; i < 5; i++) {
        json_t *im = json_array_get(images, i);
        if (i == 1) { /* issue 13: an image with referrers */
            json_t *rf = json_object_get(im, "referrers");
            assert_int_key(rf, "copied", 2);
            assert_int_key(rf, "skipped", 1);
            json_object_del(im, "referrers");
        }
        assert_keys(im, ikeys, 6);
        /* In the order given; a NULL reference is written as "". */
        assert_str(im, "source", r[i].source ? r[i].source : "");
        assert_str(im, "target", r[i].target ? r[i].target : "");
        assert_str(im, "status", status[i]);
        assert_int_key(im, "bytes", r[i].bytes);
        /* NULL digest / error: JSON null, not "" and not missing. */
        if (r[i].digest)
            assert_str(im, "digest", r[i].digest);
        else
            assert_true(json_is_null(json_object_get(im, "digest")));
        if (i == 2) /* control bytes escaped, like on a terminal */
            assert_str(im, "error", "manifest unknown: \"c:3\"\\nsecond line");
        else if (r[i].error)
            assert_str(im, "error", r[i].error);
        else
            assert_true(json_is_null(json_object_get(im, "error")));
    }
    json_decref(root);

    /* The file is one JSON document ending with a newline. */
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, -1, SEEK_END), 0);
    assert_int_equal(fgetc(f), '\n');
    fclose(f);
}

static void test_interrupted_and_empty(void **state)
{
    const char *dir = *state;
    char path[4096];
    tu_path_in(path, sizeof(path), dir, "r.json");
    it_engine_stats s = {0};
    write_ok(path, "ccrToTcr", 0, 86399, &s, NULL, 0, true);
    json_t *root = load(path);
    assert_int_key(root, "version", 1);
    assert_str(root, "mode", "ccrToTcr");
    assert_str(root, "started", "1970-01-01T00:00:00Z");
    assert_str(root, "finished", "1970-01-01T23:59:59Z");
    assert_true(json_is_true(json_object_get(root, "interrupted")));
    json_t *images = json_object_get(root, "images");
    assert_true(json_is_array(images));
    assert_int_equal(json_array_size(images), 0);
    json_t *sum = json_object_get(root, "summary");
    assert_int_key(sum, "images_total", 0);
    assert_int_key(sum, "bytes_copied", 0);
    json_decref(root);
}

/* issue 15: the hosts and their adaptive limits, after the summary. */
static void test_hosts(void **state)
{
    const char *dir = *state;
    char path[4096];
    tu_path_in(path, sizeof(path), dir, "r.json");
    it_errbuf err = {{0}};
    it_report *r = NULL;
    assert_int_equal(it_report_open(&r, path, "generic", NULL, 0, &err), 0);
    it_host_stats h[2] = {{.host = "tcr.example.com",
                           .requests = {40, 0, 2, 1, 3},
                           .retries = 4,
                           .limit_in_flight = 2,
                           .limit_rps = 7.5,
                           .throttled = 3},
                          {.host = "evil\x1b[2J.example"}};
    it_report_hosts(r, h, 2);
    it_engine_stats s = {0};
    assert_int_equal(it_report_finish(r, 1, &s, false, &err), 0);
    json_t *root = load(path);
    json_t *hosts = json_object_get(root, "hosts");
    assert_true(json_is_array(hosts));
    assert_int_equal(json_array_size(hosts), 2);
    json_t *a = json_array_get(hosts, 0);
    static const char *const keys[] = {"host",      "requests",
                                       "retries",   "limit_in_flight",
                                       "limit_rps", "throttled"};
    assert_keys(a, keys, 6);
    assert_str(a, "host", "tcr.example.com");
    assert_int_key(a, "requests", 46);
    assert_int_key(a, "retries", 4);
    assert_int_key(a, "limit_in_flight", 2);
    assert_int_key(a, "throttled", 3);
    assert_true(json_real_value(json_object_get(a, "limit_rps")) == 7.5);
    /* a hostile name is escaped like every other string of the report */
    const char *evil =
        json_string_value(json_object_get(json_array_get(hosts, 1), "host"));
    assert_non_null(evil);
    assert_null(strchr(evil, '\x1b'));
    json_decref(root);
}

/* Atomic: nothing but the report is left in the dir, and an existing
 * report is replaced by rename (a hard link to the old file still holds the
 * old bytes), never truncated and rewritten in place where a crash would
 * leave half a report. */
static void test_atomic_replace(void **state)
{
    const char *dir = *state;
    char path[4096], old_link[4096], only[256];
    tu_path_in(path, sizeof(path), dir, "report.json");
    it_engine_stats s = {0};
    s.images_total = 1;
    it_image_result one = {.source = "a:1",
                           .target = "b:1",
                           .digest = DG_A,
                           .status = IT_STATUS_COPIED,
                           .bytes = 10,
                           .error = NULL};
    write_ok(path, "generic", T_START, T_END, &s, &one, 1, false);
    assert_int_equal(dir_entries(dir, only, sizeof(only)), 1);
    assert_string_equal(only, "report.json");

    tu_path_in(old_link, sizeof(old_link), dir, "old-report.json");
    assert_int_equal(link(path, old_link), 0);

    s.images_total = 2;
    it_image_result two[2] = {
        {.source = "a:1",
         .target = "b:1",
         .digest = DG_A,
         .status = IT_STATUS_SKIPPED,
         .bytes = 0,
         .error = NULL},
        {.source = "a:2",
         .target = "b:2",
         .digest = DG_B,
         .status = IT_STATUS_COPIED,
         .bytes = 20,
         .error = NULL},
    };
    write_ok(path, "generic", T_START, T_END, &s, two, 2, false);
    assert_int_equal(dir_entries(dir, NULL, 0), 2); /* no .tmp left */

    json_t *now = load(path);
    assert_int_key(json_object_get(now, "summary"), "images_total", 2);
    assert_int_equal(json_array_size(json_object_get(now, "images")), 2);
    json_decref(now);
    json_t *old = load(old_link);
    assert_int_key(json_object_get(old, "summary"), "images_total", 1);
    assert_int_equal(json_array_size(json_object_get(old, "images")), 1);
    json_decref(old);
}

/* A path that cannot be written fails with a message naming it, and
 * leaves nothing behind. A path through a regular file fails even for
 * root (ENOTDIR), unlike a permission-based check. */
static void test_unwritable_path(void **state)
{
    const char *dir = *state;
    char file[4096], bad[4096];
    it_engine_stats s = {0};
    it_errbuf err = {{0}};

    tu_path_in(file, sizeof(file), dir, "plainfile");
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    tu_path_in(bad, sizeof(bad), file, "report.json");
    assert_int_equal(it_report_write(bad, "generic", NULL, T_START, T_END, &s,
                                     NULL, 0, false, &err),
                     -1);
    assert_non_null(strstr(err.msg, bad));

    /* A directory that does not exist. */
    tu_path_in(bad, sizeof(bad), dir, "no/such/dir/report.json");
    memset(&err, 0, sizeof(err));
    assert_int_equal(it_report_write(bad, "generic", NULL, T_START, T_END, &s,
                                     NULL, 0, false, &err),
                     -1);
    assert_non_null(strstr(err.msg, bad));

    /* The path is an existing directory: the temp file can be written but
     * not renamed over it; the temp file is removed again. */
    tu_path_in(bad, sizeof(bad), dir, "adir");
    assert_int_equal(mkdir(bad, 0700), 0);
    memset(&err, 0, sizeof(err));
    assert_int_equal(it_report_write(bad, "generic", NULL, T_START, T_END, &s,
                                     NULL, 0, false, &err),
                     -1);
    assert_non_null(strstr(err.msg, bad));
    /* Only plainfile and adir remain (adir still empty). */
    assert_int_equal(dir_entries(dir, NULL, 0), 2);
    assert_int_equal(dir_entries(bad, NULL, 0), 0);
}

/* A --shard run's report says which part of the run it covers: a "shard"
 * object with exactly index and count; an unsharded run (no shard, or
 * count 0) has no such key. */
static void test_shard(void **state)
{
    const char *dir = *state;
    char path[4096];
    tu_path_in(path, sizeof(path), dir, "shard.json");
    it_engine_stats s = {0};
    s.images_total = 1;
    it_image_result one = {.source = "a:1",
                           .target = "b:1",
                           .digest = DG_A,
                           .status = IT_STATUS_COPIED,
                           .bytes = 10,
                           .error = NULL};

    it_shard sh = {.index = 2, .count = 5};
    write_shard(path, "generic", &sh, T_START, T_END, &s, &one, 1, false);
    json_t *root = load(path);
    static const char *const top[] = {"version",     "mode",  "started",
                                      "finished",    "shard", "summary",
                                      "interrupted", "images"};
    assert_keys(root, top, 8);
    json_t *shard = json_object_get(root, "shard");
    static const char *const skeys[] = {"index", "count"};
    assert_keys(shard, skeys, 2);
    assert_int_key(shard, "index", 2);
    assert_int_key(shard, "count", 5);
    assert_str(root, "mode", "generic");
    assert_int_equal(json_array_size(json_object_get(root, "images")), 1);
    json_decref(root);

    /* The largest shard count and the first index. */
    it_shard big = {.index = 0, .count = IT_SHARD_MAX};
    write_shard(path, "ccrToTcr", &big, T_START, T_END, &s, NULL, 0, false);
    root = load(path);
    shard = json_object_get(root, "shard");
    assert_int_key(shard, "index", 0);
    assert_int_key(shard, "count", IT_SHARD_MAX);
    json_decref(root);

    it_shard none = {0};
    write_shard(path, "generic", &none, T_START, T_END, &s, NULL, 0, false);
    root = load(path);
    assert_null(json_object_get(root, "shard"));
    assert_int_equal(json_object_size(root), 7);
    json_decref(root);
}

/* A symbolic link planted where the old code wrote its temp file
 * (REPORT.tmp) is never followed: the file it points to keeps its bytes,
 * and the report itself is a new regular file of mode 0600. */
static void test_planted_symlink(void **state)
{
    const char *dir = *state;
    char path[4096], tmp[4096], victim[4096];
    tu_path_in(path, sizeof(path), dir, "report.json");
    tu_path_in(tmp, sizeof(tmp), dir, "report.json.tmp");
    tu_path_in(victim, sizeof(victim), dir, "victim");
    FILE *f = fopen(victim, "w");
    assert_non_null(f);
    fputs("precious\n", f);
    fclose(f);
    assert_int_equal(symlink(victim, tmp), 0);

    it_engine_stats s = {0};
    it_image_result one = {.source = "a:1",
                           .target = "b:1",
                           .digest = DG_A,
                           .status = IT_STATUS_COPIED,
                           .bytes = 10,
                           .error = NULL};
    write_ok(path, "generic", T_START, T_END, &s, &one, 1, false);

    char buf[64] = {0};
    f = fopen(victim, "r");
    assert_non_null(f);
    assert_non_null(fgets(buf, sizeof(buf), f));
    fclose(f);
    assert_string_equal(buf, "precious\n");
    struct stat st;
    assert_int_equal(lstat(tmp, &st), 0);
    assert_true(S_ISLNK(st.st_mode)); /* left alone */
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);
    json_t *root = load(path);
    assert_int_equal(json_array_size(json_object_get(root, "images")), 1);
    json_decref(root);
    /* report.json, the link and its target: no temp file left */
    assert_int_equal(dir_entries(dir, NULL, 0), 3);
}

/* Names, digests and errors of remote origin: escaped and redacted. */
static void test_hostile_fields(void **state)
{
    const char *dir = *state;
    char path[4096];
    tu_path_in(path, sizeof(path), dir, "hostile.json");
    it_log_add_secret("report-secret-9");
    it_image_result r = {.source = "src/a:\x1b]0;t\x07",
                         .target = "dst/a:1",
                         .digest = "sha256:\x1b[2J",
                         .status = IT_STATUS_FAILED,
                         .bytes = 0,
                         .error =
                             "denied report-secret-9\nResult: success\x1b[2J"};
    it_engine_stats s = {0};
    write_ok(path, "generic", T_START, T_END, &s, &r, 1, false);
    json_t *root = load(path);
    json_t *im = json_array_get(json_object_get(root, "images"), 0);
    assert_str(im, "source", "src/a:\\x1b]0;t\\x07");
    assert_str(im, "digest", "sha256:\\x1b[2J");
    assert_str(im, "error", "denied ***\\nResult: success\\x1b[2J");
    json_decref(root);
}

/* issue 14, platforms: both digests, the platforms copied (a JSON
 * array), whether the index was filtered, and the summary's counts; none
 * of it without a filter. */
static void test_platforms(void **state)
{
    const char *dir = *state;
    char path[4096];
    tu_path_in(path, sizeof(path), dir, "platforms.json");
    it_image_result r[2] = {
        {.source = "s/a:1",
         .target = "d/a:1",
         .digest = DG_A,
         .status = IT_STATUS_COPIED,
         .target_digest = DG_B,
         .platforms = "linux/amd64,linux/arm64/v8",
         .platform_state = IT_PLATFORM_FILTERED},
        {.source = "s/a:2",
         .target = "d/a:2",
         .digest = DG_A,
         .status = IT_STATUS_COPIED},
    };
    it_engine_stats s = {0};
    s.images_platform_filtered = 1;
    s.images_platform_skipped = 2;
    write_ok(path, "generic", T_START, T_END, &s, r, 2, false);
    json_t *root = load(path);
    json_t *im = json_array_get(json_object_get(root, "images"), 0);
    assert_str(im, "digest", DG_A);
    assert_str(im, "target_digest", DG_B);
    json_t *pl = json_object_get(im, "platforms");
    assert_int_equal(json_array_size(pl), 2);
    assert_string_equal(json_string_value(json_array_get(pl, 0)),
                        "linux/amd64");
    assert_string_equal(json_string_value(json_array_get(pl, 1)),
                        "linux/arm64/v8");
    assert_true(json_is_true(json_object_get(im, "filtered")));
    im = json_array_get(json_object_get(root, "images"), 1);
    assert_null(json_object_get(im, "target_digest"));
    assert_null(json_object_get(im, "platforms"));
    json_t *sum = json_object_get(root, "summary");
    assert_int_key(sum, "images_platform_filtered", 1);
    assert_int_key(sum, "images_platform_skipped", 2);
    json_decref(root);
}

/* Tag filters (issue 14): one "repositories" entry per filtered
 * repository (names escaped), and "tags_filtered" in the summary only
 * when a filter left something out. */
static void test_filtered_repositories(void **state)
{
    const char *dir = *state;
    char path[4096];
    tu_path_in(path, sizeof(path), dir, "r.json");
    it_report *r = NULL;
    it_errbuf err = {{0}};
    assert_int_equal(it_report_open(&r, path, "generic", NULL, 0, &err), 0);
    it_image_result res = {
        .source = "s/a:v2", .target = "d/a:v2", .status = IT_STATUS_COPIED};
    it_report_add(r, &res);
    it_filter_counts c = {.regex = 3, .exclude = 2, .semver = 1, .latest = 7};
    it_report_add_filtered(r, "s/a", "d/a", &c, "semver");
    it_filter_counts c2 = {.exclude = 1};
    it_report_add_filtered(r, "s/b\x1b[2J", "d/b", &c2, NULL);
    it_engine_stats s = {.images_total = 1, .images_copied = 1};
    s.filtered =
        (it_filter_counts){.regex = 3, .exclude = 3, .semver = 1, .latest = 7};
    assert_int_equal(it_report_finish(r, 1, &s, false, &err), 0);
    json_t *root = load(path);
    json_t *repos = json_object_get(root, "repositories");
    assert_int_equal(json_array_size(repos), 2);
    json_t *a = json_array_get(repos, 0);
    assert_str(a, "source", "s/a");
    assert_str(a, "order", "semver");
    json_t *fa = json_object_get(a, "filtered");
    assert_int_key(fa, "regex", 3);
    assert_int_key(fa, "exclude", 2);
    assert_int_key(fa, "semver", 1);
    assert_int_key(fa, "latest", 7);
    json_t *b = json_array_get(repos, 1);
    assert_true(json_is_null(json_object_get(b, "order")));
    assert_null(
        strchr(json_string_value(json_object_get(b, "source")), '\x1b'));
    json_t *tf =
        json_object_get(json_object_get(root, "summary"), "tags_filtered");
    assert_int_key(tf, "exclude", 3);
    assert_int_key(tf, "latest", 7);
    json_decref(root);

    /* no filter: no "repositories", no "tags_filtered" */
    it_engine_stats s0 = {0};
    write_ok(path, "generic", 0, 1, &s0, NULL, 0, false);
    root = load(path);
    assert_null(json_object_get(root, "repositories"));
    assert_null(
        json_object_get(json_object_get(root, "summary"), "tags_filtered"));
    json_decref(root);
}

static void test_status_names(void **state)
{
    (void)state;
    assert_string_equal(it_image_status_name(IT_STATUS_COPIED), "copied");
    assert_string_equal(it_image_status_name(IT_STATUS_SKIPPED), "skipped");
    assert_string_equal(it_image_status_name(IT_STATUS_FAILED), "failed");
    assert_string_equal(it_image_status_name(IT_STATUS_PLANNED), "planned");
}

/* --verify: each entry's status is its verdict, with both digests and,
 * for incomplete, what is absent; the summary counts each verdict. */
static void test_verify_entries(void **state)
{
    const char *dir = *state;
    char path[4096];
    tu_path_in(path, sizeof(path), dir, "verify.json");
    it_engine_stats s = {.verify = 2,
                         .verify_identical = 240,
                         .verify_missing = 2,
                         .verify_different = 1,
                         .verify_incomplete = 1};
    const char *const absent[] = {"blob " DG_B, "manifest " DG_A};
    it_image_result r[3] = {
        {.source = "a:1",
         .target = "b:1",
         .digest = DG_A,
         .status = IT_STATUS_SKIPPED,
         .error = NULL, /* identical is no error (the engine gives none) */
         .verify = IT_VERIFY_IDENTICAL,
         .target_digest = DG_A},
        {.source = "a:2",
         .target = "b:2",
         .digest = DG_A,
         .status = IT_STATUS_FAILED,
         .error = "different",
         .verify = IT_VERIFY_DIFFERENT,
         .target_digest = DG_B},
        {.source = "a:3",
         .target = "b:3",
         .digest = DG_A,
         .status = IT_STATUS_FAILED,
         .error = "incomplete",
         .verify = IT_VERIFY_INCOMPLETE,
         .target_digest = DG_A,
         .missing = absent,
         .nmissing = 2},
    };
    write_ok(path, "generic", T_START, T_END, &s, r, 3, false);
    json_t *root = load(path);
    json_t *im = json_object_get(root, "images");
    assert_int_equal(json_array_size(im), 3);
    assert_str(json_array_get(im, 0), "status", "identical");
    assert_true(json_is_null(json_object_get(json_array_get(im, 0), "error")));
    assert_null(json_object_get(json_array_get(im, 0), "missing"));
    assert_str(json_array_get(im, 1), "status", "different");
    assert_str(json_array_get(im, 1), "source_digest", DG_A);
    assert_str(json_array_get(im, 1), "target_digest", DG_B);
    json_t *inc = json_array_get(im, 2);
    assert_str(inc, "status", "incomplete");
    json_t *miss = json_object_get(inc, "missing");
    assert_int_equal(json_array_size(miss), 2);
    assert_string_equal(json_string_value(json_array_get(miss, 0)),
                        "blob " DG_B);
    json_t *v = json_object_get(json_object_get(root, "summary"), "verify");
    assert_str(v, "depth", "deep");
    assert_int_key(v, "identical", 240);
    assert_int_key(v, "missing", 2);
    assert_int_key(v, "different", 1);
    assert_int_key(v, "incomplete", 1);
    assert_int_key(v, "errors", 0);
    json_decref(root);
    /* a copy run's summary has no verify object */
    it_engine_stats plain = {0};
    write_ok(path, "generic", T_START, T_END, &plain, NULL, 0, false);
    root = load(path);
    assert_null(json_object_get(json_object_get(root, "summary"), "verify"));
    json_decref(root);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, make_tmpdir, tu_tmpdir_drop)
    const struct CMUnitTest tests[] = {
        T(test_schema),
        T(test_interrupted_and_empty),
        T(test_atomic_replace),
        T(test_unwritable_path),
        T(test_shard),
        T(test_planted_symlink),
        T(test_hostile_fields),
        cmocka_unit_test(test_status_names),
        T(test_filtered_repositories),
        T(test_platforms), /* issue 14 */
        T(test_verify_entries),
        T(test_hosts),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
