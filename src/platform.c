/*
 * platform.c - platform specs, their normalisation and matching, and the
 * filtering of an index by them (see platform.h).
 */
#include "platform.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

/* An index larger than this is not filtered (a real one is a few KiB). */
#define MAX_INDEX_BYTES ((size_t)4 << 20)

/* Operating systems and architectures a spec may name (Go's list, as
 * containerd has it), after normalisation: a typo is a configuration
 * error, not a filter that silently matches nothing. */
static const char *const known_os[] = {
    "aix",    "android", "darwin",  "dragonfly", "freebsd",
    "hurd",   "illumos", "ios",     "js",        "linux",
    "nacl",   "netbsd",  "openbsd", "plan9",     "solaris",
    "wasip1", "windows", "zos",     NULL};
static const char *const known_arch[] = {
    "386",         "amd64",   "amd64p32", "arm",      "armbe",
    "arm64",       "arm64be", "ppc64",    "ppc64le",  "loong64",
    "mips",        "mipsle",  "mips64",   "mips64le", "mips64p32",
    "mips64p32le", "ppc",     "riscv",    "riscv64",  "s390",
    "s390x",       "sparc",   "sparc64",  "wasm",     NULL};

static bool in_list(const char *const *list, const char *s)
{
    for (size_t i = 0; list[i]; i++)
        if (strcmp(list[i], s) == 0)
            return true;
    return false;
}

/* Copies s lower-cased into out (cap bytes); an over-long s gives "". */
static void lower_copy(char *out, size_t cap, const char *s, size_t n)
{
    out[0] = '\0';
    if (!s || n >= cap)
        return;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    out[n] = '\0';
}

static void set(char *out, size_t cap, const char *v)
{
    snprintf(out, cap, "%s", v);
}

/* containerd's normalisation of os, architecture and variant; arm64's
 * default variant is spelled v8 here (containerd drops it: the same
 * equivalence classes). */
static void normalise(it_platform *p)
{
    if (strcmp(p->os, "macos") == 0)
        set(p->os, sizeof(p->os), "darwin");
    char *a = p->arch, *v = p->variant;
    if (strcmp(a, "i386") == 0) {
        set(a, sizeof(p->arch), "386");
        v[0] = '\0';
    } else if (strcmp(a, "x86_64") == 0 || strcmp(a, "x86-64") == 0 ||
               strcmp(a, "amd64") == 0) {
        set(a, sizeof(p->arch), "amd64");
        if (strcmp(v, "v1") == 0)
            v[0] = '\0';
    } else if (strcmp(a, "aarch64") == 0 || strcmp(a, "arm64") == 0) {
        set(a, sizeof(p->arch), "arm64");
        if (!v[0] || strcmp(v, "8") == 0 || strcmp(v, "v8.0") == 0)
            set(v, sizeof(p->variant), "v8");
        else if (strcmp(v, "9") == 0 || strcmp(v, "9.0") == 0 ||
                 strcmp(v, "v9.0") == 0)
            set(v, sizeof(p->variant), "v9");
    } else if (strcmp(a, "armhf") == 0) {
        set(a, sizeof(p->arch), "arm");
        set(v, sizeof(p->variant), "v7");
    } else if (strcmp(a, "armel") == 0) {
        set(a, sizeof(p->arch), "arm");
        set(v, sizeof(p->variant), "v6");
    } else if (strcmp(a, "arm") == 0) {
        if (!v[0] || strcmp(v, "7") == 0)
            set(v, sizeof(p->variant), "v7");
        else if (strcmp(v, "5") == 0 || strcmp(v, "6") == 0 ||
                 strcmp(v, "8") == 0) {
            char d = v[0];
            snprintf(v, sizeof(p->variant), "v%c", d);
        }
    }
}

/* Letters, digits, '.', '_' and '-' only, 1.. bytes. */
static bool word_ok(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* A dotted number (an os.version), 1.. bytes. */
static bool dotted_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || s[i] == '.'))
            return false;
    return true;
}

