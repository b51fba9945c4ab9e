/*
 * fuzz_common.h - helpers shared by the libFuzzer targets in tests/fuzz/
 * (header-only, so each target stays one .c file): a NUL-terminated copy of
 * the input, splitting it in two, a private temporary directory for the
 * targets that parse files, a quiet log, and a check that aborts (so
 * libFuzzer records a crash) when a parser breaks one of its promises.
 */
#ifndef IT_FUZZ_COMMON_H
#define IT_FUZZ_COMMON_H

#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts with a message when a promise of the code under test is broken:
 * a finding, like a sanitizer report. */
#define FUZZ_CHECK(cond)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__,        \
                    __LINE__, #cond);                                          \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* The input as a malloc'd C string (an embedded NUL ends it early, as it
 * would for the C string the program hands the parser). */
static inline char *fuzz_strdup(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s == NULL)
        abort();
    if (size > 0)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* Splits the input at the first '\n' into two malloc'd strings; with no
 * newline the second part is empty. */
static inline void fuzz_split(const uint8_t *data, size_t size, char **a,
                              char **b)
{
    const uint8_t *nl = size > 0 ? memchr(data, '\n', size) : NULL;
    size_t n = nl != NULL ? (size_t)(nl - data) : size;
    *a = fuzz_strdup(data, n);
    *b = nl != NULL ? fuzz_strdup(nl + 1, size - n - 1) : fuzz_strdup(data, 0);
}

/* True when s holds a byte below 0x20 or 0x7f (a string that must never
 * reach a header or a terminal raw). */
static inline bool fuzz_has_ctl(const char *s)
{
    for (; s != NULL && *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
            return true;
    return false;
}

/* --------------------------------------------------- temporary files */

static char fuzz_tmpdir_path[256];

static inline void fuzz_tmpdir_remove(void)
{
    char path[512];
    if (fuzz_tmpdir_path[0] == '\0')
        return;
    /* Flat: the targets only write files directly in it. */
    DIR *d = opendir(fuzz_tmpdir_path);
    for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", fuzz_tmpdir_path, e->d_name);
        unlink(path);
    }
    if (d != NULL)
        closedir(d);
    rmdir(fuzz_tmpdir_path);
}

/* A private directory (mode 0700) for this process, removed at normal
 * exit. Under $TMPDIR when set (tests/fuzz/run.sh points it at a scratch
 * dir it removes), else /dev/shm when there is one (fsync and rewriting a
 * file per input then cost nothing), else /tmp. */
static inline const char *fuzz_tmpdir(void)
{
    if (fuzz_tmpdir_path[0] != '\0')
        return fuzz_tmpdir_path;
    const char *base = getenv("TMPDIR");
    if (base == NULL || base[0] == '\0')
        base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(fuzz_tmpdir_path, sizeof(fuzz_tmpdir_path), "%s/it-fuzz-XXXXXX",
             base);
    if (mkdtemp(fuzz_tmpdir_path) == NULL) {
        perror("fuzz: mkdtemp");
        abort();
    }
    atexit(fuzz_tmpdir_remove);
    return fuzz_tmpdir_path;
}

/* Writes data to DIR/name (mode 0600, truncated) and returns the path in
 * out. */
static inline void fuzz_write_file(char *out, size_t cap, const char *name,
                                   const uint8_t *data, size_t size)
{
    snprintf(out, cap, "%s/%s", fuzz_tmpdir(), name);
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        perror("fuzz: open");
        abort();
    }
    size_t off = 0;
    while (off < size) {
        ssize_t n = write(fd, data + off, size - off);
        if (n <= 0) {
            perror("fuzz: write");
            abort();
        }
        off += (size_t)n;
    }
    close(fd);
}

/* The LLVMFuzzerInitialize of the targets that parse files (the target
 * includes log.h): logs go to /dev/null, errors only, and the private
 * scratch dir is made before the first input. */
#define FUZZ_FILE_TARGET_INIT()                                                \
    int LLVMFuzzerInitialize(int *argc, char ***argv)                          \
    {                                                                          \
        (void)argc;                                                            \
        (void)argv;                                                            \
        it_log_open("/dev/null", IT_LOG_ERROR);                                \
        (void)fuzz_tmpdir();                                                   \
        return 0;                                                              \
    }

#endif /* IT_FUZZ_COMMON_H */
