/*
 * engine.h - the transfer engine: repository pairs in, images copied out.
 *
 * Pairs are fed (possibly while the engine runs, from a producer thread
 * such as the CCR planner) with it_engine_add_pair; a pool of worker
 * threads lists tags, compares digests, moves blobs (each distinct blob at
 * most once per target registry: others get it by mount) and pushes
 * manifests (an index's children by digest first, then the index to the
 * tag). Registries are reached through a table of operations (regops.h,
 * it_engine_opts.regops), and everything the engine reports is one stream
 * of typed events (it_event) to subscribers: the results, the journal,
 * the progress model and the log. See ARCHITECTURE.md, "Data flow" and
 * "Concurrency".
 */
#ifndef IT_ENGINE_H
#define IT_ENGINE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "errbuf.h"
#include "runctl.h"
#include "pair.h"
#include "secrets.h"
#include "journal.h"
#include "progress.h"
#include "tagfilter.h"

typedef enum it_image_status {
    IT_STATUS_COPIED = 0,
    IT_STATUS_SKIPPED,
    IT_STATUS_FAILED,
    IT_STATUS_PLANNED, /* --dry-run: would be copied */
    IT_STATUS_PENDING, /* never started: the run was stopped first */
    /* --prune (14C): a target tag the source no longer has. Only in
     * IT_EV_TAG_PRUNED and its result, never an image's status. */
    IT_STATUS_PRUNED,        /* deleted */
    IT_STATUS_PRUNE_PLANNED, /* --dry-run: would be deleted */
    IT_STATUS_NOT_PRUNED     /* kept: not deletable (why in error) */
} it_image_status;

/* --verify: what a tag was found to be (IT_VERIFY_NONE in a copy run). */
typedef enum it_verify_status {
    IT_VERIFY_NONE = 0,
    IT_VERIFY_IDENTICAL,  /* same manifest digest, children (deep: blobs) */
                          /* present */
    IT_VERIFY_MISSING,    /* the target has no such tag */
    IT_VERIFY_DIFFERENT,  /* the target tag has another digest */
    IT_VERIFY_INCOMPLETE, /* same digest, but children or blobs absent */
    IT_VERIFY_ERROR       /* could not be checked */
} it_verify_status;
#define IT_VERIFY_NSTATUS (IT_VERIFY_ERROR + 1)

/* The outcome of one image (one tag), for the report. */
typedef struct it_image_result {
    const char *source; /* "host/repo:tag" */
    const char *target;
    const char *digest; /* source manifest digest, NULL if never learned */
    it_image_status status;
    int64_t bytes;     /* blob bytes moved (or, dry-run, to move) */
    const char *error; /* why failed / skipped, NULL otherwise */
    /* issue 13: referrers (signatures, SBOMs, ...) copied / already there */
    long referrers_copied, referrers_skipped;
    /* issue 14, platforms: set when a platform filter applied */
    const char *target_digest; /* what the target tag points at (a filtered */
                               /* index differs from digest), or NULL */
    const char *platforms;     /* the platforms copied, comma-separated */
    int platform_state;        /* it_platform_state */
    /* --verify (issue 13): the tag's status (identical = SKIPPED, the
     * others FAILED with the reason in error), the target's digest, and
     * for incomplete what is absent (capped; nmissing entries). */
    it_verify_status verify;
    const char *const *missing;
    size_t nmissing;
} it_image_result;

/* issue 14: what a platform filter did to an image. */
typedef enum it_platform_state {
    IT_PLATFORM_NONE = 0, /* no filter, or one that kept the image whole */
    IT_PLATFORM_FILTERED, /* an index with fewer children was pushed */
    IT_PLATFORM_NO_MATCH  /* skipped: no matching platform */
} it_platform_state;

/* The status class of an HTTP request, for the per-host counters. */
typedef enum it_http_class {
    IT_HTTP_2XX = 0,
    IT_HTTP_3XX,
    IT_HTTP_4XX,
    IT_HTTP_5XX,
    IT_HTTP_ERROR, /* no answer (connection, TLS, timeout, cancelled) */
                   /* or a status outside 200..599 */
    IT_HTTP_NCLASS
} it_http_class;

/* Requests to one registry host (its token service included), counted by
 * the hooks of the engine's clients. */
typedef struct it_host_stats {
    char host[264];                /* "host[:port]" as in references */
    long requests[IT_HTTP_NCLASS]; /* requests answered, by class */
    long retries;   /* tries again under the retry policy, counted for */
                    /* the host of the worker's last request */
    long in_flight; /* requests started and not answered yet */
    /* issue 15: the host's adaptive limits and state */
    long limit_in_flight; /* requests allowed at once (AIMD) */
    double limit_rps;     /* requests per second allowed, 0 = no cap */
    long throttled;       /* 429/503 answers */
    int64_t down_since;   /* Unix seconds it has been unreachable since, */
                          /* 0 = up */
} it_host_stats;

