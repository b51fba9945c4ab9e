/* report.c - the JSON report. */
#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static void iso8601(char out[32], time_t t)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

json_t *it_report_summary(const it_engine_stats *s)
{
    return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
                     "images_total", (json_int_t)s->images_total,
                     "images_copied", (json_int_t)s->images_copied,
                     "images_skipped", (json_int_t)s->images_skipped,
                     "images_failed", (json_int_t)s->images_failed,
                     "images_planned", (json_int_t)s->images_planned,
                     "images_pending", (json_int_t)s->images_pending,
                     "blobs_copied", (json_int_t)s->blobs_copied,
                     "blobs_mounted", (json_int_t)s->blobs_mounted,
                     "blobs_skipped", (json_int_t)s->blobs_skipped,
                     "bytes_copied", (json_int_t)s->bytes_copied);
}

int it_report_write(const char *path, const char *mode, const it_shard *shard,
                    time_t started, time_t finished, const it_engine_stats *s,
                    const it_image_result *results, size_t n, bool interrupted,
                    it_errbuf *err)
{
    char t0[32], t1[32], tmp[4096];
    int rc = -1;
    iso8601(t0, started);
    iso8601(t1, finished);
    json_t *images = json_array();
    for (size_t i = 0; i < n; i++) {
        const it_image_result *r = &results[i];
        /* Names, digests and errors come from registries, the cloud API
         * and files: redacted and escaped like everything shown. */
        char *src = it_sanitize_dup(r->source);
        char *dst = it_sanitize_dup(r->target);
        char *dg = r->digest ? it_sanitize_dup(r->digest) : NULL;
        char *why = r->error ? it_sanitize_dup(r->error) : NULL;
        json_array_append_new(
            images,
            json_pack("{s:s,s:s,s:s?,s:s,s:I,s:s?}", "source", src ? src : "",
                      "target", dst ? dst : "", "digest", dg, "status",
                      it_image_status_name(r->status), "bytes",
                      (json_int_t)r->bytes, "error", why));
        free(src);
        free(dst);
        free(dg);
        free(why);
    }
    json_t *summary = it_report_summary(s);
    /* "o*" leaves the key out when the value is NULL: unsharded runs. */
    json_t *sh = NULL;
    if (shard && shard->count > 0)
        sh = json_pack("{s:i,s:i}", "index", (int)shard->index, "count",
                       (int)shard->count);
    json_t *root = json_pack("{s:i,s:s,s:o*,s:s,s:s,s:b,s:o,s:o}", "version", 1,
                             "mode", mode, "shard", sh, "started", t0,
                             "finished", t1, "interrupted", interrupted,
                             "summary", summary, "images", images);
    if (!root) {
        snprintf(err->msg, sizeof(err->msg), "report: cannot build JSON");
        return -1;
    }
    /* A fresh file of our own next to the report (mode 0600, O_EXCL), never
     * a name someone could have planted a symbolic link at; then renamed
     * over the report, so a reader sees the old or the new one whole. */
    if (snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= (int)sizeof(tmp)) {
        snprintf(err->msg, sizeof(err->msg), "report %.900s: path too long",
                 path);
        goto out;
    }
    int fd = mkstemp(tmp);
    if (fd < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        snprintf(err->msg, sizeof(err->msg), "report %.900s: %s", tmp,
                 strerror(errno));
        goto out;
    }
    FILE *f = fdopen(fd, "w");
    if (!f) {
        snprintf(err->msg, sizeof(err->msg), "report %.900s: %s", tmp,
                 strerror(errno));
        close(fd);
        unlink(tmp);
        goto out;
    }
    int w = json_dumpf(root, f, JSON_INDENT(2));
    fputc('\n', f);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0 || w != 0) {
        snprintf(err->msg, sizeof(err->msg), "report %.900s: %s", tmp,
                 strerror(errno));
        fclose(f);
        unlink(tmp);
        goto out;
    }
    fclose(f);
    if (rename(tmp, path) != 0) {
        snprintf(err->msg, sizeof(err->msg), "report %.900s: %s", path,
                 strerror(errno));
        unlink(tmp);
        goto out;
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}
