/*
 * ccr.h - the CCR -> TCR planner: finds the TCR Enterprise instance,
 * creates the namespaces the CCR account has and the instance lacks, lists
 * every CCR repository and its tags, and feeds repository pairs into the
 * engine while it copies. Target credentials come from registry-secret.yaml
 * or, when it has none for the instance, from CreateInstanceToken (renewed
 * before they expire).
 */
#ifndef IT_CCR_H
#define IT_CCR_H

#include "config.h"
#include "engine.h"
#include "options.h"
#include "progress.h"

typedef struct it_ccr it_ccr;

/* Loads the Tencent Cloud keys and creates the API clients. Nothing is
 * called yet. logins (registry-secret.yaml + Docker config, as the engine
 * sees them) is borrowed and must outlive the planner: it tells whether
 * the TCR host needs an instance token. Returns 0, or an exit code (2)
 * with a message. */
int it_ccr_new(it_ccr **out, const it_options *o, const it_secrets *logins,
               it_errbuf *err);
void it_ccr_free(it_ccr *c);
/* Source and target descriptions for the dashboard header. */
const char *it_ccr_source_desc(const it_ccr *c);
const char *it_ccr_target_desc(const it_ccr *c);
/* The engine's credential hook for the TCR host (instance tokens). */
int it_ccr_creds(void *payload, const char *host, char **username,
                 char **password, int64_t *expires_at);
/* Runs the preparation and feeds pairs into e; always ends with
 * it_engine_input_done(e). Call from a thread of its own. Returns 0, or
 * the exit code the run must end with (2: instance not found or not
 * running; 3: API authentication failure; 1: API failure). */
int it_ccr_feed(it_ccr *c, it_engine *e, it_progress *p, atomic_int *stop);

/* After the run: an exit code for a failure met while the engine listed
 * tags (3: the ccr key was refused), else 0. */
int it_ccr_exit_code(it_ccr *c);
/* Tags left out by --ccrTagNums (known once the run is over). */
long it_ccr_tags_left_out(it_ccr *c);

#endif /* IT_CCR_H */
