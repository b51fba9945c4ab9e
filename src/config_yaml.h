/*
 * config_yaml.h - YAML document helpers shared by the configuration
 * loaders (secrets.c, rules.c, tc_secrets.c). Internal to src/: callers
 * of the loaders include config.h or the loader's own header.
 */
#ifndef IT_CONFIG_YAML_H
#define IT_CONFIG_YAML_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "errbuf.h"

typedef struct it_ydoc {
    yaml_document_t doc;
    bool loaded;
} it_ydoc;

#define IT_YAML_NODE(doc, id) yaml_document_get_node((doc), (id))

/* Loads the single document of the YAML file at path (a second document
 * is an error). *root is NULL for an empty file. secret: the file holds
 * passwords or keys, so a mode readable by group or others is warned
 * about (log_warn). Returns 0, or -1 with "PATH:LINE:COL: ..." in err; on
 * 0, free d with it_ydoc_free. */
int it_ydoc_load(it_ydoc *d, yaml_node_t **root, const char *path, bool secret,
                 it_errbuf *err);
void it_ydoc_free(it_ydoc *d);

/* "PATH:LINE:COL: " + message, at the start of node n; err may be NULL. */
void it_yaml_node_err(it_errbuf *err, const char *path, const yaml_node_t *n,
                      const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* "a mapping", "a sequence", "a scalar" or "nothing", for messages. */
const char *it_yaml_kind_name(const yaml_node_t *n);
/* The text of scalar node n. */
const char *it_yaml_scalar(const yaml_node_t *n);
/* A plain empty, "~" or "null" scalar (or no node) is YAML's null. */
bool it_yaml_is_null(const yaml_node_t *n);
/* YAML 1.1 booleans (true/yes/on/y, false/no/off/n, any case), as the
 * original's Go yaml.v2 read them. Returns 0 or -1. */
int it_yaml_parse_bool(const char *s, bool *out);
/* Checks that every key of mapping m is a non-empty scalar that appears
 * once. `what` names the keys in messages ("registry key"), `where` says
 * where they are ("" or " in entry 'x'"). Returns 0 or -1. */
int it_yaml_check_keys(yaml_document_t *doc, yaml_node_t *m, const char *path,
                       const char *what, const char *where, it_errbuf *err);

#endif /* IT_CONFIG_YAML_H */
