/*
 * config.c - the three YAML files of the original image-transfer
 * (registry-secret.yaml, transfer-rule.yaml, tencentcloud-secret.yaml) and
 * the Docker config.json credentials fallback.
 *
 * The YAML files are read with libyaml's document API, which keeps the
 * start mark of every node, so each problem is reported as
 * "FILE:LINE:COL: what is wrong, what was expected". No message ever
 * contains a password, a secret key or a token: only key names, and the
 * values of fields that are not secret (insecure, references).
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <jansson.h>
#include <yaml.h>

#include "log.h"
#include "registry.h"
#include "text.h"
#include "util.h"

/* ------------------------------------------------------------ messages */

static void node_err(it_errbuf *err, const char *path, const yaml_node_t *n,
                     const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* "PATH:LINE:COL: " + message, at the start of node n. */
static void node_err(it_errbuf *err, const char *path, const yaml_node_t *n,
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

static const char *kind_name(const yaml_node_t *n)
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

typedef struct ydoc {
    yaml_document_t doc;
    bool loaded;
} ydoc;

static void ydoc_free(ydoc *d)
{
    if (d->loaded)
        yaml_document_delete(&d->doc);
    d->loaded = false;
}

/* Loads the single document of a YAML file. *root is NULL for an empty
 * file. */
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

static int ydoc_load(ydoc *d, yaml_node_t **root, const char *path, bool secret,
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
            node_err(err, path, r2,
                     "expected one YAML document, found a second one");
            yaml_document_delete(&extra);
            goto cleanup;
        }
        yaml_document_delete(&extra);
    }
    rc = 0;
cleanup:
    if (rc != 0) {
        ydoc_free(d);
        *root = NULL;
    }
    if (parser_ok)
        yaml_parser_delete(&parser);
    if (f != NULL)
        fclose(f);
    return rc;
}

static const char *scalar(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

/* A plain empty, "~" or "null" scalar is YAML's null. */
static bool is_null(const yaml_node_t *n)
{
    if (n == NULL)
        return true;
    if (n->type != YAML_SCALAR_NODE)
        return false;
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *s = scalar(n);
    return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
           strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

/* YAML 1.1 booleans, as the original's Go yaml.v2 read them. */
static int parse_bool(const char *s, bool *out)
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

#define NODE(doc, id) yaml_document_get_node((doc), (id))

/* Checks that no key of mapping m appears twice. Keys must be scalars;
 * `what` names them in messages ("registry key"), `where` says where they
 * are ("" or " in entry 'x'"). */
static int check_keys(yaml_document_t *doc, yaml_node_t *m, const char *path,
                      const char *what, const char *where, it_errbuf *err)
{
    yaml_node_pair_t *a, *b;
    for (a = m->data.mapping.pairs.start; a < m->data.mapping.pairs.top; a++) {
        yaml_node_t *ka = NODE(doc, a->key);
        if (ka->type != YAML_SCALAR_NODE) {
            node_err(err, path, ka, "%s%s must be a string, got %s", what,
                     where, kind_name(ka));
            return -1;
        }
        if (is_null(ka)) {
            node_err(err, path, ka, "empty %s%s", what, where);
            return -1;
        }
        for (b = m->data.mapping.pairs.start; b < a; b++) {
            yaml_node_t *kb = NODE(doc, b->key);
            if (strcmp(scalar(ka), scalar(kb)) == 0) {
                node_err(err, path, ka,
                         "duplicate %s '%.200s'%s (first at line %zu)", what,
                         scalar(ka), where, kb->start_mark.line + 1);
                return -1;
            }
        }
    }
    return 0;
}

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
    free(s);
}

static it_cred *secrets_push(it_secrets *s)
{
    it_cred *v = realloc(s->items, (s->n + 1) * sizeof *v);
    if (v == NULL)
        return NULL;
    s->items = v;
    it_cred *c = &v[s->n++];
    memset(c, 0, sizeof *c);
    return c;
}

static bool host_eq(const char *a, const char *b)
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
    if (is_null(v))
        return 0; /* "host:" alone: an entry with no credentials */
    if (v->type != YAML_MAPPING_NODE) {
        /* the value is not shown: it may be a password written inline */
        node_err(err, path, v,
                 "entry '%.200s': expected a mapping with username, "
                 "password, insecure, got %s",
                 c->key, kind_name(v));
        return -1;
    }
    char where[300];
    snprintf(where, sizeof where, " in entry '%.200s'", c->key);
    if (check_keys(doc, v, path, "key", where, err) != 0)
        return -1;
    for (yaml_node_pair_t *p = v->data.mapping.pairs.start;
         p < v->data.mapping.pairs.top; p++) {
        yaml_node_t *k = NODE(doc, p->key);
        yaml_node_t *val = NODE(doc, p->value);
        const char *name = scalar(k);
        char **dst = NULL;
        if (strcmp(name, "username") == 0) {
            dst = &c->username;
        } else if (strcmp(name, "password") == 0) {
            dst = &c->password;
        } else if (strcmp(name, "insecure") == 0) {
            if (is_null(val)) {
                c->insecure = false;
                continue;
            }
            if (val->type != YAML_SCALAR_NODE) {
                node_err(err, path, val,
                         "insecure must be true or false, got %s",
                         kind_name(val));
                return -1;
            }
            if (parse_bool(scalar(val), &c->insecure) != 0) {
                node_err(err, path, val,
                         "insecure must be true or false, got '%.100s'",
                         scalar(val));
                return -1;
            }
            continue;
        } else {
            node_err(err, path, k,
                     "unknown key '%.100s' in entry '%.200s' (expected "
                     "username, password, insecure)",
                     name, c->key);
            return -1;
        }
        if (is_null(val))
            continue;
        if (val->type != YAML_SCALAR_NODE) {
            node_err(err, path, val,
                     "%s in entry '%.200s' must be a string, "
                     "got %s",
                     name, c->key, kind_name(val));
            return -1;
        }
        *dst = strdup(scalar(val));
        if (*dst == NULL) {
            node_err(err, path, val, "out of memory");
            return -1;
        }
    }
    return 0;
}