void it_platform_from(it_platform *p, const char *os, const char *arch,
                      const char *variant, const char *os_version)
{
    memset(p, 0, sizeof(*p));
    /* Names from a registry: a platform with anything but plain names
     * (and a dotted os.version) is no platform: it never matches and
     * never reaches a report or a log. */
    if ((os && !word_ok(os, strlen(os))) ||
        (arch && !word_ok(arch, strlen(arch))) ||
        (variant && *variant && !word_ok(variant, strlen(variant))) ||
        (os_version && *os_version && !dotted_ok(os_version)))
        return;
    lower_copy(p->os, sizeof(p->os), os, os ? strlen(os) : 0);
    lower_copy(p->arch, sizeof(p->arch), arch, arch ? strlen(arch) : 0);
    lower_copy(p->variant, sizeof(p->variant), variant,
               variant ? strlen(variant) : 0);
    if (os_version && strlen(os_version) < sizeof(p->os_version))
        set(p->os_version, sizeof(p->os_version), os_version);
    normalise(p);
}

static bool printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
            return false;
    return true;
}

int it_platform_parse(it_platform *p, const char *spec, it_errbuf *err)
{
    memset(p, 0, sizeof(*p));
    const char *q =
        printable(spec) && strlen(spec) < 200 ? spec : "(unprintable)";
    const char *colon = strchr(spec, ':');
    size_t body = colon ? (size_t)(colon - spec) : strlen(spec);
    const char *part[3];
    size_t len[3], np = 0;
    const char *s = spec, *end = spec + body;
    for (;;) {
        const char *slash = memchr(s, '/', (size_t)(end - s));
        const char *e = slash ? slash : end;
        if (np == 3) {
            np = 4; /* a fourth part */
            break;
        }
        part[np] = s;
        len[np++] = (size_t)(e - s);
        if (!slash)
            break;
        s = slash + 1;
    }
    if (np < 2 || np > 3) {
        snprintf(err->msg, sizeof(err->msg),
                 "platform \"%s\": expected os/arch[/variant][:os.version] "
                 "(e.g. linux/amd64, linux/arm/v7)",
                 q);
        return -1;
    }
    for (size_t i = 0; i < np; i++)
        if (!word_ok(part[i], len[i])) {
            snprintf(err->msg, sizeof(err->msg),
                     "platform \"%s\": %s is empty or has characters other "
                     "than letters, digits, '.', '_' and '-'",
                     q,
                     i == 0   ? "the os"
                     : i == 1 ? "the architecture"
                              : "the variant");
            return -1;
        }
    lower_copy(p->os, sizeof(p->os), part[0], len[0]);
    lower_copy(p->arch, sizeof(p->arch), part[1], len[1]);
    if (np == 3)
        lower_copy(p->variant, sizeof(p->variant), part[2], len[2]);
    if (colon) {
        const char *v = colon + 1;
        size_t n = strlen(v);
        bool ok = n > 0 && n < sizeof(p->os_version) && v[0] != '.' &&
                  v[n - 1] != '.';
        for (size_t i = 0; ok && i < n; i++)
            ok = (v[i] >= '0' && v[i] <= '9') || v[i] == '.';
        if (!ok) {
            snprintf(err->msg, sizeof(err->msg),
                     "platform \"%s\": the os.version after ':' must be "
                     "dotted numbers (e.g. windows/amd64:10.0.17763)",
                     q);
            return -1;
        }
        set(p->os_version, sizeof(p->os_version), v);
    }
    if (!p->os[0] || !p->arch[0] || (np == 3 && !p->variant[0])) {
        snprintf(err->msg, sizeof(err->msg), "platform \"%s\": too long", q);
        return -1;
    }
    normalise(p);
    if (!in_list(known_os, p->os)) {
        snprintf(err->msg, sizeof(err->msg),
                 "platform \"%s\": unknown operating system \"%s\" (e.g. "
                 "linux, windows)",
                 q, p->os);
        return -1;
    }
    if (!in_list(known_arch, p->arch)) {
        snprintf(err->msg, sizeof(err->msg),
                 "platform \"%s\": unknown architecture \"%s\" (e.g. amd64, "
                 "arm64, arm, 386, ppc64le, s390x, riscv64)",
                 q, p->arch);
        return -1;
    }
    return 0;
}

