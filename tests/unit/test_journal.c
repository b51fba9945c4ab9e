/*
 * test_journal.c - the SQLite journal (STATE_DIR/journal.db) in a temporary
 * state dir: every appended record is replayed exactly on reopen and found
 * by the lookups; forget drops an image record; the JSON-lines journal of
 * earlier versions is imported once (a torn last line dropped and counted,
 * corrupt or over-long complete lines skipped with a warning, without
 * being read whole) and renamed; nested state dirs are created; a state
 * dir others can write, a journal.db (or -wal, or journal.jsonl) that is a
 * symbolic link, and a damaged journal.db are refused; concurrent appends
 * from threads and from processes sharing the state dir all land; a kill -9
 * leaves a sound database holding a prefix of what was written; the tables
 * hold exactly the documented columns (no room for a secret).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <jansson.h>
#include <pthread.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <signal.h>
#include <sqlite3.h>

#include "journal.h"
#include "log.h"
#include "test_util.h"

/* ------------------------------------------------------------ helpers */

static int make_tmpdir(void **state)
{
    return tu_tmpdir_new(state, "journal");
}

static off_t file_size(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

static void append_raw(const char *path, const char *bytes)
{
    FILE *f = fopen(path, "a");
    assert_non_null(f);
    assert_int_equal(fputs(bytes, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static void write_raw(const char *path, const char *bytes)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(bytes, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

/* Reads the whole file into a NUL-terminated malloc'd buffer. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len - 1 == 0) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

/* A visitor that records everything it is handed, in order. */
typedef struct rec {
    int is_blob;
    char *a, *b, *c; /* registry/repo/digest or source/digest/target */
    int64_t size;
} rec;

typedef struct recorder {
    rec *v;
    size_t n, cap;
} recorder;

static void rec_push(recorder *r, int is_blob, const char *a, const char *b,
                     const char *c, int64_t size)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 16;
        r->v = realloc(r->v, r->cap * sizeof(*r->v));
        assert_non_null(r->v);
    }
    rec *x = &r->v[r->n++];
    x->is_blob = is_blob;
    x->a = strdup(a);
    x->b = strdup(b);
    x->c = strdup(c);
    assert_true(x->a && x->b && x->c);
    x->size = size;
}

static void on_blob(void *payload, const char *registry, const char *repo,
                    const char *digest, int64_t size)
{
    rec_push(payload, 1, registry, repo, digest, size);
}

static void on_image(void *payload, const char *source, const char *digest,
                     const char *target)
{
    rec_push(payload, 0, source, digest, target, 0);
}

static void recorder_free(recorder *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->v[i].a);
        free(r->v[i].b);
        free(r->v[i].c);
    }
    free(r->v);
    memset(r, 0, sizeof(*r));
}

static it_journal *open_ok(const char *dir, recorder *r)
{
    it_journal_visitor v = {on_blob, on_image, r};
    it_errbuf err = {{0}};
    it_journal *j = NULL;
    int rc = it_journal_open(&j, dir, r ? &v : NULL, &err);
    if (rc != 0)
        print_error("it_journal_open: %s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_non_null(j);
    return j;
}

static void assert_blob(const rec *x, const char *reg, const char *repo,
                        const char *digest, int64_t size)
{
    assert_true(x->is_blob);
    assert_string_equal(x->a, reg);
    assert_string_equal(x->b, repo);
    assert_string_equal(x->c, digest);
    assert_int_equal(x->size, size);
}

static void assert_image(const rec *x, const char *src, const char *digest,
                         const char *dst)
{
    assert_false(x->is_blob);
    assert_string_equal(x->a, src);
    assert_string_equal(x->b, digest);
    assert_string_equal(x->c, dst);
}

static void assert_stats(const it_journal *j, long records, long torn)
{
    long r = -1, t = -1;
    it_journal_stats(j, &r, &t);
    assert_int_equal(r, records);
    assert_int_equal(t, torn);
}

#define D1                                                                     \
    "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2                                                                     \
    "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define D3                                                                     \
    "sha256:3333333333333333333333333333333333333333333333333333333333333333"

/* Three blobs and two images, with the awkward cases: a port, a nested
 * repo, characters JSON must escape (quote, backslash, newline, non-ASCII),
 * size 0 and a size above 2^32. */
static void append_sample(it_journal *j)
{
    it_journal_blob(j, "127.0.0.1:5001", "lib/nginx", D1, 1234);
    it_journal_image(j, "src.example/lib/nginx:1.25", D2,
                     "dst.example/ns/nginx:1.25");
    it_journal_blob(j, "dst.example", "a/b/c", D2, 0);
    it_journal_blob(j, "dst.example", "we\"ird\\re\npo-\xc3\xa9", D3,
                    (int64_t)5 * 1024 * 1024 * 1024);
    it_journal_image(j, "src.example/x@" D1, D1, "dst.example/x:latest");
}

/* Index of the blob (or image) record in r, or -1. */
static long find_blob(const recorder *r, const char *reg, const char *repo,
                      const char *digest, int64_t size)
{
    for (size_t i = 0; i < r->n; i++) {
        const rec *x = &r->v[i];
        if (x->is_blob && strcmp(x->a, reg) == 0 && strcmp(x->b, repo) == 0 &&
            strcmp(x->c, digest) == 0 && x->size == size)
            return (long)i;
    }
    return -1;
}

static long find_image(const recorder *r, const char *src, const char *digest,
                       const char *dst)
{
    for (size_t i = 0; i < r->n; i++) {
        const rec *x = &r->v[i];
        if (!x->is_blob && strcmp(x->a, src) == 0 &&
            strcmp(x->b, digest) == 0 && strcmp(x->c, dst) == 0)
            return (long)i;
    }
    return -1;
}

/* The sample is in r (in any order), each record once. */
static void check_sample(const recorder *r)
{
    assert_true(find_blob(r, "127.0.0.1:5001", "lib/nginx", D1, 1234) >= 0);
    assert_true(find_image(r, "src.example/lib/nginx:1.25", D2,
                           "dst.example/ns/nginx:1.25") >= 0);
    assert_true(find_blob(r, "dst.example", "a/b/c", D2, 0) >= 0);
    assert_true(find_blob(r, "dst.example", "we\"ird\\re\npo-\xc3\xa9", D3,
                          (int64_t)5 * 1024 * 1024 * 1024) >= 0);
    assert_true(
        find_image(r, "src.example/x@" D1, D1, "dst.example/x:latest") >= 0);
}

/* Blobs are handed over before images. */
static void check_kinds_ordered(const recorder *r)
{
    for (size_t i = 1; i < r->n; i++)
        assert_false(!r->v[i - 1].is_blob && r->v[i].is_blob);
}

/* The sample as journal.jsonl lines (what earlier versions wrote). */
#define JL_BLOB(reg, repo, dg, size)                                           \
    "{\"t\":\"blob\",\"registry\":\"" reg "\",\"repo\":\"" repo                \
    "\",\"digest\":\"" dg "\",\"size\":" #size "}\n"
#define JL_IMAGE(src, dg, dst)                                                 \
    "{\"t\":\"image\",\"source\":\"" src "\",\"digest\":\"" dg                 \
    "\",\"target\":\"" dst "\"}\n"

static int path_exists(const char *dir, const char *name)
{
    char path[4096];
    struct stat st;
    tu_path_in(path, sizeof(path), dir, name);
    return lstat(path, &st) == 0;
}

/* Opening must fail with a message holding each of the needles. */
static void open_refused(const char *dir, const char *needle1,
                         const char *needle2)
{
    it_journal *j = (it_journal *)(uintptr_t)1;
    it_errbuf err = {{0}};
    assert_int_equal(it_journal_open(&j, dir, NULL, &err), -1);
    assert_null(j);
    if (!strstr(err.msg, needle1) || (needle2 && !strstr(err.msg, needle2)))
        print_error("message: %s\n", err.msg);
    assert_non_null(strstr(err.msg, needle1));
    if (needle2)
        assert_non_null(strstr(err.msg, needle2));
}

/* -------------------------------------------------------------- tests */

static void test_replay_roundtrip(void **state)
{
    const char *dir = *state;
    recorder r = {0};
    it_journal *j = open_ok(dir, &r);
    assert_int_equal(r.n, 0); /* a new journal replays nothing */
    assert_stats(j, 0, 0);
    append_sample(j);
    it_journal_flush(j);
    assert_int_equal(it_journal_close(j), 0);

    char path[4096];
    tu_path_in(path, sizeof(path), dir, "journal.db");
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 0077, 0);          /* private to the user */
    assert_false(path_exists(dir, "journal.jsonl")); /* no JSONL any more */

    j = open_ok(dir, &r);
    assert_int_equal(r.n, 5);
    check_sample(&r);
    check_kinds_ordered(&r);
    assert_stats(j, 5, 0);
    assert_int_equal(it_journal_imported(j), 0);
    assert_int_equal(it_journal_close(j), 0);

    /* Without a visitor the records are still counted. */
    j = open_ok(dir, NULL);
    assert_stats(j, 5, 0);
    assert_int_equal(it_journal_close(j), 0);

    /* A visitor with only one callback gets only its kind. */
    recorder blobs = {0};
    it_journal_visitor v = {on_blob, NULL, &blobs};
    it_errbuf err = {{0}};
    assert_int_equal(it_journal_open(&j, dir, &v, &err), 0);
    assert_int_equal(blobs.n, 3);
    assert_stats(j, 5, 0);
    assert_int_equal(it_journal_close(j), 0);

    /* Appends after a reopen join the old records; the same key again
     * replaces its record (a new size, a new digest), never doubles it. */
    recorder r2 = {0};
    j = open_ok(dir, &r2);
    it_journal_image(j, "s/after:1", D3, "t/after:1");
    it_journal_blob(j, "127.0.0.1:5001", "lib/nginx", D1, 1234);
    it_journal_image(j, "s/after:1", D1, "t/after:1");
    assert_int_equal(it_journal_close(j), 0);
    recorder r3 = {0};
    j = open_ok(dir, &r3);
    assert_int_equal(r3.n, 6);
    check_sample(&r3);
    assert_true(find_image(&r3, "s/after:1", D1, "t/after:1") >= 0);
    assert_stats(j, 6, 0);
    assert_int_equal(it_journal_close(j), 0);

    recorder_free(&r);
    recorder_free(&r2);
    recorder_free(&r3);
    recorder_free(&blobs);
}

/* The lookups the engine uses instead of seeding memory: they see records
 * of earlier runs and this run's own, committed or not. */
static void test_lookups(void **state)
{
    const char *dir = *state;
    char dg[80];
    char *repo = NULL;
    it_journal *j = open_ok(dir, NULL);
    append_sample(j);
    assert_int_equal(it_journal_close(j), 0);

    j = open_ok(dir, NULL);
    /* images: by source and target */
    assert_int_equal(it_journal_image_digest(j, "src.example/lib/nginx:1.25",
                                             "dst.example/ns/nginx:1.25", dg,
                                             sizeof(dg)),
                     1);
    assert_string_equal(dg, D2);
    assert_int_equal(it_journal_image_digest(j, "src.example/lib/nginx:1.25",
                                             "dst.example/other:1.25", dg,
                                             sizeof(dg)),
                     0);
    assert_int_equal(it_journal_image_digest(j, "dst.example/ns/nginx:1.25",
                                             "src.example/lib/nginx:1.25", dg,
                                             sizeof(dg)),
                     0);
    /* A digest that does not fit the caller's buffer is not handed back
     * cut. */
    char small[16];
    assert_int_equal(it_journal_image_digest(j, "src.example/lib/nginx:1.25",
                                             "dst.example/ns/nginx:1.25", small,
                                             sizeof(small)),
                     0);

    /* blobs: by registry, repository and digest */
    assert_int_equal(it_journal_blob_in(j, "127.0.0.1:5001", "lib/nginx", D1),
                     1);
    assert_int_equal(it_journal_blob_in(j, "127.0.0.1:5001", "lib/nginx", D2),
                     0);
    assert_int_equal(it_journal_blob_in(j, "127.0.0.1:5002", "lib/nginx", D1),
                     0);
    assert_int_equal(
        it_journal_blob_in(j, "dst.example", "we\"ird\\re\npo-\xc3\xa9", D3),
        1);

    /* Appended now, not committed yet: found all the same. */
    it_journal_blob(j, "dst.example", "team/one", D2, 5);
    it_journal_blob(j, "dst.example", "team/two", D2, 5);
    it_journal_image(j, "s:1", D3, "t:1");
    assert_int_equal(it_journal_blob_in(j, "dst.example", "team/one", D2), 1);
    assert_int_equal(it_journal_image_digest(j, "s:1", "t:1", dg, sizeof(dg)),
                     1);
    assert_string_equal(dg, D3);

    /* blob_any: a repository holding it, preferring one other than
     * `except`; `except` itself when it is the only one. */
    assert_int_equal(it_journal_blob_any(j, "dst.example", D2, NULL, &repo), 1);
    assert_true(strcmp(repo, "a/b/c") == 0 || strcmp(repo, "team/one") == 0 ||
                strcmp(repo, "team/two") == 0);
    free(repo);
    const char *holders[] = {"a/b/c", "team/one", "team/two"};
    for (size_t k = 0; k < 3; k++) {
        assert_int_equal(
            it_journal_blob_any(j, "dst.example", D2, holders[k], &repo), 1);
        assert_non_null(repo);
        assert_string_not_equal(repo, holders[k]);
        free(repo);
    }
    assert_int_equal(it_journal_blob_any(j, "dst.example", D3,
                                         "we\"ird\\re\npo-\xc3\xa9", &repo),
                     1);
    assert_string_equal(repo, "we\"ird\\re\npo-\xc3\xa9");
    free(repo);
    repo = (char *)"untouched";
    assert_int_equal(it_journal_blob_any(j, "dst.example", D1, NULL, &repo), 0);
    assert_null(repo);
    assert_int_equal(it_journal_blob_any(j, "other.example", D2, "x", &repo),
                     0);
    assert_null(repo);
    assert_int_equal(it_journal_close(j), 0);

    /* No journal: nothing is known. */
    assert_int_equal(it_journal_blob_in(NULL, "r", "x", D1), 0);
    assert_int_equal(it_journal_image_digest(NULL, "a", "b", dg, sizeof(dg)),
                     0);
    assert_int_equal(it_journal_blob_any(NULL, "r", D1, NULL, &repo), 0);
    assert_null(repo);
}

/* forget drops one image record (and only it), for good. */
static void test_forget(void **state)
{
    const char *dir = *state;
    char dg[80];
    it_journal *j = open_ok(dir, NULL);
    append_sample(j);
    it_journal_image(j, "src.example/lib/nginx:1.25", D2, "mirror/nginx:1.25");
    it_journal_image_forget(j, "src.example/lib/nginx:1.25",
                            "dst.example/ns/nginx:1.25");
    assert_int_equal(it_journal_image_digest(j, "src.example/lib/nginx:1.25",
                                             "dst.example/ns/nginx:1.25", dg,
                                             sizeof(dg)),
                     0);
    /* Forgetting what is not there is no error. */
    it_journal_image_forget(j, "nothing:1", "nowhere:1");
    it_journal_image_forget(NULL, "nothing:1", "nowhere:1");
    assert_int_equal(it_journal_close(j), 0);

    recorder r = {0};
    j = open_ok(dir, &r);
    assert_stats(j, 5, 0);
    assert_int_equal(find_image(&r, "src.example/lib/nginx:1.25", D2,
                                "dst.example/ns/nginx:1.25"),
                     -1);
    assert_true(find_image(&r, "src.example/lib/nginx:1.25", D2,
                           "mirror/nginx:1.25") >= 0);
    assert_true(
        find_image(&r, "src.example/x@" D1, D1, "dst.example/x:latest") >= 0);
    assert_int_equal(it_journal_image_digest(j, "src.example/lib/nginx:1.25",
                                             "mirror/nginx:1.25", dg,
                                             sizeof(dg)),
                     1);
    assert_int_equal(it_journal_close(j), 0);
    recorder_free(&r);
}

/* The JSON-lines journal of earlier versions, with a corrupt line in the
 * middle and a torn last line (a crash), is imported once: the valid
 * records land in journal.db, the bad lines are counted, the file is
 * renamed journal.jsonl.imported (kept, unchanged) and not read again. */
static void test_import_jsonl(void **state)
{
    const char *dir = *state;
    char path[4096], logp[4096];
    tu_path_in(path, sizeof(path), dir, "journal.jsonl");
    tu_path_in(logp, sizeof(logp), dir, "warn.log");
    static const char text[] =
        JL_BLOB("127.0.0.1:5001", "lib/nginx", D1, 1234) JL_IMAGE(
            "src.example/lib/nginx:1.25", D2,
            "dst.example/ns/nginx:1.25") "this is not json\n"
                                         "{\"t\":\"blob\",\"registry\":\"r\","
                                         "\"repo\n" JL_BLOB(
                                             "dst.example", "a/b/c", D2,
                                             0) JL_BLOB("dst.example",
                                                        "we\\\"ird\\\\re\\npo-"
                                                        "\xc3\xa9",
                                                        D3, 5368709120)
                                             JL_IMAGE("src.example/x@" D1, D1,
                                                      "dst.example/x:latest")
        /* the same image key again: the later line wins */
        JL_IMAGE("s:1", D1, "t:1") JL_IMAGE(
            "s:1", D2,
            "t:1") "{\"t\":\"image\",\"source\":\"a:1\",\"digest\":\"" D1
                   "\",\"target\":\"b:1\"}"; /* torn: no newline */
    write_raw(path, text);
    assert_int_equal(it_log_open(logp, IT_LOG_INFO), 0);
    recorder r = {0};
    it_journal *j = open_ok(dir, &r);
    it_log_close();
    assert_int_equal(r.n, 6);
    check_sample(&r);
    assert_true(find_image(&r, "s:1", D2, "t:1") >= 0);
    assert_stats(j, 6, 1);
    assert_int_equal(it_journal_skipped(j), 2);
    assert_int_equal(it_journal_imported(j), 7); /* lines, s:1 twice */
    assert_int_equal(it_journal_close(j), 0);
    char *log = slurp(logp);
    assert_non_null(strstr(log, "journal line 3: not a valid record"));
    assert_non_null(strstr(log, "journal line 4: not a valid record"));
    free(log);

    assert_false(path_exists(dir, "journal.jsonl"));
    char imported[4096];
    tu_path_in(imported, sizeof(imported), dir, "journal.jsonl.imported");
    char *kept = slurp(imported);
    assert_string_equal(kept, text);
    free(kept);

    /* Imported once: the next open reads only the database. */
    recorder r2 = {0};
    j = open_ok(dir, &r2);
    assert_int_equal(r2.n, 6);
    assert_stats(j, 6, 0);
    assert_int_equal(it_journal_skipped(j), 0);
    assert_int_equal(it_journal_imported(j), 0);
    assert_int_equal(it_journal_close(j), 0);

    /* A journal.jsonl that shows up again (an older version run in
     * between) is imported into the same database, its records joining
     * the others. */
    write_raw(path, JL_IMAGE("late:1", D3, "later:1"));
    recorder r3 = {0};
    j = open_ok(dir, &r3);
    assert_int_equal(r3.n, 7);
    assert_true(find_image(&r3, "late:1", D3, "later:1") >= 0);
    assert_int_equal(it_journal_imported(j), 1);
    assert_int_equal(it_journal_close(j), 0);
    assert_false(path_exists(dir, "journal.jsonl"));
    recorder_free(&r);
    recorder_free(&r2);
    recorder_free(&r3);
}

/* A journal.jsonl holding only a torn line: nothing imported, counted. */
static void test_import_only_torn_line(void **state)
{
    const char *dir = *state;
    char path[4096];
    tu_path_in(path, sizeof(path), dir, "journal.jsonl");
    write_raw(path, "{\"t\":\"bl");
    recorder r = {0};
    it_journal *j = open_ok(dir, &r);
    assert_int_equal(r.n, 0);
    assert_stats(j, 0, 1);
    it_journal_image(j, "a:1", D1, "b:1");
    assert_int_equal(it_journal_close(j), 0);
    assert_true(path_exists(dir, "journal.jsonl.imported"));
    j = open_ok(dir, &r);
    assert_int_equal(r.n, 1);
    assert_image(&r.v[0], "a:1", D1, "b:1");
    assert_stats(j, 1, 0);
    assert_int_equal(it_journal_close(j), 0);
    recorder_free(&r);
}

static void test_nested_state_dir(void **state)
{
    const char *dir = *state;
    char nested[4096], path[4096];
    tu_path_in(nested, sizeof(nested), dir, "a/b/c/state");
    recorder r = {0};
    it_journal *j = open_ok(nested, &r);
    it_journal_blob(j, "r.example", "repo", D1, 7);
    assert_int_equal(it_journal_close(j), 0);
    tu_path_in(path, sizeof(path), nested, "journal.db");
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));

    /* The same dir spelled with a trailing slash is the same journal. */
    char slash[4096];
    tu_path_in(slash, sizeof(slash), nested, "");
    j = open_ok(slash, &r);
    assert_int_equal(r.n, 1);
    assert_blob(&r.v[0], "r.example", "repo", D1, 7);
    assert_int_equal(it_journal_close(j), 0);
    recorder_free(&r);
}

