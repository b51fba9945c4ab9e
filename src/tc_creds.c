/*
 * tc_creds.c - the Tencent Cloud credentials chain and the provider that
 * renews temporary credentials (see tc_creds.h). Learned from the official
 * SDKs' providers (profile, CVM role, TKE OIDC); no message ever holds a
 * key or a token.
 */
#include "tc_creds.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <curl/curl.h>

#include "log.h"
#include "tc_secrets.h"
#include "text.h"
#include "util.h"

#define DEFAULT_METADATA_URL "http://metadata.tencentyun.com/latest/meta-data/"
#define ROLE_PATH            "cam/security-credentials/"
#define DEFAULT_STS_ENDPOINT "https://sts.tencentcloudapi.com"
#define STS_VERSION          "2018-08-13"
#define STS_DURATION_S       7200
#define DEFAULT_RENEW_MIN_S  10
#define SYSTEM_PROFILE       "/etc/tencentcloud/credentials"

struct it_tc_creds {
    it_tc_source source;
    char desc[512];
    /* fixed keys (secret file, environment, profile) */
    tc_credentials ccr, tcr;
    /* temporary credentials (CVM role, TKE OIDC) */
    pthread_mutex_t lock; /* cur, expires, renew_at, fetches */
    tc_credentials cur;
    int64_t expires;  /* Unix s */
    int64_t renew_at; /* Unix s */
    int64_t renew_min_s;
    long fetches;
    char role[129];     /* CVM role name */
    char *metadata_url; /* base, ends in '/' */
    char *role_arn;     /* TKE */
    char *provider_id;  /* TKE */
    char *token_file;   /* TKE */
    tc_client *sts;     /* TKE: unsigned STS client */
    int64_t (*clock)(void *payload);
    void *clock_payload;
};

/* ------------------------------------------------------------- helpers */

static int64_t now_of(const it_tc_creds *c)
{
    return c->clock ? c->clock(c->clock_payload) : (int64_t)time(NULL);
}

/* A key, id or token as it may be sent: 1..IT_TC_VALUE_MAX bytes, no
 * control byte, no space (the SDKs refuse spaces in keys too). */
static bool good_value(const char *v)
{
    if (v == NULL || v[0] == '\0' || strlen(v) > IT_TC_VALUE_MAX)
        return false;
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p <= 0x20 || *p == 0x7f)
            return false;
    return true;
}

static void register_secrets(const tc_credentials *k)
{
    it_log_add_secret(k->secret_key);
    it_log_add_secret(k->token);
}

static int creds_copy(tc_credentials *dst, const char *id, const char *key,
                      const char *tok)
{
    memset(dst, 0, sizeof *dst);
    dst->secret_id = strdup(id);
    dst->secret_key = strdup(key);
    dst->token = tok != NULL && tok[0] != '\0' ? strdup(tok) : NULL;
    if (dst->secret_id == NULL || dst->secret_key == NULL ||
        (tok != NULL && tok[0] != '\0' && dst->token == NULL)) {
        tc_credentials_clear(dst);
        return -1;
    }
    return 0;
}

/* Reads at most max bytes of path into a malloc'd NUL-terminated buffer.
 * Returns 0, 1 when the file does not exist (missing_ok), -1 with a
 * message. */
