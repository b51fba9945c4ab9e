/*
 * test_reference.c - reference parsing against the table in
 * tests/fixtures/references.txt, reg_ref_format round trips, validators.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "reg_fixture.h"
#include "registry.h"

/* Splits a line into at most max whitespace-separated fields; the last
 * field gets the rest of the line. Returns the count. */
static int split(char *line, char **f, int max)
{
    int n = 0;
    char *p = line;
    while (n < max) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0')
            break;
        f[n++] = p;
        if (n == max)
            break;
        while (*p != '\0' && *p != ' ' && *p != '\t')
            p++;
        if (*p == '\0')
            break;
        *p++ = '\0';
    }
    return n;
}

static int check_fields(const char *where, const reg_ref *r, const char *dom,
                        const char *path, const char *tag, const char *dig)
{
    int bad = 0;
    if (!fx_streq_opt(r->domain, dom) || !fx_streq_opt(r->path, path) ||
        !fx_streq_opt(r->tag, tag) || !fx_streq_opt(r->digest, dig)) {
        print_message("%s: got %s %s %s %s, want %s %s %s %s\n", where,
                      r->domain, r->path, r->tag ? r->tag : "-",
                      r->digest ? r->digest : "-", dom, path, tag ? tag : "-",
                      dig ? dig : "-");
        bad = 1;
    }
    return bad;
}

/* One OK row: fields, then format -> expected string -> parse again. */
static int check_ok_row(int lineno, const char *input, char **f)
{
    reg_ref *r = NULL;
    reg_ref *r2 = NULL;
    reg_error err;
    char *s = NULL;
    char want[2048];
    int bad = 0;
    const char *dom = fx_opt(f[0]);
    const char *path = fx_opt(f[1]);
    const char *tag = fx_opt(f[2]);
    const char *dig = fx_opt(f[3]);

    reg_error_clear(&err);
    if (reg_ref_parse(&r, input, &err) != 0) {
        print_message("line %d '%s': unexpected error: %s\n", lineno, input,
                      err.msg);
        return 1;
    }
    char where[64];
    snprintf(where, sizeof(where), "line %d", lineno);
    bad |= check_fields(where, r, dom, path, tag, dig);

    snprintf(want, sizeof(want), "%s/%s%s%s%s%s", dom, path, tag ? ":" : "",
             tag ? tag : "", dig ? "@" : "", dig ? dig : "");
    s = reg_ref_format(r);
    if (s == NULL || strcmp(s, want) != 0) {
        print_message("line %d: format gave '%s', want '%s'\n", lineno,
                      s ? s : "(null)", want);
        bad = 1;
    } else if (reg_ref_parse(&r2, s, &err) != 0) {
        print_message("line %d: formatted '%s' does not parse: %s\n", lineno, s,
                      err.msg);
        bad = 1;
    } else {
        snprintf(where, sizeof(where), "line %d round trip", lineno);
        bad |= check_fields(where, r2, dom, path, tag, dig);
    }
    free(s);

    char *repo = reg_ref_repo(r);
    snprintf(want, sizeof(want), "%s/%s", dom, path);
    if (repo == NULL || strcmp(repo, want) != 0) {
        print_message("line %d: repo '%s', want '%s'\n", lineno,
                      repo ? repo : "(null)", want);
        bad = 1;
    }
    free(repo);
    reg_ref_free(r);
    reg_ref_free(r2);
    return bad;
}

static int check_err_row(int lineno, const char *input, const char *substr)
{
    reg_ref *r = (reg_ref *)0x1;
    reg_error err;
    reg_error_clear(&err);
    int rc = reg_ref_parse(&r, input, &err);
    if (rc != REG_EINVAL || r != NULL || err.code != REG_EINVAL) {
        print_message("line %d '%s': rc %d (want REG_EINVAL), out %s\n", lineno,
                      input, rc, r ? "set" : "NULL");
        reg_ref_free(rc == 0 ? r : NULL);
        return 1;
    }
    if (strstr(err.msg, substr) == NULL) {
        print_message("line %d '%s': message '%s' lacks '%s'\n", lineno, input,
                      err.msg, substr);
        return 1;
    }
    return 0;
}

