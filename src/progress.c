/*
 * progress.c - the progress model (see progress.h).
 *
 * Every event function takes the one mutex, updates a few counters and
 * returns: no I/O, no allocation except when a repo, image, note or error
 * string is added. Aggregates (totals, open-image byte expectations, repos
 * done) are maintained incrementally so a snapshot never walks the images.
 *
 * Throughput and image rate come from a ring of per-second buckets indexed
 * by whole seconds since it_progress_new; the same buckets feed the
 * sparkline. A snapshot copies the repo rows that pass the filter under the
 * lock (one string arena, a few allocations) and sorts them after the lock
 * is released.
 */
#include "progress.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "progress_fmt.h" /* it_repo_host_len */
#include "text.h"

#define RING_LEN          64 /* > IT_SPARK_LEN + 1: the sparkline plus now */
#define THROUGHPUT_WINDOW 10 /* seconds */
#define RATE_WINDOW       60 /* seconds, for the images-per-second rate */
#define NOTES_MAX         50
#define ERR_MAX           1024 /* longest error or note kept, bytes */

/* An image the model shows: open (pending, copying) or failed. One that
 * is copied or skipped is counted in its repository and its slot is reused
 * (so the model's memory follows the images in flight, not the tags). */
typedef struct img {
    char *tag;
    char *digest;
    char *error;
    int64_t bytes_done;
    int64_t expected; /* -1 = unknown */
    int repo;
    int pos; /* live: index in its repo's imgs; free: next free slot */
    it_image_state st;
    bool live;
} img;

typedef struct repo {
    char *src;
    char *dst;
    size_t src_len, dst_len;
    char *error;
    int *imgs; /* ids of its images shown (open or failed) */
    size_t n_imgs, cap_imgs;
    int n_added; /* images added, all states */
    int tags_n;  /* from it_progress_repo_tags, -1 = not yet */
    int hint;    /* images expected before listing (0 = none) */
    int n_done, n_failed, n_skipped;
    int64_t bytes_done;
    int64_t bytes_expected;
    it_repo_state st;
    bool listing_failed;
    int n_platform_filtered, n_platform_skipped; /* issue 14 */
    bool wildcard; /* 14C: a wildcard rule's row (see repo_counted) */
} repo;

typedef struct bucket {
    int64_t bytes;
    int64_t images; /* images that reached a final state */
} bucket;

struct it_progress {
    pthread_mutex_t mu;
    pthread_cond_t done_cv; /* signalled when the phase becomes DONE */
    double (*now_fn)(void);
    double t0;
    char *mode, *source, *target;
    it_phase phase;
    double done_at; /* when the phase became DONE: elapsed stops there */

    repo *repos;
    size_t n_repos, cap_repos;
    int *hash; /* open addressing over (src, dst), -1 = empty */
    size_t hash_cap;

    img *imgs; /* slots; reused through free_head */
    size_t n_imgs, cap_imgs;
    int free_head;   /* first free slot, -1 = none */
    int64_t n_added; /* images added, all states */

    char **prep_keys, **prep_values;
    size_t n_prep;
    char shard[24];
    it_host_row hosts[IT_HOSTS_MAX]; /* issue 15 */
    size_t n_hosts;

    char *notes[NOTES_MAX];
    bool note_err[NOTES_MAX];
    size_t notes_start, n_notes;

    it_totals t;
    int64_t sum_images_total; /* sum over repos of their effective totals */
    /* Open images (pending or copying): sums used by the byte-based ETA. */
    int64_t open_expected, open_done;
    int64_t open_unknown; /* open images whose expectation is unknown */

    bucket ring[RING_LEN];
    int64_t ring_sec; /* second the newest bucket stands for */

    const it_runctl *ctl; /* shown as stop_requested; may be NULL */
    /* A repo named another registry host than the first repo did. */
    bool src_hosts_differ, dst_hosts_differ;
};

typedef struct snap_impl {
    it_snapshot s; /* first: it_snapshot_free casts back */
    char *arena;
} snap_impl;

/* ------------------------------------------------------------- helpers */

static double now_of(const it_progress *p)
{
    return p->now_fn ? p->now_fn() : it_now_mono();
}

/* A redacted, escaped (control bytes as \xNN), length-capped copy of an error
 * or note (NULL on NULL or on allocation failure). Called before taking the
 * model lock: it_redact may take the log's lock, and the log may call into the
 * model. */
static char *redacted_dup(const char *s)
{
    if (!s)
        return NULL;
    char buf[ERR_MAX];
    it_sanitize(buf, sizeof buf, s);
    return strdup(buf);
}

static uint64_t hash_pair(const char *a, const char *b)
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *s = (const unsigned char *)a; *s; s++)
        h = (h ^ *s) * 1099511628211ULL;
    h = (h ^ 0xffu) * 1099511628211ULL; /* separator */
    for (const unsigned char *s = (const unsigned char *)b; *s; s++)
        h = (h ^ *s) * 1099511628211ULL;
    return h;
}

