/*
 * test_manifest.c - manifest parsing against the fixtures in
 * tests/fixtures/manifests/ and the expectations in expect.txt (digests
 * there were computed with sha256sum, independently of this code).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "reg_fixture.h"
#include "registry.h"

#define MAX_DESC 16

typedef struct exp_desc {
    const char *digest;
    long long size;
    const char *extra; /* media type (blob) or platform (child) */
} exp_desc;

typedef struct expect {
    int line;
    const char *file;
    const char *content_type;
    const char *kind;
    const char *media_type;
    const char *digest;
    const char *error;
    exp_desc blobs[MAX_DESC];
    size_t n_blobs;
    exp_desc children[MAX_DESC];
    size_t n_children;
    exp_desc subject;
    bool has_subject;
} expect;

/* "DIGEST SIZE [EXTRA]" */
static int parse_desc(exp_desc *d, char *v)
{
    char *sp = strchr(v, ' ');
    if (sp == NULL)
        return -1;
    *sp = '\0';
    d->digest = v;
    char *end = NULL;
    d->size = strtoll(sp + 1, &end, 10);
    if (end == sp + 1)
        return -1;
    d->extra = NULL;
    if (*end == ' ')
        d->extra = fx_opt(end + 1);
    else if (*end != '\0')
        return -1;
    return 0;
}

static int check_descs(const expect *e, const char *what,
                       const reg_descriptor *got, size_t n_got,
                       const exp_desc *want, size_t n_want, bool platform)
{
    int bad = 0;
    if (n_got != n_want) {
        print_message("line %d %s: %zu %s, want %zu\n", e->line, e->file, n_got,
                      what, n_want);
        return 1;
    }
    for (size_t i = 0; i < n_got; i++) {
        const char *extra = platform ? got[i].platform : got[i].media_type;
        if (got[i].digest == NULL ||
            strcmp(got[i].digest, want[i].digest) != 0 ||
            got[i].size != want[i].size ||
            !fx_streq_opt(extra, want[i].extra)) {
            print_message("line %d %s: %s[%zu] = %s %lld %s, want %s %lld %s\n",
                          e->line, e->file, what, i, got[i].digest,
                          (long long)got[i].size, extra ? extra : "-",
                          want[i].digest, want[i].size,
                          want[i].extra ? want[i].extra : "-");
            bad = 1;
        }
        if (!platform && got[i].platform != NULL) {
            print_message("line %d %s: blob with a platform\n", e->line,
                          e->file);
            bad = 1;
        }
    }
    return bad;
}

static int run_expect(const expect *e)
{
    char name[256];
    char path[1024];
    size_t len = 0;
    snprintf(name, sizeof(name), "manifests/%s", e->file);
    char *body = fx_read(fx_path(path, sizeof(path), name), &len);
    if (body == NULL) {
        print_message("line %d: cannot read %s\n", e->line, path);
        return 1;
    }
    reg_manifest *m = NULL;
    reg_error err;
    reg_error_clear(&err);
    int rc = reg_manifest_parse(&m, e->content_type, body, len, &err);
    int bad = 0;
    if (e->error != NULL) {
        if (rc != REG_EINVAL || m != NULL || err.code != REG_EINVAL ||
            strstr(err.msg, e->error) == NULL) {
            print_message("line %d %s: rc %d msg '%s', want REG_EINVAL with "
                          "'%s'\n",
                          e->line, e->file, rc, err.msg, e->error);
            bad = 1;
        }
        goto cleanup;
    }
    if (rc != 0 || m == NULL) {
        print_message("line %d %s: unexpected error %d: %s\n", e->line, e->file,
                      rc, err.msg);
        bad = 1;
        goto cleanup;
    }
    if (strcmp(reg_manifest_kind_name(m->kind), e->kind) != 0) {
        print_message("line %d %s: kind '%s', want '%s'\n", e->line, e->file,
                      reg_manifest_kind_name(m->kind), e->kind);
        bad = 1;
    }
    if (!fx_streq_opt(m->media_type, e->media_type)) {
        print_message("line %d %s: media type '%s', want '%s'\n", e->line,
                      e->file, m->media_type ? m->media_type : "-",
                      e->media_type ? e->media_type : "-");
        bad = 1;
    }
    if (e->digest == NULL || strcmp(m->digest, e->digest) != 0) {
        print_message("line %d %s: digest %s, want %s\n", e->line, e->file,
                      m->digest, e->digest ? e->digest : "(none)");
        bad = 1;
    }
    if (m->len != len || memcmp(m->body, body, len) != 0 ||
        (void *)m->body == (void *)body) {
        print_message("line %d %s: body is not an exact copy\n", e->line,
                      e->file);
        bad = 1;
    }
    bool want_index = strcmp(e->kind, "oci index") == 0 ||
                      strcmp(e->kind, "docker manifest list") == 0;
    if (reg_manifest_is_index(m) != want_index) {
        print_message("line %d %s: is_index wrong\n", e->line, e->file);
        bad = 1;
    }
    bad |= check_descs(e, "blobs", m->blobs, m->n_blobs, e->blobs, e->n_blobs,
                       false);
    bad |= check_descs(e, "children", m->children, m->n_children, e->children,
                       e->n_children, true);
    if (e->has_subject) {
        bad |= check_descs(e, "subject", m->subject, m->subject ? 1 : 0,
                           &e->subject, 1, false);
    } else if (m->subject != NULL) {
        print_message("line %d %s: unexpected subject\n", e->line, e->file);
        bad = 1;
    }
cleanup:
    reg_manifest_free(m);
    free(body);
    return bad;
}