static int read_bounded(const char *path, size_t max, bool missing_ok,
                        const char *what, char **out, size_t *len,
                        it_errbuf *err)
{
    int rc = -1;
    char *buf = NULL;
    FILE *f = fopen(path, "rb");
    *out = NULL;
    *len = 0;
    if (f == NULL) {
        if (missing_ok && errno == ENOENT)
            return 1;
        it_set_err(err, "%s %s: %s", what, path, strerror(errno));
        return -1;
    }
    buf = malloc(max + 2);
    if (buf == NULL) {
        it_set_err(err, "out of memory");
        goto cleanup;
    }
    size_t n = fread(buf, 1, max + 1, f);
    if (ferror(f)) {
        it_set_err(err, "%s %s: read error", what, path);
        goto cleanup;
    }
    if (n > max) {
        it_set_err(err, "%s %s: larger than %zu bytes", what, path, max);
        goto cleanup;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    buf = NULL;
    rc = 0;
cleanup:
    free(buf);
    fclose(f);
    return rc;
}

/* ----------------------------------------------------- the profile file */

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

int it_tc_profile_parse(const char *text, size_t len, const char *profile,
                        const char *path, char **id, char **key, it_errbuf *err)
{
    int rc = -1;
    char line[IT_TC_PROFILE_MAX_LINE + 2];
    bool in_section = false, seen_section = false;
    size_t lineno = 0;

    *id = NULL;
    *key = NULL;
    if (len > IT_TC_PROFILE_MAX_FILE) {
        it_set_err(err, "%s: larger than %d bytes", path,
                   IT_TC_PROFILE_MAX_FILE);
        return -1;
    }
    if (memchr(text, '\0', len) != NULL) {
        it_set_err(err, "%s: holds a NUL byte (not a text file)", path);
        return -1;
    }
    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
        lineno++;
        if (n > IT_TC_PROFILE_MAX_LINE) {
            it_set_err(err, "%s:%zu: line longer than %d bytes", path, lineno,
                       IT_TC_PROFILE_MAX_LINE);
            goto cleanup;
        }
        memcpy(line, text + pos, n);
        line[n] = '\0';
        pos += n + (nl ? 1 : 0);
        char *l = trim(line);
        if (lineno == 1 && strncmp(l, "\xef\xbb\xbf", 3) == 0)
            l = trim(l + 3); /* a UTF-8 byte order mark */
        if (*l == '\0' || *l == '#' || *l == ';')
            continue;
        if (*l == '[') {
            char *end = strchr(l, ']');
            if (end == NULL || end[1] != '\0') {
                it_set_err(err, "%s:%zu: expected a section header [name]",
                           path, lineno);
                goto cleanup;
            }
            *end = '\0';
            in_section = strcmp(trim(l + 1), profile) == 0;
            seen_section |= in_section;
            continue;
        }
        char *eq = strchr(l, '=');
        if (eq == NULL) {
            it_set_err(err,
                       "%s:%zu: expected key = value, a [section] or a "
                       "# comment",
                       path, lineno);
            goto cleanup;
        }
        *eq = '\0';
        char *k = trim(l), *v = trim(eq + 1);
        size_t vn = strlen(v);
        if (vn >= 2 && v[0] == '"' && v[vn - 1] == '"') {
            v[vn - 1] = '\0';
            v++;
        }
        if (*k == '\0') {
            it_set_err(err, "%s:%zu: a value without a key", path, lineno);
            goto cleanup;
        }
        if (!in_section)
            continue;
        char **dst = strcmp(k, "secret_id") == 0    ? id
                     : strcmp(k, "secret_key") == 0 ? key
                                                    : NULL;
        if (dst == NULL)
            continue; /* region, role_arn, ...: other tools' keys */
        if (*dst != NULL) {
            it_set_err(err, "%s:%zu: [%s] gives %s twice", path, lineno,
                       profile, k);
            goto cleanup;
        }
        if (!good_value(v)) {
            it_set_err(err,
                       "%s:%zu: %s in [%s] is empty, too long or holds a "
                       "space or control character",
                       path, lineno, k, profile);
            goto cleanup;
        }
        *dst = strdup(v);
        if (*dst == NULL) {
            it_set_err(err, "out of memory");
            goto cleanup;
        }
    }
    if (!seen_section) {
        rc = 1;
        goto cleanup;
    }
    if (*id == NULL || *key == NULL) {
        it_set_err(err,
                   "%s: [%s] has no %s (expected secret_id and "
                   "secret_key)",
                   path, profile, *id == NULL ? "secret_id" : "secret_key");
        goto cleanup;
    }
    return 0;
cleanup:
    free(*id);
    if (*key != NULL)
        memset(*key, 0, strlen(*key));
    free(*key);
    *id = NULL;
    *key = NULL;
    return rc;
}

/* ------------------------------------------------------ answer parsers */

