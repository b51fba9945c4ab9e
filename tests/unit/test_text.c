/* test_text.c - it_escape (control bytes of remote or file origin made
 * harmless), it_sanitize (redaction + escaping) and it_add_sat. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape_cases),
        cmocka_unit_test(test_escape_truncates_whole),
        cmocka_unit_test(test_sanitize),
        cmocka_unit_test(test_add_sat),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
