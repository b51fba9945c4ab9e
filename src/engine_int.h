/*
 * engine_int.h - what the engine files share (private to src/engine*.c).
 *
 * Work is a tree of tasks taken by a pool of workers from a queue with four
 * priority levels (deepest work first, so bytes start moving early and
 * memory stays small):
 *
 *   REPO   list source tags (and the target's, to learn which tags exist
 *          and whether the repository is new), queue one IMAGE per tag
 *   IMAGE  compare digests (HEAD both sides), fetch the manifest, build the
 *          manifest tree (an index's children are nodes of their own)
 *   NODE   fetch one child manifest of an index, queue its blobs
 *   BLOB   make one blob present in the target repository: skip if known,
 *          wait if another worker is moving it, mount if it is in another
 *          repository of the same registry, else stream-copy it
 *
 * A node's manifest is pushed by the worker that finishes its last blob
 * (or its last child); the root is pushed to the tag last, so a failed
 * image never leaves the tag pointing at a partial image.
 *
 * The files, one idea each:
 *   engine.c            lifecycle and public API
 *   engine_queue.c      the queue, the workers, the final retry pass
 *   engine_clients.c    the client pool, credentials, rate buckets
 *   engine_blobs.c      the blob table (dedup, in flight, failures)
 *   engine_blob_task.c  T_BLOB
 *   engine_image.c      T_IMAGE and T_NODE: the manifest tree
 *   engine_list.c       T_REPO: listing (streamed page by page)
 *   engine_plan.c       --dry-run
 *   engine_results.c    results and stats (a subscriber), image/repo ends
 *   engine_events.c     the event stream and the journal, progress and
 *                       log subscribers
 *   engine_util.c       strdup-or-NULL, join, stop tests, retry (again)
 *   engine_regops.c     the registry seam's default table (regops.h)
 *
 * Registries are reached only through e->ops (regops.h). Everything the
 * engine reports goes out as an it_event through eng_emit (engine.h).
 */

#ifndef IT_ENGINE_INT_H
#define IT_ENGINE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine.h"
#include "limiter.h"
#include "log.h"
#include "registry.h"
#include "regops.h"
#include "retry.h"
#include "runctl.h"
#include "strmap.h"
#include "text.h"

typedef enum { T_REPO = 0, T_IMAGE, T_NODE, T_BLOB, N_LEVELS } task_kind;

/* Listing runs ahead of copying: a worker takes a REPO task first while
 * fewer than this many images wait to start, so totals grow early while
 * queued images (a few hundred bytes each) stay bounded. */
#define ENG_LOOKAHEAD_IMAGES 10000
/* Worker threads at most (twice --routines, whose cap is 256). */
#define ENG_MAX_WORKERS 512

typedef struct task {
    task_kind kind;
    void *obj;
    size_t idx; /* blob index for T_BLOB */
    struct task *next;
} task;

typedef struct repo_ctx {
    it_engine *e;
    task task; /* T_REPO */
    it_pair pair;
    char *src_name; /* "host/repo" */
    char *dst_name;
    int id; /* the id in its events: 0, 1, ... in the order added */
    /* Holders under e->lock: its listing (until it ends for good), each
     * of its images (until freed). The last one frees it. */
    int refs;
    it_regclient *src, *dst;
    bool dst_fresh;  /* the target repository did not exist: no blob HEADs */
    char **dst_tags; /* tags the target has, NULL when unknown */
    /* under e->lock: */
    int images_left, images_failed, images_copied;
    size_t queued;    /* images queued so far (tags listed) */
    bool listing;     /* tags are still being listed: not done yet */
    bool list_failed; /* the listing failed or hit a limit */
    bool relisted;    /* listed again in the final retry pass */
    char *list_error; /* why the first listing failed (relisted) */
    /* issue 13, referrers: whether the source / target serve the
     * referrers API (0 = not known yet, 1 = yes, -1 = no) */
    atomic_int src_ref_api, dst_ref_api;
    /* --prune (14C): the source tags queued (NULL unless pruning applies
     * to this pair); prune_ready once the listing ended complete. */
    it_strmap *prune_keep;
    bool prune_ready;
    /* issue 14, platforms: the filter (pair.platforms, else the engine's
     * --platforms), NULL = none */
    struct it_platform_set *platforms;
    char *platforms_key; /* it_platform_set_key */
    /* Tag filters (issue 14; the listing worker's only): */
    it_tagfilter *filter;    /* NULL = no filter */
    size_t listed;           /* tags seen by the listing so far */
    it_filter_counts counts; /* what each filter left out */
    it_tag_candidate *cand;  /* --latest: the survivors, ordered at the */
    size_t ncand, capcand;   /* end of the listing */
} repo_ctx;

