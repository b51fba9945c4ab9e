/*
 * rules.c - transfer-rule.yaml (see rules.h): the rules as written, and
 * their resolution into repository pairs with the Docker reference
 * grammar.
 */
#include "rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_yaml.h"
#include "text.h"
#include "registry.h"
#include "tagfilter.h"
#include "util.h"

/* --------------------------------------------------- transfer-rule.yaml */

void it_rules_free(it_rules *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n; i++) {
        free(r->items[i].source);
        free(r->items[i].target);
        reg_strv_free(r->items[i].tags);
        reg_strv_free(r->items[i].exclude);
        free(r->items[i].semver);
        reg_strv_free(r->items[i].platforms);
    }
    free(r->items);
    free(r);
}

/* ------------------------------------- the mapping form of a rule (#14) */

#define RULE_LIST_MAX 256 /* items of a tags / exclude / platforms list */

/* A list of strings (a sequence of scalars, or one scalar) into a
 * NULL-terminated array. */
static int yaml_str_list(char ***out, it_ydoc *d, yaml_node_t *v,
                         const char *path, const char *key, const char *src,
                         it_errbuf *err)
{
    yaml_node_item_t *start = NULL, *top = NULL;
    size_t n = 1;
    *out = NULL;
    if (v->type == YAML_SEQUENCE_NODE) {
        start = v->data.sequence.items.start;
        top = v->data.sequence.items.top;
        n = (size_t)(top - start);
    } else if (v->type != YAML_SCALAR_NODE) {
        it_yaml_node_err(err, path, v,
                         "%s of '%.200s' must be a list of strings, got %s",
                         key, src, it_yaml_kind_name(v));
        return -1;
    }
    if (n > RULE_LIST_MAX) {
        it_yaml_node_err(err, path, v, "%s of '%.200s': more than %d items",
                         key, src, RULE_LIST_MAX);
        return -1;
    }
    char **list = calloc(n + 1, sizeof *list);
    if (list == NULL)
        goto oom;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = start != NULL ? IT_YAML_NODE(&d->doc, start[i]) : v;
        if (item->type != YAML_SCALAR_NODE || it_yaml_is_null(item)) {
            it_yaml_node_err(err, path, item,
                             "%s of '%.200s': each item must be a non-empty "
                             "string, got %s",
                             key, src,
                             item->type == YAML_SCALAR_NODE
                                 ? "nothing"
                                 : it_yaml_kind_name(item));
            reg_strv_free(list);
            return -1;
        }
        if ((list[i] = strdup(it_yaml_scalar(item))) == NULL) {
            reg_strv_free(list);
            goto oom;
        }
    }
    *out = list;
    return 0;
oom:
    it_set_err(err, "%s: out of memory", path);
    return -1;
}

/* Each regex of list compiles (regcomp's message otherwise, at its item). */
static int check_regexes(char **list, it_ydoc *d, yaml_node_t *v,
                         const char *path, const char *key, const char *src,
                         it_errbuf *err)
{
    for (size_t i = 0; list[i] != NULL; i++) {
        regex_t re;
        it_errbuf rerr = {{0}};
        if (it_tag_regex_compile(&re, list[i], &rerr) != 0) {
            yaml_node_t *item =
                v->type == YAML_SEQUENCE_NODE
                    ? IT_YAML_NODE(&d->doc, v->data.sequence.items.start[i])
                    : v;
            it_yaml_node_err(err, path, item, "%s of '%.200s': %s", key, src,
                             rerr.msg);
            return -1;
        }
        regfree(&re);
    }
    return 0;
}

/* "os/arch" or "os/arch/variant", each part [a-z0-9._-]. */
static bool valid_platform(const char *s)
{
    int parts = 1;
    size_t run = 0;
    for (const char *p = s; *p != '\0'; p++) {
        if (*p == '/') {
            if (run == 0)
                return false;
            parts++;
            run = 0;
        } else if ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                   *p == '.' || *p == '_' || *p == '-') {
            run++;
        } else {
            return false;
        }
    }
    return run > 0 && parts >= 2 && parts <= 3 && strlen(s) <= 128;
}

