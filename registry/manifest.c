/*
 * manifest.c - manifest digests and parsing of every manifest kind the tool
 * copies: Docker schema 1 (passed through), Docker v2 schema 2, Docker
 * manifest list, OCI image manifest, OCI image index, and unknown artifact
 * types (passed through, their descriptors listed as blobs).
 *
 * The parser only extracts what a copier needs (blobs, children, subject);
 * the bytes themselves are kept unchanged so digests are preserved.
 */
#include "registry.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *const REG_MANIFEST_ACCEPT = REG_MT_OCI_INDEX
    "," REG_MT_DOCKER_LIST "," REG_MT_OCI_MANIFEST "," REG_MT_DOCKER_V2S2
    "," REG_MT_DOCKER_V2S1_SIGNED "," REG_MT_DOCKER_V2S1;

void reg_sha256_digest(char out[REG_DIGEST_LEN + 1], const void *data,
                       size_t len)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (data == NULL)
        data = "";
    if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
        mdlen != 32) {
        /* Cannot happen with a working libcrypto; leave an invalid digest
         * that never matches anything rather than garbage. */
        snprintf(out, REG_DIGEST_LEN + 1, "sha256:");
        return;
    }
    memcpy(out, "sha256:", 7);
    for (unsigned int i = 0; i < 32; i++) {
        out[7 + 2 * i] = hex[md[i] >> 4];
        out[8 + 2 * i] = hex[md[i] & 15];
    }
    out[REG_DIGEST_LEN] = '\0';
}

/* Decodes base64url (no padding) of at most 4096 characters into a
 * malloc'd buffer; NULL when invalid. */
static unsigned char *b64url_decode(const char *s, size_t *n_out)
{
    size_t n = strlen(s);
    if (n == 0 || n > 4096 || n % 4 == 1)
        return NULL;
    char std[4100];
    size_t k = 0;
    for (; k < n; k++)
        std[k] = s[k] == '-' ? '+' : s[k] == '_' ? '/' : s[k];
    size_t pad = (4 - n % 4) % 4;
    for (size_t i = 0; i < pad; i++)
        std[k++] = '=';
    std[k] = '\0';
    unsigned char *out = malloc(k / 4 * 3 + 1);
    if (!out)
        return NULL;
    int got = EVP_DecodeBlock(out, (const unsigned char *)std, (int)k);
    if (got < 0 || (size_t)got < pad) {
        free(out);
        return NULL;
    }
    *n_out = (size_t)got - pad;
    return out;
}

int reg_schema1_payload_digest(char out[REG_DIGEST_LEN + 1], const void *body,
                               size_t len)
{
    static const char hex[] = "0123456789abcdef";
    int rc = -1;
    unsigned char *prot = NULL, *tail = NULL;
    size_t nprot = 0, ntail = 0;
    json_t *hdr = NULL;
    EVP_MD_CTX *ctx = NULL;
    json_t *root = body ? json_loadb(body, len, 0, NULL) : NULL;
    json_t *sig = json_array_get(json_object_get(root, "signatures"), 0);
    const char *p = json_string_value(json_object_get(sig, "protected"));
    if (!p || !(prot = b64url_decode(p, &nprot)))
        goto out;
    hdr = json_loadb((const char *)prot, nprot, 0, NULL);
    json_t *fl = json_object_get(hdr, "formatLength");
    const char *ft = json_string_value(json_object_get(hdr, "formatTail"));
    if (!json_is_integer(fl) || json_integer_value(fl) <= 0 ||
        (uint64_t)json_integer_value(fl) > len || !ft ||
        !(tail = b64url_decode(ft, &ntail)))
        goto out;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!(ctx = EVP_MD_CTX_new()) ||
        EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(ctx, body, (size_t)json_integer_value(fl)) != 1 ||
        EVP_DigestUpdate(ctx, tail, ntail) != 1 ||
        EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != 32)
        goto out;
    memcpy(out, "sha256:", 7);
    for (unsigned int i = 0; i < 32; i++) {
        out[7 + 2 * i] = hex[md[i] >> 4];
        out[8 + 2 * i] = hex[md[i] & 15];
    }
    out[REG_DIGEST_LEN] = '\0';
    rc = 0;