typedef struct it_engine_stats {
    long images_total, images_copied, images_skipped, images_failed;
    long images_planned, images_pending;
    int64_t bytes_planned; /* --dry-run: bytes of new blobs to move */
    long blobs_copied, blobs_mounted, blobs_skipped;
    int64_t bytes_copied;
    long http_requests;
    long referrers_copied, referrers_skipped; /* issue 13 */
    /* whole namespaces and --prune (14C) */
    long repos_found; /* repositories found by wildcard rules */
    long tags_pruned, tags_prune_planned, tags_not_pruned;
    /* issue 14, platforms */
    long images_platform_filtered; /* a filtered index was pushed/present */
    long images_platform_skipped;  /* skipped: no matching platform */
    /* tag filters (issue 14): tags each filter left out, all repositories */
    it_filter_counts filtered;
    /* --verify (issue 13): 0 off, 1 shallow, 2 deep; tags by status
     * (listings that failed count as errors). */
    int verify;
    long verify_identical, verify_missing, verify_different;
    long verify_incomplete, verify_errors;
} it_engine_stats;

/* ------------------------------------------------------------- events */

/* What the engine tells its subscribers. One stream: the results (report,
 * it_engine_stats_get), the journal, the progress model and the log are
 * all subscribers of it, so every count and summary comes from the same
 * events. Text (`text`) is redacted and escaped once, by the engine,
 * before any subscriber sees it. */
typedef enum it_event_kind {
    IT_EV_REPO_ADDED,     /* repository `repo` (source -> target) is queued; */
                          /* `count`: images expected (0 = unknown) */
    IT_EV_IMAGE_ADDED,    /* image `image` (`tag`) of `repo` is queued */
    IT_EV_PHASE,          /* the run entered `phase` (RETRYING: `count` */
                          /* images and `size` listings are retried) */
    IT_EV_ENUMERATED,     /* every repository is listed or has a tags hint: */
                          /* the totals are known (hinted ones estimated) */
    IT_EV_REPO_STATE,     /* repository `repo` is in `repo_state` (why) */
    IT_EV_REPO_LISTED,    /* its listing ended: `count` images queued; */
                          /* status FAILED (text; will_retry: listed */
                          /* again in the final pass), PENDING (stopped) */
                          /* or COPIED (fine) */
    IT_EV_REPO_FAILED,    /* a repository that was not listed: status */
                          /* FAILED (text; `repo` is failed too) or PENDING */
    IT_EV_PAIR_FAILED,    /* a pair that cannot be copied (text), added */
                          /* as failed: no progress ids yet */
    IT_EV_IMAGE_STARTED,  /* image `image` is being compared / copied */
    IT_EV_IMAGE_EXPECT,   /* image `image` is expected to move `bytes` */
    IT_EV_BYTES,          /* image `image` moved `bytes` (negative: the */
                          /* bytes of a failed attempt taken back) */
    IT_EV_BLOB_DONE,      /* a blob is present (`outcome`); `registry` set */
                          /* when this task put or verified it in repo_path */
    IT_EV_IMAGE_PRESENT,  /* the target has the source digest already */
    IT_EV_IMAGE_FINISHED, /* image `image` ended with `status`, digest, */
                          /* bytes, text; FAILED with will_retry: tried */
                          /* again in the final retry pass */
    /* whole namespaces and --prune (14C): */
    IT_EV_TAG_PRUNED,    /* a target tag (`target`, "host/repo:tag") the */
                         /* source (`source`) no longer has: status PRUNED, */
                         /* PRUNE_PLANNED (dry run), NOT_PRUNED (text: why) */
                         /* or FAILED (text); digest when known */
    IT_EV_IMAGE_CREATED, /* tag filters (issue 14), --latest: the image */
                         /* `digest` in `registry`/`repo_path` was */
                         /* created at `size` (Unix seconds; LLONG_MIN: */
                         /* its config has no time); for the journal */
    /* issue 15 */
    IT_EV_HOST_STATE, /* registry host `registry`: `count` 1 = down since */
                      /* `bytes` (Unix s), next try at `size` (Unix ms); */
                      /* 0 = up; `limit` its current limits */
} it_event_kind;

