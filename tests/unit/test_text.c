/* test_text.c - it_escape (control bytes of remote or file origin made
 * harmless), it_sanitize (redaction + escaping), it_add_sat, the string
 * helpers (it_strdup0, it_join2) and the clock's deadline arithmetic. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "clock.h"
#include "log.h"
#include "text.h"

static void test_escape_cases(void **state)
{
    (void)state;
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"plain text 1.2.3", "plain text 1.2.3"},
        {"tab\tkept", "tab\tkept"},
        {"a\nResult: success", "a\\nResult: success"},
        {"cr\rx", "cr\\rx"},
        {"\x1b]0;title\x07", "\\x1b]0;title\\x07"},
        {"\x1b[2J", "\\x1b[2J"},
        {"del\x7f", "del\\x7f"},
        {"caf\xc3\xa9 \xe2\x9c\x93", "caf\xc3\xa9 \xe2\x9c\x93"}, /* UTF-8 */
        {"c1 \xc2\x9b"
         "2J",
         "c1 \\xc2\\x9b2J"}, /* U+009B CSI */
        {"raw \x9b"
         "2J",
         "raw \\x9b2J"}, /* 8-bit CSI */
        {"bad \xff\xfe", "bad \\xff\\xfe"},
        {"short \xe2\x9c", "short \\xe2\\x9c"}, /* cut sequence */
        {"overlong \xc0\xaf", "overlong \\xc0\\xaf"},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[128];
        size_t n = it_escape(out, sizeof out, cases[i].in);
        if (strcmp(out, cases[i].want) != 0)
            fail_msg("case %zu: got '%s' want '%s'", i, out, cases[i].want);
        assert_int_equal(n, strlen(cases[i].want));
        char *d = it_escape_dup(cases[i].in);
        assert_non_null(d);
        assert_string_equal(d, cases[i].want);
        free(d);
    }
    char out[8];
    assert_int_equal(it_escape(out, sizeof out, NULL), 0);
    assert_string_equal(out, "");
}

static void test_escape_truncates_whole(void **state)
{
    (void)state;
    /* "ab" + "\x1b" escaped (4 bytes) does not fit in 6: stops before it
     * instead of leaving half an escape. */
    char out[6];
    size_t n = it_escape(out, sizeof out, "ab\x1bxyz");
    assert_int_equal(n, 9);
    assert_string_equal(out, "ab");
    char one[1];
    assert_int_equal(it_escape(one, sizeof one, "x"), 1);
    assert_string_equal(one, "");
    assert_int_equal(it_escape(NULL, 0, "\n"), 2);
}

static void test_sanitize(void **state)
{
    (void)state;
    it_log_add_secret("s3cret-pw");
    char out[256];
    it_sanitize(out, sizeof out,
                "denied s3cret-pw\n\x1b]0;owned\x07Result: success");
    assert_string_equal(out, "denied ***\\n\\x1b]0;owned\\x07Result: success");
    char *d = it_sanitize_dup("token=abc\x1b[2J");
    assert_non_null(d);
    assert_string_equal(d, "token=***");
    free(d);
    d = it_sanitize_dup("tag \x1b[2J");
    assert_non_null(d);
    assert_string_equal(d, "tag \\x1b[2J");
    free(d);
    d = it_sanitize_dup(NULL);
    assert_non_null(d);
    assert_string_equal(d, "");
    free(d);
}

static void test_add_sat(void **state)
{
    (void)state;
    assert_true(it_add_sat(1, 2) == 3);
    assert_true(it_add_sat(INT64_MAX, 1) == INT64_MAX);
    assert_true(it_add_sat(INT64_MAX - 5, INT64_MAX - 5) == INT64_MAX);
    assert_true(it_add_sat(INT64_MIN, -1) == INT64_MIN);
    assert_true(it_add_sat(INT64_MAX, INT64_MIN) == -1);
    assert_true(it_add_sat(-5, 3) == -2);
    /* a sum of server-given sizes stays at the top, never wraps */
    int64_t sum = 0;
    for (int i = 0; i < 4; i++)
        sum = it_add_sat(sum, INT64_MAX - 1);
    assert_true(sum == INT64_MAX);
}

static void test_strdup0(void **state)
{
    (void)state;
    assert_null(it_strdup0(NULL));
    const char *src = "abc";
    char *d = it_strdup0(src);
    assert_non_null(d);
    assert_string_equal(d, "abc");
    assert_ptr_not_equal(d, src);
    free(d);
    d = it_strdup0("");
    assert_non_null(d); /* "" stays "", unlike a NULL */
    assert_string_equal(d, "");
    free(d);
}

static void test_join2(void **state)
{
    (void)state;
    char *k = it_join2("a/b:1", '\n', "c/d:2");
    assert_string_equal(k, "a/b:1\nc/d:2");
    free(k);
    k = it_join2("", '/', "");
    assert_string_equal(k, "/");
    free(k);
    k = it_join2(NULL, ':', "x");
    assert_string_equal(k, ":x");
    free(k);
    k = it_join2("x", ':', NULL);
    assert_string_equal(k, "x:");
    free(k);
}

static void test_deadline_and_clock(void **state)
{
    (void)state;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct timespec d = it_deadline(2.75);
    assert_true(d.tv_nsec >= 0 && d.tv_nsec < 1000000000L);
    double delta = (double)(d.tv_sec - now.tv_sec) +
                   (double)(d.tv_nsec - now.tv_nsec) / 1e9;
    assert_true(delta >= 2.75 && delta < 2.75 + 60); /* never earlier */
    d = it_deadline(-1);
    assert_true(d.tv_nsec >= 0 && d.tv_nsec < 1000000000L);
    assert_true(d.tv_sec >= now.tv_sec && d.tv_sec < now.tv_sec + 60);
    /* monotonic: never goes back; the two units agree */
    double a = it_now_mono();
    int64_t ms = it_now_mono_ms();
    double b = it_now_mono();
    assert_true(b >= a);
    assert_true((double)ms >= a * 1000.0 - 1.0 && (double)ms <= b * 1000.0);
    it_sleep(0);
    it_sleep(-1);
    it_sleep_ms(0);
    it_sleep_ms(1);
    assert_true(it_now_mono() >= b + 0.001 - 1e-9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape_cases),
        cmocka_unit_test(test_escape_truncates_whole),
        cmocka_unit_test(test_sanitize),
        cmocka_unit_test(test_add_sat),
        cmocka_unit_test(test_strdup0),
        cmocka_unit_test(test_join2),
        cmocka_unit_test(test_deadline_and_clock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
