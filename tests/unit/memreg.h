/*
 * memreg.h - an in-memory registry behind the engine's registry seam
 * (src/regops.h), for unit tests: registries (by host) holding
 * repositories with tags, manifests and blobs; a log of every call; and
 * programmable failures and a hook so that a timing case ("blob in
 * flight") can be produced on purpose.
 *
 * Thread-safe (one lock). Blobs have no bytes, only a digest and a size.
 */
#ifndef MEMREG_H
#define MEMREG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "regops.h"

typedef enum memreg_op {
    MR_CLIENT_NEW = 0,
    MR_MANIFEST_GET,
    MR_MANIFEST_HEAD,
    MR_MANIFEST_PUT,
    MR_TAGS_EACH,
    MR_TAGS_LIST,
    MR_BLOB_EXISTS,
    MR_BLOB_MOUNT,
    MR_BLOB_COPY,
    MR_REFERRERS,       /* issue 13 */
    MR_REPOS_EACH,      /* 14C: ref = the prefix */
    MR_MANIFEST_DELETE, /* 14C */
    MR_BLOB_GET,        /* issue 14 */
    MR_N_OPS
} memreg_op;

typedef struct memreg memreg;

memreg *memreg_new(void);
void memreg_free(memreg *m);
/* The seam's table for the engine (valid until memreg_free). */
const it_regops *memreg_ops(memreg *m);

/* A blob named `name` (its digest is sha256 of the name) of `size` bytes
 * in host/repo; the digest in digest_out. blob_get reads the name as the
 * blob's bytes (so a config is a blob named by its JSON). */
void memreg_blob(memreg *m, const char *host, const char *repo,
                 const char *name, int64_t size, char digest_out[72]);
/* An OCI image manifest with blobs[0] as config and the rest as layers
 * (all must have been added with memreg_blob to host/repo), tagged `tag`
 * (NULL: by digest only). Its digest in digest_out. */
void memreg_image(memreg *m, const char *host, const char *repo,
                  const char *tag, const char *const *blobs, size_t n,
                  char digest_out[72]);
/* An OCI index of the given child manifests (in host/repo), tagged. */
void memreg_index(memreg *m, const char *host, const char *repo,
                  const char *tag, const char *const *children, size_t n,
                  char digest_out[72]);

/* Whether host/repo holds the blob / the manifest (by digest). */
bool memreg_has_blob(memreg *m, const char *host, const char *repo,
                     const char *digest);
bool memreg_has_manifest(memreg *m, const char *host, const char *repo,
                         const char *digest);
/* The digest host/repo's tag points at ("" when none), into out. */
void memreg_tag_digest(memreg *m, const char *host, const char *repo,
                       const char *tag, char out[72]);

/* Calls of op so far matching host, repo and ref (a manifest's tag or
 * digest; a blob's digest); NULL matches anything. For MR_BLOB_MOUNT and
 * MR_BLOB_COPY, host/repo are the target's. */
long memreg_calls(memreg *m, memreg_op op, const char *host, const char *repo,
                  const char *ref);
/* The position (0-based, over all calls) of the first call matching, or
 * -1. For ordering checks. */
long memreg_first_call(memreg *m, memreg_op op, const char *host,
                       const char *repo, const char *ref);

/* The next `times` calls (-1 = all) of op matching host/repo/ref (NULL =
 * any) fail with rc (a REG_E* code) and HTTP status `status` (0: no
 * answer; -1: the client's on_http hook is not called, as for a transfer
 * cancelled mid-way). Calls that do not fail report 200 to on_http. */
void memreg_fail(memreg *m, memreg_op op, const char *host, const char *repo,
                 const char *ref, int rc, long status, int times);

/* The same, for MR_BLOB_COPY: each failing copy first reports `partial`
 * bytes moved (a transfer that breaks in the middle). */
void memreg_fail_partial(memreg *m, memreg_op op, const char *host,
                         const char *repo, const char *ref, int rc, long status,
                         int times, int64_t partial);

/* Called at the start of every call, without the lock held (it may block,
 * e.g. on a condition the test signals). */
typedef void (*memreg_hook_fn)(void *payload, memreg_op op, const char *host,
                               const char *repo, const char *ref);
void memreg_set_hook(memreg *m, memreg_hook_fn fn, void *payload);

/* issue 13, referrers. Any manifest JSON (mt its media type) into
 * host/repo under tag (NULL: by digest only); its digest in digest_out. */
void memreg_put(memreg *m, const char *host, const char *repo, const char *tag,
                const char *mt, const char *json, char digest_out[72]);
/* host serves the referrers API (answered from the manifests with a
 * subject); without this call it answers REG_EUNSUPPORTED (404). */
void memreg_serve_referrers(memreg *m, const char *host);
/* Whole namespaces (14C): an empty repository host/repo (listed by
 * repos_each). memreg deletes manifests by tag (OCI 1.1) and by digest
 * (every tag pointing at it goes); a registry that refuses deletes by tag
 * is made with memreg_fail(MR_MANIFEST_DELETE, .., tag, REG_EUNSUPPORTED,
 * 405, -1). */
void memreg_repo(memreg *m, const char *host, const char *repo);
/* issue 14, platforms: a blob with bytes (an image config; its digest is
 * the sha256 of the bytes, its size their length), and a manifest of any
 * JSON (media type given), tagged (NULL: by digest only). */
void memreg_blob_data(memreg *m, const char *host, const char *repo,
                      const char *bytes, char digest_out[72]);
void memreg_manifest(memreg *m, const char *host, const char *repo,
                     const char *tag, const char *media_type, const char *json,
                     char digest_out[72]);
/* --verify tests (issue 13): removes a blob / a manifest (by digest) from
 * host/repo, as if someone deleted it from the registry's storage. */
void memreg_drop_blob(memreg *m, const char *host, const char *repo,
                      const char *digest);
void memreg_drop_manifest(memreg *m, const char *host, const char *repo,
                          const char *digest);
/* Resume across restarts: the last reg_copy_opts.resume_url a copy was
 * given (malloc'd), or NULL. A copy with on_session reports a session
 * (held: half the blob) before its outcome, and NULL when it landed. */
char *memreg_last_resume_url(memreg *m);

#endif /* MEMREG_H */
