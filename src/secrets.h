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

struct it_docker_helpers; /* docker_config.c: credHelpers, credsStore */

typedef struct it_secrets {
    it_cred *items;
    size_t n;
    /* The Docker config's credential helpers and the answers they gave
     * (asked lazily, once per host); NULL when it names none. */
    struct it_docker_helpers *docker;
} it_secrets;

/* Loads registry-secret.yaml: a mapping of key -> {username, password,
 * insecure}. Unknown keys inside an entry, wrong types (insecure must be a
 * boolean), duplicate keys, a non-mapping document: error. An empty file is
 * an empty set. */
int it_secrets_load(it_secrets **out, const char *path, it_errbuf *err);
void it_secrets_free(it_secrets *s);

/* Adds what a Docker config.json holds, the way docker reads it:
 * - "credHelpers": {host: NAME}: the login of host comes from
 *   docker-credential-NAME (its "auths" entry is then not used);
 * - "auths": {host: {auth: base64 | username/password}}: a login;
 * - "credsStore": NAME: the login of every other host comes from
 *   docker-credential-NAME.
 * docker itself never writes a login into "auths" while "credsStore" is
 * set; one written there by hand or by another tool is used (it was
 * before credential helpers were read). A login is added for a host only
 * when registry-secret.yaml has none for it: an entry there without a
 * username (`insecure: true` alone, or empty) sets TLS only and takes the
 * login from here. Helpers are not run here (it_secrets_helper_login
 * runs them). A missing file is not an error (returns 0, nothing added).
 * Keys of "auths" and "credHelpers" may be written with a scheme and a
 * path ("https://index.docker.io/v1/"); Docker Hub's names are one host. */
int it_secrets_add_docker_config(it_secrets *s, const char *path,
                                 it_errbuf *err);

/* The login for host from the Docker config's credential helpers: the
 * credHelpers entry for host, else credsStore. Runs
 * `docker-credential-NAME get` (server: the host, or
 * "https://index.docker.io/v1/" for Docker Hub, as docker does) at most
 * once per host for the life of s; the answer or the failure is kept.
 * Returns 1 with malloc'd *user and *pass (registered with the log's
 * redaction); 2 when the helper answered an identity token (Username
 * "<token>"): *user NULL and *pass the malloc'd identity token (registered
 * with the log's redaction), for reg_client_opts.identity_token; 0 when no
 * helper applies or the helper has nothing for host; -1 with err when the
 * helper is missing, fails, hangs (killed after 10 s) or floods its
 * output. Messages name
 * the helper and where it was configured, e.g. "docker-credential-pass
 * not found on PATH (credsStore in /home/u/.docker/config.json)"; never
 * what the helper printed on stdout. Thread-safe; s may be NULL (0). */
int it_secrets_helper_login(const it_secrets *s, const char *host, char **user,
                            char **pass, it_errbuf *err);

/* Most specific entry holding a login (a username) for host + repository
 * path: "host/ns" (ns = first path component... or any longer prefix of
 * the path) beats "host". An entry without a username sets TLS only
 * (it_secrets_insecure) and is skipped here. Borrowed pointer or NULL.
 * host must be canonical. */
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
