/*
 * blobcopy.c - reg_blob_copy: streams one blob from a source registry into a
 * target registry through a bounded ring buffer; nothing touches the disk.
 *
 * One small multi handle per copy drives two easy handles: the source GET
 * and the current upload request (a monolithic PUT, or PATCH chunks followed
 * by an empty PUT). The GET's write callback fills the ring and pauses when
 * it is full; the upload's read callback drains it and pauses when it is
 * empty. Only the multi loop resumes a paused handle: libcurl 7.88 may
 * deliver data synchronously from curl_easy_pause(), which must never happen
 * inside the other handle's callback.
 *
 * Integrity: the SHA-256 and the byte count are computed as bytes enter the
 * ring. The last byte of the blob is withheld from the upload until the
 * source has finished and matched the descriptor, so the target can never
 * commit unverified content; on a mismatch the upload is aborted, its
 * session deleted, and REG_EDIGEST returned.
 */
#include "internal.h"

#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define DEFAULT_RING      ((size_t)256 * 1024)
#define MIN_RING          ((size_t)16 * 1024)
#define CURL_BUF          (128L * 1024)
#define MAX_RESPONSE_BODY (64 * 1024)
#define MAX_REDIRECTS     5
#define POLL_MS           250

/* Bytes in transit between the two transfers. */
typedef struct ring {
    unsigned char *data;
    size_t cap;
    size_t head; /* index of the oldest byte */
    size_t len;  /* bytes stored */
} ring;

typedef enum xfer_kind { XF_SOURCE, XF_PATCH, XF_PUT } xfer_kind;

typedef struct copy copy;

/* One HTTP exchange driven by the copy's multi handle. */
typedef struct xfer {
    copy *cp;
    xfer_kind kind;
    CURL *h;
    struct curl_slist *headers;
    char *url; /* absolute, malloc'd */
    bool in_multi;
    bool paused;
    bool headers_done; /* the final (non-1xx) response head has arrived */
    bool done;
    long status;
    int64_t body_len;  /* upload body bytes, -1 when unknown */
    int64_t body_sent; /* upload body bytes handed to curl */
    size_t pending;    /* source: size of the chunk refused by the pause */
    reg_buf body;      /* response body (errors, non-200 source) */
    char *location;
    char *docker_digest;
    char *range;
    long retry_after; /* seconds, -1 when absent */
    char errbuf[CURL_ERROR_SIZE];
} xfer;

struct copy {
    reg_client *src;
    reg_client *dst;
    const char *src_repo;
    const char *dst_repo;
    const reg_descriptor *d;
    const reg_copy_opts *opts;
    reg_error *err; /* never NULL */
    CURLM *multi;
    ring rb;
    EVP_MD_CTX *sha;
    int64_t total; /* d->size, -1 when unknown */
    int64_t got;   /* bytes received from the source (hashed) */
    int64_t sent;  /* bytes handed to upload requests */
    bool verified; /* source finished and matched the descriptor */
    int failed;    /* REG_E* of the first failure, 0 while all is well */
    bool chunked;
    int64_t chunk_size;
    char *session; /* current upload URL (absolute), malloc'd */
    bool committed;
    xfer src_x;
    xfer up_x;
};

/* ------------------------------------------------------------ ring buffer */

static size_t ring_free(const ring *r)
{
    return r->cap - r->len;
}

/* Caller guarantees n <= ring_free(r). */
static void ring_push(ring *r, const unsigned char *p, size_t n)
{
    size_t tail = (r->head + r->len) % r->cap;
    size_t first = r->cap - tail < n ? r->cap - tail : n;
    memcpy(r->data + tail, p, first);
    memcpy(r->data, p + first, n - first);
    r->len += n;
}

/* Caller guarantees n <= r->len. */
static void ring_pop(ring *r, unsigned char *p, size_t n)
{
    size_t first = r->cap - r->head < n ? r->cap - r->head : n;
    memcpy(p, r->data + r->head, first);
    memcpy(p + first, r->data, n - first);
    r->head = (r->head + n) % r->cap;
    r->len -= n;
}

/* ---------------------------------------------------------------- errors */

