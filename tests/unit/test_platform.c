/* test_platform.c - platform specs (parsing, containerd-style
 * normalisation, variants, os.version prefixes), sets and their canonical
 * key, and the filtering of an index by them (issue 14). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "platform.h"

#define HEX64(c)                                                               \
    c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c  \
        c c c c c c c c c c c c c c c c c c c c c c c c c c c
#define DA "sha256:" HEX64("a")
#define DB "sha256:" HEX64("b")
#define DC "sha256:" HEX64("c")
#define DD "sha256:" HEX64("d")

static void fmt(const it_platform *p, char *buf)
{
    it_platform_format(p, buf, 160);
}

static void test_parse_normalises(void **state)
{
    (void)state;
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"linux/amd64", "linux/amd64"},
        {"Linux/X86_64", "linux/amd64"},
        {"linux/x86-64/v1", "linux/amd64"},
        {"linux/amd64/v3", "linux/amd64/v3"},
        {"linux/aarch64", "linux/arm64/v8"},
        {"linux/arm64", "linux/arm64/v8"},
        {"linux/arm64/8", "linux/arm64/v8"},
        {"linux/arm64/v8.0", "linux/arm64/v8"},
        {"linux/arm64/9.0", "linux/arm64/v9"},
        {"linux/arm", "linux/arm/v7"},
        {"linux/arm/7", "linux/arm/v7"},
        {"linux/arm/6", "linux/arm/v6"},
        {"linux/armhf", "linux/arm/v7"},
        {"linux/armel", "linux/arm/v6"},
        {"linux/i386", "linux/386"},
        {"macos/arm64", "darwin/arm64/v8"},
        {"windows/amd64:10.0.17763", "windows/amd64:10.0.17763"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        it_platform p;
        it_errbuf err = {{0}};
        char buf[160];
        assert_int_equal(it_platform_parse(&p, cases[i].in, &err), 0);
        fmt(&p, buf);
        assert_string_equal(buf, cases[i].want);
    }
}

static void test_parse_refuses(void **state)
{
    (void)state;
    static const struct {
        const char *in, *msg;
    } cases[] = {
        {"linux", "expected os/arch"},
        {"linux/", "the architecture is empty"},
        {"/amd64", "the os is empty"},
        {"linux/arm/v7/x", "expected os/arch"},
        {"linux/arm/", "the variant is empty"},
        {"linux/amd46", "unknown architecture \"amd46\""},
        {"linx/amd64", "unknown operating system"},
        {"linux/amd 64", "characters other than"},
        {"windows/amd64:", "os.version"},
        {"windows/amd64:10.0.", "os.version"},
        {"windows/amd64:ten", "os.version"},
        {"linux/\x1b[2Jamd64", "(unprintable)"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        it_platform p;
        it_errbuf err = {{0}};
        assert_int_equal(it_platform_parse(&p, cases[i].in, &err), -1);
        if (!strstr(err.msg, cases[i].msg))
            fail_msg("%zu: %s", i, err.msg);
        assert_null(strchr(err.msg, '\x1b'));
    }
}

static bool matches(const char *spec, const char *os, const char *arch,
                    const char *variant, const char *osv)
{
    it_platform s, h;
    it_errbuf err;
    assert_int_equal(it_platform_parse(&s, spec, &err), 0);
    it_platform_from(&h, os, arch, variant, osv);
    return it_platform_match(&s, &h);
}

static void test_match_variants(void **state)
{
    (void)state;
    assert_true(matches("linux/amd64", "linux", "amd64", NULL, NULL));
    assert_true(matches("linux/amd64", "linux", "x86_64", NULL, NULL));
    assert_false(matches("linux/amd64", "linux", "arm64", NULL, NULL));
    assert_false(matches("linux/amd64", "windows", "amd64", NULL, NULL));
    assert_false(matches("linux/amd64", "linux", "amd64", "v3", NULL));
    /* arm64: no variant, 8 and v8 are one platform */
    assert_true(matches("linux/arm64", "linux", "arm64", "v8", NULL));
    assert_true(matches("linux/arm64", "linux", "aarch64", NULL, NULL));
    assert_true(matches("linux/arm64/v8", "linux", "arm64", NULL, NULL));
    assert_false(matches("linux/arm64", "linux", "arm64", "v9", NULL));
    /* arm: no variant means v7 */
    assert_true(matches("linux/arm/v7", "linux", "arm", NULL, NULL));
    assert_true(matches("linux/arm", "linux", "arm", "v7", NULL));
    assert_false(matches("linux/arm/v7", "linux", "arm", "v6", NULL));
    assert_false(matches("linux/arm", "linux", "arm", "v5", NULL));
    assert_true(matches("linux/arm/v6", "linux", "armel", NULL, NULL));
    /* case */
    assert_true(matches("linux/amd64", "Linux", "AMD64", NULL, NULL));
}

