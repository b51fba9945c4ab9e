/*
 * rules.h - transfer-rule.yaml: source -> target lines, and their
 * resolution into repository pairs (pair.h).
 *
 * Loaders return 0 or -1 with one line in err ("FILE:LINE:COL: what was
 * expected"); results belong to the caller (it_rules_free accepts NULL).
 */
#ifndef IT_RULES_H
#define IT_RULES_H

#include <stdbool.h>
#include <stddef.h>

#include "errbuf.h"
#include "pair.h"

typedef struct it_rule {
    char *source; /* as written */
    char *target; /* as written, NULL/"" when empty */
    int line;
    /* The mapping form (issue 14, tag filters), each NULL / 0 when the
     * rule does not give it (then the global flag applies): */
    char **tags;      /* include regexes, NULL-terminated */
    char **exclude;   /* exclude regexes, NULL-terminated */
    char *semver;     /* a constraint (tagfilter.h) */
    int latest;       /* the newest N */
    char **platforms; /* "os/arch[/variant]", NULL-terminated */
} it_rule;

typedef struct it_rules {
    it_rule *items;
    size_t n;
} it_rules;

/* Loads transfer-rule.yaml: a mapping of source -> target (target may be
 * empty / null). Only syntax is checked here (mapping of scalars, no
 * duplicate sources); it_rule_resolve checks meaning. Comments allowed.
 *
 * A rule's value may instead be a mapping (issue 14):
 *   target:    a reference, or empty / null (the --registry/--ns default)
 *   tags:      [regex, ...]  include a tag when any matches
 *   exclude:   [regex, ...]  leave a tag out when any matches (wins)
 *   semver:    'CONSTRAINT'  tags that are versions satisfying it
 *   latest:    N (>= 1)      the newest N after the filters above
 *   platforms: [os/arch[/variant], ...]
 * A key given null is as if not given. Regexes and the constraint are
 * compiled here, so a bad one is a "FILE:LINE:COL: ..." error. */
int it_rules_load(it_rules **out, const char *path, it_errbuf *err);
void it_rules_free(it_rules *r);

/* Resolves rule r: parses both sides with the Docker reference grammar
 * (source "repo:t1,t2" is a tag list), applies the empty-target default
 * `<def_registry>/<def_ns or source ns>/<source path without its first
 * component>:<tag>`, and checks the two sides fit together (a multi-tag
 * or tagless source cannot have a tagged target). def_registry may be NULL
 * (then an empty target is an error). file names the rule file for
 * messages ("FILE:LINE: ..."). */
int it_rule_resolve(it_pair *out, const it_rule *r, const char *file,
                    const char *def_registry, const char *def_ns,
                    it_errbuf *err);

/* Whole namespaces (14C). A source ending in slash-star, such as
 * registry.example.com/team/<star> (or host/<star> for the whole
 * registry), is a wildcard rule: it_rule_resolve makes a pair with
 * .wildcard set (src_repo "team" or ""). Only that final slash-star (no
 * other '*'), no tag, tag list or digest, and the source must name its
 * registry host. The target is a prefix: "host" or "host/path" without
 * tag or digest; empty: <--registry>/<--ns>, or without --ns
 * <--registry>/<source prefix>, so paths are kept. */
bool it_rule_is_wildcard(const char *source);
/* The target repository of `repo` (a repository below p->src_repo) under
 * a wildcard pair: p->dst_repo + its path below p->src_repo. malloc'd, or
 * NULL when repo is not below the prefix or out of memory. */
char *it_wildcard_target(const it_pair *p, const char *repo);
/* Global tag filters (--tags, --exclude-tags, --semver, --latest): each
 * field of p the rule left unset (NULL / 0) gets a copy of the global
 * one. tags and exclude are comma-separated regex lists (NULL = none).
 * Returns 0 or -1 (out of memory). */
int it_pair_filter_defaults(it_pair *p, const char *tags, const char *exclude,
                            const char *semver, int latest, it_errbuf *err);
/* Splits a --tags style list ("re1,re2") into a NULL-terminated array
 * (empty items dropped); NULL for NULL / empty. Returns 0 or -1 (OOM). */
int it_regex_list_split(char ***out, const char *list);

#endif /* IT_RULES_H */
