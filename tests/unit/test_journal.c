/*
 * test_journal.c - the JSON-lines journal in a temporary state dir: every
 * appended record is replayed exactly on reopen; a torn last line is
 * dropped, counted and cut off so later appends stay readable; a corrupt
 * complete line in the middle is skipped and counted; nested state dirs are
 * created; concurrent appends never interleave; a line longer than 64 KiB
 * is skipped without being read whole; a state dir others can write and a
 * journal that is a symbolic link are refused; records carry exactly the
 * documented keys (no room for a secret).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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

static void check_sample(const recorder *r, size_t first)
{
    assert_true(r->n >= first + 5);
    assert_blob(&r->v[first], "127.0.0.1:5001", "lib/nginx", D1, 1234);
    assert_image(&r->v[first + 1], "src.example/lib/nginx:1.25", D2,
                 "dst.example/ns/nginx:1.25");
    assert_blob(&r->v[first + 2], "dst.example", "a/b/c", D2, 0);
    assert_blob(&r->v[first + 3], "dst.example", "we\"ird\\re\npo-\xc3\xa9", D3,
                (int64_t)5 * 1024 * 1024 * 1024);
    assert_image(&r->v[first + 4], "src.example/x@" D1, D1,
                 "dst.example/x:latest");
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
    tu_path_in(path, sizeof(path), dir, "journal.jsonl");
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0077, 0); /* private to the user */

    j = open_ok(dir, &r);
    assert_int_equal(r.n, 5);
    check_sample(&r, 0);
    assert_stats(j, 5, 0);
    assert_int_equal(it_journal_close(j), 0);

    /* Without a visitor the records are still counted, and the file is
     * left as it was. */
    off_t before = file_size(path);
    j = open_ok(dir, NULL);
    assert_stats(j, 5, 0);
    assert_int_equal(it_journal_close(j), 0);
    assert_int_equal(file_size(path), before);

    /* A visitor with only one callback gets only its kind. */
    recorder blobs = {0};
    it_journal_visitor v = {on_blob, NULL, &blobs};
    it_errbuf err = {{0}};
    assert_int_equal(it_journal_open(&j, dir, &v, &err), 0);
    assert_int_equal(blobs.n, 3);
    assert_stats(j, 5, 0);
    assert_int_equal(it_journal_close(j), 0);

    /* Appends after a reopen go after the old records. */
    recorder r2 = {0};
    j = open_ok(dir, &r2);
    it_journal_image(j, "s/after:1", D3, "t/after:1");
    assert_int_equal(it_journal_close(j), 0);
    recorder r3 = {0};
    j = open_ok(dir, &r3);
    assert_int_equal(r3.n, 6);
    check_sample(&r3, 0);
    assert_image(&r3.v[5], "s/after:1", D3, "t/after:1");
    assert_stats(j, 6, 0);
    assert_int_equal(it_journal_close(j), 0);

    recorder_free(&r);
    recorder_free(&r2);
    recorder_free(&r3);
    recorder_free(&blobs);
}

/* A crash can leave the last line without its newline. Whatever it holds
 * (half a record, garbage, or even a whole record whose newline never made
 * it), it is dropped, counted as torn, and cut off, so that the next
 * append starts on a line of its own. */
static void test_torn_last_line(void **state)
{
    const char *dir = *state;
    static const char *tails[] = {
        "{\"t\":\"blob\",\"registry\":\"dst.exa",
        "\x01\x02garbage",
        "{\"t\":\"image\",\"source\":\"a:1\",\"digest\":\"" D1
        "\",\"target\":\"b:1\"}",
        "{",
    };
    char path[4096];
    tu_path_in(path, sizeof(path), dir, "journal.jsonl");
    for (size_t k = 0; k < sizeof(tails) / sizeof(tails[0]); k++) {
        unlink(path);
        it_journal *j = open_ok(dir, NULL);
        append_sample(j);
        assert_int_equal(it_journal_close(j), 0);
        off_t good = file_size(path);

        append_raw(path, tails[k]);
        assert_true(file_size(path) > good);

        recorder r = {0};
        j = open_ok(dir, &r);
        assert_int_equal(r.n, 5);
        check_sample(&r, 0);
        assert_stats(j, 5, 1);
        /* Cut back to the last complete record at open. */
        assert_int_equal(file_size(path), good);
        it_journal_blob(j, "after.example", "repo", D3, 42);
        assert_int_equal(it_journal_close(j), 0);

        recorder r2 = {0};
        j = open_ok(dir, &r2);
        assert_int_equal(r2.n, 6);
        check_sample(&r2, 0);
        assert_blob(&r2.v[5], "after.example", "repo", D3, 42);
        assert_stats(j, 6, 0);
        assert_int_equal(it_journal_close(j), 0);
        recorder_free(&r);
        recorder_free(&r2);
    }
}