static void test_match_os_version(void **state)
{
    (void)state;
    const char *spec = "windows/amd64:10.0.17763";
    assert_true(matches(spec, "windows", "amd64", NULL, "10.0.17763"));
    assert_true(matches(spec, "windows", "amd64", NULL, "10.0.17763.1879"));
    assert_false(matches(spec, "windows", "amd64", NULL, "10.0.177630"));
    assert_false(matches(spec, "windows", "amd64", NULL, "10.0.20348.587"));
    assert_false(matches(spec, "windows", "amd64", NULL, NULL));
    /* without os.version any matches */
    assert_true(
        matches("windows/amd64", "windows", "amd64", NULL, "10.0.20348.587"));
}

static void test_set_and_key(void **state)
{
    (void)state;
    it_platform_set a, b;
    it_errbuf err = {{0}};
    char *one[] = {"linux/arm64,linux/amd64", NULL};
    char *two[] = {"linux/x86_64", "linux/aarch64/v8", "linux/amd64", NULL};
    assert_int_equal(it_platform_set_parse(&a, one, "--platforms", &err), 0);
    assert_int_equal(it_platform_set_parse(&b, two, "--platforms", &err), 0);
    char *ka = it_platform_set_key(&a), *kb = it_platform_set_key(&b);
    assert_string_equal(ka, "linux/amd64,linux/arm64/v8");
    assert_string_equal(ka, kb);
    free(ka);
    free(kb);
    it_platform_set_free(&a);
    it_platform_set_free(&b);

    char *bad[] = {"linux/amd64,,linux/arm64", NULL};
    assert_int_equal(it_platform_set_parse(&a, bad, "--platforms", &err), -1);
    assert_non_null(strstr(err.msg, "--platforms: "));
    char *typo[] = {"linux/amd64", "linux/armv7", NULL};
    assert_int_equal(
        it_platform_set_parse(&a, typo, "transfer-rule.yaml:3", &err), -1);
    assert_non_null(strstr(err.msg, "transfer-rule.yaml:3: platform"));
    char *none[] = {NULL};
    assert_int_equal(it_platform_set_parse(&a, none, "--platforms", &err), -1);
}

static const char *index_json =
    "{\"schemaVersion\":2,"
    "\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
    "\"manifests\":["
    "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
    "\"digest\":\"" DA "\",\"size\":10,\"annotations\":{\"k\":\"1\"},"
    "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
    "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
    "\"digest\":\"" DB "\",\"size\":11,"
    "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm\","
    "\"variant\":\"v7\"}},"
    "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
    "\"digest\":\"" DC "\",\"size\":12,"
    "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\","
    "\"variant\":\"v8\"}},"
    "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
    "\"digest\":\"" DD "\",\"size\":13}"
    "],\"annotations\":{\"org.opencontainers.image.ref.name\":\"x\"}}";

