/* test_log.c - redaction (tests/fixtures/log/redact.table), the file sink
 * (format, threshold, no secrets), the observer, and whole lines when
 * several threads log at once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>
#include <regex.h>
#include <stdatomic.h>
#include <unistd.h>

#include "log.h"

static char fixdir[1024];
static char tmpdir[256];

static int setup(void **state)
{
    (void)state;
    const char *f = getenv("FIXTURES");
    if (f == NULL)
        f = "tests/fixtures";
    snprintf(fixdir, sizeof fixdir, "%s/log", f);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_log.XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    it_log_add_secret("hunter2-secret");
    it_log_add_secret("p@ss:w/rd");
    it_log_add_secret("");   /* ignored */
    it_log_add_secret(NULL); /* ignored */
    it_log_add_credential("alice", "Pa$$ w/rd\"x");
    it_log_add_credential("bob", NULL); /* ignored */
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    it_log_close();
    char path[512];
    static const char *const files[] = {"sink.log", "thr.log", "lvl.log"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", tmpdir, files[i]);
        unlink(path);
    }
    rmdir(tmpdir);
    return 0;
}

/* Decodes \n \r \t \\ in place. */
static void unescape(char *s)
{
    char *o = s;
    for (char *p = s; *p != '\0'; p++) {
        if (*p == '\\' && p[1] != '\0') {
            p++;
            *o++ = *p == 'n' ? '\n' : *p == 'r' ? '\r' : *p == 't' ? '\t' : *p;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
}

static void test_redact_table(void **state)
{
    (void)state;
    char path[1200];
    snprintf(path, sizeof path, "%s/redact.table", fixdir);
    FILE *t = fopen(path, "r");
    if (t == NULL)
        fail_msg("cannot open %s", path);
    char line[1024];
    int lineno = 0, cases = 0;
    while (fgets(line, sizeof line, t) != NULL) {
        lineno++;
        if (line[0] == '#')
            continue;
        line[strcspn(line, "\n")] = '\0';
        char *tab = strchr(line, '\t');
        if (tab == NULL)
            fail_msg("redact.table:%d: no tab", lineno);
        *tab = '\0';
        char *in = line, *want = tab + 1;
        unescape(in);
        unescape(want);
        char out[1024];
        it_redact(out, sizeof out, in);
        if (strcmp(out, want) != 0)
            fail_msg("redact.table:%d: it_redact('%s') = '%s', expected '%s'",
                     lineno, in, out, want);
        cases++;
    }
    fclose(t);
    assert_true(cases >= 25);
}

static void test_redact_edges(void **state)
{
    (void)state;
    char out[8];
    it_redact(out, sizeof out, "hunter2-secret and more text");
    assert_string_equal(out, "*** and"); /* truncated, NUL-terminated */
    it_redact(out, sizeof out, NULL);
    assert_string_equal(out, "");
    it_redact(NULL, 0, "x"); /* no crash */

    /* a longer secret containing a registered one is replaced whole */
    it_log_add_secret("hunter2-secret-long");
    char big[128];
    it_redact(big, sizeof big, "x hunter2-secret-long y");
    assert_string_equal(big, "x *** y");
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, f);
    buf[got] = '\0';
    fclose(f);
    return buf;
}

typedef struct seen {
    int n;
    it_log_level lvl[8];
    char line[8][256];
} seen;

static void observer(void *payload, it_log_level lvl, const char *line)
{
    seen *s = payload;
    if (s->n < 8) {
        s->lvl[s->n] = lvl;
        snprintf(s->line[s->n], sizeof s->line[0], "%s", line);
    }
    s->n++;
}

static void test_file_sink(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/sink.log", tmpdir);
    assert_int_equal(it_log_open(path, IT_LOG_DEBUG), 0);
    seen obs = {0};
    it_log_set_observer(observer, &obs);

    log_info("starting, password=%s", "hunter2-secret");
    log_debug("> Authorization: Bearer %s", "eyJ0eXAi.tok.sig");
    log_warn("login to %s failed with %s", "registry.example.com", "p@ss:w/rd");
    log_error("two\nlines\x1b[2J in %d", 1);
    log_info("token=%s&scope=repository", "tok-value-123");
    it_log_set_observer(NULL, NULL);
    log_error("after the observer is gone");
    it_log_close();

    char *text = slurp(path);
    assert_non_null(text);
    static const char *const never[] = {"hunter2",   "p@ss", "eyJ0eXAi",
                                        "tok-value", "\x1b", "lines\n"};
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++) {
        if (strstr(text, never[i]) != NULL)
            fail_msg("log contains '%s':\n%s", never[i], text);
    }

    regex_t re;
    assert_int_equal(
        regcomp(&re,
                "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
                "\\.[0-9]{3}Z (ERROR|WARN |INFO |DEBUG) .+$",
                REG_EXTENDED | REG_NOSUB),
        0);
    int lines = 0;
    for (char *save = NULL, *l = strtok_r(text, "\n", &save); l != NULL;
         l = strtok_r(NULL, "\n", &save)) {
        if (regexec(&re, l, 0, NULL, 0) != 0)
            fail_msg("bad line '%s'", l);
        lines++;
    }
    regfree(&re);
    assert_int_equal(lines, 6);
    free(text);

    text = slurp(path);
    assert_non_null(strstr(text, " INFO  starting, password=***\n"));
    assert_non_null(strstr(text, " DEBUG > Authorization: ***\n"));
    assert_non_null(
        strstr(text, " WARN  login to registry.example.com failed with ***\n"));
    assert_non_null(strstr(text, " ERROR two\\nlines\\x1b[2J in 1\n"));
    free(text);

    /* the observer got the warning and the error, redacted, no prefix */
    assert_int_equal(obs.n, 2);
    assert_int_equal(obs.lvl[0], IT_LOG_WARN);
    assert_string_equal(obs.line[0],
                        "login to registry.example.com failed with ***");
    assert_int_equal(obs.lvl[1], IT_LOG_ERROR);
}