int it_secrets_load(it_secrets **out, const char *path, it_errbuf *err)
{
    int rc = -1;
    ydoc d = {0};
    yaml_node_t *root = NULL;
    it_secrets *s = NULL;

    *out = NULL;
    if (ydoc_load(&d, &root, path, true, err) != 0)
        goto cleanup;
    s = calloc(1, sizeof *s);
    if (s == NULL) {
        it_set_err(err, "%s: out of memory", path);
        goto cleanup;
    }
    if (root == NULL || is_null(root)) {
        rc = 0;
        goto done;
    }
    if (root->type != YAML_MAPPING_NODE) {
        node_err(err, path, root,
                 "expected a mapping of registry[/namespace] to {username, "
                 "password, insecure}, got %s",
                 kind_name(root));
        goto cleanup;
    }
    if (check_keys(&d.doc, root, path, "registry key", "", err) != 0)
        goto cleanup;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
         p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *k = NODE(&d.doc, p->key);
        yaml_node_t *v = NODE(&d.doc, p->value);
        it_cred *c = secrets_push(s);
        if (c == NULL || (c->key = strdup(scalar(k))) == NULL) {
            it_set_err(err, "%s: out of memory", path);
            goto cleanup;
        }
        c->line = (int)k->start_mark.line + 1;
        const char *why = split_key(c, c->key);
        if (why != NULL) {
            node_err(err, path, k, "invalid registry key '%.200s': %s", c->key,
                     why);
            goto cleanup;
        }
        /* "docker.io" and "registry.hub.docker.com" are the same registry:
         * two entries for it would be ambiguous. */
        for (size_t i = 0; i + 1 < s->n; i++) {
            const it_cred *o = &s->items[i];
            if (host_eq(o->host, c->host) && ns_eq(o->ns, c->ns)) {
                node_err(err, path, k,
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
    ydoc_free(&d);
    return rc;
}

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
            if (host_eq(s->items[i].host, host) && s->items[i].ns == NULL)
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

        it_cred *c = secrets_push(s);
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

const it_cred *it_secrets_find(const it_secrets *s, const char *host,
                               const char *repo_path)
{
    if (s == NULL || host == NULL)
        return NULL;
    const it_cred *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < s->n; i++) {
        const it_cred *c = &s->items[i];
        if (!host_eq(c->host, host))
            continue;
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

/* --------------------------------------------------- transfer-rule.yaml */

void it_rules_free(it_rules *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n; i++) {
        free(r->items[i].source);
        free(r->items[i].target);
    }
    free(r->items);
    free(r);
}

int it_rules_load(it_rules **out, const char *path, it_errbuf *err)
{
    int rc = -1;
    ydoc d = {0};
    yaml_node_t *root = NULL;
    it_rules *r = NULL;

    *out = NULL;
    if (ydoc_load(&d, &root, path, false, err) != 0)
        goto cleanup;
    if (root == NULL || is_null(root)) {
        /* the original ran with zero rules here and reported success */
        it_set_err(err,
                   "%s:1:1: no rules: expected a mapping of source to target "
                   "such as 'nginx:1.25: registry.example.com/lib/nginx'",
                   path);
        goto cleanup;
    }
    if (root->type != YAML_MAPPING_NODE) {
        node_err(err, path, root,
                 "expected a mapping of source to target, got %s",
                 kind_name(root));
        goto cleanup;
    }
    if (check_keys(&d.doc, root, path, "source", "", err) != 0)
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
        yaml_node_t *k = NODE(&d.doc, p->key);
        yaml_node_t *v = NODE(&d.doc, p->value);
        it_rule *rule = &r->items[r->n++];
        rule->line = (int)k->start_mark.line + 1;
        rule->source = strdup(scalar(k));
        if (rule->source == NULL) {
            it_set_err(err, "%s: out of memory", path);
            goto cleanup;
        }
        if (is_null(v))
            continue;
        if (v->type != YAML_SCALAR_NODE) {
            node_err(err, path, v,
                     "target of '%.200s' must be a reference or empty, got "
                     "%s",
                     rule->source, kind_name(v));
            goto cleanup;
        }
        if (scalar(v)[0] == '\0')
            continue;
        rule->target = strdup(scalar(v));
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
    ydoc_free(&d);
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
    if (!host_eq((*out)->domain, reg_canonical_host(def_registry))) {
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

    if (host_eq(sref->domain, dref->domain) &&
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

/* --------------------------------------------- tencentcloud-secret.yaml */

static void tc_key_clear(it_tc_key *k)
{
    free(k->secret_id);
    free(k->secret_key);
    free(k->token);
    memset(k, 0, sizeof *k);
}

void it_tc_secrets_free(it_tc_secrets *s)
{
    if (s == NULL)
        return;
    tc_key_clear(&s->ccr);
    tc_key_clear(&s->tcr);
    free(s);
}

static int tc_key_copy(it_tc_key *dst, const it_tc_key *src)
{
    dst->secret_id = it_strdup0(src->secret_id);
    dst->secret_key = it_strdup0(src->secret_key);
    dst->token = it_strdup0(src->token);
    if (dst->secret_id == NULL || dst->secret_key == NULL ||
        (src->token != NULL && dst->token == NULL))
        return -1;
    return 0;
}

static bool tc_key_set(const it_tc_key *k)
{
    return k->secret_id != NULL;
}

/* Reads {secretId, secretKey, token} from mapping m into k. */
static int load_tc_side(it_tc_key *k, yaml_document_t *doc, yaml_node_t *m,
                        const char *side, const char *path, it_errbuf *err)
{
    char where[64];
    snprintf(where, sizeof where, " in '%s'", side);
    if (check_keys(doc, m, path, "key", where, err) != 0)
        return -1;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start;
         p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = NODE(doc, p->key);
        yaml_node_t *v = NODE(doc, p->value);
        const char *name = scalar(kn);
        char **dst;
        if (strcasecmp(name, "secretId") == 0) {
            dst = &k->secret_id;
        } else if (strcasecmp(name, "secretKey") == 0) {
            dst = &k->secret_key;
        } else if (strcasecmp(name, "token") == 0 ||
                   strcasecmp(name, "sessionToken") == 0) {
            dst = &k->token;
        } else {
            node_err(err, path, kn,
                     "unknown key '%.100s' in '%s' (expected secretId, "
                     "secretKey, token)",
                     name, side);
            return -1;
        }
        if (*dst != NULL) {
            node_err(err, path, kn, "'%s' gives %s twice", side, name);
            return -1;
        }
        if (is_null(v))
            continue;
        if (v->type != YAML_SCALAR_NODE) {
            node_err(err, path, v, "%s in '%s' must be a string, got %s", name,
                     side, kind_name(v));
            return -1;
        }
        *dst = strdup(scalar(v));
        if (*dst == NULL) {
            node_err(err, path, v, "out of memory");
            return -1;
        }
    }
    if (tc_key_set(k) != (k->secret_key != NULL)) {
        node_err(err, path, m, "'%s' has %s but no %s (expected both)", side,
                 k->secret_id != NULL ? "secretId" : "secretKey",
                 k->secret_id != NULL ? "secretKey" : "secretId");
        return -1;
    }
    if (!tc_key_set(k) && k->token != NULL) {
        node_err(err, path, m,
                 "'%s' has a token but no secretId/secretKey (expected "
                 "both with it)",
                 side);
        return -1;
    }
    return 0;
}

static int load_tc_file(it_tc_secrets *s, const char *path, it_errbuf *err)
{
    int rc = -1;
    ydoc d = {0};
    yaml_node_t *root = NULL;
    if (ydoc_load(&d, &root, path, true, err) != 0)
        goto cleanup;
    if (root == NULL || is_null(root)) {
        rc = 0;
        goto cleanup;
    }
    if (root->type != YAML_MAPPING_NODE) {
        node_err(err, path, root,
                 "expected a mapping with ccr: and tcr: (each with "
                 "secretId, secretKey), got %s",
                 kind_name(root));
        goto cleanup;
    }
    /* A flat {secretId, secretKey} file is one key for both sides. */
    yaml_node_t *k0 = NULL;
    if (root->data.mapping.pairs.start < root->data.mapping.pairs.top)
        k0 = NODE(&d.doc, root->data.mapping.pairs.start->key);
    if (k0 != NULL && k0->type == YAML_SCALAR_NODE &&
        (strcasecmp(scalar(k0), "secretId") == 0 ||
         strcasecmp(scalar(k0), "secretKey") == 0)) {
        if (load_tc_side(&s->ccr, &d.doc, root, "top level", path, err) != 0)
            goto cleanup;
        rc = 0;
        goto cleanup;
    }
    if (check_keys(&d.doc, root, path, "key", "", err) != 0)
        goto cleanup;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
         p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = NODE(&d.doc, p->key);
        yaml_node_t *v = NODE(&d.doc, p->value);
        it_tc_key *k;
        const char *side;
        if (strcasecmp(scalar(kn), "ccr") == 0) {
            k = &s->ccr;
            side = "ccr";
        } else if (strcasecmp(scalar(kn), "tcr") == 0) {
            k = &s->tcr;
            side = "tcr";
        } else {
            node_err(err, path, kn,
                     "unknown key '%.100s' (expected ccr or tcr)", scalar(kn));
            goto cleanup;
        }
        if (tc_key_set(k)) {
            node_err(err, path, kn, "'%s' given twice", side);
            goto cleanup;
        }
        if (is_null(v))
            continue;
        if (v->type != YAML_MAPPING_NODE) {
            node_err(err, path, v,
                     "'%s' must be a mapping with secretId and secretKey, "
                     "got %s",
                     side, kind_name(v));
            goto cleanup;
        }
        if (load_tc_side(k, &d.doc, v, side, path, err) != 0)
            goto cleanup;
    }
    rc = 0;
cleanup:
    ydoc_free(&d);
    return rc;
}

static int load_tc_env(it_tc_key *k, it_errbuf *err)
{
    const char *id = getenv("TENCENTCLOUD_SECRET_ID");
    const char *key = getenv("TENCENTCLOUD_SECRET_KEY");
    const char *tok = getenv("TENCENTCLOUD_SESSION_TOKEN");
    if (id != NULL && id[0] == '\0')
        id = NULL;
    if (key != NULL && key[0] == '\0')
        key = NULL;
    if (tok != NULL && tok[0] == '\0')
        tok = NULL;
    if (id == NULL && key == NULL)
        return 0;
    if (id == NULL || key == NULL) {
        it_set_err(
            err, "%s is set but %s is not (expected both)",
            id != NULL ? "TENCENTCLOUD_SECRET_ID" : "TENCENTCLOUD_SECRET_KEY",
            id != NULL ? "TENCENTCLOUD_SECRET_KEY" : "TENCENTCLOUD_SECRET_ID");
        return -1;
    }
    it_tc_key e = {(char *)id, (char *)key, (char *)tok};
    if (tc_key_copy(k, &e) != 0) {
        it_set_err(err, "out of memory");
        return -1;
    }
    return 0;
}

int it_tc_secrets_load(it_tc_secrets **out, const char *path, it_errbuf *err)
{
    int rc = -1;
    it_tc_secrets *s = calloc(1, sizeof *s);
    it_tc_key env = {0};

    *out = NULL;
    if (s == NULL) {
        it_set_err(err, "out of memory");
        goto cleanup;
    }
    if (path != NULL && load_tc_file(s, path, err) != 0)
        goto cleanup;
    /* Order: the side's own key, the other side's key (same account for
     * CCR and TCR is the common case), then the environment. */
    if (!tc_key_set(&s->ccr) && tc_key_set(&s->tcr) &&
        tc_key_copy(&s->ccr, &s->tcr) != 0)
        goto oom;
    if (!tc_key_set(&s->tcr) && tc_key_set(&s->ccr) &&
        tc_key_copy(&s->tcr, &s->ccr) != 0)
        goto oom;
    if (!tc_key_set(&s->ccr)) {
        if (load_tc_env(&env, err) != 0)
            goto cleanup;
        if (!tc_key_set(&env)) {
            if (path != NULL)
                it_set_err(err,
                           "%s: no Tencent Cloud API key: expected ccr: and/or "
                           "tcr: with secretId and secretKey, or "
                           "TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY "
                           "in the environment",
                           path);
            else
                it_set_err(err,
                           "no Tencent Cloud API key: give --secretFile=FILE "
                           "or set TENCENTCLOUD_SECRET_ID and "
                           "TENCENTCLOUD_SECRET_KEY");
            goto cleanup;
        }
        if (tc_key_copy(&s->ccr, &env) != 0 || tc_key_copy(&s->tcr, &env) != 0)
            goto oom;
    }
    *out = s;
    s = NULL;
    rc = 0;
    goto cleanup;
oom:
    it_set_err(err, "out of memory");
cleanup:
    tc_key_clear(&env);
    it_tc_secrets_free(s);
    return rc;
}
