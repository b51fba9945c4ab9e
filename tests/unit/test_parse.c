/*
 * test_parse.c - header parsers (WWW-Authenticate, Link), URL resolution,
 * HTTP error mapping, and the small library utilities (reg_error_prefix,
 * reg_buf, reg__escape). Tables live in tests/fixtures/.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "internal.h"
#include "reg_fixture.h"
#include "registry.h"

#define MAX_KV 16

/* One block of "key: value" lines. */
typedef struct block {
    int line;
    int n;
    char *key[MAX_KV];
    char *val[MAX_KV];
} block;

/* The value of the first line with this key, or NULL. */
static char *kv_get(const block *b, const char *key)
{
    for (int i = 0; i < b->n; i++) {
        if (strcmp(b->key[i], key) == 0)
            return b->val[i];
    }
    return NULL;
}

typedef int (*block_fn)(const block *b);

/* Runs fn on every block of the fixture; returns the number of failures
 * and stores the number of blocks in *count. */
static int for_each_block(const char *name, block_fn fn, int *count)
{
    char path[1024];
    char *text = fx_read(fx_path(path, sizeof(path), name), NULL);
    assert_non_null(text);
    char *cursor = text;
    int lineno = 0;
    int failures = 0;
    block b;
    memset(&b, 0, sizeof(b));
    *count = 0;
    for (;;) {
        char *line = fx_next_line(&cursor);
        lineno++;
        if (line == NULL || line[0] == '\0') {
            if (b.n > 0) {
                failures += fn(&b);
                (*count)++;
            }
            memset(&b, 0, sizeof(b));
            if (line == NULL)
                break;
            continue;
        }
        if (line[0] == '#')
            continue;
        char *colon = strchr(line, ':');
        assert_non_null(colon);
        assert_true(b.n < MAX_KV);
        if (b.n == 0)
            b.line = lineno;
        *colon = '\0';
        b.key[b.n] = line;
        b.val[b.n] = colon[1] == ' ' ? colon + 2 : colon + 1;
        b.n++;
    }
    free(text);
    return failures;
}

/* Decodes a table value: <empty> -> "", <none> -> NULL, else escapes. */
static char *decode(char *v, size_t *len)
{
    if (strcmp(v, "<none>") == 0) {
        *len = 0;
        return NULL;
    }
    if (strcmp(v, "<empty>") == 0)
        v[0] = '\0';
    *len = fx_unescape(v);
    return v;
}

/* ------------------------------------------------------ WWW-Authenticate */

static int check_field(const block *b, const char *name, const char *got)
{
    char *want = kv_get(b, name);
    size_t len;
    if (want != NULL)
        want = decode(want, &len);
    if (!fx_streq_opt(got, want)) {
        print_message("line %d: %s = '%s', want '%s'\n", b->line, name,
                      got ? got : "(null)", want ? want : "(null)");
        return 1;
    }
    return 0;
}

static int run_challenge(const block *b)
{
    size_t len;
    char *header = decode(kv_get(b, "header"), &len);
    char *fail = kv_get(b, "fail");
    reg_challenge *c = NULL;
    reg_error err;
    reg_error_clear(&err);
    int rc = reg_challenge_parse(&c, header, &err);
    int bad = 0;
    if (fail != NULL) {
        if (rc != REG_EINVAL || c != NULL || strstr(err.msg, fail) == NULL) {
            print_message("line %d: rc %d msg '%s', want failure with '%s'\n",
                          b->line, rc, err.msg, fail);
            bad = 1;
        }
        reg_challenge_free(c);
        return bad;
    }
    if (rc != 0 || c == NULL) {
        print_message("line %d: unexpected error %d: %s\n", b->line, rc,
                      err.msg);
        return 1;
    }
    bad |= check_field(b, "scheme", c->scheme);
    bad |= check_field(b, "realm", c->realm);
    bad |= check_field(b, "service", c->service);
    bad |= check_field(b, "scope", c->scope);
    bad |= check_field(b, "error", c->error);
    reg_challenge_free(c);
    return bad;
}