/* One rule's mapping value: target and the filter keys into rule. */
static int parse_rule_mapping(it_rule *rule, it_ydoc *d, yaml_node_t *m,
                              const char *path, it_errbuf *err)
{
    const char *src = rule->source;
    char where[300];
    snprintf(where, sizeof where, " in rule '%.200s'", src);
    if (it_yaml_check_keys(&d->doc, m, path, "key", where, err) != 0)
        return -1;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start;
         p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = IT_YAML_NODE(&d->doc, p->key);
        yaml_node_t *v = IT_YAML_NODE(&d->doc, p->value);
        const char *key = it_yaml_scalar(k);
        bool is_null = it_yaml_is_null(v);
        if (strcmp(key, "target") == 0) {
            if (is_null)
                continue;
            if (v->type != YAML_SCALAR_NODE) {
                it_yaml_node_err(err, path, v,
                                 "target of '%.200s' must be a reference or "
                                 "empty, got %s",
                                 src, it_yaml_kind_name(v));
                return -1;
            }
            if (it_yaml_scalar(v)[0] != '\0' &&
                (rule->target = strdup(it_yaml_scalar(v))) == NULL)
                goto oom;
        } else if (strcmp(key, "tags") == 0 || strcmp(key, "exclude") == 0) {
            if (is_null)
                continue;
            char ***dst = key[0] == 't' ? &rule->tags : &rule->exclude;
            if (yaml_str_list(dst, d, v, path, key, src, err) != 0 ||
                check_regexes(*dst, d, v, path, key, src, err) != 0)
                return -1;
        } else if (strcmp(key, "semver") == 0) {
            if (is_null)
                continue;
            it_semver_range *sr = NULL;
            it_errbuf serr = {{0}};
            if (v->type != YAML_SCALAR_NODE) {
                it_yaml_node_err(err, path, v,
                                 "semver of '%.200s' must be a constraint "
                                 "string such as '>=1.4 <3', got %s",
                                 src, it_yaml_kind_name(v));
                return -1;
            }
            if (it_semver_range_parse(&sr, it_yaml_scalar(v), &serr) != 0) {
                it_yaml_node_err(err, path, v, "semver of '%.200s': %s", src,
                                 serr.msg);
                return -1;
            }
            it_semver_range_free(sr);
            if ((rule->semver = strdup(it_yaml_scalar(v))) == NULL)
                goto oom;
        } else if (strcmp(key, "latest") == 0) {
            if (is_null)
                continue;
            const char *t =
                v->type == YAML_SCALAR_NODE ? it_yaml_scalar(v) : NULL;
            char *end = NULL;
            long n = t != NULL ? strtol(t, &end, 10) : 0;
            if (t == NULL || end == t || *end != '\0' || n < 1 ||
                n > 1000000000) {
                it_yaml_node_err(err, path, v,
                                 "latest of '%.200s' must be an integer from "
                                 "1 upwards, got %s%.60s%s",
                                 src, t != NULL ? "'" : "",
                                 t != NULL ? t : it_yaml_kind_name(v),
                                 t != NULL ? "'" : "");
                return -1;
            }
            rule->latest = (int)n;
        } else if (strcmp(key, "platforms") == 0) {
            if (is_null)
                continue;
            if (yaml_str_list(&rule->platforms, d, v, path, key, src, err) != 0)
                return -1;
            for (size_t i = 0; rule->platforms[i] != NULL; i++) {
                if (!valid_platform(rule->platforms[i])) {
                    yaml_node_t *item =
                        v->type == YAML_SEQUENCE_NODE
                            ? IT_YAML_NODE(&d->doc,
                                           v->data.sequence.items.start[i])
                            : v;
                    it_yaml_node_err(err, path, item,
                                     "platforms of '%.200s': '%.100s' is not "
                                     "os/arch or os/arch/variant (lowercase, "
                                     "such as linux/arm64/v8)",
                                     src, rule->platforms[i]);
                    return -1;
                }
            }
        } else {
            it_yaml_node_err(err, path, k,
                             "unknown key '%.100s'%s (expected target, tags, "
                             "exclude, semver, latest, platforms)",
                             key, where);
            return -1;
        }
    }
    return 0;
oom:
    it_set_err(err, "%s: out of memory", path);
    return -1;
}

