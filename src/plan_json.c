/* plan_json.c - --dry-run --output=json (plan_json.h). */
#include "plan_json.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "report.h"

/* A string of remote origin, redacted and escaped (NULL stays null). */
static json_t *safe_str(const char *s)
{
    if (!s)
        return json_null();
    char *clean = it_sanitize_dup(s);
    json_t *j = clean ? json_string(clean) : NULL;
    free(clean);
    return j ? j : json_null();
}

/* True when ref ("host/repo:tag") is in registry host. */
static bool in_registry(const char *ref, const char *host)
{
    size_t n = strlen(host);
    return ref && strncmp(ref, host, n) == 0 && ref[n] == '/';
}

int it_plan_json_print(FILE *f, const char *mode, const it_engine_stats *st,
                       const it_image_result *res, size_t nres,
                       const it_plan_target *targets, size_t ntargets)
{
    int rc = -1;
    json_t *tv = json_array(), *iv = json_array();
    for (size_t i = 0; tv && i < ntargets; i++) {
        long images = 0;
        for (size_t k = 0; k < nres; k++)
            if (res[k].status == IT_STATUS_PLANNED &&
                in_registry(res[k].target, targets[i].registry))
                images++;
        json_array_append_new(tv,
                              json_pack("{s:o,s:I,s:I,s:I}", "registry",
                                        safe_str(targets[i].registry), "images",
                                        (json_int_t)images, "blobs",
                                        (json_int_t)targets[i].blobs, "bytes",
                                        (json_int_t)targets[i].bytes));
    }
    for (size_t i = 0; iv && i < nres; i++)
        json_array_append_new(
            iv, json_pack(
                    "{s:o,s:o,s:o,s:s,s:I,s:o}", "source",
                    safe_str(res[i].source), "target", safe_str(res[i].target),
                    "digest", safe_str(res[i].digest), "status",
                    it_image_status_name(res[i].status), "bytes",
                    (json_int_t)res[i].bytes, "error", safe_str(res[i].error)));
    json_t *root = json_pack("{s:i,s:b,s:s,s:o,s:o,s:o}", "v", 1, "dry_run", 1,
                             "mode", mode ? mode : "", "targets", tv, "images",
                             iv, "summary", it_report_summary(st));
    char *text = root ? json_dumps(root, JSON_INDENT(2) | JSON_ENSURE_ASCII |
                                             JSON_PRESERVE_ORDER)
                      : NULL;
    if (text && fprintf(f, "%s\n", text) >= 0 && fflush(f) == 0)
        rc = 0;
    free(text);
    json_decref(root);
    return rc;
}
