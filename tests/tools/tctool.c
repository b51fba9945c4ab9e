/*
 * tctool.c - drives the tencentcloud library from the command line, for
 * the integration tests against tests/fakes/fake_tc_api.py.
 *
 *   tctool [--endpoint URL] [--region R] [--secret-id ID] [--secret-key K]
 *          [--ca-file PEM]
 *          [--retries N] [--backoff-ms MS] [--max-items N] [--max-pages N]
 *          COMMAND [ARGS]
 *
 * Commands: list-ccr-namespaces | list-ccr-repos | list-ccr-tags NS/REPO |
 * each-ccr-tags NS/REPO (streamed: "page<TAB>n<TAB>first<TAB>last") |
 * instances NAME | list-tcr-namespaces REGID [NAME] |
 * create-ns REGID NAME [public] | list-tcr-repos REGID [NS] |
 * list-tcr-images REGID NS REPO | token REGID | ccr-host REGION |
 * list-ccr-all THREADS (every repository, then every repository's tags
 * from THREADS threads sharing the one client: prints "repos<TAB>n",
 * "tags<TAB>n", "errors<TAB>n", "connections<TAB>n" (opened by the
 * client) and the first error)
 *
 * Defaults come from TC_ENDPOINT, TC_REGION, TENCENTCLOUD_SECRET_ID and
 * TENCENTCLOUD_SECRET_KEY. Output: one tab-separated record per line.
 * Exit codes: 0 ok, 1 other error, 2 usage, 3 auth, 4 conflict,
 * 5 not found, 6 retries exhausted, 7 invalid argument, 8 a listing cap
 * (--max-items, --max-pages) was hit. The token itself
 * is never printed (only its length).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "tencentcloud.h"

static int usage(void)
{
    fprintf(stderr,
            "usage: tctool [--endpoint URL] [--region R] [--secret-id ID] "
            "[--secret-key K] [--ca-file PEM] [--retries N] [--backoff-ms MS] "
            "[--max-items N] [--max-pages N] COMMAND "
            "[ARGS]\n");
    return 2;
}

static int exit_code(int rc)
{
    switch (rc) {
    case TC_OK:
        return 0;
    case TC_EAUTH:
        return 3;
    case TC_ECONFLICT:
        return 4;
    case TC_ENOTFOUND:
        return 5;
    case TC_ERETRY:
        return 6;
    case TC_EINVAL:
        return 7;
    case TC_ELIMIT:
        return 8;
    default:
        return 1;
    }
}

static bool parse_long(const char *s, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return false;
    *out = v;
    return true;
}

static int print_page(void *payload, const tc_image *page, size_t n)
{
    (void)payload;
    printf("page\t%zu\t%s\t%s\n", n, page[0].tag, page[n - 1].tag);
    fflush(stdout);
    return 0;
}

/* list-ccr-all: the repository names, then THREADS workers listing their
 * tags through the one client. */
typedef struct all_list {
    tc_client *c;
    char **names;
    size_t n, cap;
    atomic_size_t next;
    atomic_size_t tags;
    atomic_size_t errors;
    pthread_mutex_t lock;
    tc_error first; /* the first error, under lock */
} all_list;

static int collect_repo(void *payload, const tc_repo *page, size_t n)
{
    all_list *a = payload;
    for (size_t i = 0; i < n; i++) {
        if (a->n == a->cap) {
            size_t cap = a->cap ? a->cap * 2 : 256;
            char **p = realloc(a->names, cap * sizeof(*p));
            if (p == NULL)
                return 1;
            a->names = p;
            a->cap = cap;
        }
        a->names[a->n] = strdup(page[i].full_name);
        if (a->names[a->n] == NULL)
            return 1;
        a->n++;
    }
    return 0;
}

static int count_tags(void *payload, const tc_image *page, size_t n)
{
    (void)page;
    atomic_fetch_add(&((all_list *)payload)->tags, n);
    return 0;
}

static void *list_worker(void *arg)
{
    all_list *a = arg;
    for (size_t i; (i = atomic_fetch_add(&a->next, 1)) < a->n;) {
        tc_error e = {0};
        if (tc_ccr_each_tag(a->c, a->names[i], NULL, count_tags, a, &e) !=
            TC_OK) {
            if (atomic_fetch_add(&a->errors, 1) == 0) {
                pthread_mutex_lock(&a->lock);
                a->first = e;
                pthread_mutex_unlock(&a->lock);
            }
        }
    }
    return NULL;
}

