/* app.c - one run: config, journal, engine, display, report. */
#include "app.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ccr.h"
#include "config.h"
#include "console.h"
#include "engine.h"
#include "headless.h"
#include "journal.h"
#include "limiter.h"
#include "log.h"
#include "progress.h"
#include "report.h"
#include "shard.h"
#include "text.h"
#include "tui.h"

/* An error for the person at the terminal: messages quote files, the
 * cloud API and registries, so they are redacted and escaped first. */
static void say(const char *prefix, const char *msg)
{
    char *clean = it_sanitize_dup(msg);
    fprintf(stderr, "image-transfer: %s%s\n", prefix,
            clean ? clean : "(message lost: out of memory)");
    free(clean);
}

/* Records replayed from the journal, kept until the engine exists. */
typedef struct seed {
    bool image;      /* else a blob */
    char *a, *b, *c; /* blob: registry, repo, digest; image: source, */
                     /* digest, target */
} seed;

typedef struct seed_list {
    seed *v;
    size_t n, cap;
} seed_list;

static void seed_add(seed_list *s, bool image, const char *a, const char *b,
                     const char *c)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 256;
        seed *v = realloc(s->v, cap * sizeof(*v));
        if (!v)
            return; /* a lost seed only costs a request later */
        s->v = v;
        s->cap = cap;
    }
    seed *e = &s->v[s->n];
    e->image = image;
    e->a = strdup(a);
    e->b = strdup(b);
    e->c = strdup(c);
    if (e->a && e->b && e->c)
        s->n++;
    else {
        free(e->a);
        free(e->b);
        free(e->c);
    }
}

static void seed_blob(void *payload, const char *registry, const char *repo,
                      const char *digest, int64_t size)
{
    (void)size;
    seed_add(payload, false, registry, repo, digest);
}

static void seed_image(void *payload, const char *source, const char *digest,
                       const char *target)
{
    seed_add(payload, true, source, digest, target);
}

static void seed_list_clear(seed_list *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i].a);
        free(s->v[i].b);
        free(s->v[i].c);
    }
    free(s->v);
    memset(s, 0, sizeof(*s));
}

/* "a.example.com" or "a.example.com, b.example.com" or "3 registries". */
static void describe_hosts(char *out, size_t cap, it_pair *pairs, size_t n,
                           bool source)
{
    const char *first = NULL;
    size_t distinct = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const char *h = source ? pairs[i].src_host : pairs[i].dst_host;
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen =
                strcmp(h, source ? pairs[j].src_host : pairs[j].dst_host) == 0;
        if (seen)
            continue;
        if (!first)
            first = h;
        distinct++;
    }
    if (distinct == 1)
        snprintf(out, cap, "%s", first);
    else
        snprintf(out, cap, "%zu registries", distinct);
}

static char *default_state_dir(void)
{
    char buf[4096];
    const char *xdg = getenv("XDG_STATE_HOME");
    const char *home = getenv("HOME");
    if (xdg && *xdg)
        snprintf(buf, sizeof(buf), "%s/image-transfer", xdg);
    else
        snprintf(buf, sizeof(buf), "%s/.local/state/image-transfer",
                 home && *home ? home : ".");
    return strdup(buf);
}

typedef struct watcher {
    it_engine *engine;
    it_progress *progress;
    const it_run_ctl *ctl;
} watcher;

/* Waits for the engine, mirrors a signal's stop request into the progress
 * model (so the display says "stopping"), and marks the run done. */
static void *watch(void *arg)
{
    watcher *w = arg;
    bool stopping = false;
    while (!it_engine_wait_finished(w->engine, 0.1)) {
        bool stop = (w->ctl->stop && *w->ctl->stop) ||
                    it_progress_stop_requested(w->progress);
        if (stop && !stopping) {
            stopping = true;
            /* A signal stops the run like q + y does: the display then
             * says "stopped", not "done", at the end. */
            it_progress_request_stop(w->progress);
            it_progress_phase(w->progress, IT_PHASE_STOPPING);
            log_warn("stop requested: finishing the images in flight "
                     "(signal again to abort them)");
        }
    }
    it_engine_wait(w->engine);
    if (w->ctl->stop && *w->ctl->stop) /* a signal in the last 0.1 s */
        it_progress_request_stop(w->progress);
    it_progress_phase(w->progress, IT_PHASE_DONE);
    return NULL;
}

