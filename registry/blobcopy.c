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
/* Resume inside a blob: at most this many resumes per copy (each one
 * continues the same attempt, see reg_blob_copy), and a copy of the
 * SHA-256 state every CKPT_EVERY bytes, the last NCKPT kept, so an upload
 * that must go back re-reads the source from the checkpoint at or below
 * the offset the target confirmed (whole verification, little re-read). */
#define MAX_RESUMES 8
#define CKPT_EVERY  ((int64_t)4 * 1024 * 1024)
#define NCKPT       32

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
    bool body_started; /* source: the body's offset is known (src_pos) */
    bool done;
    long status;
    int64_t body_len;  /* upload body bytes, -1 when unknown */
    int64_t body_sent; /* upload body bytes handed to curl */
    size_t pending;    /* source: size of the chunk refused by the pause */
    reg_buf body;      /* response body (errors, non-200 source) */
    char *location;
    char *docker_digest;
    char *range;
    char *content_range; /* of a 206 answer */
    long retry_after;    /* seconds, -1 when absent */
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
    /* resume inside a blob */
    int64_t src_pos;   /* blob offset of the source body's next byte */
    int64_t src_start; /* Range start of the current source GET */
    bool src_resume;   /* the source broke: continue it with a Range */
    bool up_resume;    /* the upload broke: ask the session, continue */
    bool resuming;     /* inside a resume: the loop leaves the flags */
    int resumes;
    struct {
        int64_t off;
        EVP_MD_CTX *ctx;
    } ck[NCKPT]; /* SHA-256 state at off (a multiple of CKPT_EVERY) */
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
    free(x->content_range);
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
        free(x->content_range);
        x->location = x->docker_digest = x->range = x->content_range = NULL;
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
        set_owned(&x->content_range, header_value(buf, n, "Content-Range"));
        char *ra = header_value(buf, n, "Retry-After");
        if (ra != NULL) {
            x->retry_after = reg__parse_retry_after(ra, time(NULL));
            free(ra);
        }
    }
    return n;
}

/* The blob offset where a 200/206 source body starts: 0 for a 200 (the
 * whole blob, whatever was asked), the checked Content-Range start of a
 * 206, which must answer our "Range: bytes=N-" exactly. Sets src_pos. */
static int source_begin(copy *cp, xfer *x)
{
    if (x->body_started)
        return REG_OK;
    x->body_started = true;
    cp->src_pos = 0;
    if (x->status != 206)
        return REG_OK;
    int64_t first = -1, last = -1, total = -1;
    if (cp->src_start <= 0 ||
        reg__content_range_parse(x->content_range, &first, &last, &total) !=
            0 ||
        first != cp->src_start || total != cp->total || last != cp->total - 1) {
        fail(cp, REG_ERR,
             "GET blob %s from %s/%s: HTTP 206 with a missing or wrong "
             "Content-Range for \"Range: bytes=%lld-\" (the blob has %lld "
             "bytes)",
             cp->d->digest, cp->src->host, cp->src_repo,
             (long long)cp->src_start, (long long)cp->total);
        return cp->failed;
    }
    cp->src_pos = first;
    return REG_OK;
}

/* Hashes the next n bytes of the blob (at offset cp->got), keeping a copy
 * of the SHA-256 state at every CKPT_EVERY boundary. */
static int sha_update(copy *cp, const unsigned char *p, size_t n)
{
    while (n > 0) {
        int64_t next = (cp->got / CKPT_EVERY + 1) * CKPT_EVERY;
        size_t k = next - cp->got < (int64_t)n ? (size_t)(next - cp->got) : n;
        if (EVP_DigestUpdate(cp->sha, p, k) != 1) {
            fail(cp, REG_ERR, "SHA-256 update failed");
            return cp->failed;
        }
        cp->got += (int64_t)k;
        p += k;
        n -= k;
        if (cp->got % CKPT_EVERY == 0) {
            size_t i = (size_t)(cp->got / CKPT_EVERY) % NCKPT;
            if (cp->ck[i].ctx == NULL)
                cp->ck[i].ctx = EVP_MD_CTX_new();
            if (cp->ck[i].ctx != NULL &&
                EVP_MD_CTX_copy_ex(cp->ck[i].ctx, cp->sha) == 1)
                cp->ck[i].off = cp->got;
            else
                cp->ck[i].off = -1; /* unusable: resumes go further back */
        }
    }
    return REG_OK;
}

