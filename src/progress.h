/*
 * progress.h - the progress model: the engine (and the CCR planner, and
 * the app) send events in; the dashboard, the headless printer and the
 * final summary read snapshots out (snapshot.h) and never write. One mutex,
 * held briefly by every call; no call blocks on I/O. All functions are
 * thread-safe. Strings passed in are copied.
 */
#ifndef IT_PROGRESS_H
#define IT_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runctl.h"
#include "snapshot.h"

typedef enum it_blob_outcome {
    IT_BLOB_COPIED = 0,
    IT_BLOB_MOUNTED,
    IT_BLOB_SKIPPED /* already present on the target */
} it_blob_outcome;

/* now_fn returns monotonic seconds (NULL = CLOCK_MONOTONIC); tests pass a
 * fake clock. mode is "generic" or "ccrToTcr". */
it_progress *it_progress_new(const char *mode, const char *source,
                             const char *target, double (*now_fn)(void));
void it_progress_free(it_progress *p);

void it_progress_phase(it_progress *p, it_phase phase);
/* CCR->TCR preparation facts shown in the header: key such as "instance",
 * "namespaces"; value such as "image-transfer (tcr-abc, Running)" or
 * "12 listed, 3 created, 0 failed". Replaces an earlier value of key. */
void it_progress_prep(it_progress *p, const char *key, const char *value);
/* A --shard run: "I/N", shown in the title bar, the headless lines and the
 * summary. NULL or "" = not sharded (the default). */
void it_progress_shard(it_progress *p, const char *shard);
/* issue 15: registry host `host` is down (since down_since, Unix s; next
 * probe at next_try_ms, Unix ms) or up, with its current adaptive limits.
 * Kept for the first IT_HOSTS_MAX hosts reported. */
void it_progress_host(it_progress *p, const char *host, bool down,
                      int64_t down_since, int64_t next_try_ms,
                      long limit_in_flight, double limit_rps);

/* A repository pair found; returns its id (>= 0), or the existing id when
 * the same (src, dst) pair was added before. */
int it_progress_repo_add(it_progress *p, const char *src_repo,
                         const char *dst_repo);
void it_progress_repo_state(it_progress *p, int repo, it_repo_state st,
                            const char *error /* NULL */);
/* Whole namespaces (14C): repo is a wildcard rule's own row. It stays a
 * row (listing, then "N repositories found"), but the repository totals
 * count the repositories it finds, not the row, unless its listing
 * fails (then it is a failed repository). */
void it_progress_repo_wildcard(it_progress *p, int repo);
/* Called when the tags of a repo are known (total images to do). */
void it_progress_repo_tags(it_progress *p, int repo, int n_images);

/* Images repo is expected to hold before it is listed (the CCR API's
 * TagCount): counted in the totals until it_progress_repo_tags says. */
void it_progress_repo_hint(it_progress *p, int repo, int n_images);
/* An image (one tag) planned in repo; returns its id. */
int it_progress_image_add(it_progress *p, int repo, const char *tag);
/* State change; digest and error may be NULL. bytes_expected = total size
 * of blobs still to move for this image, known once its manifest is read
 * (-1 = unknown). */
void it_progress_image_state(it_progress *p, int image, it_image_state st,
                             const char *digest, const char *error);
/* issue 13: an image ended with these referrers copied / present. */
void it_progress_referrers(it_progress *p, long copied, long skipped);
/* issue 14, platforms: what a platform filter did to an image that ended
 * well, counted in its repository and the totals: state 1 = pushed as a
 * filtered index, 2 = skipped: no matching platform (it_platform_state);
 * 0 does nothing. Call before the image's final state (which retires
 * it). */
void it_progress_image_platform(it_progress *p, int image, int state);
void it_progress_image_expect(it_progress *p, int image,
                              int64_t bytes_expected);
/* Bytes moved for image (blob stream progress). */
void it_progress_bytes(it_progress *p, int image, int64_t delta);
void it_progress_blob(it_progress *p, it_blob_outcome o);

/* All repos and tags are known (the totals stop growing). */
void it_progress_enumeration_done(it_progress *p);
/* A warning or error line for the bottom pane (already redacted). */
void it_progress_note(it_progress *p, bool is_error, const char *line);
/* Waits up to timeout_s seconds for the phase to become IT_PHASE_DONE
 * (woken at once when it does). Returns true when it is done. */
bool it_progress_wait_done(it_progress *p, double timeout_s);
/* The run control whose state snapshots show (stop_requested): borrowed,
 * must outlive the model; NULL = none (never stopping). Control stays
 * with it_runctl: the model only reflects it. */
void it_progress_bind_runctl(it_progress *p, const it_runctl *ctl);

/* ------------------------------------------------------------ snapshot */

/* A consistent copy of the model (filter may be NULL). Caller frees. */
it_snapshot *it_progress_snapshot(it_progress *p,
                                  const it_snapshot_filter *filter);
void it_snapshot_free(it_snapshot *s);
/* Per-tag detail of one repo (for the dashboard's detail view): the images
 * still open (pending, copying) and the failed ones, failed first, then by
 * tag. Copied and skipped images are only counted (the repo row's
 * images_done): the model keeps nothing per image after it ends well, so
 * its memory follows the images in flight, not the tags. Returns 0, or -1
 * (no such repo, out of memory). */
int it_progress_repo_images(it_image_row **out, size_t *n_out, it_progress *p,
                            int repo);
void it_image_rows_free(it_image_row *rows, size_t n);
/* The reader a view is given (snapshot.h): these functions over p. */
it_progress_reader it_progress_reader_of(it_progress *p);

#endif /* IT_PROGRESS_H */