/* A file holding only a torn line: nothing replayed, file emptied. */
static void test_only_torn_line(void **state)
{
    const char *dir = *state;
    char path[4096];
    tu_path_in(path, sizeof(path), dir, "journal.jsonl");
    write_raw(path, "{\"t\":\"bl");
    recorder r = {0};
    it_journal *j = open_ok(dir, &r);
    assert_int_equal(r.n, 0);
    assert_stats(j, 0, 1);
    assert_int_equal(file_size(path), 0);
    it_journal_image(j, "a:1", D1, "b:1");
    assert_int_equal(it_journal_close(j), 0);
    j = open_ok(dir, &r);
    assert_int_equal(r.n, 1);
    assert_image(&r.v[0], "a:1", D1, "b:1");
    assert_stats(j, 1, 0);
    assert_int_equal(it_journal_close(j), 0);
    recorder_free(&r);
}

/* A complete line in the middle that is not a JSON object (disk garbage,
 * a hand edit) is skipped and counted; the records around it replay; the
 * file is not cut there (records after it are kept). */
static void test_corrupt_middle_line(void **state)
{
    const char *dir = *state;
    char path[4096];
    tu_path_in(path, sizeof(path), dir, "journal.jsonl");
    it_journal *j = open_ok(dir, NULL);
    it_journal_blob(j, "r.example", "one", D1, 1);
    assert_int_equal(it_journal_close(j), 0);
    append_raw(path, "this is not json\n");
    j = open_ok(dir, NULL);
    assert_stats(j, 1, 0); /* not a torn last line */
    assert_int_equal(it_journal_skipped(j), 1);
    it_journal_blob(j, "r.example", "two", D2, 2);
    assert_int_equal(it_journal_close(j), 0);

    recorder r = {0};
    j = open_ok(dir, &r);
    assert_int_equal(r.n, 2);
    assert_blob(&r.v[0], "r.example", "one", D1, 1);
    assert_blob(&r.v[1], "r.example", "two", D2, 2);
    assert_stats(j, 2, 0);
    assert_int_equal(it_journal_skipped(j), 1);
    assert_int_equal(it_journal_close(j), 0);
    recorder_free(&r);

    /* Several kinds of bad complete lines among good ones. */
    write_raw(path, "{\"t\":\"blob\",\"registry\":\"r\",\"repo\":\"a\","
                    "\"digest\":\"" D1 "\",\"size\":10}\n"
                    "not json either\n"
                    "{\"t\":\"blob\",\"registry\":\"r\",\"repo\n"
                    "{\"t\":\"image\",\"source\":\"s:1\",\"digest\":\"" D2
                    "\",\"target\":\"d:1\"}\n");
    j = open_ok(dir, &r);
    assert_int_equal(r.n, 2);
    assert_blob(&r.v[0], "r", "a", D1, 10);
    assert_image(&r.v[1], "s:1", D2, "d:1");
    assert_stats(j, 2, 0);
    assert_int_equal(it_journal_skipped(j), 2);
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
    tu_path_in(path, sizeof(path), nested, "journal.jsonl");
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
    it_journal *j = (it_journal *)(uintptr_t)1;
    it_errbuf err = {{0}};
    assert_int_equal(it_journal_open(&j, bad, NULL, &err), -1);
    assert_null(j);
    assert_non_null(strstr(err.msg, bad));

    /* The state dir itself is a regular file. */
    j = (it_journal *)(uintptr_t)1;
    memset(&err, 0, sizeof(err));
    assert_int_equal(it_journal_open(&j, file, NULL, &err), -1);
    assert_null(j);
    assert_non_null(strstr(err.msg, file));
}

/* A journal planted as a symbolic link (to a file of the user's, say) is
 * refused: never followed, the file it points to keeps its bytes. */
