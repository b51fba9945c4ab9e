/*
 * regops.h - the registry seam of the engine: the few registry operations
 * the engine uses, as a table of functions, so unit tests can drive the
 * engine against an in-memory registry (tests/unit/memreg.h) instead of
 * real ones (the way tencentcloud/ has a transport seam).
 *
 * Every function has the contract of the registry library function it is
 * named after (registry/registry.h): 0 or a negative REG_E* code with the
 * message in err; `**out` results belong to the caller. `self` is the
 * table's own state. Clients are opaque handles made by client_new; the
 * engine never looks inside. All functions are called from worker threads
 * and must be thread-safe.
 */
#ifndef IT_REGOPS_H
#define IT_REGOPS_H

#include "registry.h"

/* A registry client as the seam sees it (for the real table, a
 * reg_client). */
typedef struct it_regclient it_regclient;

typedef struct it_regops {
    void *self;
    int (*client_new)(void *self, it_regclient **out, const reg_client_opts *o,
                      reg_error *err);
    void (*client_free)(void *self, it_regclient *c);
    const char *(*client_host)(void *self, const it_regclient *c);

    int (*manifest_get)(void *self, reg_manifest **out, it_regclient *c,
                        const char *repo, const char *ref, reg_error *err);
    int (*manifest_head)(void *self, it_regclient *c, const char *repo,
                         const char *ref, char digest_out[REG_DIGEST_LEN + 1],
                         reg_error *err);
    int (*manifest_put)(void *self, it_regclient *c, const char *repo,
                        const char *ref, const reg_manifest *m, reg_error *err);

    int (*tags_each)(void *self, it_regclient *c, const char *repo,
                     const reg_list_limits *lim, reg_list_fn fn, void *payload,
                     reg_error *err);
    int (*tags_list)(void *self, char ***out, it_regclient *c, const char *repo,
                     reg_error *err);

    int (*blob_exists)(void *self, it_regclient *c, const char *repo,
                       const char *digest, reg_error *err);
    int (*blob_mount)(void *self, it_regclient *c, const char *repo,
                      const char *digest, const char *from_repo,
                      reg_error *err);
    int (*blob_copy)(void *self, it_regclient *src, const char *src_repo,
                     it_regclient *dst, const char *dst_repo,
                     const reg_descriptor *d, const reg_copy_opts *opts,
                     reg_error *err);

    /* issue 13, referrers: reg_referrers_api (REG_EUNSUPPORTED when the
     * registry does not serve the referrers API). */
    int (*referrers_api)(void *self, reg_referrers **out, it_regclient *c,
                         const char *repo, const char *digest, reg_error *err);
    /* whole namespaces and pruning (14C): reg_repos_each (the
     * repositories below prefix) and reg_manifest_delete */
    int (*repos_each)(void *self, it_regclient *c, const char *prefix,
                      const reg_list_limits *lim, reg_list_fn fn, void *payload,
                      bool *used_harbor, reg_error *err);
    int (*manifest_delete)(void *self, it_regclient *c, const char *repo,
                           const char *ref, reg_error *err);
    /* issue 14, platforms: a small blob (an image config) into memory */
    int (*blob_get)(void *self, unsigned char **out, size_t *len_out,
                    it_regclient *c, const char *repo, const char *digest,
                    size_t max_len, reg_error *err);
    /* --verify (issue 13): manifest_head that also gives the media type
     * (*media_type_out malloc'd or NULL when the registry sent none). */
    int (*manifest_head_mt)(void *self, it_regclient *c, const char *repo,
                            const char *ref,
                            char digest_out[REG_DIGEST_LEN + 1],
                            char **media_type_out, reg_error *err);
    /* issue 15: manifest_head when the digest is probably `expect` (the
     * journal's): a registry may then answer without reading the
     * manifest. Optional: NULL means manifest_head. */
    int (*manifest_head_if)(void *self, it_regclient *c, const char *repo,
                            const char *ref, const char *expect,
                            char digest_out[REG_DIGEST_LEN + 1],
                            reg_error *err);
} it_regops;

/* The table that reaches real registries through registry/, with g the
 * library's process-wide state (self). */
void it_regops_default(it_regops *ops, reg_global *g);

#endif /* IT_REGOPS_H */
