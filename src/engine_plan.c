/*
 * engine_plan.c - the dry run: count the blobs and bytes an image would move.
 */
#include "engine_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Counts the blobs (and bytes) of m and its children not yet planned for
 * the target registry. */
int eng_plan_manifest(it_engine *e, image_ctx *img, reg_manifest *m,
                      long *nblobs, int64_t *bytes, reg_error *err)
{
    repo_ctx *r = img->repo;
    if (reg_manifest_is_index(m)) {
        for (size_t i = 0; i < m->n_children; i++) {
            reg_manifest *c = NULL;
            int rc, attempt = 0;
            do {
                rc = e->ops.manifest_get(e->ops.self, &c, r->src,
                                         r->pair.src_repo,
                                         m->children[i].digest, err);
            } while (eng_again(e, rc, err, &attempt, "get child manifest"));
            if (rc != 0)
                return rc;
            rc = eng_plan_manifest(e, img, c, nblobs, bytes, err);
            reg_manifest_free(c);
            if (rc != 0)
                return rc;
        }
        return 0;
    }
    pthread_mutex_lock(&e->blobs_lock);
    for (size_t i = 0; i < m->n_blobs; i++) {
        char *key = eng_join2(e->ops.client_host(e->ops.self, img->dst), ' ',
                              m->blobs[i].digest);
        if (key && !it_strmap_get(e->planned, key)) {
            it_strmap_put(e->planned, key, (void *)1);
            (*nblobs)++;
            if (m->blobs[i].size > 0)
                *bytes = it_add_sat(*bytes, m->blobs[i].size);
        }
        free(key);
    }
    pthread_mutex_unlock(&e->blobs_lock);
    return 0;
}