static int hash_grow(it_progress *p)
{
    size_t cap = p->hash_cap ? p->hash_cap * 2 : 1024;
    int *h = malloc(cap * sizeof *h);
    if (!h)
        return -1;
    for (size_t i = 0; i < cap; i++)
        h[i] = -1;
    for (size_t r = 0; r < p->n_repos; r++) {
        size_t i = hash_pair(p->repos[r].src, p->repos[r].dst) & (cap - 1);
        while (h[i] >= 0)
            i = (i + 1) & (cap - 1);
        h[i] = (int)r;
    }
    free(p->hash);
    p->hash = h;
    p->hash_cap = cap;
    return 0;
}

/* Both names start with the same registry host (or neither has one). */
static bool same_host(const char *a, const char *b)
{
    size_t n = it_repo_host_len(a);
    return n == it_repo_host_len(b) && strncmp(a, b, n) == 0;
}

static bool valid_repo(const it_progress *p, int r)
{
    return r >= 0 && (size_t)r < p->n_repos;
}

static bool valid_img(const it_progress *p, int i)
{
    return i >= 0 && (size_t)i < p->n_imgs && p->imgs[i].live;
}

static bool img_final(it_image_state st)
{
    return st == IT_IMG_COPIED || st == IT_IMG_SKIPPED || st == IT_IMG_FAILED;
}

static bool repo_final(it_repo_state st)
{
    return st == IT_REPO_DONE || st == IT_REPO_FAILED || st == IT_REPO_SKIPPED;
}

/* Images a repo is known to hold: the listed count, or more if the engine
 * added more images than it announced. */
static int repo_effective_total(const repo *r)
{
    int n = r->n_added;
    int listed = r->tags_n >= 0 ? r->tags_n : r->hint;
    return listed > n ? listed : n;
}

/* Brings the per-second ring up to now (zeroing seconds that passed) and
 * returns the current second. */
static int64_t ring_advance(it_progress *p, double now)
{
    double el = now - p->t0;
    int64_t sec = el > 0 ? (int64_t)floor(el) : 0;
    if (sec > p->ring_sec) {
        int64_t from = p->ring_sec + 1;
        if (sec - from >= RING_LEN)
            from = sec - RING_LEN + 1;
        for (int64_t s = from; s <= sec; s++)
            p->ring[s % RING_LEN] = (bucket){0, 0};
        p->ring_sec = sec;
    }
    return p->ring_sec;
}

/* Whether r counts in repos_total / repos_done: every repository, but a
 * wildcard rule's own row only when its listing failed (14C). */
static bool repo_counted(const repo *r)
{
    return !r->wildcard || r->st == IT_REPO_FAILED;
}

/* Adds (sign +1) or takes back (-1) r's share of the repository totals. */
static void repo_count(it_progress *p, const repo *r, int sign)
{
    if (!repo_counted(r))
        return;
    p->t.repos_total += sign;
    if (repo_final(r->st))
        p->t.repos_done += sign;
}

static void set_repo_state(it_progress *p, repo *r, it_repo_state st)
{
    /* Normalise "done": failures win, then "every image skipped". */
    if (st == IT_REPO_DONE || st == IT_REPO_SKIPPED) {
        if (r->n_failed > 0 || r->listing_failed)
            st = IT_REPO_FAILED;
        else if (r->n_done > 0 && r->n_skipped == r->n_done)
            st = IT_REPO_SKIPPED;
        else if (st == IT_REPO_SKIPPED && r->n_done > r->n_skipped)
            st = IT_REPO_DONE;
    }
    repo_count(p, r, -1);
    r->st = st;
    repo_count(p, r, +1);
}

/* Re-derives a repo's state after one of its images changed state:
 * complete (listed and every image final) -> done/failed/skipped; an image
 * started, or a finished repo got work again (retry) -> copying. */
static void repo_derive(it_progress *p, repo *r, bool any_copying)
{
    int total = repo_effective_total(r);
    bool complete =
        r->tags_n >= 0 && r->n_done >= total && r->n_done == r->n_added;
    if (complete)
        set_repo_state(p, r, IT_REPO_DONE);
    else if (any_copying || r->st == IT_REPO_WAITING ||
             (repo_final(r->st) && !r->listing_failed))
        set_repo_state(p, r, IT_REPO_COPYING);
}

static void total_update(it_progress *p, repo *r, int old_eff)
{
    p->sum_images_total += repo_effective_total(r) - old_eff;
    p->t.images_total = (int)p->sum_images_total;
}

/* Removes / adds an image's share of the open-image sums. */
static void open_account(it_progress *p, const img *m, int sign)
{
    if (img_final(m->st))
        return;
    /* Sizes come from manifests a server wrote: sums saturate. */
    if (m->expected >= 0)
        p->open_expected = sign > 0 ? it_add_sat(p->open_expected, m->expected)
                                    : it_sub_sat(p->open_expected, m->expected);
    else
        p->open_unknown += sign;
    p->open_done = sign > 0 ? it_add_sat(p->open_done, m->bytes_done)
                            : it_sub_sat(p->open_done, m->bytes_done);
}