static void test_threshold(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/lvl.log", tmpdir);
    assert_int_equal(it_log_open(path, IT_LOG_WARN), 0);
    log_debug("debug line");
    log_info("info line");
    log_warn("warn line");
    log_error("error line");
    it_log_close();
    char *text = slurp(path);
    assert_null(strstr(text, "debug line"));
    assert_null(strstr(text, "info line"));
    assert_non_null(strstr(text, "warn line"));
    assert_non_null(strstr(text, "error line"));
    free(text);

    assert_int_equal(it_log_level_parse("error"), IT_LOG_ERROR);
    assert_int_equal(it_log_level_parse("WARN"), IT_LOG_WARN);
    assert_int_equal(it_log_level_parse("info"), IT_LOG_INFO);
    assert_int_equal(it_log_level_parse("debug"), IT_LOG_DEBUG);
    assert_int_equal(it_log_level_parse("loud"), -1);
    assert_int_equal(it_log_level_parse(NULL), -1);

    assert_int_equal(it_log_open("/nonexistent-dir/x.log", IT_LOG_INFO), -1);
}

/* The threshold is read by every thread without a lock (IT_LOG's test
 * before formatting) while it_log_open may change it: it must be an atomic
 * object, read with a relaxed load. */
static void test_threshold_is_atomic(void **state)
{
    (void)state;
    int is_atomic = _Generic(&it_log_threshold, _Atomic int * : 1, default : 0);
    assert_int_equal(is_atomic, 1);
    char path[512];
    snprintf(path, sizeof path, "%s/atomic.log", tmpdir);
    assert_int_equal(it_log_open(path, IT_LOG_DEBUG), 0);
    assert_int_equal(atomic_load(&it_log_threshold), IT_LOG_DEBUG);
    assert_int_equal(it_log_open(path, IT_LOG_ERROR), 0);
    assert_int_equal(atomic_load(&it_log_threshold), IT_LOG_ERROR);
    it_log_close();
}

#define THREADS    4
#define PER_THREAD 400
#define PAD        300

static void *writer(void *arg)
{
    int id = (int)(intptr_t)arg;
    char pad[PAD + 1];
    memset(pad, 'a' + id, PAD);
    pad[PAD] = '\0';
    for (int i = 0; i < PER_THREAD; i++)
        log_info("thread %d line %d %s end", id, i, pad);
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/thr.log", tmpdir);
    assert_int_equal(it_log_open(path, IT_LOG_INFO), 0);
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(
            pthread_create(&th[i], NULL, writer, (void *)(intptr_t)i), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    it_log_close();

    char *text = slurp(path);
    assert_non_null(text);
    static unsigned char got[THREADS][PER_THREAD];
    memset(got, 0, sizeof got);
    int lines = 0;
    for (char *save = NULL, *l = strtok_r(text, "\n", &save); l != NULL;
         l = strtok_r(NULL, "\n", &save)) {
        const char *m = strstr(l, " INFO  thread ");
        if (m == NULL)
            fail_msg("line without a message: '%.80s'", l);
        int id = -1, n = -1, used = 0;
        if (sscanf(m, " INFO  thread %d line %d %n", &id, &n, &used) != 2 ||
            id < 0 || id >= THREADS || n < 0 || n >= PER_THREAD)
            fail_msg("mangled line: '%.80s'", l);
        const char *p = m + used;
        for (int k = 0; k < PAD; k++) {
            if (p[k] != 'a' + id)
                fail_msg("interleaved line: '%.80s'", l);
        }
        assert_string_equal(p + PAD, " end");
        got[id][n]++;
        lines++;
    }
    free(text);
    assert_int_equal(lines, THREADS * PER_THREAD);
    for (int i = 0; i < THREADS; i++) {
        for (int n = 0; n < PER_THREAD; n++)
            assert_int_equal(got[i][n], 1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redact_table),
        cmocka_unit_test(test_redact_edges),
        cmocka_unit_test(test_file_sink),
        cmocka_unit_test(test_threshold),
        cmocka_unit_test(test_threshold_is_atomic),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
