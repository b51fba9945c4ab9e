/*
 * app.c - one run: config, journal, engine, display, report.
 *
 * it_app_run is a sequence of phases, each a function over the run's state
 * (struct run): start the log, load the configuration, open the state
 * (progress model, journal), start the engine, plan (feed the rule pairs,
 * or start the CCR planner), show the run until it ends, write the report
 * and print the summary. A phase returns 0 or the exit code that ends the
 * run there; run_free releases whatever the phases made.
 */
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
#include "events_out.h"
#include "headless.h"
#include "journal.h"
#include "log.h"
#include "metrics.h"
#include "out.h"
#include "plan_json.h"
#include "preflight.h"
#include "progress.h"
#include "registry.h"
#include "report.h"
#include "shard.h"
#include "tagfilter.h"
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

/* ------------------------------------------------------------ helpers */

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

/* True when stdout carries JSON (--events -, --output=json): no
 * dashboard then (options.c refuses --tui with them). */
static bool json_on_stdout(const it_options *o)
{
    return o->output == IT_OUTPUT_JSON ||
           (o->events && strcmp(o->events, "-") == 0);
}

static bool use_tui(const it_options *o)
{
    if (o->tui == IT_TUI_ON)
        return true;
    if (o->tui == IT_TUI_OFF || json_on_stdout(o))
        return false;
    return isatty(STDOUT_FILENO) && isatty(STDIN_FILENO);
}

/* The planner's typed errors as process exit codes. */
static int ccr_exit_code(int err)
{
    switch (err) {
    case IT_CCR_OK:
        return IT_EXIT_OK;
    case IT_CCR_ECONFIG:
    case IT_CCR_EINSTANCE:
        return IT_EXIT_USAGE;
    case IT_CCR_EAUTH:
        return IT_EXIT_CLOUD_AUTH;
    case IT_CCR_ESTOPPED:
        return IT_EXIT_INTERRUPTED;
    default:
        return IT_EXIT_FAILED;
    }
}

static it_ccr_opts ccr_opts_of(const it_options *o)
{
    it_ccr_opts c = {
        .tcr_name = o->tcr_name,
        .tcr_region = o->tcr_region,
        .ccr_region = o->ccr_region,
        .ccr_registry = o->ccr_registry,
        .tcr_registry = o->tcr_registry,
        .secret_file = o->secret_file,
        .tc_profile = o->tc_profile,
        .tc_endpoint = o->tc_endpoint,
        .ca_file = o->ca_file,
        .max_tags = o->max_tags,
        .max_pages = o->max_pages,
        .ccr_tag_nums = o->ccr_tag_nums,
        .tcr_namespace_public = o->tcr_namespace_public,
        /* --verify creates nothing either (no namespace) */
        .dry_run = o->dry_run || o->verify,
        .shard = o->shard,
    };
    /* --ccrTagNums is --latest by another name here (issue 14) */
    if (o->latest > 0)
        c.ccr_tag_nums = o->latest;
    c.filter_semver = o->semver && o->semver[0] ? o->semver : NULL;
    return c;
}

/* it_engine_opts.takes_repo (14C): --shard for the repositories found by
 * wildcard rules. */