/* A copied or skipped image leaves the model: its repository keeps the
 * counts, its slot goes on the free list. */
static void retire(it_progress *p, repo *r, int id)
{
    img *m = &p->imgs[id];
    free(m->tag);
    free(m->digest);
    free(m->error);
    int last = r->imgs[--r->n_imgs];
    r->imgs[m->pos] = last;
    p->imgs[last].pos = m->pos;
    memset(m, 0, sizeof *m);
    m->pos = p->free_head;
    p->free_head = id;
}

/* --------------------------------------------------------------- events */

it_progress *it_progress_new(const char *mode, const char *source,
                             const char *target, double (*now_fn)(void))
{
    it_progress *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        free(p);
        return NULL;
    }
    if (pthread_cond_init(&p->done_cv, NULL) != 0) {
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->done_cv);
        free(p);
        return NULL;
    }
    p->now_fn = now_fn;
    p->t0 = now_of(p);
    p->free_head = -1;
    p->mode = strdup(mode ? mode : "generic");
    p->source = strdup(source ? source : "");
    p->target = strdup(target ? target : "");
    p->phase = IT_PHASE_DISCOVERING;
    if (!p->mode || !p->source || !p->target || hash_grow(p) != 0) {
        it_progress_free(p);
        return NULL;
    }
    return p;
}

void it_progress_free(it_progress *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_repos; i++) {
        free(p->repos[i].src);
        free(p->repos[i].dst);
        free(p->repos[i].error);
        free(p->repos[i].imgs);
    }
    free(p->repos);
    free(p->hash);
    for (size_t i = 0; i < p->n_imgs; i++) {
        if (!p->imgs[i].live)
            continue;
        free(p->imgs[i].tag);
        free(p->imgs[i].digest);
        free(p->imgs[i].error);
    }
    free(p->imgs);
    for (size_t i = 0; i < p->n_prep; i++) {
        free(p->prep_keys[i]);
        free(p->prep_values[i]);
    }
    free(p->prep_keys);
    free(p->prep_values);
    for (size_t i = 0; i < NOTES_MAX; i++)
        free(p->notes[i]);
    free(p->mode);
    free(p->source);
    free(p->target);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

void it_progress_phase(it_progress *p, it_phase phase)
{
    double now = now_of(p);
    pthread_mutex_lock(&p->mu);
    if (p->phase == IT_PHASE_DONE) {
        /* Terminal: a late phase change from another thread (the planner
         * reporting the end of enumeration as the run ends) must not
         * bring a finished run back to life. */
        pthread_mutex_unlock(&p->mu);
        return;
    }
    if (phase == IT_PHASE_DONE)
        p->done_at = now;
    p->phase = phase;
    if (phase == IT_PHASE_DONE)
        pthread_cond_broadcast(&p->done_cv);
    pthread_mutex_unlock(&p->mu);
}

bool it_progress_wait_done(it_progress *p, double timeout_s)
{
    struct timespec ts = it_deadline(timeout_s);
    pthread_mutex_lock(&p->mu);
    while (p->phase != IT_PHASE_DONE && timeout_s > 0) {
        if (pthread_cond_timedwait(&p->done_cv, &p->mu, &ts) != 0)
            break; /* timed out */
    }
    bool done = p->phase == IT_PHASE_DONE;
    pthread_mutex_unlock(&p->mu);
    return done;
}

void it_progress_shard(it_progress *p, const char *shard)
{
    pthread_mutex_lock(&p->mu);
    snprintf(p->shard, sizeof p->shard, "%s", shard ? shard : "");
    pthread_mutex_unlock(&p->mu);
}

void it_progress_host(it_progress *p, const char *host, bool down,
                      int64_t down_since, int64_t next_try_ms,
                      long limit_in_flight, double limit_rps)
{
    if (!host)
        return;
    pthread_mutex_lock(&p->mu);
    it_host_row *r = NULL;
    for (size_t i = 0; i < p->n_hosts && !r; i++)
        if (strcmp(p->hosts[i].host, host) == 0)
            r = &p->hosts[i];
    if (!r && p->n_hosts < IT_HOSTS_MAX) {
        r = &p->hosts[p->n_hosts++];
        snprintf(r->host, sizeof r->host, "%s", host);
    }
    if (r) {
        r->down = down;
        r->down_since = down ? down_since : 0;
        r->next_try_ms = down ? next_try_ms : 0;
        r->limit_in_flight = limit_in_flight;
        r->limit_rps = limit_rps;
    }
    pthread_mutex_unlock(&p->mu);
}

static int host_row_cmp(const void *a, const void *b)
{
    return strcmp(((const it_host_row *)a)->host,
                  ((const it_host_row *)b)->host);
}