static void test_filter_index(void **state)
{
    (void)state;
    it_platform_set s;
    it_errbuf err = {{0}};
    char *specs[] = {"linux/arm64", "linux/amd64", NULL};
    assert_int_equal(it_platform_set_parse(&s, specs, "--platforms", &err), 0);
    it_platform_filtered f;
    assert_int_equal(
        it_platform_filter_index(&f, index_json, strlen(index_json), &s, &err),
        0);
    assert_int_equal(f.total, 4);
    assert_int_equal(f.kept, 2);
    assert_string_equal(f.platforms, "linux/amd64,linux/arm64/v8");
    assert_non_null(f.body);
    /* same order, annotations and mediaType kept; others gone */
    reg_manifest *m = NULL;
    reg_error rerr = {0};
    assert_int_equal(reg_manifest_parse(&m, NULL, f.body, f.len, &rerr), 0);
    assert_int_equal(m->kind, REG_KIND_OCI_INDEX);
    assert_int_equal(m->n_children, 2);
    assert_string_equal(m->children[0].digest, DA);
    assert_string_equal(m->children[1].digest, DC);
    assert_non_null(strstr((char *)f.body, "\"annotations\":{\"k\":\"1\"}"));
    assert_non_null(strstr((char *)f.body, "org.opencontainers.image.ref"));
    assert_null(strstr((char *)f.body, DB));

    /* the same source and filter give the same bytes: --verify's check */
    reg_manifest *src = NULL;
    assert_int_equal(
        reg_manifest_parse(&src, NULL, index_json, strlen(index_json), &rerr),
        0);
    assert_true(it_platform_index_filtered_equal(src, &s, m->digest));
    assert_false(it_platform_index_filtered_equal(src, &s, src->digest));
    reg_manifest_free(m);
    it_platform_filtered_clear(&f);
    it_platform_set_free(&s);

    /* nothing matches */
    char *win[] = {"windows/amd64", NULL};
    assert_int_equal(it_platform_set_parse(&s, win, "--platforms", &err), 0);
    assert_int_equal(
        it_platform_filter_index(&f, index_json, strlen(index_json), &s, &err),
        0);
    assert_int_equal(f.kept, 0);
    assert_null(f.body);
    assert_false(it_platform_index_filtered_equal(src, &s, src->digest));
    it_platform_filtered_clear(&f);
    it_platform_set_free(&s);

    /* all platform children match: the source bytes stand */
    char *all[] = {"linux/amd64,linux/arm/v7,linux/arm64", NULL};
    assert_int_equal(it_platform_set_parse(&s, all, "--platforms", &err), 0);
    assert_int_equal(
        it_platform_filter_index(&f, index_json, strlen(index_json), &s, &err),
        0);
    assert_int_equal(f.kept, 3); /* the one without a platform is dropped */
    assert_non_null(f.body);
    it_platform_filtered_clear(&f);
    it_platform_set_free(&s);
    reg_manifest_free(src);

    /* not an index */
    assert_int_equal(it_platform_set_parse(&s, specs, "--platforms", &err), 0);
    assert_int_equal(it_platform_filter_index(&f, "{\"a\":1}", 7, &s, &err),
                     -1);
    assert_non_null(strstr(err.msg, "manifests"));
    assert_int_equal(it_platform_filter_index(&f, "not json", 8, &s, &err), -1);
    it_platform_set_free(&s);
}

static void test_filter_unchanged_when_all_match(void **state)
{
    (void)state;
    static const char *two =
        "{\"schemaVersion\":2,\"manifests\":["
        "{\"digest\":\"" DA "\",\"size\":1,\"platform\":{\"os\":"
        "\"linux\",\"architecture\":\"amd64\"}},"
        "{\"digest\":\"" DC "\",\"size\":1,\"platform\":{\"os\":"
        "\"linux\",\"architecture\":\"aarch64\"}}]}";
    it_platform_set s;
    it_errbuf err = {{0}};
    char *specs[] = {"linux/amd64,linux/arm64", NULL};
    assert_int_equal(it_platform_set_parse(&s, specs, "--platforms", &err), 0);
    it_platform_filtered f;
    assert_int_equal(it_platform_filter_index(&f, two, strlen(two), &s, &err),
                     0);
    assert_int_equal(f.kept, 2);
    assert_null(f.body); /* unchanged: same digest */
    assert_string_equal(f.platforms, "linux/amd64,linux/arm64/v8");
    it_platform_filtered_clear(&f);
    it_platform_set_free(&s);
}

/* Platform names come from registries: one with control bytes or other
 * odd characters never matches and never reaches the list of platforms
 * copied (which the report and the log show). */
static void test_hostile_child_platform(void **state)
{
    (void)state;
    it_platform h;
    it_platform_from(&h, "linux", "amd64\x1b[2J", NULL, NULL);
    assert_string_equal(h.arch, "");
    it_platform_from(&h, "linux\n", "amd64", "v1\x07", "10.0\x1b");
    assert_string_equal(h.os, "");
    assert_string_equal(h.variant, "");
    assert_string_equal(h.os_version, "");
    assert_false(matches("windows/amd64:10.0", "windows", "amd64", NULL,
                         "10.0.\x1b[2J"));

    static const char *idx =
        "{\"manifests\":["
        "{\"digest\":\"" DA "\",\"size\":1,\"platform\":{\"os\":"
        "\"linux\",\"architecture\":\"amd64\",\"variant\":\"\\u001b[2J\"}},"
        "{\"digest\":\"" DB "\",\"size\":1,\"platform\":{\"os\":"
        "\"linux\",\"architecture\":\"amd64 x\"}},"
        "{\"digest\":\"" DC "\",\"size\":1,\"platform\":[1]},"
        "{\"digest\":\"" DD "\",\"size\":1,\"platform\":{\"os\":"
        "\"linux\",\"architecture\":\"amd64\"}}]}";
    it_platform_set s;
    it_errbuf err = {{0}};
    char *specs[] = {"linux/amd64", NULL};
    assert_int_equal(it_platform_set_parse(&s, specs, "--platforms", &err), 0);
    it_platform_filtered f;
    assert_int_equal(it_platform_filter_index(&f, idx, strlen(idx), &s, &err),
                     0);
    assert_int_equal(f.kept, 1);
    assert_string_equal(f.platforms, "linux/amd64");
    assert_null(strchr((char *)f.body, '\x1b'));
    it_platform_filtered_clear(&f);
    it_platform_set_free(&s);
}

