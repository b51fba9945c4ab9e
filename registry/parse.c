/*
 * parse.c - HTTP header parsers the client needs: WWW-Authenticate
 * challenges (RFC 7235), Link headers (RFC 8288, for pagination),
 * relative URL resolution (RFC 3986, the parts registries use) and
 * Retry-After (RFC 9110).
 */
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static const char *skip_ws(const char *p)
{
    while (is_ws(*p))
        p++;
    return p;
}

/* RFC 7230 tchar. */
static bool is_tchar(char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        (c >= '0' && c <= '9'))
        return true;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static size_t token_len(const char *p)
{
    size_t n = 0;
    while (is_tchar(p[n]))
        n++;
    return n;
}

/*
 * Reads a parameter value at *pp: a quoted string (backslash escapes the
 * next character) or an unquoted run up to a delimiter in `stop` or
 * whitespace. Sets *val (malloc'd). Returns REG_EINVAL when a quoted string
 * is unterminated or the value is empty, REG_ENOMEM.
 */
static int read_value(const char **pp, const char *stop, char **val)
{
    const char *p = *pp;
    *val = NULL;
    if (*p == '"') {
        p++;
        size_t n = 0;
        const char *q = p;
        while (*q != '"') {
            if (*q == '\0')
                return REG_EINVAL;
            if (*q == '\\') {
                q++;
                if (*q == '\0')
                    return REG_EINVAL;
            }
            q++;
            n++;
        }
        char *s = malloc(n + 1);
        if (s == NULL)
            return REG_ENOMEM;
        size_t j = 0;
        while (*p != '"') {
            if (*p == '\\')
                p++;
            s[j++] = *p++;
        }
        s[j] = '\0';
        *pp = p + 1;
        *val = s;
        return REG_OK;
    }
    size_t n = 0;
    while (p[n] != '\0' && !is_ws(p[n]) && strchr(stop, p[n]) == NULL &&
           p[n] != '"')
        n++;
    if (n == 0)
        return REG_EINVAL;
    *val = reg__dup_n(p, n);
    if (*val == NULL)
        return REG_ENOMEM;
    *pp = p + n;
    return REG_OK;
}

void reg_challenge_free(reg_challenge *c)
{
    if (c == NULL)
        return;
    free(c->scheme);
    free(c->realm);
    free(c->service);
    free(c->scope);
    free(c->error);
    free(c);
}

/* The slot for a known parameter name, or NULL for parameters we ignore. */
static char **challenge_slot(reg_challenge *c, const char *key, size_t n)
{
    static const struct {
        const char *name;
        size_t off;
    } keys[] = {
        {"realm", offsetof(reg_challenge, realm)},
        {"service", offsetof(reg_challenge, service)},
        {"scope", offsetof(reg_challenge, scope)},
        {"error", offsetof(reg_challenge, error)},
    };
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (strlen(keys[i].name) == n && strncasecmp(keys[i].name, key, n) == 0)
            return (char **)((char *)c + keys[i].off);
    }
    return NULL;
}

/*
 * Parses one challenge starting at *pp (at its scheme). Leaves *pp at the
 * start of the next challenge's scheme or at the end.
 */
