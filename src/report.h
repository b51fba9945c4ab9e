/*
 * report.h - the JSON report (--report=FILE):
 * {"version":1,"mode":"generic",
 *  "shard":{"index":1,"count":3},   (only in a --shard run)
 *  "started":"2026-...Z",
 *  "images":[{"source","target","digest","status","bytes","error"}],
 *  "finished":"...Z","interrupted":false,
 *  "summary":{"images_total",...,"bytes_copied"}}
 * status: copied, skipped, failed, planned (--dry-run) or pending (never
 * started because the run was stopped).
 * --verify: status is identical, missing, different, incomplete or error,
 * with "source_digest", "target_digest" and, for incomplete, "missing"
 * (what is absent, capped); "error" is null for identical and explains
 * the other verdicts; the summary has "verify": {"depth",
 * "identical", "missing", "different", "incomplete", "errors"}.
 *
 * The report is written as the run goes: each image's entry is appended
 * to a temporary file next to the report when the image ends, so nothing
 * per image is kept in memory; the summary closes it at the end and the
 * file is renamed over the report (a reader sees the old report or the
 * new one whole, never a partial one).
 */
#ifndef IT_REPORT_H
#define IT_REPORT_H

#include <jansson.h>
#include <time.h>

#include "engine.h"
#include "shard.h"

typedef struct it_report it_report;

/* Creates the temporary file next to path (mode 0600, O_EXCL) and writes
 * the head. shard is NULL, or the part of a sharded run this report covers
 * (its "shard" object; the union of the N shards' images is the whole
 * run). Returns 0 or -1 with a message naming the path. */
int it_report_open(it_report **out, const char *path, const char *mode,
                   const it_shard *shard, time_t started, it_errbuf *err);
/* Appends one image's entry (thread-safe; names, digests and errors are
 * redacted and escaped). A write error is remembered for finish. */
void it_report_add(it_report *r, const it_image_result *res);
/* Tag filters (issue 14): one entry of "repositories" (written before
 * the summary): {"source", "target", "order" (semver, created, push_time
 * or null), "filtered": {"regex", "exclude", "semver", "latest"}}, what
 * each filter left out. Thread-safe; kept in memory until finish (one
 * small entry per filtered repository). The summary gains
 * "tags_filtered" (the same four counts, all repositories) when a filter
 * left a tag out. */
void it_report_add_filtered(it_report *r, const char *source,
                            const char *target, const it_filter_counts *c,
                            const char *order);
/* Writes the tail, syncs, renames the file over the report and frees r.
 * Returns 0 or -1 with a message (the temporary file is removed then). */
int it_report_finish(it_report *r, time_t finished,
                     const it_engine_stats *stats, bool interrupted,
                     it_errbuf *err);
/* issue 15: the "hosts" array written by finish (after "summary"): per
 * registry host {host, requests, retries, limit_in_flight, limit_rps (0 =
 * no cap), throttled}. Replaces an earlier call's. */
void it_report_hosts(it_report *r, const it_host_stats *h, size_t n);
/* Drops an unfinished report (its temporary file is removed); r may be
 * NULL. */
void it_report_abort(it_report *r);

/* A JSON string of text of remote or file origin (names, digests,
 * errors): redacted and escaped; NULL gives null. A new reference, never
 * NULL (null when out of memory). The report, the --events lines and the
 * JSON plan all use it. */
json_t *it_report_str(const char *s);

/* The whole report at once (open, add each result, finish). */
int it_report_write(const char *path, const char *mode, const it_shard *shard,
                    time_t started, time_t finished,
                    const it_engine_stats *stats,
                    const it_image_result *results, size_t n, bool interrupted,
                    it_errbuf *err);

/* The report's "summary" object of s (a new reference; NULL on OOM). The
 * --events run_finished line and the --dry-run JSON plan use it too. */
json_t *it_report_summary(const it_engine_stats *s);

#endif /* IT_REPORT_H */
