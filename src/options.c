/*
 * options.c - the command line. Flags are described by one table: names
 * (the original's camelCase first, then kebab-case aliases), kind, where
 * the value goes and its range. Parsing follows Go's flag package, which
 * the original used: "-flag" and "--flag" are the same, "--flag=value" and
 * "--flag value" for non-booleans, booleans as a bare flag or
 * "--flag=true|false".
 */
#include "options.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "platform.h"
#include "registry.h"
#include "rules.h"
#include "tagfilter.h"
#include "retry.h"
#include "util.h"

#ifndef IT_VERSION
#define IT_VERSION "0.0.0"
#endif

typedef enum opt_kind {
    K_STR,     /* char *; an empty value is refused */
    K_STR_OPT, /* char *; an empty value clears it (--registry=) */
    K_INT,
    K_BOOL,
    K_BYTES,
    K_LEVEL,
    K_SHARD,  /* it_shard: "I/N" */
    K_OUTPUT, /* it_output_format: text or json */
    K_TUI,
    K_NO_TUI,
    K_HELP,
    K_VERSION,
    K_VERIFY, /* int: bare or true = 1, deep = 2, false = 0 */
    K_WINDOW  /* int64_t ms: "300", "300s", "5m", "1h" (issue 15) */
} opt_kind;

typedef struct opt_def {
    const char *names[3];
    opt_kind kind;
    size_t off;
    int min, max;
} opt_def;

#define OFF(field) offsetof(it_options, field)

static const opt_def opt_table[] = {
    {{"securityFile", "security-file"}, K_STR, OFF(security_file), 0, 0},
    {{"ruleFile", "rule-file"}, K_STR, OFF(rule_file), 0, 0},
    {{"registry"}, K_STR_OPT, OFF(registry), 0, 0},
    {{"ns", "namespace"}, K_STR_OPT, OFF(ns), 0, 0},
    {{"routines"}, K_INT, OFF(routines), 1, 256},
    {{"retry"}, K_INT, OFF(retry), 0, 100},
    {{"qps"}, K_INT, OFF(qps), 0, 30000},
    {{"max-tags", "maxTags"}, K_INT, OFF(max_tags), 1, INT_MAX},
    {{"max-pages", "maxPages"}, K_INT, OFF(max_pages), 1, INT_MAX},
    {{"tag-exist-overridden", "tagExistOverridden"},
     K_BOOL,
     OFF(tag_exist_overridden),
     0,
     0},
    {{"ccrToTcr", "ccr-to-tcr"}, K_BOOL, OFF(ccr_to_tcr), 0, 0},
    {{"secretFile", "secret-file"}, K_STR, OFF(secret_file), 0, 0},
    {{"tc-profile", "tcProfile"}, K_STR, OFF(tc_profile), 0, 0},
    {{"tcrName", "tcr-name"}, K_STR, OFF(tcr_name), 0, 0},
    {{"tcrRegion", "tcr-region"}, K_STR, OFF(tcr_region), 0, 0},
    {{"ccrRegion", "ccr-region"}, K_STR, OFF(ccr_region), 0, 0},
    {{"ccrTagNums", "ccr-tag-nums"}, K_INT, OFF(ccr_tag_nums), 0, INT_MAX},
    {{"tcr-namespace-public", "tcrNamespacePublic"},
     K_BOOL,
     OFF(tcr_namespace_public),
     0,
     0},
    {{"tc-endpoint", "tcEndpoint"}, K_STR, OFF(tc_endpoint), 0, 0},
    {{"ccr-registry", "ccrRegistry"}, K_STR_OPT, OFF(ccr_registry), 0, 0},
    {{"tcr-registry", "tcrRegistry"}, K_STR_OPT, OFF(tcr_registry), 0, 0},
    {{"state-dir", "stateDir"}, K_STR, OFF(state_dir), 0, 0},
    {{"report"}, K_STR_OPT, OFF(report), 0, 0},
    {{"dry-run", "dryRun"}, K_BOOL, OFF(dry_run), 0, 0},
    {{"bandwidth"}, K_BYTES, OFF(bandwidth), 0, 0},
    {{"log-level", "logLevel"}, K_LEVEL, OFF(log_level), 0, 0},
    {{"log-file", "logFile"}, K_STR_OPT, OFF(log_file), 0, 0},
    {{"tui"}, K_TUI, OFF(tui), 0, 0},
    {{"no-tui"}, K_NO_TUI, OFF(tui), 0, 0},
    {{"exit-on-done", "exitOnDone"}, K_BOOL, OFF(exit_on_done), 0, 0},
    {{"progress-interval", "progressInterval"},
     K_INT,
     OFF(progress_interval),
     0,
     86400},
    {{"ca-file", "caFile"}, K_STR_OPT, OFF(ca_file), 0, 0},
    {{"shard"}, K_SHARD, OFF(shard), 0, 0},
    {{"metrics-file", "metricsFile"}, K_STR, OFF(metrics_file), 0, 0},
    {{"metrics-interval", "metricsInterval"},
     K_INT,
     OFF(metrics_interval),
     1,
     3600},
    {{"events"}, K_STR, OFF(events), 0, 0},
    {{"output"}, K_OUTPUT, OFF(output), 0, 0},
    {{"prune"}, K_BOOL, OFF(prune), 0, 0}, /* 14C */
    /* issue 14, platforms */
    {{"platforms"}, K_STR, OFF(platforms), 0, 0},
    {{"verify"}, K_VERIFY, OFF(verify), 0, 0},
    {{"retry-window", "retryWindow"}, K_WINDOW, OFF(retry_window_ms), 0, 0},
    {{"help", "h"}, K_HELP, OFF(help), 0, 0},
    {{"version"}, K_VERSION, OFF(version), 0, 0},
    /* issue 13: referrers travel with their images */
    {{"referrers"}, K_BOOL, OFF(referrers), 0, 0},
    /* tag filters (issue 14) */
    {{"tags"}, K_STR_OPT, OFF(tags), 0, 0},
    {{"exclude-tags", "excludeTags"}, K_STR_OPT, OFF(exclude_tags), 0, 0},
    {{"semver"}, K_STR_OPT, OFF(semver), 0, 0},
    {{"latest"}, K_INT, OFF(latest), 0, INT_MAX},
    /* issue 13 */
    {{"preflight"}, K_BOOL, OFF(preflight), 0, 0},
};

