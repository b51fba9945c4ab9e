/*
 * tuidemo.c - drives the dashboard without the engine, for the tmux test
 * and for looking at the screen by hand.
 *
 *   tuidemo [--repos N] [--mode ccrToTcr] [--fail K] [--duration-ms MS]
 *           [--exit-on-done]
 *
 * A feeder thread plays a migration at a steady pace: repositories are
 * discovered and listed while earlier ones copy (four images in flight),
 * K images fail (spread over the run, the first one early), then a short
 * retry phase and "done". A stop request (q + y) finishes the images in
 * flight and ends. Afterwards the final summary is printed. Exit status:
 * 130 when a stop was requested, 1 when images failed, else 0; 2 on bad
 * usage, 3 when the terminal could not be initialised.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "console.h"
#include "headless.h"
#include "progress.h"
#include "runctl.h"
#include "tui.h"

#define IN_FLIGHT 4

typedef struct demo {
    it_progress *p;
    it_runctl ctl; /* q + y stops the demo as it stops a run */
    int repos;
    int fail;
    long duration_ms;
    bool ccr;
} demo;

typedef struct slot {
    int img;
    int64_t size, done;
    bool fail;
} slot;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static uint32_t rng_next(uint32_t *s)
{
    *s = *s * 1103515245u + 12345u;
    return (*s >> 8) & 0xffffff;
}

static const char *const names[] = {
    "nginx",   "redis",   "postgres", "alpine",  "busybox",
    "node",    "python",  "golang",   "mysql",   "mongo",
    "traefik", "grafana", "registry", "haproxy", "memcached"};
static const char *const nss[] = {"library", "team-a", "payments",
                                  "platform-infra", "ml"};

