/*
 * sign.c - TC3-HMAC-SHA256 request signing (docs/tencentcloud-api.md §1).
 * Pure functions: no clock, no I/O. HMAC outputs are carried with explicit
 * lengths (32 bytes) because they are binary and may contain NUL bytes.
 */
#include "tencentcloud.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#define ALGORITHM "TC3-HMAC-SHA256"

static void hex_encode(char *out, const unsigned char *in, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0x0f];
    }
    out[2 * len] = '\0';
}

void tc_sha256_hex(char out[65], const void *data, size_t len)
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(data ? data : (const void *)"", len, md);
    hex_encode(out, md, sizeof(md));
}

static void hmac256(unsigned char out[32], const void *key, size_t key_len,
                    const char *msg)
{
    unsigned int out_len = 32;
    HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)msg,
         strlen(msg), out, &out_len);
}

void tc_sign_derive_keys(unsigned char out_date[32],
                         unsigned char out_service[32],
                         unsigned char out_signing[32], const char *secret_key,
                         const char *date, const char *service)
{
    size_t klen = strlen(secret_key) + 3;
    char *k = malloc(klen + 1);
    if (k == NULL) {
        /* Callers check inputs first; on OOM produce a key nobody can
         * match rather than reading uninitialised memory. */
        memset(out_date, 0, 32);
        memset(out_service, 0, 32);
        memset(out_signing, 0, 32);
        return;
    }
    snprintf(k, klen + 1, "TC3%s", secret_key);
    hmac256(out_date, k, klen, date);
    OPENSSL_cleanse(k, klen);
    free(k);
    hmac256(out_service, out_date, 32, service);
    hmac256(out_signing, out_service, 32, "tc3_request");
}

int tc_sign_date(char out[11], int64_t timestamp)
{
    time_t t = (time_t)timestamp;
    struct tm tm;
    if (timestamp < 0 || (int64_t)t != timestamp || gmtime_r(&t, &tm) == NULL)
        return TC_EINVAL;
    if (strftime(out, 11, "%Y-%m-%d", &tm) != 10)
        return TC_EINVAL;
    return TC_OK;
}

