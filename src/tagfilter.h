/*
 * tagfilter.h - choosing which tags of a repository to copy: include and
 * exclude regexes, a semver constraint, and "the newest N".
 *
 * Regexes are POSIX extended regular expressions (regcomp REG_EXTENDED),
 * unanchored: a pattern matches anywhere in the tag unless it uses ^ or $
 * ("rc" matches "v1-rc2"; "^v1$" matches "v1" only). For convenience the
 * Perl classes \d \D \w \W \s \S are translated to [0-9] [^0-9]
 * [A-Za-z0-9_] [^A-Za-z0-9_] [[:space:]] [^[:space:]] (\d \w \s also
 * inside a bracket expression; \D \W \S there are refused). Any other
 * backslash escape keeps its POSIX meaning.
 *
 * Semver (semver.org 2.0.0, with two liberties): a tag
 *   v?MAJOR(.MINOR(.PATCH)?)?(-PRERELEASE)?(+BUILD)?
 * is a version; a missing MINOR or PATCH is 0 ("v1.4" is 1.4.0). Numbers
 * are decimal without leading zeros, at most 9 digits. Precedence follows
 * semver.org section 11 (a prerelease is lower than its release; numeric
 * identifiers compare as numbers and below alphanumeric ones; BUILD is
 * ignored).
 *
 * A constraint is one or more comparator sets joined by "||" (OR); a set
 * is comparators separated by blanks (AND). A comparator is
 *   >=V >V <=V <V =V !=V    (missing parts of V are 0: ">1.4" is >1.4.0;
 *                            "=1.4" and a bare "1.4" mean 1.4.x)
 *   ~V   >=V, below the next minor (~1 : >=1.0.0 <2.0.0)
 *   ^V   >=V, below the next change of the leftmost non-zero part
 *        (^1.4 : <2.0.0, ^0.4 : <0.5.0, ^0.0.3 : <0.0.4)
 *   1.4.x, 1.x, 1.*, *, x    any version with those leading parts
 * An operator may be followed by blanks (">= 1.4"). A version with a
 * prerelease satisfies a set only when a comparator of that set names a
 * prerelease of the same MAJOR.MINOR.PATCH (as npm does), so ">=1.4"
 * never picks 2.0.0-rc1.
 *
 * Everything returns 0 / -1 with a message in err; results belong to the
 * caller and are freed with the module's _free (NULL accepted).
 */
#ifndef IT_TAGFILTER_H
#define IT_TAGFILTER_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

#include "errbuf.h"

/* ------------------------------------------------------------- semver */

typedef struct it_semver {
    long major, minor, patch;
    const char *pre; /* the prerelease inside the parsed string, or NULL */
    size_t pre_len;
} it_semver;

/* Parses s (a tag) as a version. 0, or -1 when s is not one (no message:
 * most tags are not versions). v->pre points into s. */
int it_semver_parse(const char *s, it_semver *v);
/* <0, 0, >0 as a has lower, equal or higher precedence than b. */
int it_semver_cmp(const it_semver *a, const it_semver *b);

typedef struct it_semver_range it_semver_range;
int it_semver_range_parse(it_semver_range **out, const char *s, it_errbuf *err);
bool it_semver_range_match(const it_semver_range *r, const it_semver *v);
void it_semver_range_free(it_semver_range *r);

/* -------------------------------------------------------------- regex */

/* Compiles pattern (translated as above) with REG_EXTENDED | REG_NOSUB.
 * On -1 err says "regex 'PATTERN': " and regcomp's message. */
int it_tag_regex_compile(regex_t *re, const char *pattern, it_errbuf *err);

/* ------------------------------------------------------------- filter */

/* How many tags each filter left out. */
typedef struct it_filter_counts {
    long regex;   /* no include regex matched */
    long exclude; /* an exclude regex matched */
    long semver;  /* not a version, or outside the constraint */
    long latest;  /* older than the newest N */
} it_filter_counts;

typedef enum it_tf_verdict {
    IT_TF_KEEP = 0,
    IT_TF_REGEX,
    IT_TF_EXCLUDE,
    IT_TF_SEMVER
} it_tf_verdict;

typedef struct it_tagfilter it_tagfilter;

/* A filter from its parts, each optional: include and exclude are
 * NULL-terminated regex lists (NULL = none), semver a constraint (NULL =
 * none), latest the newest N to keep (0 = all). A filter with no part is
 * still valid and keeps everything. */
int it_tagfilter_new(it_tagfilter **out, char *const *include,
                     char *const *exclude, const char *semver, int latest,
                     it_errbuf *err);
void it_tagfilter_free(it_tagfilter *f);
/* Whether tag passes include (any matches; none given = all), exclude
 * (wins over include) and semver, in that order: the first that leaves
 * it out is named. */
it_tf_verdict it_tagfilter_check(const it_tagfilter *f, const char *tag);
int it_tagfilter_latest(const it_tagfilter *f);
/* True when the filter leaves anything out (any part is set). */
bool it_tagfilter_active(const it_tagfilter *f);

/* One candidate of "the newest N". */
typedef struct it_tag_candidate {
    char *tag;
    long long created; /* Unix seconds; LLONG_MIN = unknown (oldest) */
} it_tag_candidate;

typedef enum it_tag_order {
    IT_ORDER_SEMVER = 0,
    IT_ORDER_CREATED,
    IT_ORDER_PUSH_TIME
} it_tag_order;
const char *it_tag_order_name(it_tag_order o);

/* True when every candidate's tag parses as a version (and n > 0). */
bool it_tags_all_semver(const it_tag_candidate *c, size_t n);
/* Sorts c newest first: by version (semver), or by created (unknown
 * last); ties by tag name (ascending). IT_ORDER_PUSH_TIME leaves the
 * order as given (the lister sorted it). */
void it_tags_sort_newest(it_tag_candidate *c, size_t n, it_tag_order o);

/* What "the newest N" left out, as the summary and the log say it:
 * "1 older tag was left out by <flag>", "3 older tags were left out by
 * <flag>" (flag: the option that asked, e.g. "--latest=2"). Like
 * snprintf: out (cap bytes) is always NUL-terminated when cap > 0, the
 * length the whole text needs is returned. */
int it_latest_note(char *out, size_t cap, long n, const char *flag);

#endif /* IT_TAGFILTER_H */