out:
    EVP_MD_CTX_free(ctx);
    free(prot);
    free(tail);
    json_decref(hdr);
    json_decref(root);
    return rc;
}

const char *reg_manifest_kind_name(reg_manifest_kind k)
{
    switch (k) {
    case REG_KIND_V2S1:
        return "docker schema1";
    case REG_KIND_V2S2:
        return "docker v2s2";
    case REG_KIND_DOCKER_LIST:
        return "docker manifest list";
    case REG_KIND_OCI_MANIFEST:
        return "oci manifest";
    case REG_KIND_OCI_INDEX:
        return "oci index";
    case REG_KIND_UNKNOWN:
    default:
        return "unknown";
    }
}

bool reg_manifest_is_index(const reg_manifest *m)
{
    return m != NULL &&
           (m->kind == REG_KIND_DOCKER_LIST || m->kind == REG_KIND_OCI_INDEX);
}

bool reg_descriptor_foreign(const reg_descriptor *d)
{
    if (d == NULL)
        return false;
    if (d->has_urls)
        return true;
    const char *mt = d->media_type;
    return mt != NULL && (strcmp(mt, REG_MT_DOCKER_FOREIGN) == 0 ||
                          strncmp(mt, REG_MT_OCI_NONDIST_PREFIX,
                                  strlen(REG_MT_OCI_NONDIST_PREFIX)) == 0);
}

static void descriptor_clear(reg_descriptor *d)
{
    free(d->media_type);
    free(d->digest);
    free(d->platform);
    memset(d, 0, sizeof(*d));
}

static void descriptors_free(reg_descriptor *v, size_t n)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        descriptor_clear(&v[i]);
    free(v);
}

void reg_manifest_free(reg_manifest *m)
{
    if (m == NULL)
        return;
    free(m->media_type);
    free(m->body);
    descriptors_free(m->children, m->n_children);
    descriptors_free(m->blobs, m->n_blobs);
    if (m->subject != NULL) {
        descriptor_clear(m->subject);
        free(m->subject);
    }
    free(m);
}

/* RFC 6838 restricted-name-chars after the first (alnum) character. */
static bool restricted_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '!' || c == '#' || c == '$' ||
           c == '&' || c == '-' || c == '^' || c == '_' || c == '.' || c == '+';
}

/* Length of the restricted-name at s (0 when s does not start with one or
 * it is longer than 127 characters). */
static size_t restricted_name(const char *s)
{
    unsigned char c = (unsigned char)s[0];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9')))
        return 0;
    size_t n = 1;
    while (restricted_char((unsigned char)s[n]))
        n++;
    return n <= 127 ? n : 0;
}

bool reg_media_type_valid(const char *mt)
{
    if (mt == NULL || strlen(mt) > 255)
        return false;
    size_t t = restricted_name(mt);
    if (t == 0 || mt[t] != '/')
        return false;
    size_t st = restricted_name(mt + t + 1);
    return st > 0 && mt[t + 1 + st] == '\0';
}

/* Known media type -> kind, or -1 when the type is not one of the six. */
static int kind_of_media_type(const char *mt)
{
    if (mt == NULL)
        return -1;
    if (strcmp(mt, REG_MT_DOCKER_V2S2) == 0)
        return REG_KIND_V2S2;
    if (strcmp(mt, REG_MT_DOCKER_LIST) == 0)
        return REG_KIND_DOCKER_LIST;
    if (strcmp(mt, REG_MT_OCI_MANIFEST) == 0)
        return REG_KIND_OCI_MANIFEST;
    if (strcmp(mt, REG_MT_OCI_INDEX) == 0)
        return REG_KIND_OCI_INDEX;
    if (strcmp(mt, REG_MT_DOCKER_V2S1) == 0 ||
        strcmp(mt, REG_MT_DOCKER_V2S1_SIGNED) == 0)
        return REG_KIND_V2S1;
    return -1;
}

