/*
 * internal.h - shared between the registry library's own files (client.c,
 * api.c, blobcopy.c, parse.c, reference.c, util.c). Not installed, not
 * used by src/.
 */
#ifndef REGISTRY_INTERNAL_H
#define REGISTRY_INTERNAL_H

#include "registry.h"

#include <curl/curl.h>
#include <pthread.h>
#include <time.h>

/* Idle connections kept for reuse (all registries together, in the shared
 * pool). libcurl 7.x sizes that pool from the multi handle a transfer runs
 * in (CURLMOPT_MAXCONNECTS, default 4 per easy handle in it), not from the
 * share: every multi handle of ours sets it, or returning a connection
 * closes the oldest idle one of any host. */
#define REG_POOL_CONNECTIONS 256

/* A simple growable byte buffer (response bodies, headers). */
typedef struct reg_buf {
    char *data; /* always NUL-terminated when non-NULL */
    size_t len;
    size_t cap;
    size_t max; /* 0 = unlimited; appends past max fail */
} reg_buf;
int reg_buf_append(reg_buf *b, const void *data, size_t n);
void reg_buf_free(reg_buf *b);

/* A request made through reg__request(): method, path + query relative to
 * the registry's base URL ("/v2/<repo>/manifests/<ref>"), or an absolute
 * URL (a Location header). */
typedef struct reg_req {
    const char *method;    /* "GET", "HEAD", "PUT", "POST", "PATCH", "DELETE" */
    const char *url;       /* "/v2/..." or "http(s)://..." */
    const char *repo;      /* scope repository (NULL for catalog) */
    const char *actions;   /* "pull", "pull,push" */
    const char *from_repo; /* extra pull scope for mounts, or NULL */
    const char *accept;    /* Accept header, or NULL */
    const char *content_type;
    const void *body; /* request body for PUT/POST/PATCH, or NULL */
    size_t body_len;
    size_t max_response; /* bytes of body to keep; 0 = 16 MiB */
    /* whole namespaces (14C): send the client's basic credentials at once
     * (the Harbor API, not the registry's token dance); one try. */
    bool basic_auth;
    /* issue 15: If-None-Match (a quoted digest) for a conditional HEAD,
     * sent to the registry's own host only; NULL: none */
    const char *if_none_match;
} reg_req;

typedef struct reg_resp {
    long status;
    reg_buf body;
    char *content_type;     /* malloc'd or NULL */
    char *location;         /* absolute URL, malloc'd or NULL */
    char *docker_digest;    /* Docker-Content-Digest, malloc'd or NULL */
    char *link;             /* Link header, malloc'd or NULL */
    int64_t content_length; /* -1 when absent */
    long retry_after;       /* seconds, -1 when absent */
    char *www_authenticate; /* malloc'd or NULL */
    /* blob resume */
    char *range; /* Range (upload session state), malloc'd or NULL */
    /* issue 15: RateLimit-* / X-RateLimit-* (-1 when absent) */
    long rl_limit, rl_remaining, rl_reset;
} reg_resp;
void reg_resp_free(reg_resp *r);

struct reg_client {
    reg_global *global;
    char *host;     /* "host[:port]" */
    char *base_url; /* "https://host[:port]" or "http://..." once detected */
    char *username;
    char *password;
    char *identity_token; /* NULL when username is set or none was given */
    bool insecure;
    char *ca_file;
    char *user_agent;
    long connect_timeout_s;
    long low_speed_time_s;
    int64_t chunk_threshold;
    int64_t chunk_size;
    reg_hooks hooks;
    pthread_mutex_t lock; /* guards base_url detection and the token cache */
    void *tokens;         /* token cache, owned by client.c */
    void *challenge;      /* last bearer challenge (realm/service), client.c */
};

/*
 * Performs one request with authentication: sends cached credentials for
 * the scope, and on a 401 with a Bearer/Basic challenge obtains a token (or
 * uses basic credentials) and retries once. Follows redirects itself for
 * GET/HEAD, sending credentials only to the registry's own host. Fills resp
 * (free with reg_resp_free) whatever the status; returns 0 when an HTTP
 * answer arrived (any status) and a REG_E* code on transport failure
 * (REG_ERETRY for connection/timeouts, REG_ETLS for TLS verification).
 * Does NOT map HTTP error statuses: callers use reg_error_from_http.
 */
int reg__request(reg_client *c, const reg_req *req, reg_resp *resp,
                 reg_error *err);

/*
 * Prepares an easy handle for a streaming transfer that the caller drives
 * itself (the blob copier): applies the share handle, TLS options,
 * timeouts, user agent, hooks, and appends the Authorization header for
 * the scope (obtaining a token first if the registry wants one) to
 * *headers with reg__header_add(), only when url is on the registry's own
 * host:port. url may be relative ("/v2/...") or absolute (then checked
 * like any URL from the network, see reg__url). The caller sets the
 * method, callbacks and CURLOPT_HTTPHEADER, and frees the handle.
 */
int reg__prepare_stream(CURL **out, struct curl_slist **headers, reg_client *c,
                        const char *method, const char *url, const char *repo,
                        const char *actions, reg_error *err);