/* malloc'd printf; NULL on OOM. */
static char *fmt_alloc(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static char *fmt_alloc(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *s = malloc((size_t)n + 1);
    if (s == NULL)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* Trimmed, lowercased copy of a header value (the docs' canonical form). */
static char *canon_value(const char *v)
{
    while (*v == ' ' || *v == '\t')
        v++;
    size_t n = strlen(v);
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    char *s = malloc(n + 1);
    if (s == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++)
        s[i] = (char)tolower((unsigned char)v[i]);
    s[n] = '\0';
    return s;
}

/* A line break in the method or query would forge the canonical request. */
static bool bad_value(const char *v)
{
    return v != NULL && strpbrk(v, "\r\n") != NULL;
}

static bool empty(const char *s)
{
    return s == NULL || *s == '\0';
}

void tc_signature_clear(tc_signature *sig)
{
    if (sig == NULL)
        return;
    free(sig->canonical_request);
    free(sig->string_to_sign);
    free(sig->authorization);
    for (size_t i = 0; i < sig->n_headers && i < TC_SIGN_MAX_HEADERS; i++)
        free(sig->headers[i]);
    memset(sig, 0, sizeof(*sig));
}

/* The first control byte (below 0x20, or 0x7f) in v, or NULL. */
static const char *control_byte(const char *v)
{
    for (; *v != '\0'; v++)
        if ((unsigned char)*v < 0x20 || (unsigned char)*v == 0x7f)
            return v;
    return NULL;
}

/* The one place that builds the header lines sent: a value holding a
 * control byte (a line break would inject a header, whatever the value's
 * origin) is refused. The value itself is never quoted: it may be a
 * secret. */
static int add_header(tc_signature *s, const char *name, const char *value,
                      tc_error *err)
{
    const char *bad = control_byte(value);
    if (bad != NULL)
        return tc_error_set(err, TC_EINVAL,
                            "sign: the %s header value holds a control "
                            "character (byte 0x%02x at offset %zu); "
                            "refusing to send it",
                            name, (unsigned)(unsigned char)*bad,
                            (size_t)(bad - value));
    if (s->n_headers >= TC_SIGN_MAX_HEADERS)
        return tc_error_set(err, TC_ERR, "sign: too many headers");
    char *h = fmt_alloc("%s: %s", name, value);
    if (h == NULL)
        return tc_error_set(err, TC_ENOMEM, "sign: out of memory");
    s->headers[s->n_headers++] = h;
    return TC_OK;
}

/* The headers sent: the signed values exactly as signed (Content-Type
 * must match byte for byte), then the unsigned X-TC-* ones (the token of
 * temporary credentials among them). */
static int add_headers(tc_signature *out, const tc_sign_input *in,
                       const char *ctype, tc_error *err)
{
    const char *names[] = {"Authorization", "Content-Type", "Host",
                           "X-TC-Action",   "X-TC-Version", "X-TC-Timestamp",
                           "X-TC-Region",   "X-TC-Token",   "X-TC-Language"};
    const char *values[] = {out->authorization, ctype,       in->host,
                            in->action,         in->version, out->timestamp,
                            in->region,         in->token,   in->language};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (empty(values[i]))
            continue;
        int rc = add_header(out, names[i], values[i], err);
        if (rc != TC_OK)
            return rc;
    }
    return TC_OK;
}

void tc_credentials_clear(tc_credentials *c)
{
    if (c == NULL)
        return;
    free(c->secret_id);
    if (c->secret_key != NULL)
        OPENSSL_cleanse(c->secret_key, strlen(c->secret_key));
    free(c->secret_key);
    if (c->token != NULL)
        OPENSSL_cleanse(c->token, strlen(c->token));
    free(c->token);
    memset(c, 0, sizeof(*c));
}

int tc_sign(tc_signature *out, const tc_sign_input *in, tc_error *err)
{
    int rc = TC_OK;
    char *ct_c = NULL, *host_c = NULL, *action_c = NULL;
    unsigned char k_date[32], k_service[32], k_signing[32], mac[32];

    memset(out, 0, sizeof(*out));
    const char *method = empty(in->method) ? "POST" : in->method;
    const char *query = in->query ? in->query : "";
    const char *ctype =
        empty(in->content_type) ? "application/json" : in->content_type;

    if ((!in->skip_sign && (empty(in->secret_id) || empty(in->secret_key))) ||
        empty(in->service) || empty(in->host) || empty(in->action) ||
        empty(in->version)) {
        return tc_error_set(err, TC_EINVAL,
                            "sign: secret id/key, service, host, action "
                            "and version are required");
    }
    /* Header values are checked where the header lines are built
     * (add_header); the method and query only go into the canonical
     * request, where a line break would forge its structure. */
    if (bad_value(method) || bad_value(query))
        return tc_error_set(err, TC_EINVAL,
                            "sign: the method or query contains a line break");
    if (in->payload == NULL && in->payload_len != 0)
        return tc_error_set(err, TC_EINVAL, "sign: payload is NULL");
    if (tc_sign_date(out->date, in->timestamp) != TC_OK)
        return tc_error_set(err, TC_EINVAL, "sign: bad timestamp %lld",
                            (long long)in->timestamp);
    snprintf(out->timestamp, sizeof(out->timestamp), "%lld",
             (long long)in->timestamp);
    tc_sha256_hex(out->hashed_payload, in->payload, in->payload_len);
    if (in->skip_sign) {
        /* An unsigned call: the SDKs send "SKIP" and no signature. */
        out->authorization = fmt_alloc("SKIP");
        if (out->authorization == NULL)
            rc = tc_error_set(err, TC_ENOMEM, "sign: out of memory");
        else
            rc = add_headers(out, in, ctype, err);
        goto cleanup;
    }

    ct_c = canon_value(ctype);
    host_c = canon_value(in->host);
    action_c = canon_value(in->action);
    if (ct_c == NULL || host_c == NULL || action_c == NULL) {
        rc = tc_error_set(err, TC_ENOMEM, "sign: out of memory");
        goto cleanup;
    }

    /* Headers sorted by name: content-type < host < x-tc-action. */
    if (in->sign_action) {
        snprintf(out->signed_headers, sizeof(out->signed_headers),
                 "content-type;host;x-tc-action");
        out->canonical_request = fmt_alloc(
            "%s\n/\n%s\ncontent-type:%s\nhost:%s\nx-tc-action:%s\n\n%s\n%s",
            method, query, ct_c, host_c, action_c, out->signed_headers,
            out->hashed_payload);
    } else {
        snprintf(out->signed_headers, sizeof(out->signed_headers),
                 "content-type;host");
        out->canonical_request = fmt_alloc(
            "%s\n/\n%s\ncontent-type:%s\nhost:%s\n\n%s\n%s", method, query,
            ct_c, host_c, out->signed_headers, out->hashed_payload);
    }
    if (out->canonical_request == NULL) {
        rc = tc_error_set(err, TC_ENOMEM, "sign: out of memory");
        goto cleanup;
    }
    tc_sha256_hex(out->canonical_request_hash, out->canonical_request,
                  strlen(out->canonical_request));

    out->string_to_sign =
        fmt_alloc(ALGORITHM "\n%s\n%s/%s/tc3_request\n%s", out->timestamp,
                  out->date, in->service, out->canonical_request_hash);
    if (out->string_to_sign == NULL) {
        rc = tc_error_set(err, TC_ENOMEM, "sign: out of memory");
        goto cleanup;
    }

    tc_sign_derive_keys(k_date, k_service, k_signing, in->secret_key, out->date,
                        in->service);
    hmac256(mac, k_signing, sizeof(k_signing), out->string_to_sign);
    hex_encode(out->signature, mac, sizeof(mac));

    out->authorization = fmt_alloc(
        ALGORITHM " Credential=%s/%s/%s/tc3_request, SignedHeaders=%s, "
                  "Signature=%s",
        in->secret_id, out->date, in->service, out->signed_headers,
        out->signature);
    if (out->authorization == NULL) {
        rc = tc_error_set(err, TC_ENOMEM, "sign: out of memory");
        goto cleanup;
    }

    rc = add_headers(out, in, ctype, err);

cleanup:
    OPENSSL_cleanse(k_date, sizeof(k_date));
    OPENSSL_cleanse(k_service, sizeof(k_service));
    OPENSSL_cleanse(k_signing, sizeof(k_signing));
    free(ct_c);
    free(host_c);
    free(action_c);
    if (rc != TC_OK)
        tc_signature_clear(out);
    return rc;
}