int it_rules_load(it_rules **out, const char *path, it_errbuf *err)
{
    int rc = -1;
    it_ydoc d = {0};
    yaml_node_t *root = NULL;
    it_rules *r = NULL;

    *out = NULL;
    if (it_ydoc_load(&d, &root, path, false, err) != 0)
        goto cleanup;
    if (root == NULL || it_yaml_is_null(root)) {
        /* the original ran with zero rules here and reported success */
        it_set_err(err,
                   "%s:1:1: no rules: expected a mapping of source to target "
                   "such as 'nginx:1.25: registry.example.com/lib/nginx'",
                   path);
        goto cleanup;
    }
    if (root->type != YAML_MAPPING_NODE) {
        it_yaml_node_err(err, path, root,
                         "expected a mapping of source to target, got %s",
                         it_yaml_kind_name(root));
        goto cleanup;
    }
    if (it_yaml_check_keys(&d.doc, root, path, "source", "", err) != 0)
        goto cleanup;
    r = calloc(1, sizeof *r);
    size_t n =
        (size_t)(root->data.mapping.pairs.top - root->data.mapping.pairs.start);
    if (r == NULL || (r->items = calloc(n, sizeof *r->items)) == NULL) {
        it_set_err(err, "%s: out of memory", path);
        goto cleanup;
    }
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
         p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *k = IT_YAML_NODE(&d.doc, p->key);
        yaml_node_t *v = IT_YAML_NODE(&d.doc, p->value);
        it_rule *rule = &r->items[r->n++];
        rule->line = (int)k->start_mark.line + 1;
        rule->source = strdup(it_yaml_scalar(k));
        if (rule->source == NULL) {
            it_set_err(err, "%s: out of memory", path);
            goto cleanup;
        }
        if (it_yaml_is_null(v))
            continue;
        if (v->type == YAML_MAPPING_NODE) { /* the mapping form (#14) */
            if (parse_rule_mapping(rule, &d, v, path, err) != 0)
                goto cleanup;
            continue;
        }
        if (v->type != YAML_SCALAR_NODE) {
            it_yaml_node_err(
                err, path, v,
                "target of '%.200s' must be a reference or empty, got "
                "%s",
                rule->source, it_yaml_kind_name(v));
            goto cleanup;
        }
        if (it_yaml_scalar(v)[0] == '\0')
            continue;
        rule->target = strdup(it_yaml_scalar(v));
        if (rule->target == NULL) {
            it_set_err(err, "%s: out of memory", path);
            goto cleanup;
        }
    }
    *out = r;
    r = NULL;
    rc = 0;
cleanup:
    it_rules_free(r);
    it_ydoc_free(&d);
    return rc;
}

void it_pair_clear(it_pair *p)
{
    if (p == NULL)
        return;
    free(p->src_host);
    free(p->src_repo);
    if (p->tags != NULL) {
        for (char **t = p->tags; *t != NULL; t++)
            free(*t);
        free(p->tags);
    }
    free(p->src_digest);
    free(p->dst_host);
    free(p->dst_repo);
    free(p->dst_tag);
    /* tag filters and platforms (issue 14) */
    reg_strv_free(p->filter_tags);
    reg_strv_free(p->filter_exclude);
    free(p->filter_semver);
    reg_strv_free(p->platforms);
    memset(p, 0, sizeof *p);
}