void it_progress_prep(it_progress *p, const char *key, const char *value)
{
    if (!key)
        return;
    char *v = strdup(value ? value : "");
    if (!v)
        return;
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < p->n_prep; i++) {
        if (strcmp(p->prep_keys[i], key) == 0) {
            free(p->prep_values[i]);
            p->prep_values[i] = v;
            v = NULL;
            break;
        }
    }
    if (v) {
        char *k = strdup(key);
        char **nk = realloc(p->prep_keys, (p->n_prep + 1) * sizeof *nk);
        if (nk)
            p->prep_keys = nk;
        char **nv = realloc(p->prep_values, (p->n_prep + 1) * sizeof *nv);
        if (nv)
            p->prep_values = nv;
        if (k && nk && nv) {
            p->prep_keys[p->n_prep] = k;
            p->prep_values[p->n_prep] = v;
            p->n_prep++;
            v = NULL;
        } else {
            free(k);
        }
    }
    pthread_mutex_unlock(&p->mu);
    free(v);
}

int it_progress_repo_add(it_progress *p, const char *src_repo,
                         const char *dst_repo)
{
    const char *a = src_repo ? src_repo : "";
    const char *b = dst_repo ? dst_repo : "";
    int id = -1;
    pthread_mutex_lock(&p->mu);
    size_t mask = p->hash_cap - 1;
    size_t i = hash_pair(a, b) & mask;
    while (p->hash[i] >= 0) {
        repo *r = &p->repos[p->hash[i]];
        if (strcmp(r->src, a) == 0 && strcmp(r->dst, b) == 0) {
            id = p->hash[i];
            goto out;
        }
        i = (i + 1) & mask;
    }
    if ((p->n_repos + 1) * 2 > p->hash_cap) {
        if (hash_grow(p) != 0)
            goto out;
        mask = p->hash_cap - 1;
        i = hash_pair(a, b) & mask;
        while (p->hash[i] >= 0)
            i = (i + 1) & mask;
    }
    if (p->n_repos == p->cap_repos) {
        size_t cap = p->cap_repos ? p->cap_repos * 2 : 64;
        repo *nr = realloc(p->repos, cap * sizeof *nr);
        if (!nr)
            goto out;
        p->repos = nr;
        p->cap_repos = cap;
    }
    repo *r = &p->repos[p->n_repos];
    memset(r, 0, sizeof *r);
    r->src = strdup(a);
    r->dst = strdup(b);
    if (!r->src || !r->dst) {
        free(r->src);
        free(r->dst);
        goto out;
    }
    r->src_len = strlen(a);
    r->dst_len = strlen(b);
    if (p->n_repos > 0) {
        const repo *first = &p->repos[0];
        if (!same_host(first->src, a))
            p->src_hosts_differ = true;
        if (!same_host(first->dst, b))
            p->dst_hosts_differ = true;
    }
    r->tags_n = -1;
    r->st = IT_REPO_WAITING;
    id = (int)p->n_repos++;
    p->hash[i] = id;
    repo_count(p, r, +1);
out:
    pthread_mutex_unlock(&p->mu);
    return id;
}

void it_progress_repo_state(it_progress *p, int repo_id, it_repo_state st,
                            const char *error)
{
    char *e = redacted_dup(error);
    pthread_mutex_lock(&p->mu);
    if (valid_repo(p, repo_id)) {
        repo *r = &p->repos[repo_id];
        if (e) {
            free(r->error);
            r->error = e;
            e = NULL;
        }
        /* FAILED before any image is known means listing failed. */
        if (st == IT_REPO_FAILED && r->n_failed == 0)
            r->listing_failed = true;
        set_repo_state(p, r, st);
    }
    pthread_mutex_unlock(&p->mu);
    free(e);
}

void it_progress_repo_wildcard(it_progress *p, int repo_id)
{
    pthread_mutex_lock(&p->mu);
    if (valid_repo(p, repo_id)) {
        repo *r = &p->repos[repo_id];
        repo_count(p, r, -1);
        r->wildcard = true;
        repo_count(p, r, +1);
    }
    pthread_mutex_unlock(&p->mu);
}

void it_progress_repo_tags(it_progress *p, int repo_id, int n_images)
{
    pthread_mutex_lock(&p->mu);
    if (valid_repo(p, repo_id) && n_images >= 0) {
        repo *r = &p->repos[repo_id];
        int old = repo_effective_total(r);
        r->tags_n = n_images;
        total_update(p, r, old);
        if (n_images == 0 && r->n_added == 0)
            set_repo_state(p, r, IT_REPO_DONE);
        else if (r->st == IT_REPO_LISTING) /* listed: waits for workers */
            set_repo_state(p, r, IT_REPO_WAITING);
        else if (r->n_done == repo_effective_total(r) &&
                 r->n_done == r->n_added)
            set_repo_state(p, r, IT_REPO_DONE);
    }
    pthread_mutex_unlock(&p->mu);
}

