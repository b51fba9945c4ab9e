/*
 * test_metrics.c - --metrics-file: the Prometheus text format (every line a
 * HELP/TYPE comment or a sample of the exposition grammar, checked with a
 * POSIX regex, and with promtool when it is installed), label values of a
 * hostile host name escaped so they cannot end the label or add a line,
 * the atomic write (mode 0644, no temp file left, errors name the path),
 * and the writer: counts from the event stream, final statistics at the
 * end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "test_util.h"

static int make_tmpdir(void **state)
{
    return tu_tmpdir_new(state, "metrics");
}

/* A hostile host: a quote and brace to end the label, a newline to add a
 * sample, a backslash, an escape sequence and a byte that is not UTF-8. */
#define EVIL "evil\"} 666\nimage_transfer_owned 1\\\x1b[2J\xff:5000"

static void sample_of(it_metrics_sample *s, it_host_stats *h)
{
    memset(s, 0, sizeof(*s));
    memset(h, 0, 2 * sizeof(*h));
    snprintf(h[0].host, sizeof(h[0].host), "%s", "registry.example.com");
    h[0].requests[IT_HTTP_2XX] = 40;
    h[0].requests[IT_HTTP_5XX] = 2;
    h[0].retries = 2;
    h[0].in_flight = 3;
    h[0].limit_in_flight = 4; /* issue 15 */
    h[0].limit_rps = 12.5;
    h[0].throttled = 6;
    h[0].down_since = 1700000001;
    snprintf(h[1].host, sizeof(h[1].host), "%s", EVIL);
    h[1].requests[IT_HTTP_ERROR] = 7;
    s->run = "shard-1";
    s->mode = "generic";
    s->shard = "1/4";
    s->phase = IT_PHASE_COPYING;
    s->images[IT_STATUS_COPIED] = 5;
    s->images[IT_STATUS_FAILED] = 1;
    s->images_listed = 9;
    s->blobs[IT_BLOB_MOUNTED] = 4;
    s->transferred_bytes = 123456;
    s->copied_bytes = 120000;
    s->hosts = h;
    s->nhosts = 2;
    s->start_time = 1700000000;
    s->last_progress_time = 1700000042.5;
}

static char *format_to_string(const it_metrics_sample *s)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(it_metrics_format(f, s), 0);
    fclose(f);
    return buf;
}

/* Every line is a comment or name{label="value",...} number, with only
 * the three escapes of the format inside values, and printable ASCII. */
static void test_format_grammar(void **state)
{
    (void)state;
    it_metrics_sample s;
    it_host_stats h[2];
    sample_of(&s, h);
    char *text = format_to_string(&s);
    regex_t sample_re, help_re;
    assert_int_equal(regcomp(&sample_re,
                             "^image_transfer_[a-z_]+"
                             "(\\{[a-z_]+=\"([^\"\\\\]|\\\\[\\\\\"n])*\""
                             "(,[a-z_]+=\"([^\"\\\\]|\\\\[\\\\\"n])*\")*\\})?"
                             " -?[0-9]+(\\.[0-9]+)?$",
                             REG_EXTENDED | REG_NOSUB),
                     0);
    assert_int_equal(regcomp(&help_re,
                             "^# (HELP image_transfer_[a-z_]+ .+|TYPE "
                             "image_transfer_[a-z_]+ (counter|gauge))$",
                             REG_EXTENDED | REG_NOSUB),
                     0);
    int samples = 0, types = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        for (const unsigned char *p = (const unsigned char *)line; *p; p++)
            assert_true(*p >= 0x20 && *p < 0x7f);
        if (line[0] == '#') {
            assert_int_equal(regexec(&help_re, line, 0, NULL, 0), 0);
            if (strncmp(line, "# TYPE", 6) == 0) {
                types++;
                /* counters end in _total, gauges do not */
                bool counter = strstr(line, " counter") != NULL;
                char *name_end = strchr(line + 7, ' ');
                assert_non_null(name_end);
                bool total = name_end - (line + 7) > 6 &&
                             strncmp(name_end - 6, "_total", 6) == 0;
                assert_true(counter == total);
            }
        } else {
            if (regexec(&sample_re, line, 0, NULL, 0) != 0)
                fail_msg("not a sample line: %s", line);
            assert_true(strncmp(line, "image_transfer_owned", 20) != 0);
            samples++;
        }
    }
    regfree(&sample_re);
    regfree(&help_re);
    assert_int_equal(types, 16); /* 12, and 4 of issue 15 */
    assert_true(samples > 20);
    free(text);
}