/* A state dir that cannot be created (a path through a regular file; this
 * fails for root too) is an error naming the dir; nothing is returned. */
static void test_state_dir_error(void **state)
{
    const char *dir = *state;
    char file[4096], bad[4096];
    tu_path_in(file, sizeof(file), dir, "plainfile");
    write_raw(file, "x");
    tu_path_in(bad, sizeof(bad), file, "state");
    open_refused(bad, bad, NULL);
    /* The state dir itself is a regular file. */
    open_refused(file, file, NULL);
}

/* A journal file planted as a symbolic link (to a file of the user's, say)
 * is refused: never followed, the file it points to keeps its bytes. That
 * holds for journal.db, its -wal and -shm files, and a journal.jsonl
 * waiting to be imported. A directory in their place is refused too. */
static void test_symlinked_journal_refused(void **state)
{
    const char *dir = *state;
    static const char *names[] = {"journal.db", "journal.db-wal",
                                  "journal.db-shm", "journal.jsonl"};
    char path[4096], victim[4096];
    tu_path_in(victim, sizeof(victim), dir, "victim.txt");
    write_raw(victim, "precious\n{\"t\":\"bl"); /* would be "torn" */
    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
        tu_path_in(path, sizeof(path), dir, names[k]);
        assert_int_equal(symlink(victim, path), 0);
        open_refused(dir, "symbolic link", path);
        char *text = slurp(victim);
        assert_string_equal(text, "precious\n{\"t\":\"bl");
        free(text);
        assert_int_equal(unlink(path), 0);

        assert_int_equal(mkdir(path, 0700), 0);
        open_refused(dir, "not a regular file", path);
        assert_int_equal(rmdir(path), 0);
    }
    /* And once they are gone, the dir is usable. */
    it_journal *j = open_ok(dir, NULL);
    assert_int_equal(it_journal_close(j), 0);
}

