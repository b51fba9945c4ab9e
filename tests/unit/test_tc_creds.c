/*
 * test_tc_creds.c - the Tencent Cloud credentials chain (src/tc_creds.c):
 * the profile file parser (strict and bounded), the metadata and STS
 * answer parsers, the renewal time, and the chain's order over
 * --secretFile, the environment and the profile files (the CVM role and
 * TKE OIDC sources against doubles are in
 * tests/integration/test_tc_creds.py).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "tc_creds.h"

static char tmpdir[256];

static char *path_in(const char *name)
{
    static char p[4][512];
    static int i;
    i = (i + 1) % 4;
    snprintf(p[i], sizeof p[i], "%s/%s", tmpdir, name);
    return p[i];
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int parse(const char *text, const char *profile, char **id, char **key,
                 it_errbuf *err)
{
    return it_tc_profile_parse(text, strlen(text), profile, "creds", id, key,
                               err);
}

/* ------------------------------------------------------------ profile */

static void test_profile_default_and_named(void **state)
{
    (void)state;
    const char *text = "# comment\n; another\n[default]\nsecret_id = AKIDdef\n"
                       "secret_key=\"def-key\"\nregion = ap-guangzhou\n\n"
                       "[prod]\r\n  secret_id=AKIDprod  \r\n"
                       "secret_key = prod-key\r\nrole_arn = x\r\n";
    char *id = NULL, *key = NULL;
    it_errbuf err = {{0}};
    assert_int_equal(parse(text, "default", &id, &key, &err), 0);
    assert_string_equal(id, "AKIDdef");
    assert_string_equal(key, "def-key");
    free(id);
    free(key);
    assert_int_equal(parse(text, "prod", &id, &key, &err), 0);
    assert_string_equal(id, "AKIDprod");
    assert_string_equal(key, "prod-key");
    free(id);
    free(key);
    assert_int_equal(parse(text, "staging", &id, &key, &err), 1);
    assert_null(id);
    assert_null(key);
}

static void expect_error(const char *text, const char *needle)
{
    char *id = NULL, *key = NULL;
    it_errbuf err = {{0}};
    assert_int_equal(parse(text, "default", &id, &key, &err), -1);
    assert_null(id);
    assert_null(key);
    if (strstr(err.msg, needle) == NULL)
        fail_msg("'%s' not in '%s'", needle, err.msg);
    /* never the key */
    assert_null(strstr(err.msg, "SECRETVALUE"));
}

static void test_profile_strict(void **state)
{
    (void)state;
    expect_error("[default]\nsecret_id = a\nsecret_id = b\nsecret_key = k\n",
                 "creds:3: [default] gives secret_id twice");
    expect_error("[default]\nsecret_id a\n", "creds:2: expected key = value");
    expect_error("[default\nsecret_id = a\n", "creds:1: expected a section");
    expect_error("[default]\nsecret_id = AKID\n", "has no secret_key");
    expect_error("[default]\nsecret_id = a\nsecret_key = SECRET VALUE\n",
                 "creds:3: secret_key in [default] is empty");
    expect_error("[default]\nsecret_id = a\nsecret_key = SECRETVALUE\x1b]0\n",
                 "control character");
    expect_error("[default]\n= SECRETVALUE\n", "a value without a key");
    char *lng = malloc(IT_TC_PROFILE_MAX_LINE + 40);
    snprintf(lng, IT_TC_PROFILE_MAX_LINE + 40, "[default]\n# %0*d\n",
             IT_TC_PROFILE_MAX_LINE, 0);
    expect_error(lng, "creds:2: line longer than 4096 bytes");
    free(lng);
    /* bounded: a file over the cap is refused as a whole */
    char *id = NULL, *key = NULL;
    it_errbuf err = {{0}};
    assert_int_equal(it_tc_profile_parse("[default]\n",
                                         IT_TC_PROFILE_MAX_FILE + 1, "default",
                                         "creds", &id, &key, &err),
                     -1);
    assert_non_null(strstr(err.msg, "larger than"));
    assert_int_equal(it_tc_profile_parse("[default]\n\0x", 12, "default",
                                         "creds", &id, &key, &err),
                     -1);
    assert_non_null(strstr(err.msg, "NUL"));
}

/* ------------------------------------------------------------ answers */