typedef struct image_ctx {
    repo_ctx *repo;
    task task;     /* T_IMAGE, again for the retry pass */
    char *tag;     /* source tag, NULL for a digest rule */
    char *dst_ref; /* tag (or digest) the root manifest is pushed to */
    char *src_str, *dst_str;
    int id; /* the id in its events: 0, 1, ... in the order added */
    int attempt;
    it_regclient *dst; /* refreshed per attempt: credentials may expire */
    bool dst_expires;  /* its credentials are temporary: look up per task */
    atomic_int failed;
    char *error;         /* the first error of this attempt (the cause) */
    char *last_error;    /* the error of the attempt before the retry */
    int64_t fail_bytes;  /* bytes moved when it failed */
    atomic_llong bytes;  /* blob bytes moved by this attempt */
    atomic_llong expect; /* blob bytes of all its manifests (index: sum) */
    char digest[REG_DIGEST_LEN + 1];
    struct node *root;
    /* issue 13, referrers: the target has the source digest already (a
     * skip whose referrers are still copied), and this attempt's counts */
    bool ref_present;
    atomic_long ref_copied, ref_skipped;
    /* issue 14, platforms (engine_platforms.c) */
    char target_digest[REG_DIGEST_LEN + 1]; /* "" = no filter applied */
    char *platforms;                        /* copied, comma-separated */
    int platform_state;                     /* it_platform_state */
    /* --verify (issue 13, engine_verify.c): the verdict of this attempt,
     * the target's digest, what is absent (capped at ENG_VERIFY_MISSING_MAX;
     * missing_more counts the rest). */
    it_verify_status verify;
    char dst_digest[REG_DIGEST_LEN + 1];
    char **missing;
    size_t nmissing, missing_more;
} image_ctx;

#define ENG_VERIFY_MISSING_MAX 16

typedef struct node {
    image_ctx *img;
    struct node *parent;
    char *digest;   /* child nodes: what to fetch */
    char *push_ref; /* where to push: tag for the root, digest otherwise */
    reg_manifest *m;
    atomic_int pending;
    atomic_int failed;
    struct node **kids;
    size_t nkids;
    task task;        /* T_NODE */
    task *blob_tasks; /* T_BLOB, one per blob of m */
} node;

/* (target registry, digest) -> where the blob is known to be. Lookups are
 * hash sets, so the cost of a check does not grow with the number of
 * repositories sharing a blob. */
typedef struct blob_entry {
    /* Repositories of the target registry this run saw it in (a hash set;
     * at most ENG_HOLDERS_MAX are kept, past that the journal answers).
     * NULL until the first. */
    it_strmap *holders;
    char *verified_from; /* the first of them: the mount source */
    it_strmap *moving;   /* repositories it is being put into now */
    task *waiters;       /* woken once, when a move of it ends */
    /* The last copy of it that failed after its retries, in this pass:
     * images waiting for it from the same source fail at once (the final
     * retry pass tries again) instead of each repeating the backoff. */
    char *failed_src; /* "host/repo" it was copied from */
    char *failed_err;
    int failed_pass;
} blob_entry;

#define ENG_HOLDERS_MAX 4096

