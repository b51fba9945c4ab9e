/*
 * docker_config.c - the Docker config.json fallback for registry logins
 * ("auths": {host: {auth: base64 | username/password}}, "credHelpers",
 * "credsStore"), see secrets.h. Decoded passwords are wiped before their
 * buffers are freed; no message contains one. Credential helpers run
 * through credhelper.c, lazily, once per host.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config_yaml.h"
#include "credhelper.h"
#include "log.h"
#include "text.h"
#include "registry.h"
#include "secrets.h"
#include "secrets_int.h"
#include "util.h"

/* ------------------------------------------------- Docker config.json */

static int b64_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

/* Decodes standard or URL-safe base64 (padding optional) into a malloc'd
 * NUL-terminated string; NULL if malformed. */
static char *b64_decode(const char *in)
{
    size_t n = strlen(in);
    while (n > 0 && in[n - 1] == '=')
        n--;
    char *out = malloc(n * 3 / 4 + 2);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_val((unsigned char)in[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    if (bits >= 6) { /* one dangling character cannot encode a byte */
        free(out);
        return NULL;
    }
    out[o] = '\0';
    if (strlen(out) != o) { /* embedded NUL */
        free(out);
        return NULL;
    }
    return out;
}

/* Frees a buffer that held a decoded password, wiping it first. */
static void wipe_free(char *p, size_t n)
{
    if (p != NULL)
        explicit_bzero(p, n);
    free(p);
}

/* "https://index.docker.io/v1/" -> "index.docker.io"; malloc'd. */
static char *auths_host(const char *key)
{
    const char *h = key;
    const char *scheme = strstr(key, "://");
    if (scheme != NULL)
        h = scheme + 3;
    size_t n = strcspn(h, "/");
    if (n == 0)
        return NULL;
    char *host = strndup(h, n);
    if (host == NULL)
        return NULL;
    char *canon = strdup(reg_canonical_host(host));
    free(host);
    return canon;
}

/* ------------------------------------------------- credential helpers */

typedef struct dc_helper {
    char *host; /* canonical */
    char *name; /* NAME of docker-credential-NAME */
} dc_helper;

typedef struct dc_answer {
    char *host;
    int rc;            /* as it_secrets_helper_login */
    char *user, *pass; /* rc 2: user NULL, pass the identity token */
    char *msg;         /* rc == -1 */
} dc_answer;

struct it_docker_helpers {
    char *path;  /* the config.json, for messages */
    char *store; /* credsStore, or NULL */
    dc_helper *per_host;
    size_t n;
    pthread_mutex_t lock; /* answers */
    dc_answer *answers;
    size_t n_answers;
};

void it_docker_helpers_free(struct it_docker_helpers *h)
{
    if (h == NULL)
        return;
    for (size_t i = 0; i < h->n; i++) {
        free(h->per_host[i].host);
        free(h->per_host[i].name);
    }
    for (size_t i = 0; i < h->n_answers; i++) {
        dc_answer *a = &h->answers[i];
        free(a->host);
        free(a->user);
        if (a->pass != NULL)
            wipe_free(a->pass, strlen(a->pass));
        free(a->msg);
    }
    pthread_mutex_destroy(&h->lock);
    free(h->per_host);
    free(h->answers);
    free(h->path);
    free(h->store);
    free(h);
}

static const char *helper_for(const struct it_docker_helpers *h,
                              const char *host, const char **where)
{
    for (size_t i = 0; i < h->n; i++) {
        if (it_host_eq(h->per_host[i].host, host)) {
            *where = "credHelpers";
            return h->per_host[i].name;
        }
    }
    *where = "credsStore";
    return h->store;
}

/* Runs the helper for host and fills a (a->host already set). */
static void ask_helper(const struct it_docker_helpers *h, dc_answer *a,
                       const char *name, const char *where)
{
    it_errbuf err = {{0}};
    it_helper_creds hc = {0};
    /* what docker passes: the host, or Docker Hub's historical URL */
    const char *server = strcmp(a->host, reg_canonical_host("docker.io")) == 0
                             ? "https://index.docker.io/v1/"
                             : a->host;
    int rc =
        it_credhelper_get(name, server, IT_CREDHELPER_TIMEOUT_MS, &hc, &err);
    if (rc != 0) {
        char msg[sizeof err.msg + 600];
        snprintf(msg, sizeof msg, "registry %s: %s (%s in %s)", a->host,
                 err.msg, where, h->path);
        a->rc = -1;
        a->msg = strdup(msg);
    } else if (hc.identity_token) {
        it_log_add_credential(NULL, hc.secret);
        a->rc = 2;
        a->pass = hc.secret;
        hc.secret = NULL;
        log_info("registry %s: identity token from docker-credential-%s "
                 "(%s in %s)",
                 a->host, name, where, h->path);
    } else if (hc.username == NULL) {
        a->rc = 0;
        log_info("registry %s: docker-credential-%s has no login for it (%s "
                 "in %s)",
                 a->host, name, where, h->path);
    } else {
        it_log_add_credential(hc.username, hc.secret);
        a->rc = 1;
        a->user = hc.username;
        a->pass = hc.secret;
        hc.username = hc.secret = NULL;
        log_info("registry %s: login of user \"%s\" from docker-credential-%s "
                 "(%s in %s)",
                 a->host, a->user, name, where, h->path);
    }
    it_helper_creds_clear(&hc);
}

int it_secrets_helper_login(const it_secrets *s, const char *host, char **user,
                            char **pass, it_errbuf *err)
{
    int rc = 0;
    *user = *pass = NULL;
    if (s == NULL || s->docker == NULL || host == NULL)
        return 0;
    struct it_docker_helpers *h = s->docker;
    const char *where = NULL;
    const char *name = helper_for(h, host, &where);
    if (name == NULL)
        return 0;
    /* One lock for all hosts: a helper runs at most once per host, and
     * those waiting for another host wait at most its time limit. */
    pthread_mutex_lock(&h->lock);
    dc_answer *a = NULL;
    for (size_t i = 0; i < h->n_answers && a == NULL; i++) {
        if (it_host_eq(h->answers[i].host, host))
            a = &h->answers[i];
    }
    if (a == NULL) {
        dc_answer *v =
            realloc(h->answers, (h->n_answers + 1) * sizeof *h->answers);
        char *hcopy = strdup(host);
        if (v == NULL || hcopy == NULL) {
            if (v != NULL)
                h->answers = v;
            free(hcopy);
            it_set_err(err, "registry %s: out of memory", host);
            rc = -1;
            goto unlock;
        }
        h->answers = v;
        a = &h->answers[h->n_answers++];
        memset(a, 0, sizeof *a);
        a->host = hcopy;
        ask_helper(h, a, name, where);
    }
    rc = a->rc;
    if (rc < 0) {
        it_set_err(err, "%s", a->msg != NULL ? a->msg : "out of memory");
    } else if (rc > 0) {
        *user = rc == 1 ? strdup(a->user) : NULL;
        *pass = strdup(a->pass);
        if ((rc == 1 && *user == NULL) || *pass == NULL) {
            free(*user);
            free(*pass);
            *user = *pass = NULL;
            it_set_err(err, "registry %s: out of memory", host);
            rc = -1;
        }
    }
unlock:
    pthread_mutex_unlock(&h->lock);
    return rc;
}

/* ------------------------------------------------------ reading the file */

/* "credHelpers" and "credsStore" of root into a new *out (NULL when there
 * are none). */
static int read_helpers(struct it_docker_helpers **out, json_t *root,
                        const char *path, it_errbuf *err)
{
    int rc = -1;
    struct it_docker_helpers *h = NULL;
    *out = NULL;
    json_t *ch = json_object_get(root, "credHelpers");
    json_t *cs = json_object_get(root, "credsStore");
    if (ch != NULL && !json_is_object(ch)) {
        it_set_err(err,
                   "%s: \"credHelpers\" must be an object of registry to "
                   "helper name",
                   path);
        goto cleanup;
    }
    if (cs != NULL && !json_is_string(cs)) {
        it_set_err(err, "%s: \"credsStore\" must be a string (a helper name)",
                   path);
        goto cleanup;
    }
    const char *store = cs != NULL ? json_string_value(cs) : "";
    if (store[0] == '\0' && json_object_size(ch) == 0) {
        rc = 0;
        goto cleanup;
    }
    h = calloc(1, sizeof *h);
    if (h != NULL)
        pthread_mutex_init(&h->lock, NULL);
    if (h == NULL || (h->path = strdup(path)) == NULL ||
        (store[0] != '\0' && (h->store = strdup(store)) == NULL) ||
        (json_object_size(ch) > 0 &&
         (h->per_host = calloc(json_object_size(ch), sizeof *h->per_host)) ==
             NULL)) {
        it_set_err(err, "%s: out of memory", path);
        goto cleanup;
    }
    const char *key;
    json_t *v;
    json_object_foreach(ch, key, v)
    {
        const char *name = json_string_value(v);
        if (name == NULL || name[0] == '\0') {
            it_set_err(err,
                       "%s: credHelpers '%.200s' must be a helper name (a "
                       "non-empty string)",
                       path, key);
            goto cleanup;
        }
        dc_helper *d = &h->per_host[h->n];
        d->host = auths_host(key);
        if (d->host == NULL) {
            it_set_err(err,
                       "%s: credHelpers: cannot read a registry from key "
                       "'%.200s'",
                       path, key);
            goto cleanup;
        }
        h->n++;
        if ((d->name = strdup(name)) == NULL) {
            it_set_err(err, "%s: out of memory", path);
            goto cleanup;
        }
    }
    *out = h;
    h = NULL;
    rc = 0;
cleanup:
    it_docker_helpers_free(h);
    return rc;
}

/* The bare-host entry of s for host (any, with or without a login). */
static it_cred *bare_entry(it_secrets *s, const char *host)
{
    for (size_t i = 0; i < s->n; i++) {
        if (it_host_eq(s->items[i].host, host) && s->items[i].ns == NULL)
            return &s->items[i];
    }
    return NULL;
}

int it_secrets_add_docker_config(it_secrets *s, const char *path,
                                 it_errbuf *err)
{
    int rc = -1;
    json_t *root = NULL;
    json_error_t jerr;
    char *host = NULL;
    char *userpass = NULL;
    size_t userpass_len = 0;
    struct it_docker_helpers *helpers = NULL;

    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        if (errno == ENOENT)
            return 0;
        it_set_err(err, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    root = json_loadf(f, 0, &jerr);
    fclose(f);
    if (root == NULL) {
        it_set_err(err, "%s:%d:%d: invalid JSON: %s", path, jerr.line,
                   jerr.column, jerr.text);
        goto cleanup;
    }
    if (!json_is_object(root)) {
        it_set_err(err, "%s: expected a JSON object with \"auths\"", path);
        goto cleanup;
    }
    if (read_helpers(&helpers, root, path, err) != 0)
        goto cleanup;
    json_t *auths = json_object_get(root, "auths");
    if (auths != NULL && !json_is_object(auths)) {
        it_set_err(err,
                   "%s: \"auths\" must be an object of registry to "
                   "{auth} entries",
                   path);
        goto cleanup;
    }
    const char *key;
    json_t *entry;
    json_object_foreach(auths, key, entry)
    {
        free(host);
        host = auths_host(key);
        if (host == NULL) {
            it_set_err(err,
                       "%s: auths: cannot read a registry from key "
                       "'%.200s'",
                       path, key);
            goto cleanup;
        }
        if (!json_is_object(entry)) {
            it_set_err(err, "%s: auths '%.200s' must be an object", path, key);
            goto cleanup;
        }
        const char *where = NULL;
        if (helpers != NULL && helper_for(helpers, host, &where) != NULL &&
            strcmp(where, "credHelpers") == 0)
            continue; /* its credential helper has the login */
        it_cred *c = bare_entry(s, host);
        if (c != NULL && c->username != NULL && c->username[0] != '\0')
            continue; /* registry-secret.yaml's login wins */

        const char *user = NULL, *pass = NULL;
        const char *auth = json_string_value(json_object_get(entry, "auth"));
        wipe_free(userpass, userpass_len);
        userpass = NULL;
        if (auth != NULL && auth[0] != '\0') {
            userpass = b64_decode(auth);
            userpass_len = userpass != NULL ? strlen(userpass) : 0;
            char *colon = userpass != NULL ? strchr(userpass, ':') : NULL;
            if (colon == NULL) {
                /* the value is not shown: it is the encoded password */
                it_set_err(err,
                           "%s: auths '%.200s': \"auth\" is not base64 of "
                           "user:password",
                           path, key);
                goto cleanup;
            }
            *colon = '\0';
            user = userpass;
            pass = colon + 1;
        } else {
            user = json_string_value(json_object_get(entry, "username"));
            pass = json_string_value(json_object_get(entry, "password"));
        }
        if (user == NULL || user[0] == '\0')
            continue; /* e.g. {} left by a credential store */

        if (c == NULL) {
            c = it_secrets_push(s);
            if (c == NULL || (c->key = strdup(host)) == NULL ||
                (c->host = strdup(host)) == NULL) {
                it_set_err(err, "%s: out of memory", path);
                goto cleanup;
            }
        } else {
            /* registry-secret.yaml's entry sets TLS only: the login is
             * this one */
            free(c->username);
            wipe_free(c->password,
                      c->password != NULL ? strlen(c->password) : 0);
            c->username = c->password = NULL;
        }
        c->username = strdup(user);
        c->password = it_strdup0(pass);
        if (c->username == NULL || (pass != NULL && c->password == NULL)) {
            it_set_err(err, "%s: out of memory", path);
            goto cleanup;
        }
    }
    if (s->docker == NULL) {
        s->docker = helpers;
        helpers = NULL;
    }
    rc = 0;
cleanup:
    it_docker_helpers_free(helpers);
    wipe_free(userpass, userpass_len);
    free(host);
    json_decref(root);
    return rc;
}