/* A journal.db that is not a database, or one with a damaged page, is
 * refused with a message naming the file and the fix; it is left as it
 * was (the user may want to look at it). */
static void test_damaged_db_refused(void **state)
{
    const char *dir = *state;
    char path[4096];
    tu_path_in(path, sizeof(path), dir, "journal.db");
    static const char junk[] = "this is not a database, it is a text file\n";
    char big[8192];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = junk[i % (sizeof(junk) - 1)];
    big[sizeof(big) - 1] = '\0';
    write_raw(path, big);
    open_refused(dir, "is damaged", path);
    open_refused(dir, "move it away", "rebuilds it");
    char *text = slurp(path);
    assert_string_equal(text, big);
    free(text);
    assert_int_equal(unlink(path), 0);

    /* A sound database, then a page in its middle overwritten. */
    it_journal *j = open_ok(dir, NULL);
    char dg[80], repo[64];
    for (int i = 0; i < 3000; i++) {
        snprintf(dg, sizeof(dg), "sha256:%064d", i);
        snprintf(repo, sizeof(repo), "team/repo-%d", i % 50);
        it_journal_blob(j, "r.example", repo, dg, i);
    }
    assert_int_equal(it_journal_close(j), 0);
    assert_false(path_exists(dir, "journal.db-wal")); /* checkpointed */
    off_t size = file_size(path);
    assert_true(size > 16 * 4096);
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    assert_int_equal(fseeko(f, (size / 4096 / 2) * 4096, SEEK_SET), 0);
    for (int i = 0; i < 4096; i++)
        fputc(0xA5, f);
    assert_int_equal(fclose(f), 0);
    open_refused(dir, "is damaged", path);
    assert_int_equal(file_size(path), size);
}

