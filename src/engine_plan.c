/*
 * engine_plan.c - the dry run: the blobs and bytes an image would move
 * (each distinct blob counted once per target registry), one plan line per
 * image.
 */
#include "engine_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Counts the blobs (and bytes) of image manifest m not yet planned for the
 * target registry. */
static void plan_blobs(it_engine *e, image_ctx *img, const reg_manifest *m,
                       long *nblobs, int64_t *bytes)
{
    const char *host = e->ops.client_host(e->ops.self, img->dst);
    pthread_mutex_lock(&e->blobs_lock);
    for (size_t i = 0; i < m->n_blobs; i++) {
        char *key = it_join2(host, ' ', m->blobs[i].digest);
        if (key && !it_strmap_get(e->planned, key)) {
            it_strmap_put(e->planned, key, (void *)1);
            (*nblobs)++;
            if (m->blobs[i].size > 0)
                *bytes = it_add_sat(*bytes, m->blobs[i].size);
        }
        free(key);
    }
    pthread_mutex_unlock(&e->blobs_lock);
}

/* The same for m and, for an index, each of its children (fetched). */
static int plan_manifest(it_engine *e, image_ctx *img, const reg_manifest *m,
                         long *nblobs, int64_t *bytes, reg_error *err)
{
    repo_ctx *r = img->repo;
    int rc = 0;
    if (!reg_manifest_is_index(m)) {
        plan_blobs(e, img, m, nblobs, bytes);
        return 0;
    }
    for (size_t i = 0; i < m->n_children && rc == 0; i++) {
        reg_manifest *c = NULL;
        int attempt = 0;
        do {
            rc = e->ops.manifest_get(e->ops.self, &c, r->src, r->pair.src_repo,
                                     m->children[i].digest, err);
        } while (eng_again(e, rc, err, &attempt, "get child manifest"));
        if (rc == 0)
            rc = plan_manifest(e, img, c, nblobs, bytes, err);
        reg_manifest_free(c);
    }
    return rc;
}

int eng_plan_image(it_engine *e, image_ctx *img, const reg_manifest *m,
                   reg_error *err)
{
    long nblobs = 0;
    int64_t bytes = 0;
    int rc = plan_manifest(e, img, m, &nblobs, &bytes, err);
    if (rc != 0)
        return rc;
    atomic_store(&img->bytes, bytes);
    char *src = it_sanitize_dup(img->src_str);
    char *dst = it_sanitize_dup(img->dst_str);
    fprintf(e->o.plan_out ? e->o.plan_out : stdout,
            "copy %s -> %s (%ld new blobs, %lld bytes)\n", src ? src : "?",
            dst ? dst : "?", nblobs, (long long)bytes);
    free(src);
    free(dst);
    return 0;
}