static void test_reference_table(void **state)
{
    (void)state;
    char path[1024];
    char *text = fx_read(fx_path(path, sizeof(path), "references.txt"), NULL);
    assert_non_null(text);
    char *cursor = text;
    char *line;
    int lineno = 0;
    int rows = 0;
    int ok_rows = 0;
    int failures = 0;
    while ((line = fx_next_line(&cursor)) != NULL) {
        lineno++;
        if (line[0] == '#' || line[strspn(line, " \t")] == '\0')
            continue;
        char *f[6] = {0};
        int n = split(line, f, 2);
        assert_int_equal(n, 2);
        char *input = f[0];
        if (strcmp(input, "<empty>") == 0)
            input[0] = '\0';
        else
            fx_unescape(input);
        rows++;
        if (strncmp(f[1], "ERR ", 4) == 0) {
            failures += check_err_row(lineno, input, f[1] + 4);
            continue;
        }
        char *g[5] = {0};
        if (split(f[1], g, 5) != 4) {
            print_message("line %d: malformed fixture row\n", lineno);
            failures++;
            continue;
        }
        ok_rows++;
        failures += check_ok_row(lineno, input, g);
    }
    free(text);
    print_message("%d rows (%d valid), %d failures\n", rows, ok_rows, failures);
    assert_true(rows >= 60);
    assert_true(ok_rows >= 20);
    assert_int_equal(failures, 0);
}

static void test_canonical_host(void **state)
{
    (void)state;
    assert_string_equal(reg_canonical_host("docker.io"),
                        "registry-1.docker.io");
    assert_string_equal(reg_canonical_host("index.docker.io"),
                        "registry-1.docker.io");
    assert_string_equal(reg_canonical_host("registry.hub.docker.com"),
                        "registry-1.docker.io");
    const char *h = "quay.io";
    assert_ptr_equal(reg_canonical_host(h), h);
    assert_null(reg_canonical_host(NULL));
}

static void test_validators(void **state)
{
    (void)state;
    assert_true(reg_valid_tag("latest"));
    assert_true(reg_valid_tag("_x"));
    assert_false(reg_valid_tag(""));
    assert_false(reg_valid_tag(NULL));
    assert_false(reg_valid_tag(".x"));
    assert_false(reg_valid_tag("a:b"));
    assert_true(reg_valid_digest("sha256:"
                                 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b"
                                 "934ca495991b7852b855"));
    assert_false(reg_valid_digest("sha256:e3b0"));
    assert_false(reg_valid_digest("md5:d41d8cd98f00b204e9800998ecf8427e"));
    assert_false(reg_valid_digest(NULL));
    assert_true(reg_valid_path("a/b/c"));
    assert_true(reg_valid_path("a__b/c-d"));
    assert_false(reg_valid_path("a/B"));
    assert_false(reg_valid_path(""));
    assert_false(reg_valid_path("a/"));
    assert_false(reg_valid_path(NULL));
}

/* A reference built by hand (not from the parser) formats as documented. */
static void test_format_fields(void **state)
{
    (void)state;
    char dom[] = "h:1";
    char path[] = "p";
    char tag[] = "t";
    reg_ref r = {dom, path, tag, NULL};
    char *s = reg_ref_format(&r);
    assert_string_equal(s, "h:1/p:t");
    free(s);
    r.tag = NULL;
    s = reg_ref_format(&r);
    assert_string_equal(s, "h:1/p");
    free(s);
    assert_null(reg_ref_format(NULL));
    assert_int_equal(reg_ref_parse(NULL, "x", NULL), REG_EINVAL);
    reg_ref *out = NULL;
    assert_int_equal(reg_ref_parse(&out, NULL, NULL), REG_EINVAL);
    assert_null(out);
}

/* Credentials pasted into a reference ("user:pass@host/repo") parse as a
 * bad digest; the message must not repeat them. */
static void test_no_credentials_in_message(void **state)
{
    (void)state;
    reg_ref *r = NULL;
    reg_error err;
    reg_error_clear(&err);
    assert_int_equal(
        reg_ref_parse(&r, "user:s3cr3tpw@registry.example.com/x", &err),
        REG_EINVAL);
    assert_null(r);
    assert_non_null(strstr(err.msg, "invalid digest"));
    assert_null(strstr(err.msg, "s3cr3tpw"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_table),
        cmocka_unit_test(test_canonical_host),
        cmocka_unit_test(test_validators),
        cmocka_unit_test(test_format_fields),
        cmocka_unit_test(test_no_credentials_in_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
