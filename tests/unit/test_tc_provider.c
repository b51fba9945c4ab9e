/*
 * test_tc_provider.c - the TC client's credentials provider seam
 * (tc_client_opts.credentials) and unsigned calls (skip_sign), against a
 * scripted transport: every attempt is signed with the provider's
 * credentials of that moment, the token goes in X-TC-Token, a provider
 * failure fails the call before anything is sent, server text echoing the
 * temporary key or token is scrubbed, and a skip_sign call carries
 * "Authorization: SKIP" and no key at all.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tencentcloud.h"

typedef struct script {
    int provider_calls;
    int provider_fail;     /* TC_E* to return, 0 = succeed */
    const char *bad_token; /* a token to hand out instead, if set */
    int transport_calls;
    char auth[4][512];
    char token[4][256];
    bool echo;      /* answer an AuthFailure echoing the key and token */
    int fail_first; /* answer InternalError to this many first calls */
} script;

static const char *header(const tc_http_request *r, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < r->n_headers; i++)
        if (strncasecmp(r->headers[i], name, n) == 0 && r->headers[i][n] == ':')
            return r->headers[i] + n + 2;
    return NULL;
}

/* Generation n of the temporary credentials. */
static void gen(int n, char *id, char *key, char *tok)
{
    sprintf(id, "AKIDtmp%d", n);
    sprintf(key, "tmp-key-%d-secret", n);
    sprintf(tok, "tmp-token-%d-secret", n);
}

static int provider(void *payload, tc_credentials *out, tc_error *err)
{
    script *s = payload;
    s->provider_calls++;
    if (s->provider_fail != 0)
        return tc_error_set(err, s->provider_fail,
                            "credentials: the role answered nothing");
    char id[32], key[32], tok[32];
    gen(s->provider_calls, id, key, tok);
    out->secret_id = strdup(id);
    out->secret_key = strdup(key);
    out->token = strdup(s->bad_token ? s->bad_token : tok);
    return TC_OK;
}

static int transport(void *payload, const tc_http_request *req, long *status,
                     char **body, size_t *body_len, tc_error *err)
{
    (void)err;
    script *s = payload;
    int i = s->transport_calls++;
    assert_true(i < 4);
    const char *a = header(req, "Authorization");
    const char *t = header(req, "X-TC-Token");
    snprintf(s->auth[i], sizeof s->auth[i], "%s", a ? a : "");
    snprintf(s->token[i], sizeof s->token[i], "%s", t ? t : "");
    *status = 200;
    if (s->echo) {
        char id[32], key[32], tok[32];
        gen(s->provider_calls, id, key, tok);
        *body = malloc(512);
        snprintf(*body, 512,
                 "{\"Response\":{\"Error\":{\"Code\":\"AuthFailure."
                 "TokenFailure\",\"Message\":\"bad token %s for key %s\"},"
                 "\"RequestId\":\"r-%s\"}}",
                 tok, key, tok);
    } else if (i < s->fail_first) {
        *body = strdup("{\"Response\":{\"Error\":{\"Code\":\"InternalError\","
                       "\"Message\":\"try again\"},\"RequestId\":\"r\"}}");
    } else {
        *body = strdup("{\"Response\":{\"RequestId\":\"r-ok\"}}");
    }
    *body_len = strlen(*body);
    return TC_OK;
}

static void no_sleep(void *payload, long ms)
{
    (void)payload;
    (void)ms;
}

static int64_t fixed_clock(void *payload)
{
    (void)payload;
    return 1700000000;
}

static tc_client *new_client(script *s, bool skip_sign)
{
    tc_client_opts o = {
        .endpoint = "https://sts.example.test",
        .region = "ap-guangzhou",
        .max_retries = 2,
        .transport = transport,
        .sleep_ms = no_sleep,
        .clock = fixed_clock,
        .payload = s,
        .skip_sign = skip_sign,
    };
    if (!skip_sign) {
        o.credentials = provider;
        o.credentials_payload = s;
    }
    tc_client *c = NULL;
    tc_error err = {0};
    assert_int_equal(tc_client_new(&c, &o, &err), TC_OK);
    return c;
}

/* The signature a server would expect for generation n. */
static void expect_signed_by(const script *s, int call, int n)
{
    char id[32], key[32], tok[32];
    gen(n, id, key, tok);
    char want[64];
    snprintf(want, sizeof want, "Credential=%s/", id);
    assert_non_null(strstr(s->auth[call], want));
    assert_string_equal(s->token[call], tok);
}

static void test_each_attempt_asks_the_provider(void **state)
{
    (void)state;
    script s = {.fail_first = 1};
    tc_client *c = new_client(&s, false);
    assert_null(tc_client_secret_id(c));
    json_t *resp = NULL;
    tc_error err = {0};
    assert_int_equal(tc_call(c, "DescribeInstances", NULL, &resp, &err), TC_OK);
    json_decref(resp);
    /* a retry asks again: renewed credentials serve the next attempt */
    assert_int_equal(s.provider_calls, 2);
    assert_int_equal(s.transport_calls, 2);
    expect_signed_by(&s, 0, 1);
    expect_signed_by(&s, 1, 2);
    assert_int_equal(tc_call(c, "DescribeInstances", NULL, &resp, &err), TC_OK);
    json_decref(resp);
    expect_signed_by(&s, 2, 3);
    tc_client_free(c);
}