static void *feeder(void *arg)
{
    demo *d = arg;
    it_progress *p = d->p;
    uint32_t seed = 42;
    char src[128], dst[128], tag[64], digest[80], err[160];

    if (d->ccr) {
        it_progress_phase(p, IT_PHASE_PREPARING);
        sleep_ms(150);
        it_progress_prep(p, "instance",
                         "image-transfer (tcr-demo123, Running)");
        sleep_ms(150);
        it_progress_prep(p, "namespaces", "5 listed, 2 created, 0 failed");
    }
    it_progress_phase(p, IT_PHASE_DISCOVERING);

    /* Plan: tags per repo, failing images spread over the run. */
    int *tags = calloc((size_t)d->repos, sizeof *tags);
    int *ids = calloc((size_t)d->repos, sizeof *ids);
    if (!tags || !ids) {
        free(tags);
        free(ids);
        it_progress_phase(p, IT_PHASE_DONE);
        return NULL;
    }
    int total = 0;
    for (int r = 0; r < d->repos; r++) {
        tags[r] = 1 + (int)(rng_next(&seed) % 6);
        total += tags[r];
    }
    int fail_stride = d->fail > 0 ? total / d->fail : 0;
    if (fail_stride < 1)
        fail_stride = 1;
    /* Each image gets duration / total ms of wall time, shared by the
     * images in flight. */
    long per_img_ms = d->duration_ms * IN_FLIGHT / (total ? total : 1);
    long tick_ms = 50;

    slot fl[IN_FLIGHT];
    for (int k = 0; k < IN_FLIGHT; k++)
        fl[k].img = -1;
    int next_repo = 0, listed = 0, next_tag = 0, img_no = 0, failed = 0;
    bool all_listed = false;
    for (;;) {
        bool stopping = it_runctl_stopping(&d->ctl);
        if (stopping)
            it_progress_phase(p, IT_PHASE_STOPPING);
        /* Discovery runs ahead of copying: list two repos per tick. */
        for (int k = 0; k < 2 && listed < d->repos && !stopping; k++) {
            const char *ns = nss[listed % 5];
            const char *nm = names[(listed / 5) % 15];
            snprintf(src, sizeof src, "%s/%s-%03d", ns, nm, listed);
            snprintf(dst, sizeof dst, "%s/%s-%03d", ns, nm, listed);
            ids[listed] = it_progress_repo_add(p, src, dst);
            it_progress_repo_state(p, ids[listed], IT_REPO_LISTING, NULL);
            it_progress_repo_tags(p, ids[listed], tags[listed]);
            listed++;
        }
        if (listed == d->repos && !all_listed) {
            all_listed = true;
            it_progress_enumeration_done(p);
            it_progress_phase(p, IT_PHASE_COPYING);
        }
        /* Fill free slots with the next tags. */
        for (int k = 0; k < IN_FLIGHT && !stopping; k++) {
            if (fl[k].img >= 0 || next_repo >= listed)
                continue;
            snprintf(tag, sizeof tag, "v1.%d.%d", next_repo % 7, next_tag);
            int id = it_progress_image_add(p, ids[next_repo], tag);
            fl[k].img = id;
            fl[k].size = (int64_t)(2 + rng_next(&seed) % 60) << 20;
            fl[k].done = 0;
            fl[k].fail = d->fail > 0 && failed < d->fail &&
                         img_no % fail_stride == fail_stride / 2;
            if (fl[k].fail)
                failed++;
            img_no++;
            /* A library that prints to stderr must not garble the
             * dashboard: the line shows up in the messages pane. */
            if (img_no == 8)
                fprintf(stderr, "libdemo: stray message on stderr\n");
            it_progress_image_state(p, id, IT_IMG_COPYING, NULL, NULL);
            it_progress_image_expect(p, id, fl[k].size);
            if (++next_tag >= tags[next_repo]) {
                next_tag = 0;
                next_repo++;
            }
        }
        /* Move bytes; finish images. */
        bool busy = false;
        for (int k = 0; k < IN_FLIGHT; k++) {
            if (fl[k].img < 0)
                continue;
            busy = true;
            int64_t step = fl[k].size * tick_ms / (per_img_ms ? per_img_ms : 1);
            if (step < 1)
                step = 1;
            if (fl[k].done + step > fl[k].size)
                step = fl[k].size - fl[k].done;
            it_progress_bytes(p, fl[k].img, step);
            fl[k].done += step;
            if (fl[k].fail && fl[k].done * 2 >= fl[k].size) {
                snprintf(err, sizeof err,
                         "PUT blob: HTTP 500 from target (image %d)",
                         fl[k].img);
                it_progress_image_state(p, fl[k].img, IT_IMG_FAILED, NULL, err);
                it_progress_note(p, true, err);
                fl[k].img = -1;
            } else if (fl[k].done >= fl[k].size) {
                snprintf(digest, sizeof digest,
                         "sha256:%08x%08x%08x%08x%08x%08x%08x%08x",
                         (unsigned)fl[k].img, rng_next(&seed), rng_next(&seed),
                         rng_next(&seed), rng_next(&seed), rng_next(&seed),
                         rng_next(&seed), rng_next(&seed));
                bool skip = rng_next(&seed) % 5 == 0;
                it_progress_blob(p, IT_BLOB_COPIED);
                it_progress_blob(p, IT_BLOB_MOUNTED);
                it_progress_blob(p, IT_BLOB_SKIPPED);
                it_progress_image_state(p, fl[k].img,
                                        skip ? IT_IMG_SKIPPED : IT_IMG_COPIED,
                                        digest, NULL);
                if (rng_next(&seed) % 40 == 0)
                    it_progress_note(p, false,
                                     "429 Too Many Requests from source; "
                                     "retrying in 1s");
                fl[k].img = -1;
            }
        }
        if (!busy && (stopping || (all_listed && next_repo >= d->repos)))
            break;
        sleep_ms(tick_ms);
    }
    if (failed > 0 && !it_runctl_stopping(&d->ctl)) {
        it_progress_phase(p, IT_PHASE_RETRYING);
        sleep_ms(300);
    }
    it_progress_phase(p, IT_PHASE_DONE);
    free(tags);
    free(ids);
    return NULL;
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    demo d = {.repos = 40, .duration_ms = 4000};
    it_runctl_init(&d.ctl);
    tui_opts o = {.ctl = &d.ctl};
    for (int i = 1; i < argc; i++) {
        long v;
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--exit-on-done") == 0) {
            o.exit_on_done = true;
        } else if (strcmp(a, "--mode") == 0 && next) {
            d.ccr = strcmp(next, "ccrToTcr") == 0;
            i++;
        } else if (strcmp(a, "--repos") == 0 && next &&
                   parse_long(next, 0, 100000, &v) == 0) {
            d.repos = (int)v;
            i++;
        } else if (strcmp(a, "--fail") == 0 && next &&
                   parse_long(next, 0, 100000, &v) == 0) {
            d.fail = (int)v;
            i++;
        } else if (strcmp(a, "--duration-ms") == 0 && next &&
                   parse_long(next, 1, 86400000, &v) == 0) {
            d.duration_ms = v;
            i++;
        } else {
            fprintf(stderr, "usage: tuidemo [--repos N] [--mode ccrToTcr] "
                            "[--fail K] [--duration-ms MS] [--exit-on-done]\n");
            return 2;
        }
    }
    d.p = d.ccr ? it_progress_new("ccrToTcr", "ccr.ccs.tencentyun.com",
                                  "demo-tcr.tencentcloudcr.com", NULL)
                : it_progress_new("generic", "registry.source.example:5000",
                                  "registry.target.example", NULL);
    if (!d.p)
        return 2;
    it_progress_bind_runctl(d.p, &d.ctl);
    pthread_t th;
    if (pthread_create(&th, NULL, feeder, &d) != 0) {
        it_progress_free(d.p);
        return 2;
    }
    /* the process-wide setup the program does around the dashboard */
    it_console_locale();
    it_errcap *cap = it_errcap_start(d.p);
    o.tick = it_errcap_tick;
    o.tick_ctx = cap;
    it_progress_reader model = it_progress_reader_of(d.p);
    int rc = tui_run(&model, &o);
    it_errcap_stop(cap);
    pthread_join(th, NULL);
    if (rc != 0) {
        it_progress_free(d.p);
        fprintf(stderr, "tuidemo: cannot initialise the terminal\n");
        return 3;
    }
    it_snapshot *s = it_progress_snapshot(d.p, NULL);
    int status = 0;
    if (s) {
        it_summary_print(stdout, s);
        if (s->totals.images_failed > 0)
            status = 1;
        it_snapshot_free(s);
    }
    if (it_runctl_stopping(&d.ctl))
        status = 130;
    it_progress_free(d.p);
    return status;
}