typedef struct it_event {
    it_event_kind kind;
    int repo, image; /* the engine's ids: 0, 1, ... in the order added */
    const char *source, *target; /* "host/repo[:tag]" */
    const char *registry, *repo_path, *digest;
    const char *tag; /* IT_EV_IMAGE_ADDED: the label of the image */
    it_phase phase;
    it_repo_state repo_state;
    it_image_status status;
    it_blob_outcome outcome;
    int64_t bytes, size;
    long count;
    bool will_retry;
    /* IT_EV_IMAGE_FINISHED: the outcome announced before with will_retry,
     * now final (the run stopped before the retry pass): nothing changed,
     * only the results subscriber records it. */
    bool again;
    const char *text; /* why / error, redacted; may be NULL */
    /* issue 13, IT_EV_IMAGE_FINISHED: referrers copied / already there */
    long ref_copied, ref_skipped;
    /* issue 14, platforms (IT_EV_IMAGE_PRESENT, IT_EV_IMAGE_FINISHED):
     * set when a platform filter applied; the strings are normalised
     * platform names and digests (no control bytes) */
    const char *target_digest; /* the digest of what the tag points at */
    const char *platforms;     /* the platforms copied, comma-separated */
    const char *platforms_key; /* the filter (it_platform_set_key) */
    int platform_state;        /* it_platform_state */
    /* IT_EV_REPO_LISTED (issue 14, tag filters): the tags each filter left
     * out (NULL when the repository has no filter), and the order "the
     * newest N" used ("semver", "created", "push_time"; NULL without
     * --latest). */
    const it_filter_counts *filtered;
    const char *order;
    /* IT_EV_IMAGE_FINISHED of a --verify run (issue 13): as in
     * it_image_result. */
    it_verify_status verify;
    const char *const *missing;
    size_t nmissing;
    /* issue 15: IT_EV_HOST_STATE: the host's limits now */
    long limit_in_flight;
    double limit_rps; /* 0 = no cap */
    /* whole namespaces (14C), IT_EV_REPO_ADDED: the repository is a
     * wildcard rule's own row (its repositories are added as found) */
    bool wildcard;
} it_event;

/* A subscriber: called from worker threads (and the caller's thread),
 * possibly with engine locks held; must be quick, thread-safe and must not
 * call back into the engine. */
typedef struct it_event_sub {
    void (*fn)(void *payload, const it_event *ev);
    void *payload;
} it_event_sub;

/* Credentials the engine uses for a host when the secrets file has none
 * with a username (e.g. a TCR instance token). Returns 0 with malloc'd
 * strings and *expires_at (Unix seconds, 0 = never; the engine asks again
 * five minutes before), or -1 when it has nothing for that host. Called
 * from worker threads. */
typedef int (*it_creds_fn)(void *payload, const char *host, char **username,
                           char **password, int64_t *expires_at);

typedef struct it_engine_opts {
    /* --routines: requests in flight to one registry host at once (the
     * adaptive limit's cap). workers: worker threads, 0 = twice routines,
     * so that one host's round trips overlap the other's (a manifest GET
     * from the source while uploads hold the target's slots). */
    int routines;
    int workers;
    int retry;
    int qps;           /* per registry host, 0 = unlimited */
    int64_t bandwidth; /* bytes/s over all blob streams, 0 = off */
    size_t max_tags;   /* tags listed per repository, 0 = library default */
    size_t max_pages;  /* pages per listing, 0 = library default */
    bool tag_exist_overridden; /* overwrite a target tag with another */
                               /* digest */
    bool dry_run;
    const it_secrets *secrets; /* may be NULL */
    const char *ca_file;       /* may be NULL */
    it_creds_fn creds_fn;      /* may be NULL */
    void *creds_payload;
    it_journal *journal;   /* may be NULL (no journal) */
    it_progress *progress; /* required */
    FILE *plan_out;        /* --dry-run plan lines; NULL = stdout */
    bool plan_quiet;       /* --dry-run: no plan lines (the caller */
                           /* prints the plan: it_engine_plan_targets) */
    /* The run control (may be NULL): stop starts no new images or
     * repositories; abort also cancels transfers in flight. Raised by the
     * signal handler and the dashboard, never by the engine. */
    const it_runctl *ctl;
    /* Seams for tests (NULL = the real thing): the registry operations
     * (copied at start), and the sleep of the retry backoff. */
    const struct it_regops *regops;
    void (*sleep_ms)(void *payload, int64_t ms);
    void *sleep_payload;
    /* More subscribers of the event stream, called after the built-in
     * ones (results, journal, progress, log); copied at start. */
    const it_event_sub *subscribers;
    size_t nsubscribers;
    /* The results: called once per image (and per repository or pair that
     * failed as a whole) with its final outcome, from worker threads (so
     * it must be thread-safe), as soon as it is final; r is valid during
     * the call only. The engine keeps nothing per image after that: the
     * caller streams them (the report) or collects them (tests). */
    void (*on_result)(void *payload, const it_image_result *r);
    void *result_payload;
    /* issue 13: copy each image's referrers (signatures, SBOMs,
     * attestations) with it; the program sets it from --referrers
     * (default true). */
    bool referrers;
    /* whole namespaces and --prune (14C): */
    bool prune; /* delete target tags the source no longer has */
    /* Takes a repository found by a wildcard rule (--shard), NULL = all. */
    bool (*takes_repo)(void *payload, const char *src_repo);
    void *takes_payload;
    /* issue 14, platforms: --platforms, comma-separated specs (a pair's
     * own `platforms` wins); NULL = every platform, indexes copied byte
     * for byte */
    const char *platforms;
    /* Tag filters (issue 14): called once per filtered repository when
     * its listing ends well, with what each filter left out and the
     * order of --latest (NULL without it); from worker threads. */
    void (*on_filtered)(void *payload, const char *source, const char *target,
                        const it_filter_counts *c, const char *order);
    /* --verify (issue 13): 0 off, 1 shallow, 2 deep. Copies nothing:
     * each tag is compared (HEAD both sides) and reported with its
     * it_verify_status; a tag not identical is dropped from the journal. */
    int verify;
    /* issue 15: a transient failure is retried for this long per request
     * (--retry-window, ms; 0 = `retry` times only, and no host is ever
     * marked down), waiting for a host that is down (one probe at a
     * time); adaptive: per host in-flight and rate limits (AIMD on
     * 429/503, RateLimit headers), capped by routines and qps. now_ms: the
     * clock of the window (NULL = the monotonic clock; called with
     * sleep_payload), a seam for tests with sleep_ms. */
    int64_t retry_window_ms;
    bool adaptive;
    int64_t (*now_ms)(void *payload);
} it_engine_opts;

