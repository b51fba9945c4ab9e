/*
 * secrets.c - registry-secret.yaml (see secrets.h), and the lookups of a
 * login and of the TLS setting for a host and repository.
 *
 * No message ever contains a password: only key names and the values of
 * fields that are not secret (insecure).
 */
#include "secrets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_yaml.h"
#include "registry.h"
#include "secrets_int.h"
#include "util.h"

/* -------------------------------------------------- registry-secret.yaml */

void it_secrets_free(it_secrets *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n; i++) {
        it_cred *c = &s->items[i];
        free(c->key);
        free(c->host);
        free(c->ns);
        free(c->username);
        free(c->password);
    }
    free(s->items);
    it_docker_helpers_free(s->docker);
    free(s);
}

it_cred *it_secrets_push(it_secrets *s)
{
    it_cred *v = realloc(s->items, (s->n + 1) * sizeof *v);
    if (v == NULL)
        return NULL;
    s->items = v;
    it_cred *c = &v[s->n++];
    memset(c, 0, sizeof *c);
    return c;
}

bool it_host_eq(const char *a, const char *b)
{
    return strcasecmp(a, b) == 0;
}

static bool ns_eq(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

/* Splits "host[/ns]" into c->host (canonical) and c->ns. Returns NULL or
 * the reason it is not a valid key. */
static const char *split_key(it_cred *c, const char *key)
{
    if (strstr(key, "://") != NULL)
        return "expected registry[/namespace] without a scheme such as "
               "https://";
    if (strpbrk(key, " \t") != NULL)
        return "expected registry[/namespace] without spaces";
    size_t hn = strcspn(key, "/");
    if (hn == 0)
        return "expected registry[/namespace], the registry is empty";
    char *host = strndup(key, hn);
    if (host == NULL)
        return "out of memory";
    c->host = strdup(reg_canonical_host(host));
    free(host);
    if (c->host == NULL)
        return "out of memory";
    if (key[hn] == '/') {
        const char *ns = key + hn + 1;
        size_t nn = strlen(ns);
        while (nn > 0 && ns[nn - 1] == '/')
            nn--;
        if (nn > 0) {
            c->ns = strndup(ns, nn);
            if (c->ns == NULL)
                return "out of memory";
            if (!reg_valid_path(c->ns))
                return "the namespace part is not a valid repository path "
                       "(lowercase letters, digits, separators . _ - /)";
        }
    }
    return NULL;
}

static int load_cred(it_cred *c, yaml_document_t *doc, yaml_node_t *v,
                     const char *path, it_errbuf *err)
{
    if (it_yaml_is_null(v))
        return 0; /* "host:" alone: an entry with no credentials */
    if (v->type != YAML_MAPPING_NODE) {
        /* the value is not shown: it may be a password written inline */
        it_yaml_node_err(err, path, v,
                         "entry '%.200s': expected a mapping with username, "
                         "password, insecure, got %s",
                         c->key, it_yaml_kind_name(v));
        return -1;
    }
    char where[300];
    snprintf(where, sizeof where, " in entry '%.200s'", c->key);
    if (it_yaml_check_keys(doc, v, path, "key", where, err) != 0)
        return -1;
    for (yaml_node_pair_t *p = v->data.mapping.pairs.start;
         p < v->data.mapping.pairs.top; p++) {
        yaml_node_t *k = IT_YAML_NODE(doc, p->key);
        yaml_node_t *val = IT_YAML_NODE(doc, p->value);
        const char *name = it_yaml_scalar(k);
        char **dst = NULL;
        if (strcmp(name, "username") == 0) {
            dst = &c->username;
        } else if (strcmp(name, "password") == 0) {
            dst = &c->password;
        } else if (strcmp(name, "insecure") == 0) {
            if (it_yaml_is_null(val)) {
                c->insecure = false;
                continue;
            }
            if (val->type != YAML_SCALAR_NODE) {
                it_yaml_node_err(err, path, val,
                                 "insecure must be true or false, got %s",
                                 it_yaml_kind_name(val));
                return -1;
            }
            if (it_yaml_parse_bool(it_yaml_scalar(val), &c->insecure) != 0) {
                it_yaml_node_err(err, path, val,
                                 "insecure must be true or false, got '%.100s'",
                                 it_yaml_scalar(val));
                return -1;
            }
            continue;
        } else {
            it_yaml_node_err(err, path, k,
                             "unknown key '%.100s' in entry '%.200s' (expected "
                             "username, password, insecure)",
                             name, c->key);
            return -1;
        }
        if (it_yaml_is_null(val))
            continue;
        if (val->type != YAML_SCALAR_NODE) {
            it_yaml_node_err(err, path, val,
                             "%s in entry '%.200s' must be a string, "
                             "got %s",
                             name, c->key, it_yaml_kind_name(val));
            return -1;
        }
        *dst = strdup(it_yaml_scalar(val));
        if (*dst == NULL) {
            it_yaml_node_err(err, path, val, "out of memory");
            return -1;
        }
    }
    return 0;
}

int it_secrets_load(it_secrets **out, const char *path, it_errbuf *err)
{
    int rc = -1;
    it_ydoc d = {0};
    yaml_node_t *root = NULL;
    it_secrets *s = NULL;

    *out = NULL;
    if (it_ydoc_load(&d, &root, path, true, err) != 0)
        goto cleanup;
    s = calloc(1, sizeof *s);
    if (s == NULL) {
        it_set_err(err, "%s: out of memory", path);
        goto cleanup;
    }
    if (root == NULL || it_yaml_is_null(root)) {
        rc = 0;
        goto done;
    }
    if (root->type != YAML_MAPPING_NODE) {
        it_yaml_node_err(
            err, path, root,
            "expected a mapping of registry[/namespace] to {username, "
            "password, insecure}, got %s",
            it_yaml_kind_name(root));
        goto cleanup;
    }
    if (it_yaml_check_keys(&d.doc, root, path, "registry key", "", err) != 0)
        goto cleanup;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
         p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *k = IT_YAML_NODE(&d.doc, p->key);
        yaml_node_t *v = IT_YAML_NODE(&d.doc, p->value);
        it_cred *c = it_secrets_push(s);
        if (c == NULL || (c->key = strdup(it_yaml_scalar(k))) == NULL) {
            it_set_err(err, "%s: out of memory", path);
            goto cleanup;
        }
        c->line = (int)k->start_mark.line + 1;
        const char *why = split_key(c, c->key);
        if (why != NULL) {
            it_yaml_node_err(err, path, k, "invalid registry key '%.200s': %s",
                             c->key, why);
            goto cleanup;
        }
        /* "docker.io" and "registry.hub.docker.com" are the same registry:
         * two entries for it would be ambiguous. */
        for (size_t i = 0; i + 1 < s->n; i++) {
            const it_cred *o = &s->items[i];
            if (it_host_eq(o->host, c->host) && ns_eq(o->ns, c->ns)) {
                it_yaml_node_err(
                    err, path, k,
                    "entry '%.200s' names the same registry as '%.200s' "
                    "(line %d); keep one of them",
                    c->key, o->key, o->line);
                goto cleanup;
            }
        }
        if (load_cred(c, &d.doc, v, path, err) != 0)
            goto cleanup;
    }
    rc = 0;
done:
    *out = s;
    s = NULL;
cleanup:
    it_secrets_free(s);
    it_ydoc_free(&d);
    return rc;
}

