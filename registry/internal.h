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
} reg_resp;
void reg_resp_free(reg_resp *r);

struct reg_client {
    reg_global *global;
    char *host;     /* "host[:port]" */
    char *base_url; /* "https://host[:port]" or "http://..." once detected */
    char *username;
    char *password;
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
 * timeouts, user agent, hooks, and appends "Authorization: ..." for the
 * scope (obtaining a token first if the registry wants one) to *headers.
 * url may be relative ("/v2/...") or absolute. The caller sets the
 * method, callbacks and CURLOPT_HTTPHEADER, and frees the handle.
 */
int reg__prepare_stream(CURL **out, struct curl_slist **headers, reg_client *c,
                        const char *method, const char *url, const char *repo,
                        const char *actions, reg_error *err);

/* Absolute URL for a relative "/v2/..." path (detecting http/https on
 * first use for insecure registries). malloc'd. */
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

#endif /* REGISTRY_INTERNAL_H */