static void test_www_authenticate(void **state)
{
    (void)state;
    int n = 0;
    int failures = for_each_block("www-authenticate.txt", run_challenge, &n);
    print_message("%d challenges, %d failures\n", n, failures);
    assert_true(n >= 25);
    assert_int_equal(failures, 0);
    reg_challenge *c = NULL;
    assert_int_equal(reg_challenge_parse(&c, NULL, NULL), REG_EINVAL);
    assert_null(c);
    reg_challenge_free(NULL);
}

/* ----------------------------------------------------------------- Link */

static int run_link(const block *b)
{
    size_t len;
    char *header = decode(kv_get(b, "header"), &len);
    char *want = kv_get(b, "next");
    char *fail = kv_get(b, "fail");
    char *got = (char *)"sentinel";
    int rc = reg_link_next(&got, header);
    int bad = 0;
    if (fail != NULL) {
        if (rc != REG_EINVAL || got != NULL) {
            print_message("line %d: rc %d, want REG_EINVAL and NULL\n", b->line,
                          rc);
            bad = 1;
        }
    } else if (rc != 0 || !fx_streq_opt(got, fx_opt(want))) {
        print_message("line %d: rc %d next '%s', want '%s'\n", b->line, rc,
                      got ? got : "-", want);
        bad = 1;
    }
    if (rc == 0)
        free(got);
    return bad;
}

static void test_link(void **state)
{
    (void)state;
    int n = 0;
    int failures = for_each_block("link.txt", run_link, &n);
    print_message("%d links, %d failures\n", n, failures);
    assert_true(n >= 20);
    assert_int_equal(failures, 0);
    char *out = (char *)"x";
    assert_int_equal(reg_link_next(&out, NULL), 0);
    assert_null(out);
}

/* ---------------------------------------------------------- URL resolve */

static void test_url_resolve(void **state)
{
    (void)state;
    char path[1024];
    char *text = fx_read(fx_path(path, sizeof(path), "url-resolve.txt"), NULL);
    assert_non_null(text);
    char *cursor = text;
    char *line;
    int lineno = 0;
    int rows = 0;
    int failures = 0;
    while ((line = fx_next_line(&cursor)) != NULL) {
        lineno++;
        if (line[0] == '#' || line[0] == '\0')
            continue;
        char *f[3];
        char *save = line;
        for (int i = 0; i < 3; i++) {
            f[i] = save;
            char *sp = strchr(save, ' ');
            assert_true(i == 2 || sp != NULL);
            if (sp != NULL) {
                *sp = '\0';
                save = sp + 1;
            }
        }
        for (int i = 0; i < 3; i++) {
            if (strcmp(f[i], "<empty>") == 0)
                f[i][0] = '\0';
        }
        rows++;
        char *got = reg_url_resolve(fx_opt(f[0]), fx_opt(f[1]));
        if (!fx_streq_opt(got, fx_opt(f[2]))) {
            print_message("line %d: resolve(%s, %s) = %s, want %s\n", lineno,
                          f[0], f[1], got ? got : "-", f[2]);
            failures++;
        }
        free(got);
    }
    free(text);
    print_message("%d cases, %d failures\n", rows, failures);
    assert_true(rows >= 20);
    assert_int_equal(failures, 0);
}

/* ------------------------------------------------------ HTTP error map */

static int code_from_name(const char *name)
{
    static const struct {
        const char *name;
        int code;
    } codes[] = {
        {"REG_OK", REG_OK},
        {"REG_ERR", REG_ERR},
        {"REG_ENOTFOUND", REG_ENOTFOUND},
        {"REG_EAUTH", REG_EAUTH},
        {"REG_EDENIED", REG_EDENIED},
        {"REG_ERETRY", REG_ERETRY},
        {"REG_EDIGEST", REG_EDIGEST},
        {"REG_EINVAL", REG_EINVAL},
        {"REG_EUNSUPPORTED", REG_EUNSUPPORTED},
    };
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        if (strcmp(codes[i].name, name) == 0)
            return codes[i].code;
    }
    fail_msg("unknown code name '%s'", name);
    return 1;
}