/* Rewinds the hash to the last checkpoint at or below off (or to 0):
 * cp->got becomes that offset. */
static int sha_rewind(copy *cp, int64_t off)
{
    int best = -1;
    for (int i = 0; i < NCKPT; i++) {
        if (cp->ck[i].ctx != NULL && cp->ck[i].off > 0 &&
            cp->ck[i].off <= off && cp->ck[i].off <= cp->got &&
            (best < 0 || cp->ck[i].off > cp->ck[best].off))
            best = i;
    }
    if (best >= 0 && EVP_MD_CTX_copy_ex(cp->sha, cp->ck[best].ctx) == 1) {
        cp->got = cp->ck[best].off;
    } else if (EVP_DigestInit_ex(cp->sha, EVP_sha256(), NULL) == 1) {
        cp->got = 0;
    } else {
        fail(cp, REG_ERR, "SHA-256 init failed");
        return cp->failed;
    }
    if (cp->total < 0 || cp->got < cp->total)
        cp->verified = false;
    return REG_OK;
}

/* Source GET body: into the ring (status 200 or 206) or kept for the
 * error. */
static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
    xfer *x = ud;
    copy *cp = x->cp;
    size_t n = size * nmemb;

    if (x->kind != XF_SOURCE || (x->status != 200 && x->status != 206)) {
        /* Error bodies are truncated at body.max: a failed append is fine. */
        (void)reg_buf_append(&x->body, ptr, n);
        return n;
    }
    if (cp->failed != 0 || source_begin(cp, x) != REG_OK)
        return 0; /* stops the GET with CURLE_WRITE_ERROR */
    if (cp->total >= 0 && cp->src_pos + (int64_t)n > cp->total) {
        fail(cp, REG_EDIGEST,
             "blob %s: the source sent more than the %lld bytes the "
             "descriptor declares",
             cp->d->digest, (long long)cp->total);
        return 0;
    }
    /* After a resume the body may start before what the ring needs (a
     * full GET from a source that ignores Range, or a re-read from a hash
     * checkpoint): bytes below the ring's end are not pushed again, bytes
     * below cp->got are not hashed again. */
    int64_t ring_end = cp->sent + (int64_t)cp->rb.len;
    size_t push_from = 0;
    if (ring_end > cp->src_pos)
        push_from = ring_end - cp->src_pos >= (int64_t)n
                        ? n
                        : (size_t)(ring_end - cp->src_pos);
    size_t npush = n - push_from;
    if (npush > ring_free(&cp->rb)) {
        if (cp->rb.len == 0) {
            /* A chunk larger than the whole ring (curl delivers at most
             * its buffer size, so this is rare): grow to fit it once. */
            unsigned char *p = realloc(cp->rb.data, npush);
            if (p == NULL) {
                fail(cp, REG_ENOMEM, "out of memory");
                return 0;
            }
            cp->rb.data = p;
            cp->rb.cap = npush;
            cp->rb.head = 0;
        } else {
            /* curl keeps the chunk and delivers it again after resume. */
            x->paused = true;
            x->pending = n;
            return CURL_WRITEFUNC_PAUSE;
        }
    }
    ring_push(&cp->rb, (const unsigned char *)ptr + push_from, npush);
    if (cp->src_pos + (int64_t)n > cp->got) {
        size_t hash_from =
            cp->got > cp->src_pos ? (size_t)(cp->got - cp->src_pos) : 0;
        if (sha_update(cp, (const unsigned char *)ptr + hash_from,
                       n - hash_from) != REG_OK)
            return 0;
    }
    cp->src_pos += (int64_t)n;
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
 * absolute redirect target; credentials go only to the registry itself),
 * from blob offset cp->src_start ("Range: bytes=N-" when N > 0). */
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
    if (cp->src_start > 0) {
        char range[48];
        snprintf(range, sizeof(range), "bytes=%lld-", (long long)cp->src_start);
        rc = reg__header_add(&x->headers, "Range", range, cp->err);
        if (rc != REG_OK) {
            cp->failed = rc;
            return rc;
        }
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
    /* monolithic: the whole blob, or the rest after a resumed session */
    return start_upload(cp, XF_PUT,
                        cp->total >= 0 ? cp->total - cp->sent : cp->total);
}

