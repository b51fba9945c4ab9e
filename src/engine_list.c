/*
 * engine_list.c - the REPO task: list the target's tags (in a helper thread,
 * while the source's first page is on its way), and stream the source tags
 * page by page into the queue (one IMAGE task per tag). No image is queued
 * before the target's listing is known.
 */
#include "engine_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *image_name(const char *host, const char *repo, const char *ref)
{
    size_t n = strlen(host) + strlen(repo) + strlen(ref) + 3;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s/%s%c%s", host, repo,
                 strncmp(ref, "sha256:", 7) == 0 ? '@' : ':', ref);
    return s;
}

/* Counts one more repository listed (or failed) and/or marks the input
 * done; when the input is done and every repository is listed, the totals
 * stop growing: "enumerated" is emitted, once, so the progress model can
 * estimate the end. */
void eng_enumeration_step(it_engine *e, bool input_done, bool one_listed,
                          bool hinted)
{
    bool report = false;
    pthread_mutex_lock(&e->lock);
    if (input_done)
        e->input_done = true;
    if (one_listed)
        e->repos_listed++;
    if (one_listed && !hinted)
        e->repos_unhinted--;
    /* Every repository listed, or known by its tags hint until it is. */
    if (e->input_done && e->repos_unhinted == 0 && !e->enum_reported)
        report = e->enum_reported = true;
    pthread_mutex_unlock(&e->lock);
    if (report) {
        eng_emit(e, &(it_event){.kind = IT_EV_ENUMERATED});
        eng_emit(e,
                 &(it_event){.kind = IT_EV_PHASE, .phase = IT_PHASE_COPYING});
    }
}

/* Queues one image of r: the source tag `tag`, or the pair's digest when
 * tag is NULL. Counted in the repository before it is queued, so the
 * repository cannot be declared done while its listing goes on. Returns 0,
 * or -1 when out of memory. */
static int queue_image(it_engine *e, repo_ctx *r, const char *tag)
{
    image_ctx *img = calloc(1, sizeof(*img));
    if (!img)
        return -1;
    img->repo = r;
    const char *src_ref = tag ? tag : r->pair.src_digest;
    img->tag = it_strdup0(tag);
    img->dst_ref = it_strdup0(r->pair.dst_tag ? r->pair.dst_tag : src_ref);
    img->src_str = img->dst_ref
                       ? image_name(r->pair.src_host, r->pair.src_repo, src_ref)
                       : NULL;
    img->dst_str = img->src_str ? image_name(r->pair.dst_host, r->pair.dst_repo,
                                             img->dst_ref)
                                : NULL;
    if ((tag && !img->tag) || !img->dst_str) {
        eng_image_free(img);
        return -1;
    }
    pthread_mutex_lock(&e->lock);
    img->id = (int)e->nimages++;
    e->live_images++;
    r->refs++;
    r->images_left++;
    r->queued++;
    pthread_mutex_unlock(&e->lock);
    eng_emit(e, &(it_event){.kind = IT_EV_IMAGE_ADDED,
                            .repo = r->id,
                            .image = img->id,
                            .source = img->src_str,
                            .target = img->dst_str,
                            .tag = img->tag ? img->tag : img->dst_ref});
    eng_enqueue(e, &img->task, T_IMAGE, img, 0);
    return 0;
}

/* One listing attempt's state: pages re-delivered by a retried listing
 * are skipped up to what was queued before. */
typedef struct list_ctx {
    it_engine *e;
    repo_ctx *r;
    size_t seen;  /* tags delivered in this attempt */
    bool stopped; /* the run was stopped */
    bool oom;
    pthread_t dst_thread; /* lists the target's tags meanwhile */
    bool dst_running;     /* dst_thread is to be joined */
} list_ctx;

/* Waits for the target's tag listing (started in list_repo): every image
 * is compared against it, so none is queued before it is known. */
static void await_target(list_ctx *lc)
{
    if (lc->dst_running) {
        pthread_join(lc->dst_thread, NULL);
        lc->dst_running = false;
    }
}

/* reg_list_fn: queues each tag of a page as it arrives, so a listing of
 * any length holds one page in memory. */
static int on_tags_page(void *payload, char *const *tags, size_t n)
{
    list_ctx *lc = payload;
    size_t queued;
    await_target(lc);
    pthread_mutex_lock(&lc->e->lock);
    queued = lc->r->queued;
    pthread_mutex_unlock(&lc->e->lock);
    for (size_t i = 0; i < n; i++, lc->seen++) {
        if (lc->seen < queued)
            continue; /* queued by an earlier attempt */
        if (eng_stopping(lc->e)) {
            lc->stopped = true;
            return 1;
        }
        if (queue_image(lc->e, lc->r, tags[i]) != 0) {
            lc->oom = true;
            return 1;
        }
    }
    return 0;
}

