/*
 * util.c - small helpers shared by the registry library: a growable byte
 * buffer, URL escaping and copying part of a string.
 */
#include "internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