static int run_http_error(const block *b)
{
    size_t len = 0;
    size_t wlen = 0;
    char *end = NULL;
    long status = strtol(kv_get(b, "status"), &end, 10);
    assert_true(end != NULL && *end == '\0');
    char *body = decode(kv_get(b, "body"), &len);
    char *what = decode(kv_get(b, "what"), &wlen);
    int want = code_from_name(kv_get(b, "code"));
    const char *rcode = fx_opt(kv_get(b, "registry-code"));
    int bad = 0;

    reg_error err;
    reg_error_clear(&err);
    int rc = reg_error_from_http(&err, status, body, len, what);
    if (rc != want || err.code != want) {
        print_message("line %d: code %d (%s), want %d: %s\n", b->line, rc,
                      reg_strerror(rc), want, err.msg);
        bad = 1;
    }
    if (reg_error_from_http(NULL, status, body, len, what) != want) {
        print_message("line %d: different code without err\n", b->line);
        bad = 1;
    }
    if (err.http_status != status) {
        print_message("line %d: http_status %ld\n", b->line, err.http_status);
        bad = 1;
    }
    if (strcmp(err.registry_code, rcode ? rcode : "") != 0) {
        print_message("line %d: registry_code '%s', want '%s'\n", b->line,
                      err.registry_code, rcode ? rcode : "");
        bad = 1;
    }
    for (int i = 0; i < b->n; i++) {
        bool must = strcmp(b->key[i], "msg") == 0;
        bool must_not = strcmp(b->key[i], "msg-not") == 0;
        if ((must || must_not) &&
            (strstr(err.msg, b->val[i]) != NULL) != must) {
            print_message("line %d: message '%s' %s '%s'\n", b->line, err.msg,
                          must ? "lacks" : "contains", b->val[i]);
            bad = 1;
        }
    }
    char *max = kv_get(b, "max-len");
    if (max != NULL && strlen(err.msg) > (size_t)strtol(max, NULL, 10)) {
        print_message("line %d: message of %zu bytes\n", b->line,
                      strlen(err.msg));
        bad = 1;
    }
    for (const char *p = err.msg; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c >= 0x7f) {
            print_message("line %d: byte 0x%02x in message\n", b->line, c);
            bad = 1;
            break;
        }
    }
    return bad;
}

static void test_http_errors(void **state)
{
    (void)state;
    int n = 0;
    int failures = for_each_block("http-errors.txt", run_http_error, &n);
    print_message("%d HTTP error cases, %d failures\n", n, failures);
    assert_true(n >= 40);
    assert_int_equal(failures, 0);
}

/* ------------------------------------------------------------ utilities */