/* Lists the source tags page by page into the queue. Returns 0, or an
 * error in err (the repository's listing failed or hit a limit). */
static int list_source(it_engine *e, repo_ctx *r, list_ctx *lc, reg_error *err)
{
    if (r->pair.list_tags) {
        char **tags = NULL;
        it_errbuf lerr = {{0}};
        int lrc = r->pair.list_tags(r->pair.list_payload, r->pair.src_repo,
                                    &tags, &lerr);
        if (lrc != 0)
            return reg_error_set(err,
                                 lrc == IT_LIST_AGAIN ? REG_ERETRY : REG_ERR,
                                 "%s", lerr.msg);
        size_t n = 0;
        while (tags && tags[n])
            n++;
        on_tags_page(lc, tags, n);
        reg_strv_free(tags);
        return 0;
    }
    if (r->pair.tags) {
        size_t n = 0;
        while (r->pair.tags[n])
            n++;
        on_tags_page(lc, r->pair.tags, n);
        return 0;
    }
    if (r->pair.src_digest) {
        await_target(lc);
        if (queue_image(e, r, NULL) != 0)
            lc->oom = true;
        return 0;
    }
    reg_list_limits lim = {.max_items = e->o.max_tags,
                           .max_pages = e->o.max_pages};
    int rc, attempt = 0;
    do {
        lc->seen = 0;
        rc = e->ops.tags_each(e->ops.self, r->src, r->pair.src_repo, &lim,
                              on_tags_page, lc, err);
    } while (!lc->stopped && !lc->oom &&
             eng_again(e, rc, err, &attempt, "list source tags"));
    if (rc == REG_ELIMIT)
        reg_error_prefix(err, "list tags (raise the limit with %s)",
                         strstr(err->msg, "pages") ? "--max-pages"
                                                   : "--max-tags");
    else if (rc != 0 && !lc->stopped && !lc->oom)
        reg_error_prefix(err, "list tags");
    return lc->stopped || lc->oom ? 0 : rc;
}

/* The target's tags tell which images may already be there, and whether
 * the repository is new (then no blob can be there yet); known before the
 * first image is queued. A failure only means each tag is checked. */
static void list_target(it_engine *e, repo_ctx *r)
{
    reg_error err = {0};
    int rc, attempt = 0;
    do {
        rc = e->ops.tags_list(e->ops.self, &r->dst_tags, r->dst,
                              r->pair.dst_repo, &err);
    } while (eng_again(e, rc, &err, &attempt, "list target tags"));
    if (rc == REG_ENOTFOUND) {
        r->dst_fresh = true;
        r->dst_tags = NULL;
    } else if (rc != 0) {
        log_debug("list tags of %s: %s (checking each tag instead)",
                  r->dst_name, err.msg);
        r->dst_tags = NULL;
    }
}

static void *list_target_thread(void *arg)
{
    repo_ctx *r = arg;
    list_target(r->e, r);
    return NULL;
}

/* A listing that failed in the first pass is listed again in the final
 * retry pass (like a failed image): true when it was put on that list
 * (the repository stays unsettled until then). Caller holds e->lock. */
static bool relist_later_locked(it_engine *e, repo_ctx *r, const char *why)
{
    if (r->relisted || atomic_load(&e->pass) != 0 || eng_stopping(e))
        return false;
    if (e->nrelist == e->caprelist) {
        size_t cap = e->caprelist ? e->caprelist * 2 : 16;
        repo_ctx **v = realloc(e->relist, cap * sizeof(*v));
        if (!v)
            return false;
        e->relist = v;
        e->caprelist = cap;
    }
    free(r->list_error);
    r->list_error = it_strdup0(why);
    e->relist[e->nrelist++] = r;
    return true;
}

/* The source listing is over (failed with why when failed): the
 * repository's state, tag count and, for a failure or a stop, a result.
 * Returns true when the listing will be tried again at the end. */
