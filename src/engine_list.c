/*
 * engine_list.c - the REPO task: list the target's tags (in a helper thread,
 * while the source's first page is on its way), and stream the source tags
 * page by page into the queue (one IMAGE task per tag). No image is queued
 * before the target's listing is known.
 */
#include "engine_int.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

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
    /* --prune (14C): the selected source tags are kept in the target */
    if (tag && r->prune_keep && !it_strmap_get(r->prune_keep, tag) &&
        it_strmap_put(r->prune_keep, tag, (void *)1) != 0) {
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
    const char *order;    /* --latest: the order used (static) */
    pthread_t dst_thread; /* lists the target's tags meanwhile */
    bool dst_running;     /* dst_thread is to be joined */
} list_ctx;

/* A tag through r's filters (issue 14): false, counted, when one of them
 * leaves it out. */
static bool tag_passes(repo_ctx *r, const char *tag)
{
    switch (it_tagfilter_check(r->filter, tag)) {
    case IT_TF_KEEP:
        return true;
    case IT_TF_REGEX:
        r->counts.regex++;
        break;
    case IT_TF_EXCLUDE:
        r->counts.exclude++;
        break;
    case IT_TF_SEMVER:
        r->counts.semver++;
        break;
    }
    return false;
}

/* --latest: a survivor of the other filters, kept until the listing ends
 * (at most --max-tags of them). Returns 0 or -1 (out of memory). */
static int keep_candidate(repo_ctx *r, const char *tag)
{
    if (r->ncand == r->capcand) {
        size_t cap = r->capcand ? r->capcand * 2 : 64;
        it_tag_candidate *v = realloc(r->cand, cap * sizeof(*v));
        if (!v)
            return -1;
        r->cand = v;
        r->capcand = cap;
    }
    char *t = strdup(tag);
    if (!t)
        return -1;
    r->cand[r->ncand++] = (it_tag_candidate){.tag = t, .created = LLONG_MIN};
    return 0;
}

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
 * any length holds one page in memory (with --latest, the survivors of
 * the filters are kept instead, and the newest queued at the end). */
static int on_tags_page(void *payload, char *const *tags, size_t n)
{
    list_ctx *lc = payload;
    await_target(lc);
    repo_ctx *r = lc->r;
    /* only this listing's worker touches r->listed */
    size_t listed = r->listed;
    for (size_t i = 0; i < n; i++, lc->seen++) {
        if (lc->seen < listed)
            continue; /* seen by an earlier attempt */
        if (eng_stopping(lc->e)) {
            lc->stopped = true;
            return 1;
        }
        r->listed++;
        if (r->filter && !tag_passes(r, tags[i]))
            continue;
        if (it_tagfilter_latest(r->filter) > 0) {
            if (keep_candidate(r, tags[i]) != 0) {
                lc->oom = true;
                return 1;
            }
            continue;
        }
        if (queue_image(lc->e, r, tags[i]) != 0) {
            lc->oom = true;
            return 1;
        }
    }
    return 0;
}

/* ------------------------------------------ --latest by creation time */

/* Largest image config read for its `created`. */
#define ENG_CONFIG_MAX (4 * 1024 * 1024)

/* "2024-05-01T10:20:30.123456789Z" or with a +hh:mm offset: Unix seconds,
 * or LLONG_MIN when s is not such a time. */
static long long parse_rfc3339(const char *s)
{
    struct tm tm = {0};
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!p)
        return LLONG_MIN;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    long off = 0;
    if (*p == '+' || *p == '-') {
        int hh, mm;
        char sign = *p;
        if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2 || hh > 23 || mm > 59)
            return LLONG_MIN;
        off = (hh * 3600L + mm * 60L) * (sign == '+' ? 1 : -1);
        p += 6;
    } else if (*p == 'Z' || *p == 'z') {
        p++;
    } else {
        return LLONG_MIN;
    }
    if (*p != '\0')
        return LLONG_MIN;
    time_t t = timegm(&tm);
    return (long long)t - off;
}

/* The image manifest of m (m itself, or for an index the first
 * linux/amd64 child, else the first child, fetched): its config digest,
 * copied into cfg. 0 or -1. */
static int config_digest(it_engine *e, repo_ctx *r, const reg_manifest *m,
                         char cfg[REG_DIGEST_LEN + 1])
{
    reg_manifest *child = NULL;
    reg_error err = {0};
    if (reg_manifest_is_index(m)) {
        const reg_descriptor *pick = NULL;
        for (size_t i = 0; i < m->n_children && !pick; i++)
            if (m->children[i].platform &&
                strcmp(m->children[i].platform, "linux/amd64") == 0)
                pick = &m->children[i];
        if (!pick && m->n_children > 0)
            pick = &m->children[0];
        if (!pick ||
            e->ops.manifest_get(e->ops.self, &child, r->src, r->pair.src_repo,
                                pick->digest, &err) != 0)
            return -1;
        m = child;
    }
    int rc = -1;
    /* image manifests list their config first */
    if ((m->kind == REG_KIND_V2S2 || m->kind == REG_KIND_OCI_MANIFEST) &&
        m->n_blobs > 0 && strlen(m->blobs[0].digest) <= REG_DIGEST_LEN) {
        snprintf(cfg, REG_DIGEST_LEN + 1, "%s", m->blobs[0].digest);
        rc = 0;
    }
    reg_manifest_free(child);
    return rc;
}

