/*
 * secrets.h - registry logins: registry-secret.yaml, with the Docker
 * config.json as a fallback, and the answer to "which login and which TLS
 * setting apply to this host and repository".
 *
 * Loaders return 0 or -1 with one line in err ("FILE:LINE:COL: what was
 * expected"); results belong to the caller (it_secrets_free accepts NULL).
 */
#ifndef IT_SECRETS_H
#define IT_SECRETS_H

#include <stdbool.h>
#include <stddef.h>

#include "errbuf.h"

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

/* Whether TLS checks are off for repository repo (may be NULL) of host:
 * `insecure: true` on the most specific entry for it (it_secrets_find) or
 * on the bare host's entry (the host matched without regard to case).
 * Never for other repositories of the host when only a namespace entry
 * says so. s may be NULL (false). */
bool it_secrets_insecure(const it_secrets *s, const char *host,
                         const char *repo);

#endif /* IT_SECRETS_H */