/* The request counters of one registry host (it_host_stats). */
typedef struct eng_host {
    char host[264];
    atomic_long requests[IT_HTTP_NCLASS];
    atomic_long retries;
    atomic_long in_flight;
    /* issue 15: down state and adaptive limits, under lock */
    pthread_mutex_t lock;
    it_hoststate st;
    it_bucket *bucket;           /* its --qps bucket (the adaptive rate) */
    int64_t down_since_unix;     /* wall clock of st.down_since_ms */
    int64_t last_emit_ms;        /* the last IT_EV_HOST_STATE of a growth */
    atomic_long limit_in_flight; /* copies of st's, read without lock */
    atomic_int ref_api;      /* serves the referrers API: 1, -1 no, 0 unknown */
    pthread_cond_t slot_cv;  /* a slot freed (with lock) */
    atomic_int slot_waiters; /* threads waiting on slot_cv */
} eng_host;

typedef struct client_entry {
    struct it_engine *e;
    it_regclient *client;
    int64_t expires_at;     /* Unix seconds; 0 = credentials never expire */
    struct hook_ctx *hooks; /* owned: the client's hook payload */
    struct client_entry *next_retired; /* replaced, freed at the end */
} client_entry;

struct it_engine {
    it_engine_opts o;
    it_errbuf *err;
    reg_global *global; /* NULL when opts.regops is given */
    it_regops ops;
    it_retry_policy policy; /* the program's policy, --retry attempts */

    pthread_mutex_t lock; /* queue, counters, results, repos */
    pthread_cond_t cond;
    pthread_cond_t done_cv; /* broadcast once `finished` is set */
    task *head[N_LEVELS], *tail[N_LEVELS];
    long outstanding; /* queued + running + parked tasks */
    bool input_done;
    bool finished;
    atomic_int pass;     /* 0, then 1 during the final retry pass */
    size_t repos_listed; /* repositories whose tags are known */
    /* Repositories neither listed nor with a tags hint: while there are
     * none (and the input is done), the totals are known, maybe as
     * estimates, and the ETA can be shown. */
    size_t repos_unhinted;
    size_t nqueued[N_LEVELS]; /* tasks waiting in each queue */
    int listing_now;          /* workers running a REPO task */
    bool enum_reported;
    bool retry_pass_done;
    image_ctx **retry;
    size_t nretry, capretry;
    repo_ctx **relist; /* listings that failed: listed again at the end */
    size_t nrelist, caprelist;

    size_t nrepos, nimages;       /* ids handed out so far */
    long live_repos, live_images; /* objects alive now */

    pthread_mutex_t clients_lock; /* clients, buckets, refreshing */
    pthread_cond_t clients_cv;    /* a refresh finished */
    it_strmap *refreshing;        /* keys whose client a worker is making */
    it_strmap *clients;    /* "host\ncredkey\n(insecure|verify)" -> client */
    it_strmap *buckets;    /* host -> it_bucket */
    it_strmap *hosts;      /* host -> eng_host (request counters) */
    client_entry *retired; /* clients whose credentials expired */
    it_bucket *bandwidth;

    pthread_mutex_t blobs_lock;
    pthread_cond_t plan_cv;  /* a manifest the plan waited for is read */
    it_strmap *blobs;        /* "host digest" -> blob_entry */
    it_strmap *planned;      /* dry-run: "host digest" -> (void*)1 */
    it_strmap *plan_targets; /* dry-run: host -> it_plan_target (made */
                             /* on first use) */
    it_strmap *plan_cache;   /* dry-run: digest -> reg_manifest (no body) */

    /* Kept by the results subscriber only (eng_results_on_event). */
    atomic_long images_by_status[IT_STATUS_PENDING + 1];
    atomic_llong bytes_planned;
    atomic_long blobs_copied, blobs_mounted, blobs_skipped;
    atomic_llong bytes_copied;
    atomic_long http_requests; /* counted by the clients' hooks */
    /* issue 14, platforms: kept by the results subscriber */
    atomic_long images_platform_filtered, images_platform_skipped;

    /* issue 13: referrers of final results (the results subscriber) */
    atomic_long referrers_copied, referrers_skipped;
    /* tags left out by the filters (issue 14) */
    atomic_long filtered_regex, filtered_exclude, filtered_semver,
        filtered_latest;

    it_event_sub *subs; /* the event stream's subscribers, in order */
    size_t nsubs;
    struct progress_sub *progress_sub; /* the progress model's adapter */