/*
 * The Content-Type without parameters and surrounding whitespace,
 * lowercased, in *out, or NULL when absent or generic (application/json,
 * text/plain, octet-stream say nothing about the manifest kind). malloc'd.
 * REG_EINVAL when what is left is not a valid media type.
 */
static int clean_content_type(char **out, const char *ct, reg_error *err)
{
    *out = NULL;
    if (ct == NULL)
        return REG_OK;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    size_t n = strcspn(ct, ";");
    while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    if (n == 0)
        return REG_OK;
    char *s = malloc(n + 1);
    if (s == NULL)
        return reg_error_set(err, REG_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        char c = ct[i];
        s[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    s[n] = '\0';
    if (!reg_media_type_valid(s)) {
        free(s);
        return reg_error_set(err, REG_EINVAL,
                             "invalid manifest: the Content-Type is not a "
                             "valid media type (RFC 6838 type/subtype)");
    }
    if (strcmp(s, "application/json") == 0 || strcmp(s, "text/plain") == 0 ||
        strcmp(s, "application/octet-stream") == 0 ||
        strcmp(s, "binary/octet-stream") == 0) {
        free(s);
        return REG_OK;
    }
    *out = s;
    return REG_OK;
}

/* Largest size a descriptor may declare: 2^53, what every JSON reader
 * holds exactly (and far beyond any real blob). Sums of a few such sizes
 * cannot overflow an int64_t. */
#define MAX_DESCRIPTOR_SIZE ((json_int_t)1 << 53)

/* An optional media-type string member (mediaType, artifactType) of o:
 * absent is fine, anything else must be a string and a valid media type.
 * The value is never quoted in the message (it may hold control bytes). */
static int check_media_type_member(json_t *o, const char *key,
                                   const char *field, reg_error *err)
{
    json_t *v = json_object_get(o, key);
    if (v == NULL)
        return REG_OK;
    if (!json_is_string(v))
        return reg_error_set(
            err, REG_EINVAL, "invalid manifest: %s%s%s is not a string",
            field != NULL ? field : "", field != NULL ? "." : "", key);
    if (strlen(json_string_value(v)) != json_string_length(v) ||
        !reg_media_type_valid(json_string_value(v)))
        return reg_error_set(err, REG_EINVAL,
                             "invalid manifest: %s%s%s is not a valid media "
                             "type (RFC 6838 type/subtype, at most 255 bytes)",
                             field != NULL ? field : "",
                             field != NULL ? "." : "", key);
    return REG_OK;
}

/*
 * Fills d from a descriptor object. `field` names it in messages
 * ("layers[2]"). want_platform: read "platform" into "os/arch[/variant]".
 */
static int parse_descriptor(reg_descriptor *d, json_t *o, const char *field,
                            bool want_platform, reg_error *err)
{
    if (!json_is_object(o))
        return reg_error_set(
            err, REG_EINVAL,
            "invalid manifest: %s is missing or not a descriptor "
            "object",
            field);
    json_t *mt = json_object_get(o, "mediaType");
    json_t *dg = json_object_get(o, "digest");
    json_t *sz = json_object_get(o, "size");
    int rc = check_media_type_member(o, "mediaType", field, err);
    if (rc == REG_OK)
        rc = check_media_type_member(o, "artifactType", field, err);
    if (rc != REG_OK)
        return rc;
    if (!json_is_string(dg))
        return reg_error_set(err, REG_EINVAL,
                             "invalid manifest: %s.digest is missing or not a "
                             "string",
                             field);
    if (!reg_valid_digest(json_string_value(dg)))
        return reg_error_set(err, REG_EINVAL,
                             "invalid manifest: %s.digest '%.80s' is not "
                             "sha256:<64 lowercase hex>",
                             field, json_string_value(dg));
    if (!json_is_integer(sz))
        return reg_error_set(err, REG_EINVAL,
                             "invalid manifest: %s.size is missing or not an "
                             "integer",
                             field);
    if (json_integer_value(sz) < 0)
        return reg_error_set(err, REG_EINVAL,
                             "invalid manifest: %s.size out of range "
                             "(negative)",
                             field);
    if (json_integer_value(sz) > MAX_DESCRIPTOR_SIZE)
        return reg_error_set(err, REG_EINVAL,
                             "invalid manifest: %s.size out of range "
                             "(0 .. 2^53)",
                             field);
    d->size = (int64_t)json_integer_value(sz);
    json_t *urls = json_object_get(o, "urls");
    d->has_urls = json_is_array(urls) && json_array_size(urls) > 0;
    d->digest = strdup(json_string_value(dg));
    if (d->digest == NULL)
        return reg_error_set(err, REG_ENOMEM, "out of memory");
    if (mt != NULL) {
        d->media_type = strdup(json_string_value(mt));
        if (d->media_type == NULL)
            return reg_error_set(err, REG_ENOMEM, "out of memory");
    }
    json_t *p = json_object_get(o, "platform");
    if (!want_platform || p == NULL)
        return REG_OK;
    if (!json_is_object(p))
        return reg_error_set(err, REG_EINVAL,
                             "invalid manifest: %s.platform is not an object",
                             field);
    json_t *os = json_object_get(p, "os");
    json_t *arch = json_object_get(p, "architecture");
    json_t *var = json_object_get(p, "variant");
    if (!json_is_string(os) || !json_is_string(arch))
        return reg_error_set(err, REG_EINVAL,
                             "invalid manifest: %s.platform needs string os "
                             "and architecture",
                             field);
    if (var != NULL && !json_is_string(var))
        return reg_error_set(err, REG_EINVAL,
                             "invalid manifest: %s.platform.variant is not a "
                             "string",
                             field);
    const char *v = var != NULL ? json_string_value(var) : "";
    size_t n = strlen(json_string_value(os)) + strlen(json_string_value(arch)) +
               strlen(v) + 3;
    d->platform = malloc(n);
    if (d->platform == NULL)
        return reg_error_set(err, REG_ENOMEM, "out of memory");
    snprintf(d->platform, n, "%s/%s%s%s", json_string_value(os),
             json_string_value(arch), v[0] != '\0' ? "/" : "", v);
    return REG_OK;
}

/*
 * A growable descriptor array, optionally de-duplicated by digest. The
 * de-duplication uses an open-addressing hash set of indices into v (a
 * linear scan made 20,000 layers take seconds). The hash is keyed with a
 * random seed per parse, so digests chosen by a hostile registry cannot be
 * made to collide on purpose.
 */
typedef struct desc_vec {
    reg_descriptor *v;
    size_t n;
    size_t cap;
    size_t *slots; /* index + 1 into v, 0 = empty; slot_cap is a power of 2 */
    size_t slot_cap;
    uint64_t seed;
} desc_vec;

static uint64_t digest_hash(const desc_vec *vec, const char *digest)
{
    uint64_t h = 14695981039346656037ULL ^ vec->seed;
    for (const unsigned char *p = (const unsigned char *)digest; *p != '\0';
         p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    /* splitmix64's finaliser: every bit of h reaches the low bits. */
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h;
}

/* The slot holding digest, or the empty slot where it would go. */
static size_t *set_find(const desc_vec *vec, const char *digest)
{
    size_t mask = vec->slot_cap - 1;
    size_t i = (size_t)digest_hash(vec, digest) & mask;
    while (vec->slots[i] != 0 &&
           strcmp(vec->v[vec->slots[i] - 1].digest, digest) != 0)
        i = (i + 1) & mask;
    return &vec->slots[i];
}

/* Makes room for one more entry (load factor at most 1/2). */
static int set_reserve(desc_vec *vec)
{
    if ((vec->n + 1) * 2 <= vec->slot_cap)
        return REG_OK;
    if (vec->slots == NULL &&
        RAND_bytes((unsigned char *)&vec->seed, sizeof(vec->seed)) != 1)
        vec->seed = (uint64_t)(uintptr_t)vec ^ 0x9e3779b97f4a7c15ULL;
    size_t ncap = vec->slot_cap > 0 ? vec->slot_cap * 2 : 64;
    while ((vec->n + 1) * 2 > ncap)
        ncap *= 2;
    size_t *ns = calloc(ncap, sizeof(*ns));
    if (ns == NULL)
        return REG_ENOMEM;
    free(vec->slots);
    vec->slots = ns;
    vec->slot_cap = ncap;
    for (size_t i = 0; i < vec->n; i++)
        *set_find(vec, vec->v[i].digest) = i + 1;
    return REG_OK;
}

static void vec_free(desc_vec *vec)
{
    descriptors_free(vec->v, vec->n);
    free(vec->slots);
    memset(vec, 0, sizeof(*vec));
}

/* Takes ownership of *d (clears it) whether or not it is kept. */
static int vec_push(desc_vec *vec, reg_descriptor *d, bool dedup,
                    reg_error *err)
{
    size_t *slot = NULL;
    if (dedup) {
        if (set_reserve(vec) != REG_OK) {
            descriptor_clear(d);
            return reg_error_set(err, REG_ENOMEM, "out of memory");
        }
        slot = set_find(vec, d->digest);
        if (*slot != 0) {
            descriptor_clear(d);
            return REG_OK;
        }
    }
    if (vec->n == vec->cap) {
        size_t cap = vec->cap > 0 ? vec->cap * 2 : 8;
        reg_descriptor *p = realloc(vec->v, cap * sizeof(*p));
        if (p == NULL) {
            descriptor_clear(d);
            return reg_error_set(err, REG_ENOMEM, "out of memory");
        }
        vec->v = p;
        vec->cap = cap;
    }
    vec->v[vec->n++] = *d;
    memset(d, 0, sizeof(*d));
    if (slot != NULL)
        *slot = vec->n;
    return REG_OK;
}

/* Parses one descriptor object and pushes it. */
static int push_descriptor(desc_vec *vec, json_t *o, const char *field,
                           bool platform, bool dedup, reg_error *err)
{
    reg_descriptor d = {0};
    int rc = parse_descriptor(&d, o, field, platform, err);
    if (rc != REG_OK) {
        descriptor_clear(&d);
        return rc;
    }
    return vec_push(vec, &d, dedup, err);
}

/* Pushes every element of the array at key `name`. required: the key must
 * be present. */
static int push_array(desc_vec *vec, json_t *root, const char *name,
                      bool required, bool platform, bool dedup, reg_error *err)
{
    json_t *a = json_object_get(root, name);
    if (a == NULL && !required)
        return REG_OK;
    if (!json_is_array(a))
        return reg_error_set(err, REG_EINVAL,
                             "invalid manifest: %s is missing or not an array",
                             name);
    size_t i;
    json_t *el;
    json_array_foreach(a, i, el)
    {
        char field[64];
        snprintf(field, sizeof(field), "%s[%zu]", name, i);
        int rc = push_descriptor(vec, el, field, platform, dedup, err);
        if (rc != REG_OK)
            return rc;
    }
    return REG_OK;
}

/* schemaVersion must be the integer `want`. */
static int check_schema_version(json_t *root, json_int_t want, reg_error *err)
{
    json_t *sv = json_object_get(root, "schemaVersion");
    if (!json_is_integer(sv))
        return reg_error_set(err, REG_EINVAL,
                             "invalid manifest: schemaVersion is missing or "
                             "not an integer");
    if (json_integer_value(sv) != want)
        return reg_error_set(err, REG_EINVAL,
                             "invalid manifest: schemaVersion is %lld, "
                             "expected %lld",
                             (long long)json_integer_value(sv),
                             (long long)want);
    return REG_OK;
}

static int parse_subject(reg_manifest *m, json_t *root, reg_error *err)
{
    json_t *s = json_object_get(root, "subject");
    if (s == NULL || json_is_null(s))
        return REG_OK;
    m->subject = calloc(1, sizeof(*m->subject));
    if (m->subject == NULL)
        return reg_error_set(err, REG_ENOMEM, "out of memory");
    return parse_descriptor(m->subject, s, "subject", false, err);
}

static int parse_schema1(desc_vec *blobs, json_t *root, reg_error *err)
{
    int rc = check_schema_version(root, 1, err);
    if (rc != REG_OK)
        return rc;
    json_t *a = json_object_get(root, "fsLayers");
    if (!json_is_array(a))
        return reg_error_set(err, REG_EINVAL,
                             "invalid manifest: fsLayers is missing or not an "
                             "array");
    size_t i;
    json_t *el;
    json_array_foreach(a, i, el)
    {
        json_t *bs = json_object_get(el, "blobSum");
        if (!json_is_string(bs) || !reg_valid_digest(json_string_value(bs)))
            return reg_error_set(err, REG_EINVAL,
                                 "invalid manifest: fsLayers[%zu].blobSum is "
                                 "not sha256:<64 lowercase hex>",
                                 i);
        reg_descriptor d = {0};
        d.size = -1;
        d.digest = strdup(json_string_value(bs));
        if (d.digest == NULL)
            return reg_error_set(err, REG_ENOMEM, "out of memory");
        rc = vec_push(blobs, &d, true, err);
        if (rc != REG_OK)
            return rc;
    }
    return REG_OK;
}

/*
 * Decides the kind: the body's mediaType wins; without it, a specific
 * Content-Type; without that, the shape of the document. Sets *mt_out to
 * the media type to record (malloc'd, may stay NULL for unknown shapes).
 */
static int decide_kind(reg_manifest_kind *kind, char **mt_out, json_t *root,
                       const char *content_type, reg_error *err)
{
    json_t *jmt = json_object_get(root, "mediaType");
    json_t *sv = json_object_get(root, "schemaVersion");
    const char *mt = NULL;
    char *ct = NULL;
    int rc = REG_OK;

    *mt_out = NULL;
    rc = check_media_type_member(root, "mediaType", NULL, err);
    if (rc == REG_OK)
        rc = check_media_type_member(root, "artifactType", NULL, err);
    /* An invalid Content-Type fails the manifest even when the body names
     * its type: it is what a copy would be tempted to send on. */
    if (rc == REG_OK)
        rc = clean_content_type(&ct, content_type, err);
    if (rc != REG_OK)
        goto cleanup;
    if (jmt != NULL) {
        mt = json_string_value(jmt);
    } else {
        mt = ct;
        /* A schema 1 body never carries mediaType; believe its shape over a
         * Content-Type that claims a schema 2 kind. */
        if (json_is_integer(sv) && json_integer_value(sv) == 1 &&
            kind_of_media_type(mt) != REG_KIND_V2S1)
            mt = json_object_get(root, "signatures") != NULL
                     ? REG_MT_DOCKER_V2S1_SIGNED
                     : REG_MT_DOCKER_V2S1;
        else if (mt == NULL && json_object_get(root, "manifests") != NULL)
            mt = REG_MT_OCI_INDEX;
        else if (mt == NULL && (json_object_get(root, "config") != NULL ||
                                json_object_get(root, "layers") != NULL))
            mt = REG_MT_OCI_MANIFEST;
    }
    int k = kind_of_media_type(mt);
    *kind = k < 0 ? REG_KIND_UNKNOWN : (reg_manifest_kind)k;
    if (mt != NULL) {
        *mt_out = strdup(mt);
        if (*mt_out == NULL)
            rc = reg_error_set(err, REG_ENOMEM, "out of memory");
    }
cleanup:
    free(ct);
    return rc;
}

int reg_manifest_parse(reg_manifest **out, const char *content_type,
                       const void *body, size_t len, reg_error *err)
{
    int rc = REG_EINVAL;
    reg_manifest *m = NULL;
    json_t *root = NULL;
    desc_vec blobs = {0};
    desc_vec children = {0};

    if (out != NULL)
        *out = NULL;
    if (out == NULL || (body == NULL && len > 0))
        return reg_error_set(err, REG_EINVAL, "invalid manifest: no output");
    if (len == 0)
        return reg_error_set(err, REG_EINVAL, "invalid manifest: empty body");

    json_error_t jerr;
    root = json_loadb(body, len, 0, &jerr);
    if (root == NULL) {
        rc = reg_error_set(err, REG_EINVAL,
                           "invalid manifest: not JSON (line %d: %.100s)",
                           jerr.line, jerr.text);
        goto cleanup;
    }
    if (!json_is_object(root)) {
        rc = reg_error_set(err, REG_EINVAL,
                           "invalid manifest: not a JSON object");
        goto cleanup;
    }

    m = calloc(1, sizeof(*m));
    if (m == NULL)
        goto oom;
    m->body = malloc(len);
    if (m->body == NULL)
        goto oom;
    memcpy(m->body, body, len);
    m->len = len;
    reg_sha256_digest(m->digest, body, len);

    rc = decide_kind(&m->kind, &m->media_type, root, content_type, err);
    if (rc != REG_OK)
        goto cleanup;

    switch (m->kind) {
    case REG_KIND_V2S1:
        rc = parse_schema1(&blobs, root, err);
        break;
    case REG_KIND_V2S2:
    case REG_KIND_OCI_MANIFEST:
        rc = check_schema_version(root, 2, err);
        if (rc == REG_OK)
            rc = push_descriptor(&blobs, json_object_get(root, "config"),
                                 "config", false, true, err);
        if (rc == REG_OK)
            rc = push_array(&blobs, root, "layers", true, false, true, err);
        if (rc == REG_OK && m->kind == REG_KIND_OCI_MANIFEST)
            rc = parse_subject(m, root, err);
        break;
    case REG_KIND_DOCKER_LIST:
    case REG_KIND_OCI_INDEX:
        rc = check_schema_version(root, 2, err);
        if (rc == REG_OK)
            rc = push_array(&children, root, "manifests", true, true, false,
                            err);
        if (rc == REG_OK && m->kind == REG_KIND_OCI_INDEX)
            rc = parse_subject(m, root, err);
        break;
    case REG_KIND_UNKNOWN:
    default: {
        json_t *cfg = json_object_get(root, "config");
        rc = REG_OK;
        if (json_is_object(cfg))
            rc = push_descriptor(&blobs, cfg, "config", false, true, err);
        if (rc == REG_OK && json_is_array(json_object_get(root, "layers")))
            rc = push_array(&blobs, root, "layers", false, false, true, err);
        if (rc == REG_OK && json_is_array(json_object_get(root, "blobs")))
            rc = push_array(&blobs, root, "blobs", false, false, true, err);
        if (rc == REG_OK)
            rc = parse_subject(m, root, err);
        break;
    }
    }
    if (rc != REG_OK)
        goto cleanup;

    m->blobs = blobs.v;
    m->n_blobs = blobs.n;
    m->children = children.v;
    m->n_children = children.n;
    blobs.v = children.v = NULL;
    blobs.n = children.n = 0;
    *out = m;
    m = NULL;
    rc = REG_OK;
    goto cleanup;

oom:
    rc = reg_error_set(err, REG_ENOMEM, "out of memory");
cleanup:
    vec_free(&blobs);
    vec_free(&children);
    reg_manifest_free(m);
    json_decref(root);
    return rc;
}
