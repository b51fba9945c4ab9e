/*
 * reference.c - image references, following the Docker reference grammar
 * (github.com/distribution/reference):
 *
 *   reference  := name [ ":" tag ] [ "@" digest ]
 *   name       := [domain '/'] path
 *   domain     := host [ ":" port ]      host: DNS name, IPv4, [IPv6]
 *   path       := component [ '/' component ]*
 *   component  := [a-z0-9]+ ( ( [._] | "__" | "-"+ ) [a-z0-9]+ )*
 *   tag        := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
 *   digest     := "sha256:" 64 lowercase hex
 *
 * The first component is a domain when it contains '.' or ':' or is
 * "localhost" (as in docker); otherwise the name is on Docker Hub. Only
 * sha256 digests are accepted: every buffer in the library is sized for
 * them (REG_DIGEST_LEN), and other algorithms get a clear message.
 */
#include "internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NAME_TOTAL_MAX 255
#define TAG_MAX        128
#define HUB_HOST       "registry-1.docker.io"

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_word(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_';
}

static bool is_hex_lower(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

const char *reg_canonical_host(const char *host)
{
    if (host == NULL)
        return NULL;
    if (strcasecmp(host, "docker.io") == 0 ||
        strcasecmp(host, "index.docker.io") == 0 ||
        strcasecmp(host, "registry.hub.docker.com") == 0 ||
        strcasecmp(host, HUB_HOST) == 0)
        return HUB_HOST;
    return host;
}

bool reg_valid_tag(const char *tag)
{
    if (tag == NULL || !is_word(tag[0]))
        return false;
    size_t n = 1;
    for (; tag[n] != '\0'; n++) {
        if (!is_word(tag[n]) && tag[n] != '.' && tag[n] != '-')
            return false;
        if (n >= TAG_MAX)
            return false;
    }
    return true;
}

bool reg_valid_digest(const char *digest)
{
    if (digest == NULL || strncmp(digest, "sha256:", 7) != 0)
        return false;
    const char *hex = digest + 7;
    for (size_t i = 0; i < 64; i++) {
        if (!is_hex_lower(hex[i]))
            return false;
    }
    return hex[64] == '\0';
}

/*
 * Checks one path component [s, s+n). Returns NULL when valid, else a static
 * description of the problem.
 */
static const char *component_problem(const char *s, size_t n)
{
    if (n == 0)
        return "empty path component";
    for (size_t i = 0; i < n; i++) {
        if (s[i] >= 'A' && s[i] <= 'Z')
            return "repository name must be lowercase";
        if (!is_lower_alnum(s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
            return "invalid character in repository name (allowed: a-z 0-9 "
                   "and the separators . _ __ -)";
    }
    if (!is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
        return "a path component must start and end with a lowercase "
               "letter or digit";
    size_t i = 0;
    while (i < n) {
        if (is_lower_alnum(s[i])) {
            i++;
            continue;
        }
        /* A separator run: ".", "_", "__" or one or more "-". */
        size_t j = i;
        while (j < n && !is_lower_alnum(s[j]))
            j++;
        size_t len = j - i;
        bool ok = false;
        if (len == 1)
            ok = true;
        else if (len == 2 && s[i] == '_' && s[i + 1] == '_')
            ok = true;
        else if (strspn(s + i, "-") >= len)
            ok = true;
        if (!ok)
            return "invalid separator in repository name (allowed between "
                   "letters/digits: '.', '_', '__', or dashes)";
        i = j;
    }
    return NULL;
}

/* Validates a whole path; returns NULL or a description of the problem. */
static const char *path_problem(const char *path, size_t n)
{
    if (n == 0)
        return "empty repository name";
    if (n > NAME_TOTAL_MAX)
        return "repository name too long (more than 255 characters)";
    const char *p = path;
    const char *end = path + n;
    for (;;) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        const char *cend = slash != NULL ? slash : end;
        const char *why = component_problem(p, (size_t)(cend - p));
        if (why != NULL) {
            if (cend == p && slash == NULL && p != path)
                return "trailing '/' in repository name";
            return why;
        }
        if (slash == NULL)
            return NULL;
        p = slash + 1;
    }
}

bool reg_valid_path(const char *path)
{
    return path != NULL && path_problem(path, strlen(path)) == NULL;
}

/* host[:port] where host is a DNS name / IPv4, or [IPv6]. */
static const char *domain_problem(const char *d, size_t n)
{
    size_t i = 0;
    if (n == 0)
        return "empty registry host";
    if (d[0] == '[') {
        const char *close = memchr(d, ']', n);
        if (close == NULL)
            return "unterminated '[' in IPv6 registry host";
        size_t hn = (size_t)(close - d) - 1;
        if (hn < 2)
            return "empty IPv6 registry host";
        for (size_t k = 1; k <= hn; k++) {
            if (!isxdigit((unsigned char)d[k]) && d[k] != ':' && d[k] != '.')
                return "invalid IPv6 registry host";
        }
        i = hn + 2;
    } else {
        /* Labels of [A-Za-z0-9-], not starting or ending with '-'. */
        size_t label = 0;
        for (; i < n && d[i] != ':'; i++) {
            char c = d[i];
            if (c == '.') {
                if (label == 0 || d[i - 1] == '-')
                    return "invalid registry host (empty label or label "
                           "ending with '-')";
                label = 0;
                continue;
            }
            if (!isalnum((unsigned char)c) && c != '-')
                return "invalid character in registry host";
            if (label == 0 && c == '-')
                return "registry host label must not start with '-'";
            label++;
        }
        if (label == 0 || d[i - 1] == '-')
            return "invalid registry host (empty label or label ending "
                   "with '-')";
    }
    if (i == n)
        return NULL;
    if (d[i] != ':')
        return "unexpected characters after IPv6 registry host";
    i++;
    if (i == n)
        return "empty port after ':' in registry host";
    size_t digits = 0;
    for (; i < n; i++, digits++) {
        if (d[i] < '0' || d[i] > '9')
            return "port must be a number";
    }
    if (digits > 5)
        return "port out of range";
    return NULL;
}

void reg_ref_free(reg_ref *r)
{
    if (r == NULL)
        return;
    free(r->domain);
    free(r->path);
    free(r->tag);
    free(r->digest);
    free(r);
}

/* Explains why a digest is rejected (reg_valid_digest said no). */
static const char *digest_problem(const char *d)
{
    const char *colon = strchr(d, ':');
    if (colon == NULL || colon == d)
        return "expected sha256:<64 lowercase hex>";
    if ((size_t)(colon - d) != 6 || strncmp(d, "sha256", 6) != 0)
        return "unsupported digest algorithm (only sha256 is supported); "
               "expected sha256:<64 lowercase hex>";
    return "expected sha256:<64 lowercase hex>";
}

int reg_ref_parse(reg_ref **out, const char *s, reg_error *err)
{
    int rc = REG_EINVAL;
    reg_ref *r = NULL;
    const char *why = NULL;

    if (out != NULL)
        *out = NULL;
    if (out == NULL || s == NULL)
        return reg_error_set(err, REG_EINVAL, "invalid reference: NULL");
    if (s[0] == '\0')
        return reg_error_set(err, REG_EINVAL,
                             "invalid reference '': empty reference");
    size_t total = strlen(s);
    if (total > 1024)
        return reg_error_set(err, REG_EINVAL,
                             "invalid reference: too long (%zu characters)",
                             total);

    r = calloc(1, sizeof(*r));
    if (r == NULL)
        return reg_error_set(err, REG_ENOMEM, "out of memory");

    /* Digest: everything after the first '@'. A bad digest's message does
     * not echo the text before '@': it may be "user:password@host". */
    size_t name_len = total;
    const char *at = strchr(s, '@');
    if (at != NULL) {
        name_len = (size_t)(at - s);
        const char *d = at + 1;
        if (!reg_valid_digest(d)) {
            rc = reg_error_set(err, REG_EINVAL,
                               "invalid reference: invalid digest '%.80s' "
                               "after '@': %s",
                               d, digest_problem(d));
            goto cleanup;
        }
        r->digest = reg__dup_n(d, strlen(d));
        if (r->digest == NULL)
            goto oom;
    }

    /* Tag: after the last ':' when it follows the last '/'. */
    const char *last_slash = NULL;
    const char *last_colon = NULL;
    for (size_t i = 0; i < name_len; i++) {
        if (s[i] == '/')
            last_slash = s + i;
        else if (s[i] == ':')
            last_colon = s + i;
    }
    if (last_colon != NULL && (last_slash == NULL || last_colon > last_slash)) {
        const char *t = last_colon + 1;
        size_t tn = (size_t)(s + name_len - t);
        r->tag = reg__dup_n(t, tn);
        if (r->tag == NULL)
            goto oom;
        if (!reg_valid_tag(r->tag)) {
            rc = reg_error_set(
                err, REG_EINVAL,
                "invalid tag '%.140s' in reference '%.300s': expected 1-128 "
                "characters of [A-Za-z0-9_.-], not starting with '.' or '-'",
                r->tag, s);
            goto cleanup;
        }
        name_len = (size_t)(last_colon - s);
    }
    if (name_len == 0) {
        rc = reg_error_set(err, REG_EINVAL,
                           "invalid reference '%.300s': empty repository name",
                           s);
        goto cleanup;
    }
    /* Domain: the first component, when it looks like a host. */
    const char *path = s;
    size_t path_len = name_len;
    const char *slash = memchr(s, '/', name_len);
    if (slash != NULL) {
        size_t dn = (size_t)(slash - s);
        bool is_domain = memchr(s, '.', dn) != NULL ||
                         memchr(s, ':', dn) != NULL ||
                         (dn == 9 && strncmp(s, "localhost", 9) == 0) ||
                         (dn > 0 && s[0] == '[');
        if (is_domain) {
            why = domain_problem(s, dn);
            if (why != NULL) {
                rc = reg_error_set(err, REG_EINVAL,
                                   "invalid reference '%.300s': %s", s, why);
                goto cleanup;
            }
            r->domain = reg__dup_n(s, dn);
            if (r->domain == NULL)
                goto oom;
            path = slash + 1;
            path_len = name_len - dn - 1;
        }
    } else if (memchr(s, '[', name_len) != NULL) {
        rc = reg_error_set(err, REG_EINVAL,
                           "invalid reference '%.300s': registry host without "
                           "repository path",
                           s);
        goto cleanup;
    }

    why = path_problem(path, path_len);
    if (why != NULL) {
        rc = reg_error_set(err, REG_EINVAL, "invalid reference '%.300s': %s", s,
                           why);
        goto cleanup;
    }
    /* docker refuses a bare 64-hex name: it reads like an image ID. */
    if (r->domain == NULL && path_len == 64 && r->tag == NULL &&
        strspn(path, "0123456789abcdef") == 64) {
        rc = reg_error_set(err, REG_EINVAL,
                           "invalid reference '%.300s': a 64-character hex "
                           "string is an image ID, not a repository name",
                           s);
        goto cleanup;
    }

    /* Docker Hub normalisation. */
    const char *host =
        r->domain != NULL ? reg_canonical_host(r->domain) : HUB_HOST;
    bool is_hub = r->domain == NULL || host != r->domain;
    if (is_hub) {
        free(r->domain);
        r->domain = reg__dup_n(HUB_HOST, strlen(HUB_HOST));
        if (r->domain == NULL)
            goto oom;
        if (memchr(path, '/', path_len) == NULL) {
            size_t n = path_len + 8;
            r->path = malloc(n + 1);
            if (r->path == NULL)
                goto oom;
            memcpy(r->path, "library/", 8);
            memcpy(r->path + 8, path, path_len);
            r->path[n] = '\0';
        }
    }
    if (r->path == NULL) {
        r->path = reg__dup_n(path, path_len);
        if (r->path == NULL)
            goto oom;
    }
    /* docker limits the normalised name, counting Docker Hub's domain as
     * "docker.io"; measuring after normalisation keeps reg_ref_format's
     * output parseable. */
    size_t full = strlen(r->path) + 1 +
                  (is_hub ? strlen("docker.io") : strlen(r->domain));
    if (full > NAME_TOTAL_MAX) {
        rc = reg_error_set(err, REG_EINVAL,
                           "invalid reference '%.300s': repository name too "
                           "long (%zu > %d characters)",
                           s, full, NAME_TOTAL_MAX);
        goto cleanup;
    }
    *out = r;
    r = NULL;
    rc = REG_OK;
    goto cleanup;

oom:
    rc = reg_error_set(err, REG_ENOMEM, "out of memory");
cleanup:
    reg_ref_free(r);
    return rc;
}

char *reg_ref_format(const reg_ref *r)
{
    if (r == NULL || r->path == NULL)
        return NULL;
    const char *d = r->domain != NULL ? r->domain : "";
    size_t n = strlen(d) + 1 + strlen(r->path) + 1 +
               (r->tag != NULL ? strlen(r->tag) : 0) + 1 +
               (r->digest != NULL ? strlen(r->digest) : 0) + 1;
    char *s = malloc(n);
    if (s == NULL)
        return NULL;
    snprintf(s, n, "%s%s%s%s%s%s%s", d, d[0] != '\0' ? "/" : "", r->path,
             r->tag != NULL ? ":" : "", r->tag != NULL ? r->tag : "",
             r->digest != NULL ? "@" : "", r->digest != NULL ? r->digest : "");
    return s;
}

char *reg_ref_repo(const reg_ref *r)
{
    if (r == NULL || r->path == NULL)
        return NULL;
    const char *d = r->domain != NULL ? r->domain : "";
    size_t n = strlen(d) + 1 + strlen(r->path) + 1;
    char *s = malloc(n);
    if (s == NULL)
        return NULL;
    snprintf(s, n, "%s%s%s", d, d[0] != '\0' ? "/" : "", r->path);
    return s;
}
