/*
 * ccr.h - the CCR -> TCR planner: finds the TCR Enterprise instance,
 * creates the namespaces the CCR account has and the instance lacks, lists
 * every CCR repository and its tags, and feeds repository pairs into the
 * engine while it copies. Target credentials come from registry-secret.yaml
 * or, when it has none for the instance, from CreateInstanceToken (renewed
 * before they expire).
 *
 * Failures are typed (it_ccr_err); the program decides what they mean for
 * its exit code (app.c). Messages go to the log.
 */
#ifndef IT_CCR_H
#define IT_CCR_H

#include <stdbool.h>
#include <stdio.h>

#include "engine.h"
#include "errbuf.h"
#include "progress.h"
#include "runctl.h"
#include "secrets.h"
#include "shard.h"

/* What stopped the planner. 0 = nothing; the rest are negative. */
typedef enum it_ccr_err {
    IT_CCR_OK = 0,
    IT_CCR_ECONFIG = -1,   /* options or tencentcloud-secret.yaml unusable */
    IT_CCR_EINSTANCE = -2, /* TCR instance not found or not running */
    IT_CCR_EAUTH = -3,     /* the Tencent Cloud API refused the key */
    IT_CCR_EAPI = -4,      /* another API failure stopped the planning */
    IT_CCR_ESTOPPED = -5   /* the run control stopped the listing */
} it_ccr_err;

/* The options the planner uses (strings borrowed: they must outlive the
 * planner). */
typedef struct it_ccr_opts {
    const char *tcr_name;     /* required */
    const char *tcr_region;   /* e.g. "ap-guangzhou" */
    const char *ccr_region;   /* e.g. "ap-guangzhou" */
    const char *ccr_registry; /* NULL/"" = the region's CCR host */
    const char *tcr_registry; /* NULL/"" = the instance's PublicDomain */
    const char *secret_file;  /* tencentcloud-secret.yaml, NULL = env */
    const char *tc_profile;   /* --tc-profile, NULL = "default" */
    const char *tc_endpoint;  /* NULL = https://tcr.tencentcloudapi.com */
    const char *ca_file;      /* NULL = the system CA bundle */
    int max_tags;             /* cap per listing (items), 0 = default */
    int max_pages;            /* cap per listing (pages), 0 = default */
    int ccr_tag_nums;         /* --latest / --ccrTagNums: the newest tags */
                              /* (push time) kept per repository, 0 = all */
    bool tcr_namespace_public;
    bool dry_run; /* namespaces are not created */
    it_shard shard;
    /* Tag filters (issue 14; tagfilter.h), given to every repository's
     * pair: NULL-terminated regex lists and a constraint, NULL = none. */
    char **filter_tags;
    char **filter_exclude;
    const char *filter_semver;
} it_ccr_opts;

typedef struct it_ccr it_ccr;

/* Finds the Tencent Cloud keys (tc_creds.h: --secretFile, environment,
 * profile file, CVM role, TKE OIDC) and creates the API clients; only a
 * role's temporary credentials are fetched, nothing else is called yet. o is
 * copied (its strings are borrowed). logins (registry-secret.yaml + Docker
 * config, as the engine sees them) is borrowed and must outlive the planner: it
 * tells whether the TCR host needs an instance token. Returns 0, or
 * IT_CCR_ECONFIG (or IT_CCR_EAUTH: the metadata service or STS refused) with a
 * message. */
int it_ccr_new(it_ccr **out, const it_ccr_opts *o, const it_secrets *logins,
               it_errbuf *err);
void it_ccr_free(it_ccr *c);
/* Where --dry-run says which namespaces it would create (the program's
 * stdout writer); NULL (the default) says nothing, as --output=json
 * wants. Call before it_ccr_feed. */
void it_ccr_set_plan_out(it_ccr *c, FILE *f);
/* Source and target descriptions for the dashboard header. */
const char *it_ccr_source_desc(const it_ccr *c);
const char *it_ccr_target_desc(const it_ccr *c);
/* The engine's credential hook for the TCR host (instance tokens). */
int it_ccr_creds(void *payload, const char *host, char **username,
                 char **password, int64_t *expires_at);
/* Runs the preparation and feeds pairs into e; always ends with
 * it_engine_input_done(e). Call from a thread of its own. ctl (may be
 * NULL) is polled between repositories. Returns 0, or what stopped it:
 * IT_CCR_EINSTANCE, IT_CCR_EAUTH, IT_CCR_EAPI or IT_CCR_ESTOPPED (logged
 * already). */
int it_ccr_feed(it_ccr *c, it_engine *e, it_progress *p, const it_runctl *ctl);

/* After the run: IT_CCR_EAUTH when the ccr key was refused while the
 * engine listed tags, else 0. */
int it_ccr_listing_error(it_ccr *c);

/* --preflight (issue 13): the planner's Tencent Cloud API clients
 * (borrowed; tcr_side picks the TCR one), the CCR registry host, and the
 * TCR registry host once it_ccr_feed found the instance (malloc'd, NULL
 * before). */
struct tc_client *it_ccr_api(it_ccr *c, bool tcr_side);
const char *it_ccr_source_host(const it_ccr *c);
char *it_ccr_target_host(it_ccr *c);

#endif /* IT_CCR_H */