/* buildx's attestation manifests (platform unknown/unknown, annotations
 * naming the child they describe) go with the child they describe, and
 * are not counted as platforms. One that comes before its child, and one
 * naming a child the index does not hold, follow the same rule. */
static void test_filter_keeps_attestations(void **state)
{
    (void)state;
#define ATT(d, of)                                                             \
    "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","           \
    "\"digest\":\"" d "\",\"size\":5,\"annotations\":{"                        \
    "\"vnd.docker.reference.digest\":\"" of "\","                              \
    "\"vnd.docker.reference.type\":\"attestation-manifest\"},"                 \
    "\"platform\":{\"os\":\"unknown\",\"architecture\":\"unknown\"}}"
#define DE "sha256:" HEX64("e")
#define DF "sha256:" HEX64("f")
    static const char *idx =
        "{\"schemaVersion\":2,"
        "\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
        "\"manifests\":[" ATT(
            DD,
            DC) ","
                "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
                "\"digest\":\"" DA "\",\"size\":10,"
                "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
                "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
                "\"digest\":\"" DC "\",\"size\":12,"
                "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\","
                "\"variant\":\"v8\"}}," ATT(DB, DA) "," ATT(DE, DF) "]}";
#undef ATT
    it_platform_set s;
    it_errbuf err = {{0}};
    char *amd64[] = {"linux/amd64", NULL};
    assert_int_equal(it_platform_set_parse(&s, amd64, "--platforms", &err), 0);
    it_platform_filtered f;
    assert_int_equal(it_platform_filter_index(&f, idx, strlen(idx), &s, &err),
                     0);
    assert_int_equal(f.total, 5);
    assert_int_equal(f.kept, 2);
    assert_string_equal(f.platforms, "linux/amd64"); /* real ones only */
    assert_non_null(f.body);
    reg_manifest *m = NULL;
    reg_error rerr = {0};
    assert_int_equal(reg_manifest_parse(&m, NULL, f.body, f.len, &rerr), 0);
    assert_int_equal(m->n_children, 2);
    assert_string_equal(m->children[0].digest, DA);
    assert_string_equal(m->children[1].digest, DB); /* its attestation */
    reg_manifest_free(m);
    it_platform_filtered_clear(&f);
    it_platform_set_free(&s);

    /* arm64: its attestation, listed before it, stays before it */
    char *arm64[] = {"linux/arm64", NULL};
    assert_int_equal(it_platform_set_parse(&s, arm64, "--platforms", &err), 0);
    assert_int_equal(it_platform_filter_index(&f, idx, strlen(idx), &s, &err),
                     0);
    assert_string_equal(f.platforms, "linux/arm64/v8");
    assert_int_equal(reg_manifest_parse(&m, NULL, f.body, f.len, &rerr), 0);
    assert_int_equal(m->n_children, 2);
    assert_string_equal(m->children[0].digest, DD);
    assert_string_equal(m->children[1].digest, DC);
    reg_manifest_free(m);
    it_platform_filtered_clear(&f);
    it_platform_set_free(&s);

    /* no real platform matches: nothing kept, attestations neither */
    char *win[] = {"windows/amd64", NULL};
    assert_int_equal(it_platform_set_parse(&s, win, "--platforms", &err), 0);
    assert_int_equal(it_platform_filter_index(&f, idx, strlen(idx), &s, &err),
                     0);
    assert_int_equal(f.kept, 0);
    assert_null(f.body);
    it_platform_filtered_clear(&f);
    it_platform_set_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_normalises),
        cmocka_unit_test(test_parse_refuses),
        cmocka_unit_test(test_match_variants),
        cmocka_unit_test(test_match_os_version),
        cmocka_unit_test(test_set_and_key),
        cmocka_unit_test(test_filter_index),
        cmocka_unit_test(test_filter_unchanged_when_all_match),
        cmocka_unit_test(test_hostile_child_platform),
        cmocka_unit_test(test_filter_keeps_attestations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
