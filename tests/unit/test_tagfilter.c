/* test_tagfilter.c - tag filters (src/tagfilter.c): regexes (the \d
 * translation, anchoring, exclude wins), semver parsing and precedence
 * (prerelease per semver.org section 11), every constraint operator, the
 * newest-first orders, and the summary's note on what --latest left out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <limits.h>

#include "tagfilter.h"

static bool re_matches(const char *pattern, const char *tag)
{
    regex_t re;
    it_errbuf err = {{0}};
    if (it_tag_regex_compile(&re, pattern, &err) != 0)
        fail_msg("regex '%s' refused: %s", pattern, err.msg);
    bool m = regexec(&re, tag, 0, NULL, 0) == 0;
    regfree(&re);
    return m;
}

static void test_regex_cases(void **state)
{
    (void)state;
    static const struct {
        const char *re, *tag;
        bool match;
    } cases[] = {
        /* unanchored: anywhere in the tag */
        {"rc", "v1.2.0-rc1", true},
        {"rc", "v1.2.0", false},
        {"^dev-", "dev-123", true},
        {"^dev-", "feature-dev-1", false},
        {"^v1$", "v1", true},
        {"^v1$", "v10", false},
        {"v1", "v10", true},
        /* \d \w \s and friends */
        {"^v\\d+\\.\\d+\\.\\d+$", "v1.22.333", true},
        {"^v\\d+\\.\\d+\\.\\d+$", "v1.2.3-rc1", false},
        {"^v\\d+\\.\\d+\\.\\d+$", "vX.2.3", false},
        {"^\\D+$", "latest", true},
        {"^\\D+$", "v1", false},
        {"^\\w+$", "build_7", true},
        {"^\\w+$", "build-7", false},
        {"^\\W", "-x", true},
        {"\\s", "a b", true},
        {"^\\S+$", "a b", false},
        {"^[\\d.]+$", "1.2.3", true},
        {"^[\\d.]+$", "1.2.3a", false},
        {"^[^\\d]+$", "abc", true},
        {"^[^\\d]+$", "ab1", false},
        {"^[[:digit:]\\w]+$", "a_1", true},
        /* other escapes keep their POSIX meaning */
        {"^1\\.2$", "1.2", true},
        {"^1\\.2$", "1x2", false},
        {"^[]a]+$", "]a]", true},
        /* repetitions within bounds */
        {"^(release|hotfix)-[a-z0-9]+(\\.[0-9]+)*$", "release-ab.1.2", true},
        {"^x{0,3}$", "xxx", true},
        {"^x{0,3}$", "xxxx", false},
        {"^(ab){2,8}$", "ababab", true},
        {"^a{1,4000}$", "aaa", true},
        {"^[+*?]{2}$", "+*", true},
        {"^a{2,}$", "aaaa", true},
        {"^a{2,}$", "a", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (re_matches(cases[i].re, cases[i].tag) != cases[i].match)
            fail_msg("'%s' on '%s': expected %s", cases[i].re, cases[i].tag,
                     cases[i].match ? "a match" : "no match");
}

