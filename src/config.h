/*
 * config.h - the three YAML files of the original image-transfer, and the
 * Docker config.json fallback for credentials.
 *
 * Every loader returns 0 or -1; on -1 `err` holds one line such as
 *   "transfer-rule.yaml:7:3: expected a mapping of source to target, got a
 *    sequence"
 * (file name, line, column, what was expected). Results belong to the
 * caller and are freed with the matching _free(), which accepts NULL.
 */
#ifndef IT_CONFIG_H
#define IT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

typedef struct it_errbuf {
    char msg[1024];
} it_errbuf;

/* ---------------------------------------------- registry-secret.yaml */

typedef struct it_cred {
    char *key;      /* "registry" or "registry/namespace" as written */
    char *host;     /* canonical host part of key (Docker Hub aliases */
                    /* mapped to registry-1.docker.io) */
    char *ns;       /* namespace part of key, or NULL */
    char *username; /* NULL when absent */
    char *password; /* NULL when absent */
    bool insecure;
    int line; /* where the entry starts, for messages */
} it_cred;

typedef struct it_secrets {
    it_cred *items;
    size_t n;
} it_secrets;

/* Loads registry-secret.yaml: a mapping of key -> {username, password,
 * insecure}. Unknown keys inside an entry, wrong types (insecure must be a
 * boolean), duplicate keys, a non-mapping document: error. An empty file is
 * an empty set. */
int it_secrets_load(it_secrets **out, const char *path, it_errbuf *err);
void it_secrets_free(it_secrets *s);

/* Adds entries from a Docker config.json ("auths": {host: {auth: base64 |
 * username/password}}) for hosts not already present. A missing file is
 * not an error (returns 0, nothing added). */
int it_secrets_add_docker_config(it_secrets *s, const char *path,
                                 it_errbuf *err);

/* Most specific entry for host + repository path: "host/ns" (ns = first
 * path component... or any longer prefix of the path) beats "host".
 * Borrowed pointer or NULL. host must be canonical. */
const it_cred *it_secrets_find(const it_secrets *s, const char *host,
                               const char *repo_path);

/* ------------------------------------------------- transfer-rule.yaml */

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

/* A rule with its two sides resolved into references. */
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
     * workers). Returns 0 with a NULL-terminated malloc'd array, or -1
     * with a message in err. Not owned; copied as is. */
    int (*list_tags)(void *payload, const char *src_repo, char ***tags,
                     it_errbuf *err);
    void *list_payload;
} it_pair;

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
void it_pair_clear(it_pair *p);

/* ------------------------------------------ tencentcloud-secret.yaml */

typedef struct it_tc_key {
    char *secret_id;
    char *secret_key;
    char *token; /* optional session token, or NULL */
} it_tc_key;

typedef struct it_tc_secrets {
    it_tc_key ccr;
    it_tc_key tcr;
} it_tc_secrets;

/* Loads `ccr:` / `tcr:` each with secretId and secretKey (and optional
 * token); either one stands in for the other when only one is given. When
 * path is NULL, or a side is absent, falls back to TENCENTCLOUD_SECRET_ID,
 * TENCENTCLOUD_SECRET_KEY and TENCENTCLOUD_SESSION_TOKEN. No key at all:
 * error. */
int it_tc_secrets_load(it_tc_secrets **out, const char *path, it_errbuf *err);
void it_tc_secrets_free(it_tc_secrets *s);

#endif /* IT_CONFIG_H */