/* Most specific entry for host + repo_path; only entries holding a
 * username when login is set. */
static const it_cred *find_entry(const it_secrets *s, const char *host,
                                 const char *repo_path, bool login)
{
    if (s == NULL || host == NULL)
        return NULL;
    const it_cred *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < s->n; i++) {
        const it_cred *c = &s->items[i];
        if (!it_host_eq(c->host, host))
            continue;
        if (login && (c->username == NULL || c->username[0] == '\0'))
            continue; /* TLS only: the login comes from elsewhere */
        size_t len = 0;
        if (c->ns != NULL) {
            /* "host/a" matches "a", "a/b"; never "ab" */
            if (repo_path == NULL)
                continue;
            len = strlen(c->ns);
            if (strncmp(repo_path, c->ns, len) != 0 ||
                (repo_path[len] != '\0' && repo_path[len] != '/'))
                continue;
            len++; /* any namespace match beats the bare host */
        }
        if (best == NULL || len > best_len) {
            best = c;
            best_len = len;
        }
    }
    return best;
}

const it_cred *it_secrets_find(const it_secrets *s, const char *host,
                               const char *repo_path)
{
    return find_entry(s, host, repo_path, true);
}

bool it_secrets_insecure(const it_secrets *s, const char *host,
                         const char *repo)
{
    const it_cred *best = find_entry(s, host, repo, false);
    const it_cred *bare = find_entry(s, host, NULL, false);
    return (best != NULL && best->insecure) || (bare != NULL && bare->insecure);
}