static void test_format_values_and_escaping(void **state)
{
    (void)state;
    it_metrics_sample s;
    it_host_stats h[2];
    sample_of(&s, h);
    char *text = format_to_string(&s);
    const char *want[] = {
        "image_transfer_info{run=\"shard-1\",mode=\"generic\",shard=\"1/"
        "4\",dry_run=\"false\"} "
        "1\n",
        "image_transfer_phase{run=\"shard-1\",phase=\"copying\"} 1\n",
        "image_transfer_phase{run=\"shard-1\",phase=\"done\"} 0\n",
        "image_transfer_images_total{run=\"shard-1\",outcome=\"copied\"} 5\n",
        "image_transfer_images_total{run=\"shard-1\",outcome=\"failed\"} 1\n",
        "image_transfer_images_listed{run=\"shard-1\"} 9\n",
        "image_transfer_blobs_total{run=\"shard-1\",outcome=\"mounted\"} 4\n",
        "image_transfer_transferred_bytes_total{run=\"shard-1\"} 123456\n",
        "image_transfer_copied_bytes{run=\"shard-1\"} 120000\n",
        "image_transfer_start_time_seconds{run=\"shard-1\"} 1700000000.000\n",
        "image_transfer_last_progress_time_seconds{run=\"shard-1\"} "
        "1700000042.500\n",
        "image_transfer_http_requests_total{run=\"shard-1\",host=\"registry."
        "example.com\","
        "class=\"5xx\"} 2\n",
        "image_transfer_http_retries_total{run=\"shard-1\",host=\"registry."
        "example.com\"} 2\n",
        "image_transfer_http_requests_in_flight{run=\"shard-1\",host="
        "\"registry.example.com\"}"
        " 3\n",
        /* issue 15: the adaptive limits and the down state */
        "image_transfer_host_limit_in_flight{run=\"shard-1\",host="
        "\"registry.example.com\"} 4\n",
        "image_transfer_host_limit_requests_per_second{run=\"shard-1\",host="
        "\"registry.example.com\"} 12.500\n",
        "image_transfer_host_throttled_total{run=\"shard-1\",host="
        "\"registry.example.com\"} 6\n",
        "image_transfer_host_down{run=\"shard-1\",host="
        "\"registry.example.com\"} 1\n",
        /* the hostile host: quote, newline and backslash escaped, the
         * control and non-UTF-8 bytes as the text \xNN */
        "image_transfer_http_requests_total{run=\"shard-1\",host=\"evil\\\"} "
        "666\\nimage_transfer_owned 1\\\\\\\\x1b[2J\\\\xff:5000\","
        "class=\"error\"} 7\n",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(*want); i++)
        if (!strstr(text, want[i]))
            fail_msg("missing: %s\nin:\n%s", want[i], text);
    free(text);
}

static void write_sample(const char *path)
{
    it_metrics_sample s;
    it_host_stats h[2];
    sample_of(&s, h);
    it_errbuf err = {{0}};
    assert_int_equal(it_metrics_write(path, &s, &err), 0);
}

/* The real parser: promtool check metrics (Debian's prometheus). */
static void test_promtool_accepts(void **state)
{
    if (access("/usr/bin/promtool", X_OK) != 0)
        skip();
    char path[4096], cmd[8300];
    tu_path_in(path, sizeof(path), *state, "it.prom");
    write_sample(path);
    snprintf(cmd, sizeof(cmd), "promtool check metrics < '%s' >'%s.out' 2>&1",
             path, path);
    int rc = system(cmd);
    if (!WIFEXITED(rc) || WEXITSTATUS(rc) != 0) {
        char out[4096] = "";
        snprintf(cmd, sizeof(cmd), "%s.out", path);
        FILE *f = fopen(cmd, "r");
        if (f) {
            size_t n = fread(out, 1, sizeof(out) - 1, f);
            out[n] = '\0';
            fclose(f);
        }
        fail_msg("promtool check metrics failed: %s", out);
    }
}

static void test_write_atomic(void **state)
{
    char path[4096];
    tu_path_in(path, sizeof(path), *state, "it.prom");
    FILE *old = fopen(path, "w");
    assert_non_null(old);
    fputs("old\n", old);
    fclose(old);
    struct stat before;
    assert_int_equal(stat(path, &before), 0);
    write_sample(path);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    assert_true(st.st_ino != before.st_ino); /* renamed over, not rewritten */
    assert_true(st.st_size > 1000);
    /* nothing else in the directory: the temp file was renamed */
    DIR *d = opendir(*state);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *de; (de = readdir(d)) != NULL;)
        if (de->d_name[0] != '.')
            n++;
    closedir(d);
    assert_int_equal(n, 1);
}