static void test_manifest_fixtures(void **state)
{
    (void)state;
    char path[1024];
    char *text =
        fx_read(fx_path(path, sizeof(path), "manifests/expect.txt"), NULL);
    assert_non_null(text);
    char *cursor = text;
    char *line;
    int lineno = 0;
    int runs = 0;
    int errors = 0;
    int failures = 0;
    expect e;
    bool open = false;
    memset(&e, 0, sizeof(e));
    for (;;) {
        line = fx_next_line(&cursor);
        lineno++;
        if (line == NULL || line[0] == '\0') {
            if (open) {
                failures += run_expect(&e);
                runs++;
                errors += e.error != NULL;
            }
            open = false;
            memset(&e, 0, sizeof(e));
            if (line == NULL)
                break;
            continue;
        }
        if (line[0] == '#')
            continue;
        char *sp = strchr(line, ' ');
        assert_non_null(sp);
        *sp = '\0';
        char *v = sp + 1;
        if (!open) {
            open = true;
            e.line = lineno;
        }
        if (strcmp(line, "file") == 0) {
            e.file = v;
        } else if (strcmp(line, "content-type") == 0) {
            fx_unescape(v); /* hostile types hold \r\n and such */
            e.content_type = fx_opt(v);
        } else if (strcmp(line, "kind") == 0) {
            e.kind = v;
        } else if (strcmp(line, "media-type") == 0) {
            e.media_type = fx_opt(v);
        } else if (strcmp(line, "digest") == 0) {
            e.digest = v;
        } else if (strcmp(line, "error") == 0) {
            e.error = v;
        } else if (strcmp(line, "blob") == 0) {
            assert_true(e.n_blobs < MAX_DESC);
            assert_int_equal(parse_desc(&e.blobs[e.n_blobs++], v), 0);
        } else if (strcmp(line, "child") == 0) {
            assert_true(e.n_children < MAX_DESC);
            assert_int_equal(parse_desc(&e.children[e.n_children++], v), 0);
        } else if (strcmp(line, "subject") == 0) {
            assert_int_equal(parse_desc(&e.subject, v), 0);
            e.has_subject = true;
        } else {
            fail_msg("expect.txt line %d: unknown key '%s'", lineno, line);
        }
    }
    free(text);
    print_message("%d parses (%d expected errors), %d failures\n", runs, errors,
                  failures);
    assert_true(runs >= 25);
    assert_true(errors >= 10);
    assert_int_equal(failures, 0);
}