typedef struct it_engine it_engine;

/* Creates the engine and starts its workers. The opts' pointers must stay
 * valid until it_engine_free. Returns 0 or -1 with a message. */
int it_engine_start(it_engine **out, const it_engine_opts *o, it_errbuf *err);
/* Queues a repository pair (copied). Thread-safe. */
int it_engine_add_pair(it_engine *e, const it_pair *p);
/* Marks a repository pair that cannot be copied (e.g. its namespace could
 * not be created): reported as failed with reason, nothing is tried. */
void it_engine_add_failed(it_engine *e, const char *source, const char *target,
                          const char *reason);
/* No more pairs will be added. */
void it_engine_input_done(it_engine *e);
/* Waits up to timeout_s seconds (woken at once when the run finishes);
 * true once everything, including the final retry pass, is finished. */
bool it_engine_wait_finished(it_engine *e, double timeout_s);
/* Waits until everything (and the final retry pass) is finished. */
void it_engine_wait(it_engine *e);
/* The counts of the results handed to on_result so far, and of blobs,
 * bytes and requests. */
void it_engine_stats_get(const it_engine *e, it_engine_stats *s);
/* Repository and image objects alive now (for tests of the memory rule:
 * nothing per image outlives its end). */
void it_engine_live(it_engine *e, long *repos, long *images);
/* --dry-run: what the plan moves into one target registry, each distinct
 * blob counted once (as in the plan lines). */
typedef struct it_plan_target {
    char registry[264];
    long images; /* images planned into it */
    long blobs;
    int64_t bytes;
} it_plan_target;
/* A malloc'd copy (free() it) of the plan per target registry, sorted by
 * registry, or NULL with *n = 0 (nothing planned, or out of memory).
 * Thread-safe. */
it_plan_target *it_engine_plan_targets(it_engine *e, size_t *n);
/* A copy of the per-host request counters: one entry per registry host
 * the engine made a client for, sorted by host. Thread-safe, any time
 * until it_engine_free. A malloc'd array (free() it) of *n entries, or
 * NULL with *n = 0 (no host yet, or out of memory). */
it_host_stats *it_engine_host_stats(it_engine *e, size_t *n);
/* "2xx", "3xx", "4xx", "5xx" or "error". */
const char *it_http_class_name(it_http_class c);
void it_engine_free(it_engine *e);
const char *it_image_status_name(it_image_status s);
/* "identical", "missing", "different", "incomplete", "error" ("" for
 * IT_VERIFY_NONE). */
const char *it_verify_status_name(it_verify_status s);

/* --preflight (issue 13): a new registry client (reg_client_free() it)
 * for host with the credentials and TLS setting the engine uses for repo
 * (the same lookup as a copy: registry-secret.yaml, the Docker config's
 * credential helper, then opts.creds_fn; insecure per host:port; the
 * engine's --ca-file). Not pooled, no rate bucket: for a handful of probe
 * requests. Returns 0, or a REG_E* code with err (REG_EUNSUPPORTED when
 * the engine runs with a test seam, opts.regops). */
struct reg_client;
struct reg_error;
int it_engine_reg_client(it_engine *e, const char *host, const char *repo,
                         struct reg_client **out, struct reg_error *err);

#endif /* IT_ENGINE_H */
