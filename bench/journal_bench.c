/*
 * journal_bench.c - the journal (src/journal.c) at scale; a benchmark, not
 * a test (no ctest target). Build it against a build tree:
 *
 *   cmake --build build --target itcore
 *   cc -O2 -Isrc bench/journal_bench.c build/src/libitcore.a \
 *      build/src/libitview.a $(pkg-config --libs sqlite3 jansson libcurl \
 *      libcrypto) \
 *      -lpthread -lm -o build/journal_bench
 *
 * Modes (each prints one line of figures; run it under /usr/bin/time -v
 * for the peak RSS of the whole process):
 *   fill DIR       4M records into DIR/journal.db through the API, one
 *                  thread: 1M images and 3M blobs over 25k repositories
 *                  of one target registry, each repository holding 40
 *                  layers shared from a pool of 2,000 and 80 of its own
 *   open DIR       it_journal_open with a NULL visitor, then close
 *   lookup DIR N   N lookups after the open: image_digest, blob_in and
 *                  blob_any (except the repository asking) in turn, of
 *                  records that exist
 *   append8 DIR N  8 threads appending N records each to a new journal
 *   jsonl DIR N    writes N records as the journal.jsonl of earlier
 *                  versions, then times the open that imports it
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "journal.h"

#define REPOS      25000
#define TAGS       40 /* images per repository: 1M */
#define SHARED     2000
#define SHARED_PER 40 /* shared layers per repository */
#define UNIQUE_PER 80 /* layers of its own: 120 blobs a repo, 3M */
#define REGISTRY   "tcr.example.com"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long maxrss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static void repo_name(char *out, size_t cap, long r)
{
    snprintf(out, cap, "team-%03ld/app-%05ld", r % 500, r);
}

/* The k-th layer of repository r: a shared one for k < SHARED_PER. */
static void layer_digest(char *out, size_t cap, long r, long k)
{
    if (k < SHARED_PER)
        snprintf(out, cap, "sha256:5%063ld", (r * 7 + k * 13) % SHARED);
    else
        snprintf(out, cap, "sha256:u%063ld", r * UNIQUE_PER + k);
}

static void image_refs(char *src, char *dst, char *dg, size_t cap, long r,
                       long t)
{
    char repo[64];
    repo_name(repo, sizeof(repo), r);
    snprintf(src, cap, "ccr.example.com/%s:v%ld", repo, t);
    snprintf(dst, cap, REGISTRY "/%s:v%ld", repo, t);
    snprintf(dg, cap, "sha256:i%063ld", r * TAGS + t);
}

static it_journal *open_or_die(const char *dir)
{
    it_journal *j = NULL;
    it_errbuf err = {{0}};
    if (it_journal_open(&j, dir, NULL, &err) != 0) {
        fprintf(stderr, "open: %s\n", err.msg);
        exit(1);
    }
    return j;
}

static int fill(const char *dir)
{
    char repo[64], dg[80], src[128], dst[128];
    it_journal *j = open_or_die(dir);
    double t0 = now();
    long n = 0;
    for (long r = 0; r < REPOS; r++) {
        repo_name(repo, sizeof(repo), r);
        for (long k = 0; k < SHARED_PER + UNIQUE_PER; k++, n++) {
            layer_digest(dg, sizeof(dg), r, k);
            it_journal_blob(j, REGISTRY, repo, dg, 1000 + k);
        }
        for (long t = 0; t < TAGS; t++, n++) {
            image_refs(src, dst, dg, sizeof(src), r, t);
            it_journal_image(j, src, dg, dst);
        }
    }
    int rc = it_journal_close(j);
    double dt = now() - t0;
    printf("fill: %ld records in %.2f s (%.0f appends/s, one thread), "
           "close %d\n",
           n, dt, (double)n / dt, rc);
    return rc == 0 ? 0 : 1;
}

static int open_close(const char *dir)
{
    long rss0 = maxrss_kib();
    double t0 = now();
    it_journal *j = open_or_die(dir);
    double dt = now() - t0;
    long records = 0;
    it_journal_stats(j, &records, NULL);
    long rss1 = maxrss_kib();
    it_journal_close(j);
    printf("open: %ld records in %.3f s, peak RSS %ld KiB (%+ld KiB over "
           "the process before it)\n",
           records, dt, rss1, rss1 - rss0);
    return 0;
}