/* Absolute URL for a relative "/v2/..." path (detecting http/https on
 * first use for insecure registries), or an absolute URL (a Location)
 * checked and normalised with reg__url_check(kind "redirect"). A control
 * byte or space in either is refused. malloc'd; NULL with err set. */
char *reg__url(reg_client *c, const char *path, reg_error *err);

/* Maps a curl failure to a REG_E* code and message. */
int reg__curl_error(reg_error *err, CURLcode rc, const char *what,
                    const char *curl_errbuf);

/* Calls the before_request hook, if any. */
void reg__before_request(reg_client *c);

/* URL-escapes one query value / path piece, malloc'd. */
char *reg__escape(const char *s);

/* The first n bytes of s (which must hold at least n) as a malloc'd,
 * NUL-terminated string, or NULL when out of memory. */
char *reg__dup_n(const char *s, size_t n);

/*
 * The one builder of request header lines: appends "Name: value" (or
 * "Name:" for an empty value, which tells libcurl to drop that header) to
 * *l. Refuses, with REG_EINVAL and a message containing "control
 * character", a name or value holding a byte below 0x20 or 0x7f, whatever
 * its origin, so nothing a server sent can end a header line early (header
 * injection, request smuggling). The value is never quoted in the message
 * (it may be a credential). REG_ENOMEM when out of memory; *l is unchanged
 * on failure.
 */
int reg__header_add(struct curl_slist **l, const char *name, const char *value,
                    reg_error *err);

/* Length of "scheme" when s starts with "scheme:" (RFC 3986), else 0. */
size_t reg__scheme_len(const char *s);

/*
 * Checks an absolute URL that came from the network (Location, Link,
 * token realm) before it is used. `kind` names it in messages ("redirect",
 * "next-page Link", "token realm"). REG_EINVAL when it holds a control
 * byte or a space, when its scheme (any case) is not http or https
 * ("unsupported <kind>: scheme \"file\" ..."), or when libcurl's URL API
 * cannot parse it. With out non-NULL, *out is the URL as libcurl
 * normalises it (scheme in lower case), malloc'd.
 */
int reg__url_check(char **out, const char *url, const char *kind,
                   reg_error *err);
/*
 * The next page of a paginated listing: the Link header `link` (may be
 * NULL) of the page read from `url`, resolved against it and checked with
 * reg__url_check. REG_OK with *out NULL when there is no next page, or
 * *out malloc'd; REG_ERR for a Link that does not parse.
 */
int reg__next_page(char **out, const char *url, const char *link,
                   reg_error *err);

/* Token answers (the body of a 200 from the token realm). */
#define REG_TOKEN_MIN_LIFETIME 10 /* seconds */
#define REG_TOKEN_MAX_LIFETIME (24 * 3600)
/*
 * Parses a token answer: {"token"|"access_token": "...", "expires_in": N,
 * "issued_at": "RFC 3339"}. expires_in is clamped to 10 s .. 24 h (absent,
 * not an integer, or out of range values never overflow); an issued_at in
 * the future (server clock ahead) is ignored. *refresh_at_out is when to
 * fetch a new token (a safety margin before expiry). The token must be
 * printable ASCII (no control character, no space). *token_out is malloc'd;
 * REG_EAUTH when there is no usable token, REG_EINVAL for a token with bad
 * bytes, REG_ENOMEM. Neither the token nor the body reaches a message.
 */
int reg__token_parse(char **token_out, time_t *refresh_at_out, const char *body,
                     size_t len, time_t now, reg_error *err);

/*
 * The library's one Retry-After parser (RFC 9110 10.2.3), used by every
 * response path (client.c, blobcopy.c): delta-seconds (digits only) or an
 * HTTP date (IMF-fixdate, RFC 850 or asctime form) taken relative to now.
 * Returns the seconds to wait (0 for a date already past), or -1 when v is
 * NULL, empty, negative, too large for a long or not one of those forms.
 */
long reg__parse_retry_after(const char *v, time_t now);
/* issue 15: the value of a RateLimit-Limit/-Remaining/-Reset header (or
 * X-RateLimit-*), n bytes: its first item's whole number (0..1e9), or -1
 * when malformed. reset: a value above 1e9 is a Unix time (X-RateLimit-
 * Reset of some registries), turned into the seconds left from now. */
long reg__parse_ratelimit(const char *v, size_t n, bool reset, time_t now);

/*
 * Blob resume. The Content-Range of a 206 answer: "bytes A-B/T", or
 * with an asterisk for T (unknown size: *total = -1), digits only, A <= B < T,
 * every value at most 2^53. 0, or -1 for anything else (other units, the
 * unsatisfied-range form, signs, blanks, trailing bytes).
 */
int reg__content_range_parse(const char *v, int64_t *first, int64_t *last,
                             int64_t *total);
/* The Range of an upload session (what the target holds): "0-E" or
 * "bytes=0-E", digits only, E at most 2^53. 0 with *end = E, else -1. Note
 * that distribution answers "0-0" for both 0 and 1 byte held. */
int reg__upload_range_parse(const char *v, int64_t *end);

#endif /* REGISTRY_INTERNAL_H */
