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
} it_rule;

typedef struct it_rules {
    it_rule *items;
    size_t n;
} it_rules;

/* Loads transfer-rule.yaml: a mapping of source -> target (target may be
 * empty / null). Only syntax is checked here (mapping of scalars, no
 * duplicate sources); it_rule_resolve checks meaning. Comments allowed. */
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

#endif /* IT_RULES_H */
