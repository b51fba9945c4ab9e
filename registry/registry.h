/*
 * registry.h - client for the Docker Registry HTTP API v2 / OCI Distribution
 * API: references, HTTP transport with auth, manifests, tags, catalog, blobs.
 *
 * Ownership: every `**out` result belongs to the caller and is freed with the
 * matching `_free()` function, which accepts NULL. `const char *` results of
 * getters are borrowed. Functions return 0 on success or a negative REG_E*
 * code; the human message is written to the caller's `reg_error`, which may
 * be NULL. The library never prints, never exits, never reads global config.
 * Nothing here writes a password, token or Authorization header into a
 * `reg_error` message.
 */
#ifndef REGISTRY_H
#define REGISTRY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ errors */

enum {
    REG_OK = 0,
    REG_ERR = -1,          /* anything else: protocol violation, I/O */
    REG_ENOTFOUND = -2,    /* 404, *_UNKNOWN registry codes */
    REG_EAUTH = -3,        /* 401: missing or wrong credentials */
    REG_EDENIED = -4,      /* 403 / DENIED: authenticated but not allowed */
    REG_ERETRY = -5,       /* transient: connect/timeout, 5xx, 429, 408 */
    REG_EDIGEST = -6,      /* content digest or size does not match */
    REG_EINVAL = -7,       /* bad input: reference, manifest, argument */
    REG_EUNSUPPORTED = -8, /* the registry does not support the operation */
    REG_ENOMEM = -9,
    REG_ECANCELED = -10, /* the caller's cancel flag was raised */
    REG_ETLS = -11,      /* TLS handshake / certificate verification failed */
    REG_ELIMIT = -12     /* a size or count limit was hit (not retryable) */
};

typedef struct reg_error {
    int code;               /* one of REG_E*, 0 when unset */
    long http_status;       /* last HTTP status, 0 if none */
    long retry_after;       /* seconds from Retry-After, -1 if absent */
    char registry_code[48]; /* first "code" of an error body, e.g. */
                            /* "MANIFEST_BLOB_UNKNOWN"; empty if none */
    char msg[512];
} reg_error;