/* --platforms (issue 14): a spec that does not parse is a usage error. */
static int check_platforms(const it_options *o, it_errbuf *err)
{
    if (o->platforms == NULL)
        return 0;
    char *specs[] = {o->platforms, NULL};
    it_platform_set s;
    if (it_platform_set_parse(&s, specs, "--platforms", err) != 0)
        return -1;
    it_platform_set_free(&s);
    return 0;
}

static const opt_def *find_opt(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof opt_table / sizeof opt_table[0]; i++) {
        for (size_t j = 0; j < 3 && opt_table[i].names[j] != NULL; j++) {
            const char *n = opt_table[i].names[j];
            if (strlen(n) == len && strncmp(n, name, len) == 0)
                return &opt_table[i];
        }
    }
    return NULL;
}

static bool takes_value(const opt_def *d)
{
    return d->kind == K_STR || d->kind == K_STR_OPT || d->kind == K_INT ||
           d->kind == K_BYTES || d->kind == K_LEVEL || d->kind == K_SHARD ||
           d->kind == K_OUTPUT || d->kind == K_WINDOW;
}

/* Go's strconv.ParseBool plus yes/no/on/off. */
static int parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"1",    "t",    "T",   "true",
                                      "True", "TRUE", "yes", "on"};
    static const char *const no[] = {"0",     "f",     "F",  "false",
                                     "False", "FALSE", "no", "off"};
    for (size_t i = 0; i < 8; i++) {
        if (strcmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

static int set_str(char **slot, const char *v, bool empty_ok)
{
    char *copy = NULL;
    if (!(empty_ok && v[0] == '\0')) {
        copy = strdup(v);
        if (copy == NULL)
            return -1;
    }
    free(*slot);
    *slot = copy;
    return 0;
}

int64_t it_parse_bytes(const char *s)
{
    if (s == NULL)
        return -1;
    while (*s == ' ')
        s++;
    if (*s == '\0' || *s == '-' || *s == '+')
        return -1;
    errno = 0;
    char *end = NULL;
    double v = strtod(s, &end);
    if (end == s || errno != 0 || !isfinite(v) || v < 0)
        return -1;
    /* strtod also reads "inf", "nan" and hex; only plain decimals here */
    for (const char *p = s; p < end; p++) {
        if ((*p < '0' || *p > '9') && *p != '.')
            return -1;
    }
    double mult = 1;
    const char *p = end;
    switch (*p) {
    case 'k':
    case 'K':
        mult = 1024.0;
        p++;
        break;
    case 'm':
    case 'M':
        mult = 1024.0 * 1024;
        p++;
        break;
    case 'g':
    case 'G':
        mult = 1024.0 * 1024 * 1024;
        p++;
        break;
    case 't':
    case 'T':
        mult = 1024.0 * 1024 * 1024 * 1024;
        p++;
        break;
    default:
        break;
    }
    if (mult > 1 && *p == 'i')
        p++;
    if (*p == 'B' || *p == 'b')
        p++;
    if (strcmp(p, "/s") == 0 || strcmp(p, "/S") == 0)
        p += 2;
    if (*p != '\0')
        return -1;
    double r = v * mult;
    if (r >= 9.2e18)
        return -1;
    return (int64_t)(r + 0.5);
}

/* A boolean flag's value: true when bare (v NULL), else parse_bool(v). */
static int flag_bool(bool *out, const char *flag, const char *v, it_errbuf *err)
{
    *out = true;
    if (v != NULL && parse_bool(v, out) != 0) {
        it_set_err(err, "%s: expected true or false, got '%.100s'", flag, v);
        return -1;
    }
    return 0;
}

/* Applies value v (NULL for a bare flag) to the option d. `flag` is the
 * flag as written, for messages. */
static int apply(it_options *o, const opt_def *d, const char *flag,
                 const char *v, it_errbuf *err)
{
    char *base = (char *)o;
    switch (d->kind) {
    case K_STR:
    case K_STR_OPT:
        if (d->kind == K_STR && v[0] == '\0') {
            it_set_err(err, "%s: expected a value, got an empty string", flag);
            return -1;
        }
        if (set_str((char **)(base + d->off), v, d->kind == K_STR_OPT) != 0)
            goto oom;
        return 0;
    case K_LEVEL:
        if (it_log_level_parse(v) < 0) {
            it_set_err(err,
                       "%s: expected error, warn, info or debug, got '%.100s'",
                       flag, v);
            return -1;
        }
        if (set_str((char **)(base + d->off), v, false) != 0)
            goto oom;
        return 0;
    case K_INT: {
        errno = 0;
        char *end = NULL;
        long n = strtol(v, &end, 10);
        if (end == v || *end != '\0' || errno != 0 || n < d->min ||
            n > d->max) {
            if (d->max == INT_MAX)
                it_set_err(err,
                           "%s: expected an integer from %d upwards, got "
                           "'%.100s'",
                           flag, d->min, v);
            else
                it_set_err(
                    err, "%s: expected an integer from %d to %d, got '%.100s'",
                    flag, d->min, d->max, v);
            return -1;
        }
        *(int *)(base + d->off) = (int)n;
        return 0;
    }
    case K_BYTES: {
        int64_t n = it_parse_bytes(v);
        if (n < 0) {
            it_set_err(err,
                       "%s: expected a byte rate such as 800K, 50M, 1.5G "
                       "(0 = unlimited), got '%.100s'",
                       flag, v);
            return -1;
        }
        *(int64_t *)(base + d->off) = n;
        return 0;
    }
    case K_WINDOW: {
        int64_t ms = it_retry_parse_window(v);
        if (ms < 0) {
            it_set_err(err,
                       "%s: expected a duration such as 300, 300s, 5m or 1h "
                       "(0 = count retries only, at most 168h), got '%.100s'",
                       flag, v);
            return -1;
        }
        *(int64_t *)(base + d->off) = ms;
        return 0;
    }
    case K_SHARD:
        return it_shard_parse((it_shard *)(base + d->off), v, flag, err);
    case K_OUTPUT:
        if (strcmp(v, "text") == 0) {
            o->output = IT_OUTPUT_TEXT;
        } else if (strcmp(v, "json") == 0) {
            o->output = IT_OUTPUT_JSON;
        } else {
            it_set_err(err, "%s: expected text or json, got '%.100s'", flag, v);
            return -1;
        }
        return 0;
    case K_BOOL:
    case K_HELP:
    case K_VERSION: {
        bool b;
        if (flag_bool(&b, flag, v, err) != 0)
            return -1;
        *(bool *)(base + d->off) = b;
        return 0;
    }
    case K_VERIFY: { /* --verify, --verify=deep, --verify=false */
        bool b;
        if (v == NULL || strcmp(v, "shallow") == 0) {
            o->verify = 1;
        } else if (strcmp(v, "deep") == 0) {
            o->verify = 2;
        } else if (parse_bool(v, &b) == 0) {
            o->verify = b ? 1 : 0;
        } else {
            it_set_err(err, "%s: expected deep (or true, false), got '%.100s'",
                       flag, v);
            return -1;
        }
        return 0;
    }
    case K_TUI: {
        if (v == NULL) {
            o->tui = IT_TUI_ON;
            return 0;
        }
        bool b;
        if (strcmp(v, "auto") == 0) {
            o->tui = IT_TUI_AUTO;
        } else if (parse_bool(v, &b) == 0) {
            o->tui = b ? IT_TUI_ON : IT_TUI_OFF;
        } else {
            it_set_err(err, "%s: expected true, false or auto, got '%.100s'",
                       flag, v);
            return -1;
        }
        return 0;
    }
    case K_NO_TUI: {
        bool b;
        if (flag_bool(&b, flag, v, err) != 0)
            return -1;
        o->tui = b ? IT_TUI_OFF : IT_TUI_AUTO;
        return 0;
    }
    }
    return 0;
oom:
    it_set_err(err, "out of memory");
    return -1;
}

static int set_defaults(it_options *o, it_errbuf *err)
{
    memset(o, 0, sizeof *o);
    o->routines = 5;
    o->retry = 2;
    o->qps = 0; /* no cap: see --help */
    o->max_tags = 1000000;
    o->max_pages = 100000;
    o->tag_exist_overridden = true;
    o->ccr_tag_nums = 0;
    o->referrers = true; /* issue 13 */
    o->progress_interval = 10;
    o->metrics_interval = 5;
    /* issue 15: --retry-window=5m */
    o->retry_window_ms = -1; /* 5m, or 0 with --preflight: see below */
    o->tui = IT_TUI_AUTO;
    o->tcr_region = strdup("ap-guangzhou");
    o->ccr_region = strdup("ap-guangzhou");
    o->tc_endpoint = strdup("https://tcr.tencentcloudapi.com");
    o->log_level = strdup("info");

    char buf[4096];
    const char *xdg = getenv("XDG_STATE_HOME");
    const char *home = getenv("HOME");
    if (xdg != NULL && xdg[0] == '/')
        snprintf(buf, sizeof buf, "%s/image-transfer", xdg);
    else if (home != NULL && home[0] != '\0')
        snprintf(buf, sizeof buf, "%s/.local/state/image-transfer", home);
    else
        snprintf(buf, sizeof buf, ".image-transfer-state");
    o->state_dir = strdup(buf);

    const char *reg = getenv("DEFAULT_REGISTRY");
    const char *ns = getenv("DEFAULT_NAMESPACE");
    if (reg != NULL && reg[0] != '\0')
        o->registry = strdup(reg);
    if (ns != NULL && ns[0] != '\0')
        o->ns = strdup(ns);

    if (o->tcr_region == NULL || o->ccr_region == NULL ||
        o->tc_endpoint == NULL || o->log_level == NULL ||
        o->state_dir == NULL || (reg != NULL && reg[0] && !o->registry) ||
        (ns != NULL && ns[0] && !o->ns)) {
        it_set_err(err, "out of memory");
        return -1;
    }
    return 0;
}

/* The global tag filters (issue 14) compile; in CCR -> TCR mode
 * --ccrTagNums is --latest by another name. */
static int check_filters(const it_options *o, it_errbuf *err)
{
    int rc = -1;
    char **inc = NULL, **exc = NULL;
    it_tagfilter *f = NULL;
    if (o->ccr_to_tcr && o->latest > 0 && o->ccr_tag_nums > 0 &&
        o->latest != o->ccr_tag_nums) {
        it_set_err(err,
                   "--latest=%d and --ccrTagNums=%d: in CCR -> TCR mode they "
                   "are the same flag; give one",
                   o->latest, o->ccr_tag_nums);
        return -1;
    }
    if (it_regex_list_split(&inc, o->tags) != 0 ||
        it_regex_list_split(&exc, o->exclude_tags) != 0) {
        it_set_err(err, "out of memory");
        goto out;
    }
    if (it_tagfilter_new(&f, inc, NULL, NULL, 0, err) != 0) {
        it_errbuf e = *err;
        it_set_err(err, "--tags: %s", e.msg + strlen("tags: "));
        goto out;
    }
    it_tagfilter_free(f);
    f = NULL;
    if (it_tagfilter_new(&f, NULL, exc, NULL, 0, err) != 0) {
        it_errbuf e = *err;
        it_set_err(err, "--exclude-tags: %s", e.msg + strlen("exclude: "));
        goto out;
    }
    it_tagfilter_free(f);
    f = NULL;
    if (o->semver != NULL && o->semver[0] != '\0' &&
        it_tagfilter_new(&f, NULL, NULL, o->semver, 0, err) != 0) {
        it_errbuf e = *err;
        it_set_err(err, "--semver: %s", e.msg);
        goto out;
    }
    rc = 0;
out:
    it_tagfilter_free(f);
    reg_strv_free(inc);
    reg_strv_free(exc);
    return rc;
}

/* Checks the flags fit together once all are read. */
static int check(const it_options *o, it_errbuf *err)
{
    if (o->help || o->version)
        return 0;
    if (o->registry != NULL && (strstr(o->registry, "://") != NULL ||
                                strchr(o->registry, '/') != NULL)) {
        it_set_err(err,
                   "--registry: expected a registry host[:port] such as "
                   "ccr.ccs.tencentyun.com (no scheme, no path), got '%.200s'",
                   o->registry);
        return -1;
    }
    if (o->ccr_to_tcr) {
        if (o->tcr_name == NULL) {
            it_set_err(err, "--ccrToTcr=true needs --tcrName=NAME (the TCR "
                            "Enterprise instance to migrate into; see --help)");
            return -1;
        }
    } else if (o->rule_file == NULL) {
        it_set_err(err, "nothing to do: give --ruleFile=FILE (generic mode) or "
                        "--ccrToTcr=true --tcrName=NAME (CCR to TCR mode); see "
                        "--help");
        return -1;
    }
    if (o->verify && o->dry_run) {
        it_set_err(err, "--verify and --dry-run do not go together: --verify "
                        "copies nothing already (it checks the target)");
        return -1;
    }
    /* --preflight (issue 13): a dry run that prints a checklist */
    if (o->preflight) {
        if (o->output == IT_OUTPUT_JSON || o->tui == IT_TUI_ON) {
            it_set_err(err,
                       "--preflight prints a checklist on stdout: leave "
                       "out %s",
                       o->output == IT_OUTPUT_JSON ? "--output=json" : "--tui");
            return -1;
        }
    }
    /* stdout is the dashboard's, or the JSON's: one user at a time */
    bool events_stdout = o->events != NULL && strcmp(o->events, "-") == 0;
    if (o->output == IT_OUTPUT_JSON && !o->dry_run) {
        it_set_err(err, "--output=json needs --dry-run (it prints the plan as "
                        "JSON; a run's results are in --report and --events)");
        return -1;
    }
    if (o->tui == IT_TUI_ON && (events_stdout || o->output == IT_OUTPUT_JSON)) {
        it_set_err(err,
                   "%s writes to stdout, which the dashboard (--tui) "
                   "uses: give --events a file name, or leave --tui out",
                   events_stdout ? "--events -" : "--output=json");
        return -1;
    }
    if (events_stdout && o->output == IT_OUTPUT_JSON) {
        it_set_err(err, "--events - and --output=json both write to stdout: "
                        "give --events a file name");
        return -1;
    }
    if (check_filters(o, err) != 0)
        return -1;
    if (o->tui == IT_TUI_ON && o->log_file == NULL) {
        /* not an error: main() picks a log file under --state-dir */
    }
    return 0;
}

int it_options_parse(it_options *o, int argc, char **argv, it_errbuf *err)
{
    if (set_defaults(o, err) != 0)
        return -1;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--") == 0) {
            if (i + 1 < argc) {
                it_set_err(err,
                           "unexpected argument '%.200s' (this program "
                           "takes only flags; see --help)",
                           argv[i + 1]);
                return -1;
            }
            break;
        }
        if (arg[0] != '-' || arg[1] == '\0') {
            const char *hint = "";
            bool b;
            if (parse_bool(arg, &b) == 0 && i > 1)
                hint = "; a boolean flag takes its value as --flag=true or "
                       "--flag=false";
            it_set_err(err,
                       "unexpected argument '%.200s' (this program takes only "
                       "flags; see --help%s)",
                       arg, hint);
            return -1;
        }
        const char *name = arg + 1;
        if (name[0] == '-')
            name++;
        const char *eq = strchr(name, '=');
        size_t nlen = eq != NULL ? (size_t)(eq - name) : strlen(name);
        const opt_def *d = find_opt(name, nlen);
        char flag[128];
        snprintf(flag, sizeof flag, "--%.*s", (int)(nlen < 100 ? nlen : 100),
                 name);
        if (d == NULL || nlen == 0) {
            it_set_err(err, "unknown flag %.200s (see --help)", flag);
            return -1;
        }
        const char *v = eq != NULL ? eq + 1 : NULL;
        if (v == NULL && takes_value(d)) {
            if (i + 1 >= argc) {
                it_set_err(err, "%s: missing value", flag);
                return -1;
            }
            const char *next = argv[i + 1];
            /* "--retry -1" and "--shard -1/3" get the range message */
            bool numeric = d->kind == K_INT || d->kind == K_SHARD;
            if (next[0] == '-' && next[1] != '\0' &&
                !(numeric && next[1] >= '0' && next[1] <= '9')) {
                it_set_err(err,
                           "%s: missing value (the next argument '%.100s' is "
                           "a flag; write %s=VALUE if the value starts with "
                           "'-')",
                           flag, next, flag);
                return -1;
            }
            v = next;
            i++;
        }
        if (apply(o, d, flag, v, err) != 0)
            return -1;
    }
    if (check_platforms(o, err) != 0)
        return -1;
    if (o->preflight) /* issue 13: --preflight copies nothing */
        o->dry_run = true;
    /* --retry-window defaults to 5m; a preflight reports an unreachable
     * registry at once instead of waiting for it */
    if (o->retry_window_ms < 0)
        o->retry_window_ms = o->preflight ? 0 : 300000;
    return check(o, err);
}

void it_options_free(it_options *o)
{
    if (o == NULL)
        return;
    free(o->security_file);
    free(o->rule_file);
    free(o->registry);
    free(o->ns);
    free(o->secret_file);
    free(o->tcr_name);
    free(o->tcr_region);
    free(o->ccr_region);
    free(o->tc_endpoint);
    free(o->tc_profile);
    free(o->ccr_registry);
    free(o->tcr_registry);
    free(o->state_dir);
    free(o->report);
    free(o->log_level);
    free(o->log_file);
    free(o->ca_file);
    free(o->metrics_file);
    free(o->events);
    free(o->platforms);
    free(o->tags);
    free(o->exclude_tags);
    free(o->semver);
    memset(o, 0, sizeof *o);
}
