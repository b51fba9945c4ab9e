/* engine_regops.c - the registry seam's default table: the registry
 * library itself (an it_regclient is a reg_client). */
#include "regops.h"

static reg_client *rc(it_regclient *c)
{
    return (reg_client *)c;
}

static int d_client_new(void *self, it_regclient **out,
                        const reg_client_opts *o, reg_error *err)
{
    reg_client *c = NULL;
    int rc_ = reg_client_new(&c, self, o, err);
    *out = (it_regclient *)c;
    return rc_;
}

static void d_client_free(void *self, it_regclient *c)
{
    (void)self;
    reg_client_free(rc(c));
}

static const char *d_client_host(void *self, const it_regclient *c)
{
    (void)self;
    return reg_client_host((const reg_client *)c);
}

static int d_manifest_get(void *self, reg_manifest **out, it_regclient *c,
                          const char *repo, const char *ref, reg_error *err)
{
    (void)self;
    return reg_manifest_get(out, rc(c), repo, ref, err);
}

static int d_manifest_head(void *self, it_regclient *c, const char *repo,
                           const char *ref, char digest_out[REG_DIGEST_LEN + 1],
                           reg_error *err)
{
    (void)self;
    return reg_manifest_head(rc(c), repo, ref, digest_out, NULL, NULL, err);
}

static int d_manifest_head_if(void *self, it_regclient *c, const char *repo,
                              const char *ref, const char *expect,
                              char digest_out[REG_DIGEST_LEN + 1],
                              reg_error *err)
{
    (void)self;
    return reg_manifest_head_if(rc(c), repo, ref, expect, digest_out, err);
}

static int d_manifest_head_mt(void *self, it_regclient *c, const char *repo,
                              const char *ref,
                              char digest_out[REG_DIGEST_LEN + 1],
                              char **media_type_out, reg_error *err)
{
    (void)self;
    return reg_manifest_head(rc(c), repo, ref, digest_out, media_type_out, NULL,
                             err);
}

static int d_manifest_put(void *self, it_regclient *c, const char *repo,
                          const char *ref, const reg_manifest *m,
                          reg_error *err)
{
    (void)self;
    return reg_manifest_put(rc(c), repo, ref, m, err);
}

static int d_tags_each(void *self, it_regclient *c, const char *repo,
                       const reg_list_limits *lim, reg_list_fn fn,
                       void *payload, reg_error *err)
{
    (void)self;
    return reg_tags_each(rc(c), repo, 0, lim, fn, payload, err);
}

static int d_tags_list(void *self, char ***out, it_regclient *c,
                       const char *repo, reg_error *err)
{
    (void)self;
    return reg_tags_list(out, NULL, rc(c), repo, 0, err);
}

static int d_blob_exists(void *self, it_regclient *c, const char *repo,
                         const char *digest, reg_error *err)
{
    (void)self;
    return reg_blob_exists(rc(c), repo, digest, NULL, err);
}

static int d_blob_mount(void *self, it_regclient *c, const char *repo,
                        const char *digest, const char *from_repo,
                        reg_error *err)
{
    (void)self;
    return reg_blob_mount(rc(c), repo, digest, from_repo, err);
}

static int d_blob_get(void *self, unsigned char **out, size_t *len_out,
                      it_regclient *c, const char *repo, const char *digest,
                      size_t max_len, reg_error *err)
{
    (void)self;
    return reg_blob_get(out, len_out, rc(c), repo, digest, max_len, err);
}

static int d_blob_copy(void *self, it_regclient *src, const char *src_repo,
                       it_regclient *dst, const char *dst_repo,
                       const reg_descriptor *d, const reg_copy_opts *opts,
                       reg_error *err)
{
    (void)self;
    return reg_blob_copy(rc(src), src_repo, rc(dst), dst_repo, d, opts, err);
}

static int d_referrers_api(void *self, reg_referrers **out, it_regclient *c,
                           const char *repo, const char *digest, reg_error *err)
{
    (void)self;
    return reg_referrers_api(out, rc(c), repo, digest, err);
}

/* whole namespaces and pruning (14C) */
static int d_repos_each(void *self, it_regclient *c, const char *prefix,
                        const reg_list_limits *lim, reg_list_fn fn,
                        void *payload, bool *used_harbor, reg_error *err)
{
    (void)self;
    return reg_repos_each(rc(c), prefix, lim, fn, payload, used_harbor, err);
}

static int d_manifest_delete(void *self, it_regclient *c, const char *repo,
                             const char *ref, reg_error *err)
{
    (void)self;
    return reg_manifest_delete(rc(c), repo, ref, err);
}

void it_regops_default(it_regops *ops, reg_global *g)
{
    ops->self = g;
    ops->client_new = d_client_new;
    ops->client_free = d_client_free;
    ops->client_host = d_client_host;
    ops->manifest_get = d_manifest_get;
    ops->manifest_head = d_manifest_head;
    ops->manifest_head_mt = d_manifest_head_mt; /* --verify */
    ops->manifest_put = d_manifest_put;
    ops->tags_each = d_tags_each;
    ops->tags_list = d_tags_list;
    ops->blob_exists = d_blob_exists;
    ops->blob_mount = d_blob_mount;
    ops->blob_copy = d_blob_copy;
    ops->referrers_api = d_referrers_api;
    ops->repos_each = d_repos_each;             /* 14C */
    ops->manifest_delete = d_manifest_delete;   /* 14C */
    ops->blob_get = d_blob_get;                 /* issue 14 */
    ops->manifest_head_if = d_manifest_head_if; /* issue 15 */
}
