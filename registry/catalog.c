/*
 * catalog.c - whole namespaces and pruning (issue 14): the repositories
 * below a prefix (the catalog, or the Harbor API v2 where the catalog is
 * refused) and manifest deletes.
 */
#include "internal.h"

#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HARBOR_PAGE_SIZE 100
#define HARBOR_MAX_PAGE  (4 * 1024 * 1024) /* bytes of one page kept */

bool reg_repo_below(const char *name, const char *prefix)
{
    if (name == NULL || prefix == NULL)
        return false;
    size_t n = strlen(prefix);
    if (n == 0)
        return name[0] != '\0';
    return strncmp(name, prefix, n) == 0 && name[n] == '/' &&
           name[n + 1] != '\0';
}

int reg_harbor_page_parse(char ***out, size_t *n, const char *body, size_t len,
                          size_t max, reg_error *err)
{
    json_error_t jerr;
    json_t *root = NULL;
    char **v = NULL;
    size_t k = 0;
    int rc = REG_OK;

    *out = NULL;
    *n = 0;
    if (max == 0)
        max = 1000;
    root = body != NULL ? json_loadb(body, len, 0, &jerr) : NULL;
    if (!json_is_array(root)) {
        rc = reg_error_set(err, REG_ERR,
                           "Harbor API: expected a JSON array of objects with "
                           "a \"name\"");
        goto cleanup;
    }
    size_t cap = json_array_size(root);
    if (cap > max) {
        rc = reg_error_set(err, REG_ELIMIT,
                           "Harbor API: more than %zu items in one page", max);
        goto cleanup;
    }
    v = calloc(cap + 1, sizeof(*v));
    if (v == NULL) {
        rc = reg_error_set(err, REG_ENOMEM, "out of memory");
        goto cleanup;
    }
    for (size_t i = 0; i < cap; i++) {
        const char *s =
            json_string_value(json_object_get(json_array_get(root, i), "name"));
        if (s == NULL || !reg_valid_path(s))
            continue; /* not a name: skipped, never used */
        if ((v[k] = strdup(s)) == NULL) {
            rc = reg_error_set(err, REG_ENOMEM, "out of memory");
            goto cleanup;
        }
        k++;
    }
    *out = v;
    *n = k;
    v = NULL;
cleanup:
    reg_strv_free(v);
    json_decref(root);
    return rc;
}

/* What the filtered catalog hands on. */
typedef struct prefix_filter {
    const char *prefix;
    reg_list_fn fn;
    void *payload;
} prefix_filter;

/* reg_list_fn: passes on the names below the prefix (a page holds at most
 * what the library's page cap let in: filtered in place, borrowed). */
static int filter_page(void *payload, char *const *items, size_t n)
{
    prefix_filter *pf = payload;
    char **keep = n > 0 ? calloc(n, sizeof(*keep)) : NULL;
    size_t k = 0;
    if (n > 0 && keep == NULL)
        return 1;
    for (size_t i = 0; i < n; i++)
        if (reg_repo_below(items[i], pf->prefix))
            keep[k++] = items[i];
    int rc = pf->fn(pf->payload, keep, k);
    free(keep);
    return rc;
}

/* One Harbor API GET (basic auth): the page's names, or an error. */
static int harbor_get(char ***names, size_t *n, reg_client *c, const char *path,
                      const char *what, reg_error *err)
{
    reg_resp resp = {0};
    reg_req req = {.method = "GET",
                   .url = path,
                   .accept = "application/json",
                   .max_response = HARBOR_MAX_PAGE,
                   .basic_auth = true};
    int rc = reg__request(c, &req, &resp, err);
    if (rc != REG_OK) {
        reg_error_prefix(err, "%s", what);
        goto cleanup;
    }
    if (resp.status != 200) {
        rc = reg_error_from_http(err, resp.status, resp.body.data,
                                 resp.body.len, what);
        goto cleanup;
    }
    rc = reg_harbor_page_parse(names, n, resp.body.data, resp.body.len,
                               HARBOR_PAGE_SIZE * 10, err);
    if (rc != REG_OK)
        reg_error_prefix(err, "%s", what);
cleanup:
    reg_resp_free(&resp);
    return rc;
}

/* Pages of one Harbor listing (projects when project is NULL, else that
 * project's repositories), names below prefix handed to fn. *pages and
 * *items count against the limits over the whole expansion. */