/* Records the first failure only: later ones are consequences of it. */
static void fail(copy *cp, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(copy *cp, int code, const char *fmt, ...)
{
    char msg[sizeof(cp->err->msg)];
    va_list ap;
    if (cp->failed != 0)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cp->failed = reg_error_set(cp->err, code, "%s", msg);
}

static void fail_http(copy *cp, const xfer *x, const char *what)
{
    if (cp->failed != 0)
        return;
    cp->failed = reg_error_from_http(cp->err, x->status, x->body.data,
                                     x->body.len, what);
    cp->err->retry_after = x->retry_after;
    if (cp->failed == REG_OK)
        cp->failed = reg_error_set(cp->err, REG_ERR, "%s: unexpected HTTP %ld",
                                   what, x->status);
}

static void fail_curl(copy *cp, const xfer *x, CURLcode rc, const char *what)
{
    if (cp->failed != 0)
        return;
    cp->failed = reg__curl_error(cp->err, rc, what, x->errbuf);
}

/* ------------------------------------------------------------- transfers */

static void xfer_reset(copy *cp, xfer *x)
{
    xfer_kind kind = x->kind;
    if (x->h != NULL) {
        if (x->in_multi)
            curl_multi_remove_handle(cp->multi, x->h);
        curl_easy_cleanup(x->h);
    }
    curl_slist_free_all(x->headers);
    free(x->url);
    free(x->location);
    free(x->docker_digest);
    free(x->range);
    reg_buf_free(&x->body);
    memset(x, 0, sizeof(*x));
    x->cp = cp;
    x->kind = kind;
    x->body_len = -1;
    x->body.max = MAX_RESPONSE_BODY;
}

/* The URL as it may appear in logs: without the query, which can carry
 * upload state or a storage signature. */
static void log_http(reg_client *c, const xfer *x, const char *method)
{
    char buf[1024];
    if (c->hooks.on_http == NULL || x->url == NULL)
        return;
    size_t n = strcspn(x->url, "?");
    snprintf(buf, sizeof(buf), "%.*s", (int)n, x->url);
    c->hooks.on_http(c->hooks.payload, method, buf, x->status);
}

/* Value of header `name` in one raw header line, trimmed, malloc'd; NULL
 * when the line is another header. */
static char *header_value(const char *line, size_t len, const char *name)
{
    size_t nlen = strlen(name);
    if (len <= nlen || strncasecmp(line, name, nlen) != 0 || line[nlen] != ':')
        return NULL;
    const char *p = line + nlen + 1;
    const char *end = line + len;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    while (end > p && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' ||
                       end[-1] == '\t'))
        end--;
    return strndup(p, (size_t)(end - p));
}

static void set_owned(char **slot, char *v)
{
    if (v != NULL) {
        free(*slot);
        *slot = v;
    }
}

static size_t header_cb(char *buf, size_t size, size_t nitems, void *ud)
{
    xfer *x = ud;
    size_t n = size * nitems;
    if (n >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
        /* A new response head (after a 1xx): forget the previous one. */
        free(x->location);
        free(x->docker_digest);
        free(x->range);
        x->location = x->docker_digest = x->range = NULL;
        x->retry_after = -1;
        x->headers_done = false;
    } else if (n <= 2 && (buf[0] == '\r' || buf[0] == '\n')) {
        long status = 0;
        curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
        if (status >= 200) {
            x->status = status;
            x->headers_done = true;
        }
    } else {
        set_owned(&x->location, header_value(buf, n, "Location"));
        set_owned(&x->docker_digest,
                  header_value(buf, n, "Docker-Content-Digest"));
        set_owned(&x->range, header_value(buf, n, "Range"));
        char *ra = header_value(buf, n, "Retry-After");
        if (ra != NULL) {
            x->retry_after = reg__parse_retry_after(ra, time(NULL));
            free(ra);
        }
    }
    return n;
}

