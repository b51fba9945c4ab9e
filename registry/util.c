/*
 * util.c - small helpers shared by the registry library: a growable byte
 * buffer, URL escaping, copying part of a string, the one builder of request
 * headers and the check of URLs that come from the network.
 */
#include "internal.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/*
 * Appends n bytes and keeps the data NUL-terminated. After a successful call
 * b->data is non-NULL even when n is 0. Returns REG_EINVAL when b->max is set
 * and the result would exceed it, REG_ENOMEM on allocation failure; on
 * failure the buffer is unchanged.
 */
int reg_buf_append(reg_buf *b, const void *data, size_t n)
{
    if (b == NULL || (data == NULL && n > 0))
        return REG_EINVAL;
    if (n > SIZE_MAX - 1 - b->len)
        return REG_ENOMEM;
    if (b->max > 0 && b->len + n > b->max)
        return REG_EINVAL;
    size_t need = b->len + n + 1;
    if (b->data == NULL || need > b->cap) {
        size_t cap = b->cap > 0 ? b->cap : 256;
        while (cap < need) {
            if (cap > SIZE_MAX / 2) {
                cap = need;
                break;
            }
            cap *= 2;
        }
        char *p = realloc(b->data, cap);
        if (p == NULL)
            return REG_ENOMEM;
        b->data = p;
        b->cap = cap;
    }
    if (n > 0)
        memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
    return REG_OK;
}

/* Frees the bytes and resets the buffer to empty; keeps b->max. */
void reg_buf_free(reg_buf *b)
{
    if (b == NULL)
        return;
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

char *reg__dup_n(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* Percent-encodes everything but RFC 3986 unreserved characters, so the
 * result is safe both as a query value and as one path segment. */
char *reg__escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    if (s == NULL)
        return NULL;
    size_t n = strlen(s);
    if (n > (SIZE_MAX - 1) / 3)
        return NULL;
    char *out = malloc(n * 3 + 1);
    if (out == NULL)
        return NULL;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
            c == '~') {
            out[j++] = (char)c;
        } else {
            out[j++] = '%';
            out[j++] = hex[c >> 4];
            out[j++] = hex[c & 15];
        }
    }
    out[j] = '\0';
    return out;
}

/* True for the bytes no header or URL may carry: C0 controls and DEL. */
static bool is_ctl(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

int reg__header_add(struct curl_slist **l, const char *name, const char *value,
                    reg_error *err)
{
    if (l == NULL || name == NULL || name[0] == '\0' || value == NULL)
        return reg_error_set(err, REG_EINVAL, "header: no name or value");
    /* The name is an RFC 9110 token: no separators, spaces or controls. */
    for (const unsigned char *p = (const unsigned char *)name; *p != '\0';
         p++) {
        if (is_ctl(*p))
            return reg_error_set(err, REG_EINVAL,
                                 "header name holds a control character");
        if (*p == ' ' || *p == ':' || *p >= 0x80)
            return reg_error_set(err, REG_EINVAL, "invalid header name");
    }
    /* The value is never quoted in the message: it may be a secret. */
    for (const unsigned char *p = (const unsigned char *)value; *p != '\0';
         p++) {
        if (is_ctl(*p))
            return reg_error_set(err, REG_EINVAL,
                                 "%.64s header: the value holds a control "
                                 "character",
                                 name);
    }
    size_t nl = strlen(name), vl = strlen(value);
    char *line = malloc(nl + vl + 3);
    if (line == NULL)
        return reg_error_set(err, REG_ENOMEM, "out of memory");
    memcpy(line, name, nl);
    line[nl] = ':';
    size_t o = nl + 1;
    if (vl > 0) {
        line[o++] = ' ';
        memcpy(line + o, value, vl);
        o += vl;
    }
    line[o] = '\0';
    struct curl_slist *tmp = curl_slist_append(*l, line);
    /* The line may hold a credential. */
    memset(line, 0, o);
    free(line);
    if (tmp == NULL)
        return reg_error_set(err, REG_ENOMEM, "out of memory");
    *l = tmp;
    return REG_OK;
}

size_t reg__scheme_len(const char *s)
{
    size_t n = 0;
    if (s == NULL || !isalpha((unsigned char)s[0]))
        return 0;
    while (isalnum((unsigned char)s[n]) || s[n] == '+' || s[n] == '-' ||
           s[n] == '.')
        n++;
    return s[n] == ':' ? n : 0;
}

int reg__url_check(char **out, const char *url, const char *kind,
                   reg_error *err)
{
    CURLU *u = NULL;
    char *norm = NULL;
    int rc = REG_OK;

    if (out != NULL)
        *out = NULL;
    if (url == NULL)
        return reg_error_set(err, REG_EINVAL, "%s: no URL", kind);
    for (const unsigned char *p = (const unsigned char *)url; *p != '\0'; p++) {
        if (is_ctl(*p) || *p == ' ')
            return reg_error_set(err, REG_EINVAL,
                                 "%s URL holds a control character or space",
                                 kind);
    }
    size_t sl = reg__scheme_len(url);
    if (sl == 0)
        return reg_error_set(err, REG_EINVAL, "%s: not an absolute URL", kind);
    if (!((sl == 4 && strncasecmp(url, "http", 4) == 0) ||
          (sl == 5 && strncasecmp(url, "https", 5) == 0)))
        return reg_error_set(err, REG_EINVAL,
                             "unsupported %s: scheme \"%.*s\" is not http or "
                             "https",
                             kind, (int)(sl < 32 ? sl : 32), url);
    u = curl_url();
    if (u == NULL)
        return reg_error_set(err, REG_ENOMEM, "out of memory");
    CURLUcode uc = curl_url_set(u, CURLUPART_URL, url, 0);
    if (uc == CURLUE_OK)
        uc = curl_url_get(u, CURLUPART_URL, &norm, 0);
    if (uc == CURLUE_OUT_OF_MEMORY) {
        rc = reg_error_set(err, REG_ENOMEM, "out of memory");
        goto cleanup;
    }
    if (uc != CURLUE_OK) {
        rc = reg_error_set(err, REG_EINVAL, "%s: not a valid URL (%s)", kind,
                           curl_url_strerror(uc));
        goto cleanup;
    }
    if (out != NULL) {
        *out = strdup(norm);
        if (*out == NULL)
            rc = reg_error_set(err, REG_ENOMEM, "out of memory");
    }
cleanup:
    curl_free(norm);
    curl_url_cleanup(u);
    return rc;
}

int reg__next_page(char **out, const char *url, const char *link,
                   reg_error *err)
{
    char *next = NULL;
    *out = NULL;
    if (link == NULL)
        return REG_OK;
    if (reg_link_next(&next, link) != REG_OK)
        return reg_error_set(err, REG_ERR, "bad Link header");
    if (next == NULL)
        return REG_OK;
    /* Resolve against the page just read; from the network: no control
     * bytes or spaces, http(s) only. */
    char *abs = reg_url_resolve(url, next);
    free(next);
    if (abs == NULL)
        return reg_error_set(err, REG_ENOMEM, "out of memory");
    int rc = reg__url_check(out, abs, "next-page Link", err);
    free(abs);
    return rc;
}