/* A transfer broke for a transport reason (reset, timeout, cut body):
 * true when the copy may continue it instead of failing (a known size,
 * resumes left, not canceled); else records the failure. */
static bool may_resume(copy *cp, const xfer *x, CURLcode rc, const char *what)
{
    reg_error e;
    reg_error_clear(&e);
    int code = reg__curl_error(&e, rc, what, x->errbuf);
    if (code == REG_ERETRY && cp->total >= 0 && cp->resumes < MAX_RESUMES &&
        !(cp->opts != NULL && cp->opts->cancel != NULL &&
          *cp->opts->cancel != 0)) {
        cp->resumes++;
        return true;
    }
    fail_curl(cp, x, rc, what);
    return false;
}

/* The source has delivered every byte (cp->got): checks the size and the
 * digest; sets cp->verified. */
static void verify_source(copy *cp)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char actual[REG_DIGEST_LEN + 1];

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

static void source_done(copy *cp, xfer *x, CURLcode rc)
{
    char what[160];

    log_http(cp->src, x, "GET");
    snprintf(what, sizeof(what), "GET blob %s from %s/%s", cp->d->digest,
             cp->src->host, cp->src_repo);
    if (cp->failed != 0)
        return;
    if (rc != CURLE_OK) {
        /* A body cut short continues from where it stopped; a request
         * that got no answer is left to open_source() (no resume there). */
        if (!x->headers_done || (x->status != 200 && x->status != 206))
            fail_curl(cp, x, rc, what);
        else if (may_resume(cp, x, rc, what))
            cp->src_resume = true;
        return;
    }
    if (x->status != 200 && x->status != 206)
        return; /* redirects and errors are handled by open_source() */
    verify_source(cp);
}

/* True when url (absolute) is on the target's own scheme://host:port and
 * carries no user info: only such a session URL is recorded or reused. */
static bool session_url_ok(copy *cp, const char *url)
{
    reg_error e;
    char *parts[2][3] = {{NULL, NULL, NULL}, {NULL, NULL, NULL}};
    char *user = NULL;
    bool ok = false;
    reg_error_clear(&e);
    char *base = reg__url(cp->dst, "/v2/", &e);
    const char *urls[2] = {base, url};
    CURLU *u = curl_url();
    if (base == NULL || u == NULL || url == NULL)
        goto cleanup;
    for (int i = 0; i < 2; i++) {
        if (curl_url_set(u, CURLUPART_URL, urls[i], 0) != CURLUE_OK ||
            curl_url_get(u, CURLUPART_SCHEME, &parts[i][0], 0) != CURLUE_OK ||
            curl_url_get(u, CURLUPART_HOST, &parts[i][1], 0) != CURLUE_OK ||
            curl_url_get(u, CURLUPART_PORT, &parts[i][2], CURLU_DEFAULT_PORT) !=
                CURLUE_OK)
            goto cleanup;
        if (i == 1 && curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK)
            goto cleanup; /* user info: never stored, never reused */
    }
    ok = true;
    for (int k = 0; k < 3; k++)
        ok = ok && strcasecmp(parts[0][k], parts[1][k]) == 0;
cleanup:
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 3; k++)
            curl_free(parts[i][k]);
    curl_free(user);
    curl_url_cleanup(u);
    free(base);
    return ok;
}

/* Tells the caller (on_session) where the upload stands: url NULL when
 * the session is over. */
