/*
 * config_yaml.c - reading the YAML configuration files: one document per
 * file through libyaml's document API (which keeps every node's start
 * mark, so problems are reported as "FILE:LINE:COL: what was expected"),
 * YAML 1.1 nulls and booleans, duplicate-key checks, and the warning for a
 * secrets file others can read. Shared by secrets.c, rules.c and
 * tc_secrets.c (config_yaml.h).
 */
#include "config_yaml.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "log.h"
#include "util.h"

/* ------------------------------------------------------------ messages */

/* "PATH:LINE:COL: " + message, at the start of node n. */
void it_yaml_node_err(it_errbuf *err, const char *path, const yaml_node_t *n,
                      const char *fmt, ...)
{
    if (err == NULL)
        return;
    char what[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(err->msg, sizeof err->msg, "%s:%zu:%zu: %s", path,
             n->start_mark.line + 1, n->start_mark.column + 1, what);
}

const char *it_yaml_kind_name(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_MAPPING_NODE:
        return "a mapping";
    case YAML_SEQUENCE_NODE:
        return "a sequence";
    case YAML_SCALAR_NODE:
        return "a scalar";
    default:
        return "nothing";
    }
}

/* ------------------------------------------------------------ YAML reading */

void it_ydoc_free(it_ydoc *d)
{
    if (d->loaded)
        yaml_document_delete(&d->doc);
    d->loaded = false;
}

/* A file holding passwords or keys that group or others may read gets a
 * warning (not an error: the run goes on, as the original tool's did). */
static void warn_if_exposed(FILE *f, const char *path)
{
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode))
        return;
    if ((st.st_mode & (S_IRGRP | S_IROTH)) == 0)
        return;
    log_warn("%s holds secrets but is readable by %s (mode %04o); run "
             "`chmod 600 %s`",
             path, (st.st_mode & S_IROTH) != 0 ? "other users" : "its group",
             (unsigned)(st.st_mode & 07777), path);
}

int it_ydoc_load(it_ydoc *d, yaml_node_t **root, const char *path, bool secret,
                 it_errbuf *err)
{
    int rc = -1;
    yaml_parser_t parser;
    bool parser_ok = false;
    FILE *f = NULL;
    yaml_document_t extra;

    d->loaded = false;
    *root = NULL;
    f = fopen(path, "rb");
    if (f == NULL) {
        it_set_err(err, "%s: cannot open: %s", path, strerror(errno));
        goto cleanup;
    }
    if (secret)
        warn_if_exposed(f, path);
    if (!yaml_parser_initialize(&parser)) {
        it_set_err(err, "%s: out of memory", path);
        goto cleanup;
    }
    parser_ok = true;
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &d->doc)) {
        char ctx[200] = "";
        if (parser.context != NULL)
            snprintf(ctx, sizeof ctx, " %s started at %zu:%zu", parser.context,
                     parser.context_mark.line + 1,
                     parser.context_mark.column + 1);
        it_set_err(err, "%s:%zu:%zu: YAML syntax error: %s%s", path,
                   parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                   parser.problem != NULL ? parser.problem : "unknown problem",
                   ctx);
        goto cleanup;
    }
    d->loaded = true;
    *root = yaml_document_get_root_node(&d->doc);
    if (*root != NULL) {
        /* A second document ("---") would be silently ignored: refuse. */
        if (!yaml_parser_load(&parser, &extra)) {
            it_set_err(err, "%s:%zu:%zu: YAML syntax error: %s", path,
                       parser.problem_mark.line + 1,
                       parser.problem_mark.column + 1,
                       parser.problem != NULL ? parser.problem : "unknown");
            goto cleanup;
        }
        yaml_node_t *r2 = yaml_document_get_root_node(&extra);
        if (r2 != NULL) {
            it_yaml_node_err(err, path, r2,
                             "expected one YAML document, found a second one");
            yaml_document_delete(&extra);
            goto cleanup;
        }
        yaml_document_delete(&extra);
    }
    rc = 0;
cleanup:
    if (rc != 0) {
        it_ydoc_free(d);
        *root = NULL;
    }
    if (parser_ok)
        yaml_parser_delete(&parser);
    if (f != NULL)
        fclose(f);
    return rc;
}

const char *it_yaml_scalar(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

/* A plain empty, "~" or "null" scalar is YAML's null. */
bool it_yaml_is_null(const yaml_node_t *n)
{
    if (n == NULL)
        return true;
    if (n->type != YAML_SCALAR_NODE)
        return false;
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *s = it_yaml_scalar(n);
    return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
           strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

/* YAML 1.1 booleans, as the original's Go yaml.v2 read them. */
int it_yaml_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "y"};
    static const char *const no[] = {"false", "no", "off", "n"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

/* Checks that no key of mapping m appears twice. Keys must be scalars;
 * `what` names them in messages ("registry key"), `where` says where they
 * are ("" or " in entry 'x'"). */
int it_yaml_check_keys(yaml_document_t *doc, yaml_node_t *m, const char *path,
                       const char *what, const char *where, it_errbuf *err)
{
    yaml_node_pair_t *a, *b;
    for (a = m->data.mapping.pairs.start; a < m->data.mapping.pairs.top; a++) {
        yaml_node_t *ka = IT_YAML_NODE(doc, a->key);
        if (ka->type != YAML_SCALAR_NODE) {
            it_yaml_node_err(err, path, ka, "%s%s must be a string, got %s",
                             what, where, it_yaml_kind_name(ka));
            return -1;
        }
        if (it_yaml_is_null(ka)) {
            it_yaml_node_err(err, path, ka, "empty %s%s", what, where);
            return -1;
        }
        for (b = m->data.mapping.pairs.start; b < a; b++) {
            yaml_node_t *kb = IT_YAML_NODE(doc, b->key);
            if (strcmp(it_yaml_scalar(ka), it_yaml_scalar(kb)) == 0) {
                it_yaml_node_err(err, path, ka,
                                 "duplicate %s '%.200s'%s (first at line %zu)",
                                 what, it_yaml_scalar(ka), where,
                                 kb->start_mark.line + 1);
                return -1;
            }
        }
    }
    return 0;
}