static void test_error_helpers(void **state)
{
    (void)state;
    reg_error err;
    reg_error_clear(&err);
    assert_int_equal(err.code, 0);
    assert_int_equal(err.retry_after, -1);
    assert_int_equal(reg_error_set(NULL, REG_EDIGEST, "x"), REG_EDIGEST);
    assert_int_equal(reg_error_set(&err, REG_ENOTFOUND, "blob %s", "b"),
                     REG_ENOTFOUND);
    reg_error_prefix(&err, "copy %s", "a/b");
    assert_string_equal(err.msg, "copy a/b: blob b");
    /* The same context is not stacked twice (retry loops). */
    reg_error_prefix(&err, "copy %s", "a/b");
    assert_string_equal(err.msg, "copy a/b: blob b");
    reg_error_prefix(&err, "image x");
    assert_string_equal(err.msg, "image x: copy a/b: blob b");
    assert_int_equal(err.code, REG_ENOTFOUND);
    reg_error_prefix(NULL, "x");

    /* A long inner message keeps the prefix and is cut at the end. */
    char big[600];
    memset(big, 'z', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    reg_error_set(&err, REG_ERR, "%s", big);
    reg_error_prefix(&err, "ctx");
    assert_int_equal(strncmp(err.msg, "ctx: zzz", 8), 0);
    assert_int_equal(strlen(err.msg), sizeof(err.msg) - 1);

    reg_error_clear(&err);
    reg_error_prefix(&err, "only");
    assert_string_equal(err.msg, "only");

    assert_string_equal(reg_strerror(REG_ENOTFOUND), "not found");
    assert_string_equal(reg_strerror(REG_EAUTH), "unauthorized");
    assert_string_equal(reg_strerror(12345), "unknown error");
    for (int a = REG_ELIMIT; a <= REG_OK; a++) {
        for (int b = a + 1; b <= REG_OK; b++)
            assert_string_not_equal(reg_strerror(a), reg_strerror(b));
    }
    assert_true(reg_error_retryable(REG_ERETRY));
    assert_false(reg_error_retryable(REG_EAUTH));
    assert_false(reg_error_retryable(REG_ENOTFOUND));
    assert_false(reg_error_retryable(REG_EDIGEST));
    assert_string_equal(reg_strerror(REG_ELIMIT), "limit exceeded");
    assert_false(reg_error_retryable(REG_ELIMIT));
}

/* Every header goes through one builder that refuses control bytes. */
static void test_header_add(void **state)
{
    (void)state;
    struct curl_slist *l = NULL;
    reg_error err;
    reg_error_clear(&err);
    assert_int_equal(
        reg__header_add(&l, "Content-Type",
                        "application/vnd.oci.image.manifest.v1+json", &err),
        REG_OK);
    assert_int_equal(reg__header_add(&l, "Expect", "", &err), REG_OK);
    assert_non_null(l);
    assert_string_equal(
        l->data, "Content-Type: application/vnd.oci.image.manifest.v1+json");
    assert_non_null(l->next);
    assert_string_equal(l->next->data, "Expect:");
    assert_null(l->next->next);

    /* The smuggling payload of issue 10, and every other control byte. */
    const char *evil[] = {
        "application/json\r\nContent-Length: 0\r\n\r\nDELETE /v2/x HTTP/1.1",
        "a\rb",
        "a\nb",
        "a\tb",
        "a\x01",
        "a\x1f",
        "a\x7f",
        "\x1b]0;x\x07",
    };
    for (size_t i = 0; i < sizeof(evil) / sizeof(evil[0]); i++) {
        reg_error_clear(&err);
        assert_int_equal(reg__header_add(&l, "Content-Type", evil[i], &err),
                         REG_EINVAL);
        assert_int_equal(err.code, REG_EINVAL);
        assert_non_null(strstr(err.msg, "control character"));
        /* The value itself is not echoed (it may be a credential). */
        assert_null(strchr(err.msg, '\r'));
        assert_null(strchr(err.msg, '\n'));
        assert_null(strstr(err.msg, "DELETE"));
    }
    reg_error_clear(&err);
    assert_int_equal(
        reg__header_add(&l, "Authorization", "Bearer s3cr3t\r\nX: y", &err),
        REG_EINVAL);
    assert_null(strstr(err.msg, "s3cr3t"));
    assert_int_equal(reg__header_add(&l, "X\r\nY", "v", &err), REG_EINVAL);
    assert_non_null(strstr(err.msg, "control character"));
    assert_int_equal(reg__header_add(&l, "X: Y", "v", NULL), REG_EINVAL);
    assert_int_equal(reg__header_add(&l, "", "v", NULL), REG_EINVAL);
    assert_int_equal(reg__header_add(&l, "X", NULL, NULL), REG_EINVAL);
    /* Nothing was appended by the refused calls. */
    assert_null(l->next->next);
    curl_slist_free_all(l);
}

static void test_url_check(void **state)
{
    (void)state;
    char *out = NULL;
    reg_error err;
    reg_error_clear(&err);
    assert_int_equal(reg__url_check(&out, "HTTP://Example.com:5000/v2/x?a=b",
                                    "redirect", &err),
                     REG_OK);
    assert_string_equal(out, "http://Example.com:5000/v2/x?a=b");
    free(out);
    assert_int_equal(
        reg__url_check(&out, "hTTpS://h/v2/x?y=%2F&z", "redirect", &err),
        REG_OK);
    assert_string_equal(out, "https://h/v2/x?y=%2F&z");
    free(out);
    const char *scheme[][2] = {
        {"file:///etc/passwd", "\"file\""},
        {"FTP://h/x", "\"FTP\""},
        {"gopher://h:70/_x", "\"gopher\""},
        {"javascript:alert(1)", "\"javascript\""},
        {"data:text/plain,x", "\"data\""},
    };
    for (size_t i = 0; i < sizeof(scheme) / sizeof(scheme[0]); i++) {
        reg_error_clear(&err);
        assert_int_equal(reg__url_check(&out, scheme[i][0], "redirect", &err),
                         REG_EINVAL);
        assert_null(out);
        assert_non_null(strstr(err.msg, "unsupported redirect"));
        assert_non_null(strstr(err.msg, scheme[i][1]));
    }
    const char *ctl[] = {"http://h/a b", "http://h/a\r\nX: y", "http://h/\x7f",
                         "http://h/\x1b[2J"};
    for (size_t i = 0; i < sizeof(ctl) / sizeof(ctl[0]); i++) {
        reg_error_clear(&err);
        assert_int_equal(reg__url_check(&out, ctl[i], "token realm", &err),
                         REG_EINVAL);
        assert_non_null(strstr(err.msg, "control character or space"));
    }
    assert_int_equal(reg__url_check(&out, "/v2/relative", "redirect", &err),
                     REG_EINVAL);
    assert_int_equal(reg__url_check(&out, "http://", "redirect", &err),
                     REG_EINVAL);
    assert_int_equal(reg__url_check(NULL, "https://ok/", "x", NULL), REG_OK);
    assert_int_equal(reg__scheme_len("HTTP://x"), 4);
    assert_int_equal(reg__scheme_len("/v2/"), 0);
    assert_int_equal(reg__scheme_len("1http://x"), 0);
}

static void test_token_parse(void **state)
{
    (void)state;
    const time_t now = 1700000000;
    char *tok = NULL;
    time_t at = 0;
    reg_error err;
    struct {
        const char *body;
        time_t want; /* refresh_at - now */
    } ok[] = {
        {"{\"token\":\"t\",\"expires_in\":300}", 300 - 30},
        {"{\"token\":\"t\"}", 60 - 15}, /* the spec's default */
        {"{\"access_token\":\"t\",\"expires_in\":60}", 60 - 15},
        {"{\"token\":\"\",\"access_token\":\"t\"}", 60 - 15},
        /* clamped to 24 h: no overflow from values a server controls */
        {"{\"token\":\"t\",\"expires_in\":9223372036854775807}", 86400 - 30},
        {"{\"token\":\"t\",\"expires_in\":9223372036854775806}", 86400 - 30},
        {"{\"token\":\"t\",\"expires_in\":1e300}", 86400 - 30},
        {"{\"token\":\"t\",\"expires_in\":86401}", 86400 - 30},
        /* clamped to 10 s */
        {"{\"token\":\"t\",\"expires_in\":-9223372036854775807}", 10 - 2},
        {"{\"token\":\"t\",\"expires_in\":0}", 10 - 2},
        {"{\"token\":\"t\",\"expires_in\":3}", 10 - 2},
        {"{\"token\":\"t\",\"expires_in\":-1e300}", 10 - 2},
        /* not a number: the default, never trusted */
        {"{\"token\":\"t\",\"expires_in\":\"9999999999999999999999\"}",
         60 - 15},
        {"{\"token\":\"t\",\"expires_in\":null}", 60 - 15},
        /* issued_at in the future is ignored; in the past it counts */
        {"{\"token\":\"t\",\"expires_in\":300,"
         "\"issued_at\":\"2100-01-01T00:00:00Z\"}",
         300 - 30},
        {"{\"token\":\"t\",\"expires_in\":300,"
         "\"issued_at\":\"2023-11-14T22:11:40Z\"}",
         300 - 30 - 100},
        {"{\"token\":\"t\",\"expires_in\":300,\"issued_at\":\"garbage\"}",
         300 - 30},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        reg_error_clear(&err);
        int rc = reg__token_parse(&tok, &at, ok[i].body, strlen(ok[i].body),
                                  now, &err);
        if (rc != REG_OK || tok == NULL || strcmp(tok, "t") != 0 ||
            at - now != ok[i].want)
            fail_msg("ok[%zu]: rc %d at-now %lld, want %lld: %s", i, rc,
                     (long long)(at - now), (long long)ok[i].want, err.msg);
        free(tok);
        tok = NULL;
    }
    const char *bad[] = {
        "",
        "null",
        "[]",
        "{}",
        "{\"token\":5}",
        "{\"token\":\"\"}",
        "not json",
        "{\"token\":\"t\"", /* cut */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        reg_error_clear(&err);
        assert_int_equal(
            reg__token_parse(&tok, &at, bad[i], strlen(bad[i]), now, &err),
            REG_EAUTH);
        assert_null(tok);
        assert_non_null(strstr(err.msg, "without a token"));
    }
    /* A token with bytes that could end the Authorization header. */
    const char *evil[] = {"{\"token\":\"abc\\r\\nX-Evil: 1\"}",
                          "{\"token\":\"a b\"}", "{\"token\":\"a\\u007f\"}",
                          "{\"token\":\"caf\\u00e9\"}"};
    for (size_t i = 0; i < sizeof(evil) / sizeof(evil[0]); i++) {
        reg_error_clear(&err);
        assert_int_equal(
            reg__token_parse(&tok, &at, evil[i], strlen(evil[i]), now, &err),
            REG_EINVAL);
        assert_null(tok);
        assert_null(strstr(err.msg, "abc"));
        assert_non_null(strstr(err.msg, "control character"));
    }
    assert_int_equal(reg__token_parse(&tok, &at, NULL, 0, now, NULL),
                     REG_EAUTH);
}

static void test_buf(void **state)
{
    (void)state;
    reg_buf b = {0};
    assert_int_equal(reg_buf_append(&b, NULL, 0), 0);
    assert_non_null(b.data);
    assert_string_equal(b.data, "");
    for (int i = 0; i < 1000; i++)
        assert_int_equal(reg_buf_append(&b, "abc", 3), 0);
    assert_int_equal(b.len, 3000);
    assert_int_equal(b.data[3000], '\0');
    assert_int_equal(memcmp(b.data + 2997, "abc", 3), 0);
    reg_buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);

    reg_buf m = {.max = 5};
    assert_int_equal(reg_buf_append(&m, "12345", 5), 0);
    assert_int_equal(reg_buf_append(&m, "6", 1), REG_EINVAL);
    assert_int_equal(m.len, 5);
    assert_string_equal(m.data, "12345");
    reg_buf_free(&m);
    reg_buf_free(NULL);
}

