/* text.c - escaping of control bytes for anything shown to a person. */
#include "text.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s that encodes a printable (not
 * C1) code point, or 0 when the byte at s must be escaped. */
static size_t utf8_ok(const unsigned char *s)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t cp, min;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
        min = 0x10000;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) /* also stops at the NUL */
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    if (cp <= 0x9f) /* C1 controls: CSI, OSC, ... in 8-bit form */
        return 0;
    return n;
}

size_t it_escape(char *out, size_t cap, const char *in)
{
    const unsigned char *s = (const unsigned char *)(in ? in : "");
    size_t need = 0, used = 0;
    bool full = false;
    while (*s != '\0') {
        char esc[8];
        const char *piece;
        size_t len, adv;
        unsigned char c = *s;
        if (c >= 0x20 && c < 0x7f) {
            piece = (const char *)s;
            len = adv = 1;
        } else if (c == '\t') {
            piece = "\t";
            len = adv = 1;
        } else if (c == '\n') {
            piece = "\\n";
            len = 2;
            adv = 1;
        } else if (c == '\r') {
            piece = "\\r";
            len = 2;
            adv = 1;
        } else if (c >= 0x80 && (adv = utf8_ok(s)) > 0) {
            piece = (const char *)s;
            len = adv;
        } else {
            snprintf(esc, sizeof esc, "\\x%02x", c);
            piece = esc;
            len = 4;
            adv = 1;
        }
        if (!full && out != NULL && used + len < cap) {
            memcpy(out + used, piece, len);
            used += len;
        } else {
            full = true;
        }
        need += len;
        s += adv;
    }
    if (out != NULL && cap > 0)
        out[used] = '\0';
    return need;
}

char *it_escape_dup(const char *in)
{
    size_t n = it_escape(NULL, 0, in);
    char *out = malloc(n + 1);
    if (out != NULL)
        it_escape(out, n + 1, in);
    return out;
}

char *it_strdup0(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

char *it_join2(const char *a, char sep, const char *b)
{
    if (a == NULL)
        a = "";
    if (b == NULL)
        b = "";
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 2);
    if (s == NULL)
        return NULL;
    memcpy(s, a, la);
    s[la] = sep;
    memcpy(s + la + 1, b, lb + 1);
    return s;
}
