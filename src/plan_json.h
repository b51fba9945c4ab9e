/*
 * plan_json.h - --dry-run --output=json: the plan as one JSON document on
 * stdout, for pipelines and reviews before a migration:
 *
 * {"v":1,"dry_run":true,"mode":"generic",
 *  "images":[{"source","target","digest","status","bytes","error"}],
 *  "targets":[{"registry":"tcr.example.com","images":12,"blobs":40,
 *              "bytes":123456789}],
 *  "summary":{...the report's summary...}}
 *
 * Per target registry: the images to copy and the blobs and bytes that
 * would cross the wire after de-duplication (a blob several images share
 * is counted once per target registry). Names are redacted and escaped
 * like the report's; the output is ASCII. The images are written as the
 * plan finds them (nothing per image is kept), the targets and the summary
 * at the end.
 */
#ifndef IT_PLAN_JSON_H
#define IT_PLAN_JSON_H

#include <stdio.h>

#include "engine.h"

typedef struct it_plan_json it_plan_json;

/* Starts the document on f. NULL when out of memory. */
it_plan_json *it_plan_json_begin(FILE *f, const char *mode);
/* One image's plan entry; thread-safe. */
void it_plan_json_add(it_plan_json *p, const it_image_result *res);
/* Ends the document (and a newline) and frees p. Returns 0, or -1 when
 * some part could not be built or written. */
int it_plan_json_end(it_plan_json *p, const it_engine_stats *st,
                     const it_plan_target *targets, size_t ntargets);

#endif /* IT_PLAN_JSON_H */
