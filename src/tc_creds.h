/*
 * tc_creds.h - where the Tencent Cloud API credentials of the CCR -> TCR
 * mode come from, in the order of the official SDKs' default chain:
 *
 *   1. --secretFile (tencentcloud-secret.yaml, tc_secrets.h)
 *   2. TENCENTCLOUD_SECRET_ID / TENCENTCLOUD_SECRET_KEY
 *      (/ TENCENTCLOUD_SESSION_TOKEN)
 *   3. the profile file: TENCENTCLOUD_CREDENTIALS_FILE, else
 *      ~/.tencentcloud/credentials, else /etc/tencentcloud/credentials;
 *      INI, section [default] or --tc-profile NAME, keys secret_id and
 *      secret_key
 *   4. the CVM instance role: the metadata service lists the role name at
 *      .../cam/security-credentials/ and answers its temporary credentials
 *      (TmpSecretId, TmpSecretKey, Token, ExpiredTime) one level down
 *   5. the TKE OIDC web identity: TKE_ROLE_ARN, TKE_WEB_IDENTITY_TOKEN_FILE
 *      (or TKE_IDENTITY_TOKEN_FILE), TKE_PROVIDER_ID and TKE_REGION,
 *      exchanged with STS AssumeRoleWithWebIdentity (unsigned)
 *
 * The first source that has credentials wins; a source that is absent
 * (no file, metadata 404 or unreachable, no TKE_* variables) passes to
 * the next, a source that is present but broken is an error. Temporary
 * credentials (4, 5) are renewed IT_TC_RENEW_MARGIN_S before they expire,
 * by the provider the API clients call before each request
 * (it_tc_creds_get, a tc_credentials_fn).
 *
 * Test and advanced settings (environment): IT_TC_METADATA_URL (the
 * metadata base, default http://metadata.tencentyun.com/latest/meta-data/;
 * "off" skips the CVM role), IT_TC_STS_ENDPOINT (default
 * https://sts.tencentcloudapi.com), IT_TC_RENEW_MIN_S (the least time
 * between two renewals, default 10 s).
 *
 * No message or log line ever holds a key or a token: every secret is
 * registered with the log (it_log_add_secret) as soon as it is read.
 */
#ifndef IT_TC_CREDS_H
#define IT_TC_CREDS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errbuf.h"
#include "tencentcloud.h"

#define IT_TC_RENEW_MARGIN_S   300   /* renew this long before ExpiredTime */
#define IT_TC_MAX_LIFETIME_S   86400 /* a longer ExpiredTime is cut to this */
#define IT_TC_PROFILE_MAX_FILE (64 * 1024)
#define IT_TC_PROFILE_MAX_LINE 4096
#define IT_TC_ANSWER_MAX       (64 * 1024) /* metadata answer, token file */
#define IT_TC_VALUE_MAX        8192        /* a key, id or token */

typedef enum it_tc_source {
    IT_TC_SRC_SECRET_FILE,
    IT_TC_SRC_ENV,
    IT_TC_SRC_PROFILE,
    IT_TC_SRC_CVM_ROLE,
    IT_TC_SRC_TKE_OIDC
} it_tc_source;

/* Failures of it_tc_creds_resolve. */
enum {
    IT_TC_CREDS_ECONFIG = -1, /* no source, or a source is misconfigured */
    IT_TC_CREDS_EAUTH = -2    /* the metadata service or STS refused */
};

typedef struct it_tc_creds_opts {
    const char *secret_file; /* --secretFile, NULL = none */
    const char *profile;     /* --tc-profile, NULL = "default" */
    const char *ca_file;     /* extra CA bundle (STS), NULL = system */
    /* Test seams: NULL = /etc/tencentcloud/credentials, time(). */
    const char *system_profile;
    int64_t (*clock)(void *payload);
    void *clock_payload;
} it_tc_creds_opts;

typedef struct it_tc_creds it_tc_creds;

/* Walks the chain and fetches temporary credentials once (so that a role
 * that cannot be assumed fails before anything starts). Returns 0,
 * IT_TC_CREDS_ECONFIG or IT_TC_CREDS_EAUTH with a message naming every
 * source tried (never a secret). */
int it_tc_creds_resolve(it_tc_creds **out, const it_tc_creds_opts *o,
                        it_errbuf *err);
void it_tc_creds_free(it_tc_creds *c);
it_tc_source it_tc_creds_source(const it_tc_creds *c);
/* "profile file /home/u/.tencentcloud/credentials [default]", "CVM role
 * NAME", "TKE OIDC role ARN", "--secretFile FILE", "environment
 * (TENCENTCLOUD_SECRET_ID)". Borrowed. */
const char *it_tc_creds_describe(const it_tc_creds *c);
/* Fills the credentials fields of client options for one side (CCR or
 * TCR: a --secretFile may hold a key for each): fixed keys, or the
 * provider. c must outlive the client. */
void it_tc_creds_client_opts(it_tc_creds *c, bool tcr_side, tc_client_opts *co);
/* The provider (a tc_credentials_fn; payload: the it_tc_creds): the
 * current temporary credentials, renewed first when they are due.
 * Thread-safe: one renewal at a time. A failed renewal while the old
 * credentials are still valid keeps them (with a warning). */
int it_tc_creds_get(void *payload, tc_credentials *out, tc_error *err);
/* How many times temporary credentials were fetched (tests, the log). */
long it_tc_creds_fetches(it_tc_creds *c);

/* ------------------------------------------- parsers (pure, for tests) */

/* The profile file's text: section `profile`, keys secret_id and
 * secret_key (other keys ignored). Strict: at most IT_TC_PROFILE_MAX_FILE
 * bytes and IT_TC_PROFILE_MAX_LINE per line, "[name]" headers, "key =
 * value" lines, '#'/';' comments, a value in matching double quotes is
 * unquoted; a key given twice in the section, or any other line, is an
 * error with the line number. Returns 0 with *id and *key malloc'd, 1
 * when the section is absent (both NULL), -1 with a message. */
int it_tc_profile_parse(const char *text, size_t len, const char *profile,
                        const char *path, char **id, char **key,
                        it_errbuf *err);
/* The CVM role name from the metadata listing: the first line, 1..128
 * bytes of [A-Za-z0-9_+=,.@-]. Returns 0 or -1 with a message. */
int it_tc_role_name_parse(const char *body, size_t len, char out[129],
                          it_errbuf *err);
/* The metadata answer for a role: {"Code": "Success", "TmpSecretId",
 * "TmpSecretKey", "Token", "ExpiredTime": Unix s}. *expires is the
 * ExpiredTime, cut to now + IT_TC_MAX_LIFETIME_S; one in the past is an
 * error. Returns 0 with out filled, or -1 with a message. */
int it_tc_cvm_answer_parse(const char *body, size_t len, int64_t now,
                           tc_credentials *out, int64_t *expires,
                           it_errbuf *err);
/* STS AssumeRoleWithWebIdentity's Response object: Credentials {Token,
 * TmpSecretId, TmpSecretKey}, ExpiredTime (Unix s). As above. */
int it_tc_sts_answer_parse(json_t *response, int64_t now, tc_credentials *out,
                           int64_t *expires, it_errbuf *err);
/* When credentials expiring at `expires`, fetched at `fetched`, are due
 * for renewal: IT_TC_RENEW_MARGIN_S before, but never sooner than
 * min_interval after the fetch. */
int64_t it_tc_renew_at(int64_t fetched, int64_t expires, int64_t min_interval);

#endif /* IT_TC_CREDS_H */
