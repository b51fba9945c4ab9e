/*
 * report.h - the JSON report (--report=FILE):
 * {"version":1,"mode":"generic","started":"2026-...Z","finished":"...Z",
 *  "shard":{"index":1,"count":3},   (only in a --shard run)
 *  "summary":{"images_total",...,"bytes_copied"},
 *  "images":[{"source","target","digest","status","bytes","error"}]}
 * status: copied, skipped, failed, planned (--dry-run) or pending (never
 * started because the run was stopped).
 */
#ifndef IT_REPORT_H
#define IT_REPORT_H

#include <jansson.h>
#include <time.h>

#include "engine.h"
#include "shard.h"

/* Writes the report atomically (temp file + rename). shard is NULL, or
 * the part of a sharded run this report covers (its "shard" object; the
 * union of the N shards' images is the whole run). Returns 0 or -1 with a
 * message. */
int it_report_write(const char *path, const char *mode, const it_shard *shard,
                    time_t started, time_t finished,
                    const it_engine_stats *stats,
                    const it_image_result *results, size_t n, bool interrupted,
                    it_errbuf *err);

/* The report's "summary" object of s (a new reference; NULL on OOM). The
 * --events run_finished line and the --dry-run JSON plan use it too. */
json_t *it_report_summary(const it_engine_stats *s);

#endif /* IT_REPORT_H */