typedef struct feeder {
    it_ccr *ccr;
    it_engine *engine;
    it_progress *progress;
    atomic_int *stop;
    int rc;
} feeder;

/* The CCR planner runs beside the engine: pairs are copied as soon as
 * they are found. */
static void *feed(void *arg)
{
    feeder *f = arg;
    f->rc = it_ccr_feed(f->ccr, f->engine, f->progress, f->stop);
    return NULL;
}

static void log_observer(void *payload, it_log_level lvl, const char *line)
{
    it_progress_note(payload, lvl == IT_LOG_ERROR, line);
}

/* Warnings logged before the dashboard's progress model exists (a secrets
 * file others can read, say) would only reach the log file: they are kept
 * here and handed to the dashboard's pane once it exists. */
#define EARLY_NOTES 8
typedef struct early_notes {
    char line[EARLY_NOTES][512];
    bool is_error[EARLY_NOTES];
    int n;
} early_notes;

static void early_observer(void *payload, it_log_level lvl, const char *line)
{
    early_notes *e = payload;
    if (e->n >= EARLY_NOTES)
        return;
    snprintf(e->line[e->n], sizeof(e->line[e->n]), "%s", line);
    e->is_error[e->n] = lvl == IT_LOG_ERROR;
    e->n++;
}

static bool use_tui(const it_options *o)
{
    if (o->tui == IT_TUI_ON)
        return true;
    if (o->tui == IT_TUI_OFF)
        return false;
    return isatty(STDOUT_FILENO) && isatty(STDIN_FILENO);
}

/* Resolves every rule before anything is copied: one bad rule is a
 * configuration error and nothing moves. */
static int load_pairs(const it_options *o, it_pair **pairs_out, size_t *n_out,
                      it_errbuf *err)
{
    it_rules *rules = NULL;
    *pairs_out = NULL;
    *n_out = 0;
    if (it_rules_load(&rules, o->rule_file, err) != 0)
        return -1;
    it_pair *pairs = calloc(rules->n ? rules->n : 1, sizeof(it_pair));
    if (!pairs) {
        it_rules_free(rules);
        snprintf(err->msg, sizeof(err->msg), "out of memory");
        return -1;
    }
    for (size_t i = 0; i < rules->n; i++) {
        if (it_rule_resolve(&pairs[i], &rules->items[i], o->rule_file,
                            o->registry, o->ns, err) != 0) {
            for (size_t j = 0; j < i; j++)
                it_pair_clear(&pairs[j]);
            free(pairs);
            it_rules_free(rules);
            return -1;
        }
    }
    *n_out = rules->n;
    *pairs_out = pairs;
    it_rules_free(rules);
    return 0;
}

static int load_secrets(const it_options *o, it_secrets **out, it_errbuf *err)
{
    char path[4096];
    *out = NULL;
    if (o->security_file) {
        if (it_secrets_load(out, o->security_file, err) != 0)
            return -1;
    } else {
        *out = calloc(1, sizeof(it_secrets));
        if (!*out) {
            snprintf(err->msg, sizeof(err->msg), "out of memory");
            return -1;
        }
    }
    const char *dc = getenv("DOCKER_CONFIG");
    const char *home = getenv("HOME");
    if (dc && *dc)
        snprintf(path, sizeof(path), "%s/config.json", dc);
    else
        snprintf(path, sizeof(path), "%s/.docker/config.json",
                 home ? home : ".");
    /* A broken Docker config the user never named is not worth stopping
     * for: say so and go on without it. */
    it_errbuf derr = {{0}};
    if (it_secrets_add_docker_config(*out, path, &derr) != 0)
        say("warning: ignoring ", derr.msg);
    for (size_t i = 0; i < (*out)->n; i++)
        if ((*out)->items[i].password)
            it_log_add_credential((*out)->items[i].username,
                                  (*out)->items[i].password);
    return 0;
}