/* Source GET body: into the ring (status 200) or kept for the error. */
static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
    xfer *x = ud;
    copy *cp = x->cp;
    size_t n = size * nmemb;

    if (x->kind != XF_SOURCE || x->status != 200) {
        /* Error bodies are truncated at body.max: a failed append is fine. */
        (void)reg_buf_append(&x->body, ptr, n);
        return n;
    }
    if (cp->failed != 0)
        return 0; /* stops the GET with CURLE_WRITE_ERROR */
    if (cp->total >= 0 && cp->got + (int64_t)n > cp->total) {
        fail(cp, REG_EDIGEST,
             "blob %s: the source sent more than the %lld bytes the "
             "descriptor declares",
             cp->d->digest, (long long)cp->total);
        return 0;
    }
    if (n > ring_free(&cp->rb)) {
        if (cp->rb.len == 0) {
            /* A chunk larger than the whole ring (curl delivers at most
             * its buffer size, so this is rare): grow to fit it once. */
            unsigned char *p = realloc(cp->rb.data, n);
            if (p == NULL) {
                fail(cp, REG_ENOMEM, "out of memory");
                return 0;
            }
            cp->rb.data = p;
            cp->rb.cap = n;
            cp->rb.head = 0;
        } else {
            /* curl keeps the chunk and delivers it again after resume. */
            x->paused = true;
            x->pending = n;
            return CURL_WRITEFUNC_PAUSE;
        }
    }
    ring_push(&cp->rb, (const unsigned char *)ptr, n);
    if (EVP_DigestUpdate(cp->sha, ptr, n) != 1) {
        fail(cp, REG_ERR, "SHA-256 update failed");
        return 0;
    }
    cp->got += (int64_t)n;
    if (cp->src->hooks.on_blob_bytes != NULL)
        cp->src->hooks.on_blob_bytes(cp->src->hooks.payload, n);
    return n;
}

/* Upload responses: only kept for error messages. */
static size_t upload_write_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
    xfer *x = ud;
    size_t n = size * nmemb;
    (void)reg_buf_append(&x->body, ptr, n);
    return n;
}

/* Bytes the upload may take now: what the ring holds, limited to the
 * current request's body, minus the blob's last byte while the source is
 * not verified (so nothing unverified can be committed). */
static size_t upload_avail(const copy *cp, const xfer *x)
{
    int64_t n = (int64_t)cp->rb.len;
    if (x->body_len >= 0 && n > x->body_len - x->body_sent)
        n = x->body_len - x->body_sent;
    if (!cp->verified && cp->total >= 0 && cp->sent + n >= cp->total)
        n = cp->total - cp->sent - 1;
    return n > 0 ? (size_t)n : 0;
}

static size_t read_cb(char *buf, size_t size, size_t nitems, void *ud)
{
    xfer *x = ud;
    copy *cp = x->cp;
    size_t max = size * nitems;

    if (cp->failed != 0)
        return CURL_READFUNC_ABORT;
    if (x->body_len >= 0 && x->body_sent >= x->body_len)
        return 0;
    size_t n = upload_avail(cp, x);
    if (n > max)
        n = max;
    if (n == 0) {
        if (cp->verified && cp->rb.len == 0) {
            if (x->body_len < 0)
                return 0; /* end of a chunked-encoding body */
            fail(cp, REG_ERR, "blob %s: internal error: upload short of data",
                 cp->d->digest);
            return CURL_READFUNC_ABORT;
        }
        x->paused = true;
        return CURL_READFUNC_PAUSE;
    }
    ring_pop(&cp->rb, (unsigned char *)buf, n);
    cp->sent += (int64_t)n;
    x->body_sent += (int64_t)n;
    if (cp->opts != NULL && cp->opts->progress != NULL)
        cp->opts->progress(cp->opts->payload, (int64_t)n);
    return n;
}

/* --------------------------------------------------------- the multi loop */