    pthread_t *threads;
    int nthreads;

    /* whole namespaces and --prune (14C), kept by the results subscriber */
    atomic_long repos_found, tags_pruned, tags_prune_planned, tags_not_pruned;
    /* --verify (issue 13): tags by it_verify_status (results subscriber);
     * --verify=deep: "host repo digest" of blobs seen present on the
     * target this run (a hash set under blobs_lock, NULL until used). */
    atomic_long verify_by_status[IT_VERIFY_NSTATUS];
    it_strmap *verified;
};

/* ---- engine_expand.c (14C): a wildcard pair's REPO task lists the
 * repositories below its prefix and adds one pair per repository found. */
void eng_expand_repo(it_engine *e, repo_ctx *r);
/* ---- engine_prune.c (14C) */
/* Whether --prune applies to r's pair (all tags of a rule's repository). */
bool eng_prune_applies(const it_engine *e, const repo_ctx *r);
/* r settled: delete the target tags its source no longer has, when its
 * listing ended complete (prune_ready). */
void eng_prune_repo(it_engine *e, repo_ctx *r);

/* ---- engine_util.c */
int64_t eng_add_sat(atomic_llong *a, int64_t d);
/* engine_list.c: a repository listed and/or the input done; emits
 * "enumerated" once everything is listed. */
void eng_enumeration_step(it_engine *e, bool input_done, bool one_listed,
                          bool hinted);
bool eng_stopping(const it_engine *e);
bool eng_aborting(const it_engine *e);
/* The source digest of repo:ref by HEAD into digest_out, retried like any
 * request; expect: the digest the journal recorded (the registry may then
 * answer without reading the manifest), or NULL. */
int eng_head_source(it_engine *e, it_regclient *c, const char *repo,
                    const char *ref, const char *expect,
                    char digest_out[REG_DIGEST_LEN + 1], reg_error *err);
bool eng_again(it_engine *e, int rc, reg_error *err, int *attempt,
               const char *what);

/* ---- engine_queue.c */
void eng_push_locked(it_engine *e, task *t, bool count);
/* Queues t (a task embedded in the object it works on: queueing never
 * allocates, so it cannot fail). */
void eng_enqueue(it_engine *e, task *t, task_kind kind, void *obj, size_t idx);
void eng_idle_locked(it_engine *e);
void *eng_worker(void *arg);

/* ---- engine_clients.c */
void eng_free_client(void *p);
it_regclient *eng_get_client(it_engine *e, const char *host, const char *repo,
                             bool *expires, reg_error *err);
it_regclient *eng_dst_client(it_engine *e, image_ctx *img);
void eng_free_bucket(void *p);
void eng_free_host(void *p); /* issue 15: an eng_host (its lock) */
/* The request counters are kept by the clients' hooks, which run on the
 * worker threads. A retry step counts a retry for the host of this
 * thread's last request; the end of a task closes whatever request of
 * this thread was left unanswered (a transfer cancelled mid-way), so the
 * in-flight counts cannot drift. */
void eng_count_retry(void);
void eng_clients_task_end(void);
/* issue 15: the engine's clock (opts.now_ms or the monotonic one), and the
 * host-down side of a retry step: after a transient failure rc/err of
 * this thread's last request, waits while its host is down (one probe at
 * a time) until the host answers, this thread is the probe, or the window
 * (deadline_ms, monotonic) passes. Returns 1 when the request may be tried
 * again now, 0 when its host was not down (the caller sleeps its own
 * backoff), -1 when the deadline passed or the run aborts (*host and
 * *down_ms then name the host and how long it has been down). */
int64_t eng_now_ms(const it_engine *e);
int eng_host_wait(it_engine *e, const reg_error *err, int64_t deadline_ms,
                  char *host, size_t host_cap, int64_t *down_ms);
/* The longest a host that this thread's last failure found down has been
 * down (ms), 0 when it is up (for the window of a request that started
 * during an outage). */
int64_t eng_host_down_for(it_engine *e);
/* Forgets this thread's last unanswered request (a failure that is not
 * transient says nothing of its host). */