static int list_all(tc_client *c, long threads, tc_error *err)
{
    all_list a = {.c = c};
    pthread_t tid[64];
    long started = 0;
    pthread_mutex_init(&a.lock, NULL);
    int rc = tc_ccr_each_repo(c, NULL, collect_repo, &a, err);
    for (; rc == TC_OK && started < threads; started++)
        if (pthread_create(&tid[started], NULL, list_worker, &a) != 0)
            break;
    for (long t = 0; t < started; t++)
        pthread_join(tid[t], NULL);
    if (rc == TC_OK) {
        printf("repos\t%zu\ntags\t%zu\nerrors\t%zu\nconnections\t%ld\n", a.n,
               atomic_load(&a.tags), atomic_load(&a.errors),
               tc_client_connections(c));
        if (atomic_load(&a.errors) > 0)
            printf("first-error\t%s\n", a.first.message);
    }
    for (size_t i = 0; i < a.n; i++)
        free(a.names[i]);
    free(a.names);
    pthread_mutex_destroy(&a.lock);
    return rc;
}

static int run(tc_client *c, int argc, char **argv, tc_error *err)
{
    const char *cmd = argv[0];
    size_t n = 0;
    int rc;

    if (strcmp(cmd, "list-ccr-namespaces") == 0 && argc == 1) {
        tc_namespace *v = NULL;
        rc = tc_ccr_list_namespaces(&v, &n, c, err);
        for (size_t i = 0; rc == TC_OK && i < n; i++)
            printf("%s\t%lld\n", v[i].name, (long long)v[i].repo_count);
        tc_namespaces_free(v, n);
    } else if (strcmp(cmd, "list-ccr-repos") == 0 && argc == 1) {
        tc_repo *v = NULL;
        rc = tc_ccr_list_repos(&v, &n, c, err);
        for (size_t i = 0; rc == TC_OK && i < n; i++)
            printf("%s\t%s\t%s\t%s\t%lld\n", v[i].full_name,
                   v[i].namespace_name, v[i].name, v[i].server,
                   (long long)v[i].tag_count);
        tc_repos_free(v, n);
    } else if (strcmp(cmd, "list-ccr-tags") == 0 && argc == 2) {
        tc_image *v = NULL;
        rc = tc_ccr_list_tags(&v, &n, c, argv[1], err);
        for (size_t i = 0; rc == TC_OK && i < n; i++)
            printf("%s\t%s\t%lld\t%s\n", v[i].tag, v[i].digest,
                   (long long)v[i].size, v[i].push_time);
        tc_images_free(v, n);
    } else if (strcmp(cmd, "each-ccr-tags") == 0 && argc == 2) {
        rc = tc_ccr_each_tag(c, argv[1], NULL, print_page, NULL, err);
    } else if (strcmp(cmd, "instances") == 0 && argc == 2) {
        tc_instance *v = NULL;
        rc = tc_tcr_list_instances(&v, &n, c, argv[1], err);
        for (size_t i = 0; rc == TC_OK && i < n; i++)
            printf("%s\t%s\t%s\t%s\t%s\n", v[i].registry_id, v[i].name,
                   v[i].status, v[i].public_domain, v[i].region);
        if (rc == TC_OK) {
            const tc_instance *x = tc_instance_find(v, n, argv[1]);
            if (x != NULL) {
                printf("EXACT\t%s\n", x->registry_id);
            } else {
                rc = tc_error_set(err, TC_ENOTFOUND,
                                  "no TCR instance named exactly %s", argv[1]);
            }
        }
        tc_instances_free(v, n);
    } else if (strcmp(cmd, "list-tcr-namespaces") == 0 &&
               (argc == 2 || argc == 3)) {
        tc_namespace *v = NULL;
        rc = tc_tcr_list_namespaces(&v, &n, c, argv[1],
                                    argc == 3 ? argv[2] : NULL, err);
        for (size_t i = 0; rc == TC_OK && i < n; i++)
            printf("%s\t%s\n", v[i].name,
                   v[i].is_public ? "public" : "private");
        tc_namespaces_free(v, n);
    } else if (strcmp(cmd, "create-ns") == 0 && (argc == 3 || argc == 4)) {
        bool pub = argc == 4 && strcmp(argv[3], "public") == 0;
        rc = tc_tcr_create_namespace(c, argv[1], argv[2], pub, err);
        if (rc == TC_OK)
            printf("created\t%s\n", argv[2]);
    } else if (strcmp(cmd, "list-tcr-repos") == 0 && (argc == 2 || argc == 3)) {
        tc_repo *v = NULL;
        rc = tc_tcr_list_repos(&v, &n, c, argv[1], argc == 3 ? argv[2] : NULL,
                               err);
        for (size_t i = 0; rc == TC_OK && i < n; i++)
            printf("%s\t%s\t%s\n", v[i].full_name, v[i].namespace_name,
                   v[i].name);
        tc_repos_free(v, n);
    } else if (strcmp(cmd, "list-tcr-images") == 0 && argc == 4) {
        tc_image *v = NULL;
        rc = tc_tcr_list_images(&v, &n, c, argv[1], argv[2], argv[3], err);
        for (size_t i = 0; rc == TC_OK && i < n; i++)
            printf("%s\t%s\t%lld\n", v[i].tag, v[i].digest,
                   (long long)v[i].size);
        tc_images_free(v, n);
    } else if (strcmp(cmd, "list-ccr-all") == 0 && argc == 2) {
        long threads = 0;
        if (!parse_long(argv[1], &threads) || threads < 1 || threads > 64)
            return -100;
        rc = list_all(c, threads, err);
    } else if (strcmp(cmd, "token") == 0 && argc == 2) {
        tc_instance_token *t = NULL;
        rc = tc_tcr_create_instance_token(&t, c, argv[1], err);
        if (rc == TC_OK)
            printf("%s\t%lld\ttoken_length=%zu\t%s\n", t->username,
                   (long long)t->exp_time_ms, strlen(t->token),
                   t->exp_time_assumed ? "assumed" : "as-sent");
        tc_instance_token_free(t);
    } else {
        return -100;
    }
    return rc;
}

