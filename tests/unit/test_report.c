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
        {"src.example/lib/a:1", "dst.example/ns/a:1", DG_A, IT_STATUS_COPIED,
         (int64_t)5 * 1024 * 1024 * 1024, NULL},
        {"src.example/lib/b:2", "dst.example/ns/b:2", DG_B, IT_STATUS_SKIPPED,
         0, "target has the same digest"},
        {"src.example/lib/c:3", "dst.example/ns/c:3", NULL, IT_STATUS_FAILED,
         17, "manifest unknown: \"c:3\"\nsecond line"},
        {"src.example/lib/d:4", "dst.example/ns/d:4", DG_A, IT_STATUS_PLANNED,
         999, NULL},
        {NULL, NULL, NULL, IT_STATUS_FAILED, 0, "no reference"},
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
        "images_total",   "images_copied",  "images_skipped", "images_failed",
        "images_planned", "images_pending", "blobs_copied",   "blobs_mounted",
        "blobs_skipped",  "bytes_copied"};
    assert_keys(sum, skeys, 10);
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
    it_image_result one = {"a:1", "b:1", DG_A, IT_STATUS_COPIED, 10, NULL};
    write_ok(path, "generic", T_START, T_END, &s, &one, 1, false);
    assert_int_equal(dir_entries(dir, only, sizeof(only)), 1);
    assert_string_equal(only, "report.json");

    tu_path_in(old_link, sizeof(old_link), dir, "old-report.json");
    assert_int_equal(link(path, old_link), 0);

    s.images_total = 2;
    it_image_result two[2] = {
        {"a:1", "b:1", DG_A, IT_STATUS_SKIPPED, 0, NULL},
        {"a:2", "b:2", DG_B, IT_STATUS_COPIED, 20, NULL},
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
    it_image_result one = {"a:1", "b:1", DG_A, IT_STATUS_COPIED, 10, NULL};

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
    it_image_result one = {"a:1", "b:1", DG_A, IT_STATUS_COPIED, 10, NULL};
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
    it_image_result r = {"src/a:\x1b]0;t\x07",
                         "dst/a:1",
                         "sha256:\x1b[2J",
                         IT_STATUS_FAILED,
                         0,
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

static void test_status_names(void **state)
{
    (void)state;
    assert_string_equal(it_image_status_name(IT_STATUS_COPIED), "copied");
    assert_string_equal(it_image_status_name(IT_STATUS_SKIPPED), "skipped");
    assert_string_equal(it_image_status_name(IT_STATUS_FAILED), "failed");
    assert_string_equal(it_image_status_name(IT_STATUS_PLANNED), "planned");
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, make_tmpdir, tu_tmpdir_drop)
    const struct CMUnitTest tests[] = {
        T(test_schema),         T(test_interrupted_and_empty),
        T(test_atomic_replace), T(test_unwritable_path),
        T(test_shard),          T(test_planted_symlink),
        T(test_hostile_fields), cmocka_unit_test(test_status_names),
        T(test_hosts),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