void it_progress_repo_hint(it_progress *p, int repo_id, int n_images)
{
    pthread_mutex_lock(&p->mu);
    if (valid_repo(p, repo_id) && n_images > 0) {
        repo *r = &p->repos[repo_id];
        int old = repo_effective_total(r);
        r->hint = n_images;
        total_update(p, r, old);
    }
    pthread_mutex_unlock(&p->mu);
}

int it_progress_image_add(it_progress *p, int repo_id, const char *tag)
{
    int id = -1;
    char *t = strdup(tag ? tag : "");
    if (!t)
        return -1;
    pthread_mutex_lock(&p->mu);
    if (!valid_repo(p, repo_id))
        goto out;
    repo *r = &p->repos[repo_id];
    if (p->free_head < 0 && p->n_imgs == p->cap_imgs) {
        size_t cap = p->cap_imgs ? p->cap_imgs * 2 : 256;
        img *ni = realloc(p->imgs, cap * sizeof *ni);
        if (!ni)
            goto out;
        p->imgs = ni;
        p->cap_imgs = cap;
    }
    if (r->n_imgs == r->cap_imgs) {
        size_t cap = r->cap_imgs ? r->cap_imgs * 2 : 8;
        int *nl = realloc(r->imgs, cap * sizeof *nl);
        if (!nl)
            goto out;
        r->imgs = nl;
        r->cap_imgs = cap;
    }
    if (p->free_head >= 0) {
        id = p->free_head;
        p->free_head = p->imgs[id].pos;
    } else {
        id = (int)p->n_imgs++;
    }
    img *m = &p->imgs[id];
    memset(m, 0, sizeof *m);
    m->tag = t;
    t = NULL;
    m->expected = -1;
    m->repo = repo_id;
    m->st = IT_IMG_PENDING;
    m->live = true;
    m->pos = (int)r->n_imgs;
    int old = repo_effective_total(r);
    r->imgs[r->n_imgs++] = id;
    r->n_added++;
    p->n_added++;
    total_update(p, r, old);
    open_account(p, m, +1);
    if (repo_final(r->st) && !r->listing_failed)
        set_repo_state(p, r, IT_REPO_COPYING);
out:
    pthread_mutex_unlock(&p->mu);
    free(t);
    return id;
}

void it_progress_image_state(it_progress *p, int image, it_image_state st,
                             const char *digest, const char *error)
{
    char *d = it_strdup0(digest);
    char *e = redacted_dup(error);
    pthread_mutex_lock(&p->mu);
    if (!valid_img(p, image))
        goto out;
    img *m = &p->imgs[image];
    repo *r = &p->repos[m->repo];
    if (d) {
        free(m->digest);
        m->digest = d;
        d = NULL;
    }
    if (e) {
        free(m->error);
        m->error = e;
        e = NULL;
        free(r->error);
        r->error = strdup(m->error);
    } else if (st == IT_IMG_COPIED || st == IT_IMG_SKIPPED) {
        /* A retry that succeeded clears the image's old error. */
        free(m->error);
        m->error = NULL;
    }
    it_image_state old = m->st;
    if (old != st) {
        open_account(p, m, -1);
        /* Leave the old state's counters. */
        if (img_final(old)) {
            r->n_done--;
            if (old == IT_IMG_COPIED)
                p->t.images_copied--;
            if (old == IT_IMG_SKIPPED) {
                p->t.images_skipped--;
                r->n_skipped--;
            }
            if (old == IT_IMG_FAILED) {
                p->t.images_failed--;
                r->n_failed--;
            }
        }
        m->st = st;
        if (img_final(st)) {
            r->n_done++;
            if (st == IT_IMG_COPIED)
                p->t.images_copied++;
            if (st == IT_IMG_SKIPPED) {
                p->t.images_skipped++;
                r->n_skipped++;
            }
            if (st == IT_IMG_FAILED) {
                p->t.images_failed++;
                r->n_failed++;
            }
            int64_t sec = ring_advance(p, now_of(p));
            p->ring[sec % RING_LEN].images++;
        }
        open_account(p, m, +1);
        repo_derive(p, r, st == IT_IMG_COPYING);
        if (st == IT_IMG_COPIED || st == IT_IMG_SKIPPED)
            retire(p, r, image);
    }
out:
    pthread_mutex_unlock(&p->mu);
    free(d);
    free(e);
}

void it_progress_referrers(it_progress *p, long copied, long skipped)
{
    pthread_mutex_lock(&p->mu);
    p->t.referrers_copied += copied;
    p->t.referrers_skipped += skipped;
    pthread_mutex_unlock(&p->mu);
}

void it_progress_image_platform(it_progress *p, int image, int state)
{
    if (state != 1 && state != 2)
        return;
    pthread_mutex_lock(&p->mu);
    if (valid_img(p, image)) {
        repo *r = &p->repos[p->imgs[image].repo];
        if (state == 1) {
            r->n_platform_filtered++;
            p->t.images_platform_filtered++;
        } else {
            r->n_platform_skipped++;
            p->t.images_platform_skipped++;
        }
    }
    pthread_mutex_unlock(&p->mu);
}

