/*
 * tencentcloud.h - Tencent Cloud API 3.0 client for the TCR service
 * (tcr / 2019-09-24): the TC3-HMAC-SHA256 signer, one generic signed call
 * over libcurl with retries, and typed, fully paginated wrappers for the
 * personal-edition (CCR) and enterprise-edition (TCR) actions a CCR -> TCR
 * migration needs. Knows nothing of registries.
 *
 * Reference: docs/tencentcloud-api.md (sections in brackets below).
 *
 * Ownership: every `**out` result belongs to the caller and is freed with
 * the matching `_free()` function, which accepts NULL. Input strings are
 * copied when kept. `const char *` results of getters are borrowed.
 *
 * Errors: functions return TC_OK (0) or a negative TC_E* code. The details
 * go to the caller's `tc_error` (may be NULL): the API's dotted Code, the
 * server's Message, the RequestId and the HTTP status. No message ever
 * contains the SecretKey, the session token or the Authorization header
 * (server text is scrubbed of both secrets before it is stored).
 *
 * Threads: a tc_client is thread-safe. Its options are immutable after
 * tc_client_new(); tc_call() and the wrappers may run on several threads
 * at once on the same client (the CCR planner and the engine's workers
 * do), provided the transport, clocks, sleep and before_request hooks
 * given in the options are thread-safe (the defaults are). What calls
 * share is guarded inside: the connection pool and the rate buckets each
 * by their own mutex, libcurl's shared caches by lock callbacks, the
 * jitter generator and the counters are atomics. tc_client_free() must
 * not race with calls in flight. The default (libcurl) transport needs
 * the caller to have called curl_global_init() once, in main, before any
 * thread starts (and curl_global_cleanup() at exit): the library never
 * touches process-wide state itself.
 *
 * Connections: the default transport keeps a pool of libcurl handles, one
 * per concurrent caller (up to 32 kept idle), each holding its keep-alive
 * connection (TCP keepalive on) and its cached CA store (the bundle is
 * read once per handle, CURLOPT_CA_CACHE_TIMEOUT); TLS sessions and DNS
 * answers are shared between the handles. N threads calling one client
 * open about N connections in all, not one per call.
 *
 * Rate limits: every call waits for a token of its action's bucket
 * (tc_action_rate(): the documented N/s; the client keeps to 0.9 N with a
 * burst of N/10, so no one-second window sees more than N calls). A
 * RequestLimitExceeded* answer is retried with the backoff like any
 * throttling, and halves that action's rate for a while (at most once per
 * 250 ms, down to 0.5/s); it grows back by a tenth per calm second (from 2 s
 * after).
 *
 * The library never prints, never exits, never reads the environment.
 */
#ifndef TENCENTCLOUD_H
#define TENCENTCLOUD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ errors */

enum {
    TC_OK = 0,
    TC_ERR = -1,       /* anything else: bad response, quota, non-200 HTTP */
    TC_EAUTH = -2,     /* AuthFailure*, UnauthorizedOperation* */
    TC_ERETRY = -3,    /* RequestLimitExceeded*, InternalError* (except  */
                       /* conflicts), ServiceUnavailable*, transport and */
                       /* HTTP 429/5xx: still failing after the retries  */
    TC_ENOTFOUND = -4, /* ResourceNotFound* */
    TC_ECONFLICT = -5, /* already exists: *Conflict*, *Exist, ResourceInUse */
    TC_EINVAL = -6,    /* bad argument, InvalidParameter*, MissingParameter,
                          UnknownParameter, InvalidAction, NoSuchVersion */
    TC_ENOMEM = -7,
    TC_ELIMIT = -8 /* a listing passed its cap on items or pages (not
                      retryable; the message names the limit) */
};

typedef struct tc_error {
    int code;            /* one of TC_E*, 0 when unset */
    char api_code[64];   /* e.g. "AuthFailure.SignatureFailure"; "" when the
                            failure is local (transport, parse, argument) */
    char message[512];   /* human text, with the action as context */
    char request_id[64]; /* Response.RequestId, "" if none */
    long http_status;    /* last HTTP status, 0 if no response */
} tc_error;

/* Sets code and a printf-style message (api_code etc. untouched); returns
 * code. err may be NULL. */
