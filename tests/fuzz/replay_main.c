/*
 * replay_main.c - a main() for the fuzz targets when they are built
 * without libFuzzer (the normal and sanitizer builds): runs each file
 * named on the command line, or each file in each directory named, once
 * through LLVMFuzzerTestOneInput. ctest runs it over the seed corpus and
 * the crashes found so far (tests/fuzz/CMakeLists.txt), so every target
 * compiles with gcc -Werror and every kept input stays a regression test.
 *
 * Like the program's main(), it does the process-wide setup once
 * (curl_global_init before the first input, curl_global_cleanup after the
 * last): the libraries never do it themselves. No target needs more today
 * (fuzz_tc_api's client uses the transport seam, not libcurl), so the
 * libFuzzer builds, whose main() is libFuzzer's, need nothing either.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <curl/curl.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return -1;
    }
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    size_t n;
    while (buf != NULL && (n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            uint8_t *t = realloc(buf, cap * 2);
            if (t == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = t;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf == NULL) {
        fprintf(stderr, "%s: out of memory\n", path);
        return -1;
    }
    /* An exact-size copy, as libFuzzer gives it: reads past the end are
     * seen by ASan. */
    uint8_t *exact = malloc(len > 0 ? len : 1);
    if (exact == NULL) {
        free(buf);
        return -1;
    }
    memcpy(exact, buf, len);
    free(buf);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    return 0;
}

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The regular files of a directory, in name order. */
static int run_dir(const char *dir, long *count)
{
    DIR *d = opendir(dir);
    char **names = NULL;
    size_t n = 0;
    int rc = 0;
    if (d == NULL) {
        perror(dir);
        return -1;
    }
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        char **t = realloc(names, (n + 1) * sizeof(*names));
        if (t == NULL || (t[n] = strdup(e->d_name)) == NULL) {
            names = t != NULL ? t : names;
            rc = -1;
            break;
        }
        names = t;
        n++;
    }
    closedir(d);
    if (names != NULL)
        qsort(names, n, sizeof(*names), cmp);
    for (size_t i = 0; i < n && rc == 0; i++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            rc = run_file(path);
            (*count)++;
        }
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    long count = 0;
    int status = 0;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "%s: curl_global_init failed\n", argv[0]);
        return 1;
    }
    if (LLVMFuzzerInitialize != NULL)
        LLVMFuzzerInitialize(&argc, &argv);
    for (int i = 1; i < argc && status == 0; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            perror(argv[i]);
            status = 1;
            break;
        }
        int rc;
        if (S_ISDIR(st.st_mode)) {
            rc = run_dir(argv[i], &count);
        } else {
            rc = run_file(argv[i]);
            count++;
        }
        if (rc != 0)
            status = 1;
    }
    curl_global_cleanup();
    if (status == 0) {
        printf("%s: %ld inputs ran\n", argv[0], count);
        status = count > 0 ? 0 : 1;
    }
    return status;
}
