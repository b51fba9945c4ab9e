/*
 * engine_prune.c - --prune (issue 14): once a repository's listing ended
 * complete and every image of it ended, the target tags that the source
 * no longer has (the tags the listing selected and queued are kept) are
 * deleted. Never a repository, never a tag of another repository, never
 * after a failed, cut or empty listing, never for a rule naming tags or a
 * digest.
 *
 * A tag is deleted by tag first (OCI 1.1). A registry that refuses that
 * (Distribution 2.8: 400 / 405) deletes by digest only, which removes
 * every tag pointing at the manifest: that is done only when no kept tag
 * of the target points at the same digest; otherwise the tag is reported
 * as not deletable, with the reason.
 */
#include "engine_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool eng_prune_applies(const it_engine *e, const repo_ctx *r)
{
    return e->o.prune && !r->pair.wildcard && !r->pair.tags &&
           !r->pair.src_digest && !r->pair.list_tags && !r->pair.dst_tag;
}

/* The state of one repository's pruning. */
typedef struct prune_ctx {
    it_engine *e;
    repo_ctx *r;
    it_regclient *dst;
    /* The digests the kept tags point at in the target, learned once
     * (only when a delete by digest is considered). */
    char (*kept)[REG_DIGEST_LEN + 1];
    char **kept_tags;
    size_t nkept;
    bool kept_known;
} prune_ctx;

static void emit(prune_ctx *pc, const char *tag, it_image_status st,
                 const char *digest, const char *why)
{
    char target[1200];
    snprintf(target, sizeof(target), "%s:%s", pc->r->dst_name, tag);
    eng_emit(pc->e, &(it_event){.kind = IT_EV_TAG_PRUNED,
                                .repo = pc->r->id,
                                .source = pc->r->src_name,
                                .target = target,
                                .digest = digest,
                                .status = st,
                                .text = why});
}

typedef struct kept_walk {
    prune_ctx *pc;
    bool oom;
} kept_walk;

static void collect_kept(void *payload, const char *tag, void *value)
{
    kept_walk *kw = payload;
    prune_ctx *pc = kw->pc;
    (void)value;
    if (kw->oom)
        return;
    char **t = realloc(pc->kept_tags, (pc->nkept + 1) * sizeof(*t));
    if (!t) {
        kw->oom = true;
        return;
    }
    pc->kept_tags = t;
    if (!(t[pc->nkept] = strdup(tag))) {
        kw->oom = true;
        return;
    }
    pc->nkept++;
}

/* Learns the target digest of every kept tag (a kept tag the target does
 * not hold, e.g. its copy failed, has digest ""). -1 on failure. */
