/*
 * blobtool - drives reg_blob_copy for the integration tests.
 *
 *   blobtool copy SRC_HOST SRC_REPO DST_HOST DST_REPO DIGEST SIZE
 *            [--insecure] [--ca-file F] [--buffer N]
 *            [--chunk-threshold N --chunk-size N] [--cancel-after N]
 *            [--trace] [--mount-from REPO]
 *
 * Credentials come from SRC_USER/SRC_PASS/DST_USER/DST_PASS. Prints
 * "copied DIGEST BYTES" ("mounted DIGEST" when --mount-from's mount was
 * honoured) or "error CODE NAME: MESSAGE". Exit status: 0 on
 * success, 3 on REG_EDIGEST, 4 on REG_ECANCELED, 2 on bad usage, 1 otherwise.
 * --trace prints "http SIDE METHOD URL STATUS" lines (the on_http hook) to
 * stderr, so tests can see which requests were made.
 */
#include "registry.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

typedef struct counters {
    int64_t moved;
    int64_t cancel_after; /* raise the cancel flag past this many bytes */
    atomic_int cancel;
} counters;

static void on_progress(void *payload, int64_t delta)
{
    counters *c = payload;
    c->moved += delta;
    if (c->cancel_after >= 0 && c->moved >= c->cancel_after)
        c->cancel = 1;
}

static void on_http(void *payload, const char *method, const char *url,
                    long status)
{
    fprintf(stderr, "http %s %s %s %ld\n", (const char *)payload, method, url,
            status);
}

static int parse_i64(const char *s, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return -1;
    *out = (int64_t)v;
    return 0;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: blobtool copy SRC_HOST SRC_REPO DST_HOST DST_REPO DIGEST "
            "SIZE [--insecure] [--ca-file F] [--buffer N] "
            "[--chunk-threshold N] [--chunk-size N] [--cancel-after N] "
            "[--trace] [--mount-from REPO]\n");
    return 2;
}

int main(int argc, char **argv)
{
    reg_global *g = NULL;
    reg_client *src = NULL, *dst = NULL;
    reg_error err;
    int status = 1;
    int64_t size = -1, buffer = 0, threshold = 0, chunk = 0;
    bool insecure = false, trace = false;
    const char *ca_file = NULL, *mount_from = NULL;
    bool mounted = false;
    counters cnt = {.moved = 0, .cancel_after = -1, .cancel = 0};

    reg_error_clear(&err);
    if (argc < 8 || strcmp(argv[1], "copy") != 0)
        return usage();
    if (parse_i64(argv[7], &size) != 0)
        return usage();
    for (int i = 8; i < argc; i++) {
        int64_t *slot = NULL;
        if (strcmp(argv[i], "--insecure") == 0) {
            insecure = true;
            continue;
        }
        if (strcmp(argv[i], "--trace") == 0) {
            trace = true;
            continue;
        }
        if (strcmp(argv[i], "--ca-file") == 0 && i + 1 < argc) {
            ca_file = argv[++i];
            continue;
        }
        if (strcmp(argv[i], "--mount-from") == 0 && i + 1 < argc) {
            mount_from = argv[++i];
            continue;
        }
        if (strcmp(argv[i], "--buffer") == 0)
            slot = &buffer;
        else if (strcmp(argv[i], "--chunk-threshold") == 0)
            slot = &threshold;
        else if (strcmp(argv[i], "--chunk-size") == 0)
            slot = &chunk;
        else if (strcmp(argv[i], "--cancel-after") == 0)
            slot = &cnt.cancel_after;
        if (slot == NULL || i + 1 >= argc || parse_i64(argv[i + 1], slot) != 0)
            return usage();
        i++;
    }
    if (buffer < 0)
        return usage();

    reg_client_opts so = {.host = argv[2],
                          .username = getenv("SRC_USER"),
                          .password = getenv("SRC_PASS"),
                          .insecure = insecure,
                          .ca_file = ca_file};
    reg_client_opts dopt = {.host = argv[4],
                            .username = getenv("DST_USER"),
                            .password = getenv("DST_PASS"),
                            .insecure = insecure,
                            .ca_file = ca_file,
                            .chunk_threshold = threshold,
                            .chunk_size = chunk};
    if (trace) {
        so.hooks.on_http = on_http;
        so.hooks.payload = "src";
        dopt.hooks.on_http = on_http;
        dopt.hooks.payload = "dst";
    }
    reg_descriptor d = {
        .media_type = NULL, .digest = argv[6], .size = size, .platform = NULL};
    reg_copy_opts co = {.progress = on_progress,
                        .payload = &cnt,
                        .cancel = &cnt.cancel,
                        .buffer_size = (size_t)buffer,
                        .mount_from = mount_from,
                        .mounted = &mounted};

    /* process-wide setup is the program's: once, before any client */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "blobtool: curl_global_init failed\n");
        return 1;
    }
    int rc = reg_global_new(&g, &err);
    if (rc == REG_OK)
        rc = reg_client_new(&src, g, &so, &err);
    if (rc == REG_OK)
        rc = reg_client_new(&dst, g, &dopt, &err);
    if (rc == REG_OK)
        rc = reg_blob_copy(src, argv[3], dst, argv[5], &d, &co, &err);
    if (rc == REG_OK && mounted) {
        printf("mounted %s\n", argv[6]);
        status = 0;
    } else if (rc == REG_OK) {
        printf("copied %s %lld\n", argv[6], (long long)cnt.moved);
        status = 0;
    } else {
        printf("error %d %s: %s\n", rc, reg_strerror(rc), err.msg);
        status = rc == REG_EDIGEST ? 3 : rc == REG_ECANCELED ? 4 : 1;
    }
    reg_client_free(src);
    reg_client_free(dst);
    reg_global_free(g);
    curl_global_cleanup();
    return status;
}
