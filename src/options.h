/*
 * options.h - the command line, compatible with the original image-transfer
 * (camelCase flags) plus kebab-case aliases and this tool's additions.
 * Accepts --flag=value and --flag value; booleans also as bare --flag and
 * --flag=true|false.
 */
#ifndef IT_OPTIONS_H
#define IT_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "errbuf.h"
#include "shard.h"

typedef enum it_tui_mode {
    IT_TUI_AUTO = 0, /* dashboard when stdout is a terminal */
    IT_TUI_ON,
    IT_TUI_OFF
} it_tui_mode;

typedef enum it_output_format {
    IT_OUTPUT_TEXT = 0, /* plan lines and the summary for people */
    IT_OUTPUT_JSON      /* --dry-run: the plan as one JSON document */
} it_output_format;

typedef struct it_options {
    /* generic mode */
    char *security_file; /* --securityFile / --security-file */
    char *rule_file;     /* --ruleFile / --rule-file */
    char *registry;      /* --registry, default $DEFAULT_REGISTRY */
    char *ns;            /* --ns, default $DEFAULT_NAMESPACE */
    int routines;        /* --routines, default 5, 1..256 */
    int retry;           /* --retry, default 2, 0..100 */
    int qps;             /* --qps, default 100 per registry host, 0 = off */
    int max_tags;        /* --max-tags per repository, default 1000000 */
    int max_pages;       /* --max-pages per listing, default 100000 */
    bool tag_exist_overridden; /* --tag-exist-overridden, default true */

    /* CCR -> TCR mode */
    bool ccr_to_tcr;           /* --ccrToTcr */
    char *secret_file;         /* --secretFile / --secret-file */
    char *tc_profile;          /* --tc-profile, NULL = [default] */
    char *tcr_name;            /* --tcrName / --tcr-name */
    char *tcr_region;          /* --tcrRegion, default ap-guangzhou */
    char *ccr_region;          /* --ccrRegion, default ap-guangzhou */
    int ccr_tag_nums;          /* --ccrTagNums / --ccr-tag-nums, default 0 */
    bool tcr_namespace_public; /* --tcr-namespace-public */
    char *tc_endpoint;         /* --tc-endpoint, default */
                               /* https://tcr.tencentcloudapi.com */
    char *ccr_registry;        /* --ccr-registry override */
    char *tcr_registry;        /* --tcr-registry override */

    /* this tool's additions */
    char *state_dir;   /* --state-dir, default $XDG_STATE_HOME/image-transfer */
                       /* or ~/.local/state/image-transfer */
    char *report;      /* --report=FILE */
    bool dry_run;      /* --dry-run */
    int64_t bandwidth; /* --bandwidth bytes/s ("50M", "1.5G", "800K"), 0 */
    char *log_level;   /* --log-level error|warn|info|debug, default info */
    char *log_file;    /* --log-file */
    it_tui_mode tui;   /* --tui / --no-tui */
    bool exit_on_done; /* --exit-on-done */
    int progress_interval; /* --progress-interval seconds, default 10 */
    char *ca_file;  /* --ca-file: CA bundle used instead of the system one */
    it_shard shard; /* --shard I/N: only the repositories of shard I */
                    /* (count 0 = not sharded) */
    char *metrics_file;      /* --metrics-file FILE: Prometheus text format */
    int metrics_interval;    /* --metrics-interval seconds, default 5 */
    char *events;            /* --events FILE, or "-" for stdout: JSON lines */
    it_output_format output; /* --output text|json (json: --dry-run) */
    bool help;
    bool version;
    bool referrers; /* --referrers, default true (issue 13) */
    bool prune;     /* --prune (14C): delete target tags the source lost */
    /* issue 14, platforms */
    char *platforms; /* --platforms=linux/amd64,linux/arm64; NULL = all */
    /* Tag filters (issue 14): every rule that does not say otherwise, and
     * CCR -> TCR mode (where --ccrTagNums is another name of --latest). */
    char *tags;         /* --tags RE[,RE...]: include when any matches */
    char *exclude_tags; /* --exclude-tags RE[,RE...]: leave out (wins) */
    char *semver;       /* --semver CONSTRAINT */
    int latest;         /* --latest N: the newest N, 0 = all */
    /* --verify[=deep] (issue 13): 0 off, 1 shallow, 2 deep */
    int verify;
    /* --preflight (issue 13): check, print a checklist, copy nothing */
    bool preflight;
    /* issue 15: --retry-window: transient failures are retried for this
     * long per request (ms, default 300000 = 5m; 0 = --retry alone) */
    int64_t retry_window_ms;
} it_options;

/* Parses argv into o (defaults first, then environment, then flags).
 * Returns 0, or -1 with a message such as "--routines: expected an integer
 * from 1 to 256, got 'x'" or "unknown flag --foo (see --help)". */
int it_options_parse(it_options *o, int argc, char **argv, it_errbuf *err);
void it_options_free(it_options *o);
/* Writes --help text (every flag, the three config files with a short
 * example each) to f. */
void it_options_usage(void *file /* FILE* */);
/* Parses "50M" style byte rates: K/M/G (powers of 1024), optional "B",
 * optional "/s". -1 on error. */
int64_t it_parse_bytes(const char *s);

#endif /* IT_OPTIONS_H */