int tc_error_set(tc_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Clears err to "no error". */
void tc_error_clear(tc_error *err);
/* Maps an API error Code (dotted string) to a TC_E* code. Conflict codes
 * win over their family (InternalError.ErrorTcrResourceConflict is
 * TC_ECONFLICT, not retried). Unknown codes are TC_ERR. */
int tc_error_code_for(const char *api_code);
/* Short static name of a code: "authentication failed", ... */
const char *tc_strerror(int code);

/* ----------------------------------------------------------------- signing */

#define TC_SIGN_MAX_HEADERS 12

/* Everything the TC3-HMAC-SHA256 signature depends on [1.1-1.6]. */
typedef struct tc_sign_input {
    const char *secret_id;
    const char *secret_key;
    const char *service;      /* "tcr" */
    const char *host;         /* Host header value, incl. ":port" if any */
    const char *method;       /* NULL = "POST" */
    const char *query;        /* canonical query string; NULL = "" */
    const char *content_type; /* NULL = "application/json" */
    const char *action;       /* X-TC-Action, e.g. "DescribeNamespaces" */
    const char *version;      /* X-TC-Version, e.g. "2019-09-24" */
    const char *region;       /* X-TC-Region; NULL or "" = not sent */
    const char *token;        /* X-TC-Token; NULL or "" = not sent */
    const char *language;     /* X-TC-Language; NULL or "" = not sent */
    int64_t timestamp;        /* Unix seconds; the date is its UTC date */
    const void *payload;      /* exact body bytes (NULL with len 0 = "") */
    size_t payload_len;
    bool sign_action; /* also sign x-tc-action (the docs' demo style);
                         the SDKs sign only content-type;host */
    bool skip_sign;   /* an unsigned call (STS AssumeRoleWithWebIdentity,
                         the SDKs' "SkipSign"): Authorization is "SKIP",
                         no secret id/key needed, nothing is computed but
                         the timestamp, date and payload hash */
} tc_sign_input;

/* The signature and every intermediate, for requests and for tests. */
typedef struct tc_signature {
    char timestamp[24];      /* decimal Unix seconds */
    char date[11];           /* "YYYY-MM-DD", UTC */
    char hashed_payload[65]; /* hex sha256 of the body */
    char signed_headers[64]; /* "content-type;host[;x-tc-action]" */
    char canonical_request_hash[65];
    char signature[65];
    char *canonical_request; /* malloc'd */
    char *string_to_sign;    /* malloc'd */
    char *authorization;     /* malloc'd Authorization header value */
    /* "Name: value" lines to send, malloc'd: Authorization, Content-Type,
     * Host, X-TC-Action, X-TC-Version, X-TC-Timestamp, then X-TC-Region,
     * X-TC-Token, X-TC-Language when set. */
    char *headers[TC_SIGN_MAX_HEADERS];
    size_t n_headers;
} tc_signature;

/*
 * Pure function: computes the signature of `in` into *out (which it
 * initialises). Returns TC_OK, TC_EINVAL (missing input, a line break in
 * the method or query, or a header value holding a control character:
 * a byte below 0x20 or 0x7f; the message names the header, never the
 * value) or TC_ENOMEM; on failure *out holds nothing to free. Free the
 * result with tc_signature_clear(). The secret key is not copied into out.
 */
int tc_sign(tc_signature *out, const tc_sign_input *in, tc_error *err);
/* Frees the malloc'd members and zeroes *sig (safe on a zeroed struct). */
void tc_signature_clear(tc_signature *sig);
/* The derived keys [1.4]: out_date = HMAC("TC3"+key, date), out_service,
 * out_signing, each 32 raw bytes. For tests against published values. */
void tc_sign_derive_keys(unsigned char out_date[32],
                         unsigned char out_service[32],
                         unsigned char out_signing[32], const char *secret_key,
                         const char *date, const char *service);
/* Writes the UTC date of a Unix timestamp ("YYYY-MM-DD") into out[11].
 * Returns TC_OK or TC_EINVAL when out of range. */
int tc_sign_date(char out[11], int64_t timestamp);
/* Lowercase hex of sha256(data) into out[65]. */
void tc_sha256_hex(char out[65], const void *data, size_t len);

/* ----------------------------------------------------------- credentials */

/* One set of API credentials: a SecretId/SecretKey pair and, for
 * temporary credentials (CVM role, STS), the token sent as X-TC-Token.
 * Strings are malloc'd; tc_credentials_clear() wipes and frees them. */
typedef struct tc_credentials {
    char *secret_id;
    char *secret_key;
    char *token; /* NULL = none */
} tc_credentials;

/* Wipes the key and token, frees every member, zeroes *c (NULL is fine). */
void tc_credentials_clear(tc_credentials *c);

/*
 * A credentials provider: fills *out (zeroed on entry) with the
 * credentials to sign the next request with, as malloc'd copies the
 * client clears after the request. The client calls it before every
 * attempt of every call, from any thread that calls it: it must be
 * thread-safe, and is where temporary credentials are renewed before they
 * expire. Returns TC_OK, or a TC_E* code with a message in err (never a
 * secret); the call then fails with that code and message.
 */
typedef int (*tc_credentials_fn)(void *payload, tc_credentials *out,
                                 tc_error *err);

/* ---------------------------------------------------------------- client */

/* One HTTP request handed to a transport. Headers are "Name: value". */
typedef struct tc_http_request {
    const char *method; /* "POST" */
    const char *url;
    const char *const *headers;
    size_t n_headers;
    const char *body;
    size_t body_len;
    long timeout_ms;
} tc_http_request;

/*
 * The transport seam. Performs one request and stores the HTTP status and
 * a malloc'd, NUL-terminated response body (*body, *body_len; freed by the
 * caller with free()). Returns TC_OK when any HTTP response arrived, or
 * TC_ERETRY (connection, timeout) / TC_ERR with a message in err (no
 * secrets in it). The default performs it with libcurl.
 */
typedef int (*tc_transport_fn)(void *payload, const tc_http_request *req,
                               long *status, char **body, size_t *body_len,
                               tc_error *err);

typedef struct tc_client_opts {
    const char *endpoint; /* NULL = "https://tcr.tencentcloudapi.com";
                             "http://127.0.0.1:PORT" for a test double */
    const char *region;   /* X-TC-Region, e.g. "ap-guangzhou" (required) */
    const char *secret_id;
    const char *secret_key;
    const char *token;    /* temporary-credential token, or NULL */
    const char *version;  /* NULL = "2019-09-24" */
    const char *service;  /* NULL = "tcr" (the scope service, any host) */
    const char *language; /* X-TC-Language, NULL = not sent */
    int max_retries;      /* retries after the first try; <0 = default 4 */
    long backoff_base_ms; /* first backoff; <=0 = 200 ms */
    long backoff_max_ms;  /* backoff cap; <=0 = 10 s */
    long timeout_ms;      /* per HTTP request; <=0 = 30 s */
    const char *ca_file;  /* extra CA bundle for the default transport */
    /* Caps per listing (each list call, each streamed listing), against
     * a server whose pages never end: 0 = TC_DEFAULT_MAX_ITEMS items,
     * TC_DEFAULT_MAX_PAGES pages. A streaming call may set its own. */
    size_t max_items;
    size_t max_pages;
    /* Test seams and hooks, all optional, all get `payload`. */
    int64_t (*clock)(void *payload);          /* Unix seconds; NULL=time() */
    void (*sleep_ms)(void *payload, long ms); /* NULL = nanosleep */
    void (*before_request)(void *payload, const char *action); /* qps */
    tc_transport_fn transport; /* NULL = libcurl */
    void *payload;
    /* Where the credentials come from, when they change during a run
     * (temporary credentials): set, it replaces secret_id, secret_key and
     * token, which may then be NULL. Gets credentials_payload. */
    tc_credentials_fn credentials;
    void *credentials_payload;
    /* Unsigned calls (Authorization "SKIP"): no credentials at all. */
    bool skip_sign;
    /* Monotonic milliseconds for the rate buckets; NULL = CLOCK_MONOTONIC.
     * Waits for a token go through sleep_ms. */
    int64_t (*monotonic_ms)(void *payload);
} tc_client_opts;

typedef struct tc_client tc_client;

/* Creates a client; copies every string. Returns TC_EINVAL when the
 * secret id/key (and no credentials provider, and not skip_sign) or region
 * is missing, the endpoint is not http(s)://, or
 * a value sent as a header (SecretId, region, token, version, service,
 * language) holds a control character (the message names the field, never
 * the value). */
int tc_client_new(tc_client **out, const tc_client_opts *opts, tc_error *err);
/* Frees the client and wipes its copy of the secrets. NULL is fine. */
void tc_client_free(tc_client *c);
/* Connections the default transport has opened so far (libcurl's
 * CURLINFO_NUM_CONNECTS summed over every call); 0 with another
 * transport. */
long tc_client_connections(const tc_client *c);
/* The rate (calls/s) documented for `action` by the API reference, or
 * TC_DEFAULT_ACTION_RATE for an action it gives none for. */
#define TC_DEFAULT_ACTION_RATE 20.0
double tc_action_rate(const char *action);
/* Borrowed: the SecretId (for messages; NULL with a credentials provider
 * or skip_sign), the region. */
const char *tc_client_secret_id(const tc_client *c);
const char *tc_client_region(const tc_client *c);

/*
 * Calls `action` with the JSON object `request` (borrowed; NULL = {}).
 * Each attempt waits for a token of the action's rate bucket (above) and
 * is signed afresh. Retries RequestLimitExceeded*, InternalError*
 * (not conflicts), ServiceUnavailable*, HTTP 429/5xx and transport errors
 * up to max_retries times with exponential backoff and jitter (a
 * random delay between half and all of min(max, base * 2^(n-1))). On
 * success *response is a new reference to the "Response" object (caller
 * json_decref()s). On failure *response is NULL and err holds the Code,
 * Message and RequestId; auth failures name the SecretId in the message.
 */
int tc_call(tc_client *c, const char *action, json_t *request,
            json_t **response, tc_error *err);

/* ------------------------------------------------------- typed results */

typedef struct tc_namespace {
    char *name;
    char *creation_time; /* as returned, may be "" */
    int64_t repo_count;  /* CCR only; -1 when absent */
    bool is_public;      /* TCR only */
    int64_t id;          /* TCR NamespaceId; -1 when absent */
} tc_namespace;

typedef struct tc_repo {
    char *full_name;      /* "ns/repo[/more]" as returned */
    char *namespace_name; /* before the first '/' (or the Namespace field) */
    char *name;           /* part after the first '/' */
    char *server;         /* CCR Data.Server (registry host), "" if absent */
    bool is_public;
    int64_t tag_count; /* CCR TagCount; -1 when absent */
    char *update_time;
} tc_repo;

typedef struct tc_image {
    char *tag;
    char *digest;    /* "sha256:..." (CCR TagId, TCR Digest), "" if absent */
    int64_t size;    /* bytes (CCR SizeByte, TCR Size); -1 when absent */
    char *push_time; /* CCR PushTime, TCR UpdateTime; "" if absent */
    char *kind;      /* "" if absent */
} tc_image;

typedef struct tc_instance {
    char *registry_id;   /* "tcr-xxxxxxxx" */
    char *name;          /* RegistryName */
    char *status;        /* "Running", ... */
    char *public_domain; /* "<name>.tencentcloudcr.com" or as returned */
    char *region;        /* RegionName */
    char *type;          /* RegistryType */
} tc_instance;

typedef struct tc_instance_token {
    char *username;
    char *token;           /* secret: the docker login password */
    int64_t exp_time_ms;   /* ExpTime, Unix milliseconds */
    bool exp_time_assumed; /* the API's ExpTime was not a plausible
                              millisecond time in the next 366 days (1e300,
                              seconds, a string, past, absent):
                              exp_time_ms is then the client's now + 5
                              minutes. Callers warn (once) and renew
                              after those 5 minutes. */
    char *token_id;        /* "" for temporary tokens */
} tc_instance_token;

void tc_namespaces_free(tc_namespace *v, size_t n);
void tc_repos_free(tc_repo *v, size_t n);
void tc_images_free(tc_image *v, size_t n);
void tc_instances_free(tc_instance *v, size_t n);
/* Wipes the token before freeing. */
void tc_instance_token_free(tc_instance_token *t);

/* ------------------------------------------------------ typed wrappers
 *
 * Limit is the reference's maximum (100), Offset a record offset
 * (personal calls, DescribeInstances) or a page number from 1
 * (DescribeNamespaces, DescribeRepositories, DescribeImages) [3.3]. Paging
 * stops at an empty page, when the total count is reached, or at a short
 * page when the response has no total (a total that is not an integer in
 * 0..2^53 counts as none). A short page below a known total (a server that
 * caps Limit lower than asked) goes on at the next offset.
 *
 * Pages are converted and handed over one at a time: the streaming calls
 * (tc_ccr_each_repo, tc_ccr_each_tag) hold one page in memory; the list
 * calls return every item, collected. Against a server whose pages never
 * end, every listing is capped (tc_list_limits; the client options' or
 * the defaults): more than max_items items or max_pages pages is
 * TC_ELIMIT with a message such as "DescribeImagePersonal: more than
 * 1000000 items (the limit)", after the pages before it were delivered.
 * A page the listing already sent (a server that ignores Offset or
 * cycles through the same pages) is TC_ERR ("the same page again").
 * An item that is not a JSON object is TC_ERR (malformed response).
 * On failure a list call's *out is NULL and *n is 0; other errors are
 * those of tc_call().
 */
#define TC_PAGE_LIMIT        100
#define TC_DEFAULT_MAX_ITEMS 1000000
#define TC_DEFAULT_MAX_PAGES 100000

/* Per-call caps; a 0 field = the client's (tc_client_opts.max_items /
 * max_pages, else the defaults). */
typedef struct tc_list_limits {
    size_t max_items;
    size_t max_pages;
} tc_list_limits;

/* DescribeNamespacePersonal with Namespace "" (all CCR namespaces). */
int tc_ccr_list_namespaces(tc_namespace **out, size_t *n, tc_client *c,
                           tc_error *err);
/* DescribeRepositoryOwnerPersonal: all CCR repositories of the account. */
int tc_ccr_list_repos(tc_repo **out, size_t *n, tc_client *c, tc_error *err);
/* The same listing, handed over page by page as it arrives: fn gets each
 * page's repositories (borrowed, valid during the call; freed after it)
 * and returns 0 to go on or non-zero to stop early (then TC_OK is
 * returned). lim NULL = the client's caps. */
int tc_ccr_each_repo(tc_client *c, const tc_list_limits *lim,
                     int (*fn)(void *payload, const tc_repo *page, size_t n),
                     void *payload, tc_error *err);
/* DescribeImagePersonal: all tags of one CCR repository "ns/repo". */
int tc_ccr_list_tags(tc_image **out, size_t *n, tc_client *c,
                     const char *repo_name, tc_error *err);
/* The same listing page by page, as tc_ccr_each_repo. */
int tc_ccr_each_tag(tc_client *c, const char *repo_name,
                    const tc_list_limits *lim,
                    int (*fn)(void *payload, const tc_image *page, size_t n),
                    void *payload, tc_error *err);

/* DescribeInstances with Filter RegistryName=name (NULL = no filter). The
 * server may match loosely: all results are returned; pick with
 * tc_instance_find(). */
int tc_tcr_list_instances(tc_instance **out, size_t *n, tc_client *c,
                          const char *name, tc_error *err);
/* The instance whose name is exactly `name`, or NULL. Borrowed. */
const tc_instance *tc_instance_find(const tc_instance *v, size_t n,
                                    const char *name);
/* DescribeNamespaces of an instance; name NULL = all. */
int tc_tcr_list_namespaces(tc_namespace **out, size_t *n, tc_client *c,
                           const char *registry_id, const char *name,
                           tc_error *err);
/* CreateNamespace. TC_ECONFLICT when it already exists (callers may then
 * confirm with tc_tcr_list_namespaces and treat it as success). */
int tc_tcr_create_namespace(tc_client *c, const char *registry_id,
                            const char *name, bool is_public, tc_error *err);
/* DescribeRepositories; namespace NULL = all namespaces. */
int tc_tcr_list_repos(tc_repo **out, size_t *n, tc_client *c,
                      const char *registry_id, const char *namespace_name,
                      tc_error *err);
/* DescribeImages of "namespace_name/repo_name" (repo without namespace). */
int tc_tcr_list_images(tc_image **out, size_t *n, tc_client *c,
                       const char *registry_id, const char *namespace_name,
                       const char *repo_name, tc_error *err);
/* CreateInstanceToken (TokenType "temp"). *out freed with
 * tc_instance_token_free(). */
int tc_tcr_create_instance_token(tc_instance_token **out, tc_client *c,
                                 const char *registry_id, tc_error *err);

/* ------------------------------------------------------------- regions */

/* CCR registry host of a region, e.g. "ap-guangzhou" ->
 * "ccr.ccs.tencentyun.com", "ap-hongkong" -> "hkccr.ccs.tencentyun.com"
 * [5]. Returns a static string, or NULL for an unknown region. Prefer the
 * API's Data.Server (tc_repo.server) when it is present. */
const char *tc_ccr_registry_host(const char *region);
/* TCR public host for an instance name: "<name>.tencentcloudcr.com" into
 * out. Returns TC_OK or TC_EINVAL (empty name, too long). */
int tc_tcr_registry_host(char *out, size_t cap, const char *instance_name);

#ifdef __cplusplus
}
#endif

#endif /* TENCENTCLOUD_H */
