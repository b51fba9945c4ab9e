/*
 * docker_config.c - the Docker config.json fallback for registry logins
 * ("auths": {host: {auth: base64 | username/password}}), see secrets.h.
 * Decoded passwords are wiped before their buffers are freed; no message
 * contains one.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config_yaml.h"
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

int it_secrets_add_docker_config(it_secrets *s, const char *path,
                                 it_errbuf *err)
{
    int rc = -1;
    json_t *root = NULL;
    json_error_t jerr;
    char *host = NULL;
    char *userpass = NULL;
    size_t userpass_len = 0;

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
    json_t *auths = json_object_get(root, "auths");
    if (auths == NULL) {
        rc = 0; /* credential helpers only: nothing to add */
        goto cleanup;
    }
    if (!json_is_object(auths)) {
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
        bool present = false;
        for (size_t i = 0; i < s->n; i++) {
            if (it_host_eq(s->items[i].host, host) && s->items[i].ns == NULL)
                present = true;
        }
        if (present)
            continue;

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

        it_cred *c = it_secrets_push(s);
        if (c == NULL) {
            it_set_err(err, "%s: out of memory", path);
            goto cleanup;
        }
        c->key = strdup(host);
        c->host = strdup(host);
        c->username = strdup(user);
        c->password = it_strdup0(pass);
        if (c->key == NULL || c->host == NULL || c->username == NULL ||
            (pass != NULL && c->password == NULL)) {
            it_set_err(err, "%s: out of memory", path);
            goto cleanup;
        }
    }
    rc = 0;
cleanup:
    wipe_free(userpass, userpass_len);
    free(host);
    json_decref(root);
    return rc;
}
