/*
 * preflight.h - `--preflight` (issue 13 §3): everything that can be checked
 * before anything moves, as a checklist.
 *
 * The model is a list of lines (name, state, reason, fix). The checks fill
 * it: registries reachable with TLS as configured and the login accepted
 * (GET /v2/), pull on every source repository (first page of its tags, HEAD
 * of one manifest), push on every target repository (an upload session
 * opened and cancelled: nothing is written, nothing deleted), in CCR -> TCR
 * mode the API key on both sides, the instance Running, the namespace names
 * TCR accepts, the instance's quotas against what the plan needs and the
 * API rate limits; then the dry-run plan's size after de-duplication and a
 * time estimate from a short throughput probe.
 *
 * Rendering: "✓" / "✗" / "•" when stdout is a terminal whose locale is
 * UTF-8, else "[ok]" / "[FAIL]" / "[info]" (pipes, logs and CI greps see
 * plain ASCII). Every name, reason and fix is sanitised (it_sanitize) when
 * rendered: registry and API text is untrusted.
 */
#ifndef IT_PREFLIGHT_H
#define IT_PREFLIGHT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "engine.h"
#include "options.h"
#include "pair.h"
#include "progress.h"
#include "runctl.h"

struct it_ccr;

typedef enum it_pf_state {
    IT_PF_OK = 0,
    IT_PF_FAIL,
    IT_PF_INFO /* a figure (plan size, estimate), neither good nor bad */
} it_pf_state;

typedef struct it_pf_item {
    it_pf_state state;
    char *name;   /* "registry 127.0.0.1:5000", "push to host/ns/app" */
    char *reason; /* what was found */
    char *fix;    /* what to do about a failure; NULL for the others */
} it_pf_item;

typedef struct it_pf_list {
    it_pf_item *v;
    size_t n, cap;
    bool cloud_auth_failed; /* the Tencent Cloud API refused a key: exit 3 */
} it_pf_list;

/* Appends a line (strings copied; reason is printf-style). Returns 0, or
 * -1 when out of memory (the line is lost, the list stays valid). */
int it_pf_add(it_pf_list *l, it_pf_state st, const char *name, const char *fix,
              const char *reason_fmt, ...)
    __attribute__((format(printf, 5, 6)));
void it_pf_free(it_pf_list *l);
/* Lines in state IT_PF_FAIL. */
size_t it_pf_failures(const it_pf_list *l);
/* 0 when nothing failed, 3 when a Tencent Cloud key was refused, else 1. */
int it_pf_exit_code(const it_pf_list *l);
/* Writes the checklist and its last line ("preflight: N problem(s) ...")
 * to f; utf8 picks the glyphs (see above). */
void it_pf_render(FILE *f, const it_pf_list *l, bool utf8);
/* True when fd is a terminal and LC_CTYPE's codeset is UTF-8 (call after
 * setlocale). */
bool it_pf_utf8_terminal(int fd);

/* A namespace name TCR Enterprise accepts (CreateNamespace): 2 to 30
 * characters, lowercase letters, digits and the separators . _ -, not
 * first, not last, never two in a row. false with the reason in why. */
bool it_pf_tcr_namespace_valid(const char *name, char *why, size_t cap);

/* Spec quotas of a TCR Enterprise instance type ("basic", "standard",
 * "premium"); false for a type it does not know. */
bool it_pf_tcr_quota(const char *type, long *namespaces, long *repositories);

/* How long an estimated time reads in the checklist: "under 1s" below a
 * second, else "about 42s", "about 3m" (whole minutes below an hour),
 * "about 1h05m", "about 2d03h". Negative or NaN: "--". */
void it_pf_estimate_text(char *out, size_t cap, double seconds);

/* What a preflight run works on (borrowed). */
typedef struct it_preflight_in {
    const it_options *o;
    it_engine *engine; /* started with dry_run and plan_quiet */
    it_progress *progress;
    const it_runctl *ctl;
    const it_pair *pairs; /* generic mode */
    size_t npairs;
    struct it_ccr *ccr; /* CCR -> TCR mode, else NULL */
    FILE *out;          /* the program's stdout writer */
} it_preflight_in;

/* Runs every check, feeds the plan into the engine (generic: this shard's
 * pairs; CCR: the planner, in dry-run), waits for it, renders the
 * checklist into in->out and returns the exit code (it_pf_exit_code).
 * Always ends the engine's input. */
int it_preflight_run(const it_preflight_in *in);

#endif /* IT_PREFLIGHT_H */
