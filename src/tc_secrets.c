/*
 * tc_secrets.c - tencentcloud-secret.yaml and the TENCENTCLOUD_*
 * environment (see tc_secrets.h). No message ever contains a secret key or
 * a token: only key names.
 */
#include "tc_secrets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_yaml.h"
#include "text.h"
#include "util.h"

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
    if (it_yaml_check_keys(doc, m, path, "key", where, err) != 0)
        return -1;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start;
         p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = IT_YAML_NODE(doc, p->key);
        yaml_node_t *v = IT_YAML_NODE(doc, p->value);
        const char *name = it_yaml_scalar(kn);
        char **dst;
        if (strcasecmp(name, "secretId") == 0) {
            dst = &k->secret_id;
        } else if (strcasecmp(name, "secretKey") == 0) {
            dst = &k->secret_key;
        } else if (strcasecmp(name, "token") == 0 ||
                   strcasecmp(name, "sessionToken") == 0) {
            dst = &k->token;
        } else {
            it_yaml_node_err(err, path, kn,
                             "unknown key '%.100s' in '%s' (expected secretId, "
                             "secretKey, token)",
                             name, side);
            return -1;
        }
        if (*dst != NULL) {
            it_yaml_node_err(err, path, kn, "'%s' gives %s twice", side, name);
            return -1;
        }
        if (it_yaml_is_null(v))
            continue;
        if (v->type != YAML_SCALAR_NODE) {
            it_yaml_node_err(err, path, v,
                             "%s in '%s' must be a string, got %s", name, side,
                             it_yaml_kind_name(v));
            return -1;
        }
        *dst = strdup(it_yaml_scalar(v));
        if (*dst == NULL) {
            it_yaml_node_err(err, path, v, "out of memory");
            return -1;
        }
    }
    if (tc_key_set(k) != (k->secret_key != NULL)) {
        it_yaml_node_err(err, path, m, "'%s' has %s but no %s (expected both)",
                         side, k->secret_id != NULL ? "secretId" : "secretKey",
                         k->secret_id != NULL ? "secretKey" : "secretId");
        return -1;
    }
    if (!tc_key_set(k) && k->token != NULL) {
        it_yaml_node_err(err, path, m,
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
    it_ydoc d = {0};
    yaml_node_t *root = NULL;
    if (it_ydoc_load(&d, &root, path, true, err) != 0)
        goto cleanup;
    if (root == NULL || it_yaml_is_null(root)) {
        rc = 0;
        goto cleanup;
    }
    if (root->type != YAML_MAPPING_NODE) {
        it_yaml_node_err(err, path, root,
                         "expected a mapping with ccr: and tcr: (each with "
                         "secretId, secretKey), got %s",
                         it_yaml_kind_name(root));
        goto cleanup;
    }
    /* A flat {secretId, secretKey} file is one key for both sides. */
    yaml_node_t *k0 = NULL;
    if (root->data.mapping.pairs.start < root->data.mapping.pairs.top)
        k0 = IT_YAML_NODE(&d.doc, root->data.mapping.pairs.start->key);
    if (k0 != NULL && k0->type == YAML_SCALAR_NODE &&
        (strcasecmp(it_yaml_scalar(k0), "secretId") == 0 ||
         strcasecmp(it_yaml_scalar(k0), "secretKey") == 0)) {
        if (load_tc_side(&s->ccr, &d.doc, root, "top level", path, err) != 0)
            goto cleanup;
        rc = 0;
        goto cleanup;
    }
    if (it_yaml_check_keys(&d.doc, root, path, "key", "", err) != 0)
        goto cleanup;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
         p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = IT_YAML_NODE(&d.doc, p->key);
        yaml_node_t *v = IT_YAML_NODE(&d.doc, p->value);
        it_tc_key *k;
        const char *side;
        if (strcasecmp(it_yaml_scalar(kn), "ccr") == 0) {
            k = &s->ccr;
            side = "ccr";
        } else if (strcasecmp(it_yaml_scalar(kn), "tcr") == 0) {
            k = &s->tcr;
            side = "tcr";
        } else {
            it_yaml_node_err(err, path, kn,
                             "unknown key '%.100s' (expected ccr or tcr)",
                             it_yaml_scalar(kn));
            goto cleanup;
        }
        if (tc_key_set(k)) {
            it_yaml_node_err(err, path, kn, "'%s' given twice", side);
            goto cleanup;
        }
        if (it_yaml_is_null(v))
            continue;
        if (v->type != YAML_MAPPING_NODE) {
            it_yaml_node_err(
                err, path, v,
                "'%s' must be a mapping with secretId and secretKey, "
                "got %s",
                side, it_yaml_kind_name(v));
            goto cleanup;
        }
        if (load_tc_side(k, &d.doc, v, side, path, err) != 0)
            goto cleanup;
    }
    rc = 0;
cleanup:
    it_ydoc_free(&d);
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