static int add_to_multi(copy *cp, xfer *x)
{
    /* HTTP/1.1: with HTTP/2 both streams could share one connection, and
     * libcurl 7.88 does not pause a single multiplexed stream reliably. */
    curl_easy_setopt(x->h, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
    CURLMcode mc = curl_multi_add_handle(cp->multi, x->h);
    if (mc != CURLM_OK) {
        fail(cp, REG_ERR, "curl_multi_add_handle: %s", curl_multi_strerror(mc));
        return cp->failed;
    }
    x->in_multi = true;
    return REG_OK;
}

/* Opens the source GET (url relative to the source registry, or an
 * absolute redirect target; credentials go only to the registry itself). */
static int start_source(copy *cp, const char *url)
{
    xfer *x = &cp->src_x;
    xfer_reset(cp, x);
    int rc = reg__prepare_stream(&x->h, &x->headers, cp->src, "GET", url,
                                 cp->src_repo, "pull", cp->err);
    if (rc != REG_OK) {
        cp->failed = rc;
        return rc;
    }
    reg__before_request(cp->src);
    /* Absolute, to resolve a relative Location against. */
    x->url = reg__url(cp->src, url, cp->err);
    if (x->url == NULL) {
        if (cp->failed == 0)
            cp->failed = cp->err->code != 0 ? cp->err->code : REG_ENOMEM;
        return cp->failed;
    }
    CURL *h = x->h;
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, NULL); /* raw bytes */
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, x->headers);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(h, CURLOPT_BUFFERSIZE, CURL_BUF);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    return add_to_multi(cp, x);
}

/* Adds the next upload request on cp->session: a PATCH of body_len bytes
 * at offset cp->sent, or the PUT ?digest= that completes the upload. */
static int start_upload(copy *cp, xfer_kind kind, int64_t body_len)
{
    xfer *x = &cp->up_x;
    char *url = NULL, *dig = NULL;
    int rc;

    x->kind = kind;
    xfer_reset(cp, x);
    x->body_len = body_len;
    if (kind == XF_PUT) {
        dig = reg__escape(cp->d->digest);
        size_t n = strlen(cp->session) + (dig != NULL ? strlen(dig) : 0) + 16;
        url = malloc(n);
        if (dig == NULL || url == NULL) {
            fail(cp, REG_ENOMEM, "out of memory");
            goto cleanup;
        }
        snprintf(url, n, "%s%sdigest=%s", cp->session,
                 strchr(cp->session, '?') != NULL ? "&" : "?", dig);
    } else {
        url = strdup(cp->session);
        if (url == NULL) {
            fail(cp, REG_ENOMEM, "out of memory");
            goto cleanup;
        }
    }
    rc = reg__prepare_stream(&x->h, &x->headers, cp->dst,
                             kind == XF_PUT ? "PUT" : "PATCH", url,
                             cp->dst_repo, "pull,push", cp->err);
    if (rc != REG_OK) {
        if (cp->failed == 0)
            cp->failed = rc;
        goto cleanup;
    }
    reg__before_request(cp->dst);
    x->url = url;
    url = NULL;

    /* No "Expect: 100-continue": it costs a round trip (or curl's 1 s
     * wait) per request for nothing (ARCHITECTURE.md, performance notes). */
    rc = reg__header_add(&x->headers, "Expect", "", cp->err);
    if (rc == REG_OK)
        rc = reg__header_add(&x->headers, "Content-Type",
                             "application/octet-stream", cp->err);
    if (rc == REG_OK && kind == XF_PATCH) {
        char range[64];
        snprintf(range, sizeof(range), "%lld-%lld", (long long)cp->sent,
                 (long long)(cp->sent + body_len - 1));
        rc = reg__header_add(&x->headers, "Content-Range", range, cp->err);
    }
    if (rc != REG_OK) {
        if (cp->failed == 0)
            cp->failed = rc;
        goto cleanup;
    }
    CURL *h = x->h;
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    if (kind == XF_PATCH)
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PATCH");
    if (body_len >= 0)
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)body_len);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, x->headers);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, CURL_BUF);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
    curl_easy_setopt(h, CURLOPT_READDATA, x);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, upload_write_cb);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    add_to_multi(cp, x);
cleanup:
    free(url);
    free(dig);
    return cp->failed;
}

/* Starts the request that carries bytes from offset cp->sent: the next
 * PATCH chunk, or the PUT (with the remaining body, or empty). */
static int start_next_upload(copy *cp)
{
    if (cp->chunked && cp->sent < cp->total) {
        int64_t len = cp->total - cp->sent;
        if (len > cp->chunk_size)
            len = cp->chunk_size;
        return start_upload(cp, XF_PATCH, len);
    }
    if (cp->chunked)
        return start_upload(cp, XF_PUT, 0);
    return start_upload(cp, XF_PUT, cp->total);
}