/* The `created` time of the image tag names (LLONG_MIN when unknown): the
 * journal's record for its digest, else read from its config (manifest
 * GET + config GET) and recorded. */
static long long image_created(it_engine *e, repo_ctx *r, const char *tag)
{
    reg_error err = {0};
    reg_manifest *m = NULL;
    unsigned char *body = NULL;
    size_t len = 0;
    char digest[REG_DIGEST_LEN + 1] = "";
    char cfg[REG_DIGEST_LEN + 1];
    long long created = LLONG_MIN;
    if (e->ops.manifest_head(e->ops.self, r->src, r->pair.src_repo, tag, digest,
                             &err) == 0 &&
        e->o.journal &&
        it_journal_created(e->o.journal, r->pair.src_host, r->pair.src_repo,
                           digest, &created) == 1)
        return created; /* known: a moved tag has another digest */
    if (e->ops.manifest_get(e->ops.self, &m, r->src, r->pair.src_repo, tag,
                            &err) != 0)
        goto out;
    if (config_digest(e, r, m, cfg) != 0 ||
        e->ops.blob_get(e->ops.self, &body, &len, r->src, r->pair.src_repo, cfg,
                        ENG_CONFIG_MAX, &err) != 0)
        goto record;
    json_error_t jerr;
    json_t *j = json_loadb((const char *)body, len, 0, &jerr);
    const char *s = json_string_value(json_object_get(j, "created"));
    if (s)
        created = parse_rfc3339(s);
    json_decref(j);
record: /* by the journal's subscriber */
    eng_emit(e, &(it_event){.kind = IT_EV_IMAGE_CREATED,
                            .repo = r->id,
                            .image = -1,
                            .registry = r->pair.src_host,
                            .repo_path = r->pair.src_repo,
                            .digest = m->digest,
                            .size = (int64_t)created});
out:
    if (err.msg[0])
        log_debug("%s:%s: no creation time (%s): sorted as oldest", r->src_name,
                  tag, err.msg);
    free(body);
    reg_manifest_free(m);
    return created;
}

/* --latest: orders the survivors of r's filters (push time when the
 * lister gave them newest first, semver when every one is a version, else
 * creation time) and queues the newest N. Returns the order used, or NULL
 * when out of memory / stopped. */
static const char *queue_latest(it_engine *e, repo_ctx *r, list_ctx *lc)
{
    it_tag_order order = r->pair.tags_newest_first ? IT_ORDER_PUSH_TIME
                         : it_tags_all_semver(r->cand, r->ncand)
                             ? IT_ORDER_SEMVER
                             : IT_ORDER_CREATED;
    if (order == IT_ORDER_CREATED)
        for (size_t i = 0; i < r->ncand && !eng_stopping(e); i++)
            r->cand[i].created = image_created(e, r, r->cand[i].tag);
    it_tags_sort_newest(r->cand, r->ncand, order);
    size_t keep = (size_t)it_tagfilter_latest(r->filter);
    if (keep > r->ncand)
        keep = r->ncand;
    for (size_t i = 0; i < keep; i++) {
        if (eng_stopping(e)) {
            lc->stopped = true;
            break;
        }
        if (queue_image(e, r, r->cand[i].tag) != 0) {
            lc->oom = true;
            break;
        }
    }
    r->counts.latest += (long)(r->ncand - keep);
    for (size_t i = 0; i < r->ncand; i++)
        free(r->cand[i].tag);
    r->ncand = 0;
    return lc->stopped || lc->oom ? NULL : it_tag_order_name(order);
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
                   .status = IT_STATUS_COPIED,
                   .filtered = r->filter ? &r->counts : NULL,
                   .order = lc->order};
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

    if (r->pair.wildcard && !eng_stopping(e)) { /* whole namespaces (14C) */
        eng_expand_repo(e, r);
        return false;
    }
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
    if (eng_prune_applies(e, r) && !r->prune_keep && /* --prune (14C) */
        !(r->prune_keep = it_strmap_new()))
        lc.oom = true;
    int rc = lc.oom ? 0 : list_source(e, r, &lc, &err);
    await_target(&lc); /* before any image is queued */
    if (rc == 0 && !lc.stopped && !lc.oom && it_tagfilter_latest(r->filter) > 0)
        lc.order = queue_latest(e, r, &lc);
    if (lc.oom)
        rc = reg_error_set(&err, REG_ENOMEM, "list tags: out of memory");
    /* --prune (14C): only after a complete, non-empty listing, and with
     * the target's tags known */
    r->prune_ready = r->prune_keep && rc == 0 && !lc.stopped &&
                     it_strmap_count(r->prune_keep) > 0 && r->dst_tags;
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
    it_tagfilter_free(r->filter);
    for (size_t i = 0; i < r->ncand; i++)
        free(r->cand[i].tag);
    free(r->cand);
    free(r->src_name);
    free(r->dst_name);
    free(r->list_error);
    reg_strv_free(r->dst_tags);
    if (r->prune_keep)
        it_strmap_free(r->prune_keep, NULL);
    eng_platforms_free(r); /* issue 14 */
    free(r);
}