void eng_host_forget(void);
/* Whether host serves the OCI referrers API, learned once per host (a
 * registry that serves it never answers 404, OCI distribution spec 1.1):
 * 1 yes, -1 no, 0 not known yet. */
int eng_host_referrers_api(it_engine *e, const char *host);
void eng_host_set_referrers_api(it_engine *e, const char *host, int api);

/* ---- engine_results.c */
void eng_image_fail(image_ctx *img, const char *prefix, const char *msg);
bool eng_repo_settled_locked(const repo_ctx *r, it_repo_state *st);
/* Announces r's final state rs (why may be NULL). */
void eng_repo_settled(it_engine *e, repo_ctx *r, it_repo_state rs,
                      const char *why);
void eng_repo_image_done(it_engine *e, repo_ctx *r, it_image_status st);
void eng_image_finish(it_engine *e, image_ctx *img, it_image_status st,
                      const char *why);
void eng_repo_fail(it_engine *e, repo_ctx *r, const char *msg);
/* Drops one hold on r (see repo_ctx.refs); the last frees it. Caller
 * holds e->lock when `locked`. */
void eng_repo_unref(it_engine *e, repo_ctx *r, bool locked);
/* Frees an image that has ended for good and drops its repository. */
void eng_image_done_free(it_engine *e, image_ctx *img);
void eng_image_done_free_locked(it_engine *e, image_ctx *img);
/* The failure an image announced with will_retry is final (the run
 * stopped before its retry): its result, once. */
void eng_image_final_failure(it_engine *e, image_ctx *img);

/* ---- engine_image.c */
void eng_node_free(node *n);
void eng_node_child_done(it_engine *e, node *n, bool ok);
void eng_run_node(it_engine *e, node *n);
void eng_run_image(it_engine *e, image_ctx *img);
void eng_image_free(image_ctx *img);

/* ---- engine_blobs.c */
/* Records repo as a holder of the blob (seen there this run). Caller holds
 * blobs_lock. */
void eng_entry_add(blob_entry *be, const char *repo);
blob_entry *eng_entry_get(it_engine *e, const char *key);
void eng_entry_free(void *p);
/* What the blob table says a BLOB task should do. */
typedef enum eng_claim {
    ENG_CLAIM_MOVE,    /* put it into dst_repo now, for this task */
    ENG_CLAIM_PRESENT, /* known to be in the target repository */
    ENG_CLAIM_PARKED,  /* a move of it is in flight: t is queued again */
                       /* once, when that move ends */
    ENG_CLAIM_FAILED,  /* failed for another image from the same source */
    ENG_CLAIM_NOMEM
} eng_claim;
typedef struct blob_claim_out {
    blob_entry *entry;
    bool known_here; /* the journal says an earlier run put it there */
    char *from;      /* ENG_CLAIM_MOVE: a mount source (malloc'd) or NULL */
    char why[600];   /* ENG_CLAIM_FAILED: the earlier error */
} blob_claim_out;
/* Looks the blob up (key "host digest") for dst_repo and claims it. Moves
 * into different repositories run in parallel once one repository of the
 * registry holds the blob; the first copy into the registry is made once
 * (the others wait for it, then mount). */
eng_claim eng_blob_claim(it_engine *e, const char *key, const char *dst_repo,
                         const char *src_name, task *t, blob_claim_out *out);
/* Ends a claim: records where the blob now is (or its failure) and
 * queues the tasks parked on it again. */
void eng_blob_release(it_engine *e, blob_entry *be, const char *dst_repo,
                      bool present, const char *src_name, const char *error);
/* The registry said a manifest's blobs are unknown in repo: forget that
 * they were verified there, so the retry pass copies them. */
void eng_blobs_forget(it_engine *e, const char *host, const char *repo,
                      const reg_manifest *m);

/* ---- engine_blob_task.c */
bool eng_run_blob(it_engine *e, node *n, size_t i, task *t);

/* ---- engine_referrers.c (issue 13) */
/* Copies what refers to the image's manifests (the root, each child of an
 * index), and what refers to those in turn, into the image's target
 * repository; writes the referrers tag schema index where the target does
 * not serve the referrers API. Runs once the image's manifests are on the
 * target, before the image ends. m: the root manifest whose children are
 * walked (a platform-filtered index found present), NULL for the image's
 * tree (read from the source for an image found present). Returns false
 * after eng_image_fail. */
