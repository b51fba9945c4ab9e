/*
 * engine_blobs.c - the blob table: (target registry, digest) -> repositories of
 * that registry known to hold the blob, whether it is in flight, and the last
 * failure of a copy of it.
 */
#include "engine_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool eng_entry_has(const blob_entry *be, const char *repo, bool *verified)
{
    for (size_t i = 0; i < be->nrepos; i++) {
        if (strcmp(be->repos[i], repo) == 0) {
            *verified = be->verified[i];
            return true;
        }
    }
    return false;
}

void eng_entry_add(blob_entry *be, const char *repo, bool verified)
{
    for (size_t i = 0; i < be->nrepos; i++) {
        if (strcmp(be->repos[i], repo) == 0) {
            be->verified[i] = be->verified[i] || verified;
            return;
        }
    }
    char **r = realloc(be->repos, (be->nrepos + 1) * sizeof(*r));
    if (!r)
        return;
    be->repos = r;
    bool *v = realloc(be->verified, (be->nrepos + 1) * sizeof(*v));
    if (!v)
        return;
    be->verified = v;
    be->repos[be->nrepos] = strdup(repo);
    if (!be->repos[be->nrepos])
        return;
    be->verified[be->nrepos++] = verified;
}

blob_entry *eng_entry_get(it_engine *e, const char *key)
{
    blob_entry *be = it_strmap_get(e->blobs, key);
    if (!be) {
        be = calloc(1, sizeof(*be));
        if (be)
            it_strmap_put(e->blobs, key, be);
    }
    return be;
}

void eng_entry_free(void *p)
{
    blob_entry *be = p;
    for (size_t i = 0; i < be->nrepos; i++)
        free(be->repos[i]);
    free(be->repos);
    free(be->verified);
    free(be->failed_src);
    free(be->failed_err);
    free(be);
}

void it_engine_seed_blob(it_engine *e, const char *registry, const char *repo,
                         const char *digest)
{
    char *key = eng_join2(registry, ' ', digest);
    if (!key)
        return;
    pthread_mutex_lock(&e->blobs_lock);
    blob_entry *be = eng_entry_get(e, key);
    if (be)
        eng_entry_add(be, repo, false);
    pthread_mutex_unlock(&e->blobs_lock);
    free(key);
}
