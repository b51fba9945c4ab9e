/* plan_json.c - --dry-run --output=json (plan_json.h), streamed. */
#include "plan_json.h"

#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "report.h"

struct it_plan_json {
    pthread_mutex_t lock;
    FILE *f;
    size_t n; /* images written */
    bool failed;
};

/* Writes prefix and v (compact, ASCII); caller holds the lock. */
static void put(it_plan_json *p, const char *prefix, json_t *v)
{
    if (!v || fputs(prefix, p->f) == EOF ||
        json_dumpf(v, p->f,
                   JSON_COMPACT | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER |
                       JSON_ENCODE_ANY) != 0)
        p->failed = true;
}

it_plan_json *it_plan_json_begin(FILE *f, const char *mode)
{
    it_plan_json *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    pthread_mutex_init(&p->lock, NULL);
    p->f = f;
    json_t *m = json_string(mode ? mode : "");
    put(p, "{\"v\": 1, \"dry_run\": true, \"mode\": ", m);
    json_decref(m);
    if (fputs(", \"images\": [", f) == EOF)
        p->failed = true;
    return p;
}

void it_plan_json_add(it_plan_json *p, const it_image_result *res)
{
    json_t *o = json_pack(
        "{s:o,s:o,s:o,s:s,s:I,s:o}", "source", it_report_str(res->source),
        "target", it_report_str(res->target), "digest",
        it_report_str(res->digest), "status", it_image_status_name(res->status),
        "bytes", (json_int_t)res->bytes, "error", it_report_str(res->error));
    pthread_mutex_lock(&p->lock);
    put(p, p->n++ ? ",\n  " : "\n  ", o);
    pthread_mutex_unlock(&p->lock);
    json_decref(o);
}

int it_plan_json_end(it_plan_json *p, const it_engine_stats *st,
                     const it_plan_target *targets, size_t ntargets)
{
    json_t *tv = json_array();
    for (size_t i = 0; tv && i < ntargets; i++)
        json_array_append_new(tv,
                              json_pack("{s:o,s:I,s:I,s:I}", "registry",
                                        it_report_str(targets[i].registry),
                                        "images", (json_int_t)targets[i].images,
                                        "blobs", (json_int_t)targets[i].blobs,
                                        "bytes", (json_int_t)targets[i].bytes));
    json_t *summary = it_report_summary(st);
    pthread_mutex_lock(&p->lock);
    put(p, "],\n \"targets\": ", tv);
    put(p, ",\n \"summary\": ", summary);
    if (fputs("}\n", p->f) == EOF || fflush(p->f) != 0)
        p->failed = true;
    pthread_mutex_unlock(&p->lock);
    json_decref(tv);
    json_decref(summary);
    int rc = p->failed ? -1 : 0;
    pthread_mutex_destroy(&p->lock);
    free(p);
    return rc;
}
