/*
 * headless.c - the progress printer for runs without the dashboard, and the
 * final summary. Reads snapshots only; never touches the engine.
 */
#include "headless.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"

#define SUMMARY_FAILED_MAX 20

static void print_line(it_progress *p, FILE *out)
{
    it_snapshot_filter none = {.no_rows = true};
    it_snapshot *s = it_progress_snapshot(p, &none);
    if (!s)
        return;
    char line[256];
    it_progress_format_line(line, sizeof line, s);
    /* --verify: the lines say so, like the dashboard's header */
    const char *verify = strncmp(s->mode, "VERIFY", 6) == 0 ? "verify | " : "";
    if (s->shard[0]) {
        char shard[64];
        it_sanitize(shard, sizeof shard, s->shard);
        fprintf(out, "%sshard %s | %s\n", verify, shard, line);
    } else
        fprintf(out, "%s%s\n", verify, line);
    /* issue 15: a line per registry host that is down */
    char host_line[512];
    for (size_t i = 0; i < s->n_hosts; i++) {
        if (it_host_down_line(host_line, sizeof host_line, &s->hosts[i],
                              (double)time(NULL)))
            fprintf(out, "%s\n", host_line);
    }
    fflush(out);
    it_snapshot_free(s);
}

void it_headless_run(it_progress *p, int interval_s, FILE *out)
{
    /* Woken the moment the run ends: no tick to wait out at the end. */
    if (interval_s <= 0) { /* --progress-interval=0: no lines */
        while (!it_progress_wait_done(p, 3600))
            ;
        return;
    }
    double next = it_now_mono() + interval_s;
    for (;;) {
        double wait = next - it_now_mono();
        if (it_progress_wait_done(p, wait > 0.001 ? wait : 0.001))
            return;
        double now = it_now_mono();
        if (now >= next) {
            print_line(p, out);
            next += interval_s;
            if (next < now) /* the process was stopped for a while */
                next = now + interval_s;
        }
    }
}

/* Whether a stop cut the run short: images left, or repositories not
 * listed yet (whose images are not counted at all). */
static bool cut_short(const it_snapshot *s)
{
    const it_totals *t = &s->totals;
    int done = t->images_copied + t->images_skipped + t->images_failed;
    return s->stop_requested &&
           (done < t->images_total || !t->enumeration_done ||
            t->repos_done < t->repos_total);
}

static const char *result_words(const it_snapshot *s, int failed_repos)
{
    const it_totals *t = &s->totals;
    if (cut_short(s))
        return "stopped before the end";
    if (t->images_failed > 0 || failed_repos > 0)
        return "finished with failures";
    if (t->images_total == 0)
        return "nothing to copy";
    if (t->images_copied == 0)
        return "everything was already present";
    return "success";
}

void it_summary_print(FILE *out, const it_snapshot *s)
{
    const it_totals *t = &s->totals;
    int failed_repos = 0;
    for (size_t i = 0; i < s->n_rows; i++)
        if (s->rows[i].state == IT_REPO_FAILED || s->rows[i].images_failed)
            failed_repos++;
    int done = t->images_copied + t->images_skipped + t->images_failed;
    char bytes[32], rate[32], el[32];
    it_format_bytes(bytes, sizeof bytes, (double)t->bytes_done);
    it_format_bytes(rate, sizeof rate,
                    s->elapsed > 0 ? (double)t->bytes_done / s->elapsed : 0);
    it_format_duration(el, sizeof el, s->elapsed);

    fprintf(out, "Result:  %s", result_words(s, failed_repos));
    if (t->images_failed > 0)
        fprintf(out, " (%d of %d images failed)", t->images_failed,
                t->images_total);
    else if (cut_short(s))
        fprintf(out, " (%d of %d images done, %d of %d repositories)", done,
                t->images_total, t->repos_done, t->repos_total);
    else if (failed_repos > 0) /* failed before any image was known */
        fprintf(out, " (%d of %d repositories failed)", failed_repos,
                t->repos_total);
    fprintf(out, "\n");
    if (s->shard[0]) {
        char shard[64];
        it_sanitize(shard, sizeof shard, s->shard);
        fprintf(out, "Shard:   %s (only this shard's repositories)\n", shard);
    }
    fprintf(out, "Repos:   %d of %d done\n", t->repos_done, t->repos_total);
    fprintf(out, "Images:  %d copied, %d skipped, %d failed, %d total\n",
            t->images_copied, t->images_skipped, t->images_failed,
            t->images_total);
    if (t->images_platform_filtered || t->images_platform_skipped)
        fprintf(out, /* issue 14 */
                "Filter:  %d images platform-filtered, %d skipped: no "
                "matching platform\n",
                t->images_platform_filtered, t->images_platform_skipped);
    fprintf(out,
            "Blobs:   %lld copied, %lld mounted, %lld skipped (already "
            "present)\n",
            (long long)t->blobs_copied, (long long)t->blobs_mounted,
            (long long)t->blobs_skipped);
    if (t->referrers_copied || t->referrers_skipped) /* issue 13 */
        fprintf(out, "Referrers: %lld copied, %lld skipped (already present)\n",
                (long long)t->referrers_copied,
                (long long)t->referrers_skipped);
    fprintf(out, "Moved:   %s in %s (average %s/s)\n", bytes, el, rate);

    if (failed_repos == 0)
        return;
    fprintf(out, "Failed:\n");
    int shown = 0;
    for (size_t i = 0; i < s->n_rows; i++) {
        const it_repo_row *r = &s->rows[i];
        if (r->state != IT_REPO_FAILED && r->images_failed == 0)
            continue;
        if (shown == SUMMARY_FAILED_MAX)
            break;
        shown++;
        /* Names and errors come from registries, the cloud API and
         * files: redacted and with control bytes escaped, so nothing here
         * can move the cursor or fake a line of this summary. */
        char *src = it_sanitize_dup(r->src_repo);
        char *dst = it_sanitize_dup(r->dst_repo);
        char *why = it_sanitize_dup(r->error ? r->error : "failed");
        if (strcmp(r->src_repo, r->dst_repo) == 0)
            fprintf(out, "  %s", src ? src : "?");
        else
            fprintf(out, "  %s -> %s", src ? src : "?", dst ? dst : "?");
        if (r->images_failed > 0)
            fprintf(out, " (%d of %d images failed)", r->images_failed,
                    r->images_total);
        fprintf(out, ": %s\n", why ? why : "failed");
        free(src);
        free(dst);
        free(why);
    }
    if (failed_repos > shown)
        fprintf(out, "  ... and %d more (see the report)\n",
                failed_repos - shown);
}