static int lookup(const char *dir, long n)
{
    char repo[64], dg[80], src[128], dst[128], got[128];
    it_journal *j = open_or_die(dir);
    unsigned seed = 12345;
    long found = 0;
    double t0 = now();
    for (long i = 0; i < n; i++) {
        long r = rand_r(&seed) % REPOS;
        switch (i % 3) {
        case 0:
            image_refs(src, dst, dg, sizeof(src), r, rand_r(&seed) % TAGS);
            found +=
                it_journal_image_digest(j, src, dst, got, sizeof(got)) == 1;
            break;
        case 1:
            repo_name(repo, sizeof(repo), r);
            layer_digest(dg, sizeof(dg), r,
                         rand_r(&seed) % (SHARED_PER + UNIQUE_PER));
            found += it_journal_blob_in(j, REGISTRY, repo, dg) == 1;
            break;
        default: {
            char *other = NULL;
            repo_name(repo, sizeof(repo), r);
            layer_digest(dg, sizeof(dg), r, rand_r(&seed) % SHARED_PER);
            found += it_journal_blob_any(j, REGISTRY, dg, repo, &other) == 1;
            free(other);
        }
        }
    }
    double dt = now() - t0;
    it_journal_close(j);
    printf("lookup: %ld lookups (%ld found) in %.2f s: %.0f lookups/s, "
           "peak RSS %ld KiB\n",
           n, found, dt, (double)n / dt, maxrss_kib());
    return found == n ? 0 : 1;
}

struct worker {
    it_journal *j;
    long id, n;
};

static void *append_main(void *arg)
{
    struct worker *w = arg;
    char repo[64], dg[80], src[128], dst[128];
    for (long i = 0; i < w->n; i++) {
        long r = (w->id * w->n + i) % REPOS;
        if (i % 4 == 3) {
            image_refs(src, dst, dg, sizeof(src), r, w->id * w->n + i);
            it_journal_image(w->j, src, dg, dst);
        } else {
            repo_name(repo, sizeof(repo), r);
            snprintf(dg, sizeof(dg), "sha256:%02ld%062ld", w->id, i);
            it_journal_blob(w->j, REGISTRY, repo, dg, i);
        }
    }
    return NULL;
}

static int append8(const char *dir, long n)
{
    it_journal *j = open_or_die(dir);
    struct worker w[8];
    pthread_t tid[8];
    double t0 = now();
    for (int i = 0; i < 8; i++) {
        w[i] = (struct worker){j, i, n};
        pthread_create(&tid[i], NULL, append_main, &w[i]);
    }
    for (int i = 0; i < 8; i++)
        pthread_join(tid[i], NULL);
    int rc = it_journal_close(j);
    double dt = now() - t0;
    printf("append8: %ld records from 8 threads in %.2f s: %.0f appends/s "
           "(close included), close %d\n",
           8 * n, dt, (double)(8 * n) / dt, rc);
    return rc == 0 ? 0 : 1;
}

static int jsonl(const char *dir, long n)
{
    char path[4096], repo[64], dg[80], src[128], dst[128];
    it_make_dirs(dir);
    snprintf(path, sizeof(path), "%s/journal.jsonl", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return 1;
    long i = 0;
    for (long r = 0; i < n; r = (r + 1) % REPOS) {
        repo_name(repo, sizeof(repo), r);
        for (long k = 0; k < SHARED_PER + UNIQUE_PER && i < n; k++, i++) {
            layer_digest(dg, sizeof(dg), r, k);
            fprintf(f,
                    "{\"t\":\"blob\",\"registry\":\"" REGISTRY "\",\"repo\":"
                    "\"%s\",\"digest\":\"%s\",\"size\":%ld}\n",
                    repo, dg, 1000 + k);
        }
        for (long t = 0; t < TAGS && i < n; t++, i++) {
            image_refs(src, dst, dg, sizeof(src), r, t);
            fprintf(f,
                    "{\"t\":\"image\",\"source\":\"%s\",\"digest\":\"%s\","
                    "\"target\":\"%s\"}\n",
                    src, dg, dst);
        }
    }
    fclose(f);
    double t0 = now();
    it_journal *j = open_or_die(dir);
    double dt = now() - t0;
    long records = 0;
    it_journal_stats(j, &records, NULL);
    printf("jsonl: imported %ld lines (%ld records) in %.2f s, peak RSS "
           "%ld KiB\n",
           it_journal_imported(j), records, dt, maxrss_kib());
    it_journal_close(j);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "fill") == 0)
        return fill(argv[2]);
    if (argc >= 3 && strcmp(argv[1], "open") == 0)
        return open_close(argv[2]);
    if (argc >= 4 && strcmp(argv[1], "lookup") == 0)
        return lookup(argv[2], atol(argv[3]));
    if (argc >= 4 && strcmp(argv[1], "append8") == 0)
        return append8(argv[2], atol(argv[3]));
    if (argc >= 4 && strcmp(argv[1], "jsonl") == 0)
        return jsonl(argv[2], atol(argv[3]));
    fprintf(stderr, "usage: journal_bench fill|open DIR | lookup|append8|"
                    "jsonl DIR N\n");
    return 2;
}