/* A state dir other users can write is refused with a message naming it
 * (they could plant links or forge records); the user's own 0700 (or
 * 0750) dir is fine. */
static void test_state_dir_writable_by_others(void **state)
{
    const char *dir = *state;
    char sd[4096];
    tu_path_in(sd, sizeof(sd), dir, "shared");
    assert_int_equal(mkdir(sd, 0700), 0);
    assert_int_equal(chmod(sd, 0777), 0);
    open_refused(sd, sd, "writable by other users");
    assert_false(path_exists(sd, "journal.db")); /* nothing created there */

    assert_int_equal(chmod(sd, 01733), 0); /* sticky /tmp style: still no */
    open_refused(sd, sd, NULL);

    assert_int_equal(chmod(sd, 0750), 0);
    it_journal *j = open_ok(sd, NULL);
    assert_int_equal(it_journal_close(j), 0);

    it_errbuf err = {{0}};
    assert_int_equal(chmod(sd, 0700), 0);
    int dfd = it_state_dir_open(sd, &err);
    assert_true(dfd >= 0);
    close(dfd);
}

/* A journal.jsonl line far longer than 64 KiB (200 MB here, a sparse hole
 * of NULs) is skipped with a warning naming its line, without being read
 * into memory whole (measured in a child: its peak RSS grows by far less
 * than the line); the records around it are imported. A corrupt line in
 * the middle is warned about by number too. */
