/*
 * engine_expand.c - whole namespaces (issue 14): the REPO task of a
 * wildcard pair (a rule source such as registry.example.com/team/<star>)
 * lists the repositories below its prefix (the catalog, or the Harbor API
 * where the catalog is refused: reg_repos_each) and adds one pair per
 * repository found, page by page, so the copies start while the listing
 * goes on and memory holds one page of names.
 */
#include "engine_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules.h"

/* One expansion attempt: pages re-delivered by a retried listing are
 * skipped up to what was added before. */
typedef struct expand_ctx {
    it_engine *e;
    repo_ctx *r;
    size_t seen;  /* names delivered in this attempt */
    size_t added; /* names handled (added or left to another shard) */
    size_t found; /* pairs added */
    bool stopped, oom;
} expand_ctx;

/* Adds the pair of one repository found below the prefix. */
static int add_found(expand_ctx *x, const char *name)
{
    const it_pair *w = &x->r->pair;
    if (x->e->o.takes_repo && !x->e->o.takes_repo(x->e->o.takes_payload, name))
        return 0; /* another shard's */
    char *dst = it_wildcard_target(w, name);
    if (!dst)
        return -1;
    it_pair p = {.src_host = w->src_host,
                 .src_repo = (char *)name,
                 .dst_host = w->dst_host,
                 .dst_repo = dst};
    int rc = it_engine_add_pair(x->e, &p);
    free(dst);
    if (rc == 0)
        x->found++;
    return rc;
}

/* reg_list_fn: the names of one page (all below the prefix). */
static int on_repos_page(void *payload, char *const *names, size_t n)
{
    expand_ctx *x = payload;
    for (size_t i = 0; i < n; i++, x->seen++) {
        if (x->seen < x->added)
            continue; /* added by an earlier attempt */
        if (eng_stopping(x->e)) {
            x->stopped = true;
            return 1;
        }
        if (add_found(x, names[i]) != 0) {
            x->oom = true;
            return 1;
        }
        x->added++;
    }
    return 0;
}

void eng_expand_repo(it_engine *e, repo_ctx *r)
{
    reg_error err = {0};
    expand_ctx x = {.e = e, .r = r};
    bool harbor = false;
    int rc, attempt = 0;

    r->src = eng_get_client(e, r->pair.src_host, r->pair.src_repo, NULL, &err);
    if (!r->src) {
        eng_repo_fail(e, r, err.msg);
        return;
    }
    eng_emit(e, &(it_event){.kind = IT_EV_REPO_STATE,
                            .repo = r->id,
                            .repo_state = IT_REPO_LISTING});
    pthread_mutex_lock(&e->lock);
    r->listing = true;
    pthread_mutex_unlock(&e->lock);
    /* --max-pages caps the pages of this listing too; the repositories
     * are capped by the library default (1,000,000). */
    reg_list_limits lim = {.max_pages = e->o.max_pages};
    do {
        x.seen = 0;
        rc = e->ops.repos_each(e->ops.self, r->src, r->pair.src_repo, &lim,
                               on_repos_page, &x, &harbor, &err);
    } while (!x.stopped && !x.oom &&
             eng_again(e, rc, &err, &attempt, "list repositories"));
    if (x.oom)
        rc =
            reg_error_set(&err, REG_ENOMEM, "list repositories: out of memory");
    else if (x.stopped)
        rc = 0;
    else if (rc == REG_ELIMIT)
        reg_error_prefix(&err, "list repositories (raise the limit with "
                               "--max-pages)");
    else if (rc != 0)
        reg_error_prefix(&err, "list repositories below %s", r->src_name);
    atomic_fetch_add(&e->repos_found, (long)x.found);

    char why[300];
    snprintf(why, sizeof(why), "%zu repositories found%s%s", x.found,
             harbor ? " (Harbor API)" : "",
             x.stopped ? " (the run was stopped)" : "");
    /* none at all (not: all of them another shard's) is worth a warning:
     * the rule copies nothing, and no repository row says so */
    if (rc == 0 && x.added == 0 && !x.stopped && r->pair.src_repo[0])
        log_warn("%s: no repositories found below %s%s: the rule copies "
                 "nothing",
                 r->src_name, r->pair.src_repo, harbor ? " (Harbor API)" : "");
    else if (rc == 0 && x.added == 0 && !x.stopped)
        log_warn("%s: the registry lists no repositories%s: the rule copies "
                 "nothing",
                 r->src_name, harbor ? " (Harbor API)" : "");
    else if (rc == 0)
        log_info("%s: %s", r->src_name, why);
    else
        log_info("%s: %s before the listing failed", r->src_name, why);

    it_repo_state rs;
    pthread_mutex_lock(&e->lock);
    r->listing = false;
    r->list_failed = rc != 0;
    bool settled = eng_repo_settled_locked(r, &rs);
    pthread_mutex_unlock(&e->lock);
    it_event ev = {.kind = IT_EV_REPO_LISTED,
                   .repo = r->id,
                   .source = r->src_name,
                   .target = r->dst_name,
                   .count = 0,
                   .status = IT_STATUS_COPIED,
                   .text = why};
    if (rc != 0) {
        ev.status = IT_STATUS_FAILED;
        ev.text = err.msg;
    } else if (x.stopped) {
        ev.status = IT_STATUS_PENDING;
        ev.text = "listing not finished: the run was stopped";
    }
    /* a wildcard's own row has no tags: "no tags" is not a warning */
    if (ev.status != IT_STATUS_COPIED)
        eng_emit(e, &ev);
    if (settled)
        eng_repo_settled(e, r, rc != 0 ? IT_REPO_FAILED : IT_REPO_DONE,
                         rc != 0 ? err.msg : why);
}
