/*
 * test_events_out.c - --events: every line is one JSON object with "v":1,
 * "event" and "time", in the order of the run; final image outcomes only;
 * hostile names from a registry escaped (no control byte, valid JSON) and
 * secrets redacted; lines written from several threads stay whole; "-"
 * writes to the stream it is given; errors name the file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "events_out.h"
#include "log.h"
#include "test_util.h"

#define SECRET "Sup3r-Secret-Pw-42"

static int make_tmpdir(void **state)
{
    return tu_tmpdir_new(state, "events");
}

/* The file's lines parsed; *n set. Fails on a line that is not a JSON
 * object with "v": 1, an "event" and a "time". */
static json_t **load_lines(const char *path, size_t *n, char **raw)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char buf[1 << 20];
    size_t len = fread(buf, 1, sizeof(buf) - 1, f);
    buf[len] = '\0';
    fclose(f);
    *raw = buf;
    json_t **v = calloc(4096, sizeof(*v));
    assert_non_null(v);
    *n = 0;
    char *copy = strdup(buf), *save = NULL;
    assert_non_null(copy);
    assert_true(len == 0 || buf[len - 1] == '\n');
    for (char *line = strtok_r(copy, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        json_error_t jerr;
        json_t *o = json_loads(line, 0, &jerr);
        if (!o || !json_is_object(o))
            fail_msg("not a JSON object: %s (%s)", line, jerr.text);
        assert_int_equal(json_integer_value(json_object_get(o, "v")), 1);
        assert_non_null(json_string_value(json_object_get(o, "event")));
        assert_non_null(json_string_value(json_object_get(o, "time")));
        assert_true(*n < 4096);
        v[(*n)++] = o;
    }
    free(copy);
    return v;
}

static void free_lines(json_t **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        json_decref(v[i]);
    free(v);
}