bool it_platform_match(const it_platform *spec, const it_platform *have)
{
    if (strcmp(spec->os, have->os) != 0 ||
        strcmp(spec->arch, have->arch) != 0 ||
        strcmp(spec->variant, have->variant) != 0)
        return false;
    if (!spec->os_version[0])
        return true;
    size_t n = strlen(spec->os_version);
    return strncmp(spec->os_version, have->os_version, n) == 0 &&
           (have->os_version[n] == '\0' || have->os_version[n] == '.');
}

void it_platform_format(const it_platform *p, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s%s%s%s%s", p->os, p->arch,
             p->variant[0] ? "/" : "", p->variant, p->os_version[0] ? ":" : "",
             p->os_version);
}

void it_platform_set_free(it_platform_set *s)
{
    if (!s)
        return;
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

int it_platform_set_parse(it_platform_set *s, char *const *specs,
                          const char *what, it_errbuf *err)
{
    memset(s, 0, sizeof(*s));
    size_t cap = 0;
    for (size_t i = 0; specs && specs[i]; i++)
        cap += 1 + strlen(specs[i]) / 2;
    if (cap == 0) {
        snprintf(err->msg, sizeof(err->msg),
                 "%s: no platform given (e.g. linux/amd64,linux/arm64)", what);
        return -1;
    }
    s->v = calloc(cap, sizeof(*s->v));
    if (!s->v) {
        snprintf(err->msg, sizeof(err->msg), "%s: out of memory", what);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; specs[i] && rc == 0; i++) {
        const char *p = specs[i];
        for (;;) {
            size_t n = strcspn(p, ",");
            char one[256];
            it_errbuf e1;
            if (n == 0 || n >= sizeof(one)) {
                snprintf(err->msg, sizeof(err->msg),
                         "%s: an empty or over-long platform in the list "
                         "(e.g. linux/amd64,linux/arm64)",
                         what);
                rc = -1;
                break;
            }
            memcpy(one, p, n);
            one[n] = '\0';
            if (it_platform_parse(&s->v[s->n], one, &e1) != 0) {
                snprintf(err->msg, sizeof(err->msg), "%.200s: %.800s", what,
                         e1.msg);
                rc = -1;
                break;
            }
            s->n++;
            if (!p[n])
                break;
            p += n + 1;
        }
    }
    if (rc != 0)
        it_platform_set_free(s);
    return rc;
}

bool it_platform_set_match(const it_platform_set *s, const it_platform *have)
{
    for (size_t i = 0; s && i < s->n; i++)
        if (it_platform_match(&s->v[i], have))
            return true;
    return false;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char *it_platform_set_key(const it_platform_set *s)
{
    if (!s || s->n == 0)
        return it_strdup0("");
    char(*f)[140] = calloc(s->n, sizeof(*f));
    char **v = calloc(s->n, sizeof(*v));
    char *out = NULL;
    if (!f || !v)
        goto out;
    size_t total = 1;
    for (size_t i = 0; i < s->n; i++) {
        it_platform_format(&s->v[i], f[i], sizeof(f[i]));
        v[i] = f[i];
        total += strlen(f[i]) + 1;
    }
    qsort(v, s->n, sizeof(*v), cmp_str);
    out = malloc(total);
    if (!out)
        goto out;
    size_t off = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (i > 0 && strcmp(v[i], v[i - 1]) == 0)
            continue;
        off += (size_t)sprintf(out + off, "%s%s", off ? "," : "", v[i]);
    }
    out[off] = '\0';
out:
    free(f);
    free(v);
    return out;
}

void it_platform_filtered_clear(it_platform_filtered *f)
{
    if (!f)
        return;
    free(f->body);
    free(f->platforms);
    memset(f, 0, sizeof(*f));
}

static const char *str_member(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    /* a string with a NUL inside is not a platform name */
    if (!json_is_string(v) ||
        strlen(json_string_value(v)) != json_string_length(v))
        return NULL;
    return json_string_value(v);
}

/* The digest of the child an attestation manifest describes (buildx:
 * annotations vnd.docker.reference.type "attestation-manifest" and
 * vnd.docker.reference.digest), or NULL for any other child. */
static const char *attestation_of(json_t *d)
{
    json_t *a = json_object_get(d, "annotations");
    const char *type = str_member(a, "vnd.docker.reference.type");
    if (!type || strcmp(type, "attestation-manifest") != 0)
        return NULL;
    return str_member(a, "vnd.docker.reference.digest");
}

int it_platform_filter_index(it_platform_filtered *out, const void *body,
                             size_t len, const it_platform_set *s,
                             it_errbuf *err)
{
    memset(out, 0, sizeof(*out));
    json_t *root = NULL, *kept = NULL, *kept_digests = NULL;
    bool *keep = NULL;
    char *list = NULL;
    size_t listcap = 1, listlen = 0;
    int rc = -1;
    if (len > MAX_INDEX_BYTES) {
        snprintf(err->msg, sizeof(err->msg),
                 "index of %zu bytes is larger than the %zu the platform "
                 "filter reads",
                 len, MAX_INDEX_BYTES);
        goto out;
    }
    json_error_t je;
    root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    json_t *arr = root ? json_object_get(root, "manifests") : NULL;
    if (!json_is_array(arr)) {
        snprintf(err->msg, sizeof(err->msg),
                 "index to filter by platform is not JSON with a manifests "
                 "array");
        goto out;
    }
    out->total = json_array_size(arr);
    kept = json_array();
    kept_digests = json_object(); /* of the platform children kept */
    keep = calloc(out->total ? out->total : 1, sizeof(*keep));
    list = calloc(1, 1);
    if (!kept || !kept_digests || !keep || !list)
        goto nomem;
    size_t i;
    json_t *d;
    json_array_foreach(arr, i, d)
    {
        if (attestation_of(d))
            continue; /* goes with its child, below */
        json_t *pl = json_object_get(d, "platform");
        if (!json_is_object(pl))
            continue;
        it_platform have;
        it_platform_from(
            &have, str_member(pl, "os"), str_member(pl, "architecture"),
            str_member(pl, "variant"), str_member(pl, "os.version"));
        if (!have.os[0] || !have.arch[0] || !it_platform_set_match(s, &have))
            continue;
        keep[i] = true;
        const char *dg = str_member(d, "digest");
        if (dg && json_object_set_new(kept_digests, dg, json_true()) != 0)
            goto nomem;
        char f[140];
        it_platform_format(&have, f, sizeof(f));
        size_t need = listlen + strlen(f) + 2;
        if (need > listcap) {
            size_t c = need * 2;
            char *nl = realloc(list, c);
            if (!nl)
                goto nomem;
            list = nl;
            listcap = c;
        }
        listlen +=
            (size_t)sprintf(list + listlen, "%s%s", listlen ? "," : "", f);
    }
    /* the children kept, in their order: the matching platforms and the
     * attestation manifests of those */
    json_array_foreach(arr, i, d)
    {
        const char *of = keep[i] ? NULL : attestation_of(d);
        if (!keep[i] && !(of && json_object_get(kept_digests, of)))
            continue;
        if (json_array_append(kept, d) != 0)
            goto nomem;
    }
    out->kept = json_array_size(kept);
    out->platforms = list;
    list = NULL;
    if (out->kept > 0 && out->kept < out->total) {
        if (json_object_set(root, "manifests", kept) != 0)
            goto nomem;
        char *text = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
        if (!text)
            goto nomem;
        out->body = (unsigned char *)text;
        out->len = strlen(text);
    }
    rc = 0;
    goto out;
nomem:
    snprintf(err->msg, sizeof(err->msg),
             "filter index by platform: out of memory");
out:
    if (rc != 0)
        it_platform_filtered_clear(out);
    free(list);
    free(keep);
    json_decref(kept_digests);
    json_decref(kept);
    json_decref(root);
    return rc;
}

bool it_platform_index_filtered_equal(const reg_manifest *src,
                                      const it_platform_set *s,
                                      const char *target_digest)
{
    if (!reg_manifest_is_index(src) || !target_digest)
        return false;
    it_platform_filtered f;
    it_errbuf err;
    if (it_platform_filter_index(&f, src->body, src->len, s, &err) != 0)
        return false;
    bool eq = false;
    if (f.kept > 0) {
        char d[REG_DIGEST_LEN + 1];
        if (f.body)
            reg_sha256_digest(d, f.body, f.len);
        else
            memcpy(d, src->digest, sizeof(d));
        eq = strcmp(d, target_digest) == 0;
    }
    it_platform_filtered_clear(&f);
    return eq;
}