int it_tc_role_name_parse(const char *body, size_t len, char out[129],
                          it_errbuf *err)
{
    size_t n = 0;
    while (n < len && body[n] != '\n' && body[n] != '\r')
        n++;
    static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU"
                             "VWXYZ0123456789_+=,.@-";
    bool good = n > 0 && n <= 128;
    for (size_t i = 0; good && i < n; i++)
        good = body[i] != '\0' && strchr(ok, body[i]) != NULL;
    if (!good) {
        it_set_err(err, "the metadata service's role listing is not a CAM "
                        "role name (1 to 128 letters, digits or _+=,.@-)");
        return -1;
    }
    memcpy(out, body, n);
    out[n] = '\0';
    return 0;
}

/* ExpiredTime: an integer in (now, ...], cut to now + the max lifetime. */
static int expiry_of(json_t *v, int64_t now, const char *what, int64_t *expires,
                     it_errbuf *err)
{
    if (!json_is_integer(v)) {
        it_set_err(err, "%s: ExpiredTime is missing or not an integer", what);
        return -1;
    }
    json_int_t t = json_integer_value(v);
    if (t <= now) {
        it_set_err(err,
                   "%s: the credentials have already expired "
                   "(ExpiredTime %lld, now %lld)",
                   what, (long long)t, (long long)now);
        return -1;
    }
    *expires = t - now > IT_TC_MAX_LIFETIME_S ? now + IT_TC_MAX_LIFETIME_S
                                              : (int64_t)t;
    return 0;
}

static int creds_of(json_t *o, const char *what, tc_credentials *out,
                    it_errbuf *err)
{
    const char *id = json_string_value(json_object_get(o, "TmpSecretId"));
    const char *key = json_string_value(json_object_get(o, "TmpSecretKey"));
    const char *tok = json_string_value(json_object_get(o, "Token"));
    const char *bad = !good_value(id)    ? "TmpSecretId"
                      : !good_value(key) ? "TmpSecretKey"
                      : !good_value(tok) ? "Token"
                                         : NULL;
    if (bad != NULL) {
        it_set_err(err,
                   "%s: %s is missing, empty, too long or holds a space or "
                   "control character",
                   what, bad);
        return -1;
    }
    if (creds_copy(out, id, key, tok) != 0) {
        it_set_err(err, "out of memory");
        return -1;
    }
    return 0;
}

int it_tc_cvm_answer_parse(const char *body, size_t len, int64_t now,
                           tc_credentials *out, int64_t *expires,
                           it_errbuf *err)
{
    int rc = -1;
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    memset(out, 0, sizeof *out);
    if (!json_is_object(root)) {
        it_set_err(err, "CVM role credentials: the answer is not a JSON "
                        "object");
        goto cleanup;
    }
    const char *code = json_string_value(json_object_get(root, "Code"));
    if (code == NULL || strcmp(code, "Success") != 0) {
        char shown[64];
        it_sanitize(shown, sizeof shown, code ? code : "(none)");
        it_set_err(err, "CVM role credentials: Code is %s, not Success", shown);
        goto cleanup;
    }
    if (expiry_of(json_object_get(root, "ExpiredTime"), now,
                  "CVM role credentials", expires, err) != 0 ||
        creds_of(root, "CVM role credentials", out, err) != 0)
        goto cleanup;
    rc = 0;
cleanup:
    json_decref(root);
    return rc;
}

int it_tc_sts_answer_parse(json_t *response, int64_t now, tc_credentials *out,
                           int64_t *expires, it_errbuf *err)
{
    memset(out, 0, sizeof *out);
    json_t *cr = json_object_get(response, "Credentials");
    if (!json_is_object(cr)) {
        it_set_err(err, "AssumeRoleWithWebIdentity: the answer has no "
                        "Credentials object");
        return -1;
    }
    if (expiry_of(json_object_get(response, "ExpiredTime"), now,
                  "AssumeRoleWithWebIdentity", expires, err) != 0 ||
        creds_of(cr, "AssumeRoleWithWebIdentity", out, err) != 0)
        return -1;
    return 0;
}

