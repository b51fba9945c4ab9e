/*
 * test_progress_fmt.c - the views' display helpers (progress_fmt.c): human
 * units and durations, and short repository names, from the tables in
 * tests/fixtures/progress/. The headless line is tested with the model in
 * test_progress.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "progress_fmt.h"

static void test_formatters_from_fixture(void **state)
{
    (void)state;
    const char *dir = getenv("FIXTURES");
    char path[1024];
    snprintf(path, sizeof path, "%s/progress/format.txt",
             dir ? dir : "tests/fixtures");
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[256];
    int cases = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0')
            continue;
        char *kind = line;
        char *tab = strchr(kind, '\t');
        assert_non_null(tab);
        *tab = '\0';
        char *in = tab + 1;
        tab = strchr(in, '\t');
        assert_non_null(tab);
        *tab = '\0';
        const char *want = tab + 1;
        char *end;
        double v = strtod(in, &end);
        assert_true(end != in && *end == '\0');
        char got[64];
        if (strcmp(kind, "bytes") == 0)
            it_format_bytes(got, sizeof got, v);
        else
            it_format_duration(got, sizeof got, v);
        if (strcmp(got, want) != 0)
            fail_msg("%s(%s): got '%s', want '%s'", kind, in, got, want);
        cases++;
    }
    fclose(f);
    assert_true(cases >= 10);
}

/* Splits a fixture line at tabs into at most max fields; returns the count. */
static int split_tabs(char *line, char **f, int max)
{
    int n = 0;
    f[n++] = line;
    for (char *c = line; *c && n < max; c++)
        if (*c == '\t') {
            *c = '\0';
            f[n++] = c + 1;
        }
    return n;
}

static void test_repo_labels_from_fixture(void **state)
{
    (void)state;
    const char *dir = getenv("FIXTURES");
    char path[1024];
    snprintf(path, sizeof path, "%s/progress/labels.txt",
             dir ? dir : "tests/fixtures");
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[512];
    int hosts = 0, labels = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0')
            continue;
        char *c[6];
        int n = split_tabs(line, c, 6);
        if (strcmp(c[0], "host") == 0) {
            assert_int_equal(n, 3);
            char *end;
            long want = strtol(c[2], &end, 10);
            assert_true(end != c[2] && *end == '\0');
            size_t got = it_repo_host_len(c[1]);
            if ((long)got != want)
                fail_msg("host_len(%s): got %zu, want %ld", c[1], got, want);
            hosts++;
            continue;
        }
        assert_string_equal(c[0], "label");
        assert_int_equal(n, 6);
        const char *src = NULL, *dst = NULL;
        it_repo_label(&src, &dst, c[1], c[2], strchr(c[3], 's') != NULL,
                      strchr(c[3], 'd') != NULL);
        const char *want_dst = strcmp(c[5], "-") == 0 ? NULL : c[5];
        if (strcmp(src, c[4]) != 0)
            fail_msg("label(%s, %s, %s): src '%s', want '%s'", c[1], c[2], c[3],
                     src, c[4]);
        if (want_dst ? !dst || strcmp(dst, want_dst) != 0 : dst != NULL)
            fail_msg("label(%s, %s, %s): dst '%s', want '%s'", c[1], c[2], c[3],
                     dst ? dst : "(null)", c[5]);
        labels++;
    }
    fclose(f);
    assert_true(hosts >= 8);
    assert_true(labels >= 6);
    /* NULL names are empty names. */
    assert_int_equal(it_repo_host_len(NULL), 0);
    const char *s = NULL, *d = NULL;
    it_repo_label(&s, &d, NULL, NULL, true, true);
    assert_string_equal(s, "");
    assert_null(d);
}

/* issue 15: the line of a host that is down, and its limits. */
static void test_host_lines(void **state)
{
    (void)state;
    setenv("TZ", "UTC", 1);
    tzset();
    it_host_row h = {.host = "127.0.0.1:5001",
                     .down = true,
                     .down_since = 43263, /* 1970-01-01 12:01:03 UTC */
                     .next_try_ms = 50000000,
                     .limit_in_flight = 4,
                     .limit_rps = 12.5};
    char line[512];
    assert_true(it_host_down_line(line, sizeof line, &h, 49992.2));
    assert_string_equal(line, "registry 127.0.0.1:5001 unreachable since "
                              "12:01:03, next try in 8s");
    /* a next try already due */
    assert_true(it_host_down_line(line, sizeof line, &h, 60000));
    assert_non_null(strstr(line, "next try in 0s"));
    it_host_limits_line(line, sizeof line, &h);
    assert_string_equal(line, "127.0.0.1:5001  limit 4 in flight, 12.5 req/s");
    h.limit_rps = 0;
    it_host_limits_line(line, sizeof line, &h);
    assert_string_equal(line, "127.0.0.1:5001  limit 4 in flight, no rate cap");
    /* a control byte never reaches the terminal */
    snprintf(h.host, sizeof h.host, "evil\x1b[2Jhost");
    assert_true(it_host_down_line(line, sizeof line, &h, 49992.2));
    assert_null(strchr(line, '\x1b'));
    /* up: no line */
    h.down = false;
    assert_false(it_host_down_line(line, sizeof line, &h, 49992.2));
    assert_string_equal(line, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_formatters_from_fixture),
        cmocka_unit_test(test_repo_labels_from_fixture),
        cmocka_unit_test(test_host_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