static void test_regex_errors(void **state)
{
    (void)state;
    static const struct {
        const char *re, *want;
    } cases[] = {
        {"(", "regex '('"},
        {"a[", "regex 'a['"},
        {"[\\D]", "\\D inside [...] is not supported"},
        {"x{2,1}", "regex 'x{2,1}'"},
        /* what would make regcomp build an exponential tree (a fuzzed
         * rule file asked for 2^100 copies and 2 GiB) */
        {"t++", "a repetition applied to a repetition"},
        {"~t++++++++++++++++++++++++++++++++cr.examp\\d.]+",
         "a repetition applied to a repetition"},
        {".*?", "a repetition applied to a repetition"},
        {"a{2}{3}", "a repetition applied to a repetition"},
        {"((a{1,50}){1,50}){1,50}", "too complex"},
        {"(a{1,4096})+", "too complex"},
        {"((((((((((((((a+)+)+)+)+)+)+)+)+)+)+)+)+)+)", "too complex"},
        {"(a{2,}){2000}", "too complex"},
        {"a{99999999999999999999}", "regex 'a{99999999999999999999}'"},
        /* glibc reads "\\0" in a bound as a digit ({2,22200}): only plain
         * digits are taken */
        {"_\"[\\\\{.]+\",x{2,222\\00}\"", "'{' must start a repetition bound"},
        {"a{,3}", "'{' must start a repetition bound"},
        {"a{2", "'{' must start a repetition bound"},
        /* back-references make matching exponential */
        {"(a+)\\1", "back-references"},
        /* a bracket cut short after "[" (read past the end once) */
        {"a[b[", "regex 'a[b['"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        regex_t re;
        it_errbuf err = {{0}};
        if (it_tag_regex_compile(&re, cases[i].re, &err) == 0) {
            regfree(&re);
            fail_msg("'%s' accepted", cases[i].re);
        }
        if (strstr(err.msg, cases[i].want) == NULL)
            fail_msg("'%s': message '%s' lacks '%s'", cases[i].re, err.msg,
                     cases[i].want);
    }
    char big[2000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    regex_t re;
    it_errbuf err = {{0}};
    assert_int_equal(it_tag_regex_compile(&re, big, &err), -1);
    assert_non_null(strstr(err.msg, "longer than"));
}

static void test_semver_parse(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int ok;
        long ma, mi, pa;
        const char *pre;
    } cases[] = {
        {"1.2.3", 0, 1, 2, 3, NULL},
        {"v1.2.3", 0, 1, 2, 3, NULL},
        {"V10.0.1", 0, 10, 0, 1, NULL},
        {"v1.4", 0, 1, 4, 0, NULL},
        {"2", 0, 2, 0, 0, NULL},
        {"1.2.3-rc.1", 0, 1, 2, 3, "rc.1"},
        {"1.2.3-rc.1+build.5", 0, 1, 2, 3, "rc.1"},
        {"1.2.3+build", 0, 1, 2, 3, NULL},
        {"1.0.0-x-y.7", 0, 1, 0, 0, "x-y.7"},
        {"latest", -1, 0, 0, 0, NULL},
        {"", -1, 0, 0, 0, NULL},
        {"v", -1, 0, 0, 0, NULL},
        {"01.2.3", -1, 0, 0, 0, NULL},
        {"1.02", -1, 0, 0, 0, NULL},
        {"1.2.3.4", -1, 0, 0, 0, NULL},
        {"1.2.3-", -1, 0, 0, 0, NULL},
        {"1.2.3-01", -1, 0, 0, 0, NULL},
        {"1.2.3-a..b", -1, 0, 0, 0, NULL},
        {"1.2.3+", -1, 0, 0, 0, NULL},
        {"1234567890.0.0", -1, 0, 0, 0, NULL},
        {"1.2.x", -1, 0, 0, 0, NULL},
        {"1.2.3_x", -1, 0, 0, 0, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        it_semver v;
        int rc = it_semver_parse(cases[i].s, &v);
        if (rc != cases[i].ok)
            fail_msg("'%s': rc %d, expected %d", cases[i].s, rc, cases[i].ok);
        if (rc != 0)
            continue;
        assert_int_equal(v.major, cases[i].ma);
        assert_int_equal(v.minor, cases[i].mi);
        assert_int_equal(v.patch, cases[i].pa);
        if (cases[i].pre == NULL) {
            assert_null(v.pre);
        } else {
            assert_int_equal(v.pre_len, strlen(cases[i].pre));
            assert_memory_equal(v.pre, cases[i].pre, v.pre_len);
        }
    }
}

/* semver.org's own example: each is lower than the next. */
static void test_semver_order(void **state)
{
    (void)state;
    static const char *const asc[] = {
        "1.0.0-alpha",  "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta",
        "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1",       "1.0.0",
        "1.0.1",        "1.1.0",         "1.10.0",           "2.0.0",
    };
    size_t n = sizeof asc / sizeof asc[0];
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++) {
            it_semver a, b;
            assert_int_equal(it_semver_parse(asc[i], &a), 0);
            assert_int_equal(it_semver_parse(asc[j], &b), 0);
            int d = it_semver_cmp(&a, &b);
            int want = i < j ? -1 : i > j ? 1 : 0;
            if ((d > 0) - (d < 0) != want)
                fail_msg("cmp(%s, %s) = %d, expected %d", asc[i], asc[j], d,
                         want);
        }
    }
    it_semver a, b;
    assert_int_equal(it_semver_parse("v1.4", &a), 0);
    assert_int_equal(it_semver_parse("1.4.0+b7", &b), 0);
    assert_int_equal(it_semver_cmp(&a, &b), 0); /* build is ignored */
}