void it_progress_image_expect(it_progress *p, int image, int64_t bytes_expected)
{
    pthread_mutex_lock(&p->mu);
    if (valid_img(p, image)) {
        img *m = &p->imgs[image];
        repo *r = &p->repos[m->repo];
        open_account(p, m, -1);
        if (m->expected > 0)
            r->bytes_expected = it_sub_sat(r->bytes_expected, m->expected);
        m->expected = bytes_expected < 0 ? -1 : bytes_expected;
        if (m->expected > 0)
            r->bytes_expected = it_add_sat(r->bytes_expected, m->expected);
        open_account(p, m, +1);
    }
    pthread_mutex_unlock(&p->mu);
}

void it_progress_bytes(it_progress *p, int image, int64_t delta)
{
    pthread_mutex_lock(&p->mu);
    if (valid_img(p, image)) {
        img *m = &p->imgs[image];
        m->bytes_done = it_add_sat(m->bytes_done, delta);
        repo *r = &p->repos[m->repo];
        r->bytes_done = it_add_sat(r->bytes_done, delta);
        p->t.bytes_done = it_add_sat(p->t.bytes_done, delta);
        if (!img_final(m->st))
            p->open_done = it_add_sat(p->open_done, delta);
        int64_t sec = ring_advance(p, now_of(p));
        bucket *b = &p->ring[sec % RING_LEN];
        b->bytes = it_add_sat(b->bytes, delta);
    }
    pthread_mutex_unlock(&p->mu);
}

void it_progress_blob(it_progress *p, it_blob_outcome o)
{
    pthread_mutex_lock(&p->mu);
    switch (o) {
    case IT_BLOB_COPIED:
        p->t.blobs_copied++;
        break;
    case IT_BLOB_MOUNTED:
        p->t.blobs_mounted++;
        break;
    case IT_BLOB_SKIPPED:
        p->t.blobs_skipped++;
        break;
    }
    pthread_mutex_unlock(&p->mu);
}

void it_progress_enumeration_done(it_progress *p)
{
    pthread_mutex_lock(&p->mu);
    p->t.enumeration_done = true;
    pthread_mutex_unlock(&p->mu);
}

void it_progress_note(it_progress *p, bool is_error, const char *line)
{
    char *n = redacted_dup(line ? line : "");
    if (!n)
        return;
    pthread_mutex_lock(&p->mu);
    size_t slot;
    if (p->n_notes < NOTES_MAX) {
        slot = (p->notes_start + p->n_notes) % NOTES_MAX;
        p->n_notes++;
    } else {
        slot = p->notes_start;
        p->notes_start = (p->notes_start + 1) % NOTES_MAX;
    }
    char *old = p->notes[slot];
    p->notes[slot] = n;
    p->note_err[slot] = is_error;
    pthread_mutex_unlock(&p->mu);
    free(old);
}

void it_progress_bind_runctl(it_progress *p, const it_runctl *ctl)
{
    pthread_mutex_lock(&p->mu);
    p->ctl = ctl;
    pthread_mutex_unlock(&p->mu);
}

/* ------------------------------------------------------------- snapshot */

/* Case-insensitive substring test; an empty needle matches. */
static bool contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    if (n == 0)
        return true;
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] &&
               tolower((unsigned char)hay[i]) ==
                   tolower((unsigned char)needle[i]))
            i++;
        if (i == n)
            return true;
    }
    return false;
}

static bool row_passes(const repo *r, const it_snapshot_filter *f)
{
    if (!f)
        return true;
    if (f->no_rows)
        return false;
    if (f->failed_only && r->st != IT_REPO_FAILED && r->n_failed == 0)
        return false;
    if (f->name_contains && !contains_ci(r->src, f->name_contains) &&
        !contains_ci(r->dst, f->name_contains))
        return false;
    return true;
}

static int state_rank(it_repo_state st)
{
    switch (st) {
    case IT_REPO_COPYING:
        return 0;
    case IT_REPO_LISTING:
        return 1;
    case IT_REPO_FAILED:
        return 2;
    case IT_REPO_WAITING:
        return 3;
    default:
        return 4;
    }
}

static int row_cmp(const void *a, const void *b)
{
    const it_repo_row *x = a, *y = b;
    int rx = state_rank(x->state), ry = state_rank(y->state);
    if (rx != ry)
        return rx < ry ? -1 : 1;
    int c = strcmp(x->src_repo, y->src_repo);
    if (c != 0)
        return c;
    c = strcmp(x->dst_repo, y->dst_repo);
    if (c != 0)
        return c;
    return x->id < y->id ? -1 : x->id > y->id;
}

static char *arena_put(char **cur, const char *s, size_t len)
{
    char *d = *cur;
    memcpy(d, s, len);
    d[len] = '\0';
    *cur += len + 1;
    return d;
}

/* Sum over the last `window` seconds (current one included) of one bucket
 * field; *span receives the seconds those buckets cover so far. */