static void report_session(copy *cp, const char *url)
{
    if (cp->opts == NULL || cp->opts->on_session == NULL)
        return;
    if (url != NULL && !session_url_ok(cp, url))
        return;
    cp->opts->on_session(cp->opts->payload, url, url != NULL ? cp->sent : 0);
}

/* Parses the end of a "Range: 0-<end>" answer; -1 when absent/bad. */
static int64_t range_end(const char *v)
{
    int64_t e = -1;
    return reg__upload_range_parse(v, &e) == 0 ? e : -1;
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
        if (may_resume(cp, x, rc, what))
            cp->up_resume = true;
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
        report_session(cp, NULL);
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
    report_session(cp, cp->session);
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

static int resume_source(copy *cp);
static int resume_upload(copy *cp);

/* Runs the loop until cond(cp) holds or the copy fails. Broken transfers
 * are continued here, outside any callback and never nested. */
static int run_until(copy *cp, bool (*cond)(const copy *))
{
    for (;;) {
        step(cp);
        if (cp->failed != 0)
            return cp->failed;
        if (!cp->resuming && cp->up_resume) {
            cp->up_resume = false;
            if (resume_upload(cp) != REG_OK)
                return cp->failed;
            continue;
        }
        if (!cp->resuming && cp->src_resume) {
            cp->src_resume = false;
            if (resume_source(cp) != REG_OK)
                return cp->failed;
            continue;
        }
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

/* The source GET's request has left (or it ended): only then does the
 * upload POST overlap with its answer. curl's own timeouts bound this. */
static bool source_sent(const copy *cp)
{
    long n = 0;
    if (cp->src_x.headers_done || cp->src_x.done)
        return true;
    return curl_easy_getinfo(cp->src_x.h, CURLINFO_REQUEST_SIZE, &n) ==
               CURLE_OK &&
           n > 0;
}

/* ------------------------------------------------------------- the phases */

static bool is_redirect(long s)
{
    return s == 301 || s == 302 || s == 303 || s == 307 || s == 308;
}

/* The blob's path on the source registry, malloc'd (NULL: out of memory,
 * recorded). */
static char *source_path(copy *cp)
{
    size_t n = strlen(cp->src_repo) + strlen(cp->d->digest) + 16;
    char *url = malloc(n);
    if (url == NULL)
        fail(cp, REG_ENOMEM, "out of memory");
    else
        snprintf(url, n, "/v2/%s/blobs/%s", cp->src_repo, cp->d->digest);
    return url;
}

/*
 * Runs the source GET (from blob offset cp->src_start) until a 200 or 206
 * response head: follows redirects itself (credentials only to the
 * registry's own host:port, see reg__prepare_stream), maps error
 * statuses, and checks Content-Length / Content-Range against the
 * descriptor. `url` (owned, freed here) is the blob's path on the source
 * registry; with `started`, its GET is already in the multi handle. Body
 * bytes may already be in the ring after. A resume always starts from the
 * registry again: a redirect target (a signed storage URL) may expire.
 */
static int open_source(copy *cp, char *url, bool started)
{
    char what[160];
    int rc;

    snprintf(what, sizeof(what), "GET blob %s from %s/%s", cp->d->digest,
             cp->src->host, cp->src_repo);
    if (url == NULL)
        return cp->failed;
    for (int hop = 0;; hop++) {
        rc = started && hop == 0 ? REG_OK : start_source(cp, url);
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
    if (x->status != 200 && !(x->status == 206 && cp->src_start > 0)) {
        /* Read the (bounded) error body for the message. */
        rc = run_until(cp, source_finished);
        if (rc != REG_OK)
            goto cleanup;
        fail_http(cp, x, what);
        rc = cp->failed;
        goto cleanup;
    }
    if (source_begin(cp, x) != REG_OK) {
        rc = cp->failed;
        goto cleanup;
    }
    int64_t body = x->status == 206 ? cp->total - cp->src_start : cp->total;
    curl_off_t cl = -1;
    curl_easy_getinfo(x->h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
    if (cl >= 0 && cp->total >= 0 && (int64_t)cl != body) {
        fail(cp, REG_EDIGEST,
             "blob %s: size mismatch: the descriptor declares %lld bytes, "
             "the source serves %lld",
             cp->d->digest, (long long)cp->total,
             (long long)cl + (cp->total - body));
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

/*
 * Fewer round trips: the mount request is the upload start. POST
 * ?mount=<digest>&from=<repo>: 201 means mounted (the copy is done, the
 * source never read); 202 is an upload session, used for the copy. Any
 * other answer but a transient one (429, 5xx: the copy fails, the caller
 * retries) falls back to a plain POST, as a refused mount does.
 */
static int open_mount_session(copy *cp, const char *from)
{
    char what[200];
    reg_resp resp;
    char *path = NULL, *ed = reg__escape(cp->d->digest),
         *ef = reg__escape(from);
    int rc;

    memset(&resp, 0, sizeof(resp));
    snprintf(what, sizeof(what), "mount blob %s from %s into %s/%s",
             cp->d->digest, from, cp->dst->host, cp->dst_repo);
    size_t n = strlen(cp->dst_repo) + (ed ? strlen(ed) : 0) +
               (ef ? strlen(ef) : 0) + 48;
    path = ed != NULL && ef != NULL ? malloc(n) : NULL;
    if (path == NULL) {
        fail(cp, REG_ENOMEM, "out of memory");
        rc = cp->failed;
        goto cleanup;
    }
    snprintf(path, n, "/v2/%s/blobs/uploads/?mount=%s&from=%s", cp->dst_repo,
             ed, ef);
    reg_req req = {.method = "POST",
                   .url = path,
                   .repo = cp->dst_repo,
                   .actions = "pull,push",
                   .from_repo = from,
                   .max_response = MAX_RESPONSE_BODY};
    rc = reg__request(cp->dst, &req, &resp, cp->err);
    if (rc != REG_OK) {
        cp->failed = rc;
        goto cleanup;
    }
    if (resp.status == 201) {
        cp->committed = true;
        if (cp->opts->mounted != NULL)
            *cp->opts->mounted = true;
        goto cleanup;
    }
    if (resp.status == 202 && resp.location != NULL) {
        cp->session = reg__url(cp->dst, resp.location, cp->err);
        if (cp->session == NULL) {
            if (cp->err->code == 0)
                reg_error_set(cp->err, REG_ENOMEM, "out of memory");
            reg_error_prefix(cp->err, "%s", what);
            cp->failed = cp->err->code;
            rc = cp->failed;
        }
        goto cleanup;
    }
    if (resp.status == 429 || resp.status >= 500) {
        rc = reg_error_from_http(cp->err, resp.status, resp.body.data,
                                 resp.body.len, what);
        cp->err->retry_after = resp.retry_after;
        if (rc == REG_OK)
            rc = reg_error_set(cp->err, REG_ERETRY, "%s: HTTP %ld", what,
                               resp.status);
        cp->failed = rc;
        goto cleanup;
    }
    reg_error_clear(cp->err);
    cp->err->retry_after = -1;
    rc = open_session(cp);
cleanup:
    reg_resp_free(&resp);
    free(path);
    free(ed);
    free(ef);
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

/*
 * Asks the upload session what the target holds (GET on its URL: 204 with
 * "Range: 0-E" and the session's next Location). *held is E + 1, or -1
 * when the session is gone (404, or any other answer), its Range is
 * missing or ambiguous ("0-0" is both 0 and 1 byte for distribution), or
 * it claims more than was ever sent; *next is the URL to continue on.
 * Fails (and the copy with it) only when the target does not answer.
 */
static int query_session(copy *cp, int64_t max_held, int64_t *held, char **next)
{
    char what[160];
    reg_resp resp;
    int64_t end = -1;
    int rc;

    *held = -1;
    *next = NULL;
    memset(&resp, 0, sizeof(resp));
    snprintf(what, sizeof(what), "ask upload session of blob %s on %s/%s",
             cp->d->digest, cp->dst->host, cp->dst_repo);
    reg_req req = {.method = "GET",
                   .url = cp->session,
                   .repo = cp->dst_repo,
                   .actions = "pull,push",
                   .max_response = MAX_RESPONSE_BODY};
    rc = reg__request(cp->dst, &req, &resp, cp->err);
    if (rc != REG_OK) {
        reg_error_prefix(cp->err, "%s", what);
        cp->failed = rc;
        goto cleanup;
    }
    if (resp.status != 204 && resp.status != 200 && resp.status != 202)
        goto cleanup; /* gone: 404 BLOB_UPLOAD_UNKNOWN, 400 ... INVALID */
    if (reg__upload_range_parse(resp.range, &end) != 0 || end < 1 ||
        end + 1 > max_held)
        goto cleanup;
    if (resp.location != NULL) {
        reg_error e;
        reg_error_clear(&e);
        *next = reg__url(cp->dst, resp.location, &e);
    } else {
        *next = strdup(cp->session);
    }
    if (*next != NULL)
        *held = end + 1;
cleanup:
    reg_resp_free(&resp);
    return rc;
}

/* The hash has caught up with what the target holds (all of it verified
 * when the target holds the whole blob: only the PUT is left then). */
static bool caught_up(const copy *cp)
{
    if (cp->verified || cp->src_x.done)
        return true;
    return cp->sent < cp->total && cp->got >= cp->sent;
}

/* Starts the source again from the first byte still needed (by the hash
 * or the ring), from the registry (a redirect target may have expired),
 * with a Range. */
static int resume_source(copy *cp)
{
    int64_t ring_end = cp->sent + (int64_t)cp->rb.len;
    int64_t start = cp->got < ring_end ? cp->got : ring_end;
    int rc;

    cp->resuming = true;
    xfer_reset(cp, &cp->src_x);
    if (start >= cp->total) {
        /* every byte arrived, only the end of the answer broke */
        verify_source(cp);
        rc = cp->failed;
    } else {
        cp->src_start = start;
        rc = open_source(cp, source_path(cp), false);
    }
    cp->resuming = false;
    return rc != REG_OK ? rc : cp->failed;
}

/*
 * The upload request broke: asks the session what the target holds and
 * continues from there (PATCH chunks or the PUT of the rest); a session
 * that is gone is replaced by a new one, from byte 0. Bytes handed to the
 * broken request past what the target holds are read from the source
 * again, from the hash checkpoint at or below that offset, so every byte
 * is still verified before the last one is sent.
 */
static int resume_upload(copy *cp)
{
    int64_t held = -1;
    char *next = NULL;
    int rc;

    cp->resuming = true;
    xfer_reset(cp, &cp->up_x);
    rc = query_session(cp, cp->sent, &held, &next);
    if (rc != REG_OK)
        goto cleanup;
    if (held < 0) {
        report_session(cp, NULL);
        cancel_session(cp);
        free(cp->session);
        cp->session = NULL;
        rc = open_session(cp);
        if (rc != REG_OK)
            goto cleanup;
        held = 0;
    } else {
        free(cp->session);
        cp->session = next;
        next = NULL;
    }
    if (held < cp->sent) {
        if (cp->opts != NULL && cp->opts->progress != NULL)
            cp->opts->progress(cp->opts->payload, held - cp->sent);
        cp->rb.head = cp->rb.len = 0;
        cp->sent = held;
        rc = sha_rewind(cp, held);
        if (rc != REG_OK)
            goto cleanup;
        xfer_reset(cp, &cp->src_x);
        if (cp->got < cp->total) {
            cp->src_start = cp->got;
            rc = open_source(cp, source_path(cp), false);
            if (rc == REG_OK)
                rc = run_until(cp, caught_up);
            if (rc != REG_OK)
                goto cleanup;
        }
    }
    rc = start_next_upload(cp);
cleanup:
    free(next);
    cp->resuming = false;
    return rc != REG_OK ? rc : cp->failed;
}

/*
 * Continues the session recorded by an earlier run (opts->resume_url)
 * when the target still holds it: cp->sent becomes what it holds, and the
 * source, read from byte 0, rebuilds the hash up to there before the
 * upload goes on. Else drops it and opens a new session.
 */
static int continue_recorded(copy *cp)
{
    int64_t held = -1;
    char *next = NULL;
    reg_error e;
    int rc = REG_OK;

    reg_error_clear(&e);
    cp->session = reg__url(cp->dst, cp->opts->resume_url, &e);
    if (cp->session != NULL && session_url_ok(cp, cp->session)) {
        rc = query_session(cp, cp->total, &held, &next);
        if (rc != REG_OK)
            goto cleanup;
    } else {
        free(cp->session); /* never sent anything: not ours to cancel */
        cp->session = NULL;
    }
    if (held > 0) {
        free(cp->session);
        cp->session = next;
        next = NULL;
        cp->sent = held;
        if (cp->opts->progress != NULL)
            cp->opts->progress(cp->opts->payload, held);
        goto cleanup;
    }
    report_session(cp, NULL);
    if (cp->session != NULL)
        cancel_session(cp);
    free(cp->session);
    cp->session = NULL;
    rc = open_session(cp);
cleanup:
    free(next);
    return rc != REG_OK ? rc : cp->failed;
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
    if (opts != NULL && opts->on_session != NULL && cp.total > 0) {
        /* resumable across restarts: confirmed PATCHes, each reported */
        cp.chunked = true;
        cp.chunk_size = opts->session_chunk > 0 ? opts->session_chunk
                                                : (int64_t)16 * 1024 * 1024;
    }

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
    /* The shared pool's size comes from this multi handle: without it, a
     * copy's two connections going back closed two idle ones (about one
     * new connection per two requests under 8 workers). */
    curl_multi_setopt(cp.multi, CURLMOPT_MAXCONNECTS,
                      (long)REG_POOL_CONNECTIONS);
    if (EVP_DigestInit_ex(cp.sha, EVP_sha256(), NULL) != 1) {
        fail(&cp, REG_ERR, "SHA-256 init failed");
        goto cleanup;
    }

    /* A mount first (it is the upload start): when it is honoured, the
     * source is never read. */
    if (opts != NULL && opts->mount_from != NULL) {
        if (open_mount_session(&cp, opts->mount_from) != REG_OK || cp.committed)
            goto cleanup;
    }
    /* The source GET and the upload session open concurrently: the GET
     * is sent, the POST made while its answer travels, then the GET's
     * head is read (a missing blob cancels the fresh session). */
    char *path = source_path(&cp);
    if (path == NULL || start_source(&cp, path) != REG_OK) {
        free(path);
        goto cleanup;
    }
    if (run_until(&cp, source_sent) != REG_OK) {
        free(path);
        goto cleanup;
    }
    if (cp.failed != 0 ||
        (cp.session != NULL ? REG_OK
         : opts != NULL && opts->resume_url != NULL && cp.total > 0
             ? continue_recorded(&cp)
             : open_session(&cp)) != REG_OK) {
        free(path);
        goto cleanup;
    }
    if (open_source(&cp, path, true) != REG_OK)
        goto cleanup;
    /* A continued session: the hash catches up before the upload goes on
     * (a stalled upload request would hit the low-speed timeout). */
    if (cp.sent > 0 && run_until(&cp, caught_up) != REG_OK)
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
    if (!cp.committed && cp.session != NULL) {
        report_session(&cp, NULL);
        cancel_session(&cp);
    }
    rc = cp.failed;
    if (rc == REG_OK && !cp.committed)
        rc = reg_error_set(cp.err, REG_ERR, "blob %s: copy did not complete",
                           d->digest);
    if (rc == REG_OK)
        reg_error_clear(err);
    free(cp.session);
    free(cp.rb.data);
    EVP_MD_CTX_free(cp.sha);
    for (int i = 0; i < NCKPT; i++)
        EVP_MD_CTX_free(cp.ck[i].ctx);
    if (cp.multi != NULL)
        curl_multi_cleanup(cp.multi);
    return rc;
}