static int parse_one_challenge(reg_challenge **out, const char **pp,
                               reg_error *err)
{
    const char *p = *pp;
    int rc = REG_OK;
    size_t n = token_len(p);
    reg_challenge *c = NULL;
    char *val = NULL;

    if (n == 0)
        return reg_error_set(err, REG_EINVAL,
                             "invalid WWW-Authenticate header: expected an "
                             "auth scheme at '%.40s'",
                             p);
    c = calloc(1, sizeof(*c));
    if (c == NULL || (c->scheme = reg__dup_n(p, n)) == NULL) {
        rc = reg_error_set(err, REG_ENOMEM, "out of memory");
        goto cleanup;
    }
    p += n;
    bool first = true;
    for (;;) {
        p = skip_ws(p);
        if (*p == ',') {
            /* Either the next parameter or the next challenge. */
            while (*p == ',' || is_ws(*p))
                p++;
            const char *q = p + token_len(p);
            q = skip_ws(q);
            if (*p == '\0' || q == p || *q != '=')
                break;
        }
        if (*p == '\0')
            break;
        n = token_len(p);
        if (n == 0) {
            rc = reg_error_set(err, REG_EINVAL,
                               "invalid WWW-Authenticate header: unexpected "
                               "'%c' in parameters",
                               *p);
            goto cleanup;
        }
        const char *key = p;
        p = skip_ws(p + n);
        if (*p != '=') {
            if (!first) {
                rc = reg_error_set(err, REG_EINVAL,
                                   "invalid WWW-Authenticate header: expected "
                                   "'=' after parameter '%.*s'",
                                   (int)(n > 40 ? 40 : n), key);
                goto cleanup;
            }
            /* token68 credentials form ("Basic abc=="): skip it. */
            while (*p == '=')
                p++;
            first = false;
            continue;
        }
        p = skip_ws(p + 1);
        rc = read_value(&p, ",", &val);
        if (rc != REG_OK) {
            if (rc == REG_ENOMEM)
                rc = reg_error_set(err, REG_ENOMEM, "out of memory");
            else
                rc = reg_error_set(err, REG_EINVAL,
                                   "invalid WWW-Authenticate header: bad "
                                   "value for parameter '%.*s'",
                                   (int)(n > 40 ? 40 : n), key);
            goto cleanup;
        }
        char **slot = challenge_slot(c, key, n);
        if (slot != NULL && *slot == NULL) {
            *slot = val;
            val = NULL;
        }
        free(val);
        val = NULL;
        first = false;
        p = skip_ws(p);
        if (*p != ',' && *p != '\0') {
            rc = reg_error_set(err, REG_EINVAL,
                               "invalid WWW-Authenticate header: expected ',' "
                               "after parameter '%.*s'",
                               (int)(n > 40 ? 40 : n), key);
            goto cleanup;
        }
    }
    *pp = p;
    *out = c;
    c = NULL;
cleanup:
    free(val);
    reg_challenge_free(c);
    return rc;
}

/* Picks the first Bearer challenge, else the first challenge. The whole
 * value must be well-formed. */
int reg_challenge_parse(reg_challenge **out, const char *header, reg_error *err)
{
    int rc = REG_OK;
    reg_challenge *best = NULL;

    if (out == NULL)
        return reg_error_set(err, REG_EINVAL, "invalid argument");
    *out = NULL;
    if (header == NULL)
        return reg_error_set(err, REG_EINVAL,
                             "invalid WWW-Authenticate header: absent");
    const char *p = header;
    for (;;) {
        while (*p == ',' || is_ws(*p))
            p++;
        if (*p == '\0')
            break;
        reg_challenge *c = NULL;
        rc = parse_one_challenge(&c, &p, err);
        if (rc != REG_OK)
            goto cleanup;
        if (best == NULL) {
            best = c;
        } else if (strcasecmp(best->scheme, "Bearer") != 0 &&
                   strcasecmp(c->scheme, "Bearer") == 0) {
            reg_challenge_free(best);
            best = c;
        } else {
            reg_challenge_free(c);
        }
    }
    if (best == NULL) {
        rc = reg_error_set(err, REG_EINVAL,
                           "invalid WWW-Authenticate header: empty");
        goto cleanup;
    }
    *out = best;
    best = NULL;
cleanup:
    reg_challenge_free(best);
    return rc;
}

/* True when a rel value (space-separated relation types) contains "next". */
static bool rel_has_next(const char *v)
{
    const char *p = v;
    for (;;) {
        p = skip_ws(p);
        if (*p == '\0')
            return false;
        size_t n = 0;
        while (p[n] != '\0' && !is_ws(p[n]))
            n++;
        if (n == 4 && strncasecmp(p, "next", 4) == 0)
            return true;
        p += n;
    }
}