static bool range_ok(const char *range, const char *ver)
{
    it_semver_range *r = NULL;
    it_errbuf err = {{0}};
    it_semver v;
    if (it_semver_range_parse(&r, range, &err) != 0)
        fail_msg("range '%s' refused: %s", range, err.msg);
    if (it_semver_parse(ver, &v) != 0)
        fail_msg("'%s' is no version", ver);
    bool m = it_semver_range_match(r, &v);
    it_semver_range_free(r);
    return m;
}

static void test_semver_ranges(void **state)
{
    (void)state;
    static const struct {
        const char *range, *ver;
        bool ok;
    } cases[] = {
        /* the example */
        {">=1.4 <3", "1.4.0", true},
        {">=1.4 <3", "2.9.9", true},
        {">=1.4 <3", "1.3.9", false},
        {">=1.4 <3", "3.0.0", false},
        {">=1.4 <3", "2.0.0-rc1", false}, /* prerelease not named */
        {">= 1.4  < 3", "2.0.0", true},   /* blanks after operators */
        /* each operator */
        {">1.4.2", "1.4.3", true},
        {">1.4.2", "1.4.2", false},
        {">1.4", "1.4.1", true}, /* missing parts are 0 */
        {"<=1.4.2", "1.4.2", true},
        {"<=1.4.2", "1.4.3", false},
        {"<1.4.2", "1.4.1", true},
        {"<1.4.2", "1.4.2", false},
        {"=1.4.2", "1.4.2", true},
        {"=1.4.2", "1.4.3", false},
        {"1.4.2", "v1.4.2", true},
        {"=1.4", "1.4.9", true}, /* partial '=' is 1.4.x */
        {"=1.4", "1.5.0", false},
        {"!=1.4.2", "1.4.2", false},
        {"!=1.4.2", "1.4.3", true},
        {"!=1.4", "1.4.7", false},
        {">=1 !=1.4", "1.5.0", true},
        {">=1 !=1.4", "1.3.0", true},
        {">=1 !=1.4", "0.9.0", false},
        /* tilde */
        {"~1.4.2", "1.4.9", true},
        {"~1.4.2", "1.4.1", false},
        {"~1.4.2", "1.5.0", false},
        {"~1.4", "1.4.0", true},
        {"~1", "1.9.0", true},
        {"~1", "2.0.0", false},
        /* caret */
        {"^1.4", "1.9.9", true},
        {"^1.4", "2.0.0", false},
        {"^1.4", "1.3.0", false},
        {"^0.4.2", "0.4.9", true},
        {"^0.4.2", "0.5.0", false},
        {"^0.0.3", "0.0.3", true},
        {"^0.0.3", "0.0.4", false},
        {"^0", "0.9.0", true},
        {"^0", "1.0.0", false},
        /* x-ranges */
        {"1.4.x", "1.4.7", true},
        {"1.4.x", "1.5.0", false},
        {"1.x", "1.9.0", true},
        {"1.*", "2.0.0", false},
        {"*", "0.0.1", true},
        {"x", "9.9.9", true},
        /* OR */
        {"<1 || >=2.5", "0.3.0", true},
        {"<1 || >=2.5", "2.6.0", true},
        {"<1 || >=2.5", "1.5.0", false},
        /* prerelease named in the set, same MAJOR.MINOR.PATCH */
        {">=2.0.0-rc.1", "2.0.0-rc.2", true},
        {">=2.0.0-rc.1", "2.0.0", true},
        {">=2.0.0-rc.1", "2.1.0-rc.1", false},
        {">=2.0.0-rc.1", "2.0.0-beta", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (range_ok(cases[i].range, cases[i].ver) != cases[i].ok)
            fail_msg("'%s' on %s: expected %s", cases[i].range, cases[i].ver,
                     cases[i].ok ? "a match" : "no match");
}

static void test_semver_range_errors(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",        "   ",    ">=",  ">=1.4 ||", "|| 1",    "1 | 2",
        ">=1.x.3", "latest", ">>1", "~*",       "1.2.3.4", ">=01.2",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        it_semver_range *r = NULL;
        it_errbuf err = {{0}};
        if (it_semver_range_parse(&r, bad[i], &err) == 0) {
            it_semver_range_free(r);
            fail_msg("'%s' accepted", bad[i]);
        }
        assert_null(r);
        if (strstr(err.msg, "semver constraint") == NULL)
            fail_msg("'%s': message '%s'", bad[i], err.msg);
    }
}

static void test_filter_check(void **state)
{
    (void)state;
    char *inc[] = {"^v\\d+\\.\\d+\\.\\d+", "^release-", NULL};
    char *exc[] = {"-rc", "^dev-", NULL};
    it_tagfilter *f = NULL;
    it_errbuf err = {{0}};
    assert_int_equal(it_tagfilter_new(&f, inc, exc, ">=1.4 <3", 10, &err), 0);
    assert_true(it_tagfilter_active(f));
    assert_int_equal(it_tagfilter_latest(f), 10);
    assert_int_equal(it_tagfilter_check(f, "v1.5.0"), IT_TF_KEEP);
    assert_int_equal(it_tagfilter_check(f, "latest"), IT_TF_REGEX);
    /* exclude wins over include */
    assert_int_equal(it_tagfilter_check(f, "v1.5.0-rc1"), IT_TF_EXCLUDE);
    assert_int_equal(it_tagfilter_check(f, "v1.3.0"), IT_TF_SEMVER);
    assert_int_equal(it_tagfilter_check(f, "release-x"), IT_TF_SEMVER);
    it_tagfilter_free(f);

    /* no include list: everything is included; exclude alone */
    assert_int_equal(it_tagfilter_new(&f, NULL, exc, NULL, 0, &err), 0);
    assert_int_equal(it_tagfilter_check(f, "anything"), IT_TF_KEEP);
    assert_int_equal(it_tagfilter_check(f, "dev-3"), IT_TF_EXCLUDE);
    it_tagfilter_free(f);

    /* an empty filter keeps all and is not active */
    assert_int_equal(it_tagfilter_new(&f, NULL, NULL, NULL, 0, &err), 0);
    assert_false(it_tagfilter_active(f));
    assert_int_equal(it_tagfilter_check(f, "x"), IT_TF_KEEP);
    it_tagfilter_free(f);
    it_tagfilter_free(NULL);

    char *badre[] = {"ok", "(", NULL};
    assert_int_equal(it_tagfilter_new(&f, badre, NULL, NULL, 0, &err), -1);
    assert_null(f);
    assert_non_null(strstr(err.msg, "tags: regex '('"));
    assert_int_equal(it_tagfilter_new(&f, NULL, badre, NULL, 0, &err), -1);
    assert_non_null(strstr(err.msg, "exclude: regex '('"));
    assert_int_equal(it_tagfilter_new(&f, NULL, NULL, ">=x1", 0, &err), -1);
    assert_non_null(strstr(err.msg, "semver constraint"));
}

static void test_order_semver(void **state)
{
    (void)state;
    it_tag_candidate c[] = {
        {"1.9.0", 0}, {"v1.10.0", 0}, {"1.10.0-rc.1", 0},
        {"2.0.0", 0}, {"1.2", 0},     {"v1.2.0", 0},
    };
    size_t n = sizeof c / sizeof c[0];
    assert_true(it_tags_all_semver(c, n));
    it_tags_sort_newest(c, n, IT_ORDER_SEMVER);
    static const char *const want[] = {"2.0.0", "v1.10.0", "1.10.0-rc.1",
                                       "1.9.0", "1.2",     "v1.2.0"};
    for (size_t i = 0; i < n; i++)
        assert_string_equal(c[i].tag, want[i]);
    it_tag_candidate d[] = {{"1.0.0", 0}, {"latest", 0}};
    assert_false(it_tags_all_semver(d, 2));
    assert_false(it_tags_all_semver(d, 0));
}

static void test_order_created(void **state)
{
    (void)state;
    it_tag_candidate c[] = {
        {"b", 100}, {"nodate", LLONG_MIN},      {"a", 100}, {"new", 300},
        {"old", 5}, {"also-nodate", LLONG_MIN},
    };
    size_t n = sizeof c / sizeof c[0];
    it_tags_sort_newest(c, n, IT_ORDER_CREATED);
    static const char *const want[] = {"new", "a",           "b",
                                       "old", "also-nodate", "nodate"};
    for (size_t i = 0; i < n; i++)
        assert_string_equal(c[i].tag, want[i]);
    /* push time: the lister's order is kept */
    it_tag_candidate p[] = {{"z", 0}, {"a", 0}};
    it_tags_sort_newest(p, 2, IT_ORDER_PUSH_TIME);
    assert_string_equal(p[0].tag, "z");
    assert_string_equal(it_tag_order_name(IT_ORDER_SEMVER), "semver");
    assert_string_equal(it_tag_order_name(IT_ORDER_CREATED), "created");
    assert_string_equal(it_tag_order_name(IT_ORDER_PUSH_TIME), "push_time");
}

/* The summary's note on what --latest left out: singular for one tag. */
static void test_latest_note(void **state)
{
    (void)state;
    char buf[128];
    int n = it_latest_note(buf, sizeof(buf), 1, "--latest=1");
    assert_string_equal(buf, "1 older tag was left out by --latest=1");
    assert_int_equal(n, (int)strlen(buf));
    it_latest_note(buf, sizeof(buf), 3, "--latest=2");
    assert_string_equal(buf, "3 older tags were left out by --latest=2");
    it_latest_note(buf, sizeof(buf), 2, "--ccrTagNums=5");
    assert_string_equal(buf, "2 older tags were left out by --ccrTagNums=5");
    it_latest_note(buf, sizeof(buf), 11, "latest");
    assert_string_equal(buf, "11 older tags were left out by latest");
    /* a short buffer: cut, terminated, the whole length returned */
    char small[8];
    n = it_latest_note(small, sizeof(small), 1, "--latest=1");
    assert_string_equal(small, "1 older");
    assert_int_equal(n, (int)strlen("1 older tag was left out by --latest=1"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_regex_cases),
        cmocka_unit_test(test_regex_errors),
        cmocka_unit_test(test_semver_parse),
        cmocka_unit_test(test_semver_order),
        cmocka_unit_test(test_semver_ranges),
        cmocka_unit_test(test_semver_range_errors),
        cmocka_unit_test(test_filter_check),
        cmocka_unit_test(test_order_semver),
        cmocka_unit_test(test_order_created),
        cmocka_unit_test(test_latest_note),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