/* Sets code and a printf-style message; returns code. err may be NULL. */
int reg_error_set(reg_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prefixes the existing message with context ("copy blob x: ..."). */
void reg_error_prefix(reg_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Clears err to "no error". */
void reg_error_clear(reg_error *err);
/* Short static name of a code: "not found", "unauthorized", ... */
const char *reg_strerror(int code);
/* True for codes worth retrying later: REG_ERETRY (connection errors,
 * timeouts, 408, 429, 5xx). */
bool reg_error_retryable(int code);

/*
 * Maps an HTTP status and a registry error body
 * ({"errors":[{"code":"...","message":"...","detail":...}]}) to a code and a
 * message "WHAT: HTTP 404 MANIFEST_UNKNOWN: manifest unknown". Fills
 * err->http_status and err->registry_code. Returns the code.
 */
int reg_error_from_http(reg_error *err, long status, const char *body,
                        size_t len, const char *what);

/* -------------------------------------------------------------- references */

/* A parsed image reference, normalised: Docker Hub's names become
 * domain "registry-1.docker.io" and single-component paths get "library/". */
typedef struct reg_ref {
    char *domain; /* "registry-1.docker.io", "127.0.0.1:5000", "localhost" */
    char *path;   /* repository path: "library/nginx", "a/b/c" */
    char *tag;    /* NULL when absent */
    char *digest; /* "sha256:<64 hex>" or NULL when absent */
} reg_ref;

/* Parses the full Docker reference grammar. On a bad name returns REG_EINVAL
 * with a precise message (which part, what was expected). */
int reg_ref_parse(reg_ref **out, const char *s, reg_error *err);
void reg_ref_free(reg_ref *r);
/* "domain/path[:tag][@digest]", malloc'd (NULL on OOM). */
char *reg_ref_format(const reg_ref *r);
/* "domain/path", malloc'd. */
char *reg_ref_repo(const reg_ref *r);
/* Maps Docker Hub aliases (docker.io, index.docker.io,
 * registry.hub.docker.com) to "registry-1.docker.io"; other hosts are
 * returned unchanged. Borrowed/static or `host` itself. */
const char *reg_canonical_host(const char *host);
/* Validators for the grammar's parts (true when valid). */
bool reg_valid_tag(const char *tag);
bool reg_valid_digest(const char *digest);
bool reg_valid_path(const char *path);

/* ---------------------------------------------------------------- digests */

#define REG_DIGEST_LEN 71 /* "sha256:" + 64 hex, without NUL */

/* Writes "sha256:<hex>" of the bytes into out (REG_DIGEST_LEN+1 bytes). */
void reg_sha256_digest(char out[REG_DIGEST_LEN + 1], const void *data,
                       size_t len);
/* The digest of a schema 1 signed manifest (…v1+prettyjws) as registries
 * name it: the SHA-256 of its JWS payload, i.e. the bytes without the
 * signatures (body[0..formatLength) + formatTail, from the first
 * signature's protected header). Unchanged when a registry signs the
 * manifest again. 0 with the digest in out, or -1 when body is not a
 * signed schema 1 manifest with a usable protected header. */
int reg_schema1_payload_digest(char out[REG_DIGEST_LEN + 1], const void *body,
                               size_t len);

/* --------------------------------------------------------------- manifests */

#define REG_MT_DOCKER_V2S1                                                     \
    "application/vnd.docker.distribution.manifest.v1+json"
#define REG_MT_DOCKER_V2S1_SIGNED                                              \
    "application/vnd.docker.distribution.manifest.v1+prettyjws"
#define REG_MT_DOCKER_V2S2                                                     \
    "application/vnd.docker.distribution.manifest.v2+json"
#define REG_MT_DOCKER_LIST                                                     \
    "application/vnd.docker.distribution.manifest.list.v2+json"
#define REG_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define REG_MT_OCI_INDEX    "application/vnd.oci.image.index.v1+json"

/* The Accept header value a client sends for manifests (all of the above). */
extern const char *const REG_MANIFEST_ACCEPT;

typedef enum reg_manifest_kind {
    REG_KIND_UNKNOWN = 0, /* artifact or unknown type: passed through */
    REG_KIND_V2S1,        /* Docker schema 1 (signed or not): passed through */
    REG_KIND_V2S2,
    REG_KIND_DOCKER_LIST,
    REG_KIND_OCI_MANIFEST,
    REG_KIND_OCI_INDEX
} reg_manifest_kind;

typedef struct reg_descriptor {
    char *media_type; /* may be NULL (schema 1 layers); else valid */
                      /* (reg_media_type_valid) */
    char *digest;     /* "sha256:..." */
    int64_t size;     /* 0 .. 2^53, or -1 when unknown (schema 1) */
    char *platform;   /* "os/arch[/variant]" for index children, else NULL */
    /* issue 13, foreign layers: the descriptor lists "urls" (a layer
     * clients fetch from elsewhere, not from the registry) */
    bool has_urls;
} reg_descriptor;

typedef struct reg_manifest {
    reg_manifest_kind kind;
    char *media_type;    /* from the body's mediaType or the Content-Type */
    unsigned char *body; /* the exact bytes */
    size_t len;
    char digest[REG_DIGEST_LEN + 1]; /* sha256 of body */
    /* index / list: the child manifests */
    reg_descriptor *children;
    size_t n_children;
    /* image manifests: config first (when present), then layers, then
     * other blobs an artifact references; de-duplicated */
    reg_descriptor *blobs;
    size_t n_blobs;
    /* OCI `subject` (a manifest this one refers to), or NULL */
    reg_descriptor *subject;
} reg_manifest;

/*
 * True when mt is an RFC 6838 media type without parameters: "type/subtype"
 * where each part is a restricted-name (first character a letter or digit,
 * then letters, digits or !#$&-^_.+ ; at most 127 characters each; a
 * "+suffix" is part of the subtype), at most 255 bytes in all. No spaces,
 * no control bytes, no ';'. NULL is not valid.
 */
bool reg_media_type_valid(const char *mt);

/*
 * Parses manifest bytes. content_type is the HTTP Content-Type (may be NULL;
 * the body's mediaType wins when present). Copies the bytes. Unknown but
 * well-formed JSON is accepted as REG_KIND_UNKNOWN (its "config", "layers",
 * "blobs" descriptors, if any, are listed as blobs so they can be copied).
 * Returns REG_EINVAL when the bytes are not JSON or a known kind is malformed,
 * and also (untrusted input, issue 10) when the body's mediaType or
 * artifactType, any descriptor's mediaType or artifactType, or the
 * Content-Type (parameters after ';' and surrounding whitespace removed) is
 * not a valid media type (message "... is not a valid media type"; the value
 * itself is not quoted), or when a descriptor's size is outside 0 .. 2^53
 * ("size out of range"). So m->media_type, which a copy sends as the
 * Content-Type of its PUT, is always a valid media type or NULL.
 */
int reg_manifest_parse(reg_manifest **out, const char *content_type,
                       const void *body, size_t len, reg_error *err);
void reg_manifest_free(reg_manifest *m);
/* True for list/index kinds. */
bool reg_manifest_is_index(const reg_manifest *m);
/* "docker v2s2", "oci index", ... for messages. Static. */
const char *reg_manifest_kind_name(reg_manifest_kind k);

/* Media types of foreign (non-distributable) layers. */
#define REG_MT_DOCKER_FOREIGN                                                  \
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
#define REG_MT_OCI_NONDIST_PREFIX                                              \
    "application/vnd.oci.image.layer.nondistributable."
/* True for a layer a registry does not hold and clients fetch from its
 * "urls": a Docker foreign layer, an OCI non-distributable layer, or any
 * descriptor that lists urls. Such blobs are never copied; the manifest
 * is pushed as is. */
bool reg_descriptor_foreign(const reg_descriptor *d);

/* ------------------------------------------------------------- the client */

/* Process-wide state shared by all clients: a libcurl share handle for
 * connections, DNS and TLS sessions. Call once before starting threads.
 * Thread-safe once created. The caller must have called
 * curl_global_init() (once, in main, before any thread starts) and calls
 * curl_global_cleanup() after the last reg_global_free(): the library
 * never touches process-wide state itself. */
typedef struct reg_global reg_global;
int reg_global_new(reg_global **out, reg_error *err);
void reg_global_free(reg_global *g);

/* Hooks the program gives the library (all optional). They are called from
 * worker threads and must be thread-safe. */
typedef struct reg_hooks {
    /* Called before every HTTP request to this registry (rate limiting). */
    void (*before_request)(void *payload, const char *host);
    /* Called as blob bytes arrive (bandwidth limiting may sleep here). */
    void (*on_blob_bytes)(void *payload, size_t n);
    /* Called for each HTTP request made, for debug logs: method, URL
     * without credentials, status. */
    void (*on_http)(void *payload, const char *method, const char *url,
                    long status);
    void *payload;
    /* issue 15: called after an answer that carried RateLimit-Limit,
     * -Remaining or -Reset (IETF draft) or X-RateLimit-* headers: each
     * value validated (0..1e9; a reset given as a Unix time turned into
     * seconds left), -1 when absent. Policy is the caller's. */
    void (*on_ratelimit)(void *payload, long limit, long remaining,
                         long reset_s);
} reg_hooks;

/* The client_id of the OAuth2 token requests made with an identity token. */
#define REG_OAUTH_CLIENT_ID "image-transfer"

typedef struct reg_client_opts {
    const char *host;     /* "host[:port]" as in references (canonical) */
    const char *username; /* NULL or "" = anonymous */
    const char *password;
    /* A Docker identity token (an OAuth2 refresh token, what a credential
     * helper answers with Username "<token>"), used instead of username
     * and password: each bearer token is asked for with an OAuth2 POST to
     * the token realm (grant_type=refresh_token, client_id
     * REG_OAUTH_CLIENT_ID). NULL or "" = none; ignored when username is
     * set. */
    const char *identity_token;
    bool insecure;           /* skip TLS verification and fall back to */
                             /* plain HTTP, for URLs on this host:port only: */
                             /* a token realm or redirect to another host */
                             /* (a CDN) is verified normally */
    const char *ca_file;     /* extra CA bundle (PEM), or NULL */
    const char *user_agent;  /* NULL = "image-transfer/<version>" */
    long connect_timeout_s;  /* 0 = 30 */
    long low_speed_time_s;   /* abort below 1 KiB/s for this long; */
                             /* 0 = 60 */
    int64_t chunk_threshold; /* blobs larger use chunked PATCH; */
                             /* 0 = 512 MiB, -1 = never chunk */
    int64_t chunk_size;      /* 0 = 64 MiB */
    reg_hooks hooks;
} reg_client_opts;

/*
 * One client per registry host; safe to use from many threads at once. The
 * strings in opts are copied. Tokens are cached per scope until expiry
 * (the server's expires_in clamped to 10 s .. 24 h).
 *
 * What a server sends is untrusted (issue 10): every request header is
 * built by one function that refuses control characters (REG_EINVAL,
 * "control character"); a Location (redirect or upload session), a Link or
 * a token realm holding a control byte or a space, or whose scheme (any
 * case: "HTTP://" is http) is not http or https, is refused before use
 * ("unsupported redirect: scheme \"file\" ..."); a token realm that
 * downgrades an https registry to http is refused ("downgrade", REG_EAUTH),
 * and basic credentials or an identity token go to a realm on another
 * host only over https (REG_EAUTH, nothing sent). Credentials never follow
 * a redirect to another host:port or from https to http.
 *
 * With an identity token, the token realm is sent an OAuth2 POST
 * (Content-Type application/x-www-form-urlencoded, body
 * grant_type=refresh_token&refresh_token=..&service=..&scope=..&client_id=..,
 * every value URL-encoded); its answer is read like a GET's ("token" or
 * "access_token", "expires_in"). A 400, 401 or 403 is REG_EAUTH ("the token
 * server refused the identity token"). Only a 404 (a token server without
 * the OAuth2 endpoint) makes the client ask with the GET instead, without
 * the identity token (anonymously). A registry asking for Basic auth
 * cannot be answered with an identity token (REG_EAUTH).
 */
typedef struct reg_client reg_client;
int reg_client_new(reg_client **out, reg_global *g, const reg_client_opts *o,
                   reg_error *err);
void reg_client_free(reg_client *c);
const char *reg_client_host(const reg_client *c);

/* ---------------------------------------------------- manifest operations */

/* GET a manifest by tag or digest. When ref is a digest, the bytes are
 * verified against it (REG_EDIGEST otherwise). */
int reg_manifest_get(reg_manifest **out, reg_client *c, const char *repo,
                     const char *ref, reg_error *err);
/* HEAD a manifest: digest (from Docker-Content-Digest, or computed via GET
 * when the registry omits it), media type and size. Any out may be NULL.
 * REG_ENOTFOUND when absent; REG_EINVAL when media_type_out is wanted and
 * the Content-Type (without parameters) is not a valid media type. */
int reg_manifest_head(reg_client *c, const char *repo, const char *ref,
                      char digest_out[REG_DIGEST_LEN + 1],
                      char **media_type_out, int64_t *size_out, reg_error *err);
/* issue 15: a HEAD asking the registry to answer 304 Not Modified when
 * ref still names `expect` (If-None-Match: "<expect>"; distribution checks
 * it before it reads the manifest, so an unchanged tag costs it one link
 * file): the digest in digest_out is then expect. A 200 gives the digest
 * it names (the tag moved, or the registry ignores the header). expect
 * NULL or not a digest: reg_manifest_head. */
int reg_manifest_head_if(reg_client *c, const char *repo, const char *ref,
                         const char *expect,
                         char digest_out[REG_DIGEST_LEN + 1], reg_error *err);
/* PUT the exact bytes of m under ref (a tag or m->digest). Checks the
 * digest the registry answers with against m->digest. */
int reg_manifest_put(reg_client *c, const char *repo, const char *ref,
                     const reg_manifest *m, reg_error *err);

/* ------------------------------------------------------- tags and catalog */

/* Defaults of reg_list_limits (no real registry reaches them). */
#define REG_DEFAULT_MAX_TAGS  ((size_t)1000000)
#define REG_DEFAULT_MAX_PAGES ((size_t)100000)

/* Caps of one listing (tags of a repository, or the catalog). */
typedef struct reg_list_limits {
    size_t max_items; /* 0 = REG_DEFAULT_MAX_TAGS (1,000,000) */
    size_t max_pages; /* 0 = REG_DEFAULT_MAX_PAGES (100,000) */
} reg_list_limits;

/* Called once per page, in order; `items` (n strings) are borrowed for the
 * call only. Return 0 to go on, non-zero to stop the listing early (the
 * listing then returns REG_ECANCELED). A page may have n == 0. */
typedef int (*reg_list_fn)(void *payload, char *const *items, size_t n);

/*
 * Streams the tags of repo page by page, following Link: rel="next": each
 * page is handed to fn and freed before the next one is fetched, so memory
 * stays bounded by one page (at most 16 MiB of JSON) whatever the registry
 * sends. lim may be NULL (defaults). More than lim->max_items tags in all,
 * or more than lim->max_pages pages, gives REG_ELIMIT ("more than N tags" /
 * "more than N pages") after the pages before the limit were delivered. A
 * Link back to a page already read ends the listing (no error). A missing
 * repository gives REG_ENOTFOUND. page_size 0 = let the registry choose.
 */
int reg_tags_each(reg_client *c, const char *repo, int page_size,
                  const reg_list_limits *lim, reg_list_fn fn, void *payload,
                  reg_error *err);
/* The same for the repositories of the registry (_catalog); the item limit
 * counts repositories ("more than N repositories"). */
int reg_catalog_each(reg_client *c, int page_size, const reg_list_limits *lim,
                     reg_list_fn fn, void *payload, reg_error *err);

/* All tags of repo collected with reg_tags_each() and the default limits.
 * *out is a NULL-terminated array freed with reg_strv_free. */
int reg_tags_list(char ***out, size_t *n_out, reg_client *c, const char *repo,
                  int page_size, reg_error *err);
/* All repositories of the registry (_catalog), collected the same way. */
int reg_catalog(char ***out, size_t *n_out, reg_client *c, int page_size,
                reg_error *err);
void reg_strv_free(char **v);

/* ---------------------------------------------------------------- blobs */

/* 0 when the blob exists in repo (size in *size_out if not NULL),
 * REG_ENOTFOUND when it does not. */
int reg_blob_exists(reg_client *c, const char *repo, const char *digest,
                    int64_t *size_out, reg_error *err);
/* Cross-repository mount. 0 when mounted (201); REG_ENOTFOUND when the
 * registry answered 202 (could not mount; the upload session it opened is
 * cancelled); other errors as usual. */
int reg_blob_mount(reg_client *c, const char *repo, const char *digest,
                   const char *from_repo, reg_error *err);

typedef struct reg_copy_opts {
    /* Called with the number of bytes just moved (progress). */
    void (*progress)(void *payload, int64_t delta);
    void *payload;
    /* When non-NULL and it becomes non-zero, the copy stops with
     * REG_ECANCELED and the upload is cancelled. */
    const atomic_int *cancel;
    size_t buffer_size; /* ring buffer bytes; 0 = 256 KiB */
    /* Resume across restarts (issue 15). With on_session set, the upload
     * goes in PATCHes of session_chunk bytes (0 = 16 MiB), and after each
     * one the target confirmed, on_session(payload, url, held) tells the
     * session's URL and the bytes it holds, to be recorded; url NULL when
     * the session is over (the blob landed, or the session was dropped).
     * A URL with user info is never reported. resume_url: a session of
     * this blob recorded earlier on dst; it is continued when it is on
     * dst's own scheme://host:port, carries no user info and the target
     * still holds it (GET: Range), the source being read again from byte
     * 0 to rebuild the hash (only the rest is uploaded); else it is
     * dropped (DELETE) and a new session opened. */
    const char *resume_url;
    void (*on_session)(void *payload, const char *url, int64_t held);
    int64_t session_chunk;
    /* Fewer round trips (issue 15): mount_from, a repository of dst that
     * may hold the blob, makes the upload start a mount request (POST
     * ?mount=&from=): when honoured (201) the copy ends there, the source
     * unread, and *mounted (when non-NULL) is set true; a 202's session is
     * used for the copy; any other answer but 429/5xx (which fail the
     * copy) falls back to a plain upload. */
    const char *mount_from;
    bool *mounted;
} reg_copy_opts;

/*
 * Streams blob `d` from src/src_repo to dst/dst_repo. The bytes pass through
 * a bounded ring buffer (pause/continue back-pressure both ways) and never
 * touch the disk; memory is bounded whatever the size. The SHA-256 and the
 * size are checked on the fly and the upload is completed only if both
 * match d->digest / d->size (when d->size >= 0); otherwise it is cancelled
 * and REG_EDIGEST returned. Uses one monolithic PUT, or chunked PATCHes
 * when d->size exceeds the client's chunk threshold. opts may be NULL.
 */
int reg_blob_copy(reg_client *src, const char *src_repo, reg_client *dst,
                  const char *dst_repo, const reg_descriptor *d,
                  const reg_copy_opts *opts, reg_error *err);

/* Uploads bytes held in memory as a blob (POST + PUT). The digest is
 * computed and, when expect_digest is non-NULL, checked first. */
int reg_blob_upload(reg_client *c, const char *repo, const void *data,
                    size_t len, const char *expect_digest, reg_error *err);

/* GETs a whole blob into memory (at most max_len bytes, else REG_EINVAL),
 * verifying its digest. For small blobs such as image configs. */
int reg_blob_get(unsigned char **out, size_t *len_out, reg_client *c,
                 const char *repo, const char *digest, size_t max_len,
                 reg_error *err);

/* ------------------------------------------------------------ referrers */

#define REG_MT_OCI_EMPTY "application/vnd.oci.empty.v1+json"
/* Referrers kept for one subject, whatever a registry sends. */
#define REG_REFERRERS_MAX 1024

/* One manifest that refers to a subject (OCI 1.1 `subject`), or one found
 * through the cosign tag convention (tag set). */
typedef struct reg_referrer {
    char *digest;        /* "sha256:..." */
    char *media_type;    /* the referrer manifest's media type, or NULL */
    char *artifact_type; /* or NULL */
    int64_t size;        /* bytes of the manifest, -1 when unknown */
    char *annotations;   /* a compact JSON object, or NULL */
    char *tag;           /* cosign convention: the tag it is held under */
} reg_referrer;

typedef struct reg_referrers {
    reg_referrer *v;
    size_t n;
} reg_referrers;

void reg_referrers_free(reg_referrers *r);
/* Appends a copy of each field of one referrer (tag may be NULL); a
 * referrer whose digest and tag are both listed already is not added
 * again. REG_ELIMIT past max entries, REG_ENOMEM. */
int reg_referrers_add(reg_referrers *r, const reg_referrer *x, size_t max,
                      reg_error *err);

/*
 * GET /v2/<repo>/referrers/<digest> (OCI distribution 1.1), following
 * Link rel="next" pages (at most 64 pages, REG_REFERRERS_MAX referrers,
 * 4 MiB a page). *out lists the index's descriptors. A registry that does
 * not serve the API (404, 405) gives REG_EUNSUPPORTED; any other failure
 * its usual code.
 */
int reg_referrers_api(reg_referrers **out, reg_client *c, const char *repo,
                      const char *digest, reg_error *err);

/*
 * Appends the descriptors of an image index (the referrers API answer or
 * a referrers tag schema index) to r: digest, mediaType, size,
 * artifactType, annotations. REG_EINVAL when the bytes are not an index
 * with valid descriptors, REG_ELIMIT past max entries.
 */
int reg_referrers_parse_index(reg_referrers *r, const void *body, size_t len,
                              size_t max, reg_error *err);

/* The referrers tag schema tag of digest, with suffix appended ("" for
 * the schema's index, ".sig", ".att", ".sbom" for cosign's tags):
 * "sha256-<hex><suffix>". REG_EINVAL for a bad digest or a short buffer. */
int reg_referrers_tag(char *out, size_t cap, const char *digest,
                      const char *suffix, reg_error *err);

/*
 * The referrers tag schema index: the descriptors of `existing` (the
 * bytes of the index the tag holds now, or NULL) with each of add[] whose
 * digest is not listed yet appended (its mediaType, digest, size,
 * artifactType, annotations; entries with a tag are left out). *out is a
 * malloc'd OCI image index (free()), *changed false when nothing was
 * added. REG_EINVAL when existing is not an index.
 */
int reg_referrers_index_merge(unsigned char **out, size_t *len_out,
                              bool *changed, const void *existing,
                              size_t existing_len, const reg_referrers *add,
                              reg_error *err);
/* ------------------------------------------- probes (--preflight, issue 13) */

/* GET /v2/ with the client's credentials: 0 when the registry answers 2xx
 * (reachable, TLS as configured, the login accepted for the base
 * endpoint); REG_EAUTH / REG_ETLS / REG_ERETRY ... otherwise. */
int reg_ping(reg_client *c, reg_error *err);
/* Push access without writing anything: opens a blob upload session in
 * repo (POST /v2/<repo>/blobs/uploads/, expecting 202 with a Location) and
 * cancels it at once (DELETE on the session URL). 0 when the session was
 * opened; *cancelled_out (may be NULL) says whether the DELETE was
 * accepted (2xx or 404: the session is gone). A 401/403/404 on the POST
 * is REG_EAUTH / REG_EDENIED / REG_ENOTFOUND with the registry's code in
 * err->registry_code (e.g. NAME_UNKNOWN for a missing namespace). */
int reg_upload_probe(reg_client *c, const char *repo, bool *cancelled_out,
                     reg_error *err);

/* ------------------------------------------------------ header parsers */

/* One `WWW-Authenticate` challenge. */
typedef struct reg_challenge {
    char *scheme;  /* "Bearer", "Basic" (as written) */
    char *realm;   /* may be NULL */
    char *service; /* may be NULL */
    char *scope;   /* may be NULL */
    char *error;   /* e.g. "insufficient_scope", may be NULL */
} reg_challenge;
/* Parses a WWW-Authenticate header value (quoted strings with escapes,
 * unquoted tokens, any order, extra params). REG_EINVAL if malformed. */
int reg_challenge_parse(reg_challenge **out, const char *header,
                        reg_error *err);
void reg_challenge_free(reg_challenge *c);

/* Extracts the rel="next" target of a Link header value, malloc'd into
 * *out, or *out = NULL when there is none. Handles several links in one
 * value, quoted/unquoted rel, extra params, spacing. Returns 0 or
 * REG_EINVAL. */
int reg_link_next(char **out, const char *header);
/* Resolves a possibly relative URL (as in Link/Location) against base
 * "scheme://host[:port]/...", malloc'd. */
char *reg_url_resolve(const char *base, const char *ref);

/* ------------------------------------- whole namespaces and pruning (14C) */

/* Whether repository `name` is below `prefix` ("team" holds "team/app"
 * and "team/a/b", not "team" itself nor "teamx/app"); "" holds every
 * name. */
bool reg_repo_below(const char *name, const char *prefix);

/* Harbor API v2 listing pages: a JSON array of objects whose "name" is a
 * string (projects: "team"; repositories: "team/app"). Other items are
 * skipped. *out is a NULL-terminated array (reg_strv_free) of *n names;
 * REG_ERR when the page is not such an array, REG_ELIMIT when it holds
 * more than max items (0 = 1,000). */
int reg_harbor_page_parse(char ***out, size_t *n, const char *body, size_t len,
                          size_t max, reg_error *err);

/*
 * Streams the repositories below `prefix` ("" = the whole registry) page
 * by page: the catalog (GET /v2/_catalog?n=.., Link pages) filtered by
 * prefix. Where the catalog is refused (401/403, even with credentials:
 * Harbor and TCR need admin rights) and the registry serves the Harbor API
 * v2, its listings instead (GET /api/v2.0/projects/<project>/repositories
 * ?page=N&page_size=100 with the client's basic credentials; with an empty
 * prefix, /api/v2.0/projects first), paged by `page` until a short page,
 * under the same limits. When neither works: REG_EDENIED with a message
 * naming the fix (grant catalog access, or list the repositories in the
 * rule file). *used_harbor (may be NULL) tells which listing answered.
 */
int reg_repos_each(reg_client *c, const char *prefix,
                   const reg_list_limits *lim, reg_list_fn fn, void *payload,
                   bool *used_harbor, reg_error *err);

/* DELETE repo's manifest by tag or digest. 0 when deleted (200/202),
 * REG_ENOTFOUND when absent, REG_EUNSUPPORTED when the registry refuses
 * the operation (405; for a tag also 400 / UNSUPPORTED / DIGEST_INVALID:
 * registries before OCI 1.1 delete by digest only). Deleting by digest
 * removes every tag pointing at that manifest. */
int reg_manifest_delete(reg_client *c, const char *repo, const char *ref,
                        reg_error *err);

#ifdef __cplusplus
}
#endif
#endif /* REGISTRY_H */