int reg_link_next(char **out, const char *header)
{
    if (out == NULL)
        return REG_EINVAL;
    *out = NULL;
    if (header == NULL)
        return REG_OK;
    const char *p = header;
    for (;;) {
        while (*p == ',' || is_ws(*p))
            p++;
        if (*p == '\0')
            return REG_OK;
        if (*p != '<')
            return REG_EINVAL;
        const char *end = strchr(p + 1, '>');
        if (end == NULL || end == p + 1)
            return REG_EINVAL;
        const char *url = p + 1;
        size_t url_len = (size_t)(end - url);
        p = end + 1;
        bool next = false;
        for (;;) {
            p = skip_ws(p);
            if (*p == ',' || *p == '\0')
                break;
            if (*p != ';')
                return REG_EINVAL;
            p = skip_ws(p + 1);
            size_t n = token_len(p);
            if (n == 0) {
                if (*p == ';' || *p == ',' || *p == '\0')
                    continue; /* empty parameter */
                return REG_EINVAL;
            }
            const char *name = p;
            p = skip_ws(p + n);
            if (*p != '=')
                continue; /* parameter without a value */
            p = skip_ws(p + 1);
            char *val = NULL;
            int rc = read_value(&p, ";,", &val);
            if (rc != REG_OK)
                return rc;
            if (n == 3 && strncasecmp(name, "rel", 3) == 0 && rel_has_next(val))
                next = true;
            free(val);
        }
        if (next) {
            *out = reg__dup_n(url, url_len);
            return *out != NULL ? REG_OK : REG_ENOMEM;
        }
    }
}