static void test_symlinked_journal_refused(void **state)
{
    const char *dir = *state;
    char path[4096], victim[4096];
    tu_path_in(path, sizeof(path), dir, "journal.jsonl");
    tu_path_in(victim, sizeof(victim), dir, "victim.txt");
    write_raw(victim, "precious\n{\"t\":\"bl"); /* would be "torn" */
    assert_int_equal(symlink(victim, path), 0);
    it_journal *j = (it_journal *)(uintptr_t)1;
    it_errbuf err = {{0}};
    assert_int_equal(it_journal_open(&j, dir, NULL, &err), -1);
    assert_null(j);
    assert_non_null(strstr(err.msg, "symbolic link"));
    assert_non_null(strstr(err.msg, path));
    char *text = slurp(victim);
    assert_string_equal(text, "precious\n{\"t\":\"bl");
    free(text);
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
    it_journal *j = NULL;
    it_errbuf err = {{0}};
    assert_int_equal(it_journal_open(&j, sd, NULL, &err), -1);
    assert_null(j);
    assert_non_null(strstr(err.msg, sd));
    assert_non_null(strstr(err.msg, "writable by other users"));
    char jp[4096];
    tu_path_in(jp, sizeof(jp), sd, "journal.jsonl");
    assert_int_equal(access(jp, F_OK), -1); /* nothing created there */

    assert_int_equal(chmod(sd, 01733), 0); /* sticky /tmp style: still no */
    memset(&err, 0, sizeof(err));
    assert_int_equal(it_journal_open(&j, sd, NULL, &err), -1);

    assert_int_equal(chmod(sd, 0750), 0);
    j = open_ok(sd, NULL);
    assert_int_equal(it_journal_close(j), 0);

    int dfd = -1;
    memset(&err, 0, sizeof(err));
    assert_int_equal(chmod(sd, 0700), 0);
    dfd = it_state_dir_open(sd, &err);
    assert_true(dfd >= 0);
    close(dfd);
}

/* A line far longer than 64 KiB (200 MB here, a sparse hole of NULs) is
 * skipped with a warning naming its line, without being read into memory
 * whole (measured in a child: its peak RSS grows by far less than the
 * line); the records around it replay and the file is not cut. A corrupt
 * line in the middle is warned about by number too. */
static void test_long_line_skipped_bounded(void **state)
{
    const char *dir = *state;
    char path[4096], logp[4096];
    tu_path_in(path, sizeof(path), dir, "journal.jsonl");
    tu_path_in(logp, sizeof(logp), dir, "warn.log");
    const char *rec1 = "{\"t\":\"blob\",\"registry\":\"r\",\"repo\":\"a\","
                       "\"digest\":\"" D1 "\",\"size\":1}\n";
    const char *rec4 = "{\"t\":\"image\",\"source\":\"s:1\",\"digest\":\"" D2
                       "\",\"target\":\"d:1\"}\n";
    write_raw(path, rec1);
    off_t hole = (off_t)200 * 1024 * 1024;
    assert_int_equal(truncate(path, file_size(path) + hole), 0);
    append_raw(path, "\nnot a record\n");
    append_raw(path, rec4);
    off_t size = file_size(path);

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
    assert_int_equal(file_size(path), size); /* nothing cut */
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
};