static int harbor_each(reg_client *c, const char *project, const char *prefix,
                       const reg_list_limits *lim, size_t *pages, size_t *items,
                       reg_list_fn fn, void *payload, reg_error *err)
{
    size_t max_items = lim != NULL && lim->max_items > 0 ? lim->max_items
                                                         : REG_DEFAULT_MAX_TAGS;
    size_t max_pages = lim != NULL && lim->max_pages > 0
                           ? lim->max_pages
                           : REG_DEFAULT_MAX_PAGES;
    char *esc = project != NULL ? reg__escape(project) : NULL;
    int rc = REG_OK;
    if (project != NULL && esc == NULL)
        return reg_error_set(err, REG_ENOMEM, "out of memory");
    for (int page = 1;; page++) {
        char path[512], what[300];
        if (*pages >= max_pages) {
            rc = reg_error_set(err, REG_ELIMIT,
                               "Harbor API listing: more than %zu pages",
                               max_pages);
            break;
        }
        (*pages)++;
        if (esc != NULL) {
            snprintf(path, sizeof(path),
                     "/api/v2.0/projects/%s/repositories?page=%d&page_size=%d",
                     esc, page, HARBOR_PAGE_SIZE);
            snprintf(what, sizeof(what),
                     "list repositories of Harbor project %.200s", project);
        } else {
            snprintf(path, sizeof(path),
                     "/api/v2.0/projects?page=%d&page_size=%d", page,
                     HARBOR_PAGE_SIZE);
            snprintf(what, sizeof(what), "list Harbor projects");
        }
        char **names = NULL;
        size_t n = 0, k = 0;
        rc = harbor_get(&names, &n, c, path, what, err);
        if (rc != REG_OK)
            break;
        if (project != NULL) {
            for (size_t i = 0; i < n; i++) /* keep those below prefix */
                if (reg_repo_below(names[i], prefix)) {
                    char *t = names[k];
                    names[k++] = names[i];
                    names[i] = t;
                }
            if (k > max_items || *items > max_items - k) {
                reg_strv_free(names);
                rc = reg_error_set(err, REG_ELIMIT,
                                   "Harbor API listing: more than %zu "
                                   "repositories",
                                   max_items);
                break;
            }
            *items += k;
            if (fn(payload, names, k) != 0)
                rc = reg_error_set(err, REG_ECANCELED,
                                   "%s: stopped by the caller", what);
        } else {
            for (size_t i = 0; i < n && rc == REG_OK; i++)
                rc = harbor_each(c, names[i], prefix, lim, pages, items, fn,
                                 payload, err);
        }
        reg_strv_free(names);
        if (rc != REG_OK || n < HARBOR_PAGE_SIZE)
            break;
    }
    free(esc);
    return rc;
}

int reg_repos_each(reg_client *c, const char *prefix,
                   const reg_list_limits *lim, reg_list_fn fn, void *payload,
                   bool *used_harbor, reg_error *err)
{
    if (used_harbor != NULL)
        *used_harbor = false;
    if (c == NULL || fn == NULL || prefix == NULL ||
        (prefix[0] != '\0' && !reg_valid_path(prefix)))
        return reg_error_set(err, REG_EINVAL,
                             "list repositories: bad prefix or arguments");
    prefix_filter pf = {.prefix = prefix, .fn = fn, .payload = payload};
    reg_error cat = {0};
    int rc = reg_catalog_each(c, 1000, lim, filter_page, &pf, &cat);
    if (rc != REG_EAUTH && rc != REG_EDENIED) {
        if (rc != REG_OK && err != NULL)
            *err = cat;
        return rc;
    }
    /* The catalog is refused: the Harbor API, when the registry has it. */
    char project[256] = "";
    size_t plen = strcspn(prefix, "/");
    if (plen >= sizeof(project))
        plen = sizeof(project) - 1;
    memcpy(project, prefix, plen);
    project[plen] = '\0';
    size_t pages = 0, items = 0;
    reg_error h = {0};
    rc = harbor_each(c, project[0] != '\0' ? project : NULL, prefix, lim,
                     &pages, &items, fn, payload, &h);
    if (used_harbor != NULL)
        *used_harbor = rc == REG_OK || pages > 1 || items > 0;
    if (rc == REG_OK || rc == REG_ECANCELED || rc == REG_ELIMIT ||
        rc == REG_ERETRY || items > 0) {
        if (rc != REG_OK && err != NULL)
            *err = h;
        return rc;
    }
    return reg_error_set(
        err, REG_EDENIED,
        "%s: the registry refused the catalog (%s), and its Harbor API "
        "answered: %s. Grant this account catalog access "
        "(registry:catalog:* / an administrator), or list the repositories "
        "in the rule file instead of a /* source",
        reg_client_host(c), cat.msg, h.msg);
}

int reg_manifest_delete(reg_client *c, const char *repo, const char *ref,
                        reg_error *err)
{
    reg_resp resp = {0};
    char path[1200], what[600];
    if (c == NULL || repo == NULL || ref == NULL || !reg_valid_path(repo) ||
        (!reg_valid_tag(ref) && !reg_valid_digest(ref)))
        return reg_error_set(err, REG_EINVAL,
                             "delete manifest: bad repository or reference");
    snprintf(path, sizeof(path), "/v2/%s/manifests/%s", repo, ref);
    snprintf(what, sizeof(what), "delete manifest %s:%s", repo, ref);
    reg_req req = {.method = "DELETE",
                   .url = path,
                   .repo = repo,
                   .actions = "pull,push,delete",
                   .max_response = 64 * 1024};
    int rc = reg__request(c, &req, &resp, err);
    if (rc != REG_OK) {
        reg_error_prefix(err, "%s", what);
        goto cleanup;
    }
    if (resp.status == 200 || resp.status == 202)
        goto cleanup;
    rc = reg_error_from_http(err, resp.status, resp.body.data, resp.body.len,
                             what);
    if (err != NULL)
        err->retry_after = resp.retry_after;
    /* Delete by tag is OCI 1.1; older registries answer 400 (a tag is not
     * a digest) or 405. */
    if (!reg_valid_digest(ref) &&
        (resp.status == 400 || rc == REG_EDIGEST || resp.status == 405))
        rc = err != NULL ? (err->code = REG_EUNSUPPORTED) : REG_EUNSUPPORTED;
cleanup:
    reg_resp_free(&resp);
    return rc;
}