int main(int argc, char **argv)
{
    const char *endpoint = getenv("TC_ENDPOINT");
    const char *region = getenv("TC_REGION");
    const char *sid = getenv("TENCENTCLOUD_SECRET_ID");
    const char *skey = getenv("TENCENTCLOUD_SECRET_KEY");
    const char *ca_file = NULL;
    long retries = -1, backoff = 0, max_items = 0, max_pages = 0;
    int i = 1;

    for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        if (strcmp(argv[i], "--endpoint") == 0)
            endpoint = argv[i + 1];
        else if (strcmp(argv[i], "--region") == 0)
            region = argv[i + 1];
        else if (strcmp(argv[i], "--secret-id") == 0)
            sid = argv[i + 1];
        else if (strcmp(argv[i], "--secret-key") == 0)
            skey = argv[i + 1];
        else if (strcmp(argv[i], "--ca-file") == 0)
            ca_file = argv[i + 1];
        else if (strcmp(argv[i], "--retries") == 0) {
            if (!parse_long(argv[i + 1], &retries) || retries > 100)
                return usage();
        } else if (strcmp(argv[i], "--backoff-ms") == 0) {
            if (!parse_long(argv[i + 1], &backoff) || backoff > 60000)
                return usage();
        } else if (strcmp(argv[i], "--max-items") == 0) {
            if (!parse_long(argv[i + 1], &max_items) || max_items < 0)
                return usage();
        } else if (strcmp(argv[i], "--max-pages") == 0) {
            if (!parse_long(argv[i + 1], &max_pages) || max_pages < 0)
                return usage();
        } else
            return usage();
    }
    if (i >= argc)
        return usage();
    if (strcmp(argv[i], "ccr-host") == 0 && i + 2 == argc) {
        const char *h = tc_ccr_registry_host(argv[i + 1]);
        if (h == NULL) {
            fprintf(stderr, "tctool: unknown region %s\n", argv[i + 1]);
            return 7;
        }
        printf("%s\n", h);
        return 0;
    }

    tc_client_opts o = {
        .endpoint = endpoint,
        .region = region ? region : "ap-guangzhou",
        .secret_id = sid,
        .secret_key = skey,
        .max_retries = (int)retries,
        .backoff_base_ms = backoff,
        .backoff_max_ms = backoff > 0 ? backoff * 8 : 0,
        .timeout_ms = 10000,
        .max_items = (size_t)max_items,
        .max_pages = (size_t)max_pages,
        .ca_file = ca_file,
    };
    tc_client *c = NULL;
    tc_error err = {0};
    /* process-wide setup is the program's: once, before any client */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "tctool: curl_global_init failed\n");
        return 1;
    }
    int rc = tc_client_new(&c, &o, &err);
    if (rc == TC_OK)
        rc = run(c, argc - i, argv + i, &err);
    tc_client_free(c);
    curl_global_cleanup();
    if (rc == -100)
        return usage();
    if (rc != TC_OK) {
        fprintf(stderr, "tctool: %s [%s]\n", err.message,
                err.api_code[0] ? err.api_code : tc_strerror(rc));
        return exit_code(rc);
    }
    return 0;
}