static void test_role_name(void **state)
{
    (void)state;
    char role[129];
    it_errbuf err = {{0}};
    assert_int_equal(it_tc_role_name_parse("CVM_QcsRole\n", 12, role, &err), 0);
    assert_string_equal(role, "CVM_QcsRole");
    assert_int_equal(it_tc_role_name_parse("a@b.c-d\nother", 13, role, &err),
                     0);
    assert_string_equal(role, "a@b.c-d");
    assert_int_equal(it_tc_role_name_parse("../../x", 7, role, &err), -1);
    assert_int_equal(it_tc_role_name_parse("", 0, role, &err), -1);
    assert_int_equal(it_tc_role_name_parse("a b", 3, role, &err), -1);
    char lng[200];
    memset(lng, 'a', sizeof lng);
    assert_int_equal(it_tc_role_name_parse(lng, 129, role, &err), -1);
    assert_int_equal(it_tc_role_name_parse(lng, 128, role, &err), 0);
}

static int cvm(const char *json, int64_t now, tc_credentials *k, int64_t *exp,
               it_errbuf *err)
{
    return it_tc_cvm_answer_parse(json, strlen(json), now, k, exp, err);
}

static void test_cvm_answer(void **state)
{
    (void)state;
    tc_credentials k;
    int64_t exp = 0;
    it_errbuf err = {{0}};
    assert_int_equal(cvm("{\"TmpSecretId\":\"AKIDt\",\"TmpSecretKey\":\"tk\","
                         "\"Token\":\"tok\",\"ExpiredTime\":1000,"
                         "\"Expiration\":\"x\",\"Code\":\"Success\"}",
                         500, &k, &exp, &err),
                     0);
    assert_string_equal(k.secret_id, "AKIDt");
    assert_string_equal(k.secret_key, "tk");
    assert_string_equal(k.token, "tok");
    assert_int_equal(exp, 1000);
    tc_credentials_clear(&k);
    /* an ExpiredTime years ahead is cut to a day */
    assert_int_equal(cvm("{\"TmpSecretId\":\"a\",\"TmpSecretKey\":\"b\","
                         "\"Token\":\"c\",\"ExpiredTime\":9999999999,"
                         "\"Code\":\"Success\"}",
                         500, &k, &exp, &err),
                     0);
    assert_int_equal(exp, 500 + IT_TC_MAX_LIFETIME_S);
    tc_credentials_clear(&k);
    const struct {
        const char *json, *needle;
    } bad[] = {
        {"{\"Code\":\"Failed\"}", "Code is Failed"},
        {"{\"Code\":\"\\u001b[2J\"}", "Code is \\x1b[2J"},
        {"not json", "not a JSON object"},
        {"{\"TmpSecretId\":\"a\",\"TmpSecretKey\":\"b\",\"Token\":\"c\","
         "\"ExpiredTime\":400,\"Code\":\"Success\"}",
         "already expired"},
        {"{\"TmpSecretId\":\"a\",\"TmpSecretKey\":\"b\",\"Token\":\"c\","
         "\"ExpiredTime\":\"1000\",\"Code\":\"Success\"}",
         "ExpiredTime is missing or not an integer"},
        {"{\"TmpSecretId\":\"a\",\"TmpSecretKey\":\"b\",\"Token\":\"c\\r\\nX: "
         "1\",\"ExpiredTime\":1000,\"Code\":\"Success\"}",
         "Token is missing"},
        {"{\"TmpSecretId\":\"a\",\"Token\":\"c\",\"ExpiredTime\":1000,"
         "\"Code\":\"Success\"}",
         "TmpSecretKey is missing"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(cvm(bad[i].json, 500, &k, &exp, &err), -1);
        assert_null(k.secret_id);
        if (strstr(err.msg, bad[i].needle) == NULL)
            fail_msg("%zu: '%s' not in '%s'", i, bad[i].needle, err.msg);
    }
}

static void test_sts_answer(void **state)
{
    (void)state;
    tc_credentials k;
    int64_t exp = 0;
    it_errbuf err = {{0}};
    json_t *r = json_pack(
        "{s:{s:s,s:s,s:s},s:i,s:s,s:s}", "Credentials", "Token", "sts-tok",
        "TmpSecretId", "AKIDsts", "TmpSecretKey", "sts-key", "ExpiredTime",
        8000, "Expiration", "2026-01-01T00:00:00Z", "RequestId", "r");
    assert_int_equal(it_tc_sts_answer_parse(r, 800, &k, &exp, &err), 0);
    assert_string_equal(k.secret_id, "AKIDsts");
    assert_string_equal(k.token, "sts-tok");
    assert_int_equal(exp, 8000);
    tc_credentials_clear(&k);
    json_object_del(r, "Credentials");
    assert_int_equal(it_tc_sts_answer_parse(r, 800, &k, &exp, &err), -1);
    assert_non_null(strstr(err.msg, "no Credentials"));
    json_decref(r);
}

static void test_renew_at(void **state)
{
    (void)state;
    /* 5 minutes before the expiry */
    assert_int_equal(it_tc_renew_at(1000, 8200, 10), 7900);
    /* never sooner than the least interval after the fetch */
    assert_int_equal(it_tc_renew_at(1000, 1299, 10), 1010);
    assert_int_equal(it_tc_renew_at(1000, 1299, 0), 1000);
}

/* -------------------------------------------------------------- chain */

static void clear_env(void)
{
    const char *vars[] = {"TENCENTCLOUD_SECRET_ID",
                          "TENCENTCLOUD_SECRET_KEY",
                          "TENCENTCLOUD_SESSION_TOKEN",
                          "TENCENTCLOUD_CREDENTIALS_FILE",
                          "TKE_ROLE_ARN",
                          "TKE_WEB_IDENTITY_TOKEN_FILE",
                          "TKE_IDENTITY_TOKEN_FILE",
                          "TKE_PROVIDER_ID",
                          "TKE_REGION",
                          "IT_TC_STS_ENDPOINT"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
    setenv("HOME", path_in("home"), 1);
    setenv("IT_TC_METADATA_URL", "off", 1);
}

static int resolve(it_tc_creds **c, const char *secret_file,
                   const char *profile, it_errbuf *err)
{
    it_tc_creds_opts o = {
        .secret_file = secret_file,
        .profile = profile,
        .system_profile = path_in("etc-credentials"),
    };
    return it_tc_creds_resolve(c, &o, err);
}

static const char *id_of(it_tc_creds *c)
{
    tc_client_opts co = {0};
    it_tc_creds_client_opts(c, false, &co);
    return co.secret_id;
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_tc_creds.XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    mkdir(path_in("home"), 0700);
    mkdir(path_in("home/.tencentcloud"), 0700);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(path_in("home/.tencentcloud/credentials"));
    rmdir(path_in("home/.tencentcloud"));
    rmdir(path_in("home"));
    unlink(path_in("etc-credentials"));
    unlink(path_in("env-credentials"));
    unlink(path_in("secret.yaml"));
    rmdir(tmpdir);
    return 0;
}

static void test_chain_order(void **state)
{
    (void)state;
    it_tc_creds *c = NULL;
    it_errbuf err = {{0}};
    clear_env();
    write_file(path_in("etc-credentials"),
               "[default]\nsecret_id = AKIDetc\nsecret_key = k\n");
    write_file(path_in("home/.tencentcloud/credentials"),
               "[default]\nsecret_id = AKIDhome\nsecret_key = k\n"
               "[other]\nsecret_id = AKIDother\nsecret_key = k\n");
    write_file(path_in("env-credentials"),
               "[default]\nsecret_id = AKIDenvfile\nsecret_key = k\n");
    write_file(path_in("secret.yaml"), "secretId: AKIDyaml\nsecretKey: k\n");
    setenv("TENCENTCLOUD_CREDENTIALS_FILE", path_in("env-credentials"), 1);
    setenv("TENCENTCLOUD_SECRET_ID", "AKIDenv", 1);
    setenv("TENCENTCLOUD_SECRET_KEY", "k", 1);

    /* 1. --secretFile */
    assert_int_equal(resolve(&c, path_in("secret.yaml"), NULL, &err), 0);
    assert_string_equal(id_of(c), "AKIDyaml");
    assert_int_equal(it_tc_creds_source(c), IT_TC_SRC_SECRET_FILE);
    it_tc_creds_free(c);
    /* 2. the environment */
    assert_int_equal(resolve(&c, NULL, NULL, &err), 0);
    assert_string_equal(id_of(c), "AKIDenv");
    assert_int_equal(it_tc_creds_source(c), IT_TC_SRC_ENV);
    it_tc_creds_free(c);
    /* 3. TENCENTCLOUD_CREDENTIALS_FILE, then ~/.tencentcloud, then /etc */
    unsetenv("TENCENTCLOUD_SECRET_ID");
    unsetenv("TENCENTCLOUD_SECRET_KEY");
    assert_int_equal(resolve(&c, NULL, NULL, &err), 0);
    assert_string_equal(id_of(c), "AKIDenvfile");
    assert_int_equal(it_tc_creds_source(c), IT_TC_SRC_PROFILE);
    it_tc_creds_free(c);
    unsetenv("TENCENTCLOUD_CREDENTIALS_FILE");
    assert_int_equal(resolve(&c, NULL, NULL, &err), 0);
    assert_string_equal(id_of(c), "AKIDhome");
    char want[600];
    snprintf(want, sizeof want,
             "profile file %s/.tencentcloud/credentials [default]",
             path_in("home"));
    assert_string_equal(it_tc_creds_describe(c), want);
    it_tc_creds_free(c);
    assert_int_equal(resolve(&c, NULL, "other", &err), 0);
    assert_string_equal(id_of(c), "AKIDother");
    it_tc_creds_free(c);
    unlink(path_in("home/.tencentcloud/credentials"));
    assert_int_equal(resolve(&c, NULL, NULL, &err), 0);
    assert_string_equal(id_of(c), "AKIDetc");
    it_tc_creds_free(c);
    /* a named profile the file lacks is an error, not the next source */
    assert_int_equal(resolve(&c, NULL, "nope", &err), IT_TC_CREDS_ECONFIG);
    assert_non_null(strstr(err.msg, "no [nope] section"));
    unlink(path_in("etc-credentials"));
    /* nothing at all: every source is named */
    assert_int_equal(resolve(&c, NULL, NULL, &err), IT_TC_CREDS_ECONFIG);
    assert_null(c);
    assert_non_null(strstr(err.msg, "no Tencent Cloud API key"));
    assert_non_null(strstr(err.msg, "no profile file"));
    assert_non_null(strstr(err.msg, "no CVM role (IT_TC_METADATA_URL=off)"));
    assert_non_null(strstr(err.msg, "no TKE OIDC role"));
    /* --tc-profile without a profile file */
    assert_int_equal(resolve(&c, NULL, "prod", &err), IT_TC_CREDS_ECONFIG);
    assert_non_null(strstr(err.msg, "--tc-profile prod: no profile file"));
}

static void test_chain_errors(void **state)
{
    (void)state;
    it_tc_creds *c = NULL;
    it_errbuf err = {{0}};
    clear_env();
    /* a named credentials file that is not there */
    setenv("TENCENTCLOUD_CREDENTIALS_FILE", path_in("missing"), 1);
    assert_int_equal(resolve(&c, NULL, NULL, &err), IT_TC_CREDS_ECONFIG);
    assert_non_null(strstr(err.msg, "TENCENTCLOUD_CREDENTIALS_FILE"));
    setenv("TENCENTCLOUD_CREDENTIALS_FILE", "", 1);
    assert_int_equal(resolve(&c, NULL, NULL, &err), IT_TC_CREDS_ECONFIG);
    assert_non_null(strstr(err.msg, "set but empty"));
    unsetenv("TENCENTCLOUD_CREDENTIALS_FILE");
    /* metadata unreachable: the chain moves on */
    setenv("IT_TC_METADATA_URL", "http://127.0.0.1:1/latest/meta-data/", 1);
    assert_int_equal(resolve(&c, NULL, NULL, &err), IT_TC_CREDS_ECONFIG);
    assert_non_null(strstr(err.msg, "no CVM role (metadata service: "));
    setenv("IT_TC_METADATA_URL", "off", 1);
    /* some TKE variables but not all */
    setenv("TKE_ROLE_ARN", "qcs::cam::uin/1:roleName/r", 1);
    setenv("TKE_REGION", "ap-guangzhou", 1);
    assert_int_equal(resolve(&c, NULL, NULL, &err), IT_TC_CREDS_ECONFIG);
    assert_non_null(strstr(err.msg, "TKE_WEB_IDENTITY_TOKEN_FILE is not set"));
    setenv("TKE_IDENTITY_TOKEN_FILE", path_in("no-token"), 1);
    assert_int_equal(resolve(&c, NULL, NULL, &err), IT_TC_CREDS_ECONFIG);
    assert_non_null(strstr(err.msg, "TKE_PROVIDER_ID is not set"));
    clear_env();
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_profile_default_and_named),
        cmocka_unit_test(test_profile_strict),
        cmocka_unit_test(test_role_name),
        cmocka_unit_test(test_cvm_answer),
        cmocka_unit_test(test_sts_answer),
        cmocka_unit_test(test_renew_at),
        cmocka_unit_test(test_chain_order),
        cmocka_unit_test(test_chain_errors),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