static void source_done(copy *cp, xfer *x, CURLcode rc)
{
    char what[160];
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char actual[REG_DIGEST_LEN + 1];

    log_http(cp->src, x, "GET");
    snprintf(what, sizeof(what), "GET blob %s from %s/%s", cp->d->digest,
             cp->src->host, cp->src_repo);
    if (cp->failed != 0)
        return;
    if (rc != CURLE_OK) {
        fail_curl(cp, x, rc, what);
        return;
    }
    if (x->status != 200)
        return; /* redirects and errors are handled by open_source() */
    if (EVP_DigestFinal_ex(cp->sha, md, &mdlen) != 1 || mdlen != 32) {
        fail(cp, REG_ERR, "SHA-256 final failed");
        return;
    }
    memcpy(actual, "sha256:", 7);
    for (unsigned int i = 0; i < mdlen; i++)
        snprintf(actual + 7 + 2 * i, 3, "%02x", md[i]);
    if (cp->total >= 0 && cp->got != cp->total) {
        fail(cp, REG_EDIGEST,
             "blob %s: size mismatch: the descriptor declares %lld bytes, "
             "the source sent %lld (content digest %s)",
             cp->d->digest, (long long)cp->total, (long long)cp->got, actual);
        return;
    }
    if (strcmp(actual, cp->d->digest) != 0) {
        fail(cp, REG_EDIGEST,
             "blob %s: digest mismatch: expected %s, the source sent "
             "content with digest %s (%lld bytes)",
             cp->d->digest, cp->d->digest, actual, (long long)cp->got);
        return;
    }
    cp->verified = true;
}

/* Parses the end of a "Range: 0-<end>" answer; -1 when absent/bad. */
static int64_t range_end(const char *v)
{
    if (v == NULL)
        return -1;
    const char *dash = strchr(v, '-');
    if (dash == NULL)
        return -1;
    char *end = NULL;
    long long e = strtoll(dash + 1, &end, 10);
    if (end == dash + 1 || *end != '\0' || e < 0)
        return -1;
    return (int64_t)e;
}

static void upload_done(copy *cp, xfer *x, CURLcode rc)
{
    char what[160];
    const char *method = x->kind == XF_PATCH ? "PATCH" : "PUT";

    log_http(cp->dst, x, method);
    snprintf(what, sizeof(what), "upload blob %s to %s/%s (%s)", cp->d->digest,
             cp->dst->host, cp->dst_repo, method);
    if (cp->failed != 0)
        return;
    if (rc != CURLE_OK) {
        fail_curl(cp, x, rc, what);
        return;
    }
    if (x->kind == XF_PUT) {
        if (x->status != 201) {
            fail_http(cp, x, what);
            return;
        }
        if (x->docker_digest != NULL &&
            strcmp(x->docker_digest, cp->d->digest) != 0) {
            fail(cp, REG_EDIGEST,
                 "%s: the registry stored digest %s, expected %s", what,
                 reg_valid_digest(x->docker_digest) ? x->docker_digest
                                                    : "(not a digest)",
                 cp->d->digest);
            return;
        }
        cp->committed = true;
        return;
    }
    /* PATCH: 202 with the next Location and the range received so far. */
    if (x->status != 202) {
        fail_http(cp, x, what);
        return;
    }
    if (x->location == NULL) {
        fail(cp, REG_ERR, "%s: HTTP 202 without a Location", what);
        return;
    }
    int64_t end = range_end(x->range);
    if (x->range != NULL && end != cp->sent - 1) {
        fail(cp, REG_ERR,
             "%s: registry holds bytes up to %lld, expected "
             "0-%lld",
             what, (long long)end, (long long)(cp->sent - 1));
        return;
    }
    char *next = reg_url_resolve(x->url, x->location);
    if (next == NULL) {
        fail(cp, REG_ENOMEM, "out of memory");
        return;
    }
    free(cp->session);
    cp->session = next;
    /* Refill the free slot before the loop waits again. */
    start_next_upload(cp);
}

/* Resumes paused transfers that can make progress. Called from the loop
 * only, never from a callback (see the file comment). */