/* Copies s without leading/trailing blanks; malloc'd. */
static char *trim_dup(const char *s, size_t n)
{
    while (n > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    return strndup(s, n);
}

/* Start of the tag part of a reference without digest ("repo:tag" ->
 * ":tag"), or NULL. */
static const char *tag_colon(const char *s)
{
    const char *slash = strrchr(s, '/');
    return strchr(slash != NULL ? slash : s, ':');
}

static void tags_free(char **tags)
{
    if (tags == NULL)
        return;
    for (char **t = tags; *t != NULL; t++)
        free(*t);
    free(tags);
}

/* Splits "t1,t2,t3" into a NULL-terminated array (duplicates dropped). */
static int split_tags(char ***out, const char *list, const char *pfx,
                      const char *src, it_errbuf *err)
{
    size_t cap = 1;
    for (const char *p = list; *p != '\0'; p++)
        cap += *p == ',';
    char **tags = calloc(cap + 1, sizeof *tags);
    size_t n = 0;
    if (tags == NULL)
        goto oom;
    const char *p = list;
    for (;;) {
        size_t len = strcspn(p, ",");
        char *t = trim_dup(p, len);
        if (t == NULL)
            goto oom;
        if (t[0] == '\0' || !reg_valid_tag(t)) {
            it_set_err(err,
                       "%ssource '%.200s': %s tag '%.140s' in the tag list "
                       "(expected tag,tag,... of 1-128 characters "
                       "[A-Za-z0-9_.-] each)",
                       pfx, src, t[0] == '\0' ? "empty" : "invalid", t);
            free(t);
            tags_free(tags);
            return -1;
        }
        bool dup = false;
        for (size_t i = 0; i < n; i++)
            dup = dup || strcmp(tags[i], t) == 0;
        if (dup)
            free(t);
        else
            tags[n++] = t;
        if (p[len] == '\0')
            break;
        p += len + 1;
    }
    *out = tags;
    return 0;
oom:
    tags_free(tags);
    it_set_err(err, "%sout of memory", pfx);
    return -1;
}

static size_t count_tags(char **tags)
{
    size_t n = 0;
    while (tags != NULL && tags[n] != NULL)
        n++;
    return n;
}

static int parse_ref(reg_ref **out, const char *s, const char *pfx,
                     const char *side, it_errbuf *err)
{
    reg_error re;
    memset(&re, 0, sizeof re);
    if (reg_ref_parse(out, s, &re) != 0) {
        it_set_err(err, "%s%s: %s", pfx, side, re.msg);
        return -1;
    }
    return 0;
}

/* The target for an empty rule value: <registry>/<ns>/<rest of path>, or
 * <registry>/<source path> without a namespace default. */
static int default_target(reg_ref **out, const reg_ref *src, const char *pfx,
                          const char *def_registry, const char *def_ns,
                          it_errbuf *err)
{
    if (def_registry == NULL || def_registry[0] == '\0') {
        it_set_err(err,
                   "%sthe rule has no target and there is no default registry "
                   "(write a target, or give --registry / $DEFAULT_REGISTRY)",
                   pfx);
        return -1;
    }
    if (strstr(def_registry, "://") != NULL || strchr(def_registry, '/')) {
        it_set_err(err,
                   "%s--registry '%.200s': expected a registry host[:port] "
                   "without scheme or path",
                   pfx, def_registry);
        return -1;
    }
    if (def_ns != NULL && def_ns[0] != '\0' && !reg_valid_path(def_ns)) {
        it_set_err(err,
                   "%s--ns '%.200s': expected a namespace of lowercase "
                   "letters, digits and separators",
                   pfx, def_ns);
        return -1;
    }
    const char *rest = src->path;
    char buf[1200];
    if (def_ns != NULL && def_ns[0] != '\0') {
        const char *slash = strchr(src->path, '/');
        if (slash != NULL)
            rest = slash + 1;
        snprintf(buf, sizeof buf, "%s/%s/%s", def_registry, def_ns, rest);
    } else {
        snprintf(buf, sizeof buf, "%s/%s", def_registry, rest);
    }
    if (parse_ref(out, buf, pfx, "default target", err) != 0)
        return -1;
    if (strcasecmp((*out)->domain, reg_canonical_host(def_registry)) != 0) {
        it_set_err(err,
                   "%s--registry '%.200s' is not a registry host name "
                   "(expected a name with a dot or a port, or localhost)",
                   pfx, def_registry);
        reg_ref_free(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

/* ------------------------------------------- whole namespaces (14C) */

bool it_rule_is_wildcard(const char *source)
{
    if (source == NULL)
        return false;
    size_t n = strlen(source);
    while (n > 0 && (source[n - 1] == ' ' || source[n - 1] == '\t'))
        n--;
    return n >= 2 && source[n - 1] == '*' && source[n - 2] == '/';
}

char *it_wildcard_target(const it_pair *p, const char *repo)
{
    if (!reg_repo_below(repo, p->src_repo))
        return NULL;
    const char *rest = repo + strlen(p->src_repo);
    if (*rest == '/')
        rest++;
    if (p->dst_repo == NULL || p->dst_repo[0] == '\0')
        return strdup(rest);
    return it_join2(p->dst_repo, '/', rest);
}

/* "host" alone: a registry host name (a dot, a port or localhost). */
static bool host_only(const char *s)
{
    return strchr(s, '/') == NULL && s[0] != '\0' &&
           (strchr(s, '.') != NULL || strchr(s, ':') != NULL ||
            strcasecmp(s, "localhost") == 0);
}

/* One side of a wildcard rule: "host" or "host/path" without tag or
 * digest, into *host and *path ("" for a bare host). */
static int wildcard_side(char **host, char **path, const char *s,
                         const char *pfx, const char *side, it_errbuf *err)
{
    reg_ref *ref = NULL;
    int rc = -1;
    if (host_only(s)) {
        /* A bare host must pass the reference grammar's host rule: parse
         * it with a path and compare. */
        char *probe = it_join2(s, '/', "x");
        if (probe == NULL) {
            it_set_err(err, "%sout of memory", pfx);
            return -1;
        }
        rc = parse_ref(&ref, probe, pfx, side, err);
        free(probe);
        if (rc != 0)
            return -1;
        rc = -1;
        if (strcasecmp(reg_canonical_host(ref->domain),
                       reg_canonical_host(s)) != 0) {
            it_set_err(err, "%s%s '%.200s': not a registry host", pfx, side, s);
            goto cleanup;
        }
        *host = strdup(reg_canonical_host(s));
        *path = strdup("");
    } else {
        if (strchr(s, ',') != NULL || strchr(s, '@') != NULL ||
            tag_colon(s) != NULL) {
            it_set_err(err,
                       "%s%s '%.200s': a /* rule takes no tag, tag list or "
                       "digest (every tag of every repository below is "
                       "copied)",
                       pfx, side, s);
            return -1;
        }
        if (parse_ref(&ref, s, pfx, side, err) != 0)
            return -1;
        /* The host must be written: team/<star> names no registry. */
        if (strncasecmp(s, ref->domain, strlen(ref->domain)) != 0 ||
            s[strlen(ref->domain)] != '/') {
            it_set_err(err,
                       "%s%s '%.200s': a /* rule names its registry host "
                       "(expected host/path/* such as "
                       "registry.example.com/team/*)",
                       pfx, side, s);
            goto cleanup;
        }
        *host = strdup(ref->domain);
        *path = strdup(ref->path);
    }
    if (*host == NULL || *path == NULL) {
        it_set_err(err, "%sout of memory", pfx);
        goto cleanup;
    }
    rc = 0;
cleanup:
    if (rc != 0) {
        free(*host);
        free(*path);
        *host = *path = NULL;
    }
    reg_ref_free(ref);
    return rc;
}

/* it_rule_resolve for a source ending in slash-star (src and dst trimmed; dst
 * NULL or "" when empty). */
static int resolve_wildcard(it_pair *out, const char *src, const char *dst,
                            const char *pfx, const char *def_registry,
                            const char *def_ns, it_errbuf *err)
{
    if (!it_rule_is_wildcard(src)) {
        it_set_err(err,
                   "%ssource '%.200s': a /* rule takes no tag, tag list or "
                   "digest, and /* goes at the end (host/path/*)",
                   pfx, src);
        return -1;
    }
    char *prefix = strndup(src, strlen(src) - 2);
    int rc = -1;
    if (prefix == NULL) {
        it_set_err(err, "%sout of memory", pfx);
        return -1;
    }
    if (strchr(prefix, '*') != NULL || prefix[0] == '\0') {
        it_set_err(err,
                   "%ssource '%.200s': only a final /* is allowed (no other "
                   "wildcard), after a registry host and optional path",
                   pfx, src);
        goto cleanup;
    }
    if (wildcard_side(&out->src_host, &out->src_repo, prefix, pfx, "source",
                      err) != 0)
        goto cleanup;
    if (dst != NULL && dst[0] != '\0') {
        if (strchr(dst, '*') != NULL) {
            it_set_err(err,
                       "%starget '%.200s': the target of a /* rule is a "
                       "prefix (host or host/path), without *",
                       pfx, dst);
            goto cleanup;
        }
        if (wildcard_side(&out->dst_host, &out->dst_repo, dst, pfx, "target",
                          err) != 0)
            goto cleanup;
    } else {
        if (def_registry == NULL || def_registry[0] == '\0' ||
            !host_only(def_registry)) {
            it_set_err(err,
                       "%sthe rule has no target and there is no usable "
                       "default registry (write a target prefix, or give "
                       "--registry / $DEFAULT_REGISTRY as host[:port])",
                       pfx);
            goto cleanup;
        }
        if (def_ns != NULL && def_ns[0] != '\0' && !reg_valid_path(def_ns)) {
            it_set_err(err,
                       "%s--ns '%.200s': expected a namespace of lowercase "
                       "letters, digits and separators",
                       pfx, def_ns);
            goto cleanup;
        }
        out->dst_host = strdup(reg_canonical_host(def_registry));
        out->dst_repo = strdup(
            def_ns != NULL && def_ns[0] != '\0' ? def_ns : out->src_repo);
        if (out->dst_host == NULL || out->dst_repo == NULL) {
            it_set_err(err, "%sout of memory", pfx);
            goto cleanup;
        }
    }
    if (strcasecmp(out->src_host, out->dst_host) == 0 &&
        (out->src_repo[0] == '\0' || out->dst_repo[0] == '\0' ||
         strcmp(out->src_repo, out->dst_repo) == 0 ||
         reg_repo_below(out->dst_repo, out->src_repo) ||
         reg_repo_below(out->src_repo, out->dst_repo))) {
        it_set_err(err,
                   "%ssource '%.200s' and its target overlap in one "
                   "registry (the copies would be listed again)",
                   pfx, src);
        goto cleanup;
    }
    out->wildcard = true;
    rc = 0;
cleanup:
    if (rc != 0)
        it_pair_clear(out);
    free(prefix);
    return rc;
}

/* -------------------------------------------------- tag filters (#14) */

static int strv_copy(char ***out, char *const *v)
{
    size_t n = 0;
    *out = NULL;
    if (v == NULL)
        return 0;
    while (v[n] != NULL)
        n++;
    char **c = calloc(n + 1, sizeof *c);
    if (c == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if ((c[i] = strdup(v[i])) == NULL) {
            reg_strv_free(c);
            return -1;
        }
    }
    *out = c;
    return 0;
}

/* The rule's own filters and platforms into p. */
static int copy_rule_filters(it_pair *p, const it_rule *r)
{
    p->filter_latest = r->latest;
    if (strv_copy(&p->filter_tags, r->tags) != 0 ||
        strv_copy(&p->filter_exclude, r->exclude) != 0 ||
        strv_copy(&p->platforms, r->platforms) != 0)
        return -1;
    if (r->semver != NULL && (p->filter_semver = strdup(r->semver)) == NULL)
        return -1;
    return 0;
}

int it_regex_list_split(char ***out, const char *list)
{
    *out = NULL;
    if (list == NULL || list[0] == '\0')
        return 0;
    size_t cap = 2;
    for (const char *p = list; *p != '\0'; p++)
        cap += *p == ',';
    char **v = calloc(cap, sizeof *v);
    if (v == NULL)
        return -1;
    size_t n = 0;
    const char *start = list;
    int brace = 0;
    bool bracket = false;
    for (const char *p = list;; p++) {
        /* a comma inside {m,n} or [...] belongs to the regex */
        if (*p == '\\' && p[1] != '\0') {
            p++;
            continue;
        }
        if (bracket) {
            if (*p == ']' && p > start && p[-1] != '[')
                bracket = false;
            if (*p != '\0')
                continue;
        }
        if (*p == '[')
            bracket = true;
        else if (*p == '{')
            brace++;
        else if (*p == '}' && brace > 0)
            brace--;
        if (*p == '\0' || (*p == ',' && brace == 0)) {
            if (p > start &&
                (v[n++] = strndup(start, (size_t)(p - start))) == NULL) {
                reg_strv_free(v);
                return -1;
            }
            if (*p == '\0')
                break;
            start = p + 1;
        }
    }
    if (n == 0) {
        free(v);
        return 0;
    }
    *out = v;
    return 0;
}

int it_pair_filter_defaults(it_pair *p, const char *tags, const char *exclude,
                            const char *semver, int latest, it_errbuf *err)
{
    if ((p->filter_tags == NULL &&
         it_regex_list_split(&p->filter_tags, tags) != 0) ||
        (p->filter_exclude == NULL &&
         it_regex_list_split(&p->filter_exclude, exclude) != 0) ||
        (p->filter_semver == NULL && semver != NULL && semver[0] != '\0' &&
         (p->filter_semver = strdup(semver)) == NULL)) {
        it_set_err(err, "out of memory");
        return -1;
    }
    if (p->filter_latest == 0)
        p->filter_latest = latest;
    return 0;
}

int it_rule_resolve(it_pair *out, const it_rule *r, const char *file,
                    const char *def_registry, const char *def_ns,
                    it_errbuf *err)
{
    int rc = -1;
    char pfx[300];
    char *src = NULL, *dst = NULL, *name = NULL;
    reg_ref *sref = NULL, *dref = NULL;
    char **tags = NULL;

    memset(out, 0, sizeof *out);
    snprintf(pfx, sizeof pfx, "%s:%d: ", file != NULL ? file : "(rules)",
             r->line);
    if (r->source == NULL) {
        it_set_err(err, "%sempty source", pfx);
        goto cleanup;
    }
    src = trim_dup(r->source, strlen(r->source));
    if (r->target != NULL)
        dst = trim_dup(r->target, strlen(r->target));
    if (src == NULL || (r->target != NULL && dst == NULL))
        goto oom;
    if (strstr(src, "/*") != NULL) { /* whole namespaces (14C) */
        rc = resolve_wildcard(out, src, dst, pfx, def_registry, def_ns, err);
        goto cleanup;
    }

    /* source: a tag list "repo:t1,t2" is not Docker grammar; split it
     * off first (not with a digest: "repo@sha256:..,..." is just bad). */
    const char *colon = tag_colon(src);
    if (strchr(src, '@') == NULL && colon != NULL &&
        strchr(colon, ',') != NULL) {
        name = strndup(src, (size_t)(colon - src));
        if (name == NULL)
            goto oom;
        if (split_tags(&tags, colon + 1, pfx, src, err) != 0)
            goto cleanup;
        if (parse_ref(&sref, name, pfx, "source", err) != 0)
            goto cleanup;
    } else {
        if (parse_ref(&sref, src, pfx, "source", err) != 0)
            goto cleanup;
        if (sref->tag != NULL) {
            tags = calloc(2, sizeof *tags);
            if (tags == NULL || (tags[0] = strdup(sref->tag)) == NULL)
                goto oom;
        }
    }
    bool single = sref->digest != NULL || count_tags(tags) == 1;

    /* target */
    if (dst == NULL || dst[0] == '\0') {
        if (default_target(&dref, sref, pfx, def_registry, def_ns, err) != 0)
            goto cleanup;
    } else {
        const char *dc = tag_colon(dst);
        if (dc != NULL && strchr(dc, ',') != NULL) {
            it_set_err(err,
                       "%starget '%.200s': a target cannot have a tag list "
                       "(expected repository or repository:tag)",
                       pfx, dst);
            goto cleanup;
        }
        if (parse_ref(&dref, dst, pfx, "target", err) != 0)
            goto cleanup;
        if (dref->digest != NULL) {
            it_set_err(err,
                       "%starget '%.200s': a target cannot name a digest "
                       "(expected repository or repository:tag)",
                       pfx, dst);
            goto cleanup;
        }
        if (dref->tag != NULL && !single) {
            it_set_err(err,
                       "%starget '%.200s' has a tag but source '%.200s' names "
                       "%s; give the target without a tag (each tag keeps its "
                       "name)",
                       pfx, dst, src,
                       tags == NULL ? "all tags" : "several tags");
            goto cleanup;
        }
    }

    if (strcasecmp(sref->domain, dref->domain) == 0 &&
        strcmp(sref->path, dref->path) == 0 &&
        (dref->tag == NULL || (tags != NULL && count_tags(tags) == 1 &&
                               strcmp(tags[0], dref->tag) == 0))) {
        it_set_err(err,
                   "%ssource '%.200s' and its target are the same repository "
                   "and tag",
                   pfx, src);
        goto cleanup;
    }

    out->src_host = strdup(sref->domain);
    out->src_repo = strdup(sref->path);
    out->src_digest = it_strdup0(sref->digest);
    out->dst_host = strdup(dref->domain);
    out->dst_repo = strdup(dref->path);
    out->dst_tag = it_strdup0(dref->tag);
    out->tags = tags;
    tags = NULL;
    if (copy_rule_filters(out, r) != 0)
        goto oom;
    if (out->src_host == NULL || out->src_repo == NULL ||
        out->dst_host == NULL || out->dst_repo == NULL ||
        (sref->digest != NULL && out->src_digest == NULL) ||
        (dref->tag != NULL && out->dst_tag == NULL))
        goto oom;
    rc = 0;
    goto cleanup;
oom:
    it_set_err(err, "%sout of memory", pfx);
cleanup:
    if (rc != 0)
        it_pair_clear(out);
    tags_free(tags);
    reg_ref_free(sref);
    reg_ref_free(dref);
    free(src);
    free(dst);
    free(name);
    return rc;
}