static void test_escape(void **state)
{
    (void)state;
    char *s = reg__escape("sha256:ab/c d&e=f~g_h.i-j");
    assert_string_equal(s, "sha256%3Aab%2Fc%20d%26e%3Df~g_h.i-j");
    free(s);
    s = reg__escape("");
    assert_string_equal(s, "");
    free(s);
    s = reg__escape("\xc3\xa9");
    assert_string_equal(s, "%C3%A9");
    free(s);
    assert_null(reg__escape(NULL));
}

/* The registry library's one Retry-After parser (client.c and blobcopy.c
 * both use it): delta-seconds and the three HTTP date forms, relative to
 * the given now; a date in the past is 0; anything else is -1. */
/* issue 15: RateLimit-* / X-RateLimit-* values, bounded and validated. */
static void test_parse_ratelimit(void **state)
{
    (void)state;
    time_t now = 1700000000;
#define RL(v, reset) reg__parse_ratelimit(v, strlen(v), reset, now)
    assert_int_equal(RL("100", false), 100);
    assert_int_equal(RL("0", false), 0);
    assert_int_equal(RL("100, 100;w=60", false), 100); /* first item */
    assert_int_equal(RL("50;w=1", false), 50);
    assert_int_equal(RL("30", true), 30);
    /* a Unix time (X-RateLimit-Reset): seconds left; past: 0 */
    assert_int_equal(RL("1700000042", true), 42);
    assert_int_equal(RL("1600000000", true), 0);
    /* malformed or out of bounds */
    assert_int_equal(RL("", false), -1);
    assert_int_equal(RL("-5", false), -1);
    assert_int_equal(RL("abc", false), -1);
    assert_int_equal(RL("12abc", false), -1);
    assert_int_equal(RL("1.5", false), -1);
    assert_int_equal(RL("1700000042", false), -1);
    assert_int_equal(RL("99999999999999999999999", true), -1);
#undef RL
    assert_int_equal(reg__parse_ratelimit(NULL, 0, false, now), -1);
    /* only n bytes are read */
    assert_int_equal(reg__parse_ratelimit("12345", 2, false, now), 12);
}