int it_app_run(const it_options *o, const it_run_ctl *ctl)
{
    it_errbuf err = {{0}};
    int exit_code = IT_EXIT_USAGE;
    it_secrets *secrets = NULL;
    it_pair *pairs = NULL;
    size_t npairs = 0;
    it_progress *progress = NULL;
    it_journal *journal = NULL;
    it_engine *engine = NULL;
    it_ccr *ccr = NULL;
    seed_list seeds = {0};
    char *state_dir = o->state_dir ? strdup(o->state_dir) : default_state_dir();
    char log_path[4096];
    time_t started = time(NULL);
    bool tui = use_tui(o);
    int lvl = it_log_level_parse(o->log_level ? o->log_level : "info");

    if (!state_dir || lvl < 0) {
        fprintf(stderr, "image-transfer: --log-level: expected error, warn, "
                        "info or debug\n");
        goto out;
    }
    /* With the dashboard on, logs go to a file, never onto the screen:
     * into the state dir, checked first (owned by the user, not writable
     * by others) and never through a link planted there. */
    const char *log_file = o->log_file;
    int log_rc;
    if (!log_file && tui) {
        int dfd = it_state_dir_open(state_dir, &err);
        if (dfd < 0) {
            say("", err.msg);
            goto out;
        }
        snprintf(log_path, sizeof(log_path), "%s/image-transfer.log",
                 state_dir);
        log_file = log_path;
        log_rc = it_log_open_at(dfd, "image-transfer.log", (it_log_level)lvl);
        close(dfd);
    } else {
        log_rc = it_log_open(log_file, (it_log_level)lvl);
    }
    if (log_rc != 0) {
        char what[4200];
        snprintf(what, sizeof(what), "%s: %s", log_file, strerror(errno));
        say("--log-file ", what);
        goto out;
    }
    const char *mode = o->ccr_to_tcr ? "ccrToTcr" : "generic";
    char src_desc[256], dst_desc[256];
    early_notes early = {.n = 0};
    if (tui)
        it_log_set_observer(early_observer, &early);
    if (load_secrets(o, &secrets, &err) != 0) {
        say("", err.msg);
        goto out;
    }
    if (o->ccr_to_tcr) {
        int rc = it_ccr_new(&ccr, o, secrets, &err);
        if (rc != 0) {
            say("", err.msg);
            exit_code = rc;
            goto out;
        }
        snprintf(src_desc, sizeof(src_desc), "CCR %s", it_ccr_source_desc(ccr));
        snprintf(dst_desc, sizeof(dst_desc), "%s", it_ccr_target_desc(ccr));
    } else {
        if (!o->rule_file) {
            fprintf(stderr, "image-transfer: --ruleFile is required in the "
                            "generic mode (see --help)\n");
            goto out;
        }
        if (load_pairs(o, &pairs, &npairs, &err) != 0) {
            say("", err.msg);
            goto out;
        }
        describe_hosts(src_desc, sizeof(src_desc), pairs, npairs, true);
        describe_hosts(dst_desc, sizeof(dst_desc), pairs, npairs, false);
    }
    bool sharded = o->shard.count > 0;
    char shard_desc[32] = "", shard_prefix[40] = "";
    if (sharded) {
        snprintf(shard_desc, sizeof(shard_desc), "%u/%u", o->shard.index,
                 o->shard.count);
        snprintf(shard_prefix, sizeof(shard_prefix), "shard %s: ", shard_desc);
    }
    progress = it_progress_new(mode, src_desc, dst_desc, NULL);
    if (!progress) {
        fprintf(stderr, "image-transfer: out of memory\n");
        goto out;
    }
    it_progress_phase(progress, IT_PHASE_DISCOVERING);
    it_progress_shard(progress, shard_desc);
    if (tui) {
        for (int i = 0; i < early.n; i++)
            it_progress_note(progress, early.is_error[i], early.line[i]);
        it_log_set_observer(log_observer, progress);
    }

    if (!o->dry_run) {
        it_journal_visitor v = {
            .blob = seed_blob, .image = seed_image, .payload = &seeds};
        if (it_journal_open(&journal, state_dir, &v, &err) != 0) {
            say("", err.msg);
            goto out;
        }
        long records = 0, torn = 0;
        it_journal_stats(journal, &records, &torn);
        long skipped = it_journal_skipped(journal);
        if (records || torn)
            log_info("journal: %ld records from earlier runs%s", records,
                     torn ? " (a torn last line was dropped)" : "");
        if (skipped)
            log_warn("journal: %ld damaged line(s) skipped (see the warnings "
                     "above); the records after them were kept",
                     skipped);
    }

    it_engine_opts eo = {0};
    eo.routines = o->routines;
    eo.retry = o->retry;
    eo.qps = o->qps;
    eo.bandwidth = o->bandwidth;
    eo.max_tags = (size_t)o->max_tags;
    eo.max_pages = (size_t)o->max_pages;
    eo.tag_exist_overridden = o->tag_exist_overridden;
    eo.dry_run = o->dry_run;
    eo.secrets = secrets;
    eo.ca_file = o->ca_file;
    eo.journal = journal;
    eo.progress = progress;
    if (ccr) {
        eo.creds_fn = it_ccr_creds;
        eo.creds_payload = ccr;
    }
    eo.plan_out = stdout;
    eo.stop = ctl->stop;
    eo.abort = ctl->abort;
    if (it_engine_start(&engine, &eo, &err) != 0) {
        say("", err.msg);
        goto out;
    }
    for (size_t i = 0; i < seeds.n; i++) {
        const seed *sd = &seeds.v[i];
        if (sd->image)
            it_engine_seed_image(engine, sd->a, sd->b, sd->c);
        else
            it_engine_seed_blob(engine, sd->a, sd->b, sd->c);
    }
    seed_list_clear(&seeds);
    feeder fd = {ccr, engine, progress, ctl->stop, 0};
    pthread_t ft;
    bool feeding = false;
    if (ccr) {
        feeding = pthread_create(&ft, NULL, feed, &fd) == 0;
        if (!feeding) {
            it_engine_input_done(engine);
            log_error("cannot start the CCR planner thread");
            fd.rc = IT_EXIT_FAILED;
        }
    } else {
        /* --shard: a rule whose source repository is in another shard
         * yields nothing here, whatever its form (all tags, tags, digest). */
        size_t taken = 0;
        for (size_t i = 0; i < npairs; i++) {
            if (!it_shard_takes(&o->shard, pairs[i].src_repo))
                continue;
            it_engine_add_pair(engine, &pairs[i]);
            taken++;
        }
        if (sharded)
            log_info("shard %s: %zu of %zu rules have their source "
                     "repository in this shard",
                     shard_desc, taken, npairs);
        it_engine_input_done(engine);
    }

    watcher w = {engine, progress, ctl};
    pthread_t wt;
    bool watching = pthread_create(&wt, NULL, watch, &w) == 0;
    if (!watching) /* no thread to spare: wait here, show only the end */
        watch(&w);
    bool shown = false;
    if (tui) {
        it_console_locale();
        it_errcap *cap = it_errcap_start(progress);
        tui_opts to = {.exit_on_done = o->exit_on_done,
                       .tick = it_errcap_tick,
                       .tick_ctx = cap};
        shown = tui_run(progress, &to) == 0;
        it_errcap_stop(cap);
        if (!shown)
            log_warn("cannot start the dashboard: showing progress lines");
    }
    if (!shown)
        it_headless_run(progress, o->progress_interval, stdout);
    if (watching)
        pthread_join(wt, NULL);
    if (feeding)
        pthread_join(ft, NULL);
    it_log_set_observer(NULL, NULL);

    bool interrupted =
        (ctl->stop && *ctl->stop) || it_progress_stop_requested(progress);
    if (it_journal_close(journal) != 0)
        log_error("journal: some records could not be written");
    journal = NULL;

    it_engine_stats st;
    it_engine_stats_get(engine, &st);
    /* The summary in one line on the log (stderr when headless), for
     * pipelines that keep only the log. */
    log_info("summary: %s%ld images: %ld copied, %ld skipped, %ld "
             "failed%s; blobs: %ld copied, %ld mounted, %ld skipped; %lld "
             "bytes copied%s",
             shard_prefix, st.images_total, st.images_copied, st.images_skipped,
             st.images_failed, st.images_pending ? " (some not started)" : "",
             st.blobs_copied, st.blobs_mounted, st.blobs_skipped,
             (long long)st.bytes_copied, interrupted ? "; interrupted" : "");
    size_t nres = 0;
    const it_image_result *res = it_engine_results(engine, &nres);
    if (o->report &&
        it_report_write(o->report, mode, sharded ? &o->shard : NULL, started,
                        time(NULL), &st, res, nres, interrupted, &err) != 0)
        log_error("%s", err.msg);

    it_snapshot *snap =
        o->dry_run ? NULL : it_progress_snapshot(progress, NULL);
    if (o->dry_run) {
        int64_t bytes = 0;
        for (size_t i = 0; i < nres; i++)
            if (res[i].status == IT_STATUS_PLANNED)
                bytes = it_add_sat(bytes, res[i].bytes);
        printf("dry run: %s%ld image(s) to copy (%lld bytes of new "
               "blobs), %ld skipped, %ld failed; nothing was written\n",
               shard_prefix, st.images_planned, (long long)bytes,
               st.images_skipped, st.images_failed);
    }
    if (fd.rc == IT_EXIT_USAGE || fd.rc == IT_EXIT_CLOUD_AUTH) {
        /* The planner stopped the run before anything was planned. */
        printf("Result:  stopped: %s (see the error above)\n",
               fd.rc == IT_EXIT_CLOUD_AUTH
                   ? "the Tencent Cloud API refused the key"
                   : "the TCR instance cannot be used");
        it_snapshot_free(snap);
        snap = NULL;
    }
    if (snap) {
        it_summary_print(stdout, snap);
        it_snapshot_free(snap);
    }
    if (o->report) {
        char *name = it_sanitize_dup(o->report);
        printf("report: %s\n", name ? name : "?");
        free(name);
    }
    fflush(stdout);
    if (ccr && fd.rc == 0)
        fd.rc = it_ccr_exit_code(ccr);
    if (ccr && it_ccr_tags_left_out(ccr) > 0) {
        printf("Note:    %ld older tags were left out by --ccrTagNums=%d\n",
               it_ccr_tags_left_out(ccr), o->ccr_tag_nums);
        log_warn("%ld older tags left out by --ccrTagNums=%d",
                 it_ccr_tags_left_out(ccr), o->ccr_tag_nums);
    }
    exit_code = interrupted            ? IT_EXIT_INTERRUPTED
                : fd.rc != 0           ? fd.rc
                : st.images_failed > 0 ? IT_EXIT_FAILED
                                       : IT_EXIT_OK;
out:
    it_log_set_observer(NULL, NULL); /* `early` and progress end here */
    it_engine_free(engine);
    it_journal_close(journal);
    seed_list_clear(&seeds);
    for (size_t i = 0; i < npairs; i++)
        it_pair_clear(&pairs[i]);
    free(pairs);
    it_secrets_free(secrets);
    it_progress_free(progress);
    it_ccr_free(ccr);
    free(state_dir);
    it_log_close();
    return exit_code;
}