static void test_sha256_vectors(void **state)
{
    (void)state;
    char d[REG_DIGEST_LEN + 1];
    /* FIPS 180-2 test vectors. */
    reg_sha256_digest(d, "", 0);
    assert_string_equal(d, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e46"
                           "49b934ca495991b7852b855");
    reg_sha256_digest(d, "abc", 3);
    assert_string_equal(d, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a39"
                           "6177a9cb410ff61f20015ad");
    assert_true(reg_valid_digest(d));
}

static void test_accept_and_names(void **state)
{
    (void)state;
    const char *types[] = {REG_MT_DOCKER_V2S1,  REG_MT_DOCKER_V2S1_SIGNED,
                           REG_MT_DOCKER_V2S2,  REG_MT_DOCKER_LIST,
                           REG_MT_OCI_MANIFEST, REG_MT_OCI_INDEX};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        /* Each type appears as a whole comma-separated element. */
        const char *p = REG_MANIFEST_ACCEPT;
        size_t n = strlen(types[i]);
        bool found = false;
        while (*p != '\0') {
            while (*p == ' ' || *p == ',')
                p++;
            size_t el = strcspn(p, ",");
            size_t trimmed = el;
            while (trimmed > 0 && p[trimmed - 1] == ' ')
                trimmed--;
            if (trimmed == n && strncmp(p, types[i], n) == 0)
                found = true;
            p += el;
        }
        assert_true(found);
    }
    assert_string_equal(reg_manifest_kind_name(REG_KIND_OCI_INDEX),
                        "oci index");
    assert_string_equal(reg_manifest_kind_name((reg_manifest_kind)99),
                        "unknown");
    assert_false(reg_manifest_is_index(NULL));
}

static void test_media_type_valid(void **state)
{
    (void)state;
    const char *good[] = {
        REG_MT_DOCKER_V2S2,
        REG_MT_OCI_MANIFEST,
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "text/plain",
        "a/b",
        "A1/B-2.x_y+z!#$&^",
        "application/vnd.dev.cosign.simplesigning.v1+json",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (!reg_media_type_valid(good[i]))
            fail_msg("'%s' should be valid", good[i]);
    }
    const char *bad[] = {
        NULL,
        "",
        "application",
        "application/",
        "/json",
        "application/json; charset=utf-8",
        "application/json ",
        " application/json",
        "application /json",
        "application/vnd.oci.image.manifest.v1+json\r\nX-Evil: 1",
        "application/x\n",
        "application/x\x7f",
        "application/x\t",
        "application/x/y",
        "-app/x",
        "app/.x",
        "app/x\"",
        "app/x(y)",
        "app/x\xc3\xa9",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (reg_media_type_valid(bad[i]))
            fail_msg("bad[%zu] should be invalid", i);
    }
    /* Each part at most 127 characters, the whole at most 255 bytes. */
    char buf[400];
    memset(buf, 'a', sizeof(buf));
    buf[127] = '/';
    buf[127 + 1 + 127] = '\0';
    assert_true(reg_media_type_valid(buf)); /* 255 bytes */
    memset(buf, 'a', sizeof(buf));
    buf[128] = '/';
    buf[128 + 1 + 10] = '\0';
    assert_false(reg_media_type_valid(buf)); /* type of 128 */
    memset(buf, 'a', sizeof(buf));
    buf[10] = '/';
    buf[10 + 1 + 128] = '\0';
    assert_false(reg_media_type_valid(buf)); /* subtype of 128 */
}

/* De-duplication by digest (a hash set since issue 10): the first
 * occurrence of each digest is kept, in order, whatever the count. */