static bool listing_over(it_engine *e, repo_ctx *r, const list_ctx *lc, int rc,
                         const char *why)
{
    it_repo_state rs;
    bool failed = rc != 0;
    pthread_mutex_lock(&e->lock);
    /* Only what may pass (throttled, unreachable, 5xx) is listed again; a
     * limit or a malformed answer would fail the same way. */
    bool again = rc == REG_ERETRY && relist_later_locked(e, r, why);
    r->listing = again;
    r->list_failed = failed && !again;
    size_t queued = r->queued;
    bool settled = eng_repo_settled_locked(r, &rs);
    /* Under the lock: the worker that finishes the last image settles the
     * repository after this. */
    if (!settled)
        eng_emit(e, &(it_event){.kind = IT_EV_REPO_STATE,
                                .repo = r->id,
                                .repo_state = IT_REPO_COPYING,
                                .text = why});
    pthread_mutex_unlock(&e->lock);

    it_event ev = {.kind = IT_EV_REPO_LISTED,
                   .repo = r->id,
                   .source = r->src_name,
                   .target = r->dst_name,
                   .count = (long)queued,
                   .status = IT_STATUS_COPIED};
    if (failed) {
        ev.status = IT_STATUS_FAILED;
        ev.text = why;
        ev.will_retry = again;
    } else if (lc->stopped) {
        ev.status = IT_STATUS_PENDING;
        ev.text = "listing not finished: the run was stopped";
    }
    eng_emit(e, &ev);
    if (settled)
        eng_repo_settled(e, r, rs,
                         failed        ? why
                         : queued == 0 ? "no tags"
                                       : NULL);
    return again;
}

/* A repository listed again at the end, whose retry never came (the run
 * was stopped): its listing failure is final. Caller holds e->lock. */
void eng_relist_abandon_locked(it_engine *e, repo_ctx *r)
{
    it_repo_state rs;
    r->listing = false;
    r->list_failed = true;
    eng_emit(e, &(it_event){.kind = IT_EV_REPO_LISTED,
                            .repo = r->id,
                            .source = r->src_name,
                            .target = r->dst_name,
                            .count = (long)r->queued,
                            .status = IT_STATUS_FAILED,
                            .again = true,
                            .text = r->list_error});
    if (eng_repo_settled_locked(r, &rs))
        eng_repo_settled(e, r, rs, r->list_error);
    eng_repo_unref(e, r, true);
}

/* Lists r; returns true when its listing is to be tried again at the end
 * (the repository keeps its listing hold until then). */
static bool list_repo(it_engine *e, repo_ctx *r)
{
    reg_error err = {0};
    list_ctx lc = {.e = e, .r = r};

    if (eng_stopping(e)) {
        eng_emit(e, &(it_event){.kind = IT_EV_REPO_FAILED,
                                .repo = r->id,
                                .source = r->src_name,
                                .target = r->dst_name,
                                .status = IT_STATUS_PENDING,
                                .text = "not listed: the run was stopped"});
        return false;
    }
    r->src = eng_get_client(e, r->pair.src_host, r->pair.src_repo, NULL, &err);
    if (r->src)
        r->dst =
            eng_get_client(e, r->pair.dst_host, r->pair.dst_repo, NULL, &err);
    if (!r->src || !r->dst) {
        eng_repo_fail(e, r, err.msg);
        return false;
    }
    eng_emit(e, &(it_event){.kind = IT_EV_REPO_STATE,
                            .repo = r->id,
                            .repo_state = IT_REPO_LISTING});
    /* Both listings at once: the target's answer is needed only when the
     * first source tag is queued (await_target). A listing from tags the
     * pair already holds makes no source request: nothing to overlap. */
    reg_strv_free(r->dst_tags); /* listed again in the retry pass */
    r->dst_tags = NULL;
    r->dst_fresh = false;
    bool source_asks = !r->pair.tags && !r->pair.src_digest;
    if (source_asks &&
        pthread_create(&lc.dst_thread, NULL, list_target_thread, r) == 0)
        lc.dst_running = true;
    else
        list_target(e, r);
    pthread_mutex_lock(&e->lock);
    r->listing = true;
    pthread_mutex_unlock(&e->lock);
    int rc = list_source(e, r, &lc, &err);
    await_target(&lc); /* an empty or failed source listing */
    if (lc.oom)
        rc = reg_error_set(&err, REG_ENOMEM, "list tags: out of memory");
    return listing_over(e, r, &lc, rc, rc != 0 ? err.msg : NULL);
}

void eng_run_repo(it_engine *e, repo_ctx *r)
{
    bool relisting = r->relisted;
    if (relisting && eng_stopping(e)) {
        pthread_mutex_lock(&e->lock);
        eng_relist_abandon_locked(e, r); /* drops the listing hold */
        pthread_mutex_unlock(&e->lock);
        return;
    }
    bool again = list_repo(e, r);
    /* a listing retried at the end was counted the first time */
    if (!relisting)
        eng_enumeration_step(e, false, true, r->pair.tags_hint > 0);
    if (!again)
        eng_repo_unref(e, r, false);
}

void eng_repo_free(repo_ctx *r)
{
    it_pair_clear(&r->pair);
    free(r->src_name);
    free(r->dst_name);
    free(r->list_error);
    reg_strv_free(r->dst_tags);
    free(r);
}
