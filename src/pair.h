/*
 * pair.h - one repository pair to copy: a source repository (all its tags,
 * some tags or one digest) and its target. Made by it_rule_resolve from a
 * transfer rule, or by the CCR planner; read by the engine.
 */
#ifndef IT_PAIR_H
#define IT_PAIR_H

#include <stdbool.h>

#include "errbuf.h"

#define IT_LIST_AGAIN (-1)
#define IT_LIST_FINAL (-2)

typedef struct it_pair {
    char *src_host;   /* canonical registry host */
    char *src_repo;   /* repository path */
    char **tags;      /* NULL = all tags of src_repo; else NULL-terminated */
    char *src_digest; /* "sha256:..." when the source names a digest */
    char *dst_host;
    char *dst_repo;
    char *dst_tag; /* NULL = same tag as the source tag */
    /* Optional: lists the tags to copy instead of the source registry's
     * tags/list (the CCR planner asks the cloud API, in the engine's
     * workers). Returns 0 with a NULL-terminated malloc'd array, or
     * IT_LIST_AGAIN (a transient failure: throttled, unreachable; listed
     * again in the final retry pass) or IT_LIST_FINAL (a limit, a
     * malformed answer, access refused) with a message in err. Not owned;
     * copied as is. */
    int (*list_tags)(void *payload, const char *src_repo, char ***tags,
                     it_errbuf *err);
    void *list_payload;
    /* Optional: how many images the listing is expected to give (the CCR
     * planner knows a repository's TagCount before listing its tags), so
     * that totals and an ETA are known early; 0 = unknown. */
    long tags_hint;
    /* Whole namespaces (14C): src_repo is a prefix ("" = the whole
     * registry) and dst_repo a target prefix ("" = the registry's root):
     * every repository below src_repo is copied, to dst_repo followed by
     * its path below src_repo. tags, src_digest and dst_tag are NULL. */
    bool wildcard;
    /* Tag filters (issue 14, tag filters; tagfilter.h): NULL / 0 = none.
     * Regex lists are NULL-terminated; the engine compiles them. */
    char **filter_tags;     /* include: any regex matches */
    char **filter_exclude;  /* exclude: wins over include */
    char *filter_semver;    /* a constraint */
    int filter_latest;      /* keep the newest N after the others, 0 = all */
    bool tags_newest_first; /* list_tags gives the tags newest first (push */
                            /* time): --latest keeps the first N */
    char **platforms;       /* NULL-terminated, NULL = all */
} it_pair;

/* Frees what p owns and zeroes it; p may be NULL. */
void it_pair_clear(it_pair *p);

#endif /* IT_PAIR_H */
