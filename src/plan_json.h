/*
 * plan_json.h - --dry-run --output=json: the plan as one JSON document on
 * stdout, for pipelines and reviews before a migration:
 *
 * {"v":1,"dry_run":true,"mode":"generic",
 *  "targets":[{"registry":"tcr.example.com","images":12,"blobs":40,
 *              "bytes":123456789}],
 *  "images":[{"source","target","digest","status","bytes","error"}],
 *  "summary":{...the report's summary...}}
 *
 * Per target registry: the images to copy and the blobs and bytes that
 * would cross the wire after de-duplication (a blob several images share
 * is counted once per target registry). Names are redacted and escaped
 * like the report's; the output is ASCII.
 */
#ifndef IT_PLAN_JSON_H
#define IT_PLAN_JSON_H

#include <stdio.h>

#include "engine.h"

/* Writes the document (and a newline) to f. Returns 0, or -1 when it
 * could not be built or written. */
int it_plan_json_print(FILE *f, const char *mode, const it_engine_stats *st,
                       const it_image_result *res, size_t nres,
                       const it_plan_target *targets, size_t ntargets);

#endif /* IT_PLAN_JSON_H */