static int learn_kept(prune_ctx *pc, reg_error *err)
{
    if (pc->kept_known)
        return 0;
    kept_walk kw = {.pc = pc};
    it_strmap_each(pc->r->prune_keep, collect_kept, &kw);
    if (kw.oom ||
        (pc->nkept && !(pc->kept = calloc(pc->nkept, sizeof(*pc->kept))))) {
        reg_error_set(err, REG_ENOMEM, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < pc->nkept; i++) {
        int rc, attempt = 0;
        do {
            rc = pc->e->ops.manifest_head(pc->e->ops.self, pc->dst,
                                          pc->r->pair.dst_repo,
                                          pc->kept_tags[i], pc->kept[i], err);
        } while (eng_again(pc->e, rc, err, &attempt, "head a kept tag"));
        if (rc == REG_ENOTFOUND)
            pc->kept[i][0] = '\0';
        else if (rc != 0)
            return -1;
    }
    pc->kept_known = true;
    return 0;
}

/* The kept tag pointing at digest d, or NULL. */
static const char *kept_at(const prune_ctx *pc, const char *d)
{
    for (size_t i = 0; i < pc->nkept; i++)
        if (strcmp(pc->kept[i], d) == 0)
            return pc->kept_tags[i];
    return NULL;
}

/* The registry refused the delete by tag: by digest, when no kept tag
 * shares it. */
static void prune_by_digest(prune_ctx *pc, const char *tag)
{
    it_engine *e = pc->e;
    reg_error err = {0};
    char d[REG_DIGEST_LEN + 1] = "";
    char why[700];
    int rc, attempt = 0;
    do {
        rc = e->ops.manifest_head(e->ops.self, pc->dst, pc->r->pair.dst_repo,
                                  tag, d, &err);
    } while (eng_again(e, rc, &err, &attempt, "head a tag to prune"));
    if (rc == REG_ENOTFOUND) { /* gone with a digest deleted before */
        emit(pc, tag, IT_STATUS_PRUNED, NULL, NULL);
        return;
    }
    if (rc != 0 || learn_kept(pc, &err) != 0) {
        snprintf(why, sizeof(why), "prune: %s", err.msg);
        emit(pc, tag, IT_STATUS_FAILED, d[0] ? d : NULL, why);
        return;
    }
    const char *shared = kept_at(pc, d);
    if (shared) {
        snprintf(why, sizeof(why),
                 "not deletable: this registry deletes by digest only, and "
                 "%s is also tagged '%.140s', which the source still has",
                 d, shared);
        emit(pc, tag, IT_STATUS_NOT_PRUNED, d, why);
        return;
    }
    attempt = 0;
    do {
        rc = e->ops.manifest_delete(e->ops.self, pc->dst, pc->r->pair.dst_repo,
                                    d, &err);
    } while (eng_again(e, rc, &err, &attempt, "delete a manifest"));
    if (rc == 0 || rc == REG_ENOTFOUND) {
        emit(pc, tag, IT_STATUS_PRUNED, d, NULL);
        return;
    }
    if (rc == REG_EUNSUPPORTED)
        snprintf(why, sizeof(why),
                 "prune: the registry %s refuses deletes (%s); enable them "
                 "(Distribution: storage.delete.enabled: true, or "
                 "REGISTRY_STORAGE_DELETE_ENABLED=true)",
                 pc->r->pair.dst_host, err.msg);
    else
        snprintf(why, sizeof(why), "prune: %s", err.msg);
    emit(pc, tag, IT_STATUS_FAILED, d, why);
}

static void prune_tag(prune_ctx *pc, const char *tag)
{
    it_engine *e = pc->e;
    if (e->o.dry_run) {
        emit(pc, tag, IT_STATUS_PRUNE_PLANNED, NULL, NULL);
        if (!e->o.plan_quiet) {
            char *t = it_sanitize_dup(pc->r->dst_name);
            char *s = it_sanitize_dup(tag);
            fprintf(e->o.plan_out ? e->o.plan_out : stdout,
                    "prune %s:%s (the source no longer has it)\n", t ? t : "?",
                    s ? s : "?");
            free(t);
            free(s);
        }
        return;
    }
    reg_error err = {0};
    int rc, attempt = 0;
    do {
        rc = e->ops.manifest_delete(e->ops.self, pc->dst, pc->r->pair.dst_repo,
                                    tag, &err);
    } while (eng_again(e, rc, &err, &attempt, "delete a tag"));
    if (rc == 0 || rc == REG_ENOTFOUND) {
        emit(pc, tag, IT_STATUS_PRUNED, NULL, NULL);
    } else if (rc == REG_EUNSUPPORTED) {
        prune_by_digest(pc, tag);
    } else {
        char why[700];
        snprintf(why, sizeof(why), "prune: %s", err.msg);
        emit(pc, tag, IT_STATUS_FAILED, NULL, why);
    }
}

void eng_prune_repo(it_engine *e, repo_ctx *r)
{
    reg_error err = {0};
    r->prune_ready = false; /* once */
    if (eng_stopping(e) || !r->dst_tags || !r->prune_keep)
        return;
    prune_ctx pc = {.e = e, .r = r};
    for (char **t = r->dst_tags; *t; t++) {
        if (it_strmap_get(r->prune_keep, *t))
            continue;
        if (!pc.dst) {
            pc.dst = eng_get_client(e, r->pair.dst_host, r->pair.dst_repo, NULL,
                                    &err);
            if (!pc.dst) {
                char why[700];
                snprintf(why, sizeof(why), "prune: %s", err.msg);
                emit(&pc, *t, IT_STATUS_FAILED, NULL, why);
                break;
            }
        }
        if (eng_stopping(e))
            break;
        prune_tag(&pc, *t);
    }
    for (size_t i = 0; i < pc.nkept; i++)
        free(pc.kept_tags[i]);
    free(pc.kept_tags);
    free(pc.kept);
}