static void test_long_line_skipped_bounded(void **state)
{
    const char *dir = *state;
    char path[4096], logp[4096];
    tu_path_in(path, sizeof(path), dir, "journal.jsonl");
    tu_path_in(logp, sizeof(logp), dir, "warn.log");
    write_raw(path, JL_BLOB("r", "a", D1, 1));
    off_t hole = (off_t)200 * 1024 * 1024;
    assert_int_equal(truncate(path, file_size(path) + hole), 0);
    append_raw(path, "\nnot a record\n");
    append_raw(path, JL_IMAGE("s:1", D2, "d:1"));

    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct rusage ru0, ru1;
        getrusage(RUSAGE_SELF, &ru0);
        if (it_log_open(logp, IT_LOG_INFO) != 0)
            _exit(10);
        recorder r = {0};
        it_journal_visitor v = {on_blob, on_image, &r};
        it_journal *j = NULL;
        it_errbuf err = {{0}};
        if (it_journal_open(&j, dir, &v, &err) != 0)
            _exit(11);
        getrusage(RUSAGE_SELF, &ru1);
        long records = 0, torn = 0;
        it_journal_stats(j, &records, &torn);
        if (records != 2 || torn != 0 || it_journal_skipped(j) != 2 ||
            r.n != 2 || !r.v[0].is_blob || r.v[1].is_blob)
            _exit(12);
        it_journal_close(j);
        it_log_close();
        /* ru_maxrss is in KiB: 32 MiB of growth at most. */
        _exit(ru1.ru_maxrss - ru0.ru_maxrss < 32 * 1024 ? 0 : 13);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    char *text = slurp(logp);
    assert_non_null(strstr(text, "journal line 2: longer than 65536 bytes"));
    assert_non_null(strstr(text, "journal line 3: not a valid record"));
    free(text);
}

#define THREADS    8
#define PER_THREAD 250

struct appender {
    it_journal *j;
    int id;
    int misses; /* a record of its own not found right after appending */
};