static void test_dedup_many_layers(void **state)
{
    (void)state;
    const size_t n = 5000;
    size_t cap = (2 * n + 2) * 160 + 512;
    char *b = malloc(cap);
    assert_non_null(b);
    size_t o = (size_t)snprintf(
        b, cap,
        "{\"schemaVersion\":2,\"mediaType\":\"" REG_MT_OCI_MANIFEST "\","
        "\"config\":{\"mediaType\":\"application/x.c\",\"size\":1,"
        "\"digest\":\"sha256:%064x\"},\"layers\":[",
        7u);
    /* Layers 0..n-1, then the same again in reverse; layer 7 repeats the
     * config's digest. */
    for (size_t k = 0; k < 2 * n; k++) {
        size_t i = k < n ? k : 2 * n - 1 - k;
        o += (size_t)snprintf(b + o, cap - o,
                              "%s{\"mediaType\":\"application/x.l\","
                              "\"size\":%zu,\"digest\":\"sha256:%064zx\"}",
                              k > 0 ? "," : "", i, i);
    }
    o += (size_t)snprintf(b + o, cap - o, "]}");
    assert_true(o < cap);
    reg_manifest *m = NULL;
    reg_error err;
    reg_error_clear(&err);
    assert_int_equal(reg_manifest_parse(&m, NULL, b, o, &err), REG_OK);
    assert_non_null(m);
    assert_int_equal(m->n_blobs, n); /* config + n layers - the repeat of 7 */
    char want[REG_DIGEST_LEN + 1];
    snprintf(want, sizeof(want), "sha256:%064x", 7u);
    assert_string_equal(m->blobs[0].digest, want);
    assert_string_equal(m->blobs[0].media_type, "application/x.c");
    for (size_t j = 1, i = 0; i < n; i++) {
        if (i == 7)
            continue;
        snprintf(want, sizeof(want), "sha256:%064zx", i);
        assert_string_equal(m->blobs[j].digest, want);
        assert_int_equal(m->blobs[j].size, (int64_t)i);
        j++;
    }
    reg_manifest_free(m);
    free(b);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    reg_manifest *m = NULL;
    reg_error err;
    reg_error_clear(&err);
    assert_int_equal(reg_manifest_parse(&m, NULL, NULL, 5, &err), REG_EINVAL);
    assert_null(m);
    /* Trailing garbage after the JSON value is not a manifest. */
    const char *s = "{\"schemaVersion\":2} x";
    assert_int_equal(reg_manifest_parse(&m, NULL, s, strlen(s), NULL),
                     REG_EINVAL);
    /* An embedded NUL byte inside the body is rejected, not truncated. */
    const char nul[] = "{\"a\":1}\0{}";
    assert_int_equal(reg_manifest_parse(&m, NULL, nul, sizeof(nul) - 1, NULL),
                     REG_EINVAL);
    assert_null(m);
    reg_manifest_free(NULL);
}

/* Schema 1 signed manifests are named by the digest of their JWS payload
 * (what docker-registry sends as Docker-Content-Digest): the same for the
 * manifest signed again with another key; -1 without a usable protected
 * header. */
static void test_schema1_payload_digest(void **state)
{
    (void)state;
    static const char want[] = "sha256:7e5027853cb260a2a62940695d71faa72dd0330f"
                               "07a53808340f4e7fdfac1f1e";
    static const char *const files[] = {"manifests/schema1-jws.json",
                                        "manifests/schema1-jws-resigned.json"};
    char path[1024], d[REG_DIGEST_LEN + 1], bytes[REG_DIGEST_LEN + 1];
    for (size_t i = 0; i < 2; i++) {
        size_t n = 0;
        char *body = fx_read(fx_path(path, sizeof(path), files[i]), &n);
        assert_non_null(body);
        assert_int_equal(reg_schema1_payload_digest(d, body, n), 0);
        assert_string_equal(d, want);
        reg_sha256_digest(bytes, body, n);
        assert_string_not_equal(bytes, want);
        /* a formatLength past the end is refused, not read */
        assert_int_equal(reg_schema1_payload_digest(d, body, 100), -1);
        free(body);
    }
    size_t n = 0;
    char *old = fx_read(
        fx_path(path, sizeof(path), "manifests/schema1-signed.json"), &n);
    assert_non_null(old);
    assert_int_equal(reg_schema1_payload_digest(d, old, n), -1); /* no tail */
    free(old);
    assert_int_equal(reg_schema1_payload_digest(d, "{}", 2), -1);
    assert_int_equal(reg_schema1_payload_digest(d, "not json", 8), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_manifest_fixtures),
        cmocka_unit_test(test_sha256_vectors),
        cmocka_unit_test(test_accept_and_names),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_media_type_valid),
        cmocka_unit_test(test_dedup_many_layers),
        cmocka_unit_test(test_schema1_payload_digest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