/* Length of "scheme" when s starts with "scheme:", else 0. */
static size_t scheme_len(const char *s)
{
    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
        return 0;
    size_t n = 1;
    while ((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z') ||
           (s[n] >= '0' && s[n] <= '9') || s[n] == '+' || s[n] == '-' ||
           s[n] == '.')
        n++;
    return s[n] == ':' ? n : 0;
}

/* Removes "." and ".." segments of an absolute path [path, path+n). The
 * result is malloc'd and starts with '/'. */
static char *remove_dots(const char *path, size_t n)
{
    char *out = malloc(n + 2);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    size_t i = 0;
    while (i < n) {
        if (path[i] != '/') {
            i++;
            continue;
        }
        size_t j = i + 1;
        while (j < n && path[j] != '/')
            j++;
        size_t len = j - i - 1;
        const char *seg = path + i + 1;
        if (len == 1 && seg[0] == '.') {
            if (j == n)
                out[o++] = '/';
        } else if (len == 2 && seg[0] == '.' && seg[1] == '.') {
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--;
            if (j == n)
                out[o++] = '/';
        } else {
            out[o++] = '/';
            memcpy(out + o, seg, len);
            o += len;
        }
        i = j;
    }
    if (o == 0)
        out[o++] = '/';
    out[o] = '\0';
    return out;
}

static char *concat3(const char *a, size_t an, const char *b, size_t bn,
                     const char *c)
{
    size_t cn = strlen(c);
    char *s = malloc(an + bn + cn + 1);
    if (s == NULL)
        return NULL;
    memcpy(s, a, an);
    memcpy(s + an, b, bn);
    memcpy(s + an + bn, c, cn + 1);
    return s;
}

char *reg_url_resolve(const char *base, const char *ref)
{
    if (ref == NULL)
        return NULL;
    if (scheme_len(ref) > 0)
        return reg__dup_n(ref, strlen(ref));
    if (base == NULL)
        return NULL;
    size_t bs = scheme_len(base);
    if (bs == 0 || strncmp(base + bs, "://", 3) != 0)
        return NULL;
    /* base = scheme "://" authority path [?query] [#fragment] */
    const char *auth_end = base + bs + 3 + strcspn(base + bs + 3, "/?#");
    const char *path_end = auth_end + strcspn(auth_end, "?#");
    const char *frag = auth_end + strcspn(auth_end, "#");
    size_t origin_len = (size_t)(auth_end - base);

    if (ref[0] == '/' && ref[1] == '/')
        return concat3(base, bs + 1, "", 0, ref);
    if (ref[0] == '/')
        return concat3(base, origin_len, "", 0, ref);
    if (ref[0] == '?')
        return concat3(base, (size_t)(path_end - base), "", 0, ref);
    if (ref[0] == '#' || ref[0] == '\0')
        return concat3(base, (size_t)(frag - base), "", 0, ref);

    /* Relative path: merge with the base's directory, then drop dots. */
    size_t dir_len = 0;
    for (const char *q = auth_end; q < path_end; q++) {
        if (*q == '/')
            dir_len = (size_t)(q - auth_end) + 1;
    }
    size_t ref_path_len = strcspn(ref, "?#");
    char *merged = concat3(dir_len > 0 ? auth_end : "/",
                           dir_len > 0 ? dir_len : 1, ref, ref_path_len, "");
    if (merged == NULL)
        return NULL;
    char *clean = remove_dots(merged, strlen(merged));
    free(merged);
    if (clean == NULL)
        return NULL;
    char *res =
        concat3(base, origin_len, clean, strlen(clean), ref + ref_path_len);
    free(clean);
    return res;
}

/* ------------------------------------------------------------ Retry-After */

long reg__parse_retry_after(const char *v, time_t now)
{
    if (v == NULL || v[0] == '\0')
        return -1;
    if (v[0] >= '0' && v[0] <= '9') {
        /* delta-seconds = 1*DIGIT: nothing else, no sign, no blanks */
        if (v[strspn(v, "0123456789")] != '\0')
            return -1;
        char *end = NULL;
        errno = 0;
        long secs = strtol(v, &end, 10);
        return errno == 0 && *end == '\0' ? secs : -1;
    }
    /* Every HTTP date form starts with the day's name. */
    if (!((v[0] >= 'A' && v[0] <= 'Z') || (v[0] >= 'a' && v[0] <= 'z')))
        return -1;
    time_t when = curl_getdate(v, NULL);
    if (when == (time_t)-1)
        return -1;
    if (when <= now)
        return 0;
    return when - now > (time_t)LONG_MAX ? -1 : (long)(when - now);
}

/* ------------------------------------------------- Range / Content-Range */

#define MAX_BLOB_OFFSET ((int64_t)1 << 53)

/* Digits only (no sign, no blank), at most 2^53; *pp moves past them. */
static int parse_offset(const char **pp, int64_t *out)
{
    const char *p = *pp;
    int64_t v = 0;
    if (*p < '0' || *p > '9')
        return -1;
    while (*p >= '0' && *p <= '9') {
        v = v * 10 + (*p - '0');
        if (v > MAX_BLOB_OFFSET)
            return -1;
        p++;
    }
    *pp = p;
    *out = v;
    return 0;
}

int reg__content_range_parse(const char *v, int64_t *first, int64_t *last,
                             int64_t *total)
{
    int64_t a, b, t = -1;
    if (v == NULL || strncasecmp(v, "bytes ", 6) != 0)
        return -1;
    const char *p = v + 6;
    if (parse_offset(&p, &a) != 0 || *p++ != '-' || parse_offset(&p, &b) != 0 ||
        *p++ != '/')
        return -1;
    if (*p == '*' && p[1] == '\0')
        p++;
    else if (parse_offset(&p, &t) != 0)
        return -1;
    if (*p != '\0' || b < a || (t >= 0 && b >= t))
        return -1;
    *first = a;
    *last = b;
    *total = t;
    return 0;
}

int reg__upload_range_parse(const char *v, int64_t *end)
{
    int64_t a, b;
    if (v == NULL)
        return -1;
    if (strncasecmp(v, "bytes=", 6) == 0)
        v += 6;
    const char *p = v;
    if (parse_offset(&p, &a) != 0 || a != 0 || *p++ != '-' ||
        parse_offset(&p, &b) != 0 || *p != '\0')
        return -1;
    *end = b;
    return 0;
}

/* ------------------------------------------------- RateLimit (issue 15) */

long reg__parse_ratelimit(const char *v, size_t n, bool reset, time_t now)
{
    /* "100", "100, 100;w=60" (IETF draft: the first item counts) or, for
     * X-RateLimit-Reset, a Unix time: the leading digits, bounded */
    size_t i = 0;
    long long x = 0;
    if (v == NULL || n == 0 || v[0] < '0' || v[0] > '9')
        return -1;
    for (; i < n && v[i] >= '0' && v[i] <= '9'; i++) {
        x = x * 10 + (v[i] - '0');
        if (x > 100000000000LL) /* past any sane count or time */
            return -1;
    }
    if (i < n && v[i] != ',' && v[i] != ';' && v[i] != ' ')
        return -1;
    if (reset && x > 1000000000LL) /* a Unix time, not delta-seconds */
        x = x > (long long)now ? x - (long long)now : 0;
    if (x > 1000000000LL)
        return -1;
    return (long)x;
}