static void test_provider_failure_sends_nothing(void **state)
{
    (void)state;
    script s = {.provider_fail = TC_EAUTH};
    tc_client *c = new_client(&s, false);
    json_t *resp = NULL;
    tc_error err = {0};
    assert_int_equal(tc_call(c, "DescribeInstances", NULL, &resp, &err),
                     TC_EAUTH);
    assert_null(resp);
    assert_int_equal(s.transport_calls, 0);
    assert_non_null(strstr(err.message, "the role answered nothing"));
    tc_client_free(c);
}

static void test_provider_token_with_line_break_refused(void **state)
{
    (void)state;
    script s = {.bad_token = "tok\r\nX-Injected: 1"};
    tc_client *c = new_client(&s, false);
    json_t *resp = NULL;
    tc_error err = {0};
    assert_int_equal(tc_call(c, "DescribeInstances", NULL, &resp, &err),
                     TC_EINVAL);
    assert_int_equal(s.transport_calls, 0);
    assert_non_null(strstr(err.message, "X-TC-Token"));
    assert_null(strstr(err.message, "Injected"));
    tc_client_free(c);
}

static void test_server_echo_of_temporary_secrets_scrubbed(void **state)
{
    (void)state;
    script s = {.echo = true};
    tc_client *c = new_client(&s, false);
    json_t *resp = NULL;
    tc_error err = {0};
    assert_int_equal(tc_call(c, "DescribeInstances", NULL, &resp, &err),
                     TC_EAUTH);
    assert_null(strstr(err.message, "tmp-token-1-secret"));
    assert_null(strstr(err.message, "tmp-key-1-secret"));
    assert_null(strstr(err.request_id, "tmp-token-1-secret"));
    /* the temporary SecretId is named, as for a fixed key */
    assert_non_null(strstr(err.message, "AKIDtmp1"));
    tc_client_free(c);
}

static void test_skip_sign_sends_no_key(void **state)
{
    (void)state;
    script s = {0};
    tc_client *c = new_client(&s, true);
    json_t *resp = NULL;
    tc_error err = {0};
    assert_int_equal(tc_call(c, "AssumeRoleWithWebIdentity", NULL, &resp, &err),
                     TC_OK);
    json_decref(resp);
    assert_int_equal(s.transport_calls, 1);
    assert_string_equal(s.auth[0], "SKIP");
    assert_string_equal(s.token[0], "");
    tc_client_free(c);
}

static void test_no_key_no_provider_refused(void **state)
{
    (void)state;
    tc_client_opts o = {.region = "ap-guangzhou"};
    tc_client *c = NULL;
    tc_error err = {0};
    assert_int_equal(tc_client_new(&c, &o, &err), TC_EINVAL);
    assert_null(c);
}

static void test_sign_skip_headers(void **state)
{
    (void)state;
    tc_sign_input in = {
        .service = "sts",
        .host = "sts.tencentcloudapi.com",
        .action = "AssumeRoleWithWebIdentity",
        .version = "2018-08-13",
        .region = "ap-guangzhou",
        .timestamp = 1700000000,
        .payload = "{}",
        .payload_len = 2,
        .skip_sign = true,
    };
    tc_signature sig;
    assert_int_equal(tc_sign(&sig, &in, NULL), TC_OK);
    assert_string_equal(sig.headers[0], "Authorization: SKIP");
    bool region = false;
    for (size_t i = 0; i < sig.n_headers; i++)
        region |= strcmp(sig.headers[i], "X-TC-Region: ap-guangzhou") == 0;
    assert_true(region);
    tc_signature_clear(&sig);
    /* without skip_sign the key is required */
    in.skip_sign = false;
    assert_int_equal(tc_sign(&sig, &in, NULL), TC_EINVAL);
}

static void test_credentials_clear(void **state)
{
    (void)state;
    tc_credentials k = {strdup("id"), strdup("key"), strdup("tok")};
    tc_credentials_clear(&k);
    assert_null(k.secret_id);
    assert_null(k.secret_key);
    assert_null(k.token);
    tc_credentials_clear(&k);
    tc_credentials_clear(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_attempt_asks_the_provider),
        cmocka_unit_test(test_provider_failure_sends_nothing),
        cmocka_unit_test(test_provider_token_with_line_break_refused),
        cmocka_unit_test(test_server_echo_of_temporary_secrets_scrubbed),
        cmocka_unit_test(test_skip_sign_sends_no_key),
        cmocka_unit_test(test_no_key_no_provider_refused),
        cmocka_unit_test(test_sign_skip_headers),
        cmocka_unit_test(test_credentials_clear),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
