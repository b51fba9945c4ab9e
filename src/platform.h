/*
 * platform.h - platform specs (--platforms, a rule's `platforms:`) and the
 * matcher that picks an index's children by them (issue 14).
 *
 * A spec is `os/arch[/variant][:os.version]`: `linux/amd64`,
 * `linux/arm64`, `linux/arm/v7`, `windows/amd64:10.0.17763`. Both the spec
 * and a child's `platform` object are normalised the way containerd's
 * platforms package does it: lower case; `macos` -> darwin; `x86_64`,
 * `x86-64` -> amd64 (variant v1 -> none); `aarch64` -> arm64 (variant
 * none, 8, v8, v8.0 -> v8; 9, 9.0, v9.0 -> v9); `i386` -> 386; `armhf` ->
 * arm/v7, `armel` -> arm/v6; arm: variant none or 7 -> v7, 5, 6, 8 -> v5,
 * v6, v8. After that the os, architecture and variant must be equal (a
 * spec without a variant, for an architecture without a default one, only
 * matches children without one). An `os.version` in the spec is a prefix
 * match at a dot boundary: `10.0.17763` matches `10.0.17763.1879`, not
 * `10.0.177630`; without one any os.version matches.
 *
 * A filtered index is the source index with the children that do not
 * match deleted, re-serialised by jansson (compact, keys sorted, so the
 * same source and filter always give the same bytes and digest); every
 * other member (mediaType, annotations, subject, ...) and the order of
 * the kept children are unchanged. When every child matches, the source
 * bytes are kept as they are (same digest).
 *
 * buildx's attestation manifests (children with annotations
 * `vnd.docker.reference.type: attestation-manifest` and
 * `vnd.docker.reference.digest: <child>`, platform unknown/unknown) are
 * kept exactly when the child they describe is, and are no platform of
 * their own (not in `platforms`).
 */
#ifndef IT_PLATFORM_H
#define IT_PLATFORM_H

#include <stdbool.h>
#include <stddef.h>

#include "errbuf.h"
#include "registry.h"

typedef struct it_platform {
    char os[32];
    char arch[32];
    char variant[16];
    char os_version[48]; /* empty: any (spec) / none (child) */
} it_platform;

/* Parses one spec into p (normalised). Returns 0, or -1 with a message
 * saying what is wrong (the spec is quoted only when printable). */
int it_platform_parse(it_platform *p, const char *spec, it_errbuf *err);
/* Normalises a child's platform (any argument may be NULL) into p. A
 * name with anything but letters, digits, '.', '_' and '-', an os.version
 * that is not dotted numbers, or a value too long for p gives an empty
 * platform that never matches (these come from registries). */
void it_platform_from(it_platform *p, const char *os, const char *arch,
                      const char *variant, const char *os_version);
/* Whether a child's platform `have` matches the spec. */
bool it_platform_match(const it_platform *spec, const it_platform *have);
/* "os/arch[/variant][:os.version]" into buf (cap bytes, truncated). */
void it_platform_format(const it_platform *p, char *buf, size_t cap);

/* A set of specs: NULL-terminated arrays of strings, each one spec or a
 * comma-separated list of them. */
typedef struct it_platform_set {
    it_platform *v;
    size_t n;
} it_platform_set;

/* Parses specs into s (zeroed first). An empty list is an error too.
 * `what` names the flag or file in messages ("--platforms",
 * "transfer-rule.yaml:12"). Returns 0 or -1 with a message. */
int it_platform_set_parse(it_platform_set *s, char *const *specs,
                          const char *what, it_errbuf *err);
void it_platform_set_free(it_platform_set *s);
bool it_platform_set_match(const it_platform_set *s, const it_platform *have);
/* The set as one canonical string: normalised specs, sorted, without
 * duplicates, comma-separated (so `linux/arm64,linux/amd64` and
 * `linux/amd64,aarch64...` orders give the same key). malloc'd, NULL when
 * out of memory. */
char *it_platform_set_key(const it_platform_set *s);

/* The result of filtering an index. */
typedef struct it_platform_filtered {
    unsigned char *body; /* the new index; NULL when every child matched */
                         /* (the source bytes stand) */
    size_t len;
    size_t kept, total; /* children kept (attestations too) / in the */
                        /* source */
    char *platforms;    /* the kept children's platforms, in order, */
                        /* comma-separated (malloc'd, "" when none) */
} it_platform_filtered;

/* Filters the index `body` (a Docker manifest list or OCI index, at most
 * 4 MiB) by s into out (zeroed first). kept == 0 means no child matched
 * (out->body is NULL then). Returns 0 or -1 with a message (not JSON, no
 * `manifests` array, out of memory). */
int it_platform_filter_index(it_platform_filtered *out, const void *body,
                             size_t len, const it_platform_set *s,
                             it_errbuf *err);
void it_platform_filtered_clear(it_platform_filtered *f);

/* Whether a target index with digest target_digest equals the source
 * index src filtered by s (for --verify): true when the digest of the
 * filtered bytes (or of src itself when every child matched) equals
 * target_digest. Its children are the source's own manifests, pushed by
 * digest, so equal index bytes mean equal children. False for a source
 * that is not an index, when no child matches, or on error. */
bool it_platform_index_filtered_equal(const reg_manifest *src,
                                      const it_platform_set *s,
                                      const char *target_digest);

#endif /* IT_PLATFORM_H */