static void ring_sum(const it_progress *p, double now, int64_t sec, int window,
                     int64_t *bytes, int64_t *images, double *span)
{
    *bytes = 0;
    *images = 0;
    for (int k = 0; k < window && sec - k >= 0; k++) {
        const bucket *b = &p->ring[(sec - k) % RING_LEN];
        *bytes = it_add_sat(*bytes, b->bytes);
        *images += b->images;
    }
    double el = now - p->t0;
    double frac = el - (double)sec;
    double s = (double)(window - 1) + frac;
    if (s > el)
        s = el;
    if (s < 1.0)
        s = 1.0; /* no spikes from the first fraction of a second */
    *span = s;
}

/* The ETA rules (see progress.h): unknown while enumerating or before
 * anything finished or moved; remaining bytes / throughput once every
 * open image's size is known; else remaining images / image rate. */
static double compute_eta(const it_progress *p, double now, int64_t sec,
                          double throughput)
{
    if (!p->t.enumeration_done)
        return -1;
    const it_totals *t = &p->t;
    int64_t done =
        (int64_t)t->images_copied + t->images_skipped + t->images_failed;
    int64_t remaining_imgs = p->sum_images_total - done;
    if (remaining_imgs <= 0)
        return 0;
    bool sizes_known =
        p->open_unknown == 0 && p->n_added == p->sum_images_total;
    int64_t remaining_bytes = it_sub_sat(p->open_expected, p->open_done);
    if (sizes_known && remaining_bytes > 0 && throughput > 0)
        return (double)remaining_bytes / throughput;
    int64_t wb, wi;
    double span;
    ring_sum(p, now, sec, RATE_WINDOW, &wb, &wi, &span);
    double rate = 0;
    if (wi > 0)
        rate = (double)wi / span;
    else if (done > 0 && now - p->t0 > 0)
        rate = (double)done / (now - p->t0);
    if (rate <= 0)
        return -1;
    return (double)remaining_imgs / rate;
}

it_snapshot *it_progress_snapshot(it_progress *p,
                                  const it_snapshot_filter *filter)
{
    snap_impl *si = calloc(1, sizeof *si);
    if (!si)
        return NULL;
    it_snapshot *s = &si->s;
    int *pick = NULL;
    pthread_mutex_lock(&p->mu);

    size_t n_pick = 0, bytes = 0;
    if (p->n_repos > 0) {
        pick = malloc(p->n_repos * sizeof *pick);
        if (!pick)
            goto fail;
    }
    for (size_t i = 0; i < p->n_repos; i++) {
        const repo *r = &p->repos[i];
        if (!row_passes(r, filter))
            continue;
        pick[n_pick++] = (int)i;
        bytes += r->src_len + r->dst_len + 2;
        if (r->error)
            bytes += strlen(r->error) + 1;
    }
    bytes += strlen(p->mode) + strlen(p->source) + strlen(p->target) + 3;
    for (size_t i = 0; i < p->n_prep; i++)
        bytes += strlen(p->prep_keys[i]) + strlen(p->prep_values[i]) + 2;
    for (size_t i = 0; i < p->n_notes; i++)
        bytes += strlen(p->notes[(p->notes_start + i) % NOTES_MAX]) + 1;

    si->arena = malloc(bytes);
    s->rows = calloc(n_pick ? n_pick : 1, sizeof *s->rows);
    s->prep_keys = calloc(p->n_prep + 1, sizeof *s->prep_keys);
    s->prep_values = calloc(p->n_prep + 1, sizeof *s->prep_values);
    s->notes = calloc(p->n_notes + 1, sizeof *s->notes);
    s->note_is_error = calloc(p->n_notes + 1, sizeof *s->note_is_error);
    if (!si->arena || !s->rows || !s->prep_keys || !s->prep_values ||
        !s->notes || !s->note_is_error)
        goto fail;

    char *cur = si->arena;
    s->mode = arena_put(&cur, p->mode, strlen(p->mode));
    s->source = arena_put(&cur, p->source, strlen(p->source));
    s->target = arena_put(&cur, p->target, strlen(p->target));
    memcpy(s->shard, p->shard, sizeof s->shard);
    memcpy(s->hosts, p->hosts, p->n_hosts * sizeof *s->hosts);
    s->n_hosts = p->n_hosts;
    for (size_t k = 0; k < n_pick; k++) {
        const repo *r = &p->repos[pick[k]];
        it_repo_row *row = &s->rows[k];
        row->src_repo = arena_put(&cur, r->src, r->src_len);
        row->dst_repo = arena_put(&cur, r->dst, r->dst_len);
        row->state = r->st;
        row->images_total = (r->tags_n < 0 && r->n_added == 0 && r->hint == 0)
                                ? -1
                                : repo_effective_total(r);
        row->images_done = r->n_done;
        row->images_failed = r->n_failed;
        row->bytes_done = r->bytes_done;
        row->bytes_expected = r->bytes_expected;
        row->error =
            r->error ? arena_put(&cur, r->error, strlen(r->error)) : NULL;
        row->id = pick[k];
        row->images_platform_filtered = r->n_platform_filtered; /* issue 14 */
        row->images_platform_skipped = r->n_platform_skipped;
    }
    s->n_rows = n_pick;
    for (size_t i = 0; i < p->n_prep; i++) {
        s->prep_keys[i] =
            arena_put(&cur, p->prep_keys[i], strlen(p->prep_keys[i]));
        s->prep_values[i] =
            arena_put(&cur, p->prep_values[i], strlen(p->prep_values[i]));
    }
    s->n_prep = p->n_prep;
    for (size_t i = 0; i < p->n_notes; i++) {
        size_t slot = (p->notes_start + i) % NOTES_MAX;
        s->notes[i] = arena_put(&cur, p->notes[slot], strlen(p->notes[slot]));
        s->note_is_error[i] = p->note_err[slot];
    }
    s->n_notes = p->n_notes;

    double now = now_of(p);
    int64_t sec = ring_advance(p, now);
    s->phase = p->phase;
    double end = p->phase == IT_PHASE_DONE ? p->done_at : now;
    s->elapsed = end - p->t0 > 0 ? end - p->t0 : 0;
    s->totals = p->t;
    int64_t wb, wi;
    double span;
    ring_sum(p, now, sec, THROUGHPUT_WINDOW, &wb, &wi, &span);
    s->throughput = (double)wb / span;
    for (int i = 0; i < IT_SPARK_LEN; i++) {
        int64_t at = sec - IT_SPARK_LEN + i; /* complete seconds only */
        s->spark[i] = at >= 0 ? (double)p->ring[at % RING_LEN].bytes : 0;
    }
    s->eta = compute_eta(p, now, sec, s->throughput);
    s->stop_requested = it_runctl_stopping(p->ctl);
    s->one_src_host = !p->src_hosts_differ;
    s->one_dst_host = !p->dst_hosts_differ;
    pthread_mutex_unlock(&p->mu);
    free(pick);

    qsort(s->rows, s->n_rows, sizeof *s->rows, row_cmp);
    qsort(s->hosts, s->n_hosts, sizeof *s->hosts, host_row_cmp);
    return s;

fail:
    pthread_mutex_unlock(&p->mu);
    free(pick);
    it_snapshot_free(s);
    return NULL;
}