static void test_retry_after(void **state)
{
    (void)state;
    const time_t now = 784111777; /* Sun, 06 Nov 1994 08:49:37 GMT */
    assert_int_equal(reg__parse_retry_after("0", now), 0);
    assert_int_equal(reg__parse_retry_after("120", now), 120);
    assert_int_equal(reg__parse_retry_after("86400", now), 86400);
    /* IMF-fixdate, RFC 850 and asctime forms (RFC 9110 5.6.7) */
    assert_int_equal(
        reg__parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now), 30);
    assert_int_equal(
        reg__parse_retry_after("Sunday, 06-Nov-94 08:49:47 GMT", now), 10);
    assert_int_equal(reg__parse_retry_after("Sun Nov  6 08:51:37 1994", now),
                     120);
    /* a date already past means "now" */
    assert_int_equal(
        reg__parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now), 0);
    /* garbage */
    const char *bad[] = {"",
                         "-1",
                         "soon",
                         "12abc",
                         "1.5",
                         "0x10",
                         "-",
                         "Sun, 99 Foo 1994",
                         "99999999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(reg__parse_retry_after(bad[i], now), -1);
    assert_int_equal(reg__parse_retry_after(NULL, now), -1);
}

/* Content-Range of a 206 answer to "Range: bytes=N-" (blob resume). */
static void test_content_range(void **state)
{
    (void)state;
    int64_t first = 7, last = 7, total = 7;
    assert_int_equal(
        reg__content_range_parse("bytes 0-9/10", &first, &last, &total), 0);
    assert_true(first == 0 && last == 9 && total == 10);
    assert_int_equal(reg__content_range_parse("bytes 100-25165823/25165824",
                                              &first, &last, &total),
                     0);
    assert_true(first == 100 && last == 25165823 && total == 25165824);
    assert_int_equal(
        reg__content_range_parse("BYTES 5-5/*", &first, &last, &total), 0);
    assert_true(first == 5 && last == 5 && total == -1);
    /* hostile or malformed: overlapping, beyond the size, negative,
     * signs, blanks, huge, other units, unsatisfied-range form */
    const char *bad[] = {"",
                         "bytes",
                         "bytes ",
                         "bytes 9-0/10",
                         "bytes 0-10/10",
                         "bytes 5-20/10",
                         "bytes -1-5/10",
                         "bytes 1--5/10",
                         "bytes +1-5/10",
                         "bytes 1-+5/10",
                         "bytes 1-5/-10",
                         "bytes 1 -5/10",
                         "bytes 1-5/10 x",
                         "bytes 1-5/10\r\n",
                         "bytes */10",
                         "bytes 1-5",
                         "bytes 1-5/",
                         "items 1-5/10",
                         "bytes=1-5/10",
                         "bytes 0x1-5/10",
                         "bytes 1-5/99999999999999999999999",
                         "bytes 1-9007199254740993/9007199254740994",
                         "bytes 99999999999999999999-1/2"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(
            reg__content_range_parse(bad[i], &first, &last, &total), -1);
    }
    assert_int_equal(reg__content_range_parse(NULL, &first, &last, &total), -1);
}