static const char *str(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static void test_run_as_lines(void **state)
{
    char path[4096];
    tu_path_in(path, sizeof(path), *state, "events.jsonl");
    it_log_add_credential("robot", SECRET);
    it_events_out *w = NULL;
    it_errbuf err = {{0}};
    assert_int_equal(it_events_open(&w, path, NULL, &err), 0);
    it_events_run_started(w, &(it_events_run){.mode = "generic",
                                              .source = "src.example",
                                              .target = "dst.example",
                                              .version = "1.2.3"});
    /* a tag a hostile registry made up: quote, escape sequence, a byte
     * that is not UTF-8 */
    const char *evil = "src.example/team/app:v1\"\x1b[2J\xff";
    it_event evs[] = {
        {.kind = IT_EV_IMAGE_ADDED}, /* not an event of the file */
        {.kind = IT_EV_REPO_LISTED,
         .source = "src.example/team/app",
         .target = "dst.example/team/app",
         .status = IT_STATUS_COPIED,
         .count = 2},
        {.kind = IT_EV_IMAGE_FINISHED,
         .source = evil,
         .target = "dst.example/team/app:v1",
         .status = IT_STATUS_FAILED,
         .will_retry = true,
         .text = "try 1"},
        {.kind = IT_EV_IMAGE_FINISHED,
         .source = evil,
         .target = "dst.example/team/app:v1",
         .digest = "sha256:abc",
         .status = IT_STATUS_COPIED,
         .bytes = 4096},
        {.kind = IT_EV_IMAGE_FINISHED,
         .source = "src.example/team/app:v2",
         .target = "dst.example/team/app:v2",
         .digest = "",
         .status = IT_STATUS_FAILED,
         .text = "denied for robot:" SECRET},
        {.kind = IT_EV_REPO_FAILED,
         .source = "src.example/team/gone",
         .target = "dst.example/team/gone",
         .status = IT_STATUS_FAILED,
         .text = "listing failed"},
    };
    for (size_t i = 0; i < sizeof(evs) / sizeof(*evs); i++)
        it_events_on_event(w, &evs[i]);
    it_events_warning(w, false, "slow registry");
    it_engine_stats st = {.images_total = 3,
                          .images_copied = 1,
                          .images_failed = 2,
                          .bytes_copied = 4096};
    it_events_run_finished(w, &st, false, 1);
    assert_int_equal(it_events_close(w, &err), 0);

    size_t n = 0;
    char *raw = NULL;
    json_t **v = load_lines(path, &n, &raw);
    const char *want[] = {"run_started",    "repo_listed", "image_finished",
                          "image_finished", "repo_listed", "warning",
                          "run_finished"};
    assert_int_equal(n, sizeof(want) / sizeof(*want));
    for (size_t i = 0; i < n; i++)
        assert_string_equal(str(v[i], "event"), want[i]);
    assert_string_equal(str(v[0], "mode"), "generic");
    assert_true(json_is_null(json_object_get(v[0], "shard")));
    assert_false(json_is_true(json_object_get(v[0], "dry_run")));
    assert_string_equal(str(v[1], "status"), "ok");
    assert_int_equal(json_integer_value(json_object_get(v[1], "images")), 2);
    assert_string_equal(str(v[2], "status"), "copied");
    assert_string_equal(str(v[2], "digest"), "sha256:abc");
    assert_int_equal(json_integer_value(json_object_get(v[2], "bytes")), 4096);
    assert_true(json_is_null(json_object_get(v[2], "error")));
    /* the hostile name: escaped, no raw control byte anywhere */
    assert_string_equal(str(v[2], "source"),
                        "src.example/team/app:v1\"\\x1b[2J\\xff");
    for (const unsigned char *p = (const unsigned char *)raw; *p; p++)
        assert_true(*p == '\n' || (*p >= 0x20 && *p < 0x7f));
    assert_string_equal(str(v[3], "status"), "failed");
    assert_true(json_is_null(json_object_get(v[3], "digest")));
    assert_null(strstr(raw, SECRET));
    assert_string_equal(str(v[4], "status"), "failed");
    assert_string_equal(str(v[4], "error"), "listing failed");
    assert_string_equal(str(v[5], "level"), "warn");
    assert_string_equal(str(v[5], "message"), "slow registry");
    json_t *summ = json_object_get(v[6], "summary");
    assert_int_equal(json_integer_value(json_object_get(summ, "images_copied")),
                     1);
    assert_int_equal(json_integer_value(json_object_get(summ, "bytes_copied")),
                     4096);
    assert_int_equal(json_integer_value(json_object_get(v[6], "exit_code")), 1);
    free_lines(v, n);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
}

typedef struct writer_arg {
    it_events_out *w;
    int id;
} writer_arg;

static void *writer(void *p)
{
    writer_arg *a = p;
    char src[64];
    for (int i = 0; i < 300; i++) {
        snprintf(src, sizeof(src), "src/t%d:v%d", a->id, i);
        it_event ev = {.kind = IT_EV_IMAGE_FINISHED,
                       .source = src,
                       .target = src,
                       .status = IT_STATUS_COPIED};
        it_events_on_event(a->w, &ev);
    }
    return NULL;
}

/* Four threads at once through "-" (the stream given): every line whole. */
static void test_threads_whole_lines(void **state)
{
    char path[4096];
    tu_path_in(path, sizeof(path), *state, "stdout.txt");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    it_events_out *w = NULL;
    it_errbuf err = {{0}};
    assert_int_equal(it_events_open(&w, "-", f, &err), 0);
    pthread_t t[4];
    writer_arg a[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (writer_arg){w, i};
        assert_int_equal(pthread_create(&t[i], NULL, writer, &a[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(it_events_close(w, &err), 0);
    fputs("after\n", f); /* the stream given is still open */
    fclose(f);
    FILE *g = fopen(path, "r");
    assert_non_null(g);
    char line[512];
    int n = 0;
    while (fgets(line, sizeof(line), g)) {
        if (strcmp(line, "after\n") == 0)
            continue;
        json_error_t jerr;
        json_t *o = json_loads(line, 0, &jerr);
        if (!o)
            fail_msg("torn line: %s", line);
        json_decref(o);
        n++;
    }
    fclose(g);
    assert_int_equal(n, 1200);
}

static void test_open_error_names_path(void **state)
{
    char path[4096];
    tu_path_in(path, sizeof(path), *state, "missing/events.jsonl");
    it_events_out *w = NULL;
    it_errbuf err = {{0}};
    assert_int_equal(it_events_open(&w, path, NULL, &err), -1);
    assert_null(w);
    assert_non_null(strstr(err.msg, "--events"));
    assert_non_null(strstr(err.msg, "missing/events.jsonl"));
    /* never through a symbolic link planted at the name */
    char link[4096];
    tu_path_in(link, sizeof(link), *state, "link.jsonl");
    assert_int_equal(symlink("/dev/null", link), 0);
    assert_int_equal(it_events_open(&w, link, NULL, &err), -1);
}

int main(void)
{
    it_log_open(NULL, IT_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_run_as_lines, make_tmpdir,
                                        tu_tmpdir_drop),
        cmocka_unit_test_setup_teardown(test_threads_whole_lines, make_tmpdir,
                                        tu_tmpdir_drop),
        cmocka_unit_test_setup_teardown(test_open_error_names_path, make_tmpdir,
                                        tu_tmpdir_drop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