static void *appender_main(void *arg)
{
    struct appender *a = arg;
    char repo[64], src[64], dg[80];
    for (int i = 0; i < PER_THREAD; i++) {
        snprintf(dg, sizeof(dg), "sha256:%02d%062d", a->id, i);
        if (i % 2 == 0) {
            snprintf(repo, sizeof(repo), "thread-%d/repo", a->id);
            it_journal_blob(a->j, "r.example", repo, dg, i);
        } else {
            snprintf(src, sizeof(src), "src/t%d:%d", a->id, i);
            it_journal_image(a->j, src, dg, "dst/x:1");
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

static void test_concurrent_appends(void **state)
{
    const char *dir = *state;
    it_journal *j = open_ok(dir, NULL);
    struct appender a[THREADS];
    pthread_t tid[THREADS];
    for (int i = 0; i < THREADS; i++) {
        a[i].j = j;
        a[i].id = i;
        assert_int_equal(pthread_create(&tid[i], NULL, appender_main, &a[i]),
                         0);
    }
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(tid[i], NULL), 0);
    assert_int_equal(it_journal_close(j), 0);

    /* Every line is a whole JSON object: no interleaved writes. */
    char path[4096];
    tu_path_in(path, sizeof(path), dir, "journal.jsonl");
    char *text = slurp(path);
    size_t lines = 0;
    for (char *p = text; *p;) {
        char *nl = strchr(p, '\n');
        assert_non_null(nl); /* the file ends with a newline */
        *nl = '\0';
        json_error_t jerr;
        json_t *o = json_loads(p, 0, &jerr);
        if (!json_is_object(o))
            print_error("line %zu: %s\n", lines + 1, p);
        assert_true(json_is_object(o));
        json_decref(o);
        lines++;
        p = nl + 1;
    }
    free(text);
    assert_int_equal(lines, THREADS * PER_THREAD);

    /* And each record is there exactly once. */
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

/* The journal never holds a secret: each record has exactly the documented
 * keys, nothing else, and every value is a string (size: an integer). */
static void test_exact_keys(void **state)
{
    const char *dir = *state;
    it_journal *j = open_ok(dir, NULL);
    append_sample(j);
    assert_int_equal(it_journal_close(j), 0);

    static const char *blob_keys[] = {"t", "registry", "repo", "digest",
                                      "size"};
    static const char *image_keys[] = {"t", "source", "digest", "target"};
    char path[4096];
    tu_path_in(path, sizeof(path), dir, "journal.jsonl");
    char *text = slurp(path);
    int blobs = 0, images = 0;
    for (char *p = text; *p;) {
        char *nl = strchr(p, '\n');
        assert_non_null(nl);
        *nl = '\0';
        json_error_t jerr;
        json_t *o = json_loads(p, 0, &jerr);
        assert_true(json_is_object(o));
        const char *t = json_string_value(json_object_get(o, "t"));
        assert_non_null(t);
        const char **keys;
        size_t nkeys;
        if (strcmp(t, "blob") == 0) {
            keys = blob_keys;
            nkeys = 5;
            blobs++;
            assert_true(json_is_integer(json_object_get(o, "size")));
        } else {
            assert_string_equal(t, "image");
            keys = image_keys;
            nkeys = 4;
            images++;
        }
        assert_int_equal(json_object_size(o), nkeys);
        for (size_t k = 0; k < nkeys; k++) {
            json_t *val = json_object_get(o, keys[k]);
            assert_non_null(val);
            if (strcmp(keys[k], "size") != 0)
                assert_true(json_is_string(val));
        }
        json_decref(o);
        p = nl + 1;
    }
    free(text);
    assert_int_equal(blobs, 3);
    assert_int_equal(images, 2);
}

/* A record that cannot be written (here: a NULL field, which cannot be
 * encoded) is remembered and reported by close; the file stays valid. */
static void test_failed_append_reported_by_close(void **state)
{
    const char *dir = *state;
    it_journal *j = open_ok(dir, NULL);
    it_journal_blob(j, "r.example", "ok", D1, 1);
    it_journal_blob(j, NULL, "bad", D2, 2);
    assert_int_equal(it_journal_close(j), -1);
    recorder r = {0};
    j = open_ok(dir, &r);
    assert_int_equal(r.n, 1);
    assert_blob(&r.v[0], "r.example", "ok", D1, 1);
    assert_stats(j, 1, 0);
    assert_int_equal(it_journal_close(j), 0);
    recorder_free(&r);
}

/* Two runs must not share a state dir at the same time: opening drops a
 * torn last line, which could be the other run's record being written.
 * The second opener is refused with a message that says what to do; once
 * the first has closed, the journal opens with every record. (Two handles
 * in one process are two open file descriptions, as two processes are.) */
static void test_state_dir_in_use(void **state)
{
    const char *dir = *state;
    it_journal *a = open_ok(dir, NULL);
    it_journal_blob(a, "a.example", "run-a", D1, 1);

    it_journal *b = NULL;
    it_errbuf err = {{0}};
    assert_int_equal(it_journal_open(&b, dir, NULL, &err), -1);
    assert_null(b);
    assert_non_null(strstr(err.msg, "is in use by another image-transfer"));
    assert_non_null(strstr(err.msg, "--state-dir"));
    assert_non_null(strstr(err.msg, dir));

    it_journal_image(a, "a/src:1", D1, "a/dst:1");
    assert_int_equal(it_journal_close(a), 0);

    recorder r = {0};
    it_journal *j = open_ok(dir, &r);
    long records = -1, torn = -1;
    it_journal_stats(j, &records, &torn);
    assert_int_equal(records, 2);
    assert_int_equal(torn, 0);
    assert_int_equal(r.n, 2);
    recorder_free(&r);
    assert_int_equal(it_journal_close(j), 0);
}

/* No journal configured: the engine passes NULL and every call is a
 * no-op. */
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
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, make_tmpdir, tu_tmpdir_drop)
    const struct CMUnitTest tests[] = {
        T(test_replay_roundtrip),
        T(test_torn_last_line),
        T(test_only_torn_line),
        T(test_corrupt_middle_line),
        T(test_nested_state_dir),
        T(test_state_dir_error),
        T(test_symlinked_journal_refused),
        T(test_state_dir_writable_by_others),
        T(test_long_line_skipped_bounded),
        T(test_concurrent_appends),
        T(test_exact_keys),
        T(test_failed_append_reported_by_close),
        T(test_state_dir_in_use), /* exposes a bug, see above */
        cmocka_unit_test(test_null_journal),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