/* Range of an upload session ("0-<end>", what the target holds). */
static void test_upload_range(void **state)
{
    (void)state;
    int64_t end = 7;
    assert_int_equal(reg__upload_range_parse("0-1023", &end), 0);
    assert_int_equal(end, 1023);
    assert_int_equal(reg__upload_range_parse("bytes=0-4", &end), 0);
    assert_int_equal(end, 4);
    assert_int_equal(reg__upload_range_parse("0-0", &end), 0);
    assert_int_equal(end, 0);
    const char *bad[] = {"",
                         "0",
                         "0-",
                         "-5",
                         "1-5",
                         "0--5",
                         "0-+5",
                         "0-5x",
                         "0- 5",
                         "0-5-6",
                         "bytes 0-5",
                         "0-99999999999999999999",
                         "0-9007199254740993"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(reg__upload_range_parse(bad[i], &end), -1);
    assert_int_equal(reg__upload_range_parse(NULL, &end), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_ratelimit),
        cmocka_unit_test(test_www_authenticate),
        cmocka_unit_test(test_link),
        cmocka_unit_test(test_url_resolve),
        cmocka_unit_test(test_http_errors),
        cmocka_unit_test(test_error_helpers),
        cmocka_unit_test(test_buf),
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_header_add),
        cmocka_unit_test(test_url_check),
        cmocka_unit_test(test_token_parse),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_content_range),
        cmocka_unit_test(test_upload_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