bool eng_referrers_run(it_engine *e, image_ctx *img, const reg_manifest *m);
/* A target refused m, which has foreign layers (issue 13): a static hint
 * naming the registry setting to change, else NULL. */
const char *eng_foreign_refused(const reg_manifest *m, const reg_error *err);
/* What refers to manifest `digest` in r's source repository (FA: shared
 * by the copy and --verify=deep): the referrers API, or where it is not
 * served the referrers tag schema, and cosign's ".sig", ".att", ".sbom"
 * tags (those entries carry their tag). *out (caller frees with
 * reg_referrers_free) or a negative code (err). Reads only. */
int eng_referrers_list(it_engine *e, repo_ctx *r, const char *digest,
                       reg_referrers **out, reg_error *err);

/* ---- engine_plan.c */
/* --dry-run: counts what the image's source manifest (img->digest, known
 * from a HEAD; each distinct manifest is read once per run) would move and
 * prints the plan line. */
int eng_plan_image(it_engine *e, image_ctx *img, reg_error *err);
void eng_plan_cache_free(void *p);

/* ---- engine_verify.c (--verify, issue 13) */
/* Verifies the image (its target client and IMAGE_STARTED are done) and
 * finishes it with its verdict. Copies nothing. */
void eng_verify_image(it_engine *e, image_ctx *img, const char *src_ref);
/* Frees what a verify attempt kept in img (the missing list). */
void eng_verify_clear(image_ctx *img);

/* ---- engine_list.c */
void eng_run_repo(it_engine *e, repo_ctx *r);
void eng_relist_abandon_locked(it_engine *e, repo_ctx *r);
void eng_repo_free(repo_ctx *r);

/* ---- engine_platforms.c (issue 14) */
/* Sets r's filter from specs (a pair's own), else the engine's
 * --platforms. False with a message in why when a spec is invalid or
 * memory ran out. */
bool eng_platforms_init(it_engine *e, repo_ctx *r, char *const *specs,
                        char *why, size_t cap);
void eng_platforms_free(repo_ctx *r);
/* With a filter (and not a dry run), instead of comparing digests and
 * fetching the manifest: gets the source manifest, filters an index by
 * platform (or checks a single image's config), and compares with the
 * target. 0 = copy *out (the source manifest or the filtered index;
 * img->digest is the source's), 1 = settled as skipped (why), or a
 * negative REG_E* code (err). */
int eng_platforms_start(it_engine *e, image_ctx *img, const char *src_ref,
                        reg_manifest **out, char *why, size_t cap,
                        reg_error *err);
/* --dry-run: the children of the image's index m the plan counts, as the
 * copy would keep them (buildx attestations with their platform): 0 with
 * *out the filtered index, or NULL when m stands as it is (no filter, or
 * every child kept); 1 when no child is kept; or a negative code. */
int eng_platforms_plan_index(const image_ctx *img, const reg_manifest *m,
                             reg_manifest **out, reg_error *err);
/* --verify with a platform filter (FA): applies img's filter to m (the
 * source manifest, read by the caller) as a copy would: *m may be
 * replaced by the filtered index. 0 = selected (img->target_digest is what
 * the target tag should have, img->platforms / ->platform_state set),
 * 1 = not selected (no matching platform; why), or a negative code. */
int eng_platforms_select(it_engine *e, image_ctx *img, reg_manifest **m,
                         char *why, size_t cap, reg_error *err);

/* ---- engine_events.c */
/* Hands ev to every subscriber, its text redacted first (ev->text is
 * cleared after). */
void eng_emit(it_engine *e, it_event *ev);
/* The built-in subscribers, then the caller's. Returns 0 or -1. */
int eng_events_init(it_engine *e);
void eng_events_free(it_engine *e);
/* ---- engine_results.c: the results subscriber */
void eng_results_on_event(void *payload, const it_event *ev);

#endif /* IT_ENGINE_INT_H */