static void *appender_main(void *arg)
{
    struct appender *a = arg;
    char repo[64], src[64], dg[80], got[80];
    for (int i = 0; i < PER_THREAD; i++) {
        snprintf(dg, sizeof(dg), "sha256:%02d%062d", a->id, i);
        if (i % 2 == 0) {
            snprintf(repo, sizeof(repo), "thread-%d/repo", a->id);
            it_journal_blob(a->j, "r.example", repo, dg, i);
            if (it_journal_blob_in(a->j, "r.example", repo, dg) != 1)
                a->misses++;
        } else {
            snprintf(src, sizeof(src), "src/t%d:%d", a->id, i);
            it_journal_image(a->j, src, dg, "dst/x:1");
            if (it_journal_image_digest(a->j, src, "dst/x:1", got,
                                        sizeof(got)) != 1 ||
                strcmp(got, dg) != 0)
                a->misses++;
        }
    }
    return NULL;
}

struct seen {
    int count[THREADS][PER_THREAD];
    int bad;
};

/* Digests are "sha256:" + 2-digit thread id + 62-digit index. Counts the
 * record and returns 0 with the thread and index, or -1 (counted bad). */
static int mark(struct seen *s, const char *digest, long *t, long *i)
{
    char tbuf[3];
    char *end;
    if (strlen(digest) != 7 + 64 || strncmp(digest, "sha256:", 7) != 0)
        goto bad;
    tbuf[0] = digest[7];
    tbuf[1] = digest[8];
    tbuf[2] = '\0';
    *t = strtol(tbuf, &end, 10);
    if (*end != '\0' || *t < 0 || *t >= THREADS)
        goto bad;
    *i = strtol(digest + 9, &end, 10);
    if (*end != '\0' || *i < 0 || *i >= PER_THREAD)
        goto bad;
    s->count[*t][*i]++;
    return 0;
bad:
    s->bad++;
    return -1;
}

static void seen_blob(void *payload, const char *registry, const char *repo,
                      const char *digest, int64_t size)
{
    struct seen *s = payload;
    long t, i;
    char want[64];
    if (mark(s, digest, &t, &i) != 0)
        return;
    snprintf(want, sizeof(want), "thread-%ld/repo", t);
    if (strcmp(registry, "r.example") != 0 || strcmp(repo, want) != 0 ||
        size != i || i % 2 != 0)
        s->bad++;
}

static void seen_image(void *payload, const char *source, const char *digest,
                       const char *target)
{
    struct seen *s = payload;
    long t, i;
    char want[64];
    if (mark(s, digest, &t, &i) != 0)
        return;
    snprintf(want, sizeof(want), "src/t%ld:%ld", t, i);
    if (strcmp(source, want) != 0 || strcmp(target, "dst/x:1") != 0 ||
        i % 2 != 1)
        s->bad++;
}

/* Runs THREADS appenders on j (each checks its own records by lookup). */
static void run_appenders(it_journal *j, int first_id, int n)
{
    struct appender a[THREADS];
    pthread_t tid[THREADS];
    for (int i = 0; i < n; i++) {
        a[i].j = j;
        a[i].id = first_id + i;
        a[i].misses = 0;
        assert_int_equal(pthread_create(&tid[i], NULL, appender_main, &a[i]),
                         0);
    }
    for (int i = 0; i < n; i++) {
        assert_int_equal(pthread_join(tid[i], NULL), 0);
        assert_int_equal(a[i].misses, 0);
    }
}

/* Every record appended by THREADS threads is there exactly once. */
static void check_all_appended(const char *dir)
{
    it_journal *j = NULL;
    struct seen *s = calloc(1, sizeof(*s));
    assert_non_null(s);
    it_journal_visitor v = {seen_blob, seen_image, s};
    it_errbuf err = {{0}};
    assert_int_equal(it_journal_open(&j, dir, &v, &err), 0);
    assert_stats(j, THREADS * PER_THREAD, 0);
    assert_int_equal(it_journal_close(j), 0);
    assert_int_equal(s->bad, 0);
    for (int t = 0; t < THREADS; t++)
        for (int i = 0; i < PER_THREAD; i++)
            assert_int_equal(s->count[t][i], 1);
    free(s);
}

static void test_concurrent_appends(void **state)
{
    const char *dir = *state;
    it_journal *j = open_ok(dir, NULL);
    run_appenders(j, 0, THREADS);
    assert_int_equal(it_journal_close(j), 0);
    check_all_appended(dir);
}

/* Shards may share one state dir at the same time: two processes, each
 * with its own handle and four appending threads, write at once (WAL and
 * the busy timeout take turns); every record of both lands, and each sees
 * what the other committed. */