static void resume_paused(copy *cp)
{
    xfer *s = &cp->src_x;
    xfer *u = &cp->up_x;
    /* The refused chunk comes back whole: wait for room for all of it (an
     * empty ring takes any chunk, growing if needed). */
    if (s->in_multi && !s->done && s->paused &&
        (ring_free(&cp->rb) >= s->pending || cp->rb.len == 0)) {
        s->paused = false;
        curl_easy_pause(s->h, CURLPAUSE_CONT);
    }
    if (cp->failed == 0 && u->in_multi && !u->done && u->paused &&
        (upload_avail(cp, u) > 0 || cp->verified)) {
        u->paused = false;
        curl_easy_pause(u->h, CURLPAUSE_CONT);
    }
}

static bool active(const xfer *x)
{
    return x->in_multi && !x->done;
}

/* One round: run curl, handle finished transfers, check cancel, resume. */
static void step(copy *cp)
{
    int running = 0, left = 0;
    CURLMcode mc = curl_multi_perform(cp->multi, &running);
    if (mc != CURLM_OK) {
        fail(cp, REG_ERR, "curl_multi_perform: %s", curl_multi_strerror(mc));
        return;
    }
    CURLMsg *msg;
    while ((msg = curl_multi_info_read(cp->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURLcode rc = msg->data.result;
        if (msg->easy_handle == cp->src_x.h) {
            cp->src_x.done = true;
            cp->src_x.paused = false;
            source_done(cp, &cp->src_x, rc);
        } else if (msg->easy_handle == cp->up_x.h) {
            cp->up_x.done = true;
            cp->up_x.paused = false;
            upload_done(cp, &cp->up_x, rc);
        }
    }
    if (cp->opts != NULL && cp->opts->cancel != NULL && *cp->opts->cancel != 0)
        fail(cp, REG_ECANCELED, "blob %s: copy canceled", cp->d->digest);
    if (cp->failed == 0)
        resume_paused(cp);
}

/* Runs the loop until cond(cp) holds or the copy fails. */
static int run_until(copy *cp, bool (*cond)(const copy *))
{
    for (;;) {
        step(cp);
        if (cp->failed != 0)
            return cp->failed;
        if (cond(cp))
            return REG_OK;
        if (!active(&cp->src_x) && !active(&cp->up_x)) {
            fail(cp, REG_ERR, "blob %s: internal error: copy stalled",
                 cp->d->digest);
            return cp->failed;
        }
        /* Returns at once when a handle was just added or resumed (curl
         * sets a zero timeout); the bound keeps cancel responsive. */
        CURLMcode mc = curl_multi_poll(cp->multi, NULL, 0, POLL_MS, NULL);
        if (mc != CURLM_OK) {
            fail(cp, REG_ERR, "curl_multi_poll: %s", curl_multi_strerror(mc));
            return cp->failed;
        }
    }
}

static bool source_head_ready(const copy *cp)
{
    return cp->src_x.headers_done || cp->src_x.done;
}

static bool source_finished(const copy *cp)
{
    return cp->src_x.done;
}

static bool upload_committed(const copy *cp)
{
    return cp->committed;
}

/* ------------------------------------------------------------- the phases */

static bool is_redirect(long s)
{
    return s == 301 || s == 302 || s == 303 || s == 307 || s == 308;
}

/*
 * Starts the source GET and runs it until a 200 response head: follows
 * redirects itself (credentials only to the registry's own host:port, see
 * reg__prepare_stream), maps error statuses, and checks Content-Length
 * against the descriptor. Body bytes may already be in the ring after.
 */
static int open_source(copy *cp)
{
    char what[160];
    char *url = NULL;
    int rc;
    size_t n = strlen(cp->src_repo) + strlen(cp->d->digest) + 16;

    snprintf(what, sizeof(what), "GET blob %s from %s/%s", cp->d->digest,
             cp->src->host, cp->src_repo);
    url = malloc(n);
    if (url == NULL) {
        fail(cp, REG_ENOMEM, "out of memory");
        return cp->failed;
    }
    snprintf(url, n, "/v2/%s/blobs/%s", cp->src_repo, cp->d->digest);
    for (int hop = 0;; hop++) {
        rc = start_source(cp, url);
        if (rc == REG_OK)
            rc = run_until(cp, source_head_ready);
        if (rc != REG_OK)
            goto cleanup;
        xfer *x = &cp->src_x;
        if (!x->headers_done) {
            fail(cp, REG_ERR, "%s: no response", what);
            rc = cp->failed;
            goto cleanup;
        }
        if (!is_redirect(x->status) || x->location == NULL)
            break;
        if (!x->done)
            log_http(cp->src, x, "GET");
        if (hop >= MAX_REDIRECTS) {
            fail(cp, REG_ERR, "%s: more than %d redirects", what,
                 MAX_REDIRECTS);
            rc = cp->failed;
            goto cleanup;
        }
        char *next = reg_url_resolve(x->url, x->location);
        if (next == NULL) {
            fail(cp, REG_ENOMEM, "out of memory");
            rc = cp->failed;
            goto cleanup;
        }
        free(url);
        url = next;
    }
    xfer *x = &cp->src_x;
    if (x->status != 200) {
        /* Read the (bounded) error body for the message. */
        rc = run_until(cp, source_finished);
        if (rc != REG_OK)
            goto cleanup;
        fail_http(cp, x, what);
        rc = cp->failed;
        goto cleanup;
    }
    curl_off_t cl = -1;
    curl_easy_getinfo(x->h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
    if (cl >= 0 && cp->total >= 0 && (int64_t)cl != cp->total) {
        fail(cp, REG_EDIGEST,
             "blob %s: size mismatch: the descriptor declares %lld bytes, "
             "the source serves %lld",
             cp->d->digest, (long long)cp->total, (long long)cl);
        rc = cp->failed;
        goto cleanup;
    }
    rc = REG_OK;
cleanup:
    free(url);
    return rc;
}

/* POST /v2/<dst_repo>/blobs/uploads/ -> cp->session. */
static int open_session(copy *cp)
{
    char path[1024], what[160];
    reg_resp resp;
    int rc;

    memset(&resp, 0, sizeof(resp));
    snprintf(what, sizeof(what), "start upload of blob %s to %s/%s",
             cp->d->digest, cp->dst->host, cp->dst_repo);
    int pn =
        snprintf(path, sizeof(path), "/v2/%s/blobs/uploads/", cp->dst_repo);
    if (pn < 0 || (size_t)pn >= sizeof(path)) {
        fail(cp, REG_EINVAL, "%s: repository name too long", what);
        return cp->failed;
    }
    reg_req req = {.method = "POST",
                   .url = path,
                   .repo = cp->dst_repo,
                   .actions = "pull,push",
                   .max_response = MAX_RESPONSE_BODY};
    rc = reg__request(cp->dst, &req, &resp, cp->err);
    if (rc != REG_OK) {
        cp->failed = rc;
        goto cleanup;
    }
    if (resp.status != 202) {
        rc = reg_error_from_http(cp->err, resp.status, resp.body.data,
                                 resp.body.len, what);
        cp->err->retry_after = resp.retry_after;
        if (rc == REG_OK)
            rc = reg_error_set(cp->err, REG_ERR, "%s: unexpected HTTP %ld",
                               what, resp.status);
        cp->failed = rc;
        goto cleanup;
    }
    if (resp.location == NULL) {
        fail(cp, REG_ERR, "%s: HTTP 202 without a Location", what);
        rc = cp->failed;
        goto cleanup;
    }
    /* The upload URL comes from the network: reg__url checks it (no
     * control bytes or spaces, http or https only) and makes it absolute. */
    cp->session = reg__url(cp->dst, resp.location, cp->err);
    if (cp->session == NULL) {
        if (cp->err->code == 0)
            reg_error_set(cp->err, REG_ENOMEM, "out of memory");
        reg_error_prefix(cp->err, "%s", what);
        cp->failed = cp->err->code;
        rc = cp->failed;
    }
cleanup:
    reg_resp_free(&resp);
    return rc;
}

/* Best effort: DELETE the unfinished upload session so the registry drops
 * what it received. Its outcome does not change the copy's error. */
static void cancel_session(copy *cp)
{
    reg_error ignored;
    reg_resp resp;
    memset(&resp, 0, sizeof(resp));
    reg_error_clear(&ignored);
    reg_req req = {.method = "DELETE",
                   .url = cp->session,
                   .repo = cp->dst_repo,
                   .actions = "pull,push",
                   .max_response = MAX_RESPONSE_BODY};
    (void)reg__request(cp->dst, &req, &resp, &ignored);
    reg_resp_free(&resp);
}

int reg_blob_copy(reg_client *src, const char *src_repo, reg_client *dst,
                  const char *dst_repo, const reg_descriptor *d,
                  const reg_copy_opts *opts, reg_error *err)
{
    reg_error local;
    copy cp;
    int rc;

    reg_error_clear(&local);
    memset(&cp, 0, sizeof(cp));
    cp.err = err != NULL ? err : &local;
    cp.err->retry_after = -1;
    cp.src_x.cp = cp.up_x.cp = &cp;
    cp.src_x.kind = XF_SOURCE;
    cp.up_x.kind = XF_PUT;
    if (src == NULL || dst == NULL || src_repo == NULL || dst_repo == NULL ||
        d == NULL || d->digest == NULL)
        return reg_error_set(err, REG_EINVAL, "copy blob: missing argument");
    if (!reg_valid_digest(d->digest))
        return reg_error_set(err, REG_EINVAL, "copy blob: bad digest \"%s\"",
                             d->digest);
    if (strncmp(d->digest, "sha256:", 7) != 0)
        return reg_error_set(err, REG_EUNSUPPORTED,
                             "copy blob %s: only sha256 digests are supported",
                             d->digest);
    cp.src = src;
    cp.dst = dst;
    cp.src_repo = src_repo;
    cp.dst_repo = dst_repo;
    cp.d = d;
    cp.opts = opts;
    cp.total = d->size >= 0 ? d->size : -1;

    int64_t threshold = dst->chunk_threshold;
    if (threshold == 0)
        threshold = (int64_t)512 * 1024 * 1024;
    cp.chunk_size =
        dst->chunk_size > 0 ? dst->chunk_size : (int64_t)64 * 1024 * 1024;
    cp.chunked = threshold >= 0 && cp.total > threshold;

    cp.rb.cap = opts != NULL && opts->buffer_size > 0 ? opts->buffer_size
                                                      : DEFAULT_RING;
    if (cp.rb.cap < MIN_RING)
        cp.rb.cap = MIN_RING;
    cp.rb.data = malloc(cp.rb.cap);
    cp.sha = EVP_MD_CTX_new();
    cp.multi = curl_multi_init();
    if (cp.rb.data == NULL || cp.sha == NULL || cp.multi == NULL) {
        fail(&cp, REG_ENOMEM, "out of memory");
        goto cleanup;
    }
    if (EVP_DigestInit_ex(cp.sha, EVP_sha256(), NULL) != 1) {
        fail(&cp, REG_ERR, "SHA-256 init failed");
        goto cleanup;
    }

    /* Source first: a missing or mis-sized blob opens no upload session. */
    if (open_source(&cp) != REG_OK)
        goto cleanup;
    if (open_session(&cp) != REG_OK)
        goto cleanup;
    if (cp.total == 0 && !cp.chunked) {
        /* An empty body gives the read callback no chance to hold back a
         * byte: verify the (empty) source before the PUT. */
        if (run_until(&cp, source_finished) != REG_OK)
            goto cleanup;
    }
    if (start_next_upload(&cp) != REG_OK)
        goto cleanup;
    run_until(&cp, upload_committed);

cleanup:
    /* Abort whatever still runs: a removed upload closes its connection
     * mid-body, so the registry cannot complete it. */
    if (cp.multi != NULL) {
        xfer_reset(&cp, &cp.src_x);
        xfer_reset(&cp, &cp.up_x);
    }
    if (!cp.committed && cp.session != NULL)
        cancel_session(&cp);
    rc = cp.failed;
    if (rc == REG_OK && !cp.committed)
        rc = reg_error_set(cp.err, REG_ERR, "blob %s: copy did not complete",
                           d->digest);
    if (rc == REG_OK)
        reg_error_clear(err);
    free(cp.session);
    free(cp.rb.data);
    EVP_MD_CTX_free(cp.sha);
    if (cp.multi != NULL)
        curl_multi_cleanup(cp.multi);
    return rc;
}