int64_t it_tc_renew_at(int64_t fetched, int64_t expires, int64_t min_interval)
{
    int64_t at = expires - IT_TC_RENEW_MARGIN_S;
    return at < fetched + min_interval ? fetched + min_interval : at;
}

/* ------------------------------------------------------ metadata (HTTP) */

typedef struct body_buf {
    char data[IT_TC_ANSWER_MAX + 1];
    size_t len;
    bool too_big;
} body_buf;

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    body_buf *b = ud;
    size_t n = size * nmemb;
    if (b->len + n > IT_TC_ANSWER_MAX) {
        b->too_big = true;
        return 0;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

/* One GET of the metadata service: *status 0 when nothing answered.
 * Returns 0, or -1 with a message (no answer, too big). */
static int http_get(const char *url, long *status, body_buf *b, it_errbuf *err)
{
    int rc = -1;
    CURL *h = curl_easy_init();
    *status = 0;
    b->len = 0;
    b->data[0] = '\0';
    b->too_big = false;
    if (h == NULL) {
        it_set_err(err, "curl_easy_init failed");
        return -1;
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "image-transfer");
    CURLcode cc = curl_easy_perform(h);
    if (cc != CURLE_OK) {
        it_set_err(err, "%s",
                   b->too_big ? "answer too large" : curl_easy_strerror(cc));
        goto cleanup;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    rc = 0;
cleanup:
    curl_easy_cleanup(h);
    return rc;
}

/* ------------------------------------------------------------- fetching */

/* The CVM role's credentials now. */
static int fetch_cvm(it_tc_creds *c, tc_credentials *out, int64_t *expires,
                     it_errbuf *err)
{
    int rc = -1;
    long status = 0;
    it_errbuf e = {{0}};
    body_buf *b = malloc(sizeof *b);
    char *url = malloc(strlen(c->metadata_url) + sizeof ROLE_PATH + 130);
    if (b == NULL || url == NULL) {
        it_set_err(err, "out of memory");
        goto cleanup;
    }
    sprintf(url, "%s" ROLE_PATH "%s", c->metadata_url, c->role);
    if (http_get(url, &status, b, &e) != 0) {
        it_set_err(err, "CVM role %s: the metadata service did not answer: %s",
                   c->role, e.msg);
        goto cleanup;
    }
    if (status != 200) {
        it_set_err(err, "CVM role %s: the metadata service answered HTTP %ld",
                   c->role, status);
        goto cleanup;
    }
    if (it_tc_cvm_answer_parse(b->data, b->len, now_of(c), out, expires, &e) !=
        0) {
        it_set_err(err, "CVM role %s: %s", c->role, e.msg);
        goto cleanup;
    }
    rc = 0;
cleanup:
    free(url);
    free(b);
    return rc;
}

/* The web identity token, read afresh each time (the kubelet rotates it). */
static int read_identity_token(const it_tc_creds *c, char **out, it_errbuf *err)
{
    size_t len = 0;
    if (read_bounded(c->token_file, IT_TC_ANSWER_MAX, false,
                     "TKE identity token file", out, &len, err) != 0)
        return -1;
    while (len > 0 && isspace((unsigned char)(*out)[len - 1]))
        (*out)[--len] = '\0';
    bool ok = len > 0;
    for (size_t i = 0; ok && i < len; i++)
        ok = (unsigned char)(*out)[i] > 0x20 && (*out)[i] != 0x7f;
    if (!ok) {
        it_set_err(err,
                   "TKE identity token file %s: empty, or holds a space or "
                   "control character",
                   c->token_file);
        free(*out);
        *out = NULL;
        return -1;
    }
    it_log_add_secret(*out);
    return 0;
}

static int fetch_oidc(it_tc_creds *c, tc_credentials *out, int64_t *expires,
                      it_errbuf *err)
{
    int rc = -1;
    char *jwt = NULL;
    json_t *req = NULL, *resp = NULL;
    tc_error terr = {0};
    struct timeval tv;
    char session[64];

    if (read_identity_token(c, &jwt, err) != 0)
        goto cleanup;
    gettimeofday(&tv, NULL);
    snprintf(session, sizeof session, "image-transfer-%lld%06ld",
             (long long)tv.tv_sec, (long)tv.tv_usec);
    req = json_pack("{s:s, s:s, s:s, s:s, s:i}", "ProviderId", c->provider_id,
                    "WebIdentityToken", jwt, "RoleArn", c->role_arn,
                    "RoleSessionName", session, "DurationSeconds",
                    STS_DURATION_S);
    if (req == NULL) {
        it_set_err(err, "out of memory");
        goto cleanup;
    }
    if (tc_call(c->sts, "AssumeRoleWithWebIdentity", req, &resp, &terr) !=
        TC_OK) {
        char shown[sizeof terr.message];
        it_sanitize(shown, sizeof shown, terr.message);
        it_set_err(err, "%s: STS %s", c->desc, shown);
        goto cleanup;
    }
    it_errbuf e = {{0}};
    if (it_tc_sts_answer_parse(resp, now_of(c), out, expires, &e) != 0) {
        it_set_err(err, "%s: %s", c->desc, e.msg);
        goto cleanup;
    }
    rc = 0;
cleanup:
    json_decref(resp);
    json_decref(req);
    if (jwt != NULL)
        memset(jwt, 0, strlen(jwt));
    free(jwt);
    return rc;
}

/* Fetches new temporary credentials into c->cur (lock held). */
static int refresh(it_tc_creds *c, it_errbuf *err)
{
    tc_credentials k = {0};
    int64_t expires = 0;
    int rc = c->source == IT_TC_SRC_CVM_ROLE ? fetch_cvm(c, &k, &expires, err)
                                             : fetch_oidc(c, &k, &expires, err);
    if (rc != 0)
        return -1;
    register_secrets(&k);
    tc_credentials_clear(&c->cur);
    c->cur = k;
    c->expires = expires;
    int64_t now = now_of(c);
    c->renew_at = it_tc_renew_at(now, expires, c->renew_min_s);
    c->fetches++;
    log_debug("Tencent Cloud credentials (%s) fetched, valid for %lld s",
              c->desc, (long long)(expires - now));
    return 0;
}

int it_tc_creds_get(void *payload, tc_credentials *out, tc_error *err)
{
    it_tc_creds *c = payload;
    int rc = TC_OK;
    it_errbuf e = {{0}};

    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&c->lock);
    int64_t now = now_of(c);
    if (now >= c->renew_at && refresh(c, &e) != 0) {
        if (c->cur.secret_id != NULL && now < c->expires) {
            log_warn("renewing the Tencent Cloud credentials failed (%s); "
                     "the current ones stay valid for %lld s",
                     e.msg, (long long)(c->expires - now));
            c->renew_at = now + c->renew_min_s;
        } else {
            rc = tc_error_set(err, TC_EAUTH, "Tencent Cloud credentials: %s",
                              e.msg);
            goto out;
        }
    }
    if (creds_copy(out, c->cur.secret_id, c->cur.secret_key, c->cur.token) != 0)
        rc = tc_error_set(err, TC_ENOMEM, "out of memory");
out:
    pthread_mutex_unlock(&c->lock);
    return rc;
}

/* ------------------------------------------------------------- sources */

static bool env_set(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0';
}

/* 1 and 2: --secretFile, else the environment (tc_secrets.c). */
static int try_static(it_tc_creds *c, const it_tc_creds_opts *o, it_errbuf *err)
{
    it_tc_secrets *s = NULL;
    if (o->secret_file == NULL && !env_set("TENCENTCLOUD_SECRET_ID") &&
        !env_set("TENCENTCLOUD_SECRET_KEY"))
        return 1;
    if (it_tc_secrets_load(&s, o->secret_file, err) != 0)
        return -1;
    int rc = 0;
    if (creds_copy(&c->ccr, s->ccr.secret_id, s->ccr.secret_key,
                   s->ccr.token) != 0 ||
        creds_copy(&c->tcr, s->tcr.secret_id, s->tcr.secret_key,
                   s->tcr.token) != 0) {
        it_set_err(err, "out of memory");
        rc = -1;
    }
    it_tc_secrets_free(s);
    if (rc != 0)
        return -1;
    if (o->secret_file != NULL) {
        c->source = IT_TC_SRC_SECRET_FILE;
        char shown[400];
        it_escape(shown, sizeof shown, o->secret_file);
        snprintf(c->desc, sizeof c->desc, "--secretFile %s", shown);
    } else {
        c->source = IT_TC_SRC_ENV;
        snprintf(c->desc, sizeof c->desc,
                 "environment (TENCENTCLOUD_SECRET_ID)");
    }
    return 0;
}

/* 3: the profile file. Returns 0, 1 (no file; why in `why`), -1. */
static int try_profile(it_tc_creds *c, const it_tc_creds_opts *o, char *why,
                       size_t why_cap, it_errbuf *err)
{
    int rc = -1;
    const char *profile = o->profile && *o->profile ? o->profile : "default";
    const char *env = getenv("TENCENTCLOUD_CREDENTIALS_FILE");
    const char *home = getenv("HOME");
    char *home_path = NULL, *text = NULL, *id = NULL, *key = NULL;
    const char *path = NULL;
    size_t len = 0;

    if (env != NULL) {
        if (env[0] == '\0') {
            it_set_err(err, "TENCENTCLOUD_CREDENTIALS_FILE is set but empty");
            return -1;
        }
        path = env;
        if (read_bounded(path, IT_TC_PROFILE_MAX_FILE, false,
                         "TENCENTCLOUD_CREDENTIALS_FILE", &text, &len,
                         err) != 0)
            goto cleanup;
    } else {
        int r = 1;
        if (home != NULL && home[0] != '\0') {
            home_path = it_join2(home, '/', ".tencentcloud/credentials");
            if (home_path == NULL) {
                it_set_err(err, "out of memory");
                goto cleanup;
            }
            path = home_path;
            r = read_bounded(path, IT_TC_PROFILE_MAX_FILE, true, "profile file",
                             &text, &len, err);
        }
        if (r == 1) {
            path = o->system_profile ? o->system_profile : SYSTEM_PROFILE;
            r = read_bounded(path, IT_TC_PROFILE_MAX_FILE, true, "profile file",
                             &text, &len, err);
        }
        if (r < 0)
            goto cleanup;
        if (r == 1) {
            snprintf(why, why_cap,
                     "no profile file (TENCENTCLOUD_CREDENTIALS_FILE, "
                     "~/.tencentcloud/credentials, %s)",
                     o->system_profile ? o->system_profile : SYSTEM_PROFILE);
            if (o->profile != NULL && o->profile[0] != '\0') {
                it_set_err(err, "--tc-profile %s: %s", profile, why);
                goto cleanup;
            }
            rc = 1;
            goto cleanup;
        }
    }
    char shown[300];
    it_escape(shown, sizeof shown, path);
    int r = it_tc_profile_parse(text, len, profile, shown, &id, &key, err);
    if (r == 1) {
        it_set_err(err, "%s: no [%s] section%s", shown, profile,
                   o->profile ? "" : " (or give --tc-profile NAME)");
        goto cleanup;
    }
    if (r != 0)
        goto cleanup;
    if (creds_copy(&c->ccr, id, key, NULL) != 0 ||
        creds_copy(&c->tcr, id, key, NULL) != 0) {
        it_set_err(err, "out of memory");
        goto cleanup;
    }
    c->source = IT_TC_SRC_PROFILE;
    snprintf(c->desc, sizeof c->desc, "profile file %s [%s]", shown, profile);
    rc = 0;
cleanup:
    free(home_path);
    if (text != NULL)
        memset(text, 0, len);
    free(text);
    free(id);
    if (key != NULL)
        memset(key, 0, strlen(key));
    free(key);
    return rc;
}

/* 4: the CVM role. Returns 0, 1 (no role; why in `why`), or an error. */
static int try_cvm(it_tc_creds *c, char *why, size_t why_cap, it_errbuf *err)
{
    int rc = 1;
    const char *base = getenv("IT_TC_METADATA_URL");
    long status = 0;
    it_errbuf e = {{0}};
    body_buf *b = NULL;
    char *url = NULL;

    if (base != NULL && strcmp(base, "off") == 0) {
        snprintf(why, why_cap, "no CVM role (IT_TC_METADATA_URL=off)");
        return 1;
    }
    if (base == NULL || base[0] == '\0')
        base = DEFAULT_METADATA_URL;
    size_t n = strlen(base);
    c->metadata_url = malloc(n + 2);
    b = malloc(sizeof *b);
    url = malloc(n + sizeof ROLE_PATH + 1);
    if (c->metadata_url == NULL || b == NULL || url == NULL) {
        it_set_err(err, "out of memory");
        rc = IT_TC_CREDS_ECONFIG;
        goto cleanup;
    }
    snprintf(c->metadata_url, n + 2, "%s%s", base,
             n > 0 && base[n - 1] == '/' ? "" : "/");
    sprintf(url, "%s" ROLE_PATH, c->metadata_url);
    if (http_get(url, &status, b, &e) != 0) {
        snprintf(why, why_cap, "no CVM role (metadata service: %.160s)", e.msg);
        goto cleanup;
    }
    if (status != 200) {
        snprintf(why, why_cap, "no CVM role (metadata service: HTTP %ld)",
                 status);
        goto cleanup;
    }
    if (it_tc_role_name_parse(b->data, b->len, c->role, &e) != 0) {
        snprintf(why, why_cap, "no CVM role (%.180s)", e.msg);
        goto cleanup;
    }
    c->source = IT_TC_SRC_CVM_ROLE;
    snprintf(c->desc, sizeof c->desc, "CVM role %s", c->role);
    rc = refresh(c, err) == 0 ? 0 : IT_TC_CREDS_EAUTH;
cleanup:
    free(url);
    free(b);
    return rc;
}

/* 5: TKE OIDC. Returns 0, 1 (no TKE_* variables), or an error. */
static int try_oidc(it_tc_creds *c, const it_tc_creds_opts *o, char *why,
                    size_t why_cap, it_errbuf *err)
{
    /* The SDKs read TKE_WEB_IDENTITY_TOKEN_FILE; TKE_IDENTITY_TOKEN_FILE
     * is taken too. */
    const char *file_var = !env_set("TKE_WEB_IDENTITY_TOKEN_FILE") &&
                                   env_set("TKE_IDENTITY_TOKEN_FILE")
                               ? "TKE_IDENTITY_TOKEN_FILE"
                               : "TKE_WEB_IDENTITY_TOKEN_FILE";
    const char *names[] = {"TKE_ROLE_ARN", file_var, "TKE_PROVIDER_ID",
                           "TKE_REGION"};
    int set = 0;
    const char *missing = NULL;
    for (size_t i = 0; i < 4; i++) {
        if (env_set(names[i]))
            set++;
        else if (missing == NULL)
            missing = names[i];
    }
    if (set == 0) {
        snprintf(why, why_cap, "no TKE OIDC role (TKE_ROLE_ARN not set)");
        return 1;
    }
    if (missing != NULL) {
        it_set_err(err,
                   "TKE OIDC: %s is not set (expected TKE_ROLE_ARN, "
                   "TKE_WEB_IDENTITY_TOKEN_FILE, TKE_PROVIDER_ID and "
                   "TKE_REGION)",
                   missing);
        return IT_TC_CREDS_ECONFIG;
    }
    const char *region = getenv("TKE_REGION");
    const char *ep = getenv("IT_TC_STS_ENDPOINT");
    c->role_arn = strdup(getenv("TKE_ROLE_ARN"));
    c->provider_id = strdup(getenv("TKE_PROVIDER_ID"));
    c->token_file = strdup(getenv(file_var));
    if (c->role_arn == NULL || c->provider_id == NULL ||
        c->token_file == NULL) {
        it_set_err(err, "out of memory");
        return IT_TC_CREDS_ECONFIG;
    }
    tc_client_opts co = {
        .endpoint = ep && *ep ? ep : DEFAULT_STS_ENDPOINT,
        .region = region,
        .version = STS_VERSION,
        .service = "sts",
        .max_retries = -1,
        .ca_file = o->ca_file,
        .skip_sign = true,
    };
    tc_error terr = {0};
    if (tc_client_new(&c->sts, &co, &terr) != TC_OK) {
        it_set_err(err, "TKE OIDC: STS client: %s", terr.message);
        return IT_TC_CREDS_ECONFIG;
    }
    char shown[400];
    it_escape(shown, sizeof shown, c->role_arn);
    c->source = IT_TC_SRC_TKE_OIDC;
    snprintf(c->desc, sizeof c->desc, "TKE OIDC role %s", shown);
    return refresh(c, err) == 0 ? 0 : IT_TC_CREDS_EAUTH;
}

int it_tc_creds_resolve(it_tc_creds **out, const it_tc_creds_opts *o,
                        it_errbuf *err)
{
    int rc = IT_TC_CREDS_ECONFIG;
    char why_profile[256] = "", why_cvm[256] = "", why_oidc[128] = "";
    it_tc_creds *c = calloc(1, sizeof *c);

    *out = NULL;
    if (c == NULL) {
        it_set_err(err, "out of memory");
        return IT_TC_CREDS_ECONFIG;
    }
    pthread_mutex_init(&c->lock, NULL);
    c->clock = o->clock;
    c->clock_payload = o->clock_payload;
    const char *min = getenv("IT_TC_RENEW_MIN_S");
    char *end = NULL;
    long v = min ? strtol(min, &end, 10) : -1;
    c->renew_min_s = min && *min && *end == '\0' && v >= 0 && v <= 3600
                         ? v
                         : DEFAULT_RENEW_MIN_S;

    int r = try_static(c, o, err);
    if (r == 1)
        r = try_profile(c, o, why_profile, sizeof why_profile, err);
    if (r == 1)
        r = try_cvm(c, why_cvm, sizeof why_cvm, err);
    if (r == 1)
        r = try_oidc(c, o, why_oidc, sizeof why_oidc, err);
    if (r == 1) {
        it_set_err(err,
                   "no Tencent Cloud API key: give --secretFile=FILE, set "
                   "TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY, or "
                   "use a profile file, a CVM role or a TKE OIDC role; "
                   "found %s; %s; %s",
                   why_profile, why_cvm, why_oidc);
        goto cleanup;
    }
    if (r != 0) {
        rc = r == IT_TC_CREDS_EAUTH ? IT_TC_CREDS_EAUTH : IT_TC_CREDS_ECONFIG;
        goto cleanup;
    }
    register_secrets(&c->ccr);
    register_secrets(&c->tcr);
    *out = c;
    c = NULL;
    rc = 0;
cleanup:
    it_tc_creds_free(c);
    return rc;
}

void it_tc_creds_free(it_tc_creds *c)
{
    if (c == NULL)
        return;
    tc_credentials_clear(&c->ccr);
    tc_credentials_clear(&c->tcr);
    tc_credentials_clear(&c->cur);
    tc_client_free(c->sts);
    free(c->metadata_url);
    free(c->role_arn);
    free(c->provider_id);
    free(c->token_file);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

it_tc_source it_tc_creds_source(const it_tc_creds *c)
{
    return c->source;
}

const char *it_tc_creds_describe(const it_tc_creds *c)
{
    return c->desc;
}

void it_tc_creds_client_opts(it_tc_creds *c, bool tcr_side, tc_client_opts *co)
{
    if (c->source == IT_TC_SRC_CVM_ROLE || c->source == IT_TC_SRC_TKE_OIDC) {
        co->credentials = it_tc_creds_get;
        co->credentials_payload = c;
        return;
    }
    const tc_credentials *k = tcr_side ? &c->tcr : &c->ccr;
    co->secret_id = k->secret_id;
    co->secret_key = k->secret_key;
    co->token = k->token;
}

long it_tc_creds_fetches(it_tc_creds *c)
{
    pthread_mutex_lock(&c->lock);
    long n = c->fetches;
    pthread_mutex_unlock(&c->lock);
    return n;
}