static void test_processes_share_state_dir(void **state)
{
    const char *dir = *state;
    /* Created first, so both children find the database. */
    it_journal *j = open_ok(dir, NULL);
    assert_int_equal(it_journal_close(j), 0);
    pid_t pid[2];
    fflush(NULL);
    for (int p = 0; p < 2; p++) {
        pid[p] = fork();
        assert_true(pid[p] >= 0);
        if (pid[p] == 0) {
            it_journal *c = NULL;
            it_errbuf err = {{0}};
            if (it_journal_open(&c, dir, NULL, &err) != 0)
                _exit(10);
            struct appender a[THREADS / 2];
            pthread_t tid[THREADS / 2];
            for (int i = 0; i < THREADS / 2; i++) {
                a[i] = (struct appender){c, p * (THREADS / 2) + i, 0};
                if (pthread_create(&tid[i], NULL, appender_main, &a[i]) != 0)
                    _exit(11);
            }
            int misses = 0;
            for (int i = 0; i < THREADS / 2; i++) {
                pthread_join(tid[i], NULL);
                misses += a[i].misses;
            }
            _exit(misses ? 12 : it_journal_close(c) == 0 ? 0 : 13);
        }
    }
    for (int p = 0; p < 2; p++) {
        int status = 0;
        assert_int_equal(waitpid(pid[p], &status, 0), pid[p]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    check_all_appended(dir);

    /* Two handles open at once in one process (as two processes): each
     * sees what the other committed. */
    it_journal *a = open_ok(dir, NULL);
    it_journal *b = open_ok(dir, NULL);
    it_journal_blob(a, "a.example", "run-a", D1, 1);
    it_journal_flush(a);
    assert_int_equal(it_journal_blob_in(b, "a.example", "run-a", D1), 1);
    it_journal_image(b, "b/src:1", D2, "b/dst:1");
    assert_int_equal(it_journal_close(b), 0);
    char dg[80];
    assert_int_equal(
        it_journal_image_digest(a, "b/src:1", "b/dst:1", dg, sizeof(dg)), 1);
    assert_int_equal(it_journal_close(a), 0);
}

/* kill -9 while appending: the child appends in a loop and, after each
 * flush, tells the parent (through a pipe) how many records are
 * committed. Killed at some point, it leaves a database that opens (and
 * passes quick_check) and holds a prefix of what was written: records 0..n
 * with no hole, n at least what was reported committed. */
static void test_kill_9_while_appending(void **state)
{
    const char *dir = *state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        it_journal *c = NULL;
        it_errbuf err = {{0}};
        char dg[80];
        if (it_journal_open(&c, dir, NULL, &err) != 0)
            _exit(10);
        for (long i = 0; i < 10000000; i++) {
            snprintf(dg, sizeof(dg), "sha256:%064ld", i);
            it_journal_blob(c, "r.example", "team/app", dg, i);
            if (i % 97 == 96) {
                it_journal_flush(c);
                long done = i + 1;
                if (write(fds[1], &done, sizeof(done)) != sizeof(done))
                    _exit(11);
            }
        }
        _exit(12);
    }
    close(fds[1]);
    long committed = 0, got;
    /* Killed once it reported a few thousand records committed (and is
     * busy appending more). */
    while (committed < 3000 &&
           read(fds[0], &got, sizeof(got)) == (ssize_t)sizeof(got))
        committed = got;
    assert_int_equal(kill(pid, SIGKILL), 0);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    close(fds[0]);
    assert_true(committed >= 3000);
    assert_true(path_exists(dir, "journal.db-wal")); /* really cut short */

    it_journal *j = open_ok(dir, NULL); /* opening runs quick_check */
    long records = -1;
    it_journal_stats(j, &records, NULL);
    assert_true(records >= committed);
    char dg[80];
    for (long i = 0; i < records; i++) {
        snprintf(dg, sizeof(dg), "sha256:%064ld", i);
        if (it_journal_blob_in(j, "r.example", "team/app", dg) != 1)
            fail_msg("record %ld of %ld missing: not a prefix", i, records);
    }
    assert_int_equal(it_journal_close(j), 0);

    sqlite3 *db = NULL;
    char path[4096];
    tu_path_in(path, sizeof(path), dir, "journal.db");
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(
        sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* Creation times (issue 14, --latest): recorded by digest, "none" kept
 * as such, found again after a reopen; another digest is unknown. */
static void test_created_times(void **state)
{
    const char *dir = *state;
    it_journal *j = open_ok(dir, NULL);
    long long t = 0;
    assert_int_equal(it_journal_created(j, "r.example", "app", "sha256:a", &t),
                     0);
    assert_true(t == LLONG_MIN);
    it_journal_created_record(j, "r.example", "app", "sha256:a", 1700000000);
    it_journal_created_record(j, "r.example", "app", "sha256:b", LLONG_MIN);
    it_journal_created_record(j, "r.example", "app", "sha256:a", 1700000001);
    assert_int_equal(it_journal_close(j), 0);
    j = open_ok(dir, NULL);
    assert_int_equal(it_journal_created(j, "r.example", "app", "sha256:a", &t),
                     1);
    assert_true(t == 1700000001);
    assert_int_equal(it_journal_created(j, "r.example", "app", "sha256:b", &t),
                     1);
    assert_true(t == LLONG_MIN);
    assert_int_equal(
        it_journal_created(j, "r.example", "other", "sha256:a", &t), 0);
    /* not records: the count is of blobs and images only */
    long records = -1;
    it_journal_stats(j, &records, NULL);
    assert_int_equal(records, 0);
    assert_int_equal(it_journal_close(j), 0);
}

/* The journal never holds a secret: the tables have exactly the
 * documented columns, nothing else (no room for a credential); meta holds
 * only the record count. */
static void test_exact_columns(void **state)
{
    const char *dir = *state;
    it_journal *j = open_ok(dir, NULL);
    append_sample(j);
    assert_int_equal(it_journal_close(j), 0);

    char path[4096];
    tu_path_in(path, sizeof(path), dir, "journal.db");
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    sqlite3_stmt *st = NULL;
    char got[1024] = "";
    assert_int_equal(
        sqlite3_prepare_v2(db,
                           "SELECT m.name, p.name FROM sqlite_schema m,"
                           " pragma_table_info(m.name) p WHERE m.type ="
                           " 'table' ORDER BY m.name, p.cid",
                           -1, &st, NULL),
        SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        size_t n = strlen(got);
        snprintf(got + n, sizeof(got) - n, "%s.%s ", sqlite3_column_text(st, 0),
                 sqlite3_column_text(st, 1));
    }
    sqlite3_finalize(st);
    assert_string_equal(got, "blobs.registry blobs.digest blobs.repo "
                             "blobs.size created.registry created.repo "
                             "created.digest created.created images.source "
                             "images.target images.digest meta.key "
                             "meta.value "
                             /* issue 14, platforms */
                             "platform_images.source platform_images.target "
                             "platform_images.digest platform_images.filter "
                             "platform_images.target_digest "
                             "platform_images.platforms "
                             "repairs.source repairs.target "
                             /* resume across restarts */
                             "uploads.registry uploads.repo uploads.digest "
                             "uploads.url uploads.held ");
    /* meta holds the record count, nothing else. */
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT key, value FROM meta", -1, &st, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "records");
    assert_int_equal(sqlite3_column_int64(st, 1), 5);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* A record that cannot be written (here: a NULL field) is remembered and
 * reported by close; the other records are kept. */
static void test_failed_append_reported_by_close(void **state)
{
    const char *dir = *state;
    it_journal *j = open_ok(dir, NULL);
    it_journal_blob(j, "r.example", "ok", D1, 1);
    it_journal_blob(j, NULL, "bad", D2, 2);
    it_journal_image(j, "s:1", NULL, "t:1");
    assert_int_equal(it_journal_close(j), -1);
    recorder r = {0};
    j = open_ok(dir, &r);
    assert_int_equal(r.n, 1);
    assert_blob(&r.v[0], "r.example", "ok", D1, 1);
    assert_stats(j, 1, 0);
    assert_int_equal(it_journal_close(j), 0);
    recorder_free(&r);
}

/* No journal configured: the engine passes NULL and every call is a
 * no-op. */
/* Opening a journal that exists writes nothing: the schema is not
 * created again, so the WAL stays empty (no sync at open, no checkpoint at
 * close; a rerun pays neither), and the records are still there. */
static void test_reopen_writes_nothing(void **state)
{
    const char *dir = *state;
    char wal[1024], dg[80];
    tu_path_in(wal, sizeof(wal), dir, "journal.db-wal");
    it_journal *j = open_ok(dir, NULL);
    append_sample(j);
    assert_int_equal(it_journal_close(j), 0);

    j = open_ok(dir, NULL);
    struct stat st;
    assert_true(stat(wal, &st) != 0 || st.st_size == 0);
    assert_int_equal(it_journal_image_digest(j, "src.example/lib/nginx:1.25",
                                             "dst.example/ns/nginx:1.25", dg,
                                             sizeof(dg)),
                     1);
    assert_true(stat(wal, &st) != 0 || st.st_size == 0);
    assert_int_equal(it_journal_close(j), 0);
}

static void test_null_journal(void **state)
{
    (void)state;
    it_journal_blob(NULL, "r", "x", D1, 1);
    it_journal_image(NULL, "a", D1, "b");
    it_journal_flush(NULL);
    assert_int_equal(it_journal_close(NULL), 0);
    long records = -1, torn = -1;
    it_journal_stats(NULL, &records, &torn);
    assert_int_equal(records, 0);
    assert_int_equal(torn, 0);
    assert_int_equal(it_journal_skipped(NULL), 0);
    assert_int_equal(it_journal_imported(NULL), 0);
}

/* Resume across restarts: an open upload session is recorded, updated,
 * read back after a reopen, counted as no record, and forgotten. */
static void test_upload_sessions(void **state)
{
    const char *dir = *state;
    char *url = NULL;
    int64_t held = -1;
    it_journal *j = open_ok(dir, NULL);
    assert_int_equal(
        it_journal_upload_get(j, "dst.example", "ns/app", D1, &url, &held), 0);
    assert_null(url);
    it_journal_upload_put(
        j, "dst.example", "ns/app", D1,
        "https://dst.example/v2/ns/app/blobs/uploads/u1?_state=a", 16);
    it_journal_upload_put(
        j, "dst.example", "ns/app", D1,
        "https://dst.example/v2/ns/app/blobs/uploads/u1?_state=b", 32);
    it_journal_upload_put(j, "dst.example", "ns/other", D1,
                          "https://dst.example/v2/ns/other/blobs/uploads/u2",
                          8);
    assert_int_equal(it_journal_close(j), 0);

    j = open_ok(dir, NULL);
    assert_stats(j, 0, 0);
    assert_int_equal(
        it_journal_upload_get(j, "dst.example", "ns/app", D1, &url, &held), 1);
    assert_string_equal(
        url, "https://dst.example/v2/ns/app/blobs/uploads/u1?_state=b");
    assert_int_equal(held, 32);
    free(url);
    it_journal_upload_forget(j, "dst.example", "ns/app", D1);
    assert_int_equal(
        it_journal_upload_get(j, "dst.example", "ns/app", D1, &url, &held), 0);
    assert_int_equal(
        it_journal_upload_get(j, "dst.example", "ns/other", D1, &url, &held),
        1);
    assert_int_equal(held, 8);
    free(url);
    assert_int_equal(
        it_journal_upload_get(NULL, "dst.example", "ns/app", D1, &url, &held),
        0);
    assert_int_equal(it_journal_close(j), 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, make_tmpdir, tu_tmpdir_drop)
    const struct CMUnitTest tests[] = {
        T(test_replay_roundtrip),
        T(test_lookups),
        T(test_forget),
        T(test_import_jsonl),
        T(test_import_only_torn_line),
        T(test_nested_state_dir),
        T(test_state_dir_error),
        T(test_symlinked_journal_refused),
        T(test_damaged_db_refused),
        T(test_state_dir_writable_by_others),
        T(test_long_line_skipped_bounded),
        T(test_concurrent_appends),
        T(test_processes_share_state_dir),
        T(test_kill_9_while_appending),
        T(test_created_times),
        T(test_exact_columns),
        T(test_failed_append_reported_by_close),
        T(test_upload_sessions),
        T(test_reopen_writes_nothing),
        cmocka_unit_test(test_null_journal),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