static void test_write_error_names_path(void **state)
{
    char path[4096];
    tu_path_in(path, sizeof(path), *state, "no-such-dir/it.prom");
    it_metrics_sample s;
    it_host_stats h[2];
    sample_of(&s, h);
    it_errbuf err = {{0}};
    assert_int_equal(it_metrics_write(path, &s, &err), -1);
    assert_non_null(strstr(err.msg, "--metrics-file"));
    assert_non_null(strstr(err.msg, "no-such-dir/it.prom"));
    /* it_metrics_open refuses such a path before anything runs */
    it_metrics *m = NULL;
    it_metrics_opts o = {.path = path, .mode = "generic"};
    assert_int_equal(it_metrics_open(&m, &o, &err), -1);
    assert_null(m);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* The writer counts what the event stream says (final outcomes only: an
 * image that will be tried again is not failed yet), and the last file
 * holds the engine's final statistics. */
static void test_writer_counts_events(void **state)
{
    char path[4096];
    tu_path_in(path, sizeof(path), *state, "run.prom");
    it_progress *p = it_progress_new("generic", "a", "b", NULL);
    assert_non_null(p);
    it_metrics *m = NULL;
    it_errbuf err = {{0}};
    it_metrics_opts o = {
        .path = path, .mode = "generic", .started = 1700000000, .progress = p};
    assert_int_equal(it_metrics_open(&m, &o, &err), 0);
    const char *text = slurp(path);
    /* every series carries the file's name: run="run" */
    assert_non_null(strstr(text, "image_transfer_images_total{run=\"run\","
                                 "outcome=\"copied\"} 0\n"));
    assert_non_null(strstr(text, "image_transfer_last_progress_time_seconds"
                                 "{run=\"run\"} 1700000000.000\n"));
    it_event evs[] = {
        {.kind = IT_EV_IMAGE_ADDED},
        {.kind = IT_EV_IMAGE_ADDED},
        {.kind = IT_EV_BYTES, .bytes = 1000},
        {.kind = IT_EV_BYTES, .bytes = -400}, /* a failed try taken back */
        {.kind = IT_EV_BLOB_DONE, .outcome = IT_BLOB_MOUNTED},
        {.kind = IT_EV_IMAGE_FINISHED,
         .status = IT_STATUS_FAILED,
         .will_retry = true},
        {.kind = IT_EV_IMAGE_FINISHED, .status = IT_STATUS_COPIED},
        {.kind = IT_EV_REPO_LISTED, .status = IT_STATUS_FAILED},
    };
    for (size_t i = 0; i < sizeof(evs) / sizeof(*evs); i++)
        it_metrics_on_event(m, &evs[i]);
    assert_int_equal(it_metrics_finish(m, NULL, &err), 0);
    text = slurp(path);
    const char *want[] = {
        "image_transfer_images_listed{run=\"run\"} 2\n",
        "image_transfer_images_total{run=\"run\",outcome=\"copied\"} 1\n",
        "image_transfer_images_total{run=\"run\",outcome=\"failed\"} 1\n",
        "image_transfer_blobs_total{run=\"run\",outcome=\"mounted\"} 1\n",
        "image_transfer_transferred_bytes_total{run=\"run\"} 1000\n",
        "image_transfer_copied_bytes{run=\"run\"} 600\n",
        "image_transfer_phase{run=\"run\",phase=\"discovering\"} 1\n",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(*want); i++)
        if (!strstr(text, want[i]))
            fail_msg("missing: %s\nin:\n%s", want[i], text);
    assert_null(strstr(text, "last_progress_time_seconds 1700000000.000"));
    /* the final statistics win */
    it_engine_stats st = {.images_copied = 7, .bytes_copied = 99};
    it_progress_phase(p, IT_PHASE_DONE);
    assert_int_equal(it_metrics_finish(m, &st, &err), 0);
    text = slurp(path);
    assert_non_null(strstr(
        text,
        "image_transfer_images_total{run=\"run\",outcome=\"copied\"} 7\n"));
    assert_non_null(
        strstr(text, "image_transfer_copied_bytes{run=\"run\"} 99\n"));
    assert_non_null(
        strstr(text, "image_transfer_phase{run=\"run\",phase=\"done\"} 1\n"));
    it_metrics_free(m);
    it_progress_free(p);
}

int main(void)
{
    it_log_open(NULL, IT_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_grammar),
        cmocka_unit_test(test_format_values_and_escaping),
        cmocka_unit_test_setup_teardown(test_promtool_accepts, make_tmpdir,
                                        tu_tmpdir_drop),
        cmocka_unit_test_setup_teardown(test_write_atomic, make_tmpdir,
                                        tu_tmpdir_drop),
        cmocka_unit_test_setup_teardown(test_write_error_names_path,
                                        make_tmpdir, tu_tmpdir_drop),
        cmocka_unit_test_setup_teardown(test_writer_counts_events, make_tmpdir,
                                        tu_tmpdir_drop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