void it_snapshot_free(it_snapshot *s)
{
    if (!s)
        return;
    snap_impl *si = (snap_impl *)s;
    free(s->rows);
    free(s->prep_keys);
    free(s->prep_values);
    free(s->notes);
    free(s->note_is_error);
    free(si->arena);
    free(si);
}

/* Detail rows: failed first, then by tag. */
static int image_row_cmp(const void *a, const void *b)
{
    const it_image_row *x = a, *y = b;
    bool fx = x->state == IT_IMG_FAILED, fy = y->state == IT_IMG_FAILED;
    if (fx != fy)
        return fx ? -1 : 1;
    return strcmp(x->tag, y->tag);
}

int it_progress_repo_images(it_image_row **out, size_t *n_out, it_progress *p,
                            int repo_id)
{
    *out = NULL;
    *n_out = 0;
    int rc = 0;
    pthread_mutex_lock(&p->mu);
    if (!valid_repo(p, repo_id)) {
        rc = -1;
        goto out;
    }
    const repo *r = &p->repos[repo_id];
    if (r->n_imgs == 0)
        goto out;
    it_image_row *rows = calloc(r->n_imgs, sizeof *rows);
    if (!rows) {
        rc = -1;
        goto out;
    }
    for (size_t k = 0; k < r->n_imgs; k++) {
        const img *m = &p->imgs[r->imgs[k]];
        rows[k].tag = strdup(m->tag);
        rows[k].digest = it_strdup0(m->digest);
        rows[k].error = it_strdup0(m->error);
        rows[k].state = m->st;
        rows[k].bytes_done = m->bytes_done;
        if (!rows[k].tag || (m->digest && !rows[k].digest) ||
            (m->error && !rows[k].error)) {
            it_image_rows_free(rows, k + 1);
            rc = -1;
            goto out;
        }
    }
    qsort(rows, r->n_imgs, sizeof *rows, image_row_cmp);
    *out = rows;
    *n_out = r->n_imgs;
out:
    pthread_mutex_unlock(&p->mu);
    return rc;
}

void it_image_rows_free(it_image_row *rows, size_t n)
{
    if (!rows)
        return;
    for (size_t i = 0; i < n; i++) {
        free(rows[i].tag);
        free(rows[i].digest);
        free(rows[i].error);
    }
    free(rows);
}

it_progress_reader it_progress_reader_of(it_progress *p)
{
    it_progress_reader r = {
        .model = p,
        .snapshot = it_progress_snapshot,
        .snapshot_free = it_snapshot_free,
        .repo_images = it_progress_repo_images,
        .image_rows_free = it_image_rows_free,
    };
    return r;
}