static bool takes_repo(void *payload, const char *src_repo)
{
    return it_shard_takes(payload, src_repo);
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
        /* a rule's own filter keys replace the global flags (issue 14) */
        if (it_rule_resolve(&pairs[i], &rules->items[i], o->rule_file,
                            o->registry, o->ns, err) != 0 ||
            it_pair_filter_defaults(&pairs[i], o->tags, o->exclude_tags,
                                    o->semver, o->latest, err) != 0) {
            it_pair_clear(&pairs[i]);
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

/* ---------------------------------------------------------- the run */

typedef struct run {
    const it_options *o;
    it_runctl *ctl;
    bool tui;
    time_t started;
    char *state_dir;
    early_notes early;
    it_errbuf err;
    /* configuration */
    const char *mode; /* "generic" or "ccrToTcr" */
    it_secrets *secrets;
    it_pair *pairs;
    size_t npairs;
    it_ccr *ccr;
    char src_desc[256], dst_desc[256];
    char shard_desc[32], shard_prefix[40];
    /* state */
    it_out *out; /* the one writer of stdout */
    FILE *stdout_;
    it_report *report;       /* open from the engine's start to the end */
    it_plan_json *plan_json; /* --output=json: the same */
    it_progress *progress;
    it_journal *journal;
    it_engine *engine;
    /* monitors and pipelines */
    it_events_out *events; /* --events */
    it_metrics *metrics;   /* --metrics-file */
    it_event_sub subs[2];  /* their engine subscribers */
    size_t nsubs;
    pthread_mutex_t obs_lock; /* the view's log observer, below */
    void (*view_obs)(void *payload, it_log_level lvl, const char *line);
    void *view_obs_payload;
    /* threads */
    pthread_t planner, finisher;
    bool planning, finishing;
    int planner_err; /* it_ccr_err */
    /* outcome */
    bool interrupted;
    it_engine_stats st;
    /* tag filters (issue 14): --tags / --exclude-tags split, for the CCR
     * planner's pairs */
    char **flt_tags, **flt_exclude;
} run;

/* The log's one observer: warnings and errors go to --events and to the
 * view's observer (the early notes, then the dashboard's pane). */
static void run_observer(void *payload, it_log_level lvl, const char *line)
{
    run *r = payload;
    it_events_warning(r->events, lvl == IT_LOG_ERROR, line);
    pthread_mutex_lock(&r->obs_lock);
    void (*fn)(void *, it_log_level, const char *) = r->view_obs;
    void *fp = r->view_obs_payload;
    pthread_mutex_unlock(&r->obs_lock);
    if (fn)
        fn(fp, lvl, line);
}

/* Sets the view's observer (fn NULL: none); the log observes through
 * run_observer while there is a view or an events file. */
static void set_view_observer(run *r,
                              void (*fn)(void *, it_log_level, const char *),
                              void *payload)
{
    pthread_mutex_lock(&r->obs_lock);
    r->view_obs = fn;
    r->view_obs_payload = payload;
    pthread_mutex_unlock(&r->obs_lock);
    if (fn || r->events)
        it_log_set_observer(run_observer, r);
    else
        it_log_set_observer(NULL, NULL);
}

/* Phase 1: the log. With the dashboard on, logs go to a file, never onto
 * the screen: into the state dir, checked first (owned by the user, not
 * writable by others) and never through a link planted there. */
static int start_log(run *r)
{
    const it_options *o = r->o;
    int lvl = it_log_level_parse(o->log_level ? o->log_level : "info");
    r->state_dir = o->state_dir ? strdup(o->state_dir) : default_state_dir();
    if (!r->state_dir || lvl < 0) {
        fprintf(stderr, "image-transfer: --log-level: expected error, warn, "
                        "info or debug\n");
        return IT_EXIT_USAGE;
    }
    char log_path[4096];
    const char *log_file = o->log_file;
    int log_rc;
    if (!log_file && r->tui) {
        int dfd = it_state_dir_open(r->state_dir, &r->err);
        if (dfd < 0) {
            say("", r->err.msg);
            return IT_EXIT_USAGE;
        }
        snprintf(log_path, sizeof(log_path), "%s/image-transfer.log",
                 r->state_dir);
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
        return IT_EXIT_USAGE;
    }
    if (r->tui)
        set_view_observer(r, early_observer, &r->early);
    return 0;
}

/* Phase 2: registry logins, then the rules (generic mode) or the CCR
 * planner's keys and clients. */
static int load_config(run *r)
{
    const it_options *o = r->o;
    r->mode = o->ccr_to_tcr ? "ccrToTcr" : "generic";
    if (load_secrets(o, &r->secrets, &r->err) != 0) {
        say("", r->err.msg);
        return IT_EXIT_USAGE;
    }
    if (o->ccr_to_tcr) {
        it_ccr_opts co = ccr_opts_of(o);
        if (it_regex_list_split(&r->flt_tags, o->tags) != 0 ||
            it_regex_list_split(&r->flt_exclude, o->exclude_tags) != 0) {
            say("", "out of memory");
            return IT_EXIT_USAGE;
        }
        co.filter_tags = r->flt_tags;
        co.filter_exclude = r->flt_exclude;
        int rc = it_ccr_new(&r->ccr, &co, r->secrets, &r->err);
        if (rc != 0) {
            say("", r->err.msg);
            return ccr_exit_code(rc);
        }
        snprintf(r->src_desc, sizeof(r->src_desc), "CCR %s",
                 it_ccr_source_desc(r->ccr));
        snprintf(r->dst_desc, sizeof(r->dst_desc), "%s",
                 it_ccr_target_desc(r->ccr));
    } else {
        if (!o->rule_file) {
            fprintf(stderr, "image-transfer: --ruleFile is required in the "
                            "generic mode (see --help)\n");
            return IT_EXIT_USAGE;
        }
        if (load_pairs(o, &r->pairs, &r->npairs, &r->err) != 0) {
            say("", r->err.msg);
            return IT_EXIT_USAGE;
        }
        describe_hosts(r->src_desc, sizeof(r->src_desc), r->pairs, r->npairs,
                       true);
        describe_hosts(r->dst_desc, sizeof(r->dst_desc), r->pairs, r->npairs,
                       false);
    }
    if (o->shard.count > 0) {
        snprintf(r->shard_desc, sizeof(r->shard_desc), "%u/%u", o->shard.index,
                 o->shard.count);
        snprintf(r->shard_prefix, sizeof(r->shard_prefix),
                 "shard %s: ", r->shard_desc);
    }
    return 0;
}

/* --events and --metrics-file, opened before anything runs so a path
 * that cannot be written is a usage error; "run started" goes out. */
static int open_monitors(run *r)
{
    const it_options *o = r->o;
    if (o->events) {
        if (it_events_open(&r->events, o->events, r->stdout_, &r->err) != 0) {
            say("", r->err.msg);
            return -1;
        }
        r->subs[r->nsubs++] = (it_event_sub){it_events_on_event, r->events};
        set_view_observer(r, r->view_obs, r->view_obs_payload);
        it_events_run_started(r->events,
                              &(it_events_run){.mode = r->mode,
                                               .source = r->src_desc,
                                               .target = r->dst_desc,
                                               .shard = r->shard_desc,
                                               .version = IT_VERSION,
                                               .dry_run = o->dry_run});
    }
    if (o->metrics_file) {
        it_metrics_opts mo = {.path = o->metrics_file,
                              .interval_s = o->metrics_interval,
                              .mode = r->mode,
                              .shard = r->shard_desc,
                              .dry_run = o->dry_run,
                              .started = r->started,
                              .progress = r->progress};
        if (it_metrics_open(&r->metrics, &mo, &r->err) != 0) {
            say("", r->err.msg);
            return -1;
        }
        r->subs[r->nsubs++] = (it_event_sub){it_metrics_on_event, r->metrics};
    }
    return 0;
}

/* Phase 3: the stdout writer, the progress model (its notes pane takes
 * over from the early notes) and the journal (opened, not read: the
 * engine looks records up as it needs them). */
static int open_state(run *r)
{
    if (it_out_open(&r->out, stdout, &r->err) != 0) {
        say("", r->err.msg);
        return IT_EXIT_FAILED;
    }
    r->stdout_ = it_out_file(r->out);
    /* --verify: the dashboard's header says so */
    const char *view_mode = !r->o->verify ? r->mode
                            : r->ccr      ? "VERIFY (CCR -> TCR)"
                                          : "VERIFY";
    r->progress = it_progress_new(view_mode, r->src_desc, r->dst_desc, NULL);
    if (!r->progress) {
        fprintf(stderr, "image-transfer: out of memory\n");
        return IT_EXIT_USAGE;
    }
    it_progress_bind_runctl(r->progress, r->ctl);
    it_progress_phase(r->progress, IT_PHASE_DISCOVERING);
    it_progress_shard(r->progress, r->shard_desc);
    if (r->tui) {
        for (int i = 0; i < r->early.n; i++)
            it_progress_note(r->progress, r->early.is_error[i],
                             r->early.line[i]);
        set_view_observer(r, log_observer, r->progress);
    }
    if (open_monitors(r) != 0)
        return IT_EXIT_USAGE;
    if (r->o->dry_run)
        return 0;
    /* Nothing is read into memory: the engine asks the journal. */
    if (it_journal_open(&r->journal, r->state_dir, NULL, &r->err) != 0) {
        say("", r->err.msg);
        return IT_EXIT_USAGE;
    }
    long records = 0, torn = 0;
    it_journal_stats(r->journal, &records, &torn);
    long skipped = it_journal_skipped(r->journal);
    if (it_journal_imported(r->journal))
        log_info("journal: %ld records imported from journal.jsonl (now "
                 "journal.db; the old file is kept as journal.jsonl.imported)",
                 it_journal_imported(r->journal));
    if (records || torn)
        log_info("journal: %ld records from earlier runs%s", records,
                 torn ? " (a torn last line was dropped)" : "");
    if (skipped)
        log_warn("journal: %ld damaged line(s) skipped (see the warnings "
                 "above); the records after them were kept",
                 skipped);
    return 0;
}

/* The engine's results go straight into the report and the JSON plan. */
static void on_result(void *payload, const it_image_result *res)
{
    run *r = payload;
    if (r->report)
        it_report_add(r->report, res);
    if (r->plan_json)
        it_plan_json_add(r->plan_json, res);
}

/* Tag filters (issue 14): each filtered repository's counts into the
 * report. */
static void on_filtered(void *payload, const char *source, const char *target,
                        const it_filter_counts *c, const char *order)
{
    run *r = payload;
    if (r->report)
        it_report_add_filtered(r->report, source, target, c, order);
}

/* Phase 4: the engine (it asks the journal what earlier runs did). */
static int start_engine(run *r)
{
    const it_options *o = r->o;
    it_engine_opts eo = {0};
    eo.routines = o->routines;
    eo.retry = o->retry;
    eo.qps = o->qps;
    eo.retry_window_ms = o->retry_window_ms; /* issue 15 */
    eo.adaptive = true;
    eo.bandwidth = o->bandwidth;
    eo.max_tags = (size_t)o->max_tags;
    eo.max_pages = (size_t)o->max_pages;
    eo.tag_exist_overridden = o->tag_exist_overridden;
    eo.referrers = o->referrers; /* issue 13 */
    eo.dry_run = o->dry_run;
    eo.platforms = o->platforms; /* issue 14 */
    eo.verify = o->verify;
    eo.secrets = r->secrets;
    eo.ca_file = o->ca_file;
    eo.journal = r->journal;
    eo.progress = r->progress;
    if (r->ccr) {
        eo.creds_fn = it_ccr_creds;
        eo.creds_payload = r->ccr;
    }
    eo.prune = o->prune;      /* --prune (14C) */
    if (o->shard.count > 0) { /* repositories found by wildcard rules */
        eo.takes_repo = takes_repo;
        eo.takes_payload = (void *)&o->shard;
    }
    if (o->prune && r->ccr)
        log_warn("--prune applies to rule files only: nothing is pruned in "
                 "CCR -> TCR mode");
    eo.plan_out = r->stdout_;
    eo.plan_quiet = o->output == IT_OUTPUT_JSON || o->preflight;
    eo.ctl = r->ctl;
    /* The results are written as images end: the report (opened before
     * the first) and the --output=json plan. */
    if (o->report && it_report_open(&r->report, o->report, r->mode,
                                    o->shard.count > 0 ? &o->shard : NULL,
                                    r->started, &r->err) != 0) {
        say("", r->err.msg);
        return IT_EXIT_USAGE;
    }
    if (o->output == IT_OUTPUT_JSON &&
        !(r->plan_json = it_plan_json_begin(r->stdout_, r->mode))) {
        say("", "--output=json: out of memory");
        return IT_EXIT_USAGE;
    }
    eo.on_result = on_result;
    eo.result_payload = r;
    eo.on_filtered = on_filtered;
    eo.subscribers = r->subs;
    eo.nsubscribers = r->nsubs;
    if (it_engine_start(&r->engine, &eo, &r->err) != 0) {
        say("", r->err.msg);
        return IT_EXIT_USAGE;
    }
    if (r->metrics && it_metrics_start(r->metrics, r->engine) != 0)
        log_warn("--metrics-file: cannot start the writer thread: the file "
                 "is written at the end only");
    return 0;
}

/* The CCR planner runs beside the engine: pairs are copied as soon as
 * they are found. */
static void *planner_thread(void *arg)
{
    run *r = arg;
    it_ccr_set_plan_out(r->ccr, r->o->output == IT_OUTPUT_JSON || r->o->verify
                                    ? NULL
                                    : r->stdout_);
    r->planner_err = it_ccr_feed(r->ccr, r->engine, r->progress, r->ctl);
    return NULL;
}

/* Phase 5: what to copy. The CCR planner in a thread of its own, or the
 * rules' pairs (this shard's) at once. */
static void plan(run *r)
{
    if (r->ccr) {
        r->planning = pthread_create(&r->planner, NULL, planner_thread, r) == 0;
        if (!r->planning) {
            it_engine_input_done(r->engine);
            log_error("cannot start the CCR planner thread");
            r->planner_err = IT_CCR_EAPI;
        }
        return;
    }
    /* --shard: a rule whose source repository is in another shard yields
     * nothing here, whatever its form (all tags, tags, digest). */
    size_t taken = 0;
    for (size_t i = 0; i < r->npairs; i++) {
        /* a wildcard rule is expanded by every shard, each taking its
         * own repositories (takes_repo) */
        if (!r->pairs[i].wildcard &&
            !it_shard_takes(&r->o->shard, r->pairs[i].src_repo))
            continue;
        it_engine_add_pair(r->engine, &r->pairs[i]);
        taken++;
    }
    if (r->o->shard.count > 0)
        log_info("shard %s: %zu of %zu rules have their source "
                 "repository in this shard",
                 r->shard_desc, taken, r->npairs);
    it_engine_input_done(r->engine);
}

/* --preflight (issue 13), instead of phases 5 and 6: the checks and the
 * dry-run plan, a checklist on stdout; its exit code. */
static int preflight(run *r)
{
    it_preflight_in in = {.o = r->o,
                          .engine = r->engine,
                          .progress = r->progress,
                          .ctl = r->ctl,
                          .pairs = r->pairs,
                          .npairs = r->npairs,
                          .ccr = r->ccr,
                          .out = r->stdout_};
    int code = it_preflight_run(&in);
    it_progress_phase(r->progress, IT_PHASE_DONE);
    r->interrupted = it_runctl_stopping(r->ctl);
    return r->interrupted ? IT_EXIT_INTERRUPTED : code;
}

/* Waits for the engine and tells the model the run is over (the views
 * end on that). Says once in the log that a stop was asked for: the
 * control itself is the run control's, shown by the model's snapshots. */
static void *finisher_thread(void *arg)
{
    run *r = arg;
    bool told = false;
    while (!it_engine_wait_finished(r->engine, 0.1)) {
        if (!told && it_runctl_stopping(r->ctl)) {
            told = true;
            log_warn("stop requested: finishing the images in flight "
                     "(signal again to abort them)");
        }
    }
    it_engine_wait(r->engine);
    it_progress_phase(r->progress, IT_PHASE_DONE);
    return NULL;
}

/* Phase 6: the run itself, shown by the dashboard or by progress lines
 * until the engine and the planner are done. */
static void show_run(run *r)
{
    r->finishing = pthread_create(&r->finisher, NULL, finisher_thread, r) == 0;
    if (!r->finishing) /* no thread to spare: wait here, show only the end */
        finisher_thread(r);
    bool shown = false;
    if (r->tui) {
        it_console_locale();
        it_errcap *cap = it_errcap_start(r->progress);
        it_progress_reader model = it_progress_reader_of(r->progress);
        tui_opts to = {.exit_on_done = r->o->exit_on_done,
                       .ctl = r->ctl,
                       .tick = it_errcap_tick,
                       .tick_ctx = cap};
        shown = tui_run(&model, &to) == 0;
        it_errcap_stop(cap);
        if (!shown)
            log_warn("cannot start the dashboard: showing progress lines");
    }
    if (!shown)
        it_headless_run(r->progress,
                        r->o->output == IT_OUTPUT_JSON
                            ? 0 /* stdout is the plan's */
                            : r->o->progress_interval,
                        r->stdout_);
    if (r->finishing)
        pthread_join(r->finisher, NULL);
    r->finishing = false;
    if (r->planning)
        pthread_join(r->planner, NULL);
    r->planning = false;
    set_view_observer(r, NULL, NULL);
    r->interrupted = it_runctl_stopping(r->ctl);
}

/* Phase 7: the journal closed, the one-line summary in the log (stderr
 * when headless, for pipelines that keep only the log) and the report. */
static void write_report(run *r)
{
    if (it_journal_close(r->journal) != 0)
        log_error("journal: some records could not be written");
    r->journal = NULL;
    it_engine_stats_get(r->engine, &r->st);
    const it_engine_stats *st = &r->st;
    if (st->verify)
        log_info("verify summary: %s%ld identical, %ld missing, %ld "
                 "different, %ld incomplete, %ld errors%s",
                 r->shard_prefix, st->verify_identical, st->verify_missing,
                 st->verify_different, st->verify_incomplete, st->verify_errors,
                 r->interrupted ? "; interrupted" : "");
    else
        log_info("summary: %s%ld images: %ld copied, %ld skipped, %ld "
                 "failed%s; blobs: %ld copied, %ld mounted, %ld skipped; %lld "
                 "bytes copied%s",
                 r->shard_prefix, st->images_total, st->images_copied,
                 st->images_skipped, st->images_failed,
                 st->images_pending ? " (some not started)" : "",
                 st->blobs_copied, st->blobs_mounted, st->blobs_skipped,
                 (long long)st->bytes_copied,
                 r->interrupted ? "; interrupted" : "");
    if (st->repos_found) /* whole namespaces (14C) */
        log_info("summary: %ld repositories found by wildcard rules",
                 st->repos_found);
    if (r->o->prune) /* --prune (14C) */
        log_info("summary: %ld tags pruned, %ld would be pruned, %ld not "
                 "deletable",
                 st->tags_pruned, st->tags_prune_planned, st->tags_not_pruned);
    it_report *rep = r->report;
    r->report = NULL;
    if (rep) { /* issue 15: the hosts and their adaptive limits */
        size_t nh = 0;
        it_host_stats *hs = it_engine_host_stats(r->engine, &nh);
        it_report_hosts(rep, hs, nh);
        free(hs);
    }
    if (rep &&
        it_report_finish(rep, time(NULL), st, r->interrupted, &r->err) != 0)
        log_error("%s", r->err.msg);
    if (r->metrics && it_metrics_finish(r->metrics, st, &r->err) != 0)
        log_error("%s", r->err.msg);
}

/* Tag filters (issue 14): what each left out, all repositories. */
static void print_filtered(run *r, FILE *out)
{
    const it_options *o = r->o;
    const it_filter_counts *c = &r->st.filtered;
    if (c->regex || c->exclude || c->semver)
        fprintf(out,
                "Filtered: %ld tag(s) left out: %ld by --tags / tags, %ld "
                "by --exclude-tags / exclude, %ld by --semver / semver\n",
                c->regex + c->exclude + c->semver, c->regex, c->exclude,
                c->semver);
    if (c->latest > 0) {
        char flag[64];
        if (o->ccr_to_tcr && o->latest == 0)
            snprintf(flag, sizeof(flag), "--ccrTagNums=%d", o->ccr_tag_nums);
        else if (o->latest > 0)
            snprintf(flag, sizeof(flag), "--latest=%d", o->latest);
        else
            snprintf(flag, sizeof(flag), "latest");
        char note[128];
        it_latest_note(note, sizeof(note), c->latest, flag);
        fprintf(out, "Note:    %s\n", note);
        log_warn("%s", note);
    }
}

/* Phase 8: the summary on stdout, and the exit code. */
static int print_summary(run *r)
{
    const it_options *o = r->o;
    FILE *out = r->stdout_;
    const it_engine_stats *st = &r->st;
    it_snapshot *snap = o->dry_run || o->verify
                            ? NULL
                            : it_progress_snapshot(r->progress, NULL);
    if (r->plan_json) {
        size_t nt = 0;
        it_plan_target *t = it_engine_plan_targets(r->engine, &nt);
        if (it_plan_json_end(r->plan_json, st, t, nt) != 0)
            log_error("--output=json: the plan could not be written");
        r->plan_json = NULL;
        free(t);
    } else if (o->dry_run) {
        int64_t bytes = st->bytes_planned;
        fprintf(out,
                "dry run: %s%ld image(s) to copy (%lld bytes of new "
                "blobs), %ld skipped, %ld failed; nothing was written\n",
                r->shard_prefix, st->images_planned, (long long)bytes,
                st->images_skipped, st->images_failed);
    } else if (o->verify) {
        /* FA: images a platform filter does not select have no verdict */
        char nsel[64] = "";
        if (st->images_platform_skipped)
            snprintf(nsel, sizeof(nsel), ", %ld not selected (platform)",
                     st->images_platform_skipped);
        fprintf(out,
                "verify%s: %s%ld identical, %ld missing, %ld different, %ld "
                "incomplete, %ld errors%s%s\n",
                o->verify > 1 ? " (deep)" : "", r->shard_prefix,
                st->verify_identical, st->verify_missing, st->verify_different,
                st->verify_incomplete, st->verify_errors, nsel,
                r->interrupted ? "; interrupted" : "");
    }
    if (r->planner_err == IT_CCR_EINSTANCE || r->planner_err == IT_CCR_EAUTH) {
        /* The planner stopped the run before anything was planned. */
        fprintf(out, "Result:  stopped: %s (see the error above)\n",
                r->planner_err == IT_CCR_EAUTH
                    ? "the Tencent Cloud API refused the key"
                    : "the TCR instance cannot be used");
        it_snapshot_free(snap);
        snap = NULL;
    }
    if (snap) {
        it_summary_print(out, snap);
        it_snapshot_free(snap);
    }
    if (o->output != IT_OUTPUT_JSON && st->repos_found) /* 14C */
        fprintf(out, "Found:   %ld repositories by wildcard rules\n",
                st->repos_found);
    if (o->output != IT_OUTPUT_JSON && o->prune) /* --prune (14C) */
        fprintf(
            out, "Pruned:  %ld tags %s%s\n",
            o->dry_run ? st->tags_prune_planned : st->tags_pruned,
            o->dry_run ? "would be pruned (dry run: none deleted)" : "pruned",
            st->tags_not_pruned ? ", some not deletable (see the log)" : "");
    if (o->report && o->output != IT_OUTPUT_JSON) {
        char *name = it_sanitize_dup(o->report);
        fprintf(out, "report: %s\n", name ? name : "?");
        free(name);
    }
    fflush(out);
    if (r->ccr && r->planner_err == 0)
        r->planner_err = it_ccr_listing_error(r->ccr);
    print_filtered(r, out);
    int planner_code = ccr_exit_code(r->planner_err);
    return r->interrupted          ? IT_EXIT_INTERRUPTED
           : planner_code != 0     ? planner_code
           : st->images_failed > 0 ? IT_EXIT_FAILED
                                   : IT_EXIT_OK;
}

/* The last event: the summary and the exit code; the events file closed. */
static void finish_events(run *r, int code)
{
    if (!r->events)
        return;
    it_events_run_finished(r->events, &r->st, r->interrupted, code);
    it_log_set_observer(NULL, NULL);
    if (it_events_close(r->events, &r->err) != 0)
        log_error("%s", r->err.msg);
    r->events = NULL;
}

static void run_free(run *r)
{
    it_log_set_observer(NULL, NULL); /* `early` and progress end here */
    it_engine_free(r->engine);
    it_report_abort(r->report); /* a run that never got to its end */
    if (r->plan_json)
        it_plan_json_end(r->plan_json, &r->st, NULL, 0);
    it_metrics_free(r->metrics);
    it_events_close(r->events, &r->err);
    it_journal_close(r->journal);
    for (size_t i = 0; i < r->npairs; i++)
        it_pair_clear(&r->pairs[i]);
    free(r->pairs);
    it_secrets_free(r->secrets);
    it_out_close(r->out); /* after the engine: no writer is left */
    it_progress_free(r->progress);
    it_ccr_free(r->ccr);
    reg_strv_free(r->flt_tags);
    reg_strv_free(r->flt_exclude);
    free(r->state_dir);
    it_log_close();
}

int it_app_run(const it_options *o, it_runctl *ctl)
{
    run r = {.o = o,
             .ctl = ctl,
             .tui = use_tui(o) && !o->preflight,
             .started = time(NULL)};
    pthread_mutex_init(&r.obs_lock, NULL);
    int code = start_log(&r);
    if (code == 0)
        code = load_config(&r);
    if (code == 0)
        code = open_state(&r);
    if (code == 0)
        code = start_engine(&r);
    if (code == 0 && o->preflight) {
        code = preflight(&r);
        write_report(&r);
    } else if (code == 0) {
        plan(&r);
        show_run(&r);
        write_report(&r);
        code = print_summary(&r);
    }
    finish_events(&r, code);
    run_free(&r);
    pthread_mutex_destroy(&r.obs_lock);
    return code;
}
